/**
 * The verdict on a secret's rotation: is it healthy, and if not, what is wrong, worst first. Pure: it reads what a
 * caller gathered (labels and version dates, whether AWSCURRENT's value parses, Novala's answer about the current key,
 * the last outcome the rotation function recorded, the revocation schedules, the rotation schedule) and never asks
 * anything itself. `novala-rotation status` (one secret or a fleet), rotate's pre-check and the daily overdue check
 * all read a secret through these rules; which rules each can afford is in docs/design.md ("The verdict").
 */
import { ROTATION_STEPS } from "../contract/rotation-event.js";
import type { RotationOutcome } from "../contract/rotation-outcome.js";
import { isRotationInProgress } from "./guard.js";
import type { NovalaKey, RotationScheduleState } from "./ports.js";
import { AWSCURRENT, AWSPREVIOUS } from "./ports.js";

/** A rotation whose AWSPENDING version is older than this, with no step recorded as failing, is called stuck. */
export const STUCK_AFTER_MS = 60 * 60_000;
/** A revocation schedule still there this long after its time has not run (or keeps failing): overdue. */
export const OVERDUE_AFTER_MS = 5 * 60_000;

/**
 * What makes a secret unhealthy (exit 4), or its verdict incomplete (exit 5): `novala-unreachable` (--check could not
 * ask Novala) and `secret-not-read` (a fleet's secret that could not be read, or was not reached).
 */
export type ProblemKind =
  | "current-value-invalid"
  | "current-key-revoked"
  | "current-key-unknown"
  | "current-key-unauthorized"
  | "manager-secret-invalid"
  | "manager-key-dead"
  | "rotation-stuck"
  | "last-rotation-ended"
  | "last-rotation-failed"
  | "last-rotation-rolled-back"
  | "rotation-overdue"
  | "revocation-overdue"
  | "previous-key-kept-past-hard-limit"
  | "previous-key-unscheduled"
  | "rotation-in-progress"
  | "novala-unreachable"
  | "secret-not-read";

/** What is shown beside a healthy verdict and keeps it healthy (exit 0): worth a look, wrong with nothing yet. */
export type WarningKind = "rotation-not-enabled";

/**
 * Worst first: the order problems and warnings are reported in, and the order a fleet's rows are sorted by. A key
 * consumers cannot use comes before a rotation that cannot run, which comes before one that did not finish.
 */
export const SEVERITY: readonly (ProblemKind | WarningKind)[] = [
  "current-value-invalid",
  "current-key-revoked",
  "current-key-unknown",
  "current-key-unauthorized",
  "manager-secret-invalid",
  "manager-key-dead",
  "rotation-stuck",
  "last-rotation-ended",
  "last-rotation-failed",
  "last-rotation-rolled-back",
  "rotation-overdue",
  "revocation-overdue",
  "previous-key-kept-past-hard-limit",
  "previous-key-unscheduled",
  "rotation-in-progress",
  "novala-unreachable",
  "secret-not-read",
  "rotation-not-enabled",
];

/** The kinds that leave the verdict incomplete rather than unhealthy. */
const INCOMPLETE: readonly ProblemKind[] = ["novala-unreachable", "secret-not-read"];

/** One finding: a problem (unhealthy) or a warning, with the ids it is about. */
export interface Finding<Kind extends ProblemKind | WarningKind = ProblemKind> {
  kind: Kind;
  /** One line, for the verdict. */
  summary: string;
  keyId?: string;
  token?: string;
  since?: string;
  step?: string;
  reason?: string;
}
export type Problem = Finding<ProblemKind>;
export type Warning = Finding<WarningKind>;

/**
 * The verdict's one word: `healthy` (nothing wrong), `warning` (healthy, with warnings), `unhealthy` (a problem),
 * `unknown` (the only problem is that Novala could not be asked).
 */
export type Health = "healthy" | "warning" | "unknown" | "unhealthy";

export interface Verdict {
  health: Health;
  /** No problem (warnings allowed). */
  healthy: boolean;
  /** The worst finding's kind, or "healthy". */
  state: ProblemKind | WarningKind | "healthy";
  problems: Problem[];
  warnings: Warning[];
  /** What is worth knowing and wrong with nothing: a revocation that waits for the consumers of the old key. */
  notes: string[];
}

export interface VersionFacts {
  versionId: string;
  stages: string[];
  createdDate?: Date;
  /** Whether the version holds a value; undefined when its value was not read (the daily overdue check). */
  hasValue?: boolean;
  keyId?: string;
}

/** Novala's view of a key other than the current one (status --check), as it was gathered. */
export type KeyView = { key: NovalaKey } | { missing: true } | { error: string };

