/** The four rotation steps: createSecret, setSecret, testSecret, finishSecret. */
import type { RotationStep } from "../contract/rotation-event.js";
import { managerCredentials, type RotationDeps, readKeySecret, requireCurrent, withManagerRefresh } from "./context.js";
import { endIfRetryCannotFix } from "./end-rotation.js";
import {
  HealthCheckFailedError,
  isUnauthorized,
  PreconditionError,
  RotationRolledBackError,
  UntestedVersionError,
} from "./errors.js";
import { guardStep, versionWithStage } from "./guard.js";
import { checkKeyHealth } from "./health-check.js";
import { untaggedName } from "./key-name.js";
import { clearedMarks, recordBestEffort, recordStepFailure, stepOutcome } from "./outcome.js";
import { AWSCURRENT, AWSPENDING, AWSPREVIOUS, type SecretDescription } from "./ports.js";
import { keyClaimOf, type ManagerCredentials, proveClaim, reportRefusedClaim } from "./possession.js";
import {
  createReplacementKey,
  leftoversToCheck,
  mayHaveTokenKeys,
  provenScopes,
  revokeUnstoredKeys,
} from "./replacement-key.js";
import { lazyManager, retireOldKey, retireOutgoingPreviousKey } from "./retire.js";
import { announceKeyRotated, announceRolledBack, type Promoted } from "./rotation-events.js";

/**
 * Runs one of the four steps Secrets Manager drives (docs/design.md) for `token`, as the rotation function runs it: the
 * guard first (as in AWS's rotation templates), then the step, which records its outcome and the rotation's marks on
 * the secret (lambdas/contract/rotation-outcome.ts); a step that fails after the guard records how. A step the guard
 * refuses records nothing: whoever may invoke the function could otherwise write any listed secret's tags. Each step is
 * safe to run again, any number of times, after a crash at any line. A version that is already AWSCURRENT leaves
 * nothing to do but finishSecret's retirement of the old key.
 *
 * @example
 * for (const step of ROTATION_STEPS) await runRotationStep(deps, step, secretArn, token);
 */
export async function runRotationStep(
  deps: RotationDeps,
  step: RotationStep,
  secretId: string,
  token: string,
): Promise<void> {
  const description = await deps.store.describe(secretId);
  if (guardStep(description, token) === "already-current" && step !== "finishSecret") {
    return deps.telemetry.info("version is already AWSCURRENT; nothing to do");
  }
  const stepDeps = deps.managerCache ? withManagerRefresh(deps) : deps;
  try {
    switch (step) {
      case "createSecret":
        return await createSecret(stepDeps, description, token);
      case "setSecret":
        return setSecret(stepDeps);
      case "testSecret":
        return await testSecret(stepDeps, description.arn, token);
      case "finishSecret":
        return await finishSecret(stepDeps, description, token);
    }
  } catch (error) {
    await recordStepFailure(deps, description.arn, step, token, error, description.marks);
    throw error;
  }
}

/**
 * createSecret: proves the current key, takes its scopes from Novala, creates the replacement key and stores it as
 * AWSPENDING on `token`'s version. Before the create it marks, durably, that a create is attempted for the token (the
 * "creating" mark, with its "in-progress" outcome): only a createSecret that finds its own token marked looks for what
 * an earlier attempt left (a version that already has a value keeps it, and the keys other attempts minted for the
 * token are revoked: revokeUnstoredKeys), and only one that finds another, unfinished rotation marked looks for what
 * abandoned rotations left. A clean rotation reads no key list. A failure a retry cannot fix ends the rotation
 * (RotationEndedError); any other leaves AWSPENDING for Secrets Manager's retry.
 */
