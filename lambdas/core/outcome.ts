/** A rotation step's record on the secret: its outcome and the rotation's marks (lambdas/contract/rotation-outcome.ts). */

import type { RotationStep } from "../contract/rotation-event.js";
import type { RotationMarks, RotationOutcome, RotationRecord } from "../contract/rotation-outcome.js";
import type { RotationDeps } from "./context.js";
import { errorMessage, RotationEndedError, RotationRolledBackError } from "./errors.js";
import { redact } from "./redact.js";

/** The outcome of a step that went well and leaves the rotation under way ("in-progress"), or finished it. */
export function stepOutcome(deps: Pick<RotationDeps, "clock">, step: RotationStep, token: string): RotationOutcome {
  return { kind: step === "finishSecret" ? "succeeded" : "in-progress", step, token, at: deps.clock.now() };
}

/**
 * Writes `record` on the secret, logging (never throwing) when it cannot: for records the rotation does not depend on
 * (a failure's, finishSecret's). The records that carry a mark the next step relies on are written with
 * `deps.store.record` itself, and their failure fails the step.
 */
export async function recordBestEffort(
  deps: Pick<RotationDeps, "store" | "telemetry">,
  secretId: string,
  record: RotationRecord,
): Promise<void> {
  try {
    await deps.store.record(secretId, record);
  } catch (error) {
    deps.telemetry.warn("could not record the rotation's outcome", {
      outcome: record.outcome?.kind,
      step: record.outcome?.step,
      error: redact(errorMessage(error)),
    });
  }
}

/**
 * The marks to clear once `token`'s rotation is over (succeeded or rolled back): each mark that names it becomes "";
 * a mark naming another token is left as it is (not written at all).
 */
export function clearedMarks(marks: RotationMarks | undefined, token: string): RotationMarks {
  return {
    ...(marks?.creating === token && { creating: "" }),
    ...(marks?.tested === token && { tested: "" }),
  };
}

/**
 * Records how a step that passed the guard failed: "rolled-back" (testSecret found the new key unhealthy; its marks
 * cleared), "ended" (createSecret ended the rotation; its reason closes with the fix; the creating mark stays, so that
 * the next createSecret revokes what attempts of the token left), or "failed" with the step and a short reason. Best
 * effort: the step's own error is what Secrets Manager sees.
 */
export async function recordStepFailure(
  deps: Pick<RotationDeps, "store" | "telemetry" | "clock">,
  secretArn: string,
  step: RotationStep,
  token: string,
  error: unknown,
  marks: RotationMarks | undefined,
): Promise<void> {
  const kind =
    error instanceof RotationRolledBackError ? "rolled-back" : error instanceof RotationEndedError ? "ended" : "failed";
  const reason = error instanceof RotationEndedError ? endedReason(error) : outcomeReason(error);
  await recordBestEffort(deps, secretArn, {
    outcome: { kind, step, token, at: deps.clock.now(), reason },
    ...(kind === "rolled-back" && { marks: clearedMarks(marks, token) }),
  });
}

/** The longest reason kept: it must fit one tag value (256 characters) with room to spare. */
export const MAX_REASON_LENGTH = 240;

/** "NovalaUnavailableError: Novala … gave up after 4 attempts": the error's name and redacted message, cut short. */
export function outcomeReason(error: unknown): string {
  const name = error instanceof Error && error.name !== "Error" ? `${error.name}: ` : "";
  return shortened(`${name}${errorMessage(error)}`, MAX_REASON_LENGTH);
}

/**
 * An ended rotation's reason: what went wrong (the cause's name and problem), cut short so that the fix that closes it
 * always fits whole: "NovalaHttpError: Novala POST /api/v1/api-keys answered 409: … . Revoke unused keys …".
 */
function endedReason(error: RotationEndedError): string {
  const fix = shortened(error.fix, MAX_REASON_LENGTH);
  const cause = error.cause;
  const name = cause instanceof Error && cause.name !== "Error" ? `${cause.name}: ` : "";
  const room = MAX_REASON_LENGTH - fix.length - 2;
  return room < 20 ? fix : `${shortened(`${name}${error.problem}`, room)}. ${fix}`;
}

/** `text` redacted, on one line, and at most `max` characters (cut with "..."). */
function shortened(text: string, max: number): string {
  const line = redact(text).replace(/\s+/g, " ").trim();
  return line.length > max ? `${line.slice(0, max - 3)}...` : line;
}
