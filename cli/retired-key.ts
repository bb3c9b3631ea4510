import { errorMessage } from "../lambdas/core/errors.js";
import { revocationScheduleName } from "../lambdas/core/key-name.js";
import type { Telemetry } from "../lambdas/core/ports.js";
import { type RevocationDeps, revokeRetiredKey } from "../lambdas/core/revocation.js";
import { deleteSchedule, type RevocationSchedule, revocationSchedules } from "./aws.js";
import type { Session } from "./session.js";

/**
 * Revoking a retired key now, for `revoke`, `leak` and `rollback --revoke-now`: lambdas/core's revokeRetiredKey decides
 * (the revocation function's own rule: never a key AWSCURRENT or AWSPENDING holds, never the manager key, only a key a
 * retired version proves it holds, never postponed), then the key's pending revocation schedules go, so nothing
 * fires later for a key that is gone and `status` shows nothing pending.
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
 * Revokes `keyId`, a retired key of the secret `secretArn`, at once, then removes its revocation schedules in
 * `scheduleGroup` (none known: none removed). A refusal or a failure leaves the schedules as they are: they may still
 * do their job once the cause is fixed.
 */
export async function revokeRetiredKeyNow(
  session: Session,
  secretArn: string,
  keyId: string,
  scheduleGroup: string | undefined,
): Promise<RetiredKeyRevocation> {
  const refusal = refusalRecorder(session);
  let outcome: Awaited<ReturnType<typeof revokeRetiredKey>>;
  try {
    outcome = await revokeRetiredKey(refusal.deps, { secretId: secretArn, keyId });
  } catch (error) {
    return { outcome: "failed", reason: errorMessage(error) };
  }
  if (outcome === "refused") return { outcome, reason: refusal.reason() };
  const schedulesRemoved: string[] = [];
  const schedulesLeft: ScheduleLeft[] = [];
  if (scheduleGroup) {
    let pending: RevocationSchedule[] = [];
    const name = revocationScheduleName(secretArn, keyId);
    try {
      pending = (await revocationSchedules(session.aws, scheduleGroup, name)).filter((schedule) =>
        isScheduleOf(schedule, name, keyId),
      );
    } catch (error) {
      schedulesLeft.push({ schedule: `${scheduleGroup}/${name}*`, reason: errorMessage(error) });
    }
    for (const schedule of pending) {
      try {
        if (await deleteSchedule(session.aws, scheduleGroup, schedule.name)) schedulesRemoved.push(schedule.name);
      } catch (error) {
        schedulesLeft.push({ schedule: `${scheduleGroup}/${schedule.name}`, reason: errorMessage(error) });
      }
    }
  }
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
