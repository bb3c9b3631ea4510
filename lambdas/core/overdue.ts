/** The daily overdue check: has each secret rotated within its schedule plus its window, and is none stuck? */
import type { OverdueCheckRequest } from "../contract/overdue-check.js";
import type { RotationDeps } from "./context.js";
import { errorMessage } from "./errors.js";
import type { SecretDescription, SecretStore, SecretVersion } from "./ports.js";
import { DAY_MS, type ProblemKind, pendingVersion, verdict } from "./verdict.js";

/**
 * The daily overdue check: has each secret rotated within its schedule plus its window? CloudWatch cannot watch a
 * 30-day silence itself (an alarm evaluates at most 7 days: Period × EvaluationPeriods ≤ 604,800 s), so a scheduled
 * rule invokes the rotation function with `{"check": "rotation-overdue", "secretIds": [...]}`; it reads each secret's
 * DescribeSecret, judges it by the verdict's rules that DescribeSecret answers (overdueReason), and publishes
 * RotationsOverdue, the number of overdue secrets, which an alarm watches.
 */
/**
 * Why the secret counts as overdue at `now`, or undefined, by the verdict's rules that DescribeSecret answers
 * (lambdas/core/verdict.ts): rotation not enabled (for a secret the deployment lists, a rotation that will never come),
 * a rotation overdue by its schedule plus the window, and a rotation stuck (AWSPENDING on a version older than an hour
 * that is not AWSCURRENT: `versions` gives the versions' dates, read only when DescribeSecret shows one pending).
 */
export function overdueReason(
  description: SecretDescription,
  now: Date,
  versions: SecretVersion[] = [],
): string | undefined {
  if (!description.rotationEnabled) return "rotation is not enabled";
  const dated = new Map(versions.map((version) => [version.versionId, version.createdDate]));
  const judged = verdict({
    now,
    versions: Object.entries(description.versionStages).map(([versionId, stages]) => {
      const createdDate = dated.get(versionId);
      return { versionId, stages, ...(createdDate && { createdDate }) };
    }),
    rotation: { enabled: true, ...(description.schedule && { schedule: description.schedule }) },
    revocations: [],
  });
  return judged.problems.find((problem) => OVERDUE_KINDS.includes(problem.kind))?.summary;
}

/** The verdict's problems the daily check counts: the others need Novala, Scheduler or the values (status has them). */
const OVERDUE_KINDS: readonly ProblemKind[] = ["rotation-stuck", "rotation-overdue"];

/** The versions' dates, asked (ListSecretVersionIds) only when a rotation is pending: the one rule that needs them. */
async function datesIfPending(store: SecretStore, description: SecretDescription): Promise<SecretVersion[]> {
  const stages = Object.values(description.versionStages);
  return pendingVersion(stages.map((labels) => ({ stages: labels }))) ? store.listVersions(description.arn) : [];
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
      reason = overdueReason(description, now, await datesIfPending(deps.store, description));
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
