/** The revocation Lambda's handler: revokes a retired key when its one-time schedule fires. */
import { revocationDepsFromEnvironment } from "../adapters/aws/deps-from-environment.js";
import { PowertoolsTelemetry, publicError, withTelemetry } from "../adapters/telemetry/powertools-telemetry.js";
import { readNovalaClientConfig } from "../core/config.js";
import type { RevocationRequest } from "../core/ports.js";
import { parseRevocationRequest, revokeRetiredKey } from "../core/revocation.js";

/**
 * The revocation function, the target of the one-time EventBridge Scheduler schedule that finishSecret creates.
 * Event: the schedule's Input, `{"secretId": "<secret ARN>", "keyId": "key_…", "rotationToken"?: "…",
 * "versionId"?: "…", "revokeAfter"?: "<ISO time>"}`. The event is a claim from whoever could invoke the function: it
 * revokes only a key that a retired version of that secret holds and proves (lambdas/core/revocation.ts); anything
 * else, a malformed event included, is refused (logged at error level, counted as RevocationsRefused). A key Novala
 * already reports gone is done. A failure throws, so Scheduler retries and finally sends the event to the dead-letter
 * queue.
 */
const telemetry = new PowertoolsTelemetry();

export const handler = withTelemetry(telemetry, revoke);

async function revoke(event: unknown): Promise<{ outcome: "revoked" | "already-revoked" | "refused" }> {
  const fields = (typeof event === "object" && event !== null ? event : {}) as Record<string, unknown>;
  telemetry.begin({
    secretId: String(fields.secretId ?? ""),
    keyId: String(fields.keyId ?? ""),
    token: fields.rotationToken === undefined ? undefined : String(fields.rotationToken),
  });
  try {
    const config = readNovalaClientConfig(process.env);
    let request: RevocationRequest;
    try {
      request = parseRevocationRequest(event);
    } catch (error) {
      // Whoever could invoke the function sent it: refused and counted, not retried (a retry cannot mend it).
      telemetry.error("refused a malformed revocation event", { errorMessage: publicError(error).message });
      telemetry.metric("RevocationsRefused");
      return { outcome: "refused" };
    }
    const outcome = await revokeRetiredKey(revocationDepsFromEnvironment(config, telemetry), request);
    return { outcome };
  } catch (error) {
    const safe = publicError(error);
    telemetry.error("revocation failed", { errorName: safe.name, errorMessage: safe.message });
    throw safe;
  }
}
