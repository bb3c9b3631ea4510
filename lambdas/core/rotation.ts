/** The four rotation steps: createSecret, setSecret, testSecret, finishSecret. */
import { ROTATION_STEPS, type RotationStep } from "../contract/rotation-event.js";
import { managerCredentials, type RotationDeps, readKeySecret } from "./context.js";
import { HealthCheckFailedError, RotationRolledBackError, RotationStateError } from "./errors.js";
import { guardStep, versionWithStage } from "./guard.js";
import { checkKeyHealth } from "./health-check.js";
import { untaggedName } from "./key-name.js";
import { AWSCURRENT, AWSPENDING, AWSPREVIOUS } from "./ports.js";
import { proveClaim, reportRefusedClaim } from "./possession.js";
import { createReplacementKey, provenScopes, revokeUnstoredKeys } from "./replacement-key.js";
import { keyIdOf, lazyManager, readPromoted, retireOldKey, retireOutgoingPreviousKey } from "./retire.js";
import { announceKeyRotated, announceRolledBack } from "./rotation-events.js";

/**
 * The four steps Secrets Manager drives (docs/design.md). Each starts with the guard and is safe to run again,
 * any number of times, after a crash at any line.
 */
export { ROTATION_STEPS, type RotationStep };

export async function runRotationStep(
  deps: RotationDeps,
  step: RotationStep,
  secretId: string,
  token: string,
): Promise<void> {
  // Nothing to push to Novala: a new key is live as soon as it is created, so setSecret needs no guard either.
  if (step === "setSecret") return deps.telemetry.info("setSecret: nothing to do for Novala keys");
  const description = await deps.store.describe(secretId);
  const state = guardStep(description, token);
  if (state === "already-current") {
    if (step !== "finishSecret") return deps.telemetry.info("version is already AWSCURRENT; nothing to do");
    // A retried finish: the promotion happened, but the old key's retirement may not have.
    if (description.versionStages[token]?.includes(AWSPENDING)) {
      await deps.store.moveStage(description.arn, AWSPENDING, { fromVersionId: token });
    }
    const promoted = await readPromoted(deps, description.arn);
    await announceKeyRotated(deps, description.arn, token, promoted);
    await retireOldKey(deps, description.arn, token, promoted, lazyManager(deps, description.arn, promoted.current));
    return deps.telemetry.metric("RotationsSucceeded");
  }
  switch (step) {
    case "createSecret":
      return createSecret(deps, description.arn, token);
    case "testSecret":
      return testSecret(deps, description.arn, token);
    case "finishSecret": {
      const pending = await readKeySecret(deps, description.arn, AWSPENDING, token);
      if (!pending) throw new RotationStateError(`version ${token} has no value to promote; createSecret did not run`);
      const currentVersion = versionWithStage(description, AWSCURRENT);
      // Read once, pinned to its version: the promotion below moves exactly this version to AWSPREVIOUS (or fails).
      const outgoing =
        currentVersion === undefined
          ? undefined
          : await deps.store.getValue(description.arn, { stage: AWSCURRENT, versionId: currentVersion });
      const manager = lazyManager(deps, description.arn, pending);
      await retireOutgoingPreviousKey(
        deps,
        description.arn,
        token,
        {
          pendingKeyId: pending.secret.keyId,
          outgoingKeyId: outgoing && keyIdOf(outgoing.value),
          previousVersionId: versionWithStage(description, AWSPREVIOUS),
        },
        manager,
      );
      await deps.store.moveStage(description.arn, AWSCURRENT, { toVersionId: token, fromVersionId: currentVersion });
      await deps.store.moveStage(description.arn, AWSPENDING, { fromVersionId: token });
      deps.telemetry.info("promoted the new key to AWSCURRENT", {
        keyId: pending.secret.keyId,
        newVersionId: token,
        previousVersionId: currentVersion,
      });
      const promoted = { current: pending, ...(outgoing && { previous: outgoing }) };
      await announceKeyRotated(deps, description.arn, token, promoted);
      await retireOldKey(deps, description.arn, token, promoted, manager);
      return deps.telemetry.metric("RotationsSucceeded");
    }
  }
}