async function createSecret(deps: RotationDeps, description: SecretDescription, token: string): Promise<void> {
  const secretArn = description.arn;
  const leftovers = leftoversToCheck(description, token);
  if (mayHaveTokenKeys(leftovers)) {
    const stored = await deps.store.getValue(secretArn, { stage: AWSPENDING, versionId: token });
    if (stored) {
      deps.telemetry.info("createSecret: the pending version already has a value");
      // The attempt that stored it may have died before revoking the keys other attempts left (revokeUnstoredKeys).
      const current = await requireCurrent(deps, secretArn);
      const manager = await managerCredentials(deps, secretArn, current);
      await revokeUnstoredKeys(deps, manager, secretArn, current, token, keyClaimOf(stored.value)?.keyId);
      return recordBestEffort(deps, secretArn, { outcome: stepOutcome(deps, "createSecret", token) });
    }
  }
  // A failure a retry cannot fix, up to and including the create, ends the rotation (end-rotation.ts).
  const secret = { arn: secretArn, name: description.name, currentRead: false };
  const current = await endIfRetryCannotFix(deps, token, secret, () => requireCurrent(deps, secretArn));
  // A fix names the deployment's manager secret, never the id a value writes (a refused one names the secret itself).
  const managerSecretId =
    current.secret.managerSecretId && (deps.config.managerSecretArn ?? current.secret.managerSecretId);
  const read = { ...secret, currentRead: true, ...(managerSecretId && { managerSecretId }) };
  const { manager, scopes, created, leftBehind } = await endIfRetryCannotFix(deps, token, read, async () => {
    const manager = await managerCredentials(deps, secretArn, current);
    const scopes = await provenScopes(deps, secretArn, current, manager);
    const replacement = await createReplacementKey(deps, manager, secretArn, current, scopes, token, leftovers);
    return { manager, scopes, ...replacement };
  });
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
    // version id alone (concurrency suite: "rotation ∥ retry of createSecret"): that attempt's rotation may have
    // finished since, its version AWSCURRENT and no longer AWSPENDING, and a read pinned to AWSPENDING would fail and
    // leave this attempt's key live, tagged with the AWSCURRENT version (which reconcile leaves alone).
    const stored = await deps.store.getValue(secretArn, { versionId: token }).catch(() => null);
    const storedKeyId = stored ? keyClaimOf(stored.value)?.keyId : undefined;
    const revokeOthers = (acting: ManagerCredentials) =>
      revokeUnstoredKeys(deps, acting, secretArn, current, token, storedKeyId, leftBehind);
    if (stored && storedKeyId === created.id) return withOwnCurrentKey(deps, secretArn, manager, revokeOthers);
    if (stored !== null) {
      await withOwnCurrentKey(deps, secretArn, manager, (acting) => deps.keys.revoke(acting, created.id));
      deps.telemetry.warn("revoked the new key that could not be stored", { keyId: created.id });
    }
    // Another attempt stored its key: the keys left behind go, never the stored one (it may be promoted by now).
    if (stored) await withOwnCurrentKey(deps, secretArn, manager, revokeOthers);
    throw error;
  }
  // Only now, the token's version holding this key for good, are the other keys minted for the token revoked. Race
  // (concurrency suite: "rotation ∥ retry of createSecret"): revoked before the create, they included the key a
  // delivery of this step still running had stored, which testSecret and finishSecret then promoted.
  await withOwnCurrentKey(deps, secretArn, manager, (acting) =>
    revokeUnstoredKeys(deps, acting, secretArn, current, token, created.id, leftBehind),
  );
  // A retry's outcome (the mark was there: no record before its create); a first attempt recorded it with the mark.
  if (leftovers === "this-token") {
    await recordBestEffort(deps, secretArn, { outcome: stepOutcome(deps, "createSecret", token) });
  }
  deps.telemetry.info("created the replacement key and stored it as AWSPENDING", {
    oldKeyId: current.secret.keyId,
    keyId: created.id,
    scopes,
  });
}

/**
 * Runs `act` (revoking keys minted for this token) with `manager`, and once more with the key AWSCURRENT holds now when
 * a self-managed secret's own key answers 401 and AWSCURRENT has moved on: another delivery of this rotation finished
 * meanwhile, promoted its key and revoked the old one (grace 0), whose bearer this step still held. Without it the key
 * this step minted stayed active, tagged with the AWSCURRENT version, which reconcile leaves alone (concurrency suite:
 * "rotation ∥ rotation ∥ rotation, grace 0"). Only the credentials change: the keys acted on are proven as before.
 */
