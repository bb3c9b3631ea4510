import type { SecretListEntry } from "@aws-sdk/client-secrets-manager";
import { formatDuration } from "../lambdas/contract/duration.js";
import { outcomeFromTags } from "../lambdas/contract/rotation-outcome.js";
import { type AbortOutcome, abortRotation, findAbortableToken } from "../lambdas/core/abort.js";
import {
  errorMessage,
  KeyApiRefusalError,
  KeyApiUnavailableError,
  PreconditionError,
  SecretValueError,
} from "../lambdas/core/errors.js";
import { AWSPENDING } from "../lambdas/core/ports.js";
import { formatTime, pendingRotation } from "../lambdas/core/verdict.js";
import { describeSecret, labelledVersions } from "./aws.js";
import { CliError, EXIT } from "./errors.js";
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
} from "./selection.js";
import { type CommonOptions, readVersions, type Session, withSession } from "./session.js";

/**
 * `abort <secret-id>` or `abort --prefix | --tag | --all`: ends stuck or failed rotations through lambdas/core/abort.ts
 * (which revokes only what a rotation minted, proven, and only then removes AWSPENDING), and says what it did. A
 * rotation that looks in progress (a step may still be running) is ended only with --force. Novala gets --timeout per
 * secret: on a dead Novala abort says so and what to do, instead of waiting out every retry budget.
 */
export interface AbortOptions extends CommonOptions, SelectionOptions {
  token?: string;
  force?: boolean;
  /** How long Novala may take in all for one secret's abort. */
  timeout?: number;
}

export const DEFAULT_ABORT_TIMEOUT_MS = 20_000;
/** Without an answer by then, a line on stderr says what abort is waiting for. */
const SAY_WAITING_AFTER_MS = 2_000;

/** One secret's abort, as a selection's table and --json `results` show it. */
export interface AbortRow extends SelectedRow {
  outcome: "aborted" | "nothing to abort" | "refused" | "failed" | "not started";
  token?: string;
  revoked?: string[];
  leftAlone?: { keyId: string; reason: string }[];
  /** Why it was refused or failed: the cause, then the next step. */
  reason?: string;
  /** The core's whole outcome, when it aborted. */
  detail?: AbortOutcome;
}

export function abortUsageProblem(secretId: string | undefined, options: AbortOptions): string | undefined {
  const problem = selectionUsageProblem(secretId, options);
  if (problem) return problem;
  if (isMassSelection(options) && options.token !== undefined) {
    return "--token names one rotation of one secret: leave it out with --prefix, --tag or --all";
  }
  return undefined;
}

export function abort(secretId: string | undefined, options: AbortOptions): Promise<number> {
  return withSession(options, (session) =>
    isMassSelection(options) ? abortSelection(session, options) : abortOne(session, secretId as string, options),
  );
}

async function abortOne(session: Session, secretId: string, options: AbortOptions): Promise<number> {
  const described = await describeSecret(session.aws, secretId);
  const row = await abortSecret(session, described, options, (text) => process.stderr.write(`${text}\n`));
  if (row.outcome === "nothing to abort") throw new CliError(`nothing to abort: ${row.reason}`);
  if (row.outcome !== "aborted" || !row.detail) throw new CliError(row.reason ?? `abort of ${row.secret} failed`);
  session.out.data(row.detail);
  render(session, row.detail, secretId);
  return EXIT.ok;
}

async function abortSelection(session: Session, options: AbortOptions): Promise<number> {
  const { out } = session;
  const selection = describeSelection(options);
  const selected = await selectSecrets(session, options);
  if (selected.length === 0) {
    out.line(`No secret matches ${selection}.`);
    out.data({ selection, results: [] });
    return EXIT.ok;
  }
  const { concurrency } = await chooseConcurrency(session, selected, options);
  const progress = new Progress(selected.length, (outcome) => outcome === "aborted" || outcome === "nothing to abort");
  progress.note(
    `${selected.length} secret(s) match ${selection}; ending the rotations stuck among them, at most ${concurrency} ` +
      `at a time (Novala gets ${formatDuration(options.timeout ?? DEFAULT_ABORT_TIMEOUT_MS)} per secret)`,
  );
  const { rows, interrupted } = await forEachSelected(
    selected,
    concurrency,
    progress,
    (entry): AbortRow => ({ secret: entry.Name as string, outcome: "not started" }),
    (entry, { started }) => abortSecret(session, entry, options, (text) => progress.note(text), started),
    { noun: "abort" },
  );
  out.data({ selection, interrupted, results: rows.map(({ detail: _, ...row }) => row) });
  const acted = rows.filter((row) => row.outcome !== "nothing to abort");
  out.table(
    ["secret", "rotation", "outcome", "keys revoked", "reason"],
    acted.map((row) => [
      row.secret,
      row.token ?? "",
      row.outcome === "aborted" ? out.color.green(row.outcome) : out.color.red(row.outcome),
      (row.revoked ?? []).join(", "),
      [row.reason, ...(row.leftAlone ?? []).map((key) => `left ${key.keyId} alone: ${key.reason}`)]
        .filter(Boolean)
        .join("; "),
    ]),
  );
  out.line(`${countOutcomes(rows)}${interrupted ? " (interrupted: run the same command again to end the rest)" : ""}`);
  return rows.some((row) => row.outcome === "refused" || row.outcome === "failed") ? EXIT.failed : EXIT.ok;
}

/**
 * Gathers one secret's pending rotation, decides with the core (findAbortableToken, the in-progress reading of status)
 * and ends it (abortRotation, with Novala bounded). Never throws: the row says what happened, and when it did not
 * happen, why and what to do.
 */
