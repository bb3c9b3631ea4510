import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { App, Duration, Stack, Validations } from "aws-cdk-lib";
import { Match, Template } from "aws-cdk-lib/assertions";
import * as ec2 from "aws-cdk-lib/aws-ec2";
import * as kms from "aws-cdk-lib/aws-kms";
import * as lambda from "aws-cdk-lib/aws-lambda";
import * as logs from "aws-cdk-lib/aws-logs";
import * as secretsmanager from "aws-cdk-lib/aws-secretsmanager";
import * as sns from "aws-cdk-lib/aws-sns";
import { AwsSolutionsChecks } from "cdk-nag";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DEFAULT_ALLOWED_HOSTS } from "../../lambdas/contract/allowed-hosts.js";
import {
  readNovalaClientConfig,
  readRevocationConfig,
  readRotationConfig,
} from "../../lambdas/contract/configuration.js";
import { DEPLOYMENT_TAG, FUNCTION_TAG, parseDeploymentMark } from "../../lambdas/contract/deployment-mark.js";
import {
  ENV,
  OVERDUE_CHECK,
  parseAllowedHosts,
  revocationEnvironment,
  rotationEnvironment,
  SECONDS,
} from "../../lambdas/contract/environment.js";
import type { NovalaKeyRotationProps } from "../../lib/construct/props.js";
import { AtRevocationHardLimit, NovalaKeyRotationPropsError } from "../../lib/index.js";
import { NovalaKeyRotation } from "../../lib/novala-key-rotation.js";
import { NovalaRotationStack, stackPropsFromContext } from "../../lib/novala-rotation-stack.js";
import { nonBuiltinImports, OPTIONAL_SDK_MODULES } from "../support/bundle-imports.js";

/**
 * Template tests of the NovalaKeyRotation construct. Two apps are synthesized once each (with both functions' pre-built
 * code from dist/lambdas, which the test set-up builds, and cdk-nag's AwsSolutions checks): one with every default,
 * one with every option. The validation tests synthesize nothing.
 */

const ACCOUNT = "111122223333";
const REGION = "eu-west-1";
const FULL_ARN = `arn:aws:secretsmanager:${REGION}:${ACCOUNT}:secret:novala/beta-AbCdEf`;
const MANAGER_ARN = `arn:aws:secretsmanager:${REGION}:${ACCOUNT}:secret:novala/manager-XyZ123`;
const KEY_ARN = `arn:aws:kms:${REGION}:${ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab`;
const TOPIC_ARN = `arn:aws:sns:${REGION}:${ACCOUNT}:platform-alerts`;

interface Synthesized {
  template: Template;
  json: { Resources: Record<string, { Type: string; Properties?: Record<string, unknown>; DependsOn?: string[] }> };
  outdir: string;
  nagError?: string;
  rotation: NovalaKeyRotation;
  stack: Stack;
}

const outdirs: string[] = [];
type Env = Record<string, unknown>;

function synthesize(
  build: (stack: Stack) => NovalaKeyRotation,
  env?: { account: string; region: string },
): Synthesized {
  const outdir = mkdtempSync(join(tmpdir(), "novala-cdk-"));
  outdirs.push(outdir);
  // Asset metadata (the CLI turns it on) tells the bundle test where each function's code went.
  const app = new App({ outdir, context: { "aws:cdk:enable-asset-metadata": true } });
  const stack = new Stack(app, "TestStack", env ? { env } : {});
  const rotation = build(stack);
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  let nagError: string | undefined;
  try {
    app.synth();
  } catch (error) {
    // A cdk-nag violation fails synthesis after the template is written; the test below reports it.
    nagError = `${(error as Error).message}\n${readFileSync(join(outdir, "validation-report.json"), "utf8")}`;
  }
  const json = JSON.parse(readFileSync(join(outdir, "TestStack.template.json"), "utf8"));
  return { template: Template.fromJSON(json), json, outdir, rotation, stack, ...(nagError && { nagError }) };
}

let defaults: Synthesized;
let custom: Synthesized;

beforeAll(() => {
  defaults = synthesize(
    (stack) =>
      new NovalaKeyRotation(stack, "Rotation", {
        secrets: [
          secretsmanager.Secret.fromSecretNameV2(stack, "ByName", "novala/acme"),
          secretsmanager.Secret.fromSecretCompleteArn(stack, "ByArn", FULL_ARN),
        ],
      }),
  );
  custom = synthesize(
    (stack) => {
      const key = kms.Key.fromKeyArn(stack, "SecretsKey", KEY_ARN);
      const vpc = new ec2.Vpc(stack, "Vpc", { maxAzs: 2, natGateways: 1, restrictDefaultSecurityGroup: false });
      Validations.of(vpc).acknowledge({
        id: "AwsSolutions::AwsSolutions-VPC7",
        reason: "Test fixture VPC: flow logs are the owning platform team's concern, not the construct's.",
      });
      return new NovalaKeyRotation(stack, "Rotation", {
        secrets: [secretsmanager.Secret.fromSecretAttributes(stack, "Acme", { secretCompleteArn: FULL_ARN })],
        managerSecret: secretsmanager.Secret.fromSecretAttributes(stack, "Manager", {
          secretCompleteArn: MANAGER_ARN,
          encryptionKey: key,
        }),
        encryptionKey: key,
        scheduleExpression: "cron(0 4 ? * MON *)",
        rotationWindow: Duration.hours(3),
        rotateImmediatelyOnUpdate: true,
        gracePeriod: Duration.seconds(0),
        allowedHosts: ["acme.novala.ai", "*.novala.eu"],
        healthCheckDeadline: Duration.seconds(120),
        novalaRetryBudget: Duration.seconds(90),
        alertTopic: sns.Topic.fromTopicArn(stack, "Alerts", TOPIC_ARN),
        alertEmail: "ops@example.com",
        vpc,
        logRetention: logs.RetentionDays.THREE_MONTHS,
        memorySize: 512,
        timeout: Duration.minutes(10),
        novalaRateBudget: 12.5,
        rotationConcurrency: 25,
        revocationQuietWindow: Duration.minutes(30),
        revocationHardLimit: Duration.days(2),
        atRevocationHardLimit: AtRevocationHardLimit.KEEP,
      });
    },
    { account: ACCOUNT, region: REGION },
  );
});

afterAll(() => {
  for (const dir of outdirs) rmSync(dir, { recursive: true, force: true });
});

/** The logical id of the one resource of `type` whose id contains `hint`. */
function logicalId(s: Synthesized, type: string, hint: string): string {
  const ids = Object.entries(s.json.Resources)
    .filter(([id, resource]) => resource.Type === type && id.includes(hint))
    .map(([id]) => id);
  expect(ids, `${type} ~ ${hint}`).toHaveLength(1);
  return ids[0] as string;
}

const getAtt = (id: string) => ({ "Fn::GetAtt": [id, "Arn"] });

/** The name of the revocation schedule group: by default `<stack name>-revocations`. */
function groupName(s: Synthesized): string {
  const id = logicalId(s, "AWS::Scheduler::ScheduleGroup", "RevocationSchedules");
  const name = s.json.Resources[id]?.Properties?.Name;
  expect(name).toBe("TestStack-revocations");
  return name as string;
}

