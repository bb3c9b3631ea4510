/** The operator rollback: AWSCURRENT back to AWSPREVIOUS, checked first, then run in a safe order. */
import type { AllowedHosts } from "../contract/allowed-hosts.js";
import { managerCredentials, type RotationDeps, readKeySecret } from "./context.js";
import { errorMessage } from "./errors.js";
import { rotationInProgress, versionWithStage } from "./guard.js";
import { revocationScheduleName } from "./key-name.js";
import type { RevocationScheduler, RotationEvents } from "./ports.js";
import { AWSCURRENT, AWSPREVIOUS } from "./ports.js";
import { proveClaim } from "./possession.js";
import { revokeRetiredKey } from "./revocation.js";

/** What a rollback reads and acts with. */
export type RollbackDeps = Pick<RotationDeps, "store" | "keys" | "telemetry" | "clock"> & {
  config: { allowedHosts: AllowedHosts };
};

/** What a rollback will do, as checkRollback read it. */
export interface RollbackPlan {
  secretArn: string;
  secretName: string;
  /** The key AWSPREVIOUS holds, which AWSCURRENT gets back. */
  restored: { keyId: string; versionId: string };
  /** The key AWSCURRENT holds now, rolled away from and retired. */
  retired: { keyId: string; versionId: string };
  /** The schedule that would revoke the restored key (finishSecret made it): removed by the rollback. */
  restoredScheduleName: string;
}

/** checkRollback's answer: ready, with the plan, or refused, with the reason. */
export type RollbackCheck = { outcome: "ready"; plan: RollbackPlan } | { outcome: "refused"; reason: string };

/**
 * The operator rollback: AWSCURRENT back to AWSPREVIOUS, when the previous key is still active at Novala and the
 * previous version proves it holds it (its secret key authenticates as that key id: lambdas/core/possession.ts).
 * checkRollback() reads and refuses (nothing changes); rollBack() then removes the schedule that would revoke the
 * restored key, moves the label, tells consumers, and retires the key rolled away from: at once through the revocation
 * Lambda's own rule (which re-reads the secret and refuses a key it holds), or after a grace by a one-time schedule.
 *
 * Reads the secret and Novala, and says whether a rollback may run; changes nothing.
 *
 * @example
 * const check = await checkRollback(deps, secretArn);
 * if (check.outcome === "ready") await rollBack(deps, check.plan, { cancelRevocation, reason: "operator rollback" });
 */
export async function checkRollback(deps: RollbackDeps, secretId: string): Promise<RollbackCheck> {
  const refuse = (reason: string): RollbackCheck => ({ outcome: "refused", reason });
  const description = await deps.store.describe(secretId);
  const { arn, name } = description;
  const pendingVersion = rotationInProgress(description);
  if (pendingVersion) {
    return refuse(`version ${pendingVersion} is AWSPENDING: a rotation is in progress or has failed half-way`);
  }
  if (!versionWithStage(description, AWSPREVIOUS)) return refuse("no version is AWSPREVIOUS");
  const current = await readKeySecret(deps, arn, AWSCURRENT);
  if (!current) return refuse("AWSCURRENT has no value");
  const previous = await readKeySecret(deps, arn, AWSPREVIOUS);
  if (!previous) return refuse("AWSPREVIOUS has no value");
  const restoredKeyId = previous.secret.keyId;
  const retiredKeyId = current.secret.keyId;
  if (restoredKeyId === retiredKeyId) return refuse(`AWSPREVIOUS holds the same key as AWSCURRENT (${retiredKeyId})`);

  // The previous key must still work and be the previous version's own: its secret key authenticates as that id.
  // The manager is taken from the previous value: the current key may be the broken one being rolled away from.
  const manager = await managerCredentials(deps, arn, previous);
  const proof = await proveClaim(deps, manager, {
    keyId: restoredKeyId,
    secretKey: previous.secret.secretKey,
    where: `AWSPREVIOUS of secret ${arn}`,
  });
  if (proof.outcome === "gone") {
    return refuse(
      proof.status === "unknown"
        ? `the previous key ${restoredKeyId} is unknown to Novala (404)`
        : `the previous key ${restoredKeyId} is already revoked at Novala`,
    );
  }
  if (proof.outcome === "refused") {
    return refuse(`Novala does not accept the previous key ${restoredKeyId}'s secret key (${proof.reason})`);
  }
  return {
    outcome: "ready",
    plan: {
      secretArn: arn,
      secretName: name,
      restored: { keyId: restoredKeyId, versionId: previous.versionId },
      retired: { keyId: retiredKeyId, versionId: current.versionId },
      restoredScheduleName: revocationScheduleName(arn, restoredKeyId),
    },
  };
}

