import {
  DescribeSecretCommand,
  type DescribeSecretCommandOutput,
  type Filter,
  paginateListSecrets,
  type SecretListEntry,
} from "@aws-sdk/client-secrets-manager";
import { ENV } from "../lambdas/contract/environment.js";
import { outcomeFromTags } from "../lambdas/contract/rotation-outcome.js";
import { errorMessage } from "../lambdas/core/errors.js";
import { AWSCURRENT, AWSPENDING } from "../lambdas/core/ports.js";
import { redact } from "../lambdas/core/redact.js";
import { readRotationFunctionEnvironment } from "./deployment.js";
import { formatDuration } from "./duration.js";
import { CliError, EXIT } from "./errors.js";
import { formatTime } from "./output.js";
import { type RotateOptions, type RotationReport, rotateSecret } from "./rotate.js";
import { type Session, withSession } from "./session.js";

/**
 * `rotate --prefix | --tag | --all`: the incident's mass rotation. Selects secrets with ListSecrets, then rotates them
 * with the single-secret rotate's start-and-follow (a rotation in progress is followed, not restarted), at most
 * --concurrency at a time: by default the deployment's ROTATION_CONCURRENCY, the number of rotations its rate budget
 * is divided among, so the rotations stay within the budget. A secret rotated within --skip-rotated-within whose last
 * recorded outcome is a success is skipped, which makes a run again after an interruption safe. Ctrl-C stops starting
 * rotations; a second Ctrl-C stops following the ones in flight. Exit 1 unless every secret succeeded or was skipped.
 */
export interface MassRotateOptions extends RotateOptions {
  prefix?: string;
  tag?: string[];
  all?: boolean;
  concurrency?: number;
  skipRotatedWithin?: number;
}

/** Without a deployment to say otherwise (no rotation function readable). */
export const DEFAULT_MASS_CONCURRENCY = 10;
export const DEFAULT_SKIP_ROTATED_WITHIN_MS = 3_600_000;

type MassOutcome = "succeeded" | "rolled back" | "failed" | "skipped" | "interrupted" | "not started";

interface MassRow {
  secret: string;
  outcome: MassOutcome;
  reason?: string;
  token?: string;
  newKeyId?: string;
  elapsedMs?: number;
}

/** Whether a selection flag is given: then `rotate` is a mass rotation. */
export function isMassSelection(options: MassRotateOptions): boolean {
  return options.prefix !== undefined || (options.tag?.length ?? 0) > 0 || options.all === true;
}