/** The name of the daily overdue check's rule, which the rotation function reads its list of secrets from. */
function overdueRuleName(s: Synthesized): string {
  const name = s.json.Resources[logicalId(s, "AWS::Events::Rule", "OverdueCheckRule")]?.Properties?.Name;
  expect(name).toMatch(/^TestStack-Rotation-[0-9A-F]{8}-overdue-check$/);
  return name as string;
}

/** An ARN of the env-agnostic stack: `arn:${Partition}:${service}:${Region}:${AccountId}:${resource}`. */
const agnosticArn = (service: string, resource: string) => ({
  "Fn::Join": [
    "",
    [
      "arn:",
      { Ref: "AWS::Partition" },
      `:${service}:`,
      { Ref: "AWS::Region" },
      ":",
      { Ref: "AWS::AccountId" },
      `:${resource}`,
    ],
  ],
});

/** An ARN as the env-agnostic stack writes it for a secret named `name`, with Secrets Manager's suffix. */
const secretNameArn = (suffix: string) => agnosticArn("secretsmanager", `secret:novala/acme${suffix}`);

/** The statements of the DefaultPolicy attached to the role whose logical id contains `hint`. */
function statementsOf(s: Synthesized, hint: string): Record<string, unknown>[] {
  const id = logicalId(s, "AWS::IAM::Policy", `${hint}DefaultPolicy`);
  const document = s.json.Resources[id]?.Properties?.PolicyDocument as { Statement: Record<string, unknown>[] };
  return document.Statement;
}

