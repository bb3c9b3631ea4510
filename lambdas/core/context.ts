/** The dependencies and configuration a rotation step runs with (RotationDeps). */
import type { AllowedHosts } from "../contract/allowed-hosts.js";
import type { ManagerConfig, RotationConfig } from "../contract/configuration.js";
import { namesSecret } from "../contract/manager-secret.js";
import { KeyClaimRefusedError, PreconditionError, SecretValueError } from "./errors.js";
import type { Clock, KeyApi, RevocationScheduler, RotationEvents, SecretStore, Telemetry } from "./ports.js";
import { AWSCURRENT } from "./ports.js";
import { type ManagerCredentials, reportRefusedClaim } from "./possession.js";
import { type ParsedKeySecret, parseKeySecret } from "./secret-value.js";

/** Everything a step needs, injected: the Lambdas pass AWS and Novala adapters, tests and the local run models. */
export interface RotationDeps {
  store: SecretStore;
  keys: KeyApi;
  scheduler: RevocationScheduler;
  events: RotationEvents;
  telemetry: Telemetry;
  clock: Clock;
  config: RotationConfig;
}

/** Reads and validates the value of `secretId` at `stage` (optionally pinned to a version). */
export async function readKeySecret(
  deps: Pick<RotationDeps, "store"> & { config: { allowedHosts: AllowedHosts } },
  secretId: string,
  stage: string,
  versionId?: string,
): Promise<(ParsedKeySecret & { versionId: string }) | undefined> {
  const stored = await deps.store.getValue(secretId, versionId ? { stage, versionId } : { stage });
  if (!stored) return undefined;
  const parsed = parseKeySecret(stored.value, `secret ${secretId} ${stage}`, deps.config.allowedHosts);
  return { ...parsed, versionId: stored.versionId };
}

/**
 * AWSCURRENT of `secretId`, read and validated. A secret without one has nothing to rotate, prove or abort: a
 * PreconditionError says so, naming the secret as `shownAs` (by default `secretId`).
 */
export async function requireCurrent(
  deps: Pick<RotationDeps, "store"> & { config: { allowedHosts: AllowedHosts } },
  secretId: string,
  shownAs = secretId,
): Promise<ParsedKeySecret & { versionId: string }> {
  const current = await readKeySecret(deps, secretId, AWSCURRENT);
  if (!current) throw new PreconditionError(`secret ${shownAs} has no AWSCURRENT value`);
  return current;
}

/**
 * The credentials that may create and revoke keys for `current`: the deployment's manager key when the value names a
 * manager secret, or, for a self-managed secret, its own current key. A value that names a secret other than the
 * deployment's manager is a refused claim (KeyClaimRefusedError, logged and counted): that secret is never read.
 */
export async function managerCredentials(
  deps: Pick<RotationDeps, "store" | "telemetry"> & { config: { allowedHosts: AllowedHosts } & ManagerConfig },
  secretId: string,
  current: ParsedKeySecret,
): Promise<ManagerCredentials> {
  if (!current.secret.managerSecretId) {
    return {
      baseUrl: current.secret.baseUrl,
      bearer: current.secret.secretKey,
      keyId: current.secret.keyId,
      managed: false,
    };
  }
  const managerSecretId = deploymentManager(deps, secretId, current.secret.managerSecretId);
  const manager = await readKeySecret(deps, managerSecretId, AWSCURRENT);
  if (!manager) throw new SecretValueError(`manager secret ${managerSecretId} has no AWSCURRENT value`);
  if (new URL(manager.secret.baseUrl).origin !== new URL(current.secret.baseUrl).origin) {
    throw new SecretValueError(
      `manager secret ${managerSecretId}: field "baseUrl" names another tenant than secret ${secretId}`,
    );
  }
  return {
    baseUrl: manager.secret.baseUrl,
    bearer: manager.secret.secretKey,
    keyId: manager.secret.keyId,
    managed: true,
    secretId: managerSecretId,
  };
}

/**
 * The manager secret to read for a value that names `claimed`: the deployment's (MANAGER_SECRET_ARN), or `claimed`
 * itself when the configuration names none (a local run). Any other id is refused before anything is read from it.
 */
function deploymentManager(
  deps: Pick<RotationDeps, "telemetry"> & { config: ManagerConfig },
  secretId: string,
  claimed: string,
): string {
  const deployment = deps.config.managerSecretArn;
  if (deployment === undefined) return claimed;
  if (deployment !== null && namesSecret(claimed, deployment)) return deployment;
  const message =
    `refused: secret ${secretId} names manager secret ${JSON.stringify(claimed.slice(0, 256))}, ` +
    (deployment === null
      ? "but this deployment has no manager secret (its secrets must be self-managed)"
      : `which is not this deployment's manager secret ${deployment}`);
  reportRefusedClaim(deps, message, { secretId });
  throw new KeyClaimRefusedError(message);
}
