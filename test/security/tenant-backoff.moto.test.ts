/**
 * Tenant-isolated backoff (issue 19, item 1), end to end: the rotation handler in one warm execution environment (one
 * module, so one pacer and one Novala client), moto, and two Novala simulators on different ports. One tenant's host
 * answers every call `429 Retry-After: 86400` (hostile, or an honest Novala out of quota); the other tenant rotates
 * meanwhile. The hostile tenant's step fails at once as transient (AWSPENDING kept, nothing rolled back), every retry of
 * it fails without asking the host again, and the other tenant's rotation completes.
 */
import { CreateSecretCommand } from "@aws-sdk/client-secrets-manager";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { startRotation } from "../../cli/secrets-manager-driver.js";
import { environmentPacer } from "../../lambdas/adapters/novala/rate-budget.js";
import { readNovalaClientConfig } from "../../lambdas/contract/configuration.js";
import { ROTATION_STEPS, type RotationEvent } from "../../lambdas/contract/rotation-event.js";
import type { CreatedNovalaKey } from "../../lambdas/core/ports.js";
import { secretValueFor } from "../../lambdas/core/secret-value.js";
import { type NovalaSimulator, startNovalaSimulator } from "../../local/novala-simulator.js";
import { caught } from "../support/caught.js";
import { useMotoAndSimulator } from "../support/integration.js";
import { motoSuiteTitle, skipMoto } from "../support/moto.js";

/** Self-managed keys: each secret's own key creates and revokes its replacement, on its own tenant. */
const SCOPES = ["leads.lead.read", "api_keys.manage"];

describe.skipIf(skipMoto)(motoSuiteTitle("a hostile Retry-After: 86400 while another tenant rotates"), () => {
  const env = useMotoAndSimulator();
  let hostile: NovalaSimulator;
  let rotationHandler: (event: RotationEvent) => Promise<void>;
  beforeEach(async () => {
    hostile = await startNovalaSimulator();
    env.setEnvironment({ POWERTOOLS_LOG_LEVEL: "CRITICAL", POWERTOOLS_METRICS_DISABLED: "true" });
    // Imported once the environment is set, as Lambda loads it: its logger reads the level at import.
    rotationHandler = (await import("../../lambdas/rotation/index.js")).handler;
  });
  afterEach(async () => hostile?.stop());

  it("fails the hostile tenant's step at once, keeps its AWSPENDING, and completes the other tenant's rotation", {
    // A hold-off shared by every origin (the defect) would leave the other rotation spinning: fail before the default.
    timeout: 30_000,
  }, async () => {
    const honestKey = env.novala.model.seedKey({ name: "Billing Integration", scopes: SCOPES });
    const honestArn = await env.createSecret("novala/billing", honestKey);
    const hostileKey = hostile.model.seedKey({ name: "Acumatica Integration", scopes: SCOPES });
    const hostileArn = await createSecretAt(hostile.url, "novala/acumatica", hostileKey);

    // The hostile tenant's rotation gets as far as its AWSPENDING; then its host asks for a day's pause.
    const hostileToken = await startRotation(env.secrets, hostileArn);
    const hostileStep = (Step: "testSecret") =>
      rotationHandler({ Step, SecretId: hostileArn, ClientRequestToken: hostileToken });
    await rotationHandler({ Step: "createSecret", SecretId: hostileArn, ClientRequestToken: hostileToken });
    const pendingKeyId = (await env.valueAt(hostileArn, "AWSPENDING")).keyId;
    hostile.injectFault({ match: "* *", kind: "status", status: 429, retryAfterSeconds: 86_400, count: 1_000 });

    const first = await caught(hostileStep("testSecret"));
    expect(first.name).toBe("RetryAfterAboveCapError");
    expect(first.message).toContain(`${hostile.url} answered 429 with Retry-After 86400 s, above the cap of 30 s`);
    const askedOfHostile = hostile.requestLog().length;

    // The other tenant rotates in the same environment, with Secrets Manager retrying the hostile step in between.
    const honestToken = await startRotation(env.secrets, honestArn);
    const retries: Error[] = [];
    for (const Step of ROTATION_STEPS) {
      await rotationHandler({ Step, SecretId: honestArn, ClientRequestToken: honestToken });
      retries.push(await caught(hostileStep("testSecret")));
    }

    const honestCurrent = await env.valueAt(honestArn, "AWSCURRENT");
    expect(honestCurrent.keyId).not.toBe(honestKey.id);
    expect(env.status(honestCurrent.keyId)).toBe("active");
    expect(env.status(honestKey.id)).toBe("revoked");
    expect(env.novala.requestLog().filter((entry) => entry.status === 429)).toEqual([]);

    // Each retry of the hostile step failed in the pacer, without asking the host again, and says why.
    for (const retry of retries) {
      expect(retry.name).toBe("RetryAfterAboveCapError");
      expect(retry.message).toMatch(new RegExp(`${hostile.url} is held off for 864\\d\\d s more`));
    }
    expect(hostile.requestLog()).toHaveLength(askedOfHostile);
    // Transient: AWSPENDING kept, AWSCURRENT untouched, the pending key not rolled back.
    expect((await env.stagesOf(hostileArn))[hostileToken]).toEqual(["AWSPENDING"]);
    expect((await env.valueAt(hostileArn, "AWSCURRENT")).keyId).toBe(hostileKey.id);
    expect(hostile.model.inspect(String(pendingKeyId))?.status).toBe("active");
    // The environment's pacer holds back the hostile origin only.
    const pacer = environmentPacer(readNovalaClientConfig(process.env).rateBudget);
    expect(pacer?.holdOffLeft(env.novala.url)).toBe(0);
    expect(pacer?.holdOffLeft(hostile.url)).toBeGreaterThan(86_000_000);
  });

  async function createSecretAt(baseUrl: string, name: string, key: CreatedNovalaKey): Promise<string> {
    const created = await env.secrets.send(
      new CreateSecretCommand({ Name: name, SecretString: secretValueFor(baseUrl, key) }),
    );
    return created.ARN as string;
  }
});
