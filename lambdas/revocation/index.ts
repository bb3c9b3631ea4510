/** The revocation Lambda's handler: runs a retired key's due revocation when its one-time schedule fires. */
import type { Context } from "aws-lambda";
import { revocationDepsFromEnvironment } from "../adapters/aws/deps-from-environment.js";
import { PowertoolsTelemetry, publicError, withTelemetry } from "../adapters/telemetry/powertools-telemetry.js";
import { readRevocationConfig, readTelemetryConfig } from "../contract/configuration.js";
import type { RevocationRequest } from "../contract/revocation-request.js";
import { parseRevocationRequest } from "../contract/revocation-request.js";
import { type DueRevocationOutcome, runDueRevocation } from "../core/revocation-usage.js";

const telemetry = new PowertoolsTelemetry(readTelemetryConfig(process.env));

/**
 * The revocation function, the target of the one-time EventBridge Scheduler schedules that finishSecret and its own
 * postponements create. Event: the schedule's Input, `{"secretId": "<secret ARN>", "keyId": "key_…",
 * "rotationToken"?: "…", "versionId"?: "…", "revokeAfter"?: "<ISO time>", "rotatorUsedAt"?: "<ISO time>",
 * "postponements"?: n}`. The event is a claim from whoever could invoke the function: it acts only on a key that a
 * retired version of that secret holds and proves, and revokes it unless a consumer used it within the quiet window,
 * then postpones it (a new schedule to itself) up to the hard limit (lambdas/core/revocation-usage.ts). Anything else, a
 * malformed event included, is refused (logged at error level, counted as RevocationsRefused). A key Novala already
 * reports gone is done. A failure throws, so Scheduler retries and finally sends the event to the dead-letter queue.
 * Its own ARN, the target of a postponement, comes from the invocation's context.
 */
export const handler = withTelemetry(telemetry, revoke);

async function revoke(
  event: unknown,
  context: Partial<Context>,
): Promise<{ outcome: DueRevocationOutcome["outcome"] }> {
  const fields = (typeof event === "object" && event !== null ? event : {}) as Record<string, unknown>;
  telemetry.begin({
    secretId: String(fields.secretId ?? ""),
    keyId: String(fields.keyId ?? ""),
    token: fields.rotationToken === undefined ? undefined : String(fields.rotationToken),
  });
  try {
    const config = readRevocationConfig(process.env, context.invokedFunctionArn);
    let request: RevocationRequest;
    try {
      request = parseRevocationRequest(event);
    } catch (error) {
      // Whoever could invoke the function sent it: refused and counted, not retried (a retry cannot mend it).
      telemetry.error("refused a malformed revocation event", { errorMessage: publicError(error).message });
      telemetry.metric("RevocationsRefused");
      return { outcome: "refused" };
    }
    const done = await runDueRevocation(revocationDepsFromEnvironment(config, telemetry), request);
    return { outcome: done.outcome };
  } catch (error) {
    const safe = publicError(error);
    telemetry.error("revocation failed", { errorName: safe.name, errorMessage: safe.message });
    throw safe;
  }
}
