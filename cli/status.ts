import { formatDuration } from "../lambdas/contract/duration.js";
import { sameScopes } from "../lambdas/core/secret-value.js";
import type { PendingRotation, Verdict } from "../lambdas/core/verdict.js";
import { formatTime, pendingRotation } from "../lambdas/core/verdict.js";
import { scheduleTime } from "./aws.js";
import { EXIT } from "./errors.js";
import { isoTime } from "./output.js";
import { DEFAULT_CHECK_TIMEOUT_MS, gatherSecret, judgeSecret, type SecretFacts, viewOfKey } from "./secret-health.js";
import type { CommonOptions, Session } from "./session.js";
import { withSession } from "./session.js";

/**
 * `status <secret-id>`: gathers what there is to know about one secret (cli/secret-health.ts), has the core judge it
 * (lambdas/core/verdict.ts), builds one report, and renders it as text or --json. The verdict comes first (healthy,
 * or what is wrong, worst first; warnings and notes after), then the versions and their labels with the metadata each
 * holds (never the keys), the rotation configuration, the last outcome the rotation function recorded, the revocations
 * still scheduled, and with --check Novala's view of every key, asked within --check-timeout. Exit 0 when healthy
 * (warnings included), EXIT.unhealthy, or EXIT.unknown when only Novala could not be asked.
 */
export interface StatusOptions extends CommonOptions {
  check?: boolean;
  /** Milliseconds --check may spend asking Novala, in all (for one secret). */
  checkTimeout?: number;
  scheduleGroup?: string;
}

export function status(secretId: string, options: StatusOptions): Promise<number> {
  return withSession(options, async (session) => {
    const checkTimeoutMs = options.checkTimeout ?? DEFAULT_CHECK_TIMEOUT_MS;
    if (options.check) session.limitNovala(checkTimeoutMs);
    const facts = await gatherSecret(session, secretId, {
      check: options.check === true,
      checkTimeoutMs,
      ...(options.scheduleGroup && { scheduleGroup: options.scheduleGroup }),
      otherKeys: "all",
    });
    const report = statusReport(facts, new Date());
    session.out.data(report);
    renderStatus(session, report);
    // The one-line error a script sees on stderr, besides the verdict on stdout.
    if (report.novalaUnreachable) session.out.warn(`Novala could not be asked: ${report.novalaUnreachable}`);
    return exitCodeOf(report.verdict);
  });
}

/** 0 healthy (warnings too), 4 unhealthy, 5 when only Novala's view is missing. */
export function exitCodeOf(judged: Pick<Verdict, "health">): number {
  if (judged.health === "unhealthy") return EXIT.unhealthy;
  if (judged.health === "unknown") return EXIT.unknown;
  return EXIT.ok;
}

/** A secret at a glance: what the fleet view shows per row, and single status's --json carries too. */
export interface SecretSummary {
  secret: string;
  arn: string;
  verdict: Verdict;
  /** What to do about the worst findings, as commands or pointers (text shows them under the verdict). */
  advice: string[];
  lastRotated: string | null;
  nextRotation: string | null;
  /** Revocations still scheduled, one per key (a postponement supersedes the schedule it replaced). */
  pendingRevocations: { count: number; postponed: number };
  /** AWSCURRENT's key: its id, when Novala made it, and its age then. */
  currentKey: { keyId: string | null; createdAt: string | null; ageSeconds: number | null };
}

