import { managerCredentials, type RotationDeps, readKeySecret } from "./context.js";
import { RotationStateError } from "./errors.js";
import { carriesRotationTag, revocationScheduleName } from "./key-name.js";
import type { NovalaCredentials } from "./ports.js";
import { AWSCURRENT, AWSPREVIOUS } from "./ports.js";

/**
 * Retires the key that AWSPREVIOUS holds after a promotion: revokes it now (grace 0) or makes sure its one-time
 * revocation schedule exists. Safe to run any number of times: a retried finishSecret calls it again so that a
 * failure after the promotion never strands the old key.
 */
export async function retireOldKey(deps: RotationDeps, secretArn: string, token: string): Promise<void> {
  const current = await readKeySecret(deps, secretArn, AWSCURRENT);
  if (!current) throw new RotationStateError(`secret ${secretArn} has no AWSCURRENT value`);
  const previous = await deps.store.getValue(secretArn, { stage: AWSPREVIOUS });
  const oldKeyId = previous && keyIdOf(previous.value);
  if (!oldKeyId) {
    deps.telemetry.warn("no AWSPREVIOUS key to retire", { previousVersionId: previous?.versionId });
    return;
  }
  if (oldKeyId === current.secret.keyId) {
    // Secrets Manager's configuration test promotes a copy of the current key: there is nothing to retire.
    deps.telemetry.info("AWSPREVIOUS holds the current key; nothing to retire", { keyId: oldKeyId });
    return;
  }
  await retireKey(deps, secretArn, oldKeyId, token, () => managerCredentials(deps, secretArn, current));
}

/**
 * Before a promotion moves AWSPREVIOUS on, retires the key that is about to lose its last label, when the rotator made
 * it and it is still active: the key an operator rolled back from (whose revocation was refused while it was
 * AWSCURRENT) or one a manual put-secret-value pushed to AWSPREVIOUS. Nothing else would ever revoke it. Runs before
 * the promotion so that a crash after it cannot lose track of the key; idempotent (a pending schedule is found by
 * name). `pendingKeyId` is the key being promoted.
 */
export async function retireOutgoingPreviousKey(
  deps: RotationDeps,
  secretArn: string,
  token: string,
  pendingKeyId: string,
): Promise<void> {
  const previous = await deps.store.getValue(secretArn, { stage: AWSPREVIOUS });
  const keyId = previous && previous.versionId !== token ? keyIdOf(previous.value) : undefined;
  if (!keyId || keyId === pendingKeyId) return;
  const current = await readKeySecret(deps, secretArn, AWSCURRENT);
  if (!current || current.secret.keyId === keyId) return;
  const manager = await managerCredentials(deps, secretArn, current);
  const key = await deps.keys.get(manager, keyId);
  if (key?.status !== "active" || !carriesRotationTag(key.name)) return;
  deps.telemetry.warn("the AWSPREVIOUS key is still active and is about to lose its last label; retiring it", {
    keyId,
  });
  await retireKey(deps, secretArn, keyId, token, async () => manager);
}

/** Revokes `keyId` now (grace 0) or makes sure its one-time revocation schedule exists. */
async function retireKey(
  deps: RotationDeps,
  secretArn: string,
  oldKeyId: string,
  token: string,
  manager: () => Promise<NovalaCredentials>,
): Promise<void> {
  if (deps.config.graceSeconds === 0 || !deps.config.revocation) {
    const outcome = await deps.keys.revoke(await manager(), oldKeyId);
    if (outcome === "revoked") deps.telemetry.metric("KeysRevoked");
    deps.telemetry.info("revoked the old key", { keyId: oldKeyId, outcome });
    return;
  }
  const revokeAt = new Date(deps.clock.now().getTime() + deps.config.graceSeconds * 1000);
  const name = revocationScheduleName(secretArn, oldKeyId);
  const outcome = await deps.scheduler.ensureScheduled(name, revokeAt, {
    secretId: secretArn,
    keyId: oldKeyId,
    rotationToken: token,
    revokeAfter: revokeAt.toISOString(),
  });
  if (outcome === "created") deps.telemetry.metric("RevocationsScheduled");
  deps.telemetry.info("scheduled the old key's revocation", {
    keyId: oldKeyId,
    schedule: name,
    revokeAfter: revokeAt.toISOString(),
    outcome,
  });
}

/** The key id of a stored value, leniently: an old version need not pass today's validation to be retired. */
export function keyIdOf(value: string): string | undefined {
  try {
    const parsed: unknown = JSON.parse(value);
    const keyId = (parsed as { keyId?: unknown } | null)?.keyId;
    return typeof keyId === "string" && keyId.length > 0 ? keyId : undefined;
  } catch {
    return undefined;
  }
}
