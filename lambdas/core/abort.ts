/** Aborting a stuck or failed rotation: remove AWSPENDING, then revoke what it minted. */

import type { AllowedHosts } from "../contract/allowed-hosts.js";
import { KEY_ID_PATTERN } from "../contract/key-shapes.js";
import { managerCredentials, type RotationDeps, requireCurrent } from "./context.js";
import { PreconditionError } from "./errors.js";
import { rotationInProgress, versionWithStage } from "./guard.js";
import { hasRotationTag, rotationTagSuffix } from "./key-name.js";
import { AWSCURRENT, AWSPENDING, AWSPREVIOUS } from "./ports.js";
import { keyClaimOf, proveClaim, reportRefusedClaim } from "./possession.js";

/** What an abort reads and acts with: the secret, Novala, the logs. */
export type AbortDeps = Pick<RotationDeps, "store" | "keys" | "telemetry"> & { config: { allowedHosts: AllowedHosts } };

/** A key an abort revoked (or found revoked already). */
export interface AbortedKey {
  keyId: string;
  /** How the key was tied to the rotation: the pending value's proof, or its lineage tag (none: already gone). */
  by?: "secret-key" | "lineage-tag";
  outcome: "revoked" | "already-revoked";
}

/** What an abort did: ids and labels only, which the CLI renders. */
export interface AbortOutcome {
  secretArn: string;
  secretName: string;
  token: string;
  /** The labels the version carried before the abort. */
  stagesBefore: string[];
  /** Whether the pending version held a value (createSecret had stored a key). */
  pendingValue: boolean;
  pendingKeyId?: string;
  revoked: AbortedKey[];
  /** Keys the rotation could not be tied to, or that are protected, and why: left alone. */
  leftAlone: { keyId: string; reason: string }[];
  pendingRemoved: boolean;
  currentVersionId?: string;
  currentKeyId?: string;
}

/** Which rotation an abort ends: the one named, or the one AWSPENDING marks. */
export async function findAbortableToken(
  deps: Pick<AbortDeps, "store">,
  secretId: string,
  token?: string,
): Promise<string> {
  const description = await deps.store.describe(secretId);
  if (token === undefined) {
    const pending = rotationInProgress(description);
    if (!pending) {
      throw new PreconditionError(
        `secret ${description.name} has no rotation in progress: no version other than AWSCURRENT is AWSPENDING`,
      );
    }
    return pending;
  }
  if (token === versionWithStage(description, AWSCURRENT)) {
    throw new PreconditionError(`version ${token} is AWSCURRENT of secret ${description.name}: it is not aborted`);
  }
  if (!(await deps.store.listVersions(description.arn)).some((version) => version.versionId === token)) {
    throw new PreconditionError(`token ${token} is not a version of secret ${description.name}`);
  }
  return token;
}

/**
 * Aborting rotation `token` of a secret: the way out of a rotation that is stuck (AWSPENDING on a version that is not
 * AWSCURRENT, which makes Secrets Manager refuse every new rotation) or that failed. It removes AWSPENDING, then revokes
 * what the rotation minted and nothing else:
 *
 * 1. the key the pending value names, when the value proves it (its secret key authenticates as that key, or the key
 *    carries this rotation's lineage tag), as testSecret's rollback does;
 * 2. every active key whose name carries this rotation's lineage tag (a key created but never stored);
 * 3. never the manager key, nor the key AWSCURRENT or AWSPREVIOUS holds: AWSCURRENT and its key are left untouched.
 *
 * AWSPENDING goes first: from then on no step of the rotation passes its guard, so none can store or promote a key
 * behind the abort. Safe to run again: revoked keys are skipped, and a version without AWSPENDING keeps none (a crash
 * after the label went leaves keys that `abort --token`, `reconcile` or the next rotation's createSecret revoke). The
 * caller must be sure no step of this rotation is still running when it starts: a step that passed its guard before
 * the label went can still store a key, or promote the pending key (Secrets Manager retries a failed step while an
 * operator may think the rotation stuck: the concurrency suite's known race, docs/security.md). A PreconditionError
 * refuses a token that is (or became) AWSCURRENT, and a secret without an AWSCURRENT value.
 *
 * @example
 * const outcome = await abortRotation(deps, secretArn, await findAbortableToken(deps, secretArn));
 * // outcome.revoked, outcome.leftAlone, outcome.pendingRemoved: what the operator is shown
 */
