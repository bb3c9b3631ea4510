import { errorMessage } from "../lambdas/core/errors.js";
import { revocationScheduleName } from "../lambdas/core/key-name.js";
import type { Telemetry } from "../lambdas/core/ports.js";
import type { RevocationDeps } from "../lambdas/core/revocation.js";
import { claimAndRevokeRetiredKey } from "../lambdas/core/rollback.js";
import { deleteSchedule, type RevocationSchedule, revocationSchedules } from "./aws.js";
import type { Session } from "./session.js";

/**
 * Revoking a retired key now, for `revoke`, `leak` and `rollback --revoke-now`: lambdas/core's revokeRetiredKey decides
 * (the revocation function's own rule: never a key AWSCURRENT or AWSPENDING holds, never the manager key, only a key a
 * retired version proves it holds, never postponed), once the key's pending revocation schedules are gone (taken
 * first: lambdas/core/rollback.ts claimAndRevokeRetiredKey), so nothing fires later for a key that is gone and `status`
 * shows nothing pending.
 */
export type RetiredKeyRevocation =
  | { outcome: "revoked" | "already-revoked"; schedulesRemoved: string[]; schedulesLeft: ScheduleLeft[] }
  | { outcome: "refused"; reason: string }
  | { outcome: "failed"; reason: string };

/** A schedule that should have gone and did not: harmless (it finds the key revoked), but `status` still shows it. */
export interface ScheduleLeft {
  schedule: string;
  reason: string;
}

/**
 * Revokes `keyId`, a retired key of the secret `secretArn`, at once, having first removed its revocation schedules in
 * `scheduleGroup` (none known: none removed): the core's claimAndRevokeRetiredKey, so that a rollback restoring the key
 * at the same moment (it needs that schedule) and this revocation never both go ahead. A schedule listed but gone when
 * deleted (a rollback or Scheduler took it) revokes nothing. A refusal or a failure after the schedules went leaves the
 * key with none: run the command again once the cause is fixed, or `reconcile`.
 */
export async function revokeRetiredKeyNow(
  session: Session,
  secretArn: string,
  keyId: string,
  scheduleGroup: string | undefined,
): Promise<RetiredKeyRevocation> {
  const refusal = refusalRecorder(session);
  const schedulesRemoved: string[] = [];
  const schedulesLeft: ScheduleLeft[] = [];
  const takeSchedules = async (): Promise<"taken" | "none" | "lost"> => {
    if (!scheduleGroup) return "none";
    const name = revocationScheduleName(secretArn, keyId);
    let pending: RevocationSchedule[];
    try {
      pending = (await revocationSchedules(session.aws, scheduleGroup, name)).filter((schedule) =>
        isScheduleOf(schedule, name, keyId),
      );
    } catch (error) {
      // Not listed, not taken: the revocation goes ahead as the rule decides, and status shows what is left.
      schedulesLeft.push({ schedule: `${scheduleGroup}/${name}*`, reason: errorMessage(error) });
      return "none";
    }
    let lost = false;
    for (const schedule of pending) {
      try {
        if (await deleteSchedule(session.aws, scheduleGroup, schedule.name)) schedulesRemoved.push(schedule.name);
        else lost = true;
      } catch (error) {
        schedulesLeft.push({ schedule: `${scheduleGroup}/${schedule.name}`, reason: errorMessage(error) });
      }
    }
    return lost ? "lost" : pending.length > 0 ? "taken" : "none";
  };
  let outcome: Awaited<ReturnType<typeof claimAndRevokeRetiredKey>>;
  try {
    outcome = await claimAndRevokeRetiredKey(refusal.deps, { secretId: secretArn, keyId }, takeSchedules);
  } catch (error) {
    return { outcome: "failed", reason: errorMessage(error) };
  }
  if (outcome === "claimed-elsewhere") {
    return {
      outcome: "refused",
      reason:
        "its revocation schedule went while this ran: a rollback restoring the key, or Scheduler revoking it, took it",
    };
  }
  if (outcome === "refused") return { outcome, reason: refusal.reason() };
  return { outcome, schedulesRemoved, schedulesLeft };
}

/**
 * Whether `schedule` revokes `keyId`: named exactly as finishSecret names it, or as a postponed check of it
 * (`<name>-p<n>`), and, when its input names a key, naming this one. The name alone is a prefix of the names of
 * longer key ids, so it is never enough.
 */
export function isScheduleOf(schedule: RevocationSchedule, name: string, keyId: string): boolean {
  const named = schedule.name === name || new RegExp(`^${escapeRegExp(name)}-p\\d+$`).test(schedule.name);
  return named && (schedule.keyId === undefined || schedule.keyId === keyId);
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/**
 * The core's deps with a Telemetry that keeps the core's refusal (it says why only in its error log line, which the
 * revocation function's alarms read) so that the command can show it as its outcome instead of as a warning.
 */
export function refusalRecorder(session: Session): { deps: RevocationDeps; reason(): string } {
  const base = session.deps;
  const errors: string[] = [];
  const telemetry: Telemetry = {
    ...base.telemetry,
    error: (message, fields) => {
      const stage = typeof fields?.stage === "string" ? ` (${fields.stage})` : "";
      errors.push(`${message}${stage}`);
      if (session.options.debug) base.telemetry.error(message, fields);
    },
  };
  return {
    deps: { ...base, telemetry },
    reason: () => errors.at(-1) ?? "refused by the revocation rule (run with --debug for its log)",
  };
}