describe("with the defaults", () => {
  it("puts a rotation schedule of rate(30 days), without a window, on each secret, not rotating on deploy", () => {
    const rotationFn = logicalId(defaults, "AWS::Lambda::Function", "RotationFunction");
    defaults.template.resourceCountIs("AWS::SecretsManager::RotationSchedule", 2);
    for (const secretId of ["novala/acme", FULL_ARN]) {
      defaults.template.hasResourceProperties("AWS::SecretsManager::RotationSchedule", {
        SecretId: secretId,
        RotationLambdaARN: getAtt(rotationFn),
        RotateImmediatelyOnUpdate: false,
        RotationRules: { ScheduleExpression: "rate(30 days)", Duration: Match.absent() },
        HostedRotationLambda: Match.absent(),
      });
    }
    // Secrets Manager tests the configuration as soon as the schedule exists: permission and policy first.
    const schedule = Object.values(defaults.json.Resources).find(
      (r) => r.Type === "AWS::SecretsManager::RotationSchedule",
    );
    expect(schedule?.DependsOn).toEqual(
      expect.arrayContaining([
        logicalId(defaults, "AWS::Lambda::Permission", "SecretsManagerInvoke"),
        logicalId(defaults, "AWS::IAM::Policy", "RotationRoleDefaultPolicy"),
      ]),
    );
  });

  it("lets Secrets Manager invoke the rotation function for this account only (SourceAccount)", () => {
    // The other permission is the overdue check rule's (see the alarms).
    defaults.template.resourceCountIs("AWS::Lambda::Permission", 2);
    defaults.template.hasResourceProperties("AWS::Lambda::Permission", {
      Action: "lambda:InvokeFunction",
      Principal: "secretsmanager.amazonaws.com",
      FunctionName: getAtt(logicalId(defaults, "AWS::Lambda::Function", "RotationFunction")),
      SourceAccount: { Ref: "AWS::AccountId" },
    });
  });

  it("builds both functions on nodejs24.x, arm64, with the defaults and the Lambdas' environment", () => {
    const revocationFn = logicalId(defaults, "AWS::Lambda::Function", "RevocationFunction");
    const common = {
      NOVALA_ALLOWED_HOSTS: "*.novala.ai",
      NOVALA_CONNECT_TIMEOUT_SECONDS: "5",
      NOVALA_REQUEST_TIMEOUT_SECONDS: "10",
      NOVALA_RETRY_BUDGET_SECONDS: "60",
      // The rate budget's default, shared by the two secrets' rotations.
      NOVALA_RATE_BUDGET_PER_SECOND: "20",
      ROTATION_CONCURRENCY: "2",
      POWERTOOLS_SERVICE_NAME: "novala-rotation",
      POWERTOOLS_METRICS_NAMESPACE: "NovalaKeyRotation",
      NODE_OPTIONS: "--enable-source-maps",
      // Both functions carry the usage rule: the revocation function applies it, the CLI reads the rotation's.
      REVOCATION_QUIET_WINDOW_SECONDS: "3600",
      REVOCATION_HARD_LIMIT_SECONDS: "604800",
      REVOCATION_AT_HARD_LIMIT: "revoke",
    };
    const target = {
      REVOCATION_SCHEDULE_GROUP: groupName(defaults),
      REVOCATION_SCHEDULER_ROLE_ARN: getAtt(logicalId(defaults, "AWS::IAM::Role", "SchedulerRole")),
      REVOCATION_DEAD_LETTER_QUEUE_ARN: getAtt(logicalId(defaults, "AWS::SQS::Queue", "RevocationDeadLetters")),
      // The construct's own bus, on which only these two functions may put rotation events.
      ROTATION_EVENT_BUS: getAtt(logicalId(defaults, "AWS::Events::EventBus", "RotationEvents")),
      // No managerSecret: a value that names a manager secret is refused.
      MANAGER_SECRET_ARN: "none",
    };
    const base = {
      Runtime: "nodejs24.x",
      Architectures: ["arm64"],
      Handler: "index.handler",
      Timeout: 300,
      MemorySize: 256,
    };
    defaults.template.hasResourceProperties("AWS::Lambda::Function", {
      ...base,
      Environment: {
        Variables: {
          ...common,
          ...target,
          HEALTH_CHECK_DEADLINE_SECONDS: "60",
          REVOCATION_GRACE_SECONDS: "86400",
          REVOCATION_FUNCTION_ARN: getAtt(revocationFn),
          OVERDUE_CHECK_RULE: overdueRuleName(defaults),
        },
      },
      VpcConfig: Match.absent(),
      // Nothing reserved unless rotationConcurrency is given: a throttled step would wait a whole schedule period.
      ReservedConcurrentExecutions: Match.absent(),
    });
    defaults.template.hasResourceProperties("AWS::Lambda::Function", {
      ...base,
      // Its own ARN comes from its invocation's context: in its environment it would be a CloudFormation cycle.
      Environment: { Variables: { ...common, ...target } },
      DeadLetterConfig: { TargetArn: getAtt(logicalId(defaults, "AWS::SQS::Queue", "RevocationDeadLetters")) },
    });
    defaults.template.resourceCountIs("AWS::Lambda::Function", 2);
  });

  it("writes the environment through the contract, which the Lambdas' own reader accepts as written", () => {
    const rotationFn = logicalId(defaults, "AWS::Lambda::Function", "RotationFunction");
    const resource = defaults.json.Resources[rotationFn] as unknown as {
      Properties: { Environment: { Variables: Env } };
    };
    const environment = resource.Properties.Environment.Variables;
    const busArn = "arn:aws:events:eu-west-1:111122223333:event-bus/TestStack-Rotation-events";
    const arns: Record<string, string> = {
      RevocationFunction: "arn:aws:lambda:eu-west-1:111122223333:function:revocation",
      SchedulerRole: "arn:aws:iam::111122223333:role/scheduler",
      RevocationDeadLetters: "arn:aws:sqs:eu-west-1:111122223333:dead-letters",
      RotationEvents: busArn,
    };
    // Deploy-time values (GetAtt) stand in as the ARNs CloudFormation would write.
    const resolved = Object.fromEntries(
      Object.entries(environment).map(([name, value]) => {
        if (typeof value === "string") return [name, value];
        const target = JSON.stringify(value);
        const hint = Object.keys(arns).find((key) => target.includes(key));
        expect(hint, `${name}: ${target}`).toBeDefined();
        return [name, arns[hint as string]];
      }),
    );
    expect(resolved).toEqual({
      ...rotationEnvironment({
        allowedHosts: [DEFAULT_ALLOWED_HOSTS],
        rotationConcurrency: 2,
        scheduleGroup: groupName(defaults),
        revocationFunctionArn: arns.RevocationFunction as string,
        schedulerRoleArn: arns.SchedulerRole as string,
        deadLetterQueueArn: arns.RevocationDeadLetters as string,
        eventBus: busArn,
        managerSecretArn: "none",
        overdueCheckRule: overdueRuleName(defaults),
      }),
      NODE_OPTIONS: "--enable-source-maps",
    });
    const config = readRotationConfig(resolved);
    expect(config).toMatchObject({
      graceSeconds: SECONDS.gracePeriod.defaultSeconds,
      healthCheckDeadlineMs: SECONDS.healthCheckDeadline.defaultSeconds * 1000,
      eventBus: busArn,
      managerSecretArn: null,
      overdueCheckRule: overdueRuleName(defaults),
      revocation: {
        scheduleGroup: "TestStack-revocations",
        functionArn: arns.RevocationFunction,
        schedulerRoleArn: arns.SchedulerRole,
        deadLetterQueueArn: arns.RevocationDeadLetters,
      },
    });
    // The bus is the construct's own.
    expect(environment[ENV.eventBus]).toEqual(getAtt(logicalId(defaults, "AWS::Events::EventBus", "RotationEvents")));
    expect(config.usage).toEqual({ quietWindowMs: 3600_000, hardLimitMs: 604_800_000, atHardLimit: "revoke" });

    // The revocation function's: the same target and rule, its own ARN from the invocation's context.
    const revocationFn = logicalId(defaults, "AWS::Lambda::Function", "RevocationFunction");
    const revocationVariables = (
      defaults.json.Resources[revocationFn] as unknown as { Properties: { Environment: { Variables: Env } } }
    ).Properties.Environment.Variables;
    const revocationResolved = Object.fromEntries(
      Object.entries(revocationVariables).map(([name, value]) => [name, resolved[name] ?? value]),
    ) as Record<string, string>;
    expect(revocationResolved).toEqual({
      ...revocationEnvironment({
        allowedHosts: [DEFAULT_ALLOWED_HOSTS],
        rotationConcurrency: 2,
        scheduleGroup: groupName(defaults),
        schedulerRoleArn: arns.SchedulerRole as string,
        deadLetterQueueArn: arns.RevocationDeadLetters as string,
        eventBus: busArn,
        managerSecretArn: "none",
      }),
      NODE_OPTIONS: "--enable-source-maps",
    });
    expect(readRevocationConfig(revocationResolved, `${arns.RevocationFunction}:live`)).toMatchObject({
      usage: config.usage,
      // Scheduler's role may invoke the unqualified function only: a qualifier in the context ARN is dropped.
      revocation: { ...config.revocation, functionArn: arns.RevocationFunction },
      eventBus: config.eventBus,
      managerSecretArn: null,
    });
  });

  it("outputs the schedule group, both functions, the alert topic and the event bus from the app's stack", () => {
    const app = new App({ context: { "aws:cdk:bundling-stacks": [] } });
    const stack = new NovalaRotationStack(app, "Platform", { secrets: ["novala/acme"] });
    const outputs = Template.fromStack(stack).toJSON().Outputs as Record<string, { Value: unknown }>;
    const id = (type: string, hint: string) =>
      Object.entries(Template.fromStack(stack).findResources(type)).find(([key]) => key.includes(hint))?.[0] as string;
    expect(outputs.ScheduleGroupName?.Value).toBe("Platform-revocations");
    expect(outputs.RotationFunctionArn?.Value).toEqual(getAtt(id("AWS::Lambda::Function", "RotationFunction")));
    expect(outputs.RevocationFunctionArn?.Value).toEqual(getAtt(id("AWS::Lambda::Function", "RevocationFunction")));
    expect(outputs.AlertTopicArn?.Value).toEqual({ Ref: id("AWS::SNS::Topic", "AlertTopic") });
    expect(outputs.EventBusArn?.Value).toEqual(getAtt(id("AWS::Events::EventBus", "RotationEvents")));
    expect(outputs.EventBusName?.Value).toEqual({ Ref: id("AWS::Events::EventBus", "RotationEvents") });
    expect(outputs.DashboardName?.Value).toEqual({ Ref: id("AWS::CloudWatch::Dashboard", "Dashboard") });
    const named = new NovalaRotationStack(new App({ context: { "aws:cdk:bundling-stacks": [] } }), "Named", {
      secrets: ["novala/acme"],
      scheduleGroupName: "platform.novala-revocations",
    });
    expect(Template.fromStack(named).toJSON().Outputs.ScheduleGroupName.Value).toBe("platform.novala-revocations");
  });

  it("deploys each function's pre-bundled ES module and source map, with undici and the AWS SDK inside", () => {
    const deployed = new Map<string, string>();
    for (const [id, resource] of Object.entries(defaults.json.Resources)) {
      if (resource.Type !== "AWS::Lambda::Function") continue;
      const assetPath = (resource as { Metadata?: Record<string, string> }).Metadata?.["aws:asset:path"];
      expect(assetPath).toBeTruthy();
      const dir = join(defaults.outdir, assetPath as string);
      expect(readdirSync(dir).sort()).toEqual(["index.mjs", "index.mjs.map"]);
      deployed.set(id.includes("Revocation") ? "revocation" : "rotation", readFileSync(join(dir, "index.mjs"), "utf8"));
    }
    for (const name of ["rotation", "revocation"]) {
      const code = deployed.get(name) ?? "";
      // The package's build output, as it is: no bundling at synth.
      expect(code).toBe(readFileSync(join("dist", "lambdas", name, "index.mjs"), "utf8"));
      expect(code.startsWith("import { createRequire as __novalaCreateRequire }")).toBe(true);
      expect(nonBuiltinImports(code, OPTIONAL_SDK_MODULES)).toEqual([]);
      expect(code).toContain("SecretsManagerClient");
    }
  });

  it("runs on the Node.js runtime the app chooses, and only on Node.js 20 or later", () => {
    const stack = new Stack(new App(), "RuntimeChoice");
    const secret = secretsmanager.Secret.fromSecretNameV2(stack, "S", "novala/acme");
    new NovalaKeyRotation(stack, "Rotation", { secrets: [secret], runtime: lambda.Runtime.NODEJS_22_X });
    const runtimes = Object.values(Template.fromStack(stack).findResources("AWS::Lambda::Function")).map(
      (resource) => (resource as { Properties: { Runtime: string } }).Properties.Runtime,
    );
    expect(runtimes).toEqual(["nodejs22.x", "nodejs22.x"]);
    for (const runtime of [lambda.Runtime.NODEJS_18_X, lambda.Runtime.PYTHON_3_13]) {
      const other = new Stack(new App(), "WrongRuntime");
      const imported = secretsmanager.Secret.fromSecretNameV2(other, "S", "novala/acme");
      expect(() => new NovalaKeyRotation(other, "Rotation", { secrets: [imported], runtime })).toThrow(
        `NovalaKeyRotation: runtime must be a Node.js runtime, nodejs20.x or later, got "${runtime.name}"`,
      );
    }
  });

  it("lets the rotation role touch only the listed secrets, its own schedule group and the scheduler role", () => {
    const statements = statementsOf(defaults, "RotationRole");
    expect(statements).toHaveLength(8);
    expect(statements).toEqual(
      expect.arrayContaining([
        {
          Sid: "RecordOutcomeTagsOnListedSecrets",
          Effect: "Allow",
          Action: "secretsmanager:TagResource",
          Resource: [secretNameArn("-??????"), FULL_ARN],
          Condition: {
            "ForAllValues:StringEquals": {
              "aws:TagKeys": [
                "novala-rotation:last-outcome",
                "novala-rotation:last-reason",
                "novala-rotation:creating",
                "novala-rotation:tested",
              ],
            },
            Null: { "aws:TagKeys": "false" },
          },
        },
        {
          Sid: "RotateListedSecrets",
          Effect: "Allow",
          Action: [
            "secretsmanager:DescribeSecret",
            "secretsmanager:GetSecretValue",
            "secretsmanager:ListSecretVersionIds",
            "secretsmanager:PutSecretValue",
            "secretsmanager:UpdateSecretVersionStage",
          ],
          Resource: [secretNameArn("-??????"), FULL_ARN],
        },
        {
          Sid: "CreateRevocationSchedulesInOwnGroup",
          Effect: "Allow",
          Action: "scheduler:CreateSchedule",
          Resource: agnosticArn("scheduler", `schedule/${groupName(defaults)}/*`),
        },
        {
          // The overdue check reads the deployment's secrets from its own rule's target.
          Sid: "ReadOverdueCheckRule",
          Effect: "Allow",
          Action: "events:ListTargetsByRule",
          Resource: agnosticArn("events", `rule/${overdueRuleName(defaults)}`),
        },
        {
          // ListSchedules has no resource-level permission: IAM checks it against every schedule of the account.
          Sid: "FindRevocationSchedules",
          Effect: "Allow",
          Action: "scheduler:ListSchedules",
          Resource: agnosticArn("scheduler", "schedule/*/*"),
        },
        {
          Sid: "PassSchedulerRoleOnly",
          Effect: "Allow",
          Action: "iam:PassRole",
          Resource: getAtt(logicalId(defaults, "AWS::IAM::Role", "SchedulerRole")),
          Condition: { StringEquals: { "iam:PassedToService": "scheduler.amazonaws.com" } },
        },
        {
          Sid: "PublishRotationEvents",
          Effect: "Allow",
          Action: "events:PutEvents",
          Resource: getAtt(logicalId(defaults, "AWS::Events::EventBus", "RotationEvents")),
          Condition: { StringEquals: { "events:source": "novala.key-rotation" } },
        },
        {
          Effect: "Allow",
          Action: ["logs:CreateLogStream", "logs:PutLogEvents"],
          Resource: getAtt(logicalId(defaults, "AWS::Logs::LogGroup", "RotationFunctionLogs")),
        },
      ]),
    );
    // No managed policies: logging is granted on the function's own log group above.
    defaults.template.hasResourceProperties("AWS::IAM::Role", {
      AssumeRolePolicyDocument: Match.objectLike({
        Statement: [Match.objectLike({ Principal: { Service: "lambda.amazonaws.com" } })],
      }),
      ManagedPolicyArns: Match.absent(),
    });
  });

  it("lets the revocation role read the listed secrets, postpone in its own group, publish, log, dead-letter", () => {
    const statements = statementsOf(defaults, "RevocationRole");
    expect(statements).toHaveLength(7);
    expect(statements).toEqual(
      expect.arrayContaining([
        {
          Sid: "PostponeRevocationsInOwnGroup",
          Effect: "Allow",
          Action: "scheduler:CreateSchedule",
          Resource: agnosticArn("scheduler", `schedule/${groupName(defaults)}/*`),
        },
        {
          Sid: "PassSchedulerRoleOnly",
          Effect: "Allow",
          Action: "iam:PassRole",
          Resource: getAtt(logicalId(defaults, "AWS::IAM::Role", "SchedulerRole")),
          Condition: { StringEquals: { "iam:PassedToService": "scheduler.amazonaws.com" } },
        },
        {
          Sid: "PublishRotationEvents",
          Effect: "Allow",
          Action: "events:PutEvents",
          Resource: getAtt(logicalId(defaults, "AWS::Events::EventBus", "RotationEvents")),
          Condition: { StringEquals: { "events:source": "novala.key-rotation" } },
        },
        {
          Sid: "ReadListedAndManagerSecrets",
          Effect: "Allow",
          Action: ["secretsmanager:DescribeSecret", "secretsmanager:GetSecretValue"],
          Resource: [secretNameArn("-??????"), FULL_ARN],
        },
        {
          Sid: "FindRetiredVersions",
          Effect: "Allow",
          Action: "secretsmanager:ListSecretVersionIds",
          Resource: [secretNameArn("-??????"), FULL_ARN],
        },
        {
          Effect: "Allow",
          Action: "sqs:SendMessage",
          Resource: getAtt(logicalId(defaults, "AWS::SQS::Queue", "RevocationDeadLetters")),
        },
        {
          Effect: "Allow",
          Action: ["logs:CreateLogStream", "logs:PutLogEvents"],
          Resource: getAtt(logicalId(defaults, "AWS::Logs::LogGroup", "RevocationFunctionLogs")),
        },
      ]),
    );
  });

  it("lets Scheduler's role invoke only the revocation function, for this account's schedule group", () => {
    expect(statementsOf(defaults, "SchedulerRole")).toEqual([
      {
        Sid: "SendUndeliveredRevocations",
        Effect: "Allow",
        Action: "sqs:SendMessage",
        Resource: getAtt(logicalId(defaults, "AWS::SQS::Queue", "RevocationDeadLetters")),
      },
      {
        Sid: "InvokeRevocationFunctionOnly",
        Effect: "Allow",
        Action: "lambda:InvokeFunction",
        Resource: getAtt(logicalId(defaults, "AWS::Lambda::Function", "RevocationFunction")),
      },
    ]);
    defaults.template.hasResourceProperties("AWS::IAM::Role", {
      AssumeRolePolicyDocument: {
        Statement: [
          {
            Action: "sts:AssumeRole",
            Effect: "Allow",
            Principal: { Service: "scheduler.amazonaws.com" },
            Condition: {
              StringEquals: { "aws:SourceAccount": { Ref: "AWS::AccountId" } },
              ArnLike: {
                "aws:SourceArn": agnosticArn("scheduler", `schedule-group/${groupName(defaults)}`),
              },
            },
          },
        ],
      },
    });
  });

  it("never grants an action on every resource", () => {
    for (const resource of Object.values(defaults.json.Resources).filter((r) => r.Type === "AWS::IAM::Policy")) {
      const document = resource.Properties?.PolicyDocument as { Statement: { Resource: unknown }[] };
      for (const statement of document.Statement) expect(statement.Resource).not.toEqual("*");
    }
  });

  it("alerts on RotationFailed and RotationAbandoned of these secrets through an EventBridge rule", () => {
    defaults.template.resourceCountIs("AWS::Events::Rule", 2);
    defaults.template.hasResourceProperties("AWS::Events::Rule", {
      State: "ENABLED",
      EventPattern: {
        source: ["aws.secretsmanager"],
        "detail-type": ["AWS Service Event via CloudTrail"],
        detail: {
          eventSource: ["secretsmanager.amazonaws.com"],
          eventName: ["RotationFailed", "RotationAbandoned"],
          additionalEventData: { SecretId: [{ prefix: secretNameArn("-") }, FULL_ARN] },
        },
      },
      Targets: [Match.objectLike({ Arn: { Ref: logicalId(defaults, "AWS::SNS::Topic", "AlertTopic") } })],
    });
  });

  it("sends every alarm to one new, KMS-encrypted, TLS-only topic", () => {
    const topic = logicalId(defaults, "AWS::SNS::Topic", "AlertTopic");
    const key = logicalId(defaults, "AWS::KMS::Key", "AlertTopicKey");
    defaults.template.hasResourceProperties("AWS::SNS::Topic", { KmsMasterKeyId: getAtt(key) });
    defaults.template.hasResourceProperties("AWS::KMS::Key", {
      EnableKeyRotation: true,
      KeyPolicy: {
        Statement: Match.arrayWith([
          Match.objectLike({ Principal: { Service: "cloudwatch.amazonaws.com" } }),
          Match.objectLike({ Principal: { Service: "events.amazonaws.com" } }),
        ]),
      },
    });
    defaults.template.hasResourceProperties("AWS::SNS::TopicPolicy", {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Effect: "Deny", Condition: { Bool: { "aws:SecureTransport": "false" } } }),
        ]),
      },
    });
    defaults.template.resourceCountIs("AWS::SNS::Subscription", 0);

    defaults.template.resourceCountIs("AWS::CloudWatch::Alarm", 11);
    const alarms = defaults.template.findResources("AWS::CloudWatch::Alarm");
    for (const alarm of Object.values(alarms)) {
      expect(alarm.Properties.AlarmActions).toEqual([{ Ref: topic }]);
      expect(alarm.Properties).toMatchObject({
        Threshold: 1,
        ComparisonOperator: "GreaterThanOrEqualToThreshold",
        TreatMissingData: "notBreaching",
        Period: alarm.Properties.MetricName === "RotationsOverdue" ? 86_400 : 300,
      });
    }
    const rotationFn = logicalId(defaults, "AWS::Lambda::Function", "RotationFunction");
    const revocationFn = logicalId(defaults, "AWS::Lambda::Function", "RevocationFunction");
    for (const fn of [rotationFn, revocationFn]) {
      defaults.template.hasResourceProperties("AWS::CloudWatch::Alarm", {
        Namespace: "AWS/Lambda",
        MetricName: "Errors",
        Dimensions: [{ Name: "FunctionName", Value: { Ref: fn } }],
      });
    }
    const customAlarms = [
      "RotationsEnded",
      "RevocationsRefused",
      "KeyClaimsRefused",
      "PromotionsRefused",
      "RevocationsFailed",
      "RotationEventsFailed",
    ];
    for (const metricName of customAlarms) {
      defaults.template.hasResourceProperties("AWS::CloudWatch::Alarm", {
        Namespace: "NovalaKeyRotation",
        MetricName: metricName,
        Statistic: "Sum",
        Dimensions: [{ Name: "service", Value: "novala-rotation" }],
      });
    }
    defaults.template.hasResourceProperties("AWS::CloudWatch::Alarm", {
      Namespace: "AWS/SQS",
      MetricName: "ApproximateNumberOfMessagesVisible",
      Dimensions: [
        {
          Name: "QueueName",
          Value: { "Fn::GetAtt": [logicalId(defaults, "AWS::SQS::Queue", "DeadLetters"), "QueueName"] },
        },
      ],
    });
  });

  it("alarms when a retired key still in use reaches its hard limit (the revocation function's count)", () => {
    const alarm = logicalId(defaults, "AWS::CloudWatch::Alarm", "RevocationHardLimitReached");
    defaults.template.hasResourceProperties("AWS::CloudWatch::Alarm", {
      Namespace: "NovalaKeyRotation",
      MetricName: "RevocationHardLimitReached",
      Statistic: "Sum",
      Period: 300,
      Threshold: 1,
      EvaluationPeriods: 1,
      Dimensions: [{ Name: "service", Value: "novala-rotation" }],
      AlarmActions: [{ Ref: logicalId(defaults, "AWS::SNS::Topic", "AlertTopic") }],
      AlarmDescription: Match.stringLikeRegexp("still used a retired Novala key when its hard limit came"),
    });
    expect(defaults.rotation.alarms.RevocationHardLimitReached).toBeDefined();
    expect(alarm).toContain("RevocationHardLimitReached");
  });

  it("checks daily for overdue rotations with the rotation function, and alarms on the count it publishes", () => {
    const rotationFn = logicalId(defaults, "AWS::Lambda::Function", "RotationFunction");
    const rule = logicalId(defaults, "AWS::Events::Rule", "OverdueCheckRule");
    defaults.template.hasResourceProperties("AWS::Events::Rule", {
      ScheduleExpression: "rate(1 day)",
      Targets: [
        Match.objectLike({
          Arn: getAtt(rotationFn),
          Input: JSON.stringify({ check: OVERDUE_CHECK, secretIds: ["novala/acme", FULL_ARN] }),
        }),
      ],
    });
    // Only this rule may invoke the function with the check (besides Secrets Manager).
    defaults.template.hasResourceProperties("AWS::Lambda::Permission", {
      Principal: "events.amazonaws.com",
      FunctionName: getAtt(rotationFn),
      SourceArn: getAtt(rule),
    });
    // One day: the check runs once a day, and no alarm can look further back than 7 days anyway.
    defaults.template.hasResourceProperties("AWS::CloudWatch::Alarm", {
      Namespace: "NovalaKeyRotation",
      MetricName: "RotationsOverdue",
      Statistic: "Maximum",
      Period: 86_400,
      EvaluationPeriods: 1,
      Dimensions: [{ Name: "service", Value: "novala-rotation" }],
    });
  });

  it("creates the schedule group, an encrypted dead-letter queue and log groups kept for a year", () => {
    defaults.template.resourceCountIs("AWS::Scheduler::ScheduleGroup", 1);
    defaults.template.hasResourceProperties("AWS::SQS::Queue", {
      SqsManagedSseEnabled: true,
      MessageRetentionPeriod: 14 * 24 * 3600,
    });
    defaults.template.resourceCountIs("AWS::Logs::LogGroup", 2);
    defaults.template.allResourcesProperties("AWS::Logs::LogGroup", { RetentionInDays: 365 });
  });

  it("passes cdk-nag's AwsSolutions checks with no unacknowledged finding", () => {
    expect(defaults.nagError).toBeUndefined();
    const report = JSON.parse(readFileSync(join(defaults.outdir, "validation-report.json"), "utf8"));
    const acknowledged = report.pluginReports.flatMap((plugin: { suppressedViolations?: unknown[] }) =>
      (plugin.suppressedViolations ?? []).map((v) => (v as { ruleName: string; reason: string }).ruleName),
    );
    // The schedules of the construct's own group, for the two roles that create them, and ListSchedules, which IAM
    // checks against every schedule of the account (it has no resource-level permission).
    const ownGroup = /^AwsSolutions-IAM5\[Resource::arn:.*:schedule\/TestStack-revocations\/\*\]$/;
    expect(acknowledged.sort()).toEqual([
      expect.stringMatching(/^AwsSolutions-IAM5\[Resource::arn:.*:schedule\/\*\/\*\]$/),
      expect.stringMatching(ownGroup),
      expect.stringMatching(ownGroup),
    ]);
  });
});