async function abortSecret(
  session: Session,
  entry: Pick<SecretListEntry, "ARN" | "Name" | "Tags">,
  options: AbortOptions,
  say: (text: string) => void,
  started: () => void = () => {},
): Promise<AbortRow> {
  const name = entry.Name as string;
  const arn = entry.ARN as string;
  const row: AbortRow = { secret: name, outcome: "failed" };
  let token: string;
  try {
    token = await findAbortableToken(session.deps, arn, options.token);
  } catch (error) {
    if (error instanceof PreconditionError) {
      return { ...row, outcome: "nothing to abort", reason: errorMessage(error) };
    }
    return { ...row, reason: `${errorMessage(error)}: nothing was changed` };
  }
  started();
  row.token = token;
  try {
    // The same reading of the rotation as status: in progress (wait) or stuck (abort).
    const versions = await readVersions(session, arn, name, await labelledVersions(session.aws, arn));
    const pending = pendingRotation(
      versions.map((version) => ({
        versionId: version.versionId,
        stages: version.stages,
        ...(version.createdDate && { createdDate: version.createdDate }),
        hasValue: version.problem !== "no value yet",
      })),
      outcomeFromTags(entry.Tags ?? (await describeSecret(session.aws, arn)).Tags),
      new Date(),
    );
    if (pending?.token === token && pending.state === "in-progress" && !options.force) {
      return {
        ...row,
        outcome: "refused",
        reason:
          `refusing to abort rotation ${token} of ${name}: it looks in progress (started ` +
          `${formatTime(pending.startedAt) || "recently"}, waiting for ${pending.step}, no step recorded as failing). ` +
          "Follow it with `novala-rotation rotate`, or add --force if you know no step is running",
      };
    }
  } catch (error) {
    return { ...row, reason: `${errorMessage(error)}: nothing was changed` };
  }
  const limitMs = options.timeout ?? DEFAULT_ABORT_TIMEOUT_MS;
  const deps = { ...session.deps, keys: session.boundedKeys(limitMs) };
  const waiting = setTimeout(
    () =>
      say(
        `${name}: waiting for Novala to revoke the keys minted for rotation ${token} (gives up after ` +
          `${formatDuration(limitMs)})`,
      ),
    SAY_WAITING_AFTER_MS,
  );
  try {
    const outcome = await abortRotation(deps, arn, token);
    return {
      ...row,
      outcome: "aborted",
      revoked: outcome.revoked.map((key) => key.keyId),
      leftAlone: outcome.leftAlone,
      detail: outcome,
    };
  } catch (error) {
    const stays = await session.aws.store
      .describe(arn)
      .then((description) => description.versionStages[token]?.includes(AWSPENDING) ?? false)
      .catch(() => true);
    return { ...row, reason: failureReason(error, name, token, stays) };
  } finally {
    clearTimeout(waiting);
  }
}

/**
 * A failed abort: the cause, what it left, and the next step. The core removes AWSPENDING first (so that no step of
 * the rotation can promote a key the abort revokes), then sweeps the keys minted for it: when Novala fails, the
 * rotation is ended but its keys are unchecked, and `abort --token` sweeps them once Novala answers (the secret's next
 * rotation also revokes them by their lineage tag). When AWSPENDING is still there, nothing was done.
 */
function failureReason(error: unknown, name: string, token: string, pendingStays: boolean): string {
  const again = pendingStays
    ? `AWSPENDING stays on version ${token}: nothing was done. Run \`novala-rotation abort ${name}\``
    : `AWSPENDING was removed (the rotation is ended), but the keys minted for it were not checked. Run ` +
      `\`novala-rotation abort ${name} --token ${token}\` to sweep them`;
  if (error instanceof KeyApiUnavailableError) {
    return (
      `Novala could not be reached or kept failing (${errorMessage(error)}): ${again} once Novala answers ` +
      "(--timeout gives it longer)"
    );
  }
  if (error instanceof KeyApiRefusalError) {
    return (
      `Novala refused (${errorMessage(error)}): ${again} once a working manager pair is in (\`novala-rotation ` +
      "put-key <manager secret> --self-managed`)"
    );
  }
  if (error instanceof SecretValueError) {
    return `${errorMessage(error)}: ${again} once a valid pair is in (\`novala-rotation put-key ${name}\`)`;
  }
  return `${errorMessage(error)}: ${again} once the cause is fixed`;
}

function render(session: Session, outcome: AbortOutcome, secretId: string): void {
  const { out } = session;
  const c = out.color;
  out.line(c.bold(`Aborted rotation ${outcome.token} of ${outcome.secretName}.`));
  if (!outcome.pendingValue) out.line("  the version held no value: createSecret had not stored a key");
  for (const key of outcome.revoked) {
    const how =
      key.outcome === "already-revoked"
        ? "was already revoked or unknown at Novala"
        : key.by === "lineage-tag"
          ? "revoked (its name carries this rotation's lineage tag)"
          : "revoked (the pending value's secret key proves it)";
    const which = key.keyId === outcome.pendingKeyId ? "pending key" : "key minted for this rotation, never stored,";
    out.line(`  ${which} ${key.keyId} ${how}`);
  }
  for (const key of outcome.leftAlone) out.line(`  ${c.yellow("!")} key ${key.keyId} left alone: ${key.reason}`);
  if (outcome.revoked.length === 0 && outcome.leftAlone.length === 0) out.line("  no key was minted for it");
  out.line(
    outcome.pendingRemoved
      ? `  AWSPENDING removed from version ${outcome.token}`
      : `  version ${outcome.token} was not AWSPENDING (labels: ${outcome.stagesBefore.join(", ") || "none"})`,
  );
  out.line(`  AWSCURRENT untouched: version ${outcome.currentVersionId}, key ${outcome.currentKeyId}`);
  out.line(`Start a new rotation when the cause is fixed: novala-rotation rotate ${secretId}`);
}
