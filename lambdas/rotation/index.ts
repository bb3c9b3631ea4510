/** The rotation Lambda's handler: runs one Secrets Manager rotation step, or the daily overdue check. */
import type { Context } from "aws-lambda";
import {
  overdueCheckDepsFromEnvironment,
  overdueRuleSecretIdsFromEnvironment,
  rotationDepsFromEnvironment,
  rotationOutcomesFromEnvironment,
} from "../adapters/aws/deps-from-environment.js";
import { PowertoolsTelemetry, publicError, withTelemetry } from "../adapters/telemetry/powertools-telemetry.js";
import { readRotationConfig, readTelemetryConfig, unqualifiedFunctionArn } from "../contract/configuration.js";
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

async function rotate(event: RotationEvent | OverdueCheckRequest, context: Partial<Context>): Promise<void> {
  if (isOverdueCheck(event)) return overdueCheck(event, context.invokedFunctionArn);
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

/**
 * The daily overdue check. The construct's rule lists the deployment's secrets (OVERDUE_CHECK_RULE names it): those
 * are checked, whatever the event lists. An id the event adds is never described: the invocation fails after the
 * check, naming it (InvalidEventError; the RotationErrors alarm), since only someone who may invoke the function wrote
 * it.
 */
async function overdueCheck(event: unknown, functionArn: string | undefined): Promise<void> {
  telemetry.begin({ check: OVERDUE_CHECK });
  try {
    const request = parseOverdueCheck(event);
    const rule = readRotationConfig(process.env).overdueCheckRule;
    const deployment = rule
      ? await overdueRuleSecretIdsFromEnvironment(rule, functionArn && unqualifiedFunctionArn(functionArn))
      : request.secretIds;
    await checkRotationsOverdue(overdueCheckDepsFromEnvironment(telemetry), { ...request, secretIds: deployment });
    const refused = request.secretIds.filter((id) => !deployment.includes(id));
    if (refused.length > 0) {
      const named = refused.slice(0, 5).map((id) => JSON.stringify(id.slice(0, 256)));
      throw new InvalidEventError(
        `refused to check ${refused.length} secret id(s) that are not this deployment's (rule ${rule} does not ` +
          `list them): ${named.join(", ")}; someone who may invoke the rotation function sent this check`,
      );
    }
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