describe("the deployment's mark and manager", () => {
  it("tags both functions with the deployment's mark: the stack and the construct's path, and which function", () => {
    const tagsOf = (hint: string) =>
      defaults.json.Resources[logicalId(defaults, "AWS::Lambda::Function", hint)]?.Properties?.Tags;
    expect(tagsOf("RotationFunction")).toEqual([
      { Key: DEPLOYMENT_TAG, Value: "TestStack/Rotation" },
      { Key: FUNCTION_TAG, Value: "rotation" },
    ]);
    expect(tagsOf("RevocationFunction")).toEqual([
      { Key: DEPLOYMENT_TAG, Value: "TestStack/Rotation" },
      { Key: FUNCTION_TAG, Value: "revocation" },
    ]);
    expect(parseDeploymentMark("TestStack/Rotation")).toEqual({ stackName: "TestStack", constructPath: "Rotation" });
    // Nothing else of the construct carries the mark: it names the two functions only.
    const marked = Object.values(defaults.json.Resources).filter((resource) =>
      JSON.stringify(resource.Properties?.Tags ?? []).includes(DEPLOYMENT_TAG),
    );
    expect(marked.map((resource) => resource.Type)).toEqual(["AWS::Lambda::Function", "AWS::Lambda::Function"]);
  });

  it("gives both functions the deployment's manager secret: its full ARN, or none", () => {
    for (const fn of Object.values(custom.template.findResources("AWS::Lambda::Function"))) {
      expect(fn.Properties.Environment.Variables[ENV.managerSecret]).toBe(MANAGER_ARN);
    }
    for (const fn of Object.values(defaults.template.findResources("AWS::Lambda::Function"))) {
      expect(fn.Properties.Environment.Variables[ENV.managerSecret]).toBe("none");
    }
    // Known by name only (the app imports secrets by name): the partial ARN, which a value's name or ARN matches.
    const stack = new Stack(new App({ context: { "aws:cdk:bundling-stacks": [] } }), "ByName");
    new NovalaKeyRotation(stack, "Rotation", {
      secrets: [secretsmanager.Secret.fromSecretNameV2(stack, "S", "novala/acme")],
      managerSecret: secretsmanager.Secret.fromSecretNameV2(stack, "M", "novala/manager"),
    });
    for (const fn of Object.values(Template.fromStack(stack).findResources("AWS::Lambda::Function"))) {
      expect(fn.Properties.Environment.Variables[ENV.managerSecret]).toEqual(
        agnosticArn("secretsmanager", "secret:novala/manager"),
      );
    }
  });
});