export function summarize(facts: SecretFacts, now: Date): SecretSummary {
  const judged = judgeSecret(facts, now);
  const current = facts.versions.find((version) => version.stages.includes("AWSCURRENT"));
  const createdAt = current?.meta.createdAt ? new Date(current.meta.createdAt) : undefined;
  const age = createdAt && !Number.isNaN(createdAt.getTime()) ? now.getTime() - createdAt.getTime() : undefined;
  const latest = new Map<string, number>();
  for (const schedule of facts.revocations) {
    const key = schedule.keyId ?? schedule.name;
    latest.set(key, Math.max(latest.get(key) ?? 0, schedule.postponements ?? 0));
  }
  return {
    secret: facts.name,
    arn: facts.arn,
    verdict: judged,
    advice: adviceFor(facts, judged, now),
    lastRotated: isoTime(facts.described.LastRotatedDate) ?? null,
    nextRotation: isoTime(facts.described.NextRotationDate) ?? null,
    pendingRevocations: { count: latest.size, postponed: [...latest.values()].filter((n) => n > 0).length },
    currentKey: {
      keyId: current?.meta.keyId ?? null,
      createdAt: current?.meta.createdAt ?? null,
      ageSeconds: age === undefined ? null : Math.floor(age / 1000),
    },
  };
}

/** What to do, for the findings whose fix is a command on this secret; the others are in docs/operations.md. */
function adviceFor(facts: SecretFacts, judged: Verdict, now: Date): string[] {
  const kinds = new Set([...judged.problems, ...judged.warnings].map((finding) => finding.kind));
  const advice: string[] = [];
  const id = facts.secretId;
  const current = ["current-value-invalid", "current-key-revoked", "current-key-unknown", "current-key-unauthorized"];
  if (current.some((kind) => kinds.has(kind as never))) {
    advice.push(`put a working key pair in: novala-rotation put-key ${id}`);
  }
  if (kinds.has("manager-key-dead") || kinds.has("manager-secret-invalid")) {
    advice.push("put a working manager pair into the deployment's manager secret (docs/operations.md)");
  }
  const pending = pendingOf(facts, now);
  if (pending?.state === "stuck") {
    advice.push(`wait for Secrets Manager's next attempt, or end it: novala-rotation abort ${id} (docs/operations.md)`);
  } else if (pending) {
    advice.push(`follow it: novala-rotation rotate ${id}`);
  }
  return advice;
}

function pendingOf(facts: SecretFacts, now: Date): PendingRotation | undefined {
  return pendingRotation(
    facts.versions.map((version) => ({
      versionId: version.versionId,
      stages: version.stages,
      ...(version.createdDate && { createdDate: version.createdDate }),
      hasValue: version.problem !== "no value yet",
    })),
    facts.lastOutcome,
    now,
  );
}

/** The whole of `status <secret-id>`: what --json prints, and all the text is rendered from. */
export type StatusReport = ReturnType<typeof statusReport>;

export function statusReport(facts: SecretFacts, now: Date) {
  const { described, deployment, currentKey } = facts;
  const rules = described.RotationRules;
  const checkError = currentKey.cannotAsk && `cannot ask Novala: ${currentKey.cannotAsk}`;
  return {
    secretId: facts.secretId,
    ...summarize(facts, now),
    name: facts.name,
    checked: facts.checked,
    lastOutcome: facts.lastOutcome
      ? {
          kind: facts.lastOutcome.kind,
          step: facts.lastOutcome.step,
          token: facts.lastOutcome.token,
          at: facts.lastOutcome.at.toISOString(),
          ...(facts.lastOutcome.reason && { reason: facts.lastOutcome.reason }),
        }
      : null,
    rotation: {
      enabled: described.RotationEnabled === true,
      lambdaArn: described.RotationLambdaARN,
      automaticallyAfterDays: rules?.AutomaticallyAfterDays,
      scheduleExpression: rules?.ScheduleExpression,
      window: rules?.Duration,
      lastRotated: isoTime(described.LastRotatedDate),
      nextRotation: isoTime(described.NextRotationDate),
    },
    versions: facts.versions.map((version) => ({
      versionId: version.versionId,
      stages: version.stages,
      created: isoTime(version.createdDate),
      keyId: version.meta.keyId,
      name: version.meta.name,
      scopes: version.meta.scopes,
      keyCreatedAt: version.meta.createdAt,
      managerSecretId: version.meta.managerSecretId,
      ...(version.problem && { problem: version.problem }),
      ...(viewOfKey(facts, version.meta.keyId) && { novala: viewJson(viewOfKey(facts, version.meta.keyId)) }),
    })),
    scheduleGroup: deployment.scheduleGroup ?? null,
    gracePeriodSeconds: deployment.graceSeconds ?? null,
    eventBus: deployment.eventBus ?? null,
    revocations: facts.revocations.map((schedule) => ({
      schedule: schedule.name,
      keyId: schedule.keyId,
      revokeAfter: scheduleTime(schedule),
      state: schedule.state,
      ...(schedule.postponements !== undefined && {
        postponements: schedule.postponements,
        lastUsedAt: schedule.lastUsedAt,
        hardLimitAt: schedule.hardLimitAt,
      }),
      ...(viewOfKey(facts, schedule.keyId) && { novala: viewJson(viewOfKey(facts, schedule.keyId)) }),
    })),
    ...(facts.revocationsError && { revocationsError: facts.revocationsError }),
    ...(checkError && { checkError }),
    ...(currentKey.unreachable && { novalaUnreachable: currentKey.unreachable }),
  };
}