/** The checks that need both the argument and the options (commander checks each alone). */
export function massUsageProblem(secretId: string | undefined, options: MassRotateOptions): string | undefined {
  const mass = isMassSelection(options);
  if (mass && secretId !== undefined) {
    return `give either a secret id (${secretId}) or a selection (--prefix, --tag, --all), not both`;
  }
  if (!mass) {
    if (secretId === undefined)
      return "missing required argument 'secret-id': give one, or select many with --prefix, --tag or --all";
    if (options.concurrency !== undefined || options.skipRotatedWithin !== undefined) {
      return "--concurrency and --skip-rotated-within apply to a selection (--prefix, --tag, --all), not to one secret";
    }
    return undefined;
  }
  if (options.all && (options.prefix !== undefined || options.tag?.length)) {
    return "--all selects every secret the rotation function rotates: leave out --prefix and --tag";
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
  const selected = await select(session, options);
  const selection = describeSelection(options);
  if (selected.length === 0) {
    out.line(`No secret matches ${selection}.`);
    out.data({ selection, concurrency: null, results: [] });
    return EXIT.ok;
  }
  const { concurrency, source } = await chooseConcurrency(session, selected, options);
  const skipWithinMs = options.skipRotatedWithin ?? DEFAULT_SKIP_ROTATED_WITHIN_MS;
  const progress = new Progress(selected.length);
  progress.note(
    `${selected.length} secret(s) match ${selection}; at most ${concurrency} rotation(s) at a time (${source})`,
  );

  const rows: MassRow[] = selected.map((entry) => ({ secret: entry.Name as string, outcome: "not started" }));
  let stopStarting = false;
  const stopFollowing = new AbortController();
  let interrupts = 0;
  const onSigint = () => {
    interrupts += 1;
    if (interrupts === 1) {
      stopStarting = true;
      progress.note(
        `interrupted: no more rotations are started; waiting for those in flight (Ctrl-C again to stop following)`,
      );
    } else {
      stopFollowing.abort();
    }
  };
  process.on("SIGINT", onSigint);

  const rotateOne = async (index: number) => {
    const entry = selected[index] as SecretListEntry;
    const row = rows[index] as MassRow;
    const started = Date.now();
    try {
      const skip = await skipReason(session, entry.ARN as string, skipWithinMs);
      if (skip) {
        Object.assign(row, { outcome: "skipped", reason: skip });
      } else {
        progress.started();
        const report = await untilAborted(
          rotateSecret(session, entry.ARN as string, options, { say: () => {}, signal: stopFollowing.signal }),
          stopFollowing.signal,
        );
        Object.assign(row, fromReport(report));
      }
    } catch (error) {
      Object.assign(row, { outcome: "failed", reason: errorMessage(error) });
    }
    row.elapsedMs = Date.now() - started;
    progress.done(row);
  };

  // A pool of `concurrency` workers taking the next secret: at most that many rotations are in flight.
  let next = 0;
  const worker = async () => {
    while (!stopStarting && next < selected.length) await rotateOne(next++);
  };
  try {
    await Promise.all(Array.from({ length: Math.min(concurrency, selected.length) }, worker));
  } finally {
    process.off("SIGINT", onSigint);
  }
  progress.end();

  const failed = rows.filter((row) => row.outcome !== "succeeded" && row.outcome !== "skipped");
  out.data({ selection, concurrency, interrupted: interrupts > 0, results: rows });
  out.table(
    ["secret", "outcome", "reason"],
    rows.map((row) => [row.secret, colorOutcome(session, row.outcome), row.reason ?? ""]),
  );
  const counts = countOutcomes(rows);
  out.line(
    `${counts}${interrupts > 0 ? " (interrupted: run the same command again to go on; succeeded ones are skipped)" : ""}`,
  );
  return failed.length === 0 ? EXIT.ok : EXIT.failed;
}

/** The secrets the selection names, by name, from ListSecrets (its filters narrow, the exact match is checked here). */
async function select(session: Session, options: MassRotateOptions): Promise<SecretListEntry[]> {
  const tags = (options.tag ?? []).map(parseTag);
  const filters: Filter[] = [];
  if (options.prefix !== undefined) filters.push({ Key: "name", Values: [options.prefix] });
  for (const tag of tags)
    filters.push({ Key: "tag-key", Values: [tag.key] }, { Key: "tag-value", Values: [tag.value] });
  const found: SecretListEntry[] = [];
  try {
    for await (const page of paginateListSecrets(
      { client: session.aws.secrets },
      { ...(filters.length > 0 && { Filters: filters }), MaxResults: 100 },
    )) {
      found.push(...(page.SecretList ?? []));
    }
  } catch (error) {
    throw new CliError(`cannot list the secrets (ListSecrets: ${errorMessage(error)})`);
  }
  // ListSecrets matches a name prefix case-insensitively and a tag's key and value separately: narrow to exact.
  const matches = (entry: SecretListEntry) =>
    (options.prefix === undefined || (entry.Name ?? "").startsWith(options.prefix)) &&
    tags.every((tag) => entry.Tags?.some((t) => t.Key === tag.key && t.Value === tag.value)) &&
    (!options.all ||
      (!!entry.RotationLambdaARN && entry.RotationLambdaARN === (options.lambdaArn ?? entry.RotationLambdaARN)));
  return found.filter(matches).sort((a, b) => (a.Name ?? "").localeCompare(b.Name ?? ""));
}

export function parseTag(raw: string): { key: string; value: string } {
  const at = raw.indexOf("=");
  if (at <= 0) throw new CliError(`--tag expects key=value, got "${raw}"`, EXIT.usage);
  return { key: raw.slice(0, at), value: raw.slice(at + 1) };
}

function describeSelection(options: MassRotateOptions): string {
  if (options.all) return `--all (every secret rotated by ${options.lambdaArn ?? "a rotation function"})`;
  const parts = [
    ...(options.prefix !== undefined ? [`--prefix ${options.prefix}`] : []),
    ...(options.tag ?? []).map((tag) => `--tag ${tag}`),
  ];
  return parts.join(" ");
}

/**
 * --concurrency, else the smallest ROTATION_CONCURRENCY among the selected secrets' rotation functions: the number of
 * rotations their rate budget is shared among. Without a readable function: DEFAULT_MASS_CONCURRENCY.
 */
async function chooseConcurrency(
  session: Session,
  selected: SecretListEntry[],
  options: MassRotateOptions,
): Promise<{ concurrency: number; source: string }> {
  if (options.concurrency !== undefined) return { concurrency: options.concurrency, source: "--concurrency" };
  const functions = new Set(
    selected.map((entry) => options.lambdaArn ?? entry.RotationLambdaARN).filter((arn): arn is string => !!arn),
  );
  let found: { concurrency: number; source: string } | undefined;
  for (const arn of functions) {
    try {
      const value = Number((await readRotationFunctionEnvironment(session.aws, arn))[ENV.rotationConcurrency]);
      if (Number.isInteger(value) && value > 0 && (!found || value < found.concurrency)) {
        found = { concurrency: value, source: `${ENV.rotationConcurrency} of ${arn.split(":").pop()}` };
      }
    } catch (error) {
      if (session.options.debug) session.out.warn(errorMessage(error));
    }
  }
  return found ?? { concurrency: DEFAULT_MASS_CONCURRENCY, source: "no rotation function's setting could be read" };
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

/** The rotation's report, or an "interrupted" one as soon as `signal` aborts (steps run here cannot be stopped). */
function untilAborted(rotation: Promise<RotationReport>, signal: AbortSignal): Promise<RotationReport | "aborted"> {
  return new Promise((resolve, reject) => {
    const onAbort = () => resolve("aborted");
    signal.addEventListener("abort", onAbort, { once: true });
    rotation.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
  });
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

function countOutcomes(rows: MassRow[]): string {
  const counts = new Map<string, number>();
  for (const row of rows) counts.set(row.outcome, (counts.get(row.outcome) ?? 0) + 1);
  return [...counts].map(([outcome, count]) => `${count} ${outcome}`).join(", ");
}

function colorOutcome(session: Session, outcome: MassOutcome): string {
  const c = session.out.color;
  if (outcome === "succeeded") return c.green(outcome);
  if (outcome === "skipped") return c.dim(outcome);
  return c.red(outcome);
}

/**
 * Progress on stderr (stdout keeps the table or the JSON document): a bar redrawn in place on a terminal, otherwise
 * one plain line per secret that ends.
 */
class Progress {
  private readonly tty = process.stderr.isTTY === true && process.env.TERM !== "dumb";
  private finished = 0;
  private running = 0;
  private notGood = 0;
  private readonly begun = Date.now();

  constructor(private readonly total: number) {}

  note(text: string): void {
    this.clear();
    process.stderr.write(`${redact(text)}\n`);
    this.draw();
  }

  started(): void {
    this.running += 1;
    this.draw();
  }

  done(row: MassRow): void {
    if (row.outcome !== "skipped") this.running = Math.max(0, this.running - 1);
    this.finished += 1;
    if (row.outcome !== "succeeded" && row.outcome !== "skipped") this.notGood += 1;
    if (!this.tty) {
      const elapsed = row.elapsedMs !== undefined ? ` (${formatDuration(row.elapsedMs)})` : "";
      process.stderr.write(redact(`[${this.finished}/${this.total}] ${row.secret}: ${row.outcome}${elapsed}\n`));
    }
    this.draw();
  }

  end(): void {
    this.clear();
  }

  private draw(): void {
    if (!this.tty) return;
    const width = 30;
    const filled = Math.round((this.finished / this.total) * width);
    const seconds = ((Date.now() - this.begun) / 1000).toFixed(0);
    process.stderr.write(
      `\r\x1b[2K[${"#".repeat(filled)}${".".repeat(width - filled)}] ${this.finished}/${this.total} done, ` +
        `${this.running} running, ${this.notGood} not succeeded, ${seconds} s`,
    );
  }

  private clear(): void {
    if (this.tty) process.stderr.write("\r\x1b[2K");
  }
}