/**
 * What was learned about AWSCURRENT's key: whether the value parses (no Novala needed), which credentials would act
 * for it, and with --check Novala's answer to one GET of the key's record asked with those credentials (the manager
 * key's for a managed secret, its own for a self-managed one): the record, 404, or 401 (the credentials' key is dead).
 */
export interface CurrentKeyFacts {
  /** The key id AWSCURRENT's value names, when it names one. */
  keyId?: string;
  /** Why AWSCURRENT's value does not pass validation (parseKeySecret's message, field by field), or has none. */
  valueProblem?: string;
  /** Why AWSCURRENT's value could not be read (an AWS error: the verdict is incomplete, the value may be fine). */
  readProblem?: string;
  /** The manager secret as the value names it (a managed secret); the verdict only names it, never acts on it. */
  managerSecretId?: string;
  /** Why the manager secret cannot act for this one: no AWSCURRENT value, a value that does not parse, another tenant. */
  managerProblem?: string;
  /** The key behind the credentials: the manager key (managed) or the current key itself (self-managed). */
  credentialsKeyId?: string;
  /** Novala's answer about the current key (--check); undefined when not asked. */
  answer?: CurrentKeyAnswer;
}

export type CurrentKeyAnswer =
  | { key: NovalaKey }
  | { missing: true }
  /** The credentials answered 401: their key is revoked, rotated outside this rotator, or not propagated yet. */
  | { unauthorized: true }
  /** Any other refusal or a failure to ask: no verdict on the key. */
  | { error: string };

export interface VerdictInput {
  now: Date;
  versions: VersionFacts[];
  /** Whether rotation is enabled and its schedule (DescribeSecret); undefined when not known. */
  rotation?: { enabled: boolean; schedule?: RotationScheduleState };
  currentKey?: CurrentKeyFacts;
  lastOutcome?: RotationOutcome;
  revocations: RevocationFacts[];
  /**
   * When the AWSPREVIOUS key's hard limit comes (its retirement, from the versions' dates, plus the deployment's hard
   * limit): past it, an active previous key with nothing scheduled was kept by the rule, or its revocation was lost.
   */
  previousHardLimitAt?: Date;
  /** Novala's view of the other keys, when --check asked; undefined otherwise. */
  novala?: Map<string, KeyView>;
  /** Why Novala could not be asked (--check): unreachable, or its time was up. */
  novalaUnreachable?: string;
}

/** A revocation schedule as the verdict reads it; a postponement carries its count and what postponed it. */
export interface RevocationFacts {
  keyId?: string;
  time?: string;
  name: string;
  postponements?: number;
  lastUsedAt?: string;
  hardLimitAt?: string;
}

export interface PendingRotation {
  token: string;
  state: "in-progress" | "stuck";
  /** When the rotation began (its version was made). */
  startedAt?: Date;
  /** The step it failed at or waits for; undefined when nothing says (no outcome, the value not read). */
  step?: string;
  /** A recorded failure of this rotation: when and why. */
  failedAt?: Date;
  reason?: string;
  /** When a step of this rotation last succeeded, as recorded (an in-progress outcome on its token). */
  lastStepAt?: Date;
}

/** The version AWSPENDING marks when it is not AWSCURRENT: a rotation under way (or stuck). */
export function pendingVersion<V extends Pick<VersionFacts, "stages">>(versions: readonly V[]): V | undefined {
  return versions.find((v) => isRotationInProgress(v.stages));
}

/** The rotation AWSPENDING marks on a version other than AWSCURRENT, and whether it is moving or stuck. */
export function pendingRotation(
  versions: VersionFacts[],
  lastOutcome: RotationOutcome | undefined,
  now: Date,
): PendingRotation | undefined {
  const pending = pendingVersion(versions);
  if (!pending) return undefined;
  const base = { token: pending.versionId, ...(pending.createdDate && { startedAt: pending.createdDate }) };
  const outcome = lastOutcome?.token === pending.versionId ? lastOutcome : undefined;
  if (outcome?.kind === "failed") {
    return {
      ...base,
      state: "stuck",
      step: outcome.step,
      failedAt: outcome.at,
      ...(outcome.reason && { reason: outcome.reason }),
    };
  }
  const waitingFor =
    outcome?.kind === "in-progress"
      ? (ROTATION_STEPS[ROTATION_STEPS.indexOf(outcome.step as never) + 1] ?? "finishSecret")
      : pending.hasValue === undefined
        ? undefined
        : pending.hasValue
          ? "testSecret"
          : "createSecret";
  const lastMove = outcome?.at ?? pending.createdDate;
  const old = lastMove !== undefined && now.getTime() - lastMove.getTime() > STUCK_AFTER_MS;
  return {
    ...base,
    state: old ? "stuck" : "in-progress",
    ...(waitingFor && { step: waitingFor }),
    ...(outcome && { lastStepAt: outcome.at }),
  };
}

