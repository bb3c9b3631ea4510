/** The dependencies and configuration a rotation step runs with (RotationDeps). */
import type { AllowedHosts } from "../contract/allowed-hosts.js";
import type { ManagerConfig, RotationConfig } from "../contract/configuration.js";
import { namesSecret } from "../contract/manager-secret.js";
import { isUnauthorized, KeyClaimRefusedError, PreconditionError, SecretValueError } from "./errors.js";
import type {
  Clock,
  KeyApi,
  ManagerSecretCache,
  NovalaCredentials,
  RevocationScheduler,
  RotationEvents,
  SecretStore,
  StoredValue,
  Telemetry,
} from "./ports.js";
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
  /** The warm environment's manager secret values (the rotation function's); none: read at each use. */
  managerCache?: ManagerSecretCache;
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
 * deployment's manager is a refused claim (KeyClaimRefusedError, logged and counted): that secret is never read. With a
 * manager cache (`deps.managerCache`) the manager secret is read at most once per the cache's window; credentials from
 * the cache carry `refresh`, which withManagerRefresh uses when Novala answers them 401.
 */
export async function managerCredentials(
  deps: Pick<RotationDeps, "store" | "telemetry" | "managerCache"> & {
    config: { allowedHosts: AllowedHosts } & ManagerConfig;
  },
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
  const cached = deps.managerCache?.get(managerSecretId);
  const stored = cached ?? (await deps.store.getValue(managerSecretId, { stage: AWSCURRENT }));
  const credentials = managerKey(deps, secretId, managerSecretId, current, stored);
  if (!cached) {
    deps.managerCache?.set(managerSecretId, stored as StoredValue);
    return credentials;
  }
  const refresh = async () => {
    deps.managerCache?.drop(managerSecretId);
    const fresh = await deps.store.getValue(managerSecretId, { stage: AWSCURRENT });
    const renewed = managerKey(deps, secretId, managerSecretId, current, fresh);
    deps.managerCache?.set(managerSecretId, fresh as StoredValue);
    return renewed;
  };
  return { ...credentials, refresh };
}

/** The manager key a manager secret's AWSCURRENT value holds, checked: a value, valid, of the secret's own tenant. */
function managerKey(
  deps: { config: { allowedHosts: AllowedHosts } },
  secretId: string,
  managerSecretId: string,
  current: ParsedKeySecret,
  stored: StoredValue | undefined,
): ManagerCredentials {
  if (!stored) throw new SecretValueError(`manager secret ${managerSecretId} has no AWSCURRENT value`);
  const manager = parseKeySecret(stored.value, `secret ${managerSecretId} ${AWSCURRENT}`, deps.config.allowedHosts);
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
 * `deps` whose key API, when Novala answers 401 to manager credentials that came from the cache, reads the manager
 * secret again (once per credentials) and repeats the call with the key it holds now; the credentials are updated in
 * place, so the step's later calls use it too. The manager's own rotation is why: its old key is revoked at the end of
 * its grace (at once with grace 0), possibly within the cache's window. A call answered 401 did nothing, so repeating
 * it is safe, a create included. Any other answer, and a 401 to credentials read just now, go to the caller unchanged.
 */
export function withManagerRefresh<D extends Pick<RotationDeps, "keys" | "telemetry">>(deps: D): D {
  const keys = deps.keys;
  const managed = async <A extends unknown[], T>(
    call: (credentials: NovalaCredentials, ...args: A) => Promise<T>,
    credentials: NovalaCredentials,
    args: A,
  ): Promise<T> => {
    try {
      return await call(credentials, ...args);
    } catch (error) {
      const stale = credentials as Partial<ManagerCredentials>;
      if (!isUnauthorized(error) || !stale.refresh) throw error;
      const refresh = stale.refresh;
      delete stale.refresh;
      deps.telemetry.warn("the cached manager key answered 401; reading the manager secret again", {
        keyId: stale.keyId,
        managerSecretId: stale.secretId,
      });
      Object.assign(stale, await refresh());
      return call(credentials, ...args);
    }
  };
  const refreshing: KeyApi = {
    self: (caller) => keys.self(caller),
    probe: (caller, scope) => keys.probe(caller, scope),
    get: (manager, keyId) => managed((c, id: string) => keys.get(c, id), manager, [keyId]),
    create: (manager, request) => managed((c, r: typeof request) => keys.create(c, r), manager, [request]),
    list: (manager, filter) => managed((c, f: typeof filter) => keys.list(c, f), manager, [filter]),
    revoke: (manager, keyId) => managed((c, id: string) => keys.revoke(c, id), manager, [keyId]),
  };
  return { ...deps, keys: refreshing };
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
