import { spawn, spawnSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { CreateScheduleGroupCommand, GetScheduleCommand, type SchedulerClient } from "@aws-sdk/client-scheduler";
import { CreateSecretCommand, GetSecretValueCommand, type SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { revocationScheduleName } from "../lambdas/core/key-name.js";
import type { CreatedNovalaKey } from "../lambdas/core/ports.js";
import { secretValueFor } from "../lambdas/core/secret-value.js";
import { type NovalaSimulator, startNovalaSimulator } from "../local/novala-simulator.js";
import { startRotation } from "../local/secrets-manager-driver.js";
import {
  type Moto,
  motoSuiteTitle,
  schedulerClientFor,
  secretsManagerClientFor,
  skipMoto,
  startMoto,
  TEST_REGION,
} from "./support/moto.js";

/**
 * The deployed artifact, not the source: `cdk synth` bundles both functions; each bundle then runs under plain Node
 * in a fresh process, with the environment variables the template gives it, and performs a whole rotation and a
 * revocation against moto_server and the Novala simulator. This catches bundling faults (ESM and `require`, a
 * missing module, an external that the runtime does not provide) that source-level tests cannot see.
 *
 * The synth output lives inside the repository so that the bundles' `@aws-sdk/*` imports, left external because the
 * Lambda runtime provides them, resolve to the installed SDK as they would to the runtime's copy.
 */
const OUT_DIR = "test-output/cdk.out-bundle-test";
const STACK = "NovalaKeyRotation";
const RUNTIME_PROVIDED = /^@aws-sdk\//;

/** Test values for what the template leaves to CloudFormation (Ref, Fn::GetAtt), by variable. */
const UNRESOLVED: Record<string, string> = {
  REVOCATION_FUNCTION_ARN: "arn:aws:lambda:us-east-1:123456789012:function:novala-revocation",
  REVOCATION_SCHEDULER_ROLE_ARN: "arn:aws:iam::123456789012:role/novala-scheduler",
  REVOCATION_DEAD_LETTER_QUEUE_ARN: "arn:aws:sqs:us-east-1:123456789012:novala-revocation-dlq",
  // The account's default bus; the bundle's PutEvents goes to moto's.
  ROTATION_EVENT_BUS: "arn:aws:events:us-east-1:123456789012:event-bus/default",
};

interface DeployedFunction {
  bundle: string;
  environment: Record<string, string>;
}

function synthesize(): { rotation: DeployedFunction; revocation: DeployedFunction } {
  rmSync(OUT_DIR, { recursive: true, force: true });
  const synth = spawnSync(
    "npx",
    [
      "cdk",
      "synth",
      "--quiet",
      "-o",
      OUT_DIR,
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
  if (synth.status !== 0) throw new Error(`cdk synth failed:\n${synth.stdout}\n${synth.stderr}`);
  const template = JSON.parse(readFileSync(join(OUT_DIR, `${STACK}.template.json`), "utf8"));
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
    return { bundle: resolve(OUT_DIR, metadata["aws:asset:path"] ?? "", "index.mjs"), environment };
  });
  const rotation = deployed.find((fn) => "REVOCATION_GRACE_SECONDS" in fn.environment);
  const revocation = deployed.find((fn) => !("REVOCATION_GRACE_SECONDS" in fn.environment));
  if (!rotation || !revocation) throw new Error("the template does not hold both functions");
  return { rotation, revocation };
}

/** Invokes a bundle's handler in a fresh Node process, as a cold Lambda would. */
function invoke(fn: DeployedFunction, env: Record<string, string>, event: unknown) {
  const runner = `
    const { handler } = await import(${JSON.stringify(pathToFileURL(fn.bundle).href)});
    try {
      const result = await handler(JSON.parse(process.env.TEST_EVENT));
      process.stdout.write("\\nRESULT " + JSON.stringify(result ?? null) + "\\n");
    } catch (error) {
      process.stdout.write("\\nFAILED " + error.name + ": " + error.message + "\\n");
      process.exitCode = 1;
    }`;
  return new Promise<{ code: number | null; output: string; result?: unknown; failure?: string }>((done) => {
    const child = spawn(process.execPath, ["--input-type=module", "-e", runner], {
      env: { PATH: process.env.PATH ?? "", ...fn.environment, ...env, TEST_EVENT: JSON.stringify(event) },
    });
    let output = "";
    child.stdout.on("data", (chunk) => {
      output += chunk;
    });
    child.stderr.on("data", (chunk) => {
      output += chunk;
    });
    child.on("close", (code) => {
      const result = /\nRESULT (.*)\n/.exec(output)?.[1];
      const failure = /\nFAILED (.*)\n/.exec(output)?.[1];
      done({ code, output, ...(result !== undefined && { result: JSON.parse(result) }), ...(failure && { failure }) });
    });
  });
}

describe.skipIf(skipMoto)(motoSuiteTitle("the bundles cdk synth writes, run under Node"), () => {
  let moto: Moto;
  let novala: NovalaSimulator;
  let secrets: SecretsManagerClient;
  let scheduler: SchedulerClient;
  let deployed: ReturnType<typeof synthesize>;

  beforeAll(async () => {
    deployed = synthesize();
    moto = await startMoto();
    novala = await startNovalaSimulator();
    secrets = secretsManagerClientFor(moto.endpoint);
    scheduler = schedulerClientFor(moto.endpoint);
  }, 300_000);

  afterAll(async () => {
    secrets?.destroy();
    scheduler?.destroy();
    await novala?.stop();
    await moto?.stop();
  });

  it("bundles only what the Lambda runtime cannot provide", () => {
    for (const fn of [deployed.rotation, deployed.revocation]) {
      expect(existsSync(fn.bundle)).toBe(true);
      expect(readdirSync(resolve(fn.bundle, ".."))).toEqual(expect.arrayContaining(["index.mjs", "index.mjs.map"]));
      // Static import statements of the ESM bundle (minified: `import{a as b}from"x";`).
      const imports = [
        ...readFileSync(fn.bundle, "utf8").matchAll(/(?:^|[;\n])\s*import\s*(?:[\w*{}\s,$]+from\s*)?["']([^"']+)["']/g),
      ].map((match) => match[1] as string);
      expect(imports).toEqual(expect.arrayContaining(["@aws-sdk/client-secrets-manager"]));
      const external = imports.filter((name) => !name.startsWith("node:"));
      expect(
        external.every((name) => RUNTIME_PROVIDED.test(name)),
        external.join(", "),
      ).toBe(true);
    }
  });

  it("rotates a key with the rotation bundle and revokes the old one with the revocation bundle", async () => {
    const env = {
      AWS_REGION: TEST_REGION,
      AWS_ACCESS_KEY_ID: "test",
      AWS_SECRET_ACCESS_KEY: "test",
      AWS_ENDPOINT_URL: moto.endpoint,
      // Novala is the simulator on loopback; the template's allow-list (*.novala.ai) would rightly refuse it.
      NOVALA_ALLOWED_HOSTS: "127.0.0.1",
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true",
    };
    const group = deployed.rotation.environment.REVOCATION_SCHEDULE_GROUP as string;
    await scheduler.send(new CreateScheduleGroupCommand({ Name: group }));
    const secretJson = (key: CreatedNovalaKey, extra: Record<string, unknown> = {}) =>
      secretValueFor(novala.url, key, extra);
    const manager = novala.model.seedKey({ name: "Rotation manager", scopes: ["api_keys.manage"] });
    const consumer = novala.model.seedKey({ name: "Acumatica Integration", scopes: ["leads.lead.read", "pipeline"] });
    const managerArn = (
      await secrets.send(new CreateSecretCommand({ Name: "novala/manager", SecretString: secretJson(manager) }))
    ).ARN;
    const secretArn = (
      await secrets.send(
        new CreateSecretCommand({
          Name: "novala/acumatica",
          SecretString: secretJson(consumer, { managerSecretId: managerArn }),
        }),
      )
    ).ARN as string;

    const token = await startRotation(secrets, secretArn);
    const outputs: string[] = [];
    for (const step of ["createSecret", "setSecret", "testSecret", "finishSecret"]) {
      const run = await invoke(deployed.rotation, env, { Step: step, SecretId: secretArn, ClientRequestToken: token });
      outputs.push(run.output);
      expect(run.failure, `${step}: ${run.output}`).toBeUndefined();
      expect(run.code).toBe(0);
    }
    const current = JSON.parse(
      (await secrets.send(new GetSecretValueCommand({ SecretId: secretArn, VersionStage: "AWSCURRENT" })))
        .SecretString ?? "{}",
    );
    expect(current.keyId).not.toBe(consumer.id);
    expect(novala.model.inspect(current.keyId)?.status).toBe("active");
    expect(novala.model.inspect(consumer.id)?.status).toBe("active");
    // The bundle published Key Rotated (to moto's default bus): no "could not publish" warning, no failure counted.
    expect(outputs.join("\n")).not.toContain("could not publish");
    expect(outputs.join("\n")).not.toContain("RotationEventsFailed");

    const schedule = await scheduler.send(
      new GetScheduleCommand({ Name: revocationScheduleName(secretArn, consumer.id), GroupName: group }),
    );
    expect(schedule.Target?.Arn).toBe(UNRESOLVED.REVOCATION_FUNCTION_ARN);
    const revocation = await invoke(deployed.revocation, env, JSON.parse(schedule.Target?.Input ?? "{}"));
    outputs.push(revocation.output);
    expect(revocation.result, revocation.output).toEqual({ outcome: "revoked" });
    expect(novala.model.inspect(consumer.id)?.status).toBe("revoked");

    // The bundles log structured JSON and EMF metrics, and never a key.
    const printed = outputs.join("\n");
    expect(printed).toContain('"RotationsSucceeded"');
    expect(printed).toContain('"KeysRevoked"');
    for (const key of novala.model.issuedKeyMaterial()) expect(printed).not.toContain(key);
  });
});
