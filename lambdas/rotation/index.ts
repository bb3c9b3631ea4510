/** The rotation Lambda's handler: runs one Secrets Manager rotation step, or the daily overdue check. */
import {
  overdueCheckDepsFromEnvironment,
  rotationDepsFromEnvironment,
  rotationOutcomesFromEnvironment,
} from "../adapters/aws/deps-from-environment.js";
import { PowertoolsTelemetry, publicError, withTelemetry } from "../adapters/telemetry/powertools-telemetry.js";
import { readRotationConfig, readTelemetryConfig } from "../contract/configuration.js";
import { OVERDUE_CHECK } from "../contract/environment.js";
import { InvalidEventError } from "../contract/errors.js";
import { isOverdueCheck, type OverdueCheckRequest, parseOverdueCheck } from "../contract/overdue-check.js";
import { parseRotationEvent, type RotationEvent } from "../contract/rotation-event.js";
import { outcomeReason, recordOutcome, runRecordedStep } from "../core/outcome.js";
import { checkRotationsOverdue } from "../core/overdue.js";

const telemetry = new PowertoolsTelemetry(readTelemetryConfig(process.env));

/**
 * The Secrets Manager rotation function. Event: `{Step, SecretId, ClientRequestToken, RotationToken?}`, exactly as
 * Secrets Manager sends it (lambdas/contract/rotation-event.ts). Configuration comes from environment variables only
 * (lambdas/contract/configuration.ts). The construct's daily rule also invokes it with an overdue check
 * (lambdas/contract/overdue-check.ts, lambdas/core/overdue.ts), which only reads. Each step's outcome is recorded on
 * the secret (tags, lambdas/contract/rotation-outcome.ts) for `novala-rotation status`. A malformed event fails with
 * InvalidEventError.
 */
export const handler = withTelemetry(telemetry, rotate);

async function rotate(event: RotationEvent | OverdueCheckRequest): Promise<void> {
  if (isOverdueCheck(event)) return overdueCheck(event);
  telemetry.begin({ secretId: event?.SecretId, step: event?.Step, token: event?.ClientRequestToken });
  const outcomes = rotationOutcomesFromEnvironment();
  let stepRan = false;
  try {
    const config = readRotationConfig(process.env);
    const { Step, SecretId, ClientRequestToken } = checkEvent(event);
    telemetry.info(`${Step} started`);
    stepRan = true;
    await runRecordedStep(rotationDepsFromEnvironment(config, telemetry), outcomes, Step, SecretId, ClientRequestToken);
    telemetry.info(`${Step} finished`);
  } catch (error) {
    const safe = publicError(error);
    telemetry.metric("RotationsFailed");
    telemetry.error(`${event?.Step ?? "step"} failed`, { errorName: safe.name, errorMessage: safe.message });
    // A configuration error fails before the step: its outcome is recorded here (runRecordedStep records the rest).
    if (!stepRan && typeof event?.SecretId === "string" && typeof event.ClientRequestToken === "string") {
      await recordOutcome(outcomes, telemetry, event.SecretId, {
        kind: "failed",
        step: String(event.Step),
        token: event.ClientRequestToken,
        at: new Date(),
        reason: outcomeReason(safe),
      });
    }
    throw safe;
  }
}

async function overdueCheck(event: unknown): Promise<void> {
  telemetry.begin({ check: OVERDUE_CHECK });
  try {
    await checkRotationsOverdue(overdueCheckDepsFromEnvironment(telemetry), parseOverdueCheck(event));
  } catch (error) {
    const safe = publicError(error);
    telemetry.error("overdue check failed", { errorName: safe.name, errorMessage: safe.message });
    throw safe;
  }
}

function checkEvent(event: unknown): RotationEvent {
  const checked = parseRotationEvent(event);
  if ("problem" in checked) throw new InvalidEventError(checked.problem);
  return checked.event;
}
