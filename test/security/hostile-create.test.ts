/**
 * A create whose answer is 400 MB (issue 9, item 5), end to end: the rotation handler, its real adapters against
 * moto_server and the Novala simulator, and Secrets Manager's events. Novala makes the key and then floods the answer;
 * the client stops at 1 MB, so the key's id and secret are never known. The rotation must treat that as an unknown
 * outcome: find the key by its lineage tag, revoke it, create another, and finish, leaving no live key nothing holds.
 */
import { CreateSecretCommand, GetSecretValueCommand, type SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { driveSteps, startRotation } from "../../cli/secrets-manager-driver.js";
import type { RotationEvent } from "../../lambdas/contract/rotation-event.js";
import { hasRotationTag } from "../../lambdas/core/key-name.js";
import type { CreatedNovalaKey } from "../../lambdas/core/ports.js";
import { secretValueFor } from "../../lambdas/core/secret-value.js";
import type { NovalaSimulator } from "../../local/novala-simulator.js";
import { useMotoAndSimulatorForSuite } from "../support/integration.js";
import { lambdaEnvironment, type Moto, motoSuiteTitle, skipMoto } from "../support/moto.js";

const MB = 1024 * 1024;

describe.skipIf(skipMoto)(motoSuiteTitle("a rotation whose create answer is 400 MB"), () => {
  let moto: Moto;
  let novala: NovalaSimulator;
  let secrets: SecretsManagerClient;
  let handler: (event: RotationEvent) => Promise<void>;
  let manager: CreatedNovalaKey;
  let consumer: CreatedNovalaKey;
  let consumerArn: string;
  const savedEnv = { ...process.env };
  const servers = useMotoAndSimulatorForSuite();

  beforeAll(async () => {
    ({ moto, novala, secrets } = servers);
    Object.assign(
      process.env,
      lambdaEnvironment(moto.endpoint, {
        HEALTH_CHECK_DEADLINE_SECONDS: "5",
        NOVALA_RETRY_BUDGET_SECONDS: "5",
        POWERTOOLS_LOG_LEVEL: "CRITICAL",
        POWERTOOLS_METRICS_DISABLED: "true",
      }),
    );
    handler = (await import("../../lambdas/rotation/index.js")).handler;
    manager = novala.model.seedKey({ name: "Rotation manager", scopes: ["api_keys.manage"] });
    const managerArn = (
      await secrets.send(
        new CreateSecretCommand({ Name: "novala/manager", SecretString: secretValueFor(novala.url, manager) }),
      )
    ).ARN as string;
    consumer = novala.model.seedKey({ name: "Acumatica Integration", scopes: ["leads.lead.read"] });
    consumerArn = (
      await secrets.send(
        new CreateSecretCommand({
          Name: "novala/acumatica",
          SecretString: secretValueFor(novala.url, consumer, { managerSecretId: managerArn }),
        }),
      )
    ).ARN as string;
  });

  afterAll(() => {
    for (const name of Object.keys(process.env)) if (!(name in savedEnv)) delete process.env[name];
    Object.assign(process.env, savedEnv);
  });

  it("revokes the key the cut-off create made, creates another and finishes, with the process staying small", async () => {
    novala.injectFault({ match: "POST /api/v1/api-keys", kind: "flood", status: 201, bytes: 400 * MB, perform: true });
    const before = process.memoryUsage().rss;
    let peak = before;
    const sampler = setInterval(() => {
      peak = Math.max(peak, process.memoryUsage().rss);
    }, 5);
    const token = await startRotation(secrets, consumerArn);
    try {
      await driveSteps(secrets, handler, consumerArn, token);
    } finally {
      clearInterval(sampler);
    }
    expect(peak - before).toBeLessThan(64 * MB);

    const flooded = novala.requestLog().find((entry) => entry.outcome === "flooded");
    expect(flooded?.bytesWritten).toBeLessThan(32 * MB);
    expect(novala.counters()["POST /api/v1/api-keys"]).toBe(2);

    const current = await secrets.send(
      new GetSecretValueCommand({ SecretId: consumerArn, VersionStage: "AWSCURRENT" }),
    );
    const currentKeyId = (JSON.parse(current.SecretString ?? "{}") as { keyId?: string }).keyId;
    const lineage = allKeys().filter((key) => hasRotationTag(key.name, consumerArn, token));
    // Two keys carry this rotation's tag: the one the flooded create made (revoked) and the one stored (active).
    expect(lineage.map((key) => [key.id === currentKeyId ? "stored" : "cut off", key.status]).sort()).toEqual([
      ["cut off", "revoked"],
      ["stored", "active"],
    ]);
    expect(novala.model.inspect(consumer.id)?.status).toBe("revoked");
  });

  function allKeys() {
    const page = novala.model.list(manager.secretKey, { limit: "100" });
    if (!page.ok) throw new Error(page.error);
    return page.value.data;
  }
});