describe("with every option", () => {
  it("uses the cron() expression and its window, and may rotate on update when asked", () => {
    custom.template.hasResourceProperties("AWS::SecretsManager::RotationSchedule", {
      SecretId: FULL_ARN,
      RotateImmediatelyOnUpdate: true,
      RotationRules: { ScheduleExpression: "cron(0 4 ? * MON *)", Duration: "3h" },
    });
  });

  it("passes the settings to the functions", () => {
    custom.template.hasResourceProperties("AWS::Lambda::Function", {
      Timeout: 600,
      MemorySize: 512,
      Environment: {
        Variables: Match.objectLike({
          NOVALA_ALLOWED_HOSTS: "acme.novala.ai,*.novala.eu",
          NOVALA_RETRY_BUDGET_SECONDS: "90",
          HEALTH_CHECK_DEADLINE_SECONDS: "120",
          REVOCATION_GRACE_SECONDS: "0",
          NOVALA_RATE_BUDGET_PER_SECOND: "12.5",
          ROTATION_CONCURRENCY: "25",
          REVOCATION_QUIET_WINDOW_SECONDS: "1800",
          REVOCATION_HARD_LIMIT_SECONDS: "172800",
          REVOCATION_AT_HARD_LIMIT: "keep",
        }),
      },
      ReservedConcurrentExecutions: 25,
      VpcConfig: { SubnetIds: Match.anyValue(), SecurityGroupIds: Match.anyValue() },
    });
    custom.template.hasResourceProperties("AWS::Lambda::Function", {
      Environment: {
        Variables: Match.objectLike({
          REVOCATION_QUIET_WINDOW_SECONDS: "1800",
          REVOCATION_HARD_LIMIT_SECONDS: "172800",
          REVOCATION_AT_HARD_LIMIT: "keep",
          REVOCATION_GRACE_SECONDS: Match.absent(),
        }),
      },
    });
    custom.template.allResourcesProperties("AWS::Logs::LogGroup", { RetentionInDays: 90 });
  });

  it("reads the manager secret only, and uses the KMS key only through Secrets Manager", () => {
    // secretsmanager.<region>.<URL suffix>: amazonaws.com, or amazonaws.com.cn in the China partition.
    const viaSecretsManager = {
      StringEquals: {
        "kms:ViaService": { "Fn::Join": ["", [`secretsmanager.${REGION}.`, { Ref: "AWS::URLSuffix" }]] },
      },
    };
    expect(statementsOf(custom, "RotationRole")).toEqual(
      expect.arrayContaining([
        {
          Sid: "RotateListedSecrets",
          Effect: "Allow",
          Action: [
            "secretsmanager:DescribeSecret",
            "secretsmanager:GetSecretValue",
            "secretsmanager:ListSecretVersionIds",
            "secretsmanager:PutSecretValue",
            "secretsmanager:UpdateSecretVersionStage",
          ],
          Resource: FULL_ARN,
        },
        { Sid: "ReadManagerSecret", Effect: "Allow", Action: "secretsmanager:GetSecretValue", Resource: MANAGER_ARN },
        {
          Sid: "UseSecretsKeyThroughSecretsManager",
          Effect: "Allow",
          Action: ["kms:Decrypt", "kms:GenerateDataKey"],
          Resource: KEY_ARN,
          Condition: viaSecretsManager,
        },
      ]),
    );
    expect(statementsOf(custom, "RevocationRole")).toEqual(
      expect.arrayContaining([
        {
          Sid: "ReadListedAndManagerSecrets",
          Effect: "Allow",
          Action: ["secretsmanager:DescribeSecret", "secretsmanager:GetSecretValue"],
          Resource: [FULL_ARN, MANAGER_ARN],
        },
        {
          Sid: "DecryptSecretsThroughSecretsManager",
          Effect: "Allow",
          Action: "kms:Decrypt",
          Resource: KEY_ARN,
          Condition: viaSecretsManager,
        },
      ]),
    );
  });

  it("alerts to the given topic, subscribes the e-mail address, and makes no topic of its own", () => {
    custom.template.resourceCountIs("AWS::SNS::Topic", 0);
    custom.template.resourceCountIs("AWS::KMS::Key", 0);
    custom.template.hasResourceProperties("AWS::SNS::Subscription", {
      Protocol: "email",
      Endpoint: "ops@example.com",
      TopicArn: TOPIC_ARN,
    });
    for (const alarm of Object.values(custom.template.findResources("AWS::CloudWatch::Alarm"))) {
      expect(alarm.Properties.AlarmActions).toEqual([TOPIC_ARN]);
    }
    custom.template.hasResourceProperties("AWS::Events::Rule", { Targets: [Match.objectLike({ Arn: TOPIC_ARN })] });
  });

  it("passes cdk-nag's AwsSolutions checks in a VPC too", () => {
    expect(custom.nagError).toBeUndefined();
  });
});

