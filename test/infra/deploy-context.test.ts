/**
 * A deploy that asks (issue 13, items 4 and 5): the app has no example values, so `cdk synth` without its context, or
 * with a wrong value, stops with one message naming the context keys, exit 1, no stack trace; the duration and
 * schedule grammars are one, shared by the context and the command line; and the manager secret can be rotated by a
 * prop (`rotateManagerSecret`, context key of the same name) with the rights its rotation needs.
 *
 * A deploy that starts clean (issue 18, item 6): `cdk bootstrap` (and `destroy`, `list`) work without the app's
 * context, and a key the app does not know is refused with the closest known one.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { CloudFormationClient, DescribeStacksCommand } from "@aws-sdk/client-cloudformation";
import { App, Stack } from "aws-cdk-lib";
import { Match, Template } from "aws-cdk-lib/assertions";
import * as secretsmanager from "aws-cdk-lib/aws-secretsmanager";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import type { NovalaKeyRotationProps } from "../../lib/construct/props.js";
import { NovalaKeyRotation } from "../../lib/novala-key-rotation.js";
import { NovalaRotationStack, unknownContextKeys } from "../../lib/novala-rotation-stack.js";
import { recordChildOutput } from "../support/child-output.js";
import {
  type Moto,
  motoSuiteTitle,
  skipMoto,
  startMoto,
  TEST_ACCOUNT_ID,
  TEST_CREDENTIALS,
  TEST_REGION,
} from "../support/moto.js";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const OUT = mkdtempSync(join(tmpdir(), "novala-context-"));
afterAll(() => rmSync(OUT, { recursive: true, force: true }));

/** `cdk synth` as a user runs it, with the repository's cdk.json and these -c flags. */
function synth(...context: string[]) {
  const run = spawnSync("npx", ["cdk", "synth", "--quiet", "-o", OUT, ...context.flatMap((c) => ["-c", c])], {
    cwd: ROOT,
    encoding: "utf8",
    timeout: 120_000,
    env: { ...process.env, CDK_DISABLE_VERSION_CHECK: "1" },
  });
  recordChildOutput("cdk synth", `${run.stdout ?? ""}${run.stderr ?? ""}`);
  return { code: run.status, output: `${run.stdout}\n${run.stderr}` };
}

function cli(...args: string[]) {
  const run = spawnSync(process.execPath, ["bin/novala-rotation.js", ...args], {
    cwd: ROOT,
    encoding: "utf8",
    timeout: 60_000,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, AWS_REGION: "us-east-1" },
  });
  recordChildOutput(`novala-rotation ${args[0]}`, `${run.stdout ?? ""}${run.stderr ?? ""}`);
  return { code: run.status, stderr: run.stderr };
}

// Each test runs the CDK CLI (a full app synthesis) one to three times: tens of seconds each on a loaded machine.
vi.setConfig({ testTimeout: 300_000 });

const STACK_TRACE = /\n\s+at .+\(.*:\d+:\d+\)/;