/** Novala's view of a key in --json: its record's status and use, 404 ("unknown"), 401, or why it was not had. */
type NovalaJson =
  | { status: "active" | "revoked"; lastUsedAt: string | null; name: string; scopes: string[] }
  | { status: "unknown" | "unauthorized" }
  | { error: string };

function viewJson(view: ReturnType<typeof viewOfKey>): NovalaJson | undefined {
  if (!view) return undefined;
  if ("missing" in view) return { status: "unknown" as const };
  if ("unauthorized" in view) return { status: "unauthorized" };
  if ("error" in view) return { error: view.error };
  return {
    status: view.key.status,
    lastUsedAt: view.key.lastUsedAt ?? null,
    name: view.key.name,
    scopes: view.key.scopes,
  };
}

/** The verdict block: the worst finding, the others as `also:`, warnings, notes, then what to do. */
export function renderVerdict(session: Session, summary: SecretSummary, checked: boolean): void {
  const { out } = session;
  const c = out.color;
  const { problems, warnings, notes } = summary.verdict;
  const [first, ...others] = problems;
  out.line(
    first
      ? `${c.bold("Verdict")}  ${first.kind === "novala-unreachable" ? c.yellow(first.summary) : c.red(first.summary)}`
      : `${c.bold("Verdict")}  ${c.green("healthy")}${checked ? "" : c.dim(" (Novala not asked: add --check)")}`,
  );
  for (const problem of others) out.line(`         ${c.yellow("also:")} ${problem.summary}`);
  for (const warning of warnings) out.line(`         ${c.yellow("warning:")} ${warning.summary}`);
  for (const note of notes) out.line(`         ${c.dim("note:")} ${note}`);
  for (const line of summary.advice) out.line(c.dim(`         ${line}`));
}

