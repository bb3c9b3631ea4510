import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { CreateScheduleGroupCommand, GetScheduleCommand } from "@aws-sdk/client-scheduler";
import { CreateSecretCommand, GetSecretValueCommand } from "@aws-sdk/client-secrets-manager";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startRotation } from "../../cli/secrets-manager-driver.js";
import { revocationScheduleName } from "../../lambdas/core/key-name.js";
import type { CreatedNovalaKey } from "../../lambdas/core/ports.js";
import { secretValueFor } from "../../lambdas/core/secret-value.js";
import { nonBuiltinImports, OPTIONAL_SDK_MODULES } from "../support/bundle-imports.js";
import { recordChildOutput } from "../support/child-output.js";
import { useMotoAndSimulatorForSuite } from "../support/integration.js";
import { invokeBundle } from "../support/invoke-bundle.js";
import {
  motoSuiteTitle,
  skipMoto,
  TEST_DEAD_LETTER_QUEUE_ARN,
  TEST_EVENT_BUS_ARN,
  TEST_REGION,
  TEST_REVOCATION_FUNCTION_ARN,
  TEST_SCHEDULER_ROLE_ARN,
} from "../support/moto.js";

let outDir = "";

/**
 * The deployed artifact, not the source: `cdk synth` puts both functions' code into its assets; each bundle then runs
 * under Node 24 (the runtime's major version) in a fresh process, with the environment variables the template gives
 * it, and performs a whole rotation and a revocation against moto_server and the Novala simulator. This catches
 * bundling faults (ESM and `require`, a missing module) that source-level tests cannot see.
 *
 * The synth output lives in a temporary folder outside the repository: with no node_modules above the bundles, an
 * import they do not carry inside fails, as it would on Lambda.
 */
const STACK = "NovalaKeyRotation";

/** Test values for what the template leaves to CloudFormation (Ref, Fn::GetAtt), by variable. */
const UNRESOLVED: Record<string, string> = {
  REVOCATION_FUNCTION_ARN: TEST_REVOCATION_FUNCTION_ARN,
  REVOCATION_SCHEDULER_ROLE_ARN: TEST_SCHEDULER_ROLE_ARN,
  REVOCATION_DEAD_LETTER_QUEUE_ARN: TEST_DEAD_LETTER_QUEUE_ARN,
  // The construct's own bus; moto's default bus stands in for it.
  ROTATION_EVENT_BUS: TEST_EVENT_BUS_ARN,
  // The deployment's manager secret, known by name (-c managerSecret=novala/manager): its partial ARN in moto.
  MANAGER_SECRET_ARN: `arn:aws:secretsmanager:${TEST_REGION}:123456789012:secret:novala/manager`,
};

interface DeployedFunction {
  bundle: string;
  environment: Record<string, string>;
}

function synthesize(): { rotation: DeployedFunction; revocation: DeployedFunction } {
  const synth = spawnSync(
    "npx",
    [
      "cdk",
      "synth",
      "--quiet",
      "-o",
      outDir,
      "-c",
      "secrets=novala/acumatica",
      "-c",
      "managerSecret=novala/manager",
      "-c",
      "alertEmail=none",
      "-c",
      `stackName=${STACK}`,
    ],
    { encoding: "utf8", timeout: 240_000 },
  );
  recordChildOutput("cdk synth", `${synth.stdout ?? ""}${synth.stderr ?? ""}`);
  if (synth.status !== 0) throw new Error(`cdk synth failed:\n${synth.stdout}\n${synth.stderr}`);
  const template = JSON.parse(readFileSync(join(outDir, `${STACK}.template.json`), "utf8"));
  interface TemplateResource {
    Type: string;
    Properties: { Environment?: { Variables?: Record<string, unknown> }; Handler: string };
    Metadata?: Record<string, string>;
  }
  const functions = Object.values(template.Resources as Record<string, TemplateResource>).filter(
    (resource) => resource.Type === "AWS::Lambda::Function",
  );
  const deployed = functions.map((resource) => {
    const properties = resource.Properties;
    const metadata = resource.Metadata ?? {};
    expect(properties.Handler).toBe("index.handler");
    const environment: Record<string, string> = {};
    for (const [name, value] of Object.entries(properties.Environment?.Variables ?? {})) {
      if (typeof value === "string") environment[name] = value;
      else if (UNRESOLVED[name]) environment[name] = UNRESOLVED[name];
      else throw new Error(`environment variable ${name} is a CloudFormation reference the test has no value for`);
    }
    return { bundle: resolve(outDir, metadata["aws:asset:path"] ?? "", "index.mjs"), environment };
  });
  const rotation = deployed.find((fn) => "REVOCATION_GRACE_SECONDS" in fn.environment);
  const revocation = deployed.find((fn) => !("REVOCATION_GRACE_SECONDS" in fn.environment));
  if (!rotation || !revocation) throw new Error("the template does not hold both functions");
  return { rotation, revocation };
}