describe("rejects wrong props at synth, naming the prop", () => {
  const build = (props: Partial<NovalaKeyRotationProps>) => () => {
    const stack = new Stack(new App(), "Validation");
    const secret = secretsmanager.Secret.fromSecretNameV2(stack, "S", "novala/acme");
    return new NovalaKeyRotation(stack, "Rotation", { secrets: [secret], ...props });
  };

  it.each([
    ["an empty list of secrets", { secrets: [] }, /secrets must list at least one secret/],
    [
      "a grace period above 7 days",
      { gracePeriod: Duration.days(8) },
      /gracePeriod must be whole seconds from 0 to 7 days/,
    ],
    ["a grace period in fractions of a second", { gracePeriod: Duration.millis(1500) }, /gracePeriod/],
    ["a cron schedule without a window", { scheduleExpression: "cron(0 4 * * ? *)" }, /rotationWindow is required/],
    [
      "a window that is not whole hours",
      { rotationWindow: Duration.minutes(90) },
      /rotationWindow must be whole hours/,
    ],
    ["a window above 24 hours", { rotationWindow: Duration.hours(25) }, /rotationWindow must be whole hours/],
    ["a schedule that is neither rate() nor cron()", { scheduleExpression: "every day" }, /scheduleExpression must be/],
    ["a rate below 4 hours", { scheduleExpression: "rate(2 hours)" }, /scheduleExpression must rotate every 4 hours/],
    [
      "a timeout shorter than the health-check deadline",
      { timeout: Duration.seconds(30), healthCheckDeadline: Duration.seconds(60) },
      /timeout \(30 seconds\) is shorter than healthCheckDeadline \(1 minute\)/,
    ],
    [
      "a timeout that leaves no room for the rollback's retries",
      { timeout: Duration.seconds(100), healthCheckDeadline: Duration.seconds(60) },
      /timeout .* must cover healthCheckDeadline plus novalaRetryBudget \(120 seconds\)/,
    ],
    ["a timeout above Lambda's limit", { timeout: Duration.minutes(16) }, /timeout must be at most 15 minutes/],
    [
      "a health-check deadline above 840 s",
      { healthCheckDeadline: Duration.minutes(15) },
      /healthCheckDeadline must be/,
    ],
    ["no allowed host", { allowedHosts: [] }, /allowedHosts must list at least one host pattern/],
    [
      "a URL as an allowed host",
      { allowedHosts: ["https://acme.novala.ai/"] },
      /allowedHosts entry "https:\/\/acme.novala.ai\/" is not a host pattern/,
    ],
    ["two patterns in one entry", { allowedHosts: ["a.novala.ai,b.novala.ai"] }, /allowedHosts entry .* one per entry/],
    ["a schedule group name Scheduler rejects", { scheduleGroupName: "novala revocations" }, /scheduleGroupName must/],
    ["a malformed e-mail address", { alertEmail: "ops" }, /alertEmail must be an e-mail address/],
    ["a memory size out of range", { memorySize: 64 }, /memorySize must be/],
    ["a rate budget of 0", { novalaRateBudget: 0 }, /novalaRateBudget must be a number of requests per second/],
    [
      "a quiet window below a minute",
      { revocationQuietWindow: Duration.seconds(30) },
      /revocationQuietWindow must be whole seconds from 1 minute to 1 day, got 30 seconds/,
    ],
    [
      "a quiet window above a day",
      { revocationQuietWindow: Duration.hours(25) },
      /revocationQuietWindow must be whole seconds from 1 minute to 1 day, got 1 day 1 hour/,
    ],
    [
      "a quiet window in fractions of a second",
      { revocationQuietWindow: Duration.millis(90_500) },
      /revocationQuietWindow must be whole seconds/,
    ],
    [
      "a hard limit below an hour",
      { revocationHardLimit: Duration.minutes(30) },
      /revocationHardLimit must be whole seconds from 1 hour to 30 days, got 30 minutes/,
    ],
    [
      "a hard limit above 30 days",
      { revocationHardLimit: Duration.days(31) },
      /revocationHardLimit must be whole seconds from 1 hour to 30 days, got 31 days/,
    ],
    [
      "a hard limit shorter than the grace period",
      { revocationHardLimit: Duration.hours(12), gracePeriod: Duration.hours(24) },
      /revocationHardLimit \(12 hours\) must not be shorter than gracePeriod \(1 day\)/,
    ],
    [
      "an action at the hard limit that is neither revoke nor keep",
      { atRevocationHardLimit: "wait" },
      /atRevocationHardLimit must be "revoke" or "keep", got "wait"/,
    ],
    [
      "a concurrency below 10",
      { rotationConcurrency: 5 },
      /rotationConcurrency must be a whole number from 10 to 1000 .*got 5/,
    ],
  ])("%s", (_name, props, message) => {
    expect(build(props as Partial<NovalaKeyRotationProps>)).toThrow(message);
    expect(build(props as Partial<NovalaKeyRotationProps>)).toThrow(/^NovalaKeyRotation: /);
    // The construct's own validation error, naming its path in the tree as the CDK's ValidationError would.
    expect(build(props as Partial<NovalaKeyRotationProps>)).toThrow(NovalaKeyRotationPropsError);
    expect(build(props as Partial<NovalaKeyRotationProps>)).toThrow(/ \(construct Validation\/Rotation\)$/);
  });

  it("accepts every host pattern the Lambdas accept, and rejects what they reject", () => {
    for (const host of ["*.novala.ai", "acme.novala.ai:8443", "127.0.0.1", "[::1]:8443", "::1", "fd00::1"]) {
      expect(() => parseAllowedHosts(host)).not.toThrow();
      expect(build({ allowedHosts: [host] })).not.toThrow();
    }
    for (const host of ["https://acme.novala.ai", "acme.novala.ai/path", "*", "a b"]) {
      expect(() => readNovalaClientConfig({ [ENV.allowedHosts]: host })).toThrow(/is not a host pattern/);
      expect(build({ allowedHosts: [host] })).toThrow(/is not a host pattern/);
    }
  });

  it("two constructs in one stack with the same schedule group", () => {
    const stack = new Stack(new App({ context: { "aws:cdk:bundling-stacks": [] } }), "Twice");
    const secrets = [secretsmanager.Secret.fromSecretNameV2(stack, "S", "novala/acme")];
    new NovalaKeyRotation(stack, "One", { secrets });
    expect(() => new NovalaKeyRotation(stack, "Two", { secrets })).toThrow(
      /scheduleGroupName "Twice-revocations" is already used by another NovalaKeyRotation/,
    );
    expect(() => new NovalaKeyRotation(stack, "Three", { secrets, scheduleGroupName: "Twice-more" })).not.toThrow();
  });

  it("names the construct's path and the prop in the error it throws", () => {
    const error = (() => {
      try {
        build({ memorySize: 64 })();
      } catch (caught) {
        return caught;
      }
    })() as NovalaKeyRotationPropsError;
    expect(error).toMatchObject({ constructPath: "Validation/Rotation", prop: "memorySize" });
  });

  it("subnets or security groups without a VPC", () => {
    expect(build({ vpcSubnets: { subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS } })).toThrow(/vpcSubnets needs vpc/);
  });

  it("accepts the limits: grace 0 and 7 days, a 24-hour window, timeout equal to deadline plus budget", () => {
    for (const props of [
      { gracePeriod: Duration.seconds(0) },
      { gracePeriod: Duration.days(7) },
      { scheduleExpression: "cron(0 4 ? * MON *)", rotationWindow: Duration.hours(24) },
      { timeout: Duration.seconds(120) },
      { scheduleExpression: "rate(4 hours)" },
      { revocationQuietWindow: Duration.minutes(1) },
      { revocationQuietWindow: Duration.hours(24) },
      { revocationHardLimit: Duration.days(30) },
      { revocationHardLimit: Duration.hours(1), gracePeriod: Duration.hours(1) },
      { gracePeriod: Duration.days(7), revocationHardLimit: Duration.days(7) },
    ]) {
      expect(build(props)).not.toThrow();
    }
  });
});

