/**
 * A deploy that asks (issue 13, items 4 and 5): the app has no example values, so `cdk synth` without its context, or
 * with a wrong value, stops with one message naming the context keys, exit 1, no stack trace; the duration and
 * schedule grammars are one, shared by the context and the command line; and the manager secret can be rotated by a
 * prop (`rotateManagerSecret`, context key of the same name) with the rights its rotation needs.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { App, Stack } from "aws-cdk-lib";
import { Match, Template } from "aws-cdk-lib/assertions";
import * as secretsmanager from "aws-cdk-lib/aws-secretsmanager";
import { afterAll, describe, expect, it } from "vitest";
import { NovalaKeyRotation, type NovalaKeyRotationProps } from "../../lib/novala-key-rotation.js";
import { NovalaRotationStack } from "../../lib/novala-rotation-stack.js";

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
  return { code: run.status, output: `${run.stdout}\n${run.stderr}` };
}

function cli(...args: string[]) {
  const run = spawnSync(process.execPath, ["bin/novala-rotation.js", ...args], {
    cwd: ROOT,
    encoding: "utf8",
    timeout: 60_000,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, AWS_REGION: "us-east-1" },
  });
  return { code: run.status, stderr: run.stderr };
}

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