describe("cdk synth without its context, or with wrong values", () => {
  it("stops with one message that names what must be set, exit 1, no stack trace", () => {
    const run = synth();
    expect(run.code).toBe(1);
    expect(run.output.match(/the deployment needs its CDK context/g)).toHaveLength(1);
    expect(run.output).toMatch(/Set:\n\s+-c secrets=\S+ .*required.*\n\s+-c alertEmail=\S+ .*required/);
    expect(run.output).not.toMatch(STACK_TRACE);
    // No example value applied silently: nothing was synthesized.
    expect(existsSync(join(OUT, "NovalaKeyRotation.template.json"))).toBe(false);
  });

  it("refuses a unit-less duration, a secret listed twice and an ambiguous cron, naming each context key", () => {
    const run = synth(
      "secrets=novala/acme,novala/acme",
      "alertEmail=ops@example.com",
      "gracePeriod=24",
      "schedule=cron(0 3 * * SUN *)",
      "rotationWindow=2h",
      "revocationQuietWindow=2d",
      "revocationHardLimit=45m",
      "atRevocationHardLimit=never",
    );
    expect(run.code).toBe(1);
    expect(run.output.match(/the deployment needs its CDK context/g)).toHaveLength(1);
    expect(run.output).toContain("secrets: lists novala/acme more than once");
    expect(run.output).toContain("revocationQuietWindow: must be whole seconds from 1 minute to 1 day, got 2d");
    expect(run.output).toContain("revocationHardLimit: must be whole seconds from 1 hour to 30 days, got 45m");
    expect(run.output).toContain('atRevocationHardLimit: must be "revoke" or "keep", got "never"');
    expect(run.output).toContain('gracePeriod: "24" has no unit: write 24s, 24m, 24h or 24d');
    expect(run.output).toMatch(/schedule: "cron\(0 3 \* \* SUN \*\)" sets both day-of-month \(\*\) and day-of-week/);
    // Context keys, never the construct's TypeScript props.
    expect(run.output).not.toMatch(/scheduleExpression|NovalaKeyRotation: /);
    expect(run.output).not.toMatch(STACK_TRACE);
  });

  it("refuses schedule=30 exactly as the command line refuses --schedule 30, and gracePeriod=24 as --grace 24", () => {
    const run = synth("secrets=novala/acme", "alertEmail=none", "schedule=30", "gracePeriod=24");
    const rotate = cli("rotate", "novala/acme", "--schedule", "30");
    const rollback = cli("rollback", "novala/acme", "--grace", "24");
    const scheduleMessage = '"30" is not a schedule: write "rate(30 days)"';
    const durationMessage = '"24" has no unit: write 24s, 24m, 24h or 24d';
    expect(run.code).toBe(1);
    expect(run.output).toContain(`schedule: ${scheduleMessage}`);
    expect(run.output).toContain(`gracePeriod: ${durationMessage}`);
    expect(rotate.code).toBe(2);
    expect(rotate.stderr).toContain(`argument '30' is invalid. ${scheduleMessage}`);
    expect(rollback.code).toBe(2);
    expect(rollback.stderr).toContain(`argument '24' is invalid. ${durationMessage}`);
  });
});

describe("the construct: duplicate secrets and the manager secret's rotation", () => {
  const stackWith = (props: (stack: Stack) => Partial<NovalaKeyRotationProps>) => {
    const stack = new Stack(new App({ context: { "aws:cdk:bundling-stacks": [] } }), "Rotation");
    const secret = secretsmanager.Secret.fromSecretNameV2(stack, "S", "novala/acme");
    new NovalaKeyRotation(stack, "Keys", { secrets: [secret], ...props(stack) });
    return Template.fromStack(stack);
  };
  const manager = (stack: Stack) => secretsmanager.Secret.fromSecretNameV2(stack, "M", "novala/manager");
  const managerArnPattern = Match.objectLike({
    "Fn::Join": ["", Match.arrayWith([Match.stringLikeRegexp(":secret:novala/manager-\\?{6}$")])],
  });

  it("refuses the same secret listed twice", () => {
    expect(() =>
      stackWith((stack) => ({
        secrets: [
          secretsmanager.Secret.fromSecretNameV2(stack, "A", "novala/acme"),
          secretsmanager.Secret.fromSecretNameV2(stack, "B", "novala/acme"),
        ],
      })),
    ).toThrow(/NovalaKeyRotation: secrets lists the same secret twice \(entries 0 and 1\)/);
    expect(() => stackWith(() => ({ rotateManagerSecret: true }))).toThrow(/rotateManagerSecret needs managerSecret/);
  });

  it("without rotateManagerSecret the rotation function only reads the manager secret", () => {
    const template = stackWith((stack) => ({ managerSecret: manager(stack) }));
    template.resourceCountIs("AWS::SecretsManager::RotationSchedule", 1);
    const writes = Object.values(template.findResources("AWS::IAM::Policy")).flatMap((policy) =>
      (policy.Properties.PolicyDocument.Statement as { Action: string | string[]; Resource: unknown }[]).filter(
        (statement) => [statement.Action].flat().includes("secretsmanager:PutSecretValue"),
      ),
    );
    expect(JSON.stringify(writes)).not.toContain("novala/manager");
  });

  it("with rotateManagerSecret the manager secret gets a rotation schedule and the rights its rotation needs", () => {
    const template = stackWith((stack) => ({ managerSecret: manager(stack), rotateManagerSecret: true }));
    template.resourceCountIs("AWS::SecretsManager::RotationSchedule", 2);
    template.hasResourceProperties("AWS::SecretsManager::RotationSchedule", { SecretId: "novala/manager" });
    template.hasResourceProperties("AWS::IAM::Policy", {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Sid: "RotateListedSecrets",
            Action: Match.arrayWith(["secretsmanager:PutSecretValue", "secretsmanager:UpdateSecretVersionStage"]),
            Resource: Match.arrayWith([managerArnPattern]),
          }),
        ]),
      },
    });
    // Its revocations find its retired versions too.
    template.hasResourceProperties("AWS::IAM::Policy", {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Sid: "FindRetiredVersions", Resource: Match.arrayWith([managerArnPattern]) }),
        ]),
      },
    });
  });

  it("the app's rotateManagerSecret=true context key deploys the same", () => {
    const app = new App({ context: { "aws:cdk:bundling-stacks": [] } });
    const stack = new NovalaRotationStack(app, "App", {
      secrets: ["novala/acme"],
      managerSecret: "novala/manager",
      rotateManagerSecret: true,
    });
    Template.fromStack(stack).resourceCountIs("AWS::SecretsManager::RotationSchedule", 2);
  });
});

