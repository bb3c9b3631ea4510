/** Runs a rotation step and records its outcome on the secret for operators. */
import type { RotationDeps } from "./context.js";
import { errorMessage, RotationRolledBackError } from "./errors.js";
import type { RotationOutcome, RotationOutcomes, Telemetry } from "./ports.js";
import { redact } from "./redact.js";
import { type RotationStep, runRotationStep } from "./rotation.js";

/**
 * One rotation step as the rotation function runs it, with its outcome recorded where an operator can read it
 * (`novala-rotation status`): a step before finishSecret that succeeds is "in-progress", finishSecret "succeeded", a
 * testSecret that rolled back "rolled-back", anything else that throws "failed" with the step and a short reason.
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
    const kind = error instanceof RotationRolledBackError ? "rolled-back" : "failed";
    await recordOutcome(outcomes, deps.telemetry, secretId, {
      kind,
      step,
      token,
      at: deps.clock.now(),
      reason: outcomeReason(error),
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
  const text = redact(`${name}${errorMessage(error)}`)
    .replace(/\s+/g, " ")
    .trim();
  return text.length > MAX_REASON_LENGTH ? `${text.slice(0, MAX_REASON_LENGTH - 3)}...` : text;
}

/** Records nothing: for callers that have nowhere to keep an outcome. */
export const noOutcomes: RotationOutcomes = { record: async () => {} };
