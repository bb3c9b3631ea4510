/** The operator rollback: AWSCURRENT back to AWSPREVIOUS, checked first, then run in a safe order. */
import type { AllowedHosts } from "../contract/allowed-hosts.js";
import type { RevocationRequest } from "../contract/revocation-request.js";
import { managerCredentials, type RotationDeps, readKeySecret } from "./context.js";
import { errorMessage, PreconditionError } from "./errors.js";
import { rotationInProgress, versionWithStage } from "./guard.js";
import { revocationScheduleName } from "./key-name.js";
import type { RevocationScheduler, RotationEvents } from "./ports.js";
import { AWSCURRENT, AWSPREVIOUS } from "./ports.js";
import { proveClaim } from "./possession.js";
import { type RevocationDeps, revokeRetiredKey } from "./revocation.js";

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
 * label moves, then consumers are told (best effort), then the key rolled away from is retired. Without a pending
 * schedule of the restored key to remove, it refuses (PreconditionError) and changes nothing: only that removal proves
 * no revocation of the key is running. A failed revocation is reported in the outcome (the label has moved: the
 * operator revokes it or runs reconcile).
 */
export async function rollBack(
  deps: RollbackDeps,
  plan: RollbackPlan,
  actions: RollbackActions,
): Promise<RollbackOutcome> {
  const { secretArn: arn, restored, retired } = plan;
  const scheduleRemoved = await actions.cancelRevocation(plan.restoredScheduleName);
  if (!scheduleRemoved) {
    // Race (concurrency suite: "revocation ∥ rollback"): checkRollback proved the key active, but once its grace is
    // over Scheduler fires and deletes its schedule, and the revocation function may be revoking it right now (so may
    // finishSecret with grace 0); moving AWSCURRENT onto it then leaves consumers a revoked key. Removing its pending
    // schedule ourselves is what proves no revocation of it is running or will run, so nothing moves without it.
    throw new PreconditionError(
      `not rolling back ${plan.secretName}: the previous key ${restored.keyId} has no pending revocation schedule ` +
        `(${plan.restoredScheduleName}) to cancel. Its grace period may be over and its revocation running now, or it ` +
        "was never scheduled; AWSCURRENT could end on a revoked key. Nothing was changed. Check the key with `status " +
        "--check`; if you know nothing is revoking it, move AWSCURRENT by hand (update-secret-version-stage)",
    );
  }
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

/**
 * An operator's immediate revocation of a retired key (`revoke`, the leak response): the key's pending revocation
 * schedule is the right to decide its fate, which rollBack takes before it restores a key. So `takeSchedule` deletes
 * the key's pending schedule first: "taken" (it was there and is gone now), "none" (the key had none), or "lost" (it
 * was listed, and someone deleted it first: a rollback restoring the key, or Scheduler firing it). On "lost" nothing
 * is revoked; otherwise revokeRetiredKey decides as the revocation function does. A refusal or a failure after the
 * schedule was taken leaves the key to a rerun, `reconcile` or the next rotation's retirement.
 */
export async function claimAndRevokeRetiredKey(
  deps: RevocationDeps,
  request: RevocationRequest,
  takeSchedule: () => Promise<"taken" | "none" | "lost">,
): Promise<"revoked" | "already-revoked" | "refused" | "claimed-elsewhere"> {
  // Race (concurrency suite: "revoke ∥ rollback"): revokeRetiredKey checks that AWSCURRENT does not hold the key, then
  // revokes it; a rollback moving AWSCURRENT onto it in between left consumers a revoked key. Whoever deletes the
  // schedule first decides: rollBack refuses without it, and this revokes nothing when it lost it.
  if ((await takeSchedule()) === "lost") return "claimed-elsewhere";
  return revokeRetiredKey(deps, request);
}