/**
 * Judges AWSCURRENT's key, the same way for every kind of secret: a value that does not parse; a key Novala reports
 * revoked or unknown; credentials that answer 401 (a self-managed secret's own key, or the manager key, which every
 * rotation of a managed secret needs); a manager secret that cannot act. Undefined when nothing is wrong with what was
 * gathered (without an answer from Novala, only the value and the manager secret are judged).
 *
 * @example
 * judgeCurrentKey({ keyId: "key_1", credentialsKeyId: "key_1", answer: { unauthorized: true } })?.kind
 * // "current-key-unauthorized"
 */
export function judgeCurrentKey(facts: CurrentKeyFacts): Problem | undefined {
  const { keyId, answer } = facts;
  if (facts.readProblem !== undefined) {
    return {
      kind: "secret-not-read",
      reason: facts.readProblem,
      summary: `AWSCURRENT could not be read: ${facts.readProblem}`,
    };
  }
  if (facts.valueProblem !== undefined) {
    return {
      kind: "current-value-invalid",
      ...(keyId && { keyId }),
      reason: facts.valueProblem,
      summary: `AWSCURRENT's value is unusable: ${facts.valueProblem}: consumers may fail to read it and rotations fail`,
    };
  }
  const managed = facts.managerSecretId !== undefined;
  const manager = `manager secret ${facts.managerSecretId}`;
  if (managed && facts.managerProblem !== undefined) {
    return {
      kind: "manager-secret-invalid",
      reason: facts.managerProblem,
      summary: `rotations will fail: ${facts.managerProblem}`,
    };
  }
  if (!answer || !keyId) return undefined;
  if ("unauthorized" in answer) {
    const dead = facts.credentialsKeyId ?? "?";
    return managed
      ? {
          kind: "manager-key-dead",
          keyId: dead,
          summary:
            `rotations will fail: the manager key ${dead} of ${manager} answers 401 at Novala (revoked, or rotated ` +
            "outside this rotator); the current key was not checked",
        }
      : {
          kind: "current-key-unauthorized",
          keyId,
          summary:
            `current key ${keyId} answers 401 at Novala (revoked, rotated outside this rotator, or not propagated ` +
            "yet): consumers cannot use it, and it cannot rotate itself",
        };
  }
  if ("missing" in answer) {
    return {
      kind: "current-key-unknown",
      keyId,
      summary: `current key ${keyId} is unknown to Novala: consumers cannot use it`,
    };
  }
  if ("key" in answer && answer.key.status !== "active") {
    return {
      kind: "current-key-revoked",
      keyId,
      summary: `current key ${keyId} is revoked at Novala: consumers cannot use it`,
    };
  }
  return undefined;
}

/**
 * Why a rotation is overdue at `now` by its schedule, or undefined: `NextRotationDate` plus the rotation window
 * (`RotationRules.Duration`, else a day: Secrets Manager closes a window after an hour for a rate in hours or at the end
 * of the UTC day) has passed, or, for `AutomaticallyAfterDays` and `rate()`, `LastRotatedDate` is older than the
 * interval plus the window. A `cron()` schedule is judged by `NextRotationDate` only (its gaps vary).
 */
export function rotationOverdue(schedule: RotationScheduleState, now: Date): string | undefined {
  const windowMs = parseWindow(schedule.window) ?? DEFAULT_WINDOW_MS;
  const { nextRotation, lastRotated } = schedule;
  if (nextRotation && now.getTime() > nextRotation.getTime() + windowMs) {
    return `the rotation due by ${formatTime(nextRotation)} has not happened`;
  }
  const intervalMs = rotationInterval(schedule.automaticallyAfterDays, schedule.scheduleExpression);
  if (lastRotated && intervalMs !== undefined && now.getTime() > lastRotated.getTime() + intervalMs + windowMs) {
    return `last rotated ${formatTime(lastRotated)}, longer ago than its schedule plus the window`;
  }
  return undefined;
}

const HOUR_MS = 3600 * 1000;
export const DAY_MS = 24 * HOUR_MS;
const DEFAULT_WINDOW_MS = DAY_MS;

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