describe("context keys the app does not know", () => {
  const node = (context: Record<string, unknown>) => new App({ context }).node;

  it("cdk synth refuses a misspelled key, naming the closest known one, instead of deploying the default", () => {
    const run = synth("secrets=novala/acme", "alertEmail=none", "graceperiod=0s");
    expect(run.code).toBe(1);
    expect(run.output).toContain(
      "graceperiod: is not a context key of this app: did you mean gracePeriod? (-c gracePeriod=24h)",
    );
    expect(run.output).not.toMatch(STACK_TRACE);
    expect(existsSync(join(OUT, "NovalaKeyRotation.template.json"))).toBe(false);
  });

  it("refuses plain unknown words and near misses spelled with - or _; leaves the CDK's own keys alone", () => {
    expect(unknownContextKeys(node({ "grace-period": "1h", GRACE_PERIOD: "1h", secret: "a", timeout: "5m" }))).toEqual([
      "grace-period: is not a context key of this app: did you mean gracePeriod? (-c gracePeriod=24h)",
      "GRACE_PERIOD: is not a context key of this app: did you mean gracePeriod? (-c gracePeriod=24h)",
      "secret: is not a context key of this app: did you mean secrets? (-c secrets=novala/acumatica,novala/billing)",
      expect.stringMatching(
        /^timeout: is not a context key of this app \(the keys: secrets, alertEmail, .*stackName\)$/,
      ),
    ]);
    const cdkOwn = {
      "@aws-cdk/core:newStyleStackSynthesis": true,
      "aws:cdk:bundling-stacks": [],
      "aws-cdk:enableDiffNoFail": true,
      "cli-telemetry": false,
      "acknowledged-issue-numbers": [32775],
      "assets-ecr-repository-name": "assets",
      "availability-zones:account=123456789012:region=eu-west-1": ["eu-west-1a"],
    };
    expect(unknownContextKeys(node(cdkOwn))).toEqual([]);
  });

  it("knows every key docs/deploy.md documents", () => {
    const doc = readFileSync(join(ROOT, "docs/deploy.md"), "utf8");
    const table = doc.slice(doc.indexOf("| context key"), doc.indexOf("\n\n", doc.indexOf("| context key")));
    const firstColumn = table.split("\n").map((row) => row.split("|")[1] ?? "");
    const keys = firstColumn.flatMap((cell) => [...cell.matchAll(/`([A-Za-z]+)`/g)].map(([, key]) => key as string));
    expect(keys).toEqual(expect.arrayContaining(["secrets", "gracePeriod", "account", "region", "stackName"]));
    for (const key of keys) expect(unknownContextKeys(node({ [key]: "x" })), key).toEqual([]);
  });
});