async function createSecret(deps: RotationDeps, secretArn: string, token: string): Promise<void> {
  const stored = await deps.store.getValue(secretArn, { stage: AWSPENDING, versionId: token });
  const current = await readKeySecret(deps, secretArn, AWSCURRENT);
  if (!current) throw new RotationStateError(`secret ${secretArn} has no AWSCURRENT value`);
  const manager = await managerCredentials(deps, secretArn, current);
  if (stored) {
    deps.telemetry.info("createSecret: the pending version already has a value");
    // The attempt that stored it may have died before revoking the keys other attempts left (revokeUnstoredKeys).
    return revokeUnstoredKeys(deps, manager, secretArn, current, token, keyIdOf(stored.value));
  }
  const scopes = await provenScopes(deps, secretArn, current, manager);
  const { created, leftBehind } = await createReplacementKey(deps, manager, secretArn, current, scopes, token);
  const value = JSON.stringify({
    ...current.raw,
    keyId: created.id,
    name: untaggedName(current.secret.name),
    // The scopes asked for, not those Novala answered: testSecret checks the new key really has them.
    scopes,
    publishableKey: created.publishableKey,
    secretKey: created.secretKey,
    createdAt: created.createdAt,
  });
  try {
    await deps.store.putPendingValue(secretArn, token, value);
  } catch (error) {
    // The answer may have been lost after the write, or another attempt may have stored its own key first. Read by
    // version id alone: that attempt's rotation may have finished since, and the version be AWSCURRENT, no longer
    // AWSPENDING (a read pinned to AWSPENDING would fail, and this attempt's key be left live and unstored).
    const stored = await deps.store.getValue(secretArn, { versionId: token }).catch(() => null);
    const storedKeyId = stored ? keyIdOf(stored.value) : undefined;
    if (stored && storedKeyId === created.id) {
      return revokeUnstoredKeys(deps, manager, secretArn, current, token, storedKeyId, leftBehind);
    }
    if (stored !== null) {
      await deps.keys.revoke(manager, created.id);
      deps.telemetry.warn("revoked the new key that could not be stored", { keyId: created.id });
    }
    // Another attempt stored its key: the keys left behind are revoked, never the stored one (it may be promoted).
    if (stored) await revokeUnstoredKeys(deps, manager, secretArn, current, token, storedKeyId, leftBehind);
    throw error;
  }
  // Only now, with the token's version holding this key for good, are the other keys minted for it revoked.
  await revokeUnstoredKeys(deps, manager, secretArn, current, token, created.id, leftBehind);
  deps.telemetry.info("created the replacement key and stored it as AWSPENDING", {
    oldKeyId: current.secret.keyId,
    keyId: created.id,
    scopes,
  });
}

async function testSecret(deps: RotationDeps, secretArn: string, token: string): Promise<void> {
  const pending = await readKeySecret(deps, secretArn, AWSPENDING, token);
  if (!pending) throw new RotationStateError(`version ${token} has no value to test; createSecret did not run`);
  const current = await readKeySecret(deps, secretArn, AWSCURRENT);
  if (!current) throw new RotationStateError(`secret ${secretArn} has no AWSCURRENT value`);
  const manager = await managerCredentials(deps, secretArn, current);
  const started = deps.clock.now().getTime();
  const verdict = await checkKeyHealth(deps, pending.secret, manager);
  deps.telemetry.metric("HealthCheckLatency", deps.clock.now().getTime() - started, "Milliseconds");
  const keyId = pending.secret.keyId;
  if (verdict.healthy) return deps.telemetry.info("the pending key passed the health check", { keyId });
  if (keyId === current.secret.keyId) {
    // Secrets Manager's configuration test: AWSPENDING holds the current key, which is never revoked.
    throw new HealthCheckFailedError(`health check of the current key ${keyId} failed: ${verdict.reason}`);
  }
  deps.telemetry.error("the pending key failed the health check; rolling back", { keyId, reason: verdict.reason });
  // The pending value is a claim too (anyone who may write the secret can put one): revoke only a proven key.
  const where = `AWSPENDING of secret ${secretArn}`;
  const proof = await proveClaim(
    deps,
    manager,
    { keyId, secretKey: pending.secret.secretKey, where },
    {
      secretArn,
      versionId: token,
    },
  );
  let revoked = "key revoked";
  if (proof.outcome === "proven") await deps.keys.revoke(manager, keyId);
  else if (proof.outcome === "gone") revoked = `key already ${proof.status} at Novala`;
  else {
    revoked = "key NOT revoked: not proven to be this secret's";
    reportRefusedClaim(deps, `refused to revoke key ${keyId} named by ${where}: ${proof.reason}`, { keyId });
  }
  await deps.store.moveStage(secretArn, AWSPENDING, { fromVersionId: token });
  deps.telemetry.metric("RotationsRolledBack");
  await announceRolledBack(deps, {
    secretArn,
    currentKeyId: current.secret.keyId,
    currentVersionId: current.versionId,
    rolledBackKeyId: keyId,
    rolledBackVersionId: token,
    reason: `health check failed: ${verdict.reason}`,
  });
  throw new RotationRolledBackError(
    `health check of key ${keyId} failed: ${verdict.reason}; rolled back (${revoked}, AWSPENDING removed, AWSCURRENT untouched)`,
  );
}
