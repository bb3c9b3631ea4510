import {
  DescribeSecretCommand,
  type DescribeSecretCommandOutput,
  type SecretListEntry,
} from "@aws-sdk/client-secrets-manager";
import { formatDuration } from "../lambdas/contract/duration.js";
import { outcomeFromTags } from "../lambdas/contract/rotation-outcome.js";
import { errorMessage } from "../lambdas/core/errors.js";
import { formatTime } from "../lambdas/core/verdict.js";
import { deploymentIfAny } from "./deployment.js";
import { EXIT } from "./errors.js";
import { checkCurrentKey, inProgressToken, type RotateOptions, type RotationReport, rotateSecret } from "./rotate.js";
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
  /** List what the selection would rotate (or skip, and why) and start nothing. */
  dryRun?: boolean;
  /** Stop starting rotations after this many failures in a row (0: never). */
  stopAfterFailures?: number;
}

export const DEFAULT_SKIP_ROTATED_WITHIN_MS = 3_600_000;
/** The breaker's default: this many failed rotations in a row stop a mass rotation from starting more. */
export const DEFAULT_STOP_AFTER_FAILURES = 3;

type MassOutcome =
  | "succeeded"
  | "left to do"
  | "rolled back"
  | "failed"
  | "refused"
  | "skipped"
  | "interrupted"
  | "not started";

/** What a dry run says of a secret. */
type DryRunOutcome = "would rotate" | "would follow" | "would skip" | "would refuse";

interface MassRow extends SelectedRow {
  outcome: MassOutcome | DryRunOutcome;
  reason?: string;
  token?: string;
  newKeyId?: string;
  /** What is left to do for this secret (a rotation that promoted its key but left the old one active). */
  leftToDo?: string[];
  /** Why the pre-check refused (the kind: lambdas/core's CurrentKeyProblem, or novala-unreachable). */
  refusal?: string;
  /** The rotation failed and AWSPENDING stays on its version (a stuck rotation: `abort` ends it). */
  pendingLeft?: boolean;
}

/**
 * The breaker: a run of failures in a row (a Novala that answers but fails every rotation) or a Novala that cannot be
 * reached (one is enough: every other rotation would meet the same) stops a mass rotation from starting more, so that
 * an outage leaves only the rotations already in flight to clean up, not the whole selection.
 */
export class Breaker {
  private inARow = 0;
  constructor(private readonly limit: number) {}

  /** After each finished row: why to stop now, or undefined. */
  check(row: MassRow): string | undefined {
    if (row.refusal === "novala-unreachable")
      return `Novala is unreachable (the check of ${row.secret} could not ask it)`;
    if (row.outcome === "succeeded") this.inARow = 0;
    if (!isFailure(row.outcome)) return undefined;
    this.inARow += 1;
    if (this.limit === 0 || this.inARow < this.limit) return undefined;
    return `${this.inARow} rotations failed in a row (--stop-after-failures ${this.limit}; the last: ${row.secret})`;
  }
}

function isFailure(outcome: string): boolean {
  return outcome === "failed" || outcome === "rolled back" || outcome === "refused" || outcome === "left to do";
}

/** The checks that need both the argument and the options (commander checks each alone). */
export function massUsageProblem(secretId: string | undefined, options: MassRotateOptions): string | undefined {
  const problem = selectionUsageProblem(secretId, options);
  if (problem) return problem;
  if (!isMassSelection(options)) {
    const given = [
      options.concurrency !== undefined && "--concurrency",
      options.skipRotatedWithin !== undefined && "--skip-rotated-within",
      options.stopAfterFailures !== undefined && "--stop-after-failures",
      options.dryRun && "--dry-run",
    ].filter((flag): flag is string => typeof flag === "string");
    if (given.length > 0) {
      return `${given.join(", ")} appl${given.length === 1 ? "ies" : "y"} to a selection (--prefix, --tag, --all), not to one secret`;
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
    out.data({ selection, concurrency: null, dryRun: options.dryRun === true, stopped: null, results: [] });
    return EXIT.ok;
  }
  const { concurrency, source } = await chooseConcurrency(session, selected, options);
  const skipWithinMs = options.skipRotatedWithin ?? DEFAULT_SKIP_ROTATED_WITHIN_MS;
  const progress = new Progress(selected.length, isGood);
  if (options.dryRun) return dryRun(session, options, selected, concurrency, progress, selection);
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
        rotateSecret(session, entry.ARN as string, options, { say: () => {}, signal, quiet: true }),
        signal,
      );
      return { ...row, ...fromReport(report) };
    } catch (error) {
      return { ...row, outcome: "failed", reason: errorMessage(error) };
    }
  };
  const breaker = new Breaker(options.stopAfterFailures ?? DEFAULT_STOP_AFTER_FAILURES);
  const { rows, interrupted, stopped } = await forEachSelected(
    selected,
    concurrency,
    progress,
    (entry): MassRow => ({ secret: entry.Name as string, outcome: "not started" }),
    rotateOne,
    { stopWhen: (row) => breaker.check(row), runsHere: options.runSteps === true },
  );
  if (stopped) {
    for (const row of rows) {
      if (row.outcome === "not started") row.reason = `the run stopped: ${stopped.reason}`;
    }
  }

  const failed = rows.filter((row) => !isGood(row.outcome));
  out.data({ selection, concurrency, dryRun: false, interrupted, stopped: stopped ?? null, results: rows });
  out.table(
    ["secret", "outcome", "reason"],
    rows.map((row) => [row.secret, colorOutcome(session, row.outcome), row.reason ?? ""]),
  );
  const counts = countOutcomes(rows);
  out.line(
    `${counts}${interrupted ? " (interrupted: run the same command again to go on; succeeded ones are skipped)" : ""}`,
  );
  if (stopped) {
    const inFlight = stopped.inFlight.length > 0 ? stopped.inFlight.join(", ") : "none";
    out.line(`Stopped: ${stopped.reason}. In flight then, followed to their end: ${inFlight}.`);
    // A rotation that failed before its promotion keeps AWSPENDING (Secrets Manager retries it): abort ends it.
    const stuck = rows.filter((row) => row.pendingLeft).length;
    out.line(
      `Fix the cause${stuck > 0 ? `, end the ${stuck} rotation(s) the run left stuck with novala-rotation abort ${selection}` : ""}, ` +
        "then run the same command again: the secrets that succeeded are skipped.",
    );
  }
  for (const row of rows) for (const todo of row.leftToDo ?? []) out.line(`left to do (${row.secret}): ${todo}`);
  return failed.length === 0 ? EXIT.ok : EXIT.failed;
}