/** What rollBack acts with besides the secret and Novala, and why. */
export interface RollbackActions {
  /**
   * Deletes the revocation schedule `name` and its postponements (`name-p…`, lambdas/core/key-name.ts); resolves
   * whether there was one (false when no schedule group is known).
   */
  cancelRevocation(name: string): Promise<boolean>;
  /** Where consumers are told (Key Rotation Rolled Back); none: nobody is told. */
  events?: RotationEvents;
  /** Why, for the event. */
  reason: string;
  /** Revoke the key rolled away from after this grace, by a one-time schedule; none: revoke it now. */
  grace?: { ms: number; scheduler: RevocationScheduler };
}

/** What became of the key rolled away from. */
export type RollbackRetirement =
  | { outcome: "revoked" | "already-revoked" | "refused" }
  | { outcome: "scheduled"; schedule: string; revokeAfter: Date; existed: boolean }
  | { outcome: "failed"; error: string };

/** What a rollback did, for the operator. */
export interface RollbackOutcome {
  plan: RollbackPlan;
  scheduleRemoved: boolean;
  event: { published: boolean; error?: string };
  retirement: RollbackRetirement;
}

/**
 * Runs a checked rollback, in the order that keeps the restored key safe: its revocation schedule goes first, then the
 * label moves, then consumers are told (best effort), then the key rolled away from is retired. A failed revocation is
 * reported in the outcome (the label has moved: the operator revokes it or runs reconcile).
 */
export async function rollBack(
  deps: RollbackDeps,
  plan: RollbackPlan,
  actions: RollbackActions,
): Promise<RollbackOutcome> {
  const { secretArn: arn, restored, retired } = plan;
  const scheduleRemoved = await actions.cancelRevocation(plan.restoredScheduleName);
  await deps.store.moveStage(arn, AWSCURRENT, { toVersionId: restored.versionId, fromVersionId: retired.versionId });
  deps.telemetry.info("rollback: AWSCURRENT is the previous version again", {
    secretId: arn,
    restoredKeyId: restored.keyId,
    retiredKeyId: retired.keyId,
  });

  // Consumers that cached the key rolled away from must refresh now: it is revoked next.
  let event: RollbackOutcome["event"] = { published: false };
  if (actions.events) {
    try {
      await actions.events.rotationRolledBack({
        secretArn: arn,
        currentKeyId: restored.keyId,
        currentVersionId: restored.versionId,
        rolledBackKeyId: retired.keyId,
        rolledBackVersionId: retired.versionId,
        reason: actions.reason,
      });
      event = { published: true };
    } catch (error) {
      event = { published: false, error: errorMessage(error) };
    }
  }

  let retirement: RollbackRetirement;
  if (actions.grace) {
    const at = new Date(deps.clock.now().getTime() + actions.grace.ms);
    const schedule = revocationScheduleName(arn, retired.keyId);
    const created = await actions.grace.scheduler.ensureScheduled(schedule, at, {
      secretId: arn,
      keyId: retired.keyId,
      revokeAfter: at.toISOString(),
    });
    retirement = { outcome: "scheduled", schedule, revokeAfter: at, existed: created === "exists" };
  } else {
    try {
      retirement = { outcome: await revokeRetiredKey(deps, { secretId: arn, keyId: retired.keyId }) };
    } catch (error) {
      retirement = { outcome: "failed", error: errorMessage(error) };
    }
  }
  return { plan, scheduleRemoved, event, retirement };
}