describe("commands that only locate the stack need no context", () => {
  it("cdk list names the stack without any context; cdk synth still stops with the message", () => {
    const list = cdkRun(["list"]);
    expect(list.code, list.output).toBe(0);
    expect(list.output.trim().split("\n")).toContain("NovalaKeyRotation");
    expect(cdkRun(["list", "-c", "stackName=Rotation"]).output).toMatch(/^Rotation$/m);
    const synthRun = synth();
    expect(synthRun.code).toBe(1);
    expect(synthRun.output).toContain("the deployment needs its CDK context");
  });

  it("a wrong or unknown key still stops them: the first command finds the mistake", () => {
    const list = cdkRun(["list", "-c", "graceperiod=0s"]);
    expect(list.code).toBe(1);
    expect(list.output).toContain("did you mean gracePeriod?");
  });
});

/** The project's CDK CLI with the repository's cdk.json and `env` (default: offline, nothing from this machine). */
function cdkRun(args: string[], env: Record<string, string> = {}) {
  const run = spawnSync(process.execPath, ["node_modules/aws-cdk/bin/cdk", ...args, "-o", OUT], {
    cwd: ROOT,
    encoding: "utf8",
    timeout: 180_000,
    env: {
      PATH: process.env.PATH ?? "",
      HOME: process.env.HOME ?? "",
      AWS_CONFIG_FILE: "/dev/null",
      AWS_SHARED_CREDENTIALS_FILE: "/dev/null",
      AWS_EC2_METADATA_DISABLED: "true",
      CDK_DISABLE_VERSION_CHECK: "1",
      CDK_DISABLE_CLI_TELEMETRY: "true",
      CI: "true",
      ...env,
    },
  });
  return { code: run.status, output: `${run.stdout}\n${run.stderr}` };
}

describe.skipIf(skipMoto)(motoSuiteTitle("cdk bootstrap in the project, without the app's context, into moto"), () => {
  let moto: Moto;
  beforeAll(async () => {
    moto = await startMoto();
  });
  afterAll(async () => {
    await moto?.stop();
  });

  /** The CDK CLI against moto (S3 needs a host name, not 127.0.0.1), with credentials and no context at all. */
  const inMoto = (args: string[], region = TEST_REGION) =>
    cdkRun(args, {
      AWS_ENDPOINT_URL: moto.endpoint.replace("127.0.0.1", "localhost"),
      AWS_ACCESS_KEY_ID: TEST_CREDENTIALS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: TEST_CREDENTIALS.secretAccessKey,
      AWS_REGION: region,
      AWS_DEFAULT_REGION: region,
    });

  const toolkitStatus = async (region: string) => {
    const cloudformation = new CloudFormationClient({ endpoint: moto.endpoint, region, credentials: TEST_CREDENTIALS });
    try {
      const out = await cloudformation.send(new DescribeStacksCommand({ StackName: "CDKToolkit" }));
      return out.Stacks?.[0]?.StackStatus;
    } finally {
      cloudformation.destroy();
    }
  };

  it("bootstraps the environment it is named, as docs/deploy.md shows", async () => {
    const run = inMoto(["bootstrap", `aws://${TEST_ACCOUNT_ID}/${TEST_REGION}`]);
    expect(run.code, run.output).toBe(0);
    expect(run.output).not.toContain("the deployment needs its CDK context");
    expect(await toolkitStatus(TEST_REGION)).toBe("CREATE_COMPLETE");
  });

  it("named no environment, bootstraps the stack's: the account of the credentials, the region of the profile", async () => {
    const run = inMoto(["bootstrap"], "eu-west-1");
    expect(run.code, run.output).toBe(0);
    expect(run.output).toContain(`aws://${TEST_ACCOUNT_ID}/eu-west-1`);
    expect(await toolkitStatus("eu-west-1")).toBe("CREATE_COMPLETE");
  });

  it("cdk deploy without the context still stops with the one message, and deploys nothing", async () => {
    const run = inMoto(["deploy", "--require-approval", "never"]);
    expect(run.code).toBe(1);
    expect(run.output.match(/the deployment needs its CDK context/g)).toHaveLength(1);
    const cloudformation = new CloudFormationClient({
      endpoint: moto.endpoint,
      region: TEST_REGION,
      credentials: TEST_CREDENTIALS,
    });
    const stacks = await cloudformation.send(new DescribeStacksCommand({})).finally(() => cloudformation.destroy());
    expect((stacks.Stacks ?? []).map((stack) => stack.StackName)).toEqual(["CDKToolkit"]);
  });
});
