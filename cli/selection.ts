import { type Filter, paginateListSecrets, type SecretListEntry } from "@aws-sdk/client-secrets-manager";
import { formatDuration } from "../lambdas/contract/duration.js";
import { ENV } from "../lambdas/contract/environment.js";
import { errorMessage } from "../lambdas/core/errors.js";
import { readRotationFunctionEnvironment } from "./deployment.js";
import { CliError, EXIT } from "./errors.js";
import { sanitize } from "./output.js";
import type { Session } from "./session.js";

/**
 * What the commands that act on many secrets share (`rotate --prefix|--tag|--all`, `leak`): the selection by
 * ListSecrets, the concurrency the deployment's rate budget allows, and a pool of workers with progress on stderr and
 * Ctrl-C handling (the first stops starting, the second stops following what is in flight).
 */
export interface SelectionOptions {
  prefix?: string;
  tag?: string[];
  all?: boolean;
  /** --all: only the secrets this rotation function rotates. */
  lambdaArn?: string;
  concurrency?: number;
}

/** Without a deployment to say otherwise (no rotation function readable). */
export const DEFAULT_MASS_CONCURRENCY = 10;

/** Whether a selection flag is given: then the command acts on every secret it selects. */
export function isMassSelection(options: SelectionOptions): boolean {
  return options.prefix !== undefined || (options.tag?.length ?? 0) > 0 || options.all === true;
}

/** The checks of a secret id against a selection that commander cannot make (it checks each option alone). */
export function selectionUsageProblem(secretId: string | undefined, options: SelectionOptions): string | undefined {
  const mass = isMassSelection(options);
  if (mass && secretId !== undefined) {
    return `give either a secret id (${secretId}) or a selection (--prefix, --tag, --all), not both`;
  }
  if (!mass && secretId === undefined) {
    return "missing required argument 'secret-id': give one, or select many with --prefix, --tag or --all";
  }
  if (options.all && (options.prefix !== undefined || options.tag?.length)) {
    return "--all selects every secret the rotation function rotates: leave out --prefix and --tag";
  }
  if (!mass && options.concurrency !== undefined) {
    return "--concurrency applies to a selection (--prefix, --tag, --all), not to one secret";
  }
  return undefined;
}