async function withOwnCurrentKey<T>(
  deps: RotationDeps,
  secretArn: string,
  manager: ManagerCredentials,
  act: (acting: ManagerCredentials) => Promise<T>,
): Promise<T> {
  try {
    return await act(manager);
  } catch (error) {
    if (manager.managed || !isUnauthorized(error)) throw error;
    const current = await requireCurrent(deps, secretArn);
    if (current.secret.keyId === manager.keyId) throw error;
    deps.telemetry.warn("the secret's own key was revoked meanwhile (its rotation finished): using AWSCURRENT's key", {
      keyId: manager.keyId,
      currentKeyId: current.secret.keyId,
    });
    return act(await managerCredentials(deps, secretArn, current));
  }
}

/**
 * setSecret: nothing to push to Novala, where a key is live as soon as it is created. Guarded all the same, so that a
 * step for a token that is no longer AWSPENDING (an ended or rolled-back rotation) never reports success; it records
 * nothing (createSecret's "in-progress" outcome says the same).
 */
async function setSecret(deps: RotationDeps): Promise<void> {
  deps.telemetry.info("setSecret: nothing to do for Novala keys");
}

/**
 * testSecret: health-checks the pending key. A healthy one is marked "tested" (with the step's outcome, one
 * TagResource; a failed write fails the step, and Secrets Manager's retry tests again): finishSecret promotes only a
 * marked version. An unhealthy one is rolled back (revoked when the pending version proves it holds it, AWSPENDING
 * removed, AWSCURRENT untouched) and the step throws; the current key is never revoked. AWSCURRENT and the manager
 * secret are read only when needed: a key that answers 401 (to ask Novala whether it is revoked), or a rollback.
 */
