import {
  DescribeSecretCommand,
  type DescribeSecretCommandOutput,
  type SecretListEntry,
} from "@aws-sdk/client-secrets-manager";
import { outcomeFromTags } from "../lambdas/contract/rotation-outcome.js";
import { errorMessage } from "../lambdas/core/errors.js";
import { AWSCURRENT, AWSPENDING } from "../lambdas/core/ports.js";
import { formatDuration } from "./duration.js";
import { EXIT } from "./errors.js";
import { formatTime } from "./output.js";
import { type RotateOptions, type RotationReport, rotateSecret } from "./rotate.js";
import {
  chooseConcurrency,
  countOutcomes,
  describeSelection,
  forEachSelected,
  isMassSelection,
  Progress,
  type SelectedRow,
  type SelectionOptions,
  selectionUsageProblem,
  selectSecrets,
  untilAborted,
  type WorkContext,
} from "./selection.js";
import { type Session, withSession } from "./session.js";

/**
 * `rotate --prefix | --tag | --all`: the incident's mass rotation. Selects secrets with ListSecrets, then rotates them
 * with the single-secret rotate's start-and-follow (a rotation in progress is followed, not restarted), at most
 * --concurrency at a time: by default the deployment's ROTATION_CONCURRENCY, the number of rotations its rate budget
 * is divided among, so the rotations stay within the budget. A secret rotated within --skip-rotated-within whose last
 * recorded outcome is a success is skipped, which makes a run again after an interruption safe. Ctrl-C stops starting
 * rotations; a second Ctrl-C stops following the ones in flight. Exit 1 unless every secret succeeded or was skipped.
 */
export interface MassRotateOptions extends RotateOptions, SelectionOptions {
  skipRotatedWithin?: number;
}

export const DEFAULT_SKIP_ROTATED_WITHIN_MS = 3_600_000;

type MassOutcome = "succeeded" | "rolled back" | "failed" | "skipped" | "interrupted" | "not started";

interface MassRow extends SelectedRow {
  outcome: MassOutcome;
  reason?: string;
  token?: string;
  newKeyId?: string;
}

export { isMassSelection };

/** The checks that need both the argument and the options (commander checks each alone). */
export function massUsageProblem(secretId: string | undefined, options: MassRotateOptions): string | undefined {
  const problem = selectionUsageProblem(secretId, options);
  if (problem) return problem;
  if (!isMassSelection(options)) {
    if (options.concurrency !== undefined || options.skipRotatedWithin !== undefined) {
      return "--concurrency and --skip-rotated-within apply to a selection (--prefix, --tag, --all), not to one secret";
    }
    return undefined;
  }
  if (!options.wait)
    return "--no-wait cannot be used with a selection: each rotation is followed to keep --concurrency";
  return undefined;
}

export function massRotate(options: MassRotateOptions): Promise<number> {
  return withSession(options, (session) => run(session, options));
}

async function run(session: Session, options: MassRotateOptions): Promise<number> {
  const { out } = session;
  const selected = await selectSecrets(session, options);
  const selection = describeSelection(options);
  if (selected.length === 0) {
    out.line(`No secret matches ${selection}.`);
    out.data({ selection, concurrency: null, results: [] });
    return EXIT.ok;
  }
  const { concurrency, source } = await chooseConcurrency(session, selected, options);
  const skipWithinMs = options.skipRotatedWithin ?? DEFAULT_SKIP_ROTATED_WITHIN_MS;
  const progress = new Progress(selected.length, isGood);
  progress.note(
    `${selected.length} secret(s) match ${selection}; at most ${concurrency} rotation(s) at a time (${source})`,
  );

  const rotateOne = async (entry: SecretListEntry, { signal, started }: WorkContext): Promise<MassRow> => {
    const row: MassRow = { secret: entry.Name as string, outcome: "not started" };
    try {
      const skip = await skipReason(session, entry.ARN as string, skipWithinMs);
      if (skip) return { ...row, outcome: "skipped", reason: skip };
      started();
      const report = await untilAborted(
        rotateSecret(session, entry.ARN as string, options, { say: () => {}, signal }),
        signal,
      );
      return { ...row, ...fromReport(report) };
    } catch (error) {
      return { ...row, outcome: "failed", reason: errorMessage(error) };
    }
  };
  const { rows, interrupted } = await forEachSelected(
    selected,
    concurrency,
    progress,
    (entry): MassRow => ({ secret: entry.Name as string, outcome: "not started" }),
    rotateOne,
  );

  const failed = rows.filter((row) => !isGood(row.outcome));
  out.data({ selection, concurrency, interrupted, results: rows });
  out.table(
    ["secret", "outcome", "reason"],
    rows.map((row) => [row.secret, colorOutcome(session, row.outcome), row.reason ?? ""]),
  );
  const counts = countOutcomes(rows);
  out.line(
    `${counts}${interrupted ? " (interrupted: run the same command again to go on; succeeded ones are skipped)" : ""}`,
  );
  return failed.length === 0 ? EXIT.ok : EXIT.failed;
}

function isGood(outcome: string): boolean {
  return outcome === "succeeded" || outcome === "skipped";
}

/**
 * Why this secret needs no rotation now: it has none in progress, rotated within `withinMs` (LastRotatedDate), and
 * the outcome its rotation function recorded, if any, is a success (moto sets LastRotatedDate at RotateSecret).
 */
async function skipReason(session: Session, arn: string, withinMs: number): Promise<string | undefined> {
  if (withinMs <= 0) return undefined;
  let described: DescribeSecretCommandOutput;
  try {
    described = await session.aws.secrets.send(new DescribeSecretCommand({ SecretId: arn }));
  } catch {
    return undefined; // rotateSecret reports it
  }
  const stages = Object.values(described.VersionIdsToStages ?? {});
  if (stages.some((labels) => labels.includes(AWSPENDING) && !labels.includes(AWSCURRENT))) return undefined;
  const last = described.LastRotatedDate;
  if (!last || Date.now() - last.getTime() >= withinMs) return undefined;
  const outcome = outcomeFromTags(described.Tags);
  if (outcome && outcome.kind !== "succeeded") return undefined;
  return `rotated at ${formatTime(last)}, within --skip-rotated-within ${formatDuration(withinMs)}`;
}

function fromReport(report: RotationReport | "aborted"): Partial<MassRow> {
  if (report === "aborted") return { outcome: "interrupted", reason: "still running: stopped following it" };
  const common = { token: report.token, ...(report.newKeyId && { newKeyId: report.newKeyId }) };
  switch (report.outcome) {
    case "succeeded":
      return { ...common, outcome: "succeeded", ...(report.followed && { reason: "was already in progress" }) };
    case "interrupted":
      return { ...common, outcome: "interrupted", ...(report.reason && { reason: report.reason }) };
    case "failed":
      return { ...common, outcome: report.rolledBack ? "rolled back" : "failed", reason: report.reason ?? "" };
    default:
      return { ...common, outcome: "failed", reason: report.reason ?? `ended as ${report.outcome}` };
  }
}

function colorOutcome(session: Session, outcome: MassOutcome): string {
  const c = session.out.color;
  if (outcome === "succeeded") return c.green(outcome);
  if (outcome === "skipped") return c.dim(outcome);
  return c.red(outcome);
}
