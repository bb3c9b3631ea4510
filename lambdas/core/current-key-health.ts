/**
 * Whether a secret's current key can be rotated now: its value parses, its key (and, for a consumer, the manager key)
 * works at Novala. `rotate` asks before it calls RotateSecret, so that it refuses with the fix instead of starting a
 * rotation that can only end or get stuck.
 */
import type { AllowedHosts } from "./allowed-hosts.js";
import { managerCredentials, type RotationDeps, readKeySecret } from "./context.js";
import { type FailingSecret, fixFor } from "./end-rotation.js";
import {
  CurrentKeyUnusableError,
  errorMessage,
  KeyClaimRefusedError,
  KeyUnauthorizedError,
  NovalaHttpError,
  NovalaUnavailableError,
  RotationStateError,
} from "./errors.js";
import { AWSCURRENT } from "./ports.js";
import type { ManagerCredentials } from "./possession.js";
import { MANAGE_SCOPE, provenScopes } from "./replacement-key.js";
import type { ParsedKeySecret } from "./secret-value.js";

export type CurrentKeyHealthDeps = Pick<RotationDeps, "store" | "keys" | "telemetry"> & {
  config: { allowedHosts: AllowedHosts };
};

/**
 * What is wrong with the current key, by kind: `no-current-value` (AWSCURRENT holds no value), `value-invalid` (it does
 * not parse: the message names the field), `current-key-dead` (Novala reports it revoked, unknown or answers 401),
 * `manager-key-dead` (the manager key answers 401, is revoked, or cannot manage keys), `claim-refused` (the value names
 * a key it does not prove it holds, or a consumer key holds api_keys.manage), `cannot-manage` (a self-managed key
 * without api_keys.manage: it cannot mint its replacement).
 */
export type CurrentKeyProblem =
  | "no-current-value"
  | "value-invalid"
  | "current-key-dead"
  | "manager-key-dead"
  | "claim-refused"
  | "cannot-manage";

/**
 * `healthy`: a rotation can start. `unhealthy`: it cannot succeed until `fix` is done (ids only in `summary`).
 * `unknown`: Novala could not be asked (unreachable, timed out, rate-limited past the budget): a rotation now would get
 * stuck on the same.
 */
export type CurrentKeyHealth =
  | { state: "healthy"; keyId: string; managed: boolean; managerKeyId: string }
  | { state: "unhealthy"; problem: CurrentKeyProblem; summary: string; fix: string; keyId?: string }
  | { state: "unknown"; summary: string };

/**
 * Judges the current key of `secretArn` (`secretName` names it in fixes) as createSecret will meet it, with the same
 * reads and proofs (readKeySecret, managerCredentials, provenScopes), plus a look at the manager key itself: a consumer's
 * own key may still work while the manager that must mint its replacement does not. Calls Novala two or three times
 * (GET /api-keys/self with the manager key, then the proof of the current key); writes nothing.
 */
export async function currentKeyHealth(
  deps: CurrentKeyHealthDeps,
  secretArn: string,
  secretName: string,
): Promise<CurrentKeyHealth> {
  const failing: FailingSecret = { arn: secretArn, name: secretName, currentRead: false };
  let current: (ParsedKeySecret & { versionId: string }) | undefined;
  try {
    current = await readKeySecret(deps, secretArn, AWSCURRENT);
    if (!current) throw new RotationStateError(`secret ${secretName} has no AWSCURRENT value`);
    failing.currentRead = true;
    if (current.secret.managerSecretId) failing.managerSecretId = current.secret.managerSecretId;
    const manager = await managerCredentials(deps, secretArn, current);
    if (manager.managed) await checkManagerKey(deps, manager, current);
    const scopes = await provenScopes(deps, secretArn, current, manager);
    if (!manager.managed && !scopes.includes(MANAGE_SCOPE)) {
      return {
        state: "unhealthy",
        problem: "cannot-manage",
        keyId: current.secret.keyId,
        summary: `the current key ${current.secret.keyId} of self-managed secret ${secretName} lacks ${MANAGE_SCOPE}: it cannot mint its replacement`,
        fix:
          `Name the deployment's manager secret with \`novala-rotation put-key ${secretName} --manager-secret <manager secret>\`, ` +
          "or put a pair that holds api_keys.manage in with `novala-rotation put-key " +
          `${secretName} --self-managed\``,
      };
    }
    return { state: "healthy", keyId: current.secret.keyId, managed: manager.managed, managerKeyId: manager.keyId };
  } catch (error) {
    if (error instanceof RotationStateError && !(error instanceof CurrentKeyUnusableError)) {
      return {
        state: "unhealthy",
        problem: "no-current-value",
        summary: errorMessage(error),
        fix: `Put a pair in with \`novala-rotation put-key ${secretName}\``,
      };
    }
    const fix = fixFor(error, failing);
    if (fix === undefined) {
      if (error instanceof NovalaHttpError || error instanceof NovalaUnavailableError) {
        return { state: "unknown", summary: errorMessage(error) };
      }
      throw error;
    }
    return {
      state: "unhealthy",
      problem: problemKind(error, current),
      ...(current && { keyId: current.secret.keyId }),
      // The secret's own ARN by its name, as an ended rotation's reason says it.
      summary: (error instanceof CurrentKeyUnusableError ? error.problem : errorMessage(error)).replaceAll(
        secretArn,
        secretName,
      ),
      fix: fix.replaceAll(secretArn, secretName),
    };
  }
}

/**
 * The manager key itself, asked who it is with its own secret key: it must be the key the manager secret names, active,
 * and hold api_keys.manage. A key that answers 401 (revoked, or rotated in Novala's dashboard) is the manager's problem,
 * not the consumer's, and its fix names the manager secret.
 */
async function checkManagerKey(
  deps: CurrentKeyHealthDeps,
  manager: ManagerCredentials,
  current: ParsedKeySecret,
): Promise<void> {
  const managerSecret = current.secret.managerSecretId ?? "<manager secret>";
  const fix = `Put the manager pair that works in with \`novala-rotation put-key ${managerSecret} --self-managed\` and rotate again`;
  let self: Awaited<ReturnType<CurrentKeyHealthDeps["keys"]["self"]>>;
  try {
    self = await deps.keys.self(manager);
  } catch (error) {
    if (!(error instanceof KeyUnauthorizedError)) throw error;
    throw new CurrentKeyUnusableError(
      `the manager key ${manager.keyId} (manager secret ${managerSecret}) answers 401 at Novala: it was revoked or ` +
        "rotated outside this rotator",
      fix,
    );
  }
  if (self.id !== manager.keyId || self.status !== "active" || !self.scopes.includes(MANAGE_SCOPE)) {
    const what =
      self.id !== manager.keyId
        ? `authenticates as key ${self.id}, not the ${manager.keyId} it names`
        : self.status !== "active"
          ? `is ${self.status} at Novala`
          : `lacks ${MANAGE_SCOPE}`;
    throw new CurrentKeyUnusableError(
      `the manager key ${manager.keyId} (manager secret ${managerSecret}) ${what}`,
      fix,
    );
  }
}

function problemKind(error: unknown, current: ParsedKeySecret | undefined): CurrentKeyProblem {
  if (error instanceof CurrentKeyUnusableError) {
    return error.problem.startsWith("the manager key") ? "manager-key-dead" : "current-key-dead";
  }
  // A 401 or 403 for good: from the key that signs, the manager's for a consumer.
  if (error instanceof NovalaHttpError)
    return current?.secret.managerSecretId ? "manager-key-dead" : "current-key-dead";
  if (error instanceof KeyClaimRefusedError) return "claim-refused";
  return "value-invalid";
}