function renderStatus(session: Session, report: StatusReport): void {
  const { out } = session;
  const c = out.color;
  renderVerdict(session, report, report.checked);
  out.line();
  out.line(c.bold(`Secret ${report.name}`));
  const { rotation, lastOutcome, gracePeriodSeconds } = report;
  const scheduleText = rotation.scheduleExpression
    ? rotation.scheduleExpression
    : rotation.automaticallyAfterDays
      ? `every ${rotation.automaticallyAfterDays} days`
      : "";
  out.fields(
    [
      ["ARN", report.arn],
      [
        "Rotation",
        rotation.enabled
          ? `${c.green("enabled")}${scheduleText ? `, ${scheduleText}` : ""}${rotation.window ? `, window ${rotation.window}` : ""}`
          : c.yellow("not enabled"),
      ],
      ["Rotation function", rotation.lambdaArn ?? "-"],
      [
        "Grace period",
        gracePeriodSeconds === null
          ? "-"
          : gracePeriodSeconds === 0
            ? "0 (old keys are revoked at once)"
            : formatDuration(gracePeriodSeconds * 1000),
      ],
      ["Last rotated", formatTime(rotation.lastRotated) || "-"],
      [
        "Last outcome",
        lastOutcome
          ? `${lastOutcome.kind} at ${lastOutcome.step}, ${formatTime(lastOutcome.at)} (version ${lastOutcome.token})` +
            (lastOutcome.reason ? `: ${lastOutcome.reason}` : "")
          : "- (none recorded)",
      ],
      ["Next rotation", formatTime(rotation.nextRotation) || "-"],
    ],
    2,
  );
  out.line();
  out.line(c.bold("Versions"));
  const head = ["Version", "Stages", "Key id", "Name", "Scopes", "Key created"];
  if (report.checked) head.push("Novala", "Last used");
  out.table(
    head,
    report.versions.map((version) => {
      const row = [
        shortId(version.versionId),
        version.stages.join(", "),
        version.keyId ?? "",
        version.name ?? "",
        (version.scopes ?? []).join(", "),
        formatTime(version.keyCreatedAt),
      ];
      if (report.checked) row.push(...viewCells(session, version.novala));
      return row;
    }),
    { indent: 2 },
  );
  for (const version of report.versions) {
    if (version.problem) out.line(`  ${c.yellow("!")} version ${version.versionId}: ${version.problem}`);
    const view = version.novala;
    if (view && "scopes" in view && version.scopes && !sameScopes(view.scopes, version.scopes)) {
      out.line(
        `  ${c.yellow("!")} key ${version.keyId}: Novala says scopes ${view.scopes.join(", ")}; ` +
          "the secret says otherwise (the next rotation corrects it)",
      );
    }
  }
  for (const [keyId, view] of novalaErrors(report)) {
    out.line(`  ${c.yellow("!")} Novala could not be asked about ${keyId}: ${view}`);
  }
  if (report.checkError) out.line(`  ${c.yellow("!")} ${report.checkError}`);
  if (report.novalaUnreachable) out.line(`  ${c.yellow("!")} Novala could not be asked: ${report.novalaUnreachable}`);
  out.line();
  out.line(
    c.bold("Scheduled revocations") + (report.scheduleGroup ? c.dim(` (schedule group ${report.scheduleGroup})`) : ""),
  );
  if (report.revocationsError) {
    out.line(`  ${c.yellow("!")} could not list them: ${report.revocationsError}`);
  } else if (!report.scheduleGroup) {
    out.line("  none: the rotation function names no schedule group (it revokes old keys at once)");
  } else if (report.revocations.length === 0) {
    out.line("  none");
  } else {
    const revocationHead = ["Key id", "Revoke after", "State"];
    if (report.checked) revocationHead.push("Novala", "Last used");
    out.table(
      revocationHead,
      report.revocations.map((schedule) => {
        const row = [schedule.keyId ?? "", formatTime(schedule.revokeAfter), schedule.state ?? ""];
        if (report.checked) row.push(...viewCells(session, schedule.novala));
        return row;
      }),
      { indent: 2 },
    );
  }
}

/** Each key Novala could not be asked about, once. */
function novalaErrors(report: StatusReport): Map<string, string> {
  const errors = new Map<string, string>();
  for (const { keyId, novala } of [...report.versions, ...report.revocations]) {
    if (keyId && novala && "error" in novala) errors.set(keyId, novala.error);
  }
  return errors;
}

/** The first eight characters of a version id, which tell versions apart in a table (--json has the whole id). */
function shortId(versionId: string): string {
  return versionId.length > 9 ? `${versionId.slice(0, 8)}…` : versionId;
}

function viewCells(session: Session, view: NovalaJson | undefined): [string, string] {
  const c = session.out.color;
  if (!view) return ["", ""];
  if ("error" in view) return [c.yellow("error"), ""];
  if (!("lastUsedAt" in view)) return [c.red(view.status === "unknown" ? "unknown (404)" : "401"), ""];
  const state = view.status === "active" ? c.green("active") : c.red("revoked");
  return [state, view.lastUsedAt ? formatTime(view.lastUsedAt) : "never"];
}