describe("the app's context", () => {
  const node = (context: Record<string, unknown>) => new App({ context }).node;
  const required = { alertEmail: "none" };

  it("requires the secrets and the alert e-mail, and reads lists as arrays or comma-separated strings", () => {
    expect(() => stackPropsFromContext(node({}))).toThrow(/-c secrets=.*\n.*-c alertEmail=/);
    expect(stackPropsFromContext(node({ ...required, secrets: "novala/a, novala/b" })).secrets).toEqual([
      "novala/a",
      "novala/b",
    ]);
    expect(
      stackPropsFromContext(node({ ...required, secrets: ["novala/a"], allowedHosts: "acme.novala.ai,*.novala.eu" }))
        .allowedHosts,
    ).toEqual(["acme.novala.ai", "*.novala.eu"]);
    expect(stackPropsFromContext(node({ ...required, secrets: "novala/a" })).alertEmail).toBeUndefined();
  });

  it("reads schedule, window, grace period, e-mail and the rotate-on-update flag", () => {
    const props = stackPropsFromContext(
      node({
        secrets: ["novala/a"],
        schedule: "cron(0 4 ? * MON *)",
        rotationWindow: "2h",
        gracePeriod: "0s",
        alertEmail: "ops@example.com",
        rotateImmediatelyOnUpdate: "false",
        managerSecret: "novala/manager",
        rotateManagerSecret: "true",
      }),
    );
    expect(props).toMatchObject({
      scheduleExpression: "cron(0 4 ? * MON *)",
      alertEmail: "ops@example.com",
      rotateImmediatelyOnUpdate: false,
      managerSecret: "novala/manager",
      rotateManagerSecret: true,
    });
    expect(props.rotationWindow?.toHours()).toBe(2);
    expect(props.gracePeriod?.toSeconds()).toBe(0);
  });

  it("reads the quiet window, the hard limit and what happens at it, and names a bad one's key", () => {
    const read = (context: Record<string, unknown>) =>
      stackPropsFromContext(node({ ...required, secrets: "novala/a", ...context }));
    const props = read({ revocationQuietWindow: "30m", revocationHardLimit: "14d", atRevocationHardLimit: "keep" });
    expect(props.revocationQuietWindow?.toSeconds()).toBe(1800);
    expect(props.revocationHardLimit?.toSeconds()).toBe(14 * 86_400);
    expect(props.atRevocationHardLimit).toBe("keep");
    expect(read({})).not.toHaveProperty("revocationQuietWindow");
    expect(() => read({ revocationQuietWindow: "30s" })).toThrow(
      /revocationQuietWindow: must be whole seconds from 1 minute to 1 day, got 30s \(example: -c revocationQuietWindow=1h\)/,
    );
    expect(() => read({ revocationHardLimit: "31d" })).toThrow(
      /revocationHardLimit: must be whole seconds from 1 hour to 30 days, got 31d/,
    );
    expect(() => read({ revocationHardLimit: "2h", gracePeriod: "3h" })).toThrow(
      /revocationHardLimit: \(7200 s\) must not be shorter than gracePeriod \(10800 s\)/,
    );
    expect(() => read({ atRevocationHardLimit: "later" })).toThrow(
      /atRevocationHardLimit: must be "revoke" or "keep", got "later"/,
    );
  });

  it("parses durations with their unit and names the key of a bad one", () => {
    const grace = (gracePeriod: unknown) =>
      stackPropsFromContext(node({ ...required, secrets: "novala/a", gracePeriod })).gracePeriod?.toSeconds();
    expect(grace("24h")).toBe(86_400);
    expect(grace("7d")).toBe(604_800);
    expect(grace("90m")).toBe(5400);
    expect(grace("3600s")).toBe(3600);
    expect(() => grace("24")).toThrow(/gracePeriod: "24" has no unit: write 24s, 24m, 24h or 24d/);
    expect(() => grace(3600)).toThrow(/gracePeriod: "3600" has no unit/);
    expect(() => grace("one day")).toThrow(/gracePeriod: expected a duration/);
  });
});