/** The verdict on what was gathered: every rule below, findings sorted worst first. */
export function verdict(input: VerdictInput): Verdict {
  const problems: Problem[] = [];
  const warnings: Warning[] = [];
  const notes: string[] = [];
  const current = input.versions.find((v) => v.stages.includes(AWSCURRENT));
  const previous = input.versions.find((v) => v.stages.includes(AWSPREVIOUS) && !v.stages.includes(AWSCURRENT));

  const currentKey = input.currentKey && judgeCurrentKey(input.currentKey);
  if (currentKey) problems.push(currentKey);
  const answer = input.currentKey?.answer;
  if (answer && "error" in answer) {
    problems.push({ kind: "novala-unreachable", summary: `Novala's view unknown: ${answer.error}` });
  }

  const pending = pendingRotation(input.versions, input.lastOutcome, input.now);
  if (pending?.state === "stuck") {
    const since = pending.failedAt ?? pending.startedAt;
    problems.push({
      kind: "rotation-stuck",
      token: pending.token,
      ...(pending.step && { step: pending.step }),
      ...(since && { since: since.toISOString() }),
      ...(pending.reason && { reason: pending.reason }),
      summary:
        `rotation stuck${pending.startedAt ? ` since ${formatTime(pending.startedAt)}` : ""}` +
        (pending.step ? ` at ${pending.step}` : "") +
        (pending.failedAt
          ? ` (last failed ${formatTime(pending.failedAt)})`
          : pending.lastStepAt
            ? " (no step has succeeded for over 1 h)"
            : " (begun over 1 h ago, not finished)") +
        (pending.reason ? `: ${pending.reason}` : ""),
    });
  } else if (pending) {
    problems.push({
      kind: "rotation-in-progress",
      token: pending.token,
      ...(pending.step && { step: pending.step }),
      ...(pending.startedAt && { since: pending.startedAt.toISOString() }),
      summary:
        `rotation in progress${pending.startedAt ? ` since ${formatTime(pending.startedAt)}` : ""}` +
        (pending.step ? `, waiting for ${pending.step}` : ""),
    });
  }

  const outcome = input.lastOutcome;
  if (!pending && outcome && outcome.kind !== "succeeded") {
    const ended = lastRotationProblem(outcome, current?.versionId === outcome.token);
    if (ended) problems.push(ended);
  }

  if (input.rotation && !input.rotation.enabled) {
    warnings.push({
      kind: "rotation-not-enabled",
      summary: "rotation is not enabled: nothing rotates this secret (rotate --lambda-arn … --schedule … sets it up)",
    });
  } else if (input.rotation?.schedule && !pending) {
    const late = rotationOverdue(input.rotation.schedule, input.now);
    if (late) problems.push({ kind: "rotation-overdue", summary: `rotation overdue: ${late}` });
  }

  for (const revocation of latestPerKey(input.revocations)) {
    if (revocation.postponements) {
      notes.push(
        `revocation of ${revocation.keyId ?? "a key"} postponed ${revocation.postponements} time${revocation.postponements === 1 ? "" : "s"}: ` +
          `a consumer still uses it (last used ${formatTime(revocation.lastUsedAt) || "?"}), next check ` +
          `${formatTime(revocation.time) || "?"}, hard limit ${formatTime(revocation.hardLimitAt) || "?"}`,
      );
    }
    const time = revocation.time ? new Date(revocation.time) : undefined;
    if (!time || Number.isNaN(time.getTime())) continue;
    const late = input.now.getTime() - time.getTime();
    if (late <= OVERDUE_AFTER_MS) continue;
    problems.push({
      kind: "revocation-overdue",
      ...(revocation.keyId && { keyId: revocation.keyId }),
      since: time.toISOString(),
      summary:
        `revocation of ${revocation.keyId ?? "a key"} overdue: schedule ${revocation.name} was due ` +
        `${formatTime(time)} and has not run (or keeps failing)`,
    });
  }

  const previousView = previous?.keyId ? input.novala?.get(previous.keyId) : undefined;
  if (
    previous?.keyId &&
    previous.keyId !== current?.keyId &&
    previousView &&
    "key" in previousView &&
    previousView.key.status === "active" &&
    !input.revocations.some((revocation) => revocation.keyId === previous.keyId)
  ) {
    const hardLimit = input.previousHardLimitAt;
    if (hardLimit && input.now.getTime() >= hardLimit.getTime()) {
      const lastUsed = previousView.key.lastUsedAt;
      problems.push({
        kind: "previous-key-kept-past-hard-limit",
        keyId: previous.keyId,
        since: hardLimit.toISOString(),
        summary:
          `previous key ${previous.keyId} is still active past its hard limit (${formatTime(hardLimit)})` +
          `${lastUsed ? `, last used ${formatTime(lastUsed)}` : ""}: kept (at hard limit: keep) or its revocation ` +
          "was lost; make its consumers read the current key, then revoke it",
      });
    } else {
      problems.push({
        kind: "previous-key-unscheduled",
        keyId: previous.keyId,
        summary: `previous key ${previous.keyId} is still active at Novala and no revocation is scheduled for it`,
      });
    }
  }

  if (input.novalaUnreachable) {
    problems.push({ kind: "novala-unreachable", summary: `Novala's view unknown: ${input.novalaUnreachable}` });
  }
  problems.sort(bySeverity);
  warnings.sort(bySeverity);
  return {
    health: healthOf(problems, warnings),
    healthy: problems.length === 0,
    state: problems[0]?.kind ?? warnings[0]?.kind ?? "healthy",
    problems,
    warnings,
    notes,
  };
}

