import { ROTATION_STEPS } from "../lambdas/contract/rotation-event.js";
import type { RotationOutcome } from "../lambdas/contract/rotation-outcome.js";
import type { NovalaKey } from "../lambdas/core/ports.js";
import { AWSCURRENT, AWSPENDING, AWSPREVIOUS } from "../lambdas/core/ports.js";
import { formatTime } from "./output.js";

/**
 * The verdict `status` prints first: is the secret's rotation healthy, and if not, what is wrong, worst first. Pure:
 * it reads what status gathered (labels, the last outcome the rotation function recorded, the revocation schedules,
 * and with --check Novala's view of the keys). `abort` and `rotate` use the same reading of a pending rotation.
 */

/** A rotation whose AWSPENDING version is older than this, with no step recorded as failing, is called stuck. */
export const STUCK_AFTER_MS = 60 * 60_000;
/** A revocation schedule still there this long after its time has not run (or keeps failing): overdue. */
export const OVERDUE_AFTER_MS = 5 * 60_000;

export type ProblemKind =
  | "current-key-revoked"
  | "current-key-unknown"
  | "rotation-stuck"
  | "last-rotation-ended"
  | "last-rotation-failed"
  | "last-rotation-rolled-back"
  | "revocation-overdue"
  | "previous-key-kept-past-hard-limit"
  | "previous-key-unscheduled"
  | "rotation-in-progress"
  | "novala-unreachable";

/** Worst first: the order problems are reported in. */
const SEVERITY: readonly ProblemKind[] = [
  "current-key-revoked",
  "current-key-unknown",
  "rotation-stuck",
  "last-rotation-ended",
  "last-rotation-failed",
  "last-rotation-rolled-back",
  "revocation-overdue",
  "previous-key-kept-past-hard-limit",
  "previous-key-unscheduled",
  "rotation-in-progress",
  "novala-unreachable",
];

export interface Problem {
  kind: ProblemKind;
  /** One line, for the verdict. */
  summary: string;
  keyId?: string;
  token?: string;
  since?: string;
  step?: string;
  reason?: string;
}

export interface VersionFacts {
  versionId: string;
  stages: string[];
  createdDate?: Date;
  hasValue: boolean;
  keyId?: string;
}

/** Novala's view of a key (--check), as status gathered it. */
export type KeyView = { key: NovalaKey } | { missing: true } | { error: string };

export interface VerdictInput {
  now: Date;
  versions: VersionFacts[];
  lastOutcome?: RotationOutcome;
  revocations: RevocationFacts[];
  /**
   * When the AWSPREVIOUS key's hard limit comes (its retirement, from the versions' dates, plus the deployment's hard
   * limit): past it, an active previous key with nothing scheduled was kept by the rule, or its revocation was lost.
   */
  previousHardLimitAt?: Date;
  /** Novala's view, when --check asked; undefined otherwise. */
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
  /** The step it failed at or waits for. */
  step: string;
  /** A recorded failure of this rotation: when and why. */
  failedAt?: Date;
  reason?: string;
}

/** The rotation AWSPENDING marks on a version other than AWSCURRENT, and whether it is moving or stuck. */
export function pendingRotation(
  versions: VersionFacts[],
  lastOutcome: RotationOutcome | undefined,
  now: Date,
): PendingRotation | undefined {
  const pending = versions.find((v) => v.stages.includes(AWSPENDING) && !v.stages.includes(AWSCURRENT));
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
      : pending.hasValue
        ? "testSecret"
        : "createSecret";
  const lastMove = outcome?.at ?? pending.createdDate;
  const old = lastMove !== undefined && now.getTime() - lastMove.getTime() > STUCK_AFTER_MS;
  return { ...base, state: old ? "stuck" : "in-progress", step: waitingFor };
}

