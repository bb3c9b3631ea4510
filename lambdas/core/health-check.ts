/** testSecret's health check of a pending key: introspection and scope probes, waiting out propagation. */
import type { RotationDeps } from "./context.js";
import { isUnauthorized, KeyApiRefusalError } from "./errors.js";
import type { NovalaCredentials, NovalaKey } from "./ports.js";
import type { KeySecret } from "./secret-value.js";
import { sameScopes } from "./secret-value.js";

/** Whether the pending key is healthy, and if not, why. */
export type HealthVerdict = { healthy: true } | { healthy: false; reason: string };

const FIRST_BACKOFF_MS = 100;
/** Small, so that a key that starts working is noticed within about a second. */
const MAX_BACKOFF_MS = 1_000;

/**
 * testSecret's health check of a pending key: the secret key introspects to the expected id and exactly the expected
 * scopes, the publishable key to the same pair, and each read scope's probe answers 200. A 401 (the key has not
 * propagated yet) is retried with backoff until the deadline. Novala being unavailable is not a verdict: it throws,
 * and Secrets Manager retries the step.
 */
export async function checkKeyHealth(
  deps: Pick<RotationDeps, "keys" | "clock" | "telemetry" | "config">,
  pending: KeySecret,
  manager: NovalaCredentials,
): Promise<HealthVerdict> {
  const deadline = deps.clock.now().getTime() + deps.config.healthCheckDeadlineMs;
  let backoff = FIRST_BACKOFF_MS;
  let checkedStatus = false;
  for (let attempt = 1; ; attempt++) {
    try {
      return await checkOnce(deps, pending);
    } catch (error) {
      if (!(error instanceof KeyApiRefusalError)) throw error;
      if (!isUnauthorized(error)) return { healthy: false, reason: error.message };
      if (!checkedStatus) {
        // A revoked key answers 401 for ever: say so now rather than wait out the deadline.
        checkedStatus = true;
        const known = await deps.keys.get(manager, pending.keyId);
        if (known?.status !== "active") {
          return { healthy: false, reason: `key ${pending.keyId} is ${known ? known.status : "unknown"} at Novala` };
        }
      }
      const remaining = deadline - deps.clock.now().getTime();
      if (remaining <= 0) {
        return {
          healthy: false,
          reason: `key ${pending.keyId} still answered 401 after ${attempt} attempts over the health-check deadline (${deps.config.healthCheckDeadlineMs / 1000} s)`,
        };
      }
      deps.telemetry.debug("pending key answered 401; waiting for it to propagate", { keyId: pending.keyId, attempt });
      const delay = Math.min(remaining, backoff / 2 + (Math.random() * backoff) / 2);
      await deps.clock.sleep(delay);
      backoff = Math.min(backoff * 2, MAX_BACKOFF_MS);
    }
  }
}

async function checkOnce(deps: Pick<RotationDeps, "keys">, pending: KeySecret): Promise<HealthVerdict> {
  const secret: NovalaCredentials = { baseUrl: pending.baseUrl, bearer: pending.secretKey };
  const viaSecret = await deps.keys.self(secret);
  const mismatch = describeMismatch(viaSecret, pending);
  if (mismatch) return { healthy: false, reason: `the secret key ${mismatch}` };
  const viaPublishable = await deps.keys.self({ baseUrl: pending.baseUrl, bearer: pending.publishableKey });
  if (viaPublishable.id !== pending.keyId) {
    return {
      healthy: false,
      reason: `the publishable key belongs to key ${viaPublishable.id}, not ${pending.keyId}`,
    };
  }
  for (const scope of [...new Set(pending.scopes)]) {
    try {
      await deps.keys.probe(secret, scope);
    } catch (error) {
      if (error instanceof KeyApiRefusalError && !isUnauthorized(error)) {
        return { healthy: false, reason: `the probe of scope ${scope} was refused: ${error.message}` };
      }
      throw error;
    }
  }
  return { healthy: true };
}

function describeMismatch(key: NovalaKey, expected: KeySecret): string | undefined {
  if (key.id !== expected.keyId) return `introspects to key ${key.id}, not ${expected.keyId}`;
  if (key.status !== "active") return `introspects to a key that is ${key.status}`;
  if (!sameScopes(key.scopes, expected.scopes)) {
    const missing = expected.scopes.filter((scope) => !key.scopes.includes(scope));
    const extra = key.scopes.filter((scope) => !expected.scopes.includes(scope));
    return `has scopes that differ from the current key's (missing: [${missing.join(", ")}], extra: [${extra.join(", ")}])`;
  }
  return undefined;
}