/** Worst first, by SEVERITY. */
export function bySeverity(a: { kind: ProblemKind | WarningKind }, b: { kind: ProblemKind | WarningKind }): number {
  return SEVERITY.indexOf(a.kind) - SEVERITY.indexOf(b.kind);
}

function healthOf(problems: Problem[], warnings: Warning[]): Health {
  if (problems.length === 0) return warnings.length === 0 ? "healthy" : "warning";
  return problems.every((problem) => INCOMPLETE.includes(problem.kind)) ? "unknown" : "unhealthy";
}

/** The verdict on a secret that could not be read (or was not reached): unknown, saying why. */
export function notReadVerdict(why: string): Verdict {
  const problem: Problem = { kind: "secret-not-read", summary: why };
  return { health: "unknown", healthy: false, state: problem.kind, problems: [problem], warnings: [], notes: [] };
}

/** How the last rotation ended when it did not succeed and nothing is pending: ended, rolled back or failed. */
function lastRotationProblem(outcome: RotationOutcome, promoted: boolean): Problem | undefined {
  const when = formatTime(outcome.at);
  const about = {
    token: outcome.token,
    step: outcome.step,
    since: outcome.at.toISOString(),
    ...(outcome.reason && { reason: outcome.reason }),
  };
  const because = outcome.reason ? `: ${outcome.reason}` : "";
  if (outcome.kind === "rolled-back" && !promoted) {
    return { kind: "last-rotation-rolled-back", ...about, summary: `last rotation rolled back ${when}${because}` };
  }
  if (outcome.kind === "ended" && !promoted) {
    // A failure a retry cannot fix: the rotation function ended it; its reason closes with the fix.
    return {
      kind: "last-rotation-ended",
      ...about,
      summary: `last rotation ended ${when} at ${outcome.step}${because}`,
    };
  }
  if (outcome.kind === "failed" && (!promoted || outcome.step === "finishSecret")) {
    return {
      kind: "last-rotation-failed",
      ...about,
      summary: `last rotation failed ${when} at ${outcome.step}${promoted ? " after the promotion" : ""}${because}`,
    };
  }
  if (outcome.kind === "in-progress" && !promoted) {
    const { reason: _none, ...ids } = about;
    return {
      kind: "last-rotation-failed",
      ...ids,
      summary: `last rotation did not finish: AWSPENDING was removed after ${outcome.step} (${when})`,
    };
  }
  return undefined;
}

/**
 * Each key's latest revocation schedule: a postponement supersedes the schedule that made it, which may still be listed
 * (Scheduler deletes a fired schedule soon after; an endpoint that never fires them, moto, keeps it). Schedules that
 * name no key stand on their own.
 */
function latestPerKey(revocations: RevocationFacts[]): RevocationFacts[] {
  const latest = new Map<string, RevocationFacts>();
  const loose: RevocationFacts[] = [];
  for (const revocation of revocations) {
    if (!revocation.keyId) {
      loose.push(revocation);
      continue;
    }
    const seen = latest.get(revocation.keyId);
    if (!seen || (revocation.postponements ?? 0) > (seen.postponements ?? 0)) latest.set(revocation.keyId, revocation);
  }
  return [...latest.values(), ...loose];
}

/** "2026-11-27 17:00:00Z" from a Date or an ISO string; "" for nothing: how verdicts and the CLI show a time. */
export function formatTime(value: Date | string | null | undefined): string {
  if (value === undefined || value === null || value === "") return "";
  const date = value instanceof Date ? value : new Date(value);
  if (Number.isNaN(date.getTime())) return String(value);
  return date
    .toISOString()
    .replace("T", " ")
    .replace(/\.\d{3}Z$/, "Z");
}
