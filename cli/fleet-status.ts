import type { SecretListEntry } from "@aws-sdk/client-secrets-manager";
import { formatDuration } from "../lambdas/contract/duration.js";
import { errorMessage } from "../lambdas/core/errors.js";
import { formatTime, type Health, notReadVerdict, SEVERITY } from "../lambdas/core/verdict.js";
import { EXIT } from "./errors.js";
import { DEFAULT_CHECK_TIMEOUT_MS, gatherSecret, newGatherShared } from "./secret-health.js";
import {
  DEFAULT_MASS_CONCURRENCY,
  describeSelection,
  forEachSelected,
  Progress,
  type SelectedRow,
  type SelectionOptions,
  selectSecrets,
} from "./selection.js";
import type { Session } from "./session.js";
import { withSession } from "./session.js";
import { type SecretSummary, type StatusOptions, summarize } from "./status.js";

/**
 * `status --prefix <p> | --tag k=v … | --all`: the fleet view. Selects secrets as mass rotation does (ListSecrets,
 * cli/selection.ts), gathers each as `status` does (cli/secret-health.ts) at most --concurrency at a time, has the
 * core judge each, and prints one row per secret, worst first, then a line of counts; --json prints the whole report.
 * With --check each secret gets its own --check-timeout for Novala, and a tenant found unreachable is not asked again
 * in the run. Exit: the worst verdict's (0 healthy or warnings only, 4 unhealthy, 5 unknown).
 */
export interface FleetStatusOptions extends StatusOptions, SelectionOptions {}

/** One secret's row: its summary, or why it could not be read. */
export interface FleetEntry extends SecretSummary {
  /** Why the secret could not be read (its verdict is then unknown), or that the run was interrupted before it. */
  error?: string;
}

export interface FleetReport {
  selection: string;
  concurrency: number;
  checked: boolean;
  /** Milliseconds --check gave each secret. */
  checkTimeoutMs: number | null;
  interrupted: boolean;
  summary: { total: number } & Record<Health, number> & { byState: Record<string, number> };
  /** Worst first. */
  secrets: FleetEntry[];
}

interface FleetRow extends SelectedRow {
  entry: FleetEntry;
}

export function fleetStatus(options: FleetStatusOptions): Promise<number> {
  return withSession(options, async (session) => {
    const report = await gatherFleet(session, options);
    session.out.data(report);
    renderFleet(session, report);
    return fleetExitCode(report);
  });
}

async function gatherFleet(session: Session, options: FleetStatusOptions): Promise<FleetReport> {
  const selected = await selectSecrets(session, options);
  const concurrency = options.concurrency ?? DEFAULT_MASS_CONCURRENCY;
  const checkTimeoutMs = options.checkTimeout ?? DEFAULT_CHECK_TIMEOUT_MS;
  if (options.check) session.limitNovala(checkTimeoutMs);
  const shared = newGatherShared();
  const progress = new Progress(selected.length, (health) => health === "healthy" || health === "warning", {
    quietOffTerminal: true,
    notGood: "not healthy",
  });
  const gatherOptions = {
    check: options.check === true,
    checkTimeoutMs,
    ...(options.scheduleGroup && { scheduleGroup: options.scheduleGroup }),
    otherKeys: "previous" as const,
  };
  const { rows, interrupted } = await forEachSelected<FleetRow>(
    selected,
    concurrency,
    progress,
    (entry) => row(unreadEntry(entry, "not checked: interrupted")),
    async (entry, { started }) => {
      started();
      try {
        // By name (unique in the account and region ListSecrets lists): the advice in --json names it so.
        const facts = await gatherSecret(session, entry.Name ?? (entry.ARN as string), gatherOptions, shared);
        return row(summarize(facts, new Date()));
      } catch (error) {
        return row(unreadEntry(entry, `could not be read: ${errorMessage(error)}`));
      }
    },
  );
  const secrets = rows.map((r) => r.entry).sort(worstFirst);
  return {
    selection: describeSelection(options),
    concurrency,
    checked: options.check === true,
    checkTimeoutMs: options.check ? checkTimeoutMs : null,
    interrupted,
    summary: countStates(secrets),
    secrets,
  };
}

function row(entry: FleetEntry): FleetRow {
  return { secret: entry.secret, outcome: entry.verdict.health, entry };
}

/** A secret that has no verdict: it could not be read, or the run stopped before it. Its health is unknown. */
function unreadEntry(listed: SecretListEntry, why: string): FleetEntry {
  return {
    secret: listed.Name ?? listed.ARN ?? "?",
    arn: listed.ARN ?? "",
    verdict: notReadVerdict(why),
    advice: [],
    lastRotated: listed.LastRotatedDate?.toISOString() ?? null,
    nextRotation: listed.NextRotationDate?.toISOString() ?? null,
    pendingRevocations: { count: 0, postponed: 0 },
    currentKey: { keyId: null, createdAt: null, ageSeconds: null },
    error: why,
  };
}