export async function abortRotation(deps: AbortDeps, secretId: string, token: string): Promise<AbortOutcome> {
  // Race (concurrency suite: "abort ∥ finishSecret"): with AWSPENDING removed last, a finishSecret that Secrets Manager
  // started while the abort revoked the pending key passed its guard and promoted the revoked key. Removed first (the
  // abort's first call), every later step's guard refuses; AWSCURRENT is read only after, so a promotion that won stands.
  let pendingRemoved = false;
  let removal: unknown;
  try {
    await deps.store.moveStage(secretId, AWSPENDING, { fromVersionId: token });
    pendingRemoved = true;
  } catch (error) {
    removal = error;
  }
  const description = await deps.store.describe(secretId);
  const arn = description.arn;
  const stagesNow = description.versionStages[token] ?? [];
  // Still AWSPENDING: the removal failed for another reason (throttled), and nothing was done.
  if (!pendingRemoved && stagesNow.includes(AWSPENDING)) throw removal;
  const stagesBefore = pendingRemoved ? [...stagesNow, AWSPENDING] : stagesNow;
  if (stagesNow.includes(AWSCURRENT)) {
    throw new PreconditionError(
      pendingRemoved
        ? `version ${token} became AWSCURRENT of secret ${description.name}: the rotation finished; nothing was aborted`
        : `version ${token} is AWSCURRENT of secret ${description.name}: it is not aborted`,
    );
  }
  const current = await requireCurrent(deps, arn, description.name);
  if (current.versionId === token) {
    throw new PreconditionError(
      `version ${token} became AWSCURRENT of secret ${description.name}: the rotation finished; nothing was aborted`,
    );
  }
  const manager = await managerCredentials(deps, arn, current);
  const previous = await deps.store.getValue(arn, { stage: AWSPREVIOUS });
  const protectedKeys = new Map<string, string>([
    [current.secret.keyId, "held by AWSCURRENT"],
    [manager.keyId, manager.managed ? "the manager key" : "held by AWSCURRENT"],
  ]);
  const previousKeyId = keyClaimOf(previous?.value, "")?.keyId;
  if (previousKeyId && !protectedKeys.has(previousKeyId)) protectedKeys.set(previousKeyId, "held by AWSPREVIOUS");

  const outcome: AbortOutcome = {
    secretArn: arn,
    secretName: description.name,
    token,
    stagesBefore,
    pendingValue: false,
    revoked: [],
    leftAlone: [],
    pendingRemoved,
    currentVersionId: current.versionId,
    currentKeyId: current.secret.keyId,
  };
  const lineage = { secretArn: arn, versionId: token };

  // 1. The key the pending value names, proven as testSecret's rollback proves it.
  const pending = await deps.store.getValue(arn, { versionId: token });
  if (pending) {
    outcome.pendingValue = true;
    const claim = keyClaimOf(pending.value, `version ${token} of secret ${arn}`);
    if (claim) {
      outcome.pendingKeyId = claim.keyId;
      const shielded = protectedKeys.get(claim.keyId);
      if (shielded) {
        outcome.leftAlone.push({ keyId: claim.keyId, reason: shielded });
      } else {
        const proof = await proveClaim(deps, manager, claim, lineage);
        if (proof.outcome === "proven") {
          const revoked = await deps.keys.revoke(manager, claim.keyId);
          outcome.revoked.push({ keyId: claim.keyId, by: proof.by, outcome: revoked });
          deps.telemetry.info("abort: revoked the pending key", { keyId: claim.keyId, token });
        } else if (proof.outcome === "gone") {
          outcome.revoked.push({ keyId: claim.keyId, outcome: "already-revoked" });
        } else {
          reportRefusedClaim(
            deps,
            `abort: refused to revoke key ${claim.keyId} named by ${claim.where}: ${proof.reason}`,
            {
              keyId: claim.keyId,
            },
          );
          outcome.leftAlone.push({ keyId: claim.keyId, reason: `not proven: ${proof.reason}` });
        }
      }
    }
  }

  // 2. Keys minted for this token and never stored: their lineage tag is the proof.
  const done = new Set([...outcome.revoked.map((key) => key.keyId), ...outcome.leftAlone.map((key) => key.keyId)]);
  const tagged = { status: "active", nameSuffixes: [rotationTagSuffix(arn, token)] } as const;
  for (const key of await deps.keys.list(manager, tagged)) {
    if (done.has(key.id) || key.status !== "active" || !KEY_ID_PATTERN.test(key.id)) continue;
    if (!hasRotationTag(key.name, arn, token)) continue;
    const shielded = protectedKeys.get(key.id);
    if (shielded) {
      outcome.leftAlone.push({ keyId: key.id, reason: shielded });
      continue;
    }
    const revoked = await deps.keys.revoke(manager, key.id);
    outcome.revoked.push({ keyId: key.id, by: "lineage-tag", outcome: revoked });
    deps.telemetry.info("abort: revoked a key minted for the rotation", { keyId: key.id, token });
  }

  return outcome;
}
