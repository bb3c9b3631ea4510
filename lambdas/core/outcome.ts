/** Runs a rotation step and records its outcome on the secret for operators. */

import type { RotationStep } from "../contract/rotation-event.js";
import type { RotationOutcome } from "../contract/rotation-outcome.js";
import type { RotationDeps } from "./context.js";
import { errorMessage, RotationEndedError, RotationRolledBackError } from "./errors.js";
import type { RotationOutcomes, Telemetry } from "./ports.js";
import { redact } from "./redact.js";
import { runRotationStep } from "./rotation.js";

/**
 * One rotation step as the rotation function runs it, with its outcome recorded where an operator can read it
 * (`novala-rotation status`): a step before finishSecret that succeeds is "in-progress", finishSecret "succeeded", a
 * testSecret that rolled back "rolled-back", a createSecret that ended the rotation "ended" (its reason closes with the
 * fix), anything else that throws "failed" with the step and a short reason.
 * The step's own error is rethrown unchanged; a failure to record is only logged.
 */
export async function runRecordedStep(
  deps: RotationDeps,
  outcomes: RotationOutcomes,
  step: RotationStep,
  secretId: string,
  token: string,
): Promise<void> {
  try {
    await runRotationStep(deps, step, secretId, token);
  } catch (error) {
    const kind =
      error instanceof RotationRolledBackError
        ? "rolled-back"
        : error instanceof RotationEndedError
          ? "ended"
          : "failed";
    await recordOutcome(outcomes, deps.telemetry, secretId, {
      kind,
      step,
      token,
      at: deps.clock.now(),
      reason: error instanceof RotationEndedError ? endedReason(error) : outcomeReason(error),
    });
    throw error;
  }
  const kind = step === "finishSecret" ? "succeeded" : "in-progress";
  await recordOutcome(outcomes, deps.telemetry, secretId, { kind, step, token, at: deps.clock.now() });
}

/** Records `outcome`, logging (never throwing) when it cannot: the rotation matters more than its record. */
export async function recordOutcome(
  outcomes: RotationOutcomes,
  telemetry: Telemetry,
  secretId: string,
  outcome: RotationOutcome,
): Promise<void> {
  try {
    await outcomes.record(secretId, outcome);
  } catch (error) {
    telemetry.warn("could not record the rotation's outcome", {
      outcome: outcome.kind,
      step: outcome.step,
      error: redact(errorMessage(error)),
    });
  }
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
