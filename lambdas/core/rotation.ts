import { managerCredentials, type RotationDeps, readKeySecret } from "./context.js";
import { CreateOutcomeUnknownError, HealthCheckFailedError, RotationStateError } from "./errors.js";
import { guardStep, versionWithStage } from "./guard.js";
import { checkKeyHealth } from "./health-check.js";
import { hasRotationTag, replacementKeyName, revocationScheduleName, untaggedName } from "./key-name.js";
import type { CreatedNovalaKey, NovalaCredentials } from "./ports.js";
import { AWSCURRENT, AWSPENDING } from "./ports.js";
import { keyIdOf, retireOldKey, retireOutgoingPreviousKey } from "./retire.js";
import { announceKeyRotated, announceRolledBack } from "./rotation-events.js";
import { type ParsedKeySecret, sameScopes } from "./secret-value.js";

/**
 * The four steps Secrets Manager drives (rotation-design.md). Each starts with the guard and is safe to run again,
 * any number of times, after a crash at any line.
 */
export type RotationStep = "createSecret" | "setSecret" | "testSecret" | "finishSecret";
export const ROTATION_STEPS: readonly RotationStep[] = ["createSecret", "setSecret", "testSecret", "finishSecret"];

export async function runRotationStep(
  deps: RotationDeps,
  step: RotationStep,
  secretId: string,
  token: string,
): Promise<void> {
  const description = await deps.store.describe(secretId);
  const state = guardStep(description, token);
  if (state === "already-current") {
    if (step !== "finishSecret") return deps.telemetry.info("version is already AWSCURRENT; nothing to do");
    // A retried finish: the promotion happened, but the old key's retirement may not have.
    if (description.versionStages[token]?.includes(AWSPENDING)) {
      await deps.store.moveStage(description.arn, AWSPENDING, { fromVersionId: token });
    }
    await announceKeyRotated(deps, description.arn, token);
    await retireOldKey(deps, description.arn, token);
    return deps.telemetry.metric("RotationsSucceeded");
  }
  switch (step) {
    case "createSecret":
      return createSecret(deps, description.arn, token);
    case "setSecret":
      // Nothing to push to Novala: a new key is live as soon as it is created.
      return deps.telemetry.info("setSecret: nothing to do for Novala keys");
    case "testSecret":
      return testSecret(deps, description.arn, token);
    case "finishSecret": {
      const pending = await readKeySecret(deps, description.arn, AWSPENDING, token);
      if (!pending) throw new RotationStateError(`version ${token} has no value to promote; createSecret did not run`);
      const currentVersion = versionWithStage(description, AWSCURRENT);
      await retireOutgoingPreviousKey(deps, description.arn, token, pending.secret.keyId);
      await deps.store.moveStage(description.arn, AWSCURRENT, { toVersionId: token, fromVersionId: currentVersion });
      await deps.store.moveStage(description.arn, AWSPENDING, { fromVersionId: token });
      deps.telemetry.info("promoted the new key to AWSCURRENT", { keyId: pending.secret.keyId, currentVersion });
      await announceKeyRotated(deps, description.arn, token);
      await retireOldKey(deps, description.arn, token);
      return deps.telemetry.metric("RotationsSucceeded");
    }
  }
}

async function createSecret(deps: RotationDeps, secretArn: string, token: string): Promise<void> {
  if (await deps.store.getValue(secretArn, { stage: AWSPENDING, versionId: token })) {
    return deps.telemetry.info("createSecret: the pending version already has a value");
  }
  const current = await readKeySecret(deps, secretArn, AWSCURRENT);
  if (!current) throw new RotationStateError(`secret ${secretArn} has no AWSCURRENT value`);
  const manager = await managerCredentials(deps, secretArn, current);
  const scopes = await liveScopes(deps, current, manager);
  const created = await createReplacementKey(deps, manager, secretArn, current, scopes, token);
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
    // The answer may have been lost after the write, or another attempt may have stored its own key first.
    const stored = await deps.store.getValue(secretArn, { stage: AWSPENDING, versionId: token }).catch(() => null);
    if (stored && keyIdOf(stored.value) === created.id) return;
    if (stored !== null) {
      await deps.keys.revoke(manager, created.id);
      deps.telemetry.warn("revoked the new key that could not be stored", { keyId: created.id });
    }
    throw error;
  }
  deps.telemetry.info("created the replacement key and stored it as AWSPENDING", {
    oldKeyId: current.secret.keyId,
    keyId: created.id,
    scopes,
  });
}