/**
 * --dry-run: what the run would do with each secret, and why, from the same reads and checks it makes before it starts
 * one (a rotation in progress, --skip-rotated-within, the rotation function, the current key's check), without calling
 * RotateSecret or writing anything.
 */
async function dryRun(
  session: Session,
  options: MassRotateOptions,
  selected: SecretListEntry[],
  concurrency: number,
  progress: Progress,
  selection: string,
): Promise<number> {
  const { out } = session;
  const skipWithinMs = options.skipRotatedWithin ?? DEFAULT_SKIP_ROTATED_WITHIN_MS;
  progress.note(`${selected.length} secret(s) match ${selection} (dry run: nothing is started)`);
  const judge = async (entry: SecretListEntry, { started }: WorkContext): Promise<MassRow> => {
    const secret = entry.Name as string;
    const arn = entry.ARN as string;
    try {
      started();
      const description = await session.aws.store.describe(arn);
      const pending = inProgressToken(description);
      if (pending)
        return {
          secret,
          outcome: "would follow",
          token: pending,
          reason: `a rotation is in progress (version ${pending})`,
        };
      const skip = await skipReason(session, arn, skipWithinMs);
      if (skip) return { secret, outcome: "would skip", reason: skip };
      if (!(options.lambdaArn ?? entry.RotationLambdaARN)) {
        return { secret, outcome: "would refuse", reason: "no rotation function configured: add --lambda-arn" };
      }
      if (!options.skipCheck) {
        const deployment = await deploymentIfAny(session.aws, entry, options);
        const refused = await checkCurrentKey(session, arn, secret, deployment);
        if (refused) return { secret, outcome: "would refuse", reason: refused.reason, refusal: refused.refusal.kind };
      }
      return { secret, outcome: "would rotate" };
    } catch (error) {
      return { secret, outcome: "would refuse", reason: errorMessage(error) };
    }
  };
  const { rows } = await forEachSelected(
    selected,
    concurrency,
    progress,
    (entry): MassRow => ({ secret: entry.Name as string, outcome: "not started" }),
    judge,
    { noun: "check" },
  );
  out.data({ selection, concurrency, dryRun: true, stopped: null, results: rows });
  out.table(
    ["secret", "would", "reason"],
    rows.map((row) => [row.secret, row.outcome.replace(/^would /, ""), row.reason ?? ""]),
  );
  out.line(`${countOutcomes(rows)} (dry run: nothing was started)`);
  return EXIT.ok;
}

function isGood(outcome: string): boolean {
  return outcome === "succeeded" || outcome === "skipped" || outcome.startsWith("would ");
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
  if (inProgressToken({ versionStages: described.VersionIdsToStages ?? {} })) return undefined;
  const last = described.LastRotatedDate;
  if (!last || Date.now() - last.getTime() >= withinMs) return undefined;
  const outcome = outcomeFromTags(described.Tags);
  if (outcome && outcome.kind !== "succeeded") return undefined;
  return `rotated at ${formatTime(last)}, within --skip-rotated-within ${formatDuration(withinMs)}`;
}

function fromReport(report: RotationReport | "aborted"): Partial<MassRow> {
  if (report === "aborted") return { outcome: "interrupted", reason: "still running: stopped following it" };
  const common = {
    ...(report.token && { token: report.token }),
    ...(report.newKeyId && { newKeyId: report.newKeyId }),
    ...(report.leftToDo.length > 0 && { leftToDo: report.leftToDo }),
    ...(report.pendingLeft && { pendingLeft: true }),
  };
  switch (report.outcome) {
    case "succeeded":
      if (report.leftToDo.length > 0) {
        return {
          ...common,
          outcome: "left to do",
          reason: `promoted key ${report.newKeyId}; ${report.leftToDo.join("; ")}`,
        };
      }
      return { ...common, outcome: "succeeded", ...(report.followed && { reason: "was already in progress" }) };
    case "refused":
      return {
        ...common,
        outcome: "refused",
        reason: report.reason ?? "",
        ...(report.refusal && { refusal: report.refusal.kind }),
      };
    case "interrupted":
      return { ...common, outcome: "interrupted", ...(report.reason && { reason: report.reason }) };
    case "failed":
      return {
        ...common,
        outcome: report.rolledBack ? "rolled back" : "failed",
        reason: `${report.promoted ? `promoted key ${report.newKeyId}, then ` : ""}${report.reason ?? ""}`,
      };
    default:
      return { ...common, outcome: "failed", reason: report.reason ?? `ended as ${report.outcome}` };
  }
}

function colorOutcome(session: Session, outcome: MassRow["outcome"]): string {
  const c = session.out.color;
  if (outcome === "succeeded") return c.green(outcome);
  if (outcome === "skipped" || outcome === "not started") return c.dim(outcome);
  return c.red(outcome);
}