/** The revocation function's own ARN, which Lambda gives it in the invocation's context (never in its environment). */
const invoke = (fn: DeployedFunction, env: Record<string, string>, event: unknown) =>
  invokeBundle(fn.bundle, { ...fn.environment, ...env }, event, {
    invokedFunctionArn: UNRESOLVED.REVOCATION_FUNCTION_ARN,
  });

describe.skipIf(skipMoto)(motoSuiteTitle("the bundles cdk synth writes, run under Node 24"), () => {
  const servers = useMotoAndSimulatorForSuite();
  let deployed: ReturnType<typeof synthesize>;

  beforeAll(async () => {
    outDir = mkdtempSync(join(tmpdir(), "novala-bundle-test-"));
    deployed = synthesize();
  }, 300_000);

  afterAll(() => {
    if (outDir) rmSync(outDir, { recursive: true, force: true });
  });

  it("carries everything it imports (undici, the AWS SDK) besides Node's built-ins", () => {
    for (const fn of [deployed.rotation, deployed.revocation]) {
      expect(readdirSync(resolve(fn.bundle, "..")).sort()).toEqual(["index.mjs", "index.mjs.map"]);
      expect(nonBuiltinImports(readFileSync(fn.bundle, "utf8"), OPTIONAL_SDK_MODULES)).toEqual([]);
    }
  });

  it("rotates a key with the rotation bundle and revokes the old one with the revocation bundle", async () => {
    const env = {
      AWS_REGION: TEST_REGION,
      AWS_ACCESS_KEY_ID: "test",
      AWS_SECRET_ACCESS_KEY: "test",
      AWS_ENDPOINT_URL: servers.moto.endpoint,
      // Novala is the simulator on loopback; the template's allow-list (*.novala.ai) would rightly refuse it.
      NOVALA_ALLOWED_HOSTS: "127.0.0.1",
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true",
    };
    const group = deployed.rotation.environment.REVOCATION_SCHEDULE_GROUP as string;
    await servers.scheduler.send(new CreateScheduleGroupCommand({ Name: group }));
    const secretJson = (key: CreatedNovalaKey, extra: Record<string, unknown> = {}) =>
      secretValueFor(servers.novala.url, key, extra);
    const manager = servers.novala.model.seedKey({ name: "Rotation manager", scopes: ["api_keys.manage"] });
    const consumer = servers.novala.model.seedKey({
      name: "Acumatica Integration",
      scopes: ["leads.lead.read", "pipeline"],
    });
    const managerArn = (
      await servers.secrets.send(new CreateSecretCommand({ Name: "novala/manager", SecretString: secretJson(manager) }))
    ).ARN;
    const secretArn = (
      await servers.secrets.send(
        new CreateSecretCommand({
          Name: "novala/acumatica",
          SecretString: secretJson(consumer, { managerSecretId: managerArn }),
        }),
      )
    ).ARN as string;

    const token = await startRotation(servers.secrets, secretArn);
    const outputs: string[] = [];
    for (const step of ["createSecret", "setSecret", "testSecret", "finishSecret"]) {
      const run = await invoke(deployed.rotation, env, { Step: step, SecretId: secretArn, ClientRequestToken: token });
      outputs.push(run.output);
      expect(run.failure, `${step}: ${run.output}`).toBeUndefined();
      expect(run.code).toBe(0);
      expect(run.nodeVersion).toMatch(/^v24\./);
    }
    const current = JSON.parse(
      (await servers.secrets.send(new GetSecretValueCommand({ SecretId: secretArn, VersionStage: "AWSCURRENT" })))
        .SecretString ?? "{}",
    );
    expect(current.keyId).not.toBe(consumer.id);
    expect(servers.novala.model.inspect(current.keyId)?.status).toBe("active");
    expect(servers.novala.model.inspect(consumer.id)?.status).toBe("active");
    // The bundle published Key Rotated (to moto's default bus): no "could not publish" warning, no failure counted.
    expect(outputs.join("\n")).not.toContain("could not publish");
    expect(outputs.join("\n")).not.toContain("RotationEventsFailed");

    const schedule = await servers.scheduler.send(
      new GetScheduleCommand({ Name: revocationScheduleName(secretArn, consumer.id), GroupName: group }),
    );
    expect(schedule.Target?.Arn).toBe(UNRESOLVED.REVOCATION_FUNCTION_ARN);
    const revocation = await invoke(deployed.revocation, env, JSON.parse(schedule.Target?.Input ?? "{}"));
    outputs.push(revocation.output);
    expect(revocation.result, revocation.output).toEqual({ outcome: "revoked" });
    expect(servers.novala.model.inspect(consumer.id)?.status).toBe("revoked");

    // The bundles log structured JSON and EMF metrics, and never a key.
    const printed = outputs.join("\n");
    expect(printed).toContain('"RotationsSucceeded"');
    expect(printed).toContain('"KeysRevoked"');
    for (const key of servers.novala.model.issuedKeyMaterial()) expect(printed).not.toContain(key);
  });
});