/** Novala is the source of truth for the current key's scopes; a stored list that disagrees is logged and corrected. */
async function liveScopes(deps: RotationDeps, current: ParsedKeySecret, manager: NovalaCredentials) {
  const { keyId, secretKey, baseUrl, managerSecretId, scopes } = current.secret;
  const live = managerSecretId
    ? await deps.keys.get(manager, keyId)
    : await deps.keys.self({ baseUrl, bearer: secretKey });
  if (!live) throw new RotationStateError(`key ${keyId} of AWSCURRENT is unknown to Novala`);
  if (live.id !== keyId) {
    throw new RotationStateError(`field "keyId" names ${keyId}, but the secret key belongs to ${live.id}`);
  }
  if (!sameScopes(live.scopes, scopes)) {
    deps.telemetry.warn("stored scopes disagree with Novala; using Novala's", {
      keyId,
      stored: scopes,
      live: live.scopes,
    });
  }
  return live.scopes;
}

const CREATE_ATTEMPTS = 3;

/**
 * Creates the replacement key after revoking the keys rotations of this secret left behind (found by the name tag
 * derived from the token): a key an earlier attempt with this token created but never stored, so there are never two
 * live replacement keys for one token; and a key of an abandoned rotation (Secrets Manager gives a rotation up when
 * someone puts a value in the middle of it, and calls no further step), whose version has lost every label. A key
 * whose revocation is scheduled is in its grace period and left alone. A create whose outcome is unknown is not
 * retried blindly: the next attempt revokes what it may have made first.
 */
async function createReplacementKey(
  deps: RotationDeps,
  manager: NovalaCredentials,
  secretArn: string,
  current: ParsedKeySecret,
  scopes: string[],
  token: string,
): Promise<CreatedNovalaKey> {
  const abandoned = (await deps.store.listVersions(secretArn))
    .filter((version) => version.stages.length === 0 && version.versionId !== token)
    .map((version) => version.versionId);
  for (let attempt = 1; ; attempt++) {
    const keys = (await deps.keys.list(manager)).filter(
      (key) => key.status === "active" && key.id !== current.secret.keyId,
    );
    for (const key of keys.filter((candidate) => hasRotationTag(candidate.name, secretArn, token))) {
      await deps.keys.revoke(manager, key.id);
      deps.telemetry.warn("revoked a key an earlier attempt left behind", { keyId: key.id });
    }
    for (const key of keys.filter((candidate) =>
      abandoned.some((version) => hasRotationTag(candidate.name, secretArn, version)),
    )) {
      if (await deps.scheduler.isScheduled(revocationScheduleName(secretArn, key.id))) continue;
      await deps.keys.revoke(manager, key.id);
      deps.telemetry.warn("revoked a key an abandoned rotation left behind", { keyId: key.id });
    }
    try {
      return await deps.keys.create(manager, {
        name: replacementKeyName(current.secret.name, secretArn, token),
        scopes,
      });
    } catch (error) {
      if (!(error instanceof CreateOutcomeUnknownError) || attempt >= CREATE_ATTEMPTS) throw error;
      deps.telemetry.warn("the create's outcome is unknown; reconciling by name tag", { attempt });
    }
  }
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
  await deps.keys.revoke(manager, keyId);
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
  throw new HealthCheckFailedError(
    `health check of key ${keyId} failed: ${verdict.reason}; rolled back (key revoked, AWSPENDING removed, AWSCURRENT untouched)`,
  );
}
