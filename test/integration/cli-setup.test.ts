import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { CreateScheduleGroupCommand } from "@aws-sdk/client-scheduler";
import { CreateSecretCommand } from "@aws-sdk/client-secrets-manager";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { secretValueFor } from "../../lambdas/core/secret-value.js";
import { useMotoAndSimulatorForSuite } from "../support/integration.js";
import { motoSuiteTitle, secretsManagerClientFor, skipMoto, TEST_CREDENTIALS } from "../support/moto.js";
import { expectNoKeyMaterial, runCli, runProcess } from "../support/run-cli.js";

/**
 * A command line that installs like one (issue 18, items 6 and 7), each run a child process: `npx novala-rotation` in
 * the clone right after `npm ci` (no build), `--version`, `--profile` taking the profile's region and endpoint as the
 * AWS CLI's does, and `status` naming a missing revocation schedule group with the command that creates it. The built
 * CLI's run bit and the installed package's bin: test/infra/library-pack.test.ts.
 */
const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const VERSION = (JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { version: string }).version;
const work = mkdtempSync(join(tmpdir(), "novala-install-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** No AWS set-up of this machine's: only what a test gives. */
const bareEnvironment = (): Record<string, string> => ({
  PATH: process.env.PATH ?? "",
  HOME: process.env.HOME ?? "",
  AWS_EC2_METADATA_DISABLED: "true",
  AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true",
});

describe("novala-rotation from a clone", () => {
  it("npx novala-rotation runs the command line after npm ci, with no build, offline and with a fresh npm cache", async () => {
    const npx = (args: string[]) =>
      runProcess("npx", ["novala-rotation", ...args], {
        ...bareEnvironment(),
        npm_config_cache: join(work, "npm-cache"),
        npm_config_offline: "true",
        npm_config_update_notifier: "false",
      });
    const version = await npx(["--version"]);
    expect(version.code, version.stderr).toBe(0);
    expect(version.stdout.trim()).toBe(VERSION);
    const help = await npx(["--help"]);
    expect(help.code, help.stderr).toBe(0);
    expect(help.stdout).toMatch(/Usage: novala-rotation/);
    expect(help.stdout).toMatch(/-V, --version/);
  });

  it("--profile names a profile that is in neither AWS file: refused as bad usage, naming both files", async () => {
    const config = join(work, "config-without-the-profile");
    writeFileSync(config, "[profile other]\nregion = eu-west-1\n");
    const run = await runProcess(
      process.execPath,
      ["bin/novala-rotation.js", "status", "novala/a", "--profile", "nope"],
      {
        ...bareEnvironment(),
        AWS_CONFIG_FILE: config,
        AWS_SHARED_CREDENTIALS_FILE: "/dev/null",
      },
    );
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(`--profile nope: no such profile in ${config} or /dev/null`);
  });
});

describe.skipIf(skipMoto)(motoSuiteTitle("--profile as the AWS CLI's: the profile's region and endpoint"), () => {
  const servers = useMotoAndSimulatorForSuite();
  const PROFILE_REGION = "eu-west-1";
  let config: string;
  let arn: string;
  const issued: string[] = [];

  beforeAll(async () => {
    // The secret lives in the profile's region of moto; nothing in the environment names that region or moto.
    const key = servers.novala.model.seedKey({ name: "Profile test", scopes: ["leads.lead.read"] });
    issued.push(key.publishableKey, key.secretKey);
    const secrets = secretsManagerClientFor(servers.moto.endpoint, { region: PROFILE_REGION });
    arn = (
      await secrets.send(
        new CreateSecretCommand({ Name: "novala/profiled", SecretString: secretValueFor(servers.novala.url, key) }),
      )
    ).ARN as string;
    secrets.destroy();
    config = join(work, "config");
    writeFileSync(
      config,
      [
        "[profile moto]",
        `region = ${PROFILE_REGION}`,
        `endpoint_url = ${servers.moto.endpoint}`,
        `aws_access_key_id = ${TEST_CREDENTIALS.accessKeyId}`,
        `aws_secret_access_key = ${TEST_CREDENTIALS.secretAccessKey}`,
        "",
      ].join("\n"),
    );
  });

  const status = (...flags: string[]) =>
    runProcess(process.execPath, ["bin/novala-rotation.js", "status", "novala/profiled", "--json", ...flags], {
      ...bareEnvironment(),
      AWS_CONFIG_FILE: config,
      AWS_SHARED_CREDENTIALS_FILE: "/dev/null",
      // Static keys in the environment, as a shell often has: --profile sets them aside, as the AWS CLI does.
      AWS_ACCESS_KEY_ID: "AKIAENVIRONMENTKEY",
      AWS_SECRET_ACCESS_KEY: "environment-secret",
    });

  it("reads the secret through the profile's endpoint_url, in the profile's region, with no warning", async () => {
    const run = await status("--profile", "moto");
    expectNoKeyMaterial(run, issued);
    expect(run.stderr).toBe("");
    expect(JSON.parse(run.stdout)).toMatchObject({ secretId: "novala/profiled", arn });
    expect(arn).toContain(`:${PROFILE_REGION}:`);
  });

  it("--region still wins over the profile's region, as with the AWS CLI", async () => {
    const run = await status("--profile", "moto", "--region", "us-east-1");
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/DescribeSecret novala\/profiled: .*ResourceNotFoundException|can't find/i);
  });
});

describe.skipIf(skipMoto)(motoSuiteTitle("status and a revocation schedule group that does not exist"), () => {
  const servers = useMotoAndSimulatorForSuite();
  const issued: string[] = [];

  beforeAll(async () => {
    const key = servers.novala.model.seedKey({ name: "Group test", scopes: ["leads.lead.read"] });
    issued.push(key.publishableKey, key.secretKey);
    await servers.secrets.send(
      new CreateSecretCommand({ Name: "novala/grouped", SecretString: secretValueFor(servers.novala.url, key) }),
    );
  });

  const revocationsError = async (group: string) => {
    const run = await runCli(["status", "novala/grouped", "--schedule-group", group, "--json"], {
      endpoint: servers.moto.endpoint,
    });
    expectNoKeyMaterial(run, issued);
    return (JSON.parse(run.stdout) as { revocationsError?: string }).revocationsError;
  };

  it("says the group is missing, that rotations will fail, and the command that creates it", async () => {
    expect(await revocationsError("NovalaKeyRotation-revocations")).toBe(
      "schedule group NovalaKeyRotation-revocations does not exist, so no revocation can be scheduled and rotations " +
        "fail at finishSecret: create it with aws scheduler create-schedule-group --name NovalaKeyRotation-revocations",
    );
  });

  it("says nothing once the group exists", async () => {
    await servers.scheduler.send(new CreateScheduleGroupCommand({ Name: "NovalaKeyRotation-revocations" }));
    expect(await revocationsError("NovalaKeyRotation-revocations")).toBeUndefined();
  });
});
