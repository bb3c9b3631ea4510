import { revocationDepsFromEnvironment } from "../adapters/environment.js";
import { PowertoolsTelemetry, publicError } from "../adapters/powertools-telemetry.js";
import { readNovalaClientConfig } from "../core/config.js";
import { parseRevocationRequest, revokeRetiredKey } from "../core/revocation.js";

/**
 * The revocation function, the target of the one-time EventBridge Scheduler schedule that finishSecret creates.
 * Event: the schedule's Input, `{"secretId": "<secret ARN>", "keyId": "key_…", "rotationToken"?: "…",
 * "revokeAfter"?: "<ISO time>"}`. It refuses to revoke a key the secret still holds (logged at error level and
 * counted as RevocationsRefused) and treats Novala's 404 as already revoked. A failure throws, so Scheduler retries
 * and finally sends the event to the dead-letter queue.
 */
const telemetry = new PowertoolsTelemetry();

export async function handler(event: unknown): Promise<{ outcome: "revoked" | "already-revoked" | "refused" }> {
  const fields = (typeof event === "object" && event !== null ? event : {}) as Record<string, unknown>;
  telemetry.begin({
    secretId: String(fields.secretId ?? ""),
    keyId: String(fields.keyId ?? ""),
    token: fields.rotationToken === undefined ? undefined : String(fields.rotationToken),
  });
  try {
    const config = readNovalaClientConfig(process.env);
    const request = parseRevocationRequest(event);
    const outcome = await revokeRetiredKey(revocationDepsFromEnvironment(config, telemetry), request);
    return { outcome };
  } catch (error) {
    const safe = publicError(error);
    telemetry.error("revocation failed", { errorName: safe.name, errorMessage: safe.message });
    throw safe;
  } finally {
    telemetry.end();
  }
}
