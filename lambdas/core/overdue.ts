/** The daily overdue check: has each secret rotated within its schedule plus its window? */
import type { OverdueCheckRequest } from "../contract/overdue-check.js";
import type { RotationDeps } from "./context.js";
import { errorMessage } from "./errors.js";
import type { SecretDescription } from "./ports.js";

/** Secrets Manager closes a rotation window after an hour (rate in hours) or at the end of the UTC day (in days). */
const DEFAULT_WINDOW_MS = 24 * 3600 * 1000;
const HOUR_MS = 3600 * 1000;
const DAY_MS = 24 * HOUR_MS;

/** Why the secret's rotation is overdue at `now`, or undefined when it is not. */
export function overdueReason(description: SecretDescription, now: Date): string | undefined {
  if (!description.rotationEnabled) return "rotation is not enabled";
  const schedule = description.schedule ?? {};
  const windowMs = parseWindow(schedule.window) ?? DEFAULT_WINDOW_MS;
  const { nextRotation, lastRotated } = schedule;
  if (nextRotation && now.getTime() > nextRotation.getTime() + windowMs) {
    return `the rotation due by ${nextRotation.toISOString()} has not happened`;
  }
  const intervalMs = rotationInterval(schedule.automaticallyAfterDays, schedule.scheduleExpression);
  if (lastRotated && intervalMs !== undefined && now.getTime() > lastRotated.getTime() + intervalMs + windowMs) {
    return `last rotated ${lastRotated.toISOString()}, longer ago than its schedule plus the window`;
  }
  return undefined;
}

/** The interval of `AutomaticallyAfterDays` or a rate() expression; undefined for cron(), whose gaps vary. */
function rotationInterval(days: number | undefined, expression: string | undefined): number | undefined {
  if (days) return days * DAY_MS;
  const rate = expression && /^rate\((\d+) (hour|day)s?\)$/.exec(expression.trim());
  if (!rate) return undefined;
  return Number(rate[1]) * (rate[2] === "day" ? DAY_MS : HOUR_MS);
}

function parseWindow(window: string | undefined): number | undefined {
  const hours = window && /^(\d+)h$/.exec(window.trim());
  return hours ? Number(hours[1]) * HOUR_MS : undefined;
}

/**
 * The daily overdue check: has each secret rotated within its schedule plus its window? CloudWatch cannot watch a
 * 30-day silence itself (an alarm evaluates at most 7 days: Period × EvaluationPeriods ≤ 604,800 s), so a scheduled
 * rule invokes the rotation function with `{"check": "rotation-overdue", "secretIds": [...]}`; it reads each secret's
 * DescribeSecret and publishes RotationsOverdue, the number of overdue secrets, which an alarm watches.
 *
 * Checks every secret; one that cannot be described counts as overdue (a check that cannot look must not stay
 * silent). Logs each overdue secret at error level and publishes RotationsOverdue, zero included, and
 * OldestRotationAgeDays: the days since the oldest last rotation among the secrets that have rotated at least once (a
 * secret that never rotated is judged by its next rotation date alone).
 */
export async function checkRotationsOverdue(
  deps: Pick<RotationDeps, "store" | "telemetry" | "clock">,
  request: OverdueCheckRequest,
): Promise<{ checked: number; overdue: { secretId: string; reason: string }[] }> {
  const now = deps.clock.now();
  const overdue: { secretId: string; reason: string }[] = [];
  let oldestRotation: Date | undefined;
  for (const secretId of request.secretIds) {
    let reason: string | undefined;
    try {
      const description = await deps.store.describe(secretId);
      const lastRotated = description.schedule?.lastRotated;
      if (lastRotated && !(oldestRotation && oldestRotation <= lastRotated)) oldestRotation = lastRotated;
      reason = overdueReason(description, now);
    } catch (error) {
      reason = `could not be checked: ${errorMessage(error)}`;
    }
    if (reason) {
      overdue.push({ secretId, reason });
      deps.telemetry.error("rotation is overdue", { secretId, reason });
    }
  }
  deps.telemetry.metric("RotationsOverdue", overdue.length);
  if (oldestRotation) {
    const days = Math.round(((now.getTime() - oldestRotation.getTime()) / DAY_MS) * 100) / 100;
    deps.telemetry.metric("OldestRotationAgeDays", days, "None");
  }
  deps.telemetry.info("checked the secrets for overdue rotations", {
    checked: request.secretIds.length,
    overdue: overdue.length,
  });
  return { checked: request.secretIds.length, overdue };
}
