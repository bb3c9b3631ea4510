/** The four rotation steps: createSecret, setSecret, testSecret, finishSecret. */
import { ROTATION_STEPS, type RotationStep } from "../contract/rotation-event.js";
import { managerCredentials, type RotationDeps, readKeySecret } from "./context.js";
import {
  CreateOutcomeUnknownError,
  HealthCheckFailedError,
  KeyClaimRefusedError,
  KeyUnauthorizedError,
  RotationRolledBackError,
  RotationStateError,
} from "./errors.js";
import { guardStep, versionWithStage } from "./guard.js";
import { checkKeyHealth } from "./health-check.js";
import {
  hasRotationTag,
  replacementKeyName,
  revocationScheduleName,
  rotationTagSuffix,
  untaggedName,
} from "./key-name.js";
import type { CreatedNovalaKey } from "./ports.js";
import { AWSCURRENT, AWSPENDING, AWSPREVIOUS } from "./ports.js";
import { type ManagerCredentials, proveClaim, reportRefusedClaim } from "./possession.js";
import { keyIdOf, lazyManager, readPromoted, retireOldKey, retireOutgoingPreviousKey } from "./retire.js";
import { announceKeyRotated, announceRolledBack } from "./rotation-events.js";
import { KEY_ID_PATTERN, type ParsedKeySecret, PUBLISHABLE, SECRET, sameScopes } from "./secret-value.js";

/** The scope that mints and revokes keys: held by the manager (or a self-managed secret), never by a consumer. */
const MANAGE_SCOPE = "api_keys.manage";

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
  if (await deps.store.getValue(secretArn, { stage: AWSPENDING, versionId: token })) {
    return deps.telemetry.info("createSecret: the pending version already has a value");
  }
  const current = await readKeySecret(deps, secretArn, AWSCURRENT);
  if (!current) throw new RotationStateError(`secret ${secretArn} has no AWSCURRENT value`);
  const manager = await managerCredentials(deps, secretArn, current);
  const scopes = await provenScopes(deps, secretArn, current, manager);
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

/**
 * The current key's scopes, from Novala, once the current version proves it holds the key it names: its secret key
 * must authenticate as its keyId. Novala is the source of truth; a stored list that disagrees is logged and corrected.
 * A consumer of a manager never holds api_keys.manage, so its replacement never receives it.
 */
async function provenScopes(
  deps: RotationDeps,
  secretArn: string,
  current: ParsedKeySecret,
  manager: ManagerCredentials,
): Promise<string[]> {
  const { keyId, secretKey, scopes } = current.secret;
  const where = `AWSCURRENT of secret ${secretArn}`;
  const fix = (secretId: string) =>
    `Put the pair that works in with \`novala-rotation put-key ${secretId}\` and rotate again`;
  let proof: Awaited<ReturnType<typeof proveClaim>>;
  try {
    proof = await proveClaim(deps, manager, { keyId, secretKey, where });
  } catch (error) {
    // Novala's record is asked with the credentials that would act: a self-managed secret's own key, which answered
    // 401 already (a key rotated in Novala's dashboard dies after 24 h), or a manager key that no longer works.
    if (!(error instanceof KeyUnauthorizedError)) throw error;
    throw new RotationStateError(
      manager.managed
        ? `the manager key ${manager.keyId} (manager secret ${current.secret.managerSecretId}) answers 401 at Novala: ` +
            `it was revoked or rotated outside this rotator. ${fix(current.secret.managerSecretId ?? "<manager secret>")}`
        : `the current key ${keyId} of self-managed secret ${secretArn} answers 401 at Novala: it was revoked or ` +
            `rotated outside this rotator (for example in Novala's dashboard). ${fix(secretArn)}`,
    );
  }
  if (proof.outcome === "gone") {
    throw new RotationStateError(
      `the current key ${keyId} is ${proof.status} at Novala: it was rotated or revoked outside this rotator. ` +
        fix(secretArn),
    );
  }
  if (proof.outcome === "refused")
    throw refuse(deps, `refused to rotate: ${where} claims key ${keyId}, but ${proof.reason}`, { keyId });
  const live = proof.key.scopes;
  if (manager.managed && live.includes(MANAGE_SCOPE)) {
    throw refuse(
      deps,
      `refused to rotate: key ${keyId} of a consumer secret holds ${MANAGE_SCOPE}; only the manager may`,
      {
        keyId,
      },
    );
  }
  if (!sameScopes(live, scopes)) {
    deps.telemetry.warn("stored scopes disagree with Novala; using Novala's", { keyId, stored: scopes, live });
  }
  return live;
}

/** Logs and counts a refused claim, and returns the error that fails the step. */
function refuse(deps: RotationDeps, message: string, fields: Record<string, unknown>): KeyClaimRefusedError {
  reportRefusedClaim(deps, message, fields);
  return new KeyClaimRefusedError(message);
}

/**
 * The create answer is input from a host, not a fact: it must describe exactly the key asked for, or the key is
 * revoked (when its id is usable) and the step fails. A key whose id is unusable carries this rotation's lineage tag,
 * so the retried createSecret finds and revokes it.
 */
async function checkCreatedKey(
  deps: RotationDeps,
  manager: ManagerCredentials,
  created: CreatedNovalaKey,
  asked: { name: string; scopes: string[] },
  current: ParsedKeySecret,
): Promise<void> {
  const mode = current.secret.secretKey.match(SECRET)?.[1];
  const existing = created.id === current.secret.keyId || created.id === manager.keyId;
  const problem = [
    [!KEY_ID_PATTERN.test(created.id), "a malformed key id"],
    [existing, `the id of an existing key (${created.id})`],
    [created.name !== asked.name, "another name than asked for"],
    [!sameScopes(created.scopes, asked.scopes), `scopes [${created.scopes}] instead of [${asked.scopes}]`],
    [created.status !== "active", `status ${created.status}`],
    [created.publishableKey.match(PUBLISHABLE)?.[1] !== mode, `a publishable key that is not pk_${mode}_…`],
    [created.secretKey.match(SECRET)?.[1] !== mode, `a secret key that is not sk_${mode}_…`],
  ].find(([failed]) => failed)?.[1] as string | undefined;
  if (!problem) return;
  const revocable = KEY_ID_PATTERN.test(created.id) && !existing;
  if (revocable) await deps.keys.revoke(manager, created.id);
  throw refuse(
    deps,
    `Novala's create answer describes ${problem}; ${revocable ? "the new key was revoked" : "nothing was stored"}`,
    {
      keyId: created.id,
    },
  );
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
  manager: ManagerCredentials,
  secretArn: string,
  current: ParsedKeySecret,
  scopes: string[],
  token: string,
): Promise<CreatedNovalaKey> {
  const abandoned = (await deps.store.listVersions(secretArn))
    .filter((version) => version.stages.length === 0 && version.versionId !== token)
    .map((version) => version.versionId);
  for (let attempt = 1; ; attempt++) {
    // Only this rotation's and the abandoned versions' keys, by their tags: the tenant's history is never read.
    const nameSuffixes = [token, ...abandoned].map((versionId) => rotationTagSuffix(secretArn, versionId));
    const keys = (await deps.keys.list(manager, { status: "active", nameSuffixes })).filter(
      (key) =>
        key.status === "active" &&
        KEY_ID_PATTERN.test(key.id) &&
        key.id !== current.secret.keyId &&
        key.id !== manager.keyId,
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
    const asked = { name: replacementKeyName(current.secret.name, secretArn, token), scopes };
    try {
      const created = await deps.keys.create(manager, asked);
      await checkCreatedKey(deps, manager, created, asked, current);
      return created;
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
