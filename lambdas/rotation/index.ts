/** The rotation Lambda's handler: runs one Secrets Manager rotation step, or the daily overdue check. */
import type { Context } from "aws-lambda";
import {
  overdueCheckDepsFromEnvironment,
  overdueRuleSecretIdsFromEnvironment,
  rotationDepsFromEnvironment,
  rotationOutcomesFromEnvironment,
} from "../adapters/aws/deps-from-environment.js";
import { PowertoolsTelemetry, publicError, withTelemetry } from "../adapters/telemetry/powertools-telemetry.js";
import { parseRotationEvent, type RotationEvent } from "../contract/rotation-event.js";
import { readRotationConfig, unqualifiedFunctionArn } from "../core/config.js";
import { RotationStateError } from "../core/errors.js";
import { outcomeReason, recordOutcome, runRecordedStep } from "../core/outcome.js";
import { checkRotationsOverdue, isOverdueCheck, type OverdueCheckRequest } from "../core/overdue.js";

/**
 * The Secrets Manager rotation function. Event: `{Step, SecretId, ClientRequestToken, RotationToken?}`, exactly as
 * Secrets Manager sends it. Configuration comes from environment variables only (lambdas/core/config.ts).
 * The construct's daily rule also invokes it with an overdue check (lambdas/core/overdue.ts), which only reads.
 * Each step's outcome is recorded on the secret (tags, lambdas/contract/rotation-outcome.ts) for `novala-rotation status`.
 */
export type { RotationEvent };

const telemetry = new PowertoolsTelemetry();

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
 * check, naming it (the RotationErrors alarm), since only someone who may invoke the function wrote it.
 */
async function overdueCheck(request: OverdueCheckRequest, functionArn: string | undefined): Promise<void> {
  telemetry.begin({ check: request.check });
  try {
    if (!Array.isArray(request.secretIds) || request.secretIds.some((id) => typeof id !== "string")) {
      throw new RotationStateError('overdue check field "secretIds" must be a list of secret ids');
    }
    const rule = readRotationConfig(process.env).overdueCheckRule;
    const deployment = rule
      ? await overdueRuleSecretIdsFromEnvironment(rule, functionArn && unqualifiedFunctionArn(functionArn))
      : request.secretIds;
    await checkRotationsOverdue(overdueCheckDepsFromEnvironment(telemetry), { ...request, secretIds: deployment });
    const refused = request.secretIds.filter((id) => !deployment.includes(id));
    if (refused.length > 0) {
      const named = refused.slice(0, 5).map((id) => JSON.stringify(id.slice(0, 256)));
      throw new RotationStateError(
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
  if ("problem" in checked) throw new RotationStateError(checked.problem);
  return checked.event;
}