const HEALTH_ORDER: readonly Health[] = ["unhealthy", "unknown", "warning", "healthy"];

/** Unhealthy first, then unknown, warning, healthy; within each by the worst finding's severity, then by name. */
function worstFirst(a: FleetEntry, b: FleetEntry): number {
  return (
    HEALTH_ORDER.indexOf(a.verdict.health) - HEALTH_ORDER.indexOf(b.verdict.health) ||
    rank(a) - rank(b) ||
    a.secret.localeCompare(b.secret)
  );
}

function rank(entry: FleetEntry): number {
  const index = SEVERITY.indexOf(entry.verdict.state as never);
  return index < 0 ? SEVERITY.length : index;
}

function countStates(secrets: FleetEntry[]): FleetReport["summary"] {
  const summary: FleetReport["summary"] = {
    total: secrets.length,
    unhealthy: 0,
    unknown: 0,
    warning: 0,
    healthy: 0,
    byState: {},
  };
  for (const entry of secrets) {
    summary[entry.verdict.health] += 1;
    summary.byState[entry.verdict.state] = (summary.byState[entry.verdict.state] ?? 0) + 1;
  }
  return summary;
}

/** The worst verdict's exit code (unhealthy over unknown). */
export function fleetExitCode(report: FleetReport): number {
  if (report.summary.unhealthy > 0) return EXIT.unhealthy;
  if (report.summary.unknown > 0) return EXIT.unknown;
  return EXIT.ok;
}

function renderFleet(session: Session, report: FleetReport): void {
  const { out } = session;
  const c = out.color;
  if (report.secrets.length === 0) {
    out.line(`No secret matches ${report.selection}.`);
    return;
  }
  out.table(
    ["Secret", "Verdict", "Last rotated", "Next rotation", "Revocations", "Key age"],
    report.secrets.map((entry) => [
      entry.secret,
      verdictCell(session, entry),
      formatTime(entry.lastRotated),
      formatTime(entry.nextRotation),
      entry.pendingRevocations.count === 0
        ? "none"
        : `${entry.pendingRevocations.count}${entry.pendingRevocations.postponed ? ` (${entry.pendingRevocations.postponed} postponed)` : ""}`,
      entry.currentKey.ageSeconds === null ? "" : formatAge(entry.currentKey.ageSeconds),
    ]),
  );
  const { summary } = report;
  const states = Object.entries(summary.byState)
    .filter(([state]) => state !== "healthy")
    .sort(([a], [b]) => SEVERITY.indexOf(a as never) - SEVERITY.indexOf(b as never))
    .map(([state, count]) => `${count} ${state}`);
  const counts = HEALTH_ORDER.filter((health) => summary[health] > 0).map((health) => {
    const text = `${summary[health]} ${health}`;
    return health === "unhealthy" ? c.red(text) : health === "healthy" ? c.green(text) : c.yellow(text);
  });
  out.line(
    `${summary.total} secret${summary.total === 1 ? "" : "s"}: ${counts.join(", ")}` +
      (states.length > 0 ? ` (${states.join(", ")})` : "") +
      (report.checked ? "" : c.dim("; Novala not asked: add --check")) +
      (report.interrupted ? "; interrupted: the secrets not checked are unknown" : ""),
  );
  if (report.checked && report.checkTimeoutMs !== null) {
    out.line(c.dim(`--check gave each secret ${formatDuration(report.checkTimeoutMs)} for Novala`));
  }
}

/** The worst finding's summary (and how many more there are), coloured by health. */
function verdictCell(session: Session, entry: FleetEntry): string {
  const c = session.out.color;
  const { verdict } = entry;
  const findings = [...verdict.problems, ...verdict.warnings];
  const worst = findings[0];
  if (!worst) return c.green(`healthy${verdict.notes.length ? ` (${verdict.notes.length} note)` : ""}`);
  const more = findings.length > 1 ? ` (+${findings.length - 1} more)` : "";
  const text = `${worst.summary}${more}`;
  return verdict.health === "unhealthy" ? c.red(text) : c.yellow(text);
}

/** "34 d", "5 h", "12 min": how old a key is, to the largest whole unit. */
function formatAge(seconds: number): string {
  if (seconds >= 86_400) return `${Math.floor(seconds / 86_400)} d`;
  if (seconds >= 3600) return `${Math.floor(seconds / 3600)} h`;
  return `${Math.max(0, Math.floor(seconds / 60))} min`;
}