export function verdict(input: VerdictInput): { healthy: boolean; problems: Problem[]; notes: string[] } {
  const problems: Problem[] = [];
  /** What is worth knowing and wrong with nothing: a revocation that waits for the consumers of the old key. */
  const notes: string[] = [];
  const current = input.versions.find((v) => v.stages.includes(AWSCURRENT));
  const previous = input.versions.find((v) => v.stages.includes(AWSPREVIOUS) && !v.stages.includes(AWSCURRENT));

  const currentView = current?.keyId ? input.novala?.get(current.keyId) : undefined;
  if (current?.keyId && currentView && "missing" in currentView) {
    problems.push({
      kind: "current-key-unknown",
      keyId: current.keyId,
      summary: `current key ${current.keyId} is unknown to Novala: consumers cannot use it`,
    });
  } else if (current?.keyId && currentView && "key" in currentView && currentView.key.status !== "active") {
    problems.push({
      kind: "current-key-revoked",
      keyId: current.keyId,
      summary: `current key ${current.keyId} is revoked at Novala: consumers cannot use it`,
    });
  }

  const pending = pendingRotation(input.versions, input.lastOutcome, input.now);
  if (pending?.state === "stuck") {
    const since = pending.failedAt ?? pending.startedAt;
    problems.push({
      kind: "rotation-stuck",
      token: pending.token,
      step: pending.step,
      ...(since && { since: since.toISOString() }),
      ...(pending.reason && { reason: pending.reason }),
      summary:
        `rotation stuck${pending.startedAt ? ` since ${formatTime(pending.startedAt)}` : ""} at ${pending.step}` +
        (pending.failedAt ? ` (last failed ${formatTime(pending.failedAt)})` : " (no step has run for over 1 h)") +
        (pending.reason ? `: ${pending.reason}` : ""),
    });
  } else if (pending) {
    problems.push({
      kind: "rotation-in-progress",
      token: pending.token,
      step: pending.step,
      ...(pending.startedAt && { since: pending.startedAt.toISOString() }),
      summary: `rotation in progress${pending.startedAt ? ` since ${formatTime(pending.startedAt)}` : ""}, waiting for ${pending.step}`,
    });
  }

  const outcome = input.lastOutcome;
  if (!pending && outcome && outcome.kind !== "succeeded") {
    const promoted = current?.versionId === outcome.token;
    const when = formatTime(outcome.at);
    if (outcome.kind === "rolled-back" && !promoted) {
      problems.push({
        kind: "last-rotation-rolled-back",
        token: outcome.token,
        step: outcome.step,
        since: outcome.at.toISOString(),
        ...(outcome.reason && { reason: outcome.reason }),
        summary: `last rotation rolled back ${when}${outcome.reason ? `: ${outcome.reason}` : ""}`,
      });
    } else if (outcome.kind === "ended" && !promoted) {
      // A failure a retry cannot fix: the rotation function ended it; its reason closes with the fix.
      problems.push({
        kind: "last-rotation-ended",
        token: outcome.token,
        step: outcome.step,
        since: outcome.at.toISOString(),
        ...(outcome.reason && { reason: outcome.reason }),
        summary: `last rotation ended ${when} at ${outcome.step}${outcome.reason ? `: ${outcome.reason}` : ""}`,
      });
    } else if (outcome.kind === "failed" && (!promoted || outcome.step === "finishSecret")) {
      problems.push({
        kind: "last-rotation-failed",
        token: outcome.token,
        step: outcome.step,
        since: outcome.at.toISOString(),
        ...(outcome.reason && { reason: outcome.reason }),
        summary:
          `last rotation failed ${when} at ${outcome.step}${promoted ? " after the promotion" : ""}` +
          (outcome.reason ? `: ${outcome.reason}` : ""),
      });
    } else if (outcome.kind === "in-progress" && !promoted) {
      problems.push({
        kind: "last-rotation-failed",
        token: outcome.token,
        step: outcome.step,
        since: outcome.at.toISOString(),
        summary: `last rotation did not finish: AWSPENDING was removed after ${outcome.step} (${when})`,
      });
    }
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
  problems.sort((a, b) => SEVERITY.indexOf(a.kind) - SEVERITY.indexOf(b.kind));
  return { healthy: problems.length === 0, problems, notes };
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