/** The secrets the selection names, by name, from ListSecrets (its filters narrow, the exact match is checked here). */
export async function selectSecrets(session: Session, options: SelectionOptions): Promise<SecretListEntry[]> {
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

export function describeSelection(options: SelectionOptions): string {
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
export async function chooseConcurrency(
  session: Session,
  selected: SecretListEntry[],
  options: SelectionOptions,
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

/** A secret's line in the final table; `outcome` is also what the progress shows. */
export interface SelectedRow {
  secret: string;
  outcome: string;
  elapsedMs?: number;
}

/** What a worker is given for one secret. */
export interface WorkContext {
  /** Aborts on the second Ctrl-C: stop following (a rotation cannot be stopped from here). One signal per secret. */
  signal: AbortSignal;
  /** Call when real work starts (not for a secret that is skipped): the progress counts it as running. */
  started(): void;
}

/** How the pool stops early, and what a Ctrl-C says about the work in flight. */
export interface PoolOptions<Row> {
  /** After each finished row: a reason to stop starting secrets (mass rotation's breaker), or undefined. */
  stopWhen?: (row: Row) => string | undefined;
  /** What one secret's work is, for messages: "rotation" (default), "abort", "revocation". */
  noun?: string;
  /**
   * Whether the work runs in this process (--run-steps): once it is no longer followed, it stops with the process.
   * Otherwise it goes on in Secrets Manager (or the rotation function) whatever this process does.
   */
  runsHere?: boolean;
}

/** What the pool did: a row per secret (in the order given), and why it stopped early, if it did. */
export interface PoolResult<Row> {
  rows: Row[];
  /** Ctrl-C was pressed. */
  interrupted: boolean;
  /** The breaker stopped starting secrets: why, and the secrets in flight at that moment (followed to their end). */
  stopped?: { reason: string; inFlight: string[] };
}

/**
 * Runs `work` for each selected secret, at most `concurrency` at a time, in the order given. The first Ctrl-C stops
 * starting secrets (their rows stay as `notStarted` made them) and says which are still in flight; the second aborts
 * their signals and says what goes on without this process. `options.stopWhen` stops starting secrets the same way
 * (the breaker). `work` must not throw: it reports its failure in its row.
 */
export async function forEachSelected<Row extends SelectedRow>(
  selected: SecretListEntry[],
  concurrency: number,
  progress: Progress,
  notStarted: (entry: SecretListEntry) => Row,
  work: (entry: SecretListEntry, context: WorkContext) => Promise<Row>,
  options: PoolOptions<Row> = {},
): Promise<PoolResult<Row>> {
  const rows = selected.map(notStarted);
  const noun = options.noun ?? "rotation";
  let stopStarting = false;
  let stopped: PoolResult<Row>["stopped"];
  let next = 0;
  /** The secrets whose work is running, with the controller that stops following each. */
  const inFlight = new Map<string, AbortController>();
  const names = () => [...inFlight.keys()];
  let interrupts = 0;
  const onSigint = () => {
    interrupts += 1;
    const running = names();
    if (interrupts === 1) {
      stopStarting = true;
      const notYet = selected.length - next;
      progress.note(
        `interrupted: ${notYet} secret(s) not started. ` +
          (running.length === 0
            ? "Nothing is in flight."
            : `Still in flight, followed to their end: ${running.join(", ")} (Ctrl-C again to stop following them)`),
      );
    } else {
      for (const controller of inFlight.values()) controller.abort();
      progress.note(
        running.length === 0
          ? "stopped: nothing is in flight"
          : options.runsHere
            ? `stopped ${running.join(", ")} mid-way: their steps ran in this process, so nothing runs on once it ` +
              "exits; each keeps AWSPENDING (a stuck rotation): end them with novala-rotation abort, or rotate " +
              "them again with --run-steps"
            : `stopped following ${running.join(", ")}: their ${noun}s go on without this process ` +
              "(novala-rotation status <secret> shows each)",
      );
    }
  };
  process.on("SIGINT", onSigint);

  const one = async (index: number) => {
    const entry = selected[index] as SecretListEntry;
    const name = entry.Name ?? entry.ARN ?? String(index);
    const begun = Date.now();
    let running = false;
    const controller = new AbortController();
    inFlight.set(name, controller);
    let row: Row;
    try {
      row = await work(entry, {
        signal: controller.signal,
        started: () => {
          running = true;
          progress.started();
        },
      });
    } finally {
      inFlight.delete(name);
    }
    row.elapsedMs = Date.now() - begun;
    rows[index] = row;
    progress.done(row, running);
    const reason = stopStarting ? undefined : options.stopWhen?.(row);
    if (reason) {
      stopStarting = true;
      stopped = { reason, inFlight: names() };
      const running = stopped.inFlight;
      progress.note(
        `stopped: ${reason}. No more secrets are started (${selected.length - next} left as they are)` +
          (running.length > 0 ? `; in flight, followed to their end: ${running.join(", ")}` : "; nothing is in flight"),
      );
    }
  };
  // A pool of `concurrency` workers taking the next secret: at most that many are in flight.
  const worker = async () => {
    while (!stopStarting && next < selected.length) await one(next++);
  };
  try {
    await Promise.all(Array.from({ length: Math.min(concurrency, selected.length) }, worker));
  } finally {
    process.off("SIGINT", onSigint);
  }
  progress.end();
  return { rows, interrupted: interrupts > 0, ...(stopped && { stopped }) };
}

/** Resolves `work`'s result, or "aborted" as soon as `signal` aborts (steps run here cannot be stopped). */
export function untilAborted<T>(work: Promise<T>, signal: AbortSignal): Promise<T | "aborted"> {
  return new Promise((resolve, reject) => {
    const onAbort = () => resolve("aborted");
    signal.addEventListener("abort", onAbort, { once: true });
    work.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
  });
}

/** "2 succeeded, 1 rolled back": the rows counted by outcome, in order of first appearance. */
export function countOutcomes(rows: SelectedRow[]): string {
  const counts = new Map<string, number>();
  for (const row of rows) counts.set(row.outcome, (counts.get(row.outcome) ?? 0) + 1);
  return [...counts].map(([outcome, count]) => `${count} ${outcome}`).join(", ");
}

/**
 * Progress on stderr (stdout keeps the table or the JSON document): a bar redrawn in place on a terminal, otherwise
 * one plain line per secret that ends (or nothing, with `quietOffTerminal`: `status` over a fleet, whose table says
 * it all). `isGood` says which outcomes are not counted as trouble; `notGood` names them in the bar.
 */
export class Progress {
  private readonly tty = process.stderr.isTTY === true && process.env.TERM !== "dumb";
  private finished = 0;
  private running = 0;
  private notGood = 0;
  private readonly begun = Date.now();

  constructor(
    private readonly total: number,
    private readonly isGood: (outcome: string) => boolean,
    private readonly options: { quietOffTerminal?: boolean; notGood?: string } = {},
  ) {}

  note(text: string): void {
    this.clear();
    process.stderr.write(`${sanitize(text)}\n`);
    this.draw();
  }

  started(): void {
    this.running += 1;
    this.draw();
  }

  done(row: SelectedRow, wasRunning: boolean): void {
    if (wasRunning) this.running = Math.max(0, this.running - 1);
    this.finished += 1;
    if (!this.isGood(row.outcome)) this.notGood += 1;
    if (!this.tty && !this.options.quietOffTerminal) {
      const elapsed = row.elapsedMs !== undefined ? ` (${formatDuration(row.elapsedMs)})` : "";
      process.stderr.write(sanitize(`[${this.finished}/${this.total}] ${row.secret}: ${row.outcome}${elapsed}\n`));
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
        `${this.running} running, ${this.notGood} ${this.options.notGood ?? "not succeeded"}, ${seconds} s`,
    );
  }

  private clear(): void {
    if (this.tty) process.stderr.write("\r\x1b[2K");
  }
}
