/** Retiring the key a promotion replaced: a revocation schedule after the grace period, or at once. */
import { managerCredentials, type RotationDeps } from "./context.js";
import { revocationScheduleName } from "./key-name.js";
import { AWSPREVIOUS, type StoredValue } from "./ports.js";
import { type KeyClaim, keyClaimOf, type ManagerCredentials, proveClaim, reportRefusedClaim } from "./possession.js";
import type { ParsedKeySecret } from "./secret-value.js";

/**
 * The manager credentials of `secret` (or of the value `secret()` reads), read at most once per step, and only when a
 * key is really acted on.
 */
export function lazyManager(
  deps: RotationDeps,
  secretArn: string,
  secret: ParsedKeySecret | (() => Promise<ParsedKeySecret>),
): () => Promise<ManagerCredentials> {
  let manager: Promise<ManagerCredentials> | undefined;
  return () => {
    manager ??= (async () =>
      managerCredentials(deps, secretArn, typeof secret === "function" ? await secret() : secret))();
    return manager;
  };
}

/**
 * Retires the key that AWSPREVIOUS holds after a promotion: revokes it now (grace 0) or makes sure its one-time
 * revocation schedule exists. Safe to run any number of times: a retried finishSecret calls it again so that a
 * failure after the promotion never strands the old key. Acts only on a key the version proves it holds.
 * `currentKeyId` and `previous` are what the step read: before its own promotion (the outgoing AWSCURRENT becomes
 * AWSPREVIOUS), or after it.
 */
export async function retireOldKey(
  deps: RotationDeps,
  secretArn: string,
  token: string,
  { currentKeyId, previous }: { currentKeyId: string; previous: StoredValue | undefined },
  manager: () => Promise<ManagerCredentials>,
): Promise<void> {
  const claim = previousClaim(secretArn, previous);
  if (!previous || !claim) {
    deps.telemetry.warn("no AWSPREVIOUS key to retire", { previousVersionId: previous?.versionId });
    return;
  }
  if (claim.keyId === currentKeyId) {
    // Secrets Manager's configuration test promotes a copy of the current key: there is nothing to retire.
    deps.telemetry.info("AWSPREVIOUS holds the current key; nothing to retire", { keyId: claim.keyId });
    return;
  }
  await retireClaimedKey(deps, secretArn, token, await manager(), claim, previous.versionId);
}

/**
 * Before a promotion moves AWSPREVIOUS on, retires the key that is about to lose its last label when it is still
 * active: the key an operator rolled back from (whose revocation was refused while it was AWSCURRENT), one a manual
 * put-secret-value pushed to AWSPREVIOUS, or one whose scheduled revocation was lost. Nothing else would ever revoke
 * it. Runs before the promotion so that a crash after it cannot lose track of the key; idempotent (a pending schedule
 * is found by name, a revoked key is left alone). `pendingKeyId` is the key being promoted, `outgoingKeyId` the key
 * AWSCURRENT holds until then, `previousVersionId` the version DescribeSecret showed as AWSPREVIOUS.
 */
export async function retireOutgoingPreviousKey(
  deps: RotationDeps,
  secretArn: string,
  token: string,
  keys: { pendingKeyId: string; outgoingKeyId: string | undefined; previousVersionId: string | undefined },
  manager: () => Promise<ManagerCredentials>,
): Promise<void> {
  // No version is AWSPREVIOUS (a first rotation) or it is this one: nothing is about to lose its last label.
  if (keys.previousVersionId === undefined || keys.previousVersionId === token) return;
  const previous = await deps.store.getValue(secretArn, { stage: AWSPREVIOUS, versionId: keys.previousVersionId });
  const claim = previous && previous.versionId !== token ? previousClaim(secretArn, previous) : undefined;
  if (!previous || !claim || claim.keyId === keys.pendingKeyId) return;
  if (keys.outgoingKeyId === undefined || keys.outgoingKeyId === claim.keyId) return;
  await retireClaimedKey(deps, secretArn, token, await manager(), claim, previous.versionId);
}

function previousClaim(secretArn: string, previous: StoredValue | undefined): KeyClaim | undefined {
  return keyClaimOf(previous?.value, `AWSPREVIOUS (version ${previous?.versionId}) of secret ${secretArn}`);
}

/**
 * Proves `claim`, then revokes the key now (grace 0) or makes sure its one-time revocation schedule exists. A key whose
 * revocation is already scheduled (or postponed: key-name.ts) is left to that schedule, unproven: a proof would use the
 * key after the watermark its schedule carries, and read as a consumer's use when the revocation falls due.
 */
async function retireClaimedKey(
  deps: RotationDeps,
  secretArn: string,
  token: string,
  manager: ManagerCredentials,
  claim: KeyClaim,
  versionId: string,
): Promise<void> {
  const keyId = claim.keyId;
  const name = revocationScheduleName(secretArn, keyId);
  const scheduling = deps.config.graceSeconds > 0 && deps.config.revocation !== undefined;
  if (scheduling && (await deps.scheduler.isScheduled(name))) {
    deps.telemetry.info("the old key's revocation is already scheduled", { keyId, schedule: name });
    return;
  }
  const proof = await proveClaim(deps, manager, claim);
  if (proof.outcome === "gone") {
    deps.telemetry.info("the retired key is already gone at Novala; nothing to retire", {
      keyId,
      status: proof.status,
    });
    return;
  }
  if (proof.outcome === "refused") {
    // The promotion stands (the new key is proven and healthy); only the claimed key is left alone, loudly.
    reportRefusedClaim(deps, `refused to retire key ${keyId} named by ${claim.where}: ${proof.reason}`, { keyId });
    return;
  }
  if (!scheduling) {
    const outcome = await deps.keys.revoke(manager, keyId);
    if (outcome === "revoked") deps.telemetry.metric("KeysRevoked");
    deps.telemetry.info("revoked the old key", { keyId, outcome });
    return;
  }
  // The proof just used the key (GET /api-keys/self): Novala's lastUsedAt up to now is the rotator's own.
  const rotatorUsedAt = deps.clock.now();
  const revokeAt = new Date(rotatorUsedAt.getTime() + deps.config.graceSeconds * 1000);
  const outcome = await deps.scheduler.ensureScheduled(name, revokeAt, {
    secretId: secretArn,
    keyId,
    versionId,
    rotationToken: token,
    revokeAfter: revokeAt.toISOString(),
    rotatorUsedAt: rotatorUsedAt.toISOString(),
  });
  if (outcome === "created") deps.telemetry.metric("RevocationsScheduled");
  deps.telemetry.info("scheduled the old key's revocation", {
    keyId,
    schedule: name,
    revokeAfter: revokeAt.toISOString(),
    outcome,
  });
}