async function testSecret(deps: RotationDeps, secretArn: string, token: string): Promise<void> {
  const pending = await readKeySecret(deps, secretArn, AWSPENDING, token);
  if (!pending) throw new PreconditionError(`version ${token} has no value to test; createSecret did not run`);
  let reading: ReturnType<typeof requireCurrent> | undefined;
  const readCurrent = () => {
    reading ??= requireCurrent(deps, secretArn);
    return reading;
  };
  const manager = lazyManager(deps, secretArn, readCurrent);
  const started = deps.clock.now().getTime();
  const verdict = await checkKeyHealth(deps, pending.secret, manager);
  deps.telemetry.metric("HealthCheckLatency", deps.clock.now().getTime() - started, "Milliseconds");
  const keyId = pending.secret.keyId;
  if (verdict.healthy) {
    await deps.store.record(secretArn, { outcome: stepOutcome(deps, "testSecret", token), marks: { tested: token } });
    return deps.telemetry.info("the pending key passed the health check", { keyId });
  }
  const current = await readCurrent();
  if (keyId === current.secret.keyId) {
    // Secrets Manager's configuration test: AWSPENDING holds the current key, which is never revoked.
    throw new HealthCheckFailedError(`health check of the current key ${keyId} failed: ${verdict.reason}`);
  }
  deps.telemetry.error("the pending key failed the health check; rolling back", { keyId, reason: verdict.reason });
  // The pending value is a claim too (anyone who may write the secret can put one): revoke only a proven key.
  const where = `AWSPENDING of secret ${secretArn}`;
  const acting = await manager();
  const proof = await proveClaim(
    deps,
    acting,
    { keyId, secretKey: pending.secret.secretKey, where },
    {
      secretArn,
      versionId: token,
    },
  );
  let revoked = "key revoked";
  if (proof.outcome === "proven") await deps.keys.revoke(acting, keyId);
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

/**
 * finishSecret: promotes the pending version to AWSCURRENT, removes AWSPENDING, announces the rotation and retires the
 * old key. Only a version testSecret passed is promoted (the "tested" mark names it); any other is refused loudly
 * (UntestedVersionError, PromotionsRefused), nothing promoted or revoked. One path for the first run and a retry after a
 * crash past the promotion: it reads what the promotion is about to move (before it) or what the promotion left (after
 * it), and every write is idempotent, so a failure after the promotion never strands the old key. Its record clears
 * the rotation's marks.
 */
async function finishSecret(deps: RotationDeps, description: SecretDescription, token: string): Promise<void> {
  const secretArn = description.arn;
  const promotedBefore = description.versionStages[token]?.includes(AWSCURRENT) ?? false;
  if (!promotedBefore && description.marks?.tested !== token) refuseUntested(deps, description, token);
  const promoted = promotedBefore ? await readPromoted(deps, secretArn) : await readPromotion(deps, description, token);
  const manager = lazyManager(deps, secretArn, promoted.current);
  if (!promotedBefore) await promote(deps, description, token, promoted, manager);
  if (description.versionStages[token]?.includes(AWSPENDING)) {
    await deps.store.moveStage(secretArn, AWSPENDING, { fromVersionId: token });
  }
  await announceKeyRotated(deps, secretArn, token, promoted);
  const { current, previous } = promoted;
  await retireOldKey(deps, secretArn, token, { currentKeyId: current.secret.keyId, previous }, manager);
  deps.telemetry.metric("RotationsSucceeded");
  await recordBestEffort(deps, secretArn, {
    outcome: stepOutcome(deps, "finishSecret", token),
    marks: clearedMarks(description.marks, token),
  });
}

/**
 * A finishSecret for a version no testSecret passed: invoked right after createSecret by someone who may invoke the
 * function, or delivered for a rotation whose test failed. Its key may never have worked (or propagated), and with
 * grace 0 the working key would be revoked: refused, loudly.
 */
function refuseUntested(deps: RotationDeps, description: SecretDescription, token: string): never {
  const tested = description.marks?.tested;
  const message =
    `refused to promote version ${token} of secret ${description.name}: no testSecret passed it ` +
    `(the tested mark ${tested ? `names version ${tested}` : "is not set"}); nothing was promoted or revoked`;
  deps.telemetry.error(message, { token, tested });
  deps.telemetry.metric("PromotionsRefused");
  throw new UntestedVersionError(message);
}

/**
 * What the promotion will leave, read before it: the pending value (validated) becomes AWSCURRENT, and the value
 * AWSCURRENT holds now, read pinned to its version, becomes AWSPREVIOUS (the promotion moves exactly that version).
 */
async function readPromotion(deps: RotationDeps, description: SecretDescription, token: string): Promise<Promoted> {
  const pending = await readKeySecret(deps, description.arn, AWSPENDING, token);
  if (!pending) throw new PreconditionError(`version ${token} has no value to promote; createSecret did not run`);
  const currentVersion = versionWithStage(description, AWSCURRENT);
  const outgoing =
    currentVersion === undefined
      ? undefined
      : await deps.store.getValue(description.arn, { stage: AWSCURRENT, versionId: currentVersion });
  return { current: pending, ...(outgoing && { previous: outgoing }) };
}

/** What a promotion left, read after it (a retried finishSecret, which did not see it happen): both labels, once. */
async function readPromoted(deps: RotationDeps, secretArn: string): Promise<Promoted> {
  const current = await requireCurrent(deps, secretArn);
  const previous = await deps.store.getValue(secretArn, { stage: AWSPREVIOUS });
  return { current, ...(previous && { previous }) };
}

/**
 * Moves AWSCURRENT to `token`, after retiring the key that would lose its last label when AWSPREVIOUS moves on
 * (retireOutgoingPreviousKey).
 */
async function promote(
  deps: RotationDeps,
  description: SecretDescription,
  token: string,
  { current: pending, previous: outgoing }: Promoted,
  manager: () => Promise<ManagerCredentials>,
): Promise<void> {
  const currentVersion = versionWithStage(description, AWSCURRENT);
  await retireOutgoingPreviousKey(
    deps,
    description.arn,
    token,
    {
      pendingKeyId: pending.secret.keyId,
      outgoingKeyId: keyClaimOf(outgoing?.value)?.keyId,
      previousVersionId: versionWithStage(description, AWSPREVIOUS),
    },
    manager,
  );
  await deps.store.moveStage(description.arn, AWSCURRENT, { toVersionId: token, fromVersionId: currentVersion });
  deps.telemetry.info("promoted the new key to AWSCURRENT", {
    keyId: pending.secret.keyId,
    newVersionId: token,
    previousVersionId: currentVersion,
  });
}
