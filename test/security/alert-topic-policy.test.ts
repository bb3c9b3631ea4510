/**
 * Confused deputy on the alert topic (issue 9, item 9): every AWS service admitted to the alert topic or its KMS key
 * may act only for this account (aws:SourceAccount) and only for this construct's own sources (aws:SourceArn): the
 * RotationFailed rule for EventBridge, the construct's alarms for CloudWatch. Without them, any rule or alarm of any
 * account could publish forged alerts into the topic (or use the key).
 */
import { App, Stack } from "aws-cdk-lib";
import { Template } from "aws-cdk-lib/assertions";
import * as cloudwatch from "aws-cdk-lib/aws-cloudwatch";
import * as kms from "aws-cdk-lib/aws-kms";
import * as secretsmanager from "aws-cdk-lib/aws-secretsmanager";
import * as sns from "aws-cdk-lib/aws-sns";
import { describe, expect, it } from "vitest";
import type { NovalaKeyRotationProps } from "../../lib/construct/props.js";
import { NovalaKeyRotation } from "../../lib/novala-key-rotation.js";

const ACCOUNT = "111122223333";
const REGION = "eu-west-1";

interface Statement {
  Sid?: string;
  Effect: string;
  Principal?: unknown;
  Action: string | string[];
  Condition?: Record<string, Record<string, unknown>>;
}

interface Resource {
  Type: string;
  Properties: Record<string, unknown>;
}

function build(
  extra: (stack: Stack) => Partial<NovalaKeyRotationProps> = () => ({}),
  after?: (rotation: NovalaKeyRotation) => void,
) {
  // No bundling: the functions' code plays no part in these policies.
  const app = new App({ context: { "aws:cdk:bundling-stacks": [] } });
  const stack = new Stack(app, "AlertStack", { env: { account: ACCOUNT, region: REGION } });
  const rotation = new NovalaKeyRotation(stack, "Rotation", {
    secrets: [secretsmanager.Secret.fromSecretNameV2(stack, "Secret", "novala/acme")],
    ...extra(stack),
  });
  after?.(rotation);
  const json = Template.fromStack(stack).toJSON() as { Resources: Record<string, Resource> };
  return { json, resources: Object.values(json.Resources) };
}

function ofType(resources: Resource[], type: string): Resource[] {
  return resources.filter((resource) => resource.Type === type);
}

/** The statements of every key policy and topic policy that admit an AWS service. */
function serviceStatements(resources: Resource[]): { where: string; service: string; statement: Statement }[] {
  const documents = [
    ...ofType(resources, "AWS::KMS::Key").map((key) => ({ where: "key policy", doc: key.Properties.KeyPolicy })),
    ...ofType(resources, "AWS::SNS::TopicPolicy").map((policy) => ({
      where: "topic policy",
      doc: policy.Properties.PolicyDocument,
    })),
  ];
  return documents.flatMap(({ where, doc }) =>
    (doc as { Statement: Statement[] }).Statement.flatMap((statement) => {
      const service = (statement.Principal as { Service?: string } | undefined)?.Service;
      return service ? [{ where, service, statement }] : [];
    }),
  );
}

/** An ARN as CloudFormation will resolve it in the aws partition (Fn::Join over literals and AWS::Partition). */
function arn(value: unknown): string {
  if (typeof value === "string") return value;
  const join = (value as { "Fn::Join"?: [string, unknown[]] })["Fn::Join"];
  if (join) return join[1].map(arn).join(join[0]);
  if ((value as { Ref?: string }).Ref === "AWS::Partition") return "aws";
  throw new Error(`not an ARN this test resolves: ${JSON.stringify(value)}`);
}

function sourceArns(statement: Statement): unknown[] {
  const value = statement.Condition?.ArnEquals?.["aws:SourceArn"];
  return Array.isArray(value) ? value : [value];
}

describe("the alert topic and its key admit AWS services only for this account and this construct's sources", () => {
  it("conditions every service principal on the topic and its key on aws:SourceAccount and aws:SourceArn", () => {
    const { resources } = build();
    const statements = serviceStatements(resources);
    // The key and the topic each admit both services: nothing is lost by the conditions.
    expect(statements.map(({ where, service }) => `${where} ${service}`).sort()).toEqual([
      "key policy cloudwatch.amazonaws.com",
      "key policy events.amazonaws.com",
      "topic policy cloudwatch.amazonaws.com",
      "topic policy events.amazonaws.com",
    ]);
    for (const { statement } of statements) {
      expect(statement.Effect).toBe("Allow");
      expect(statement.Condition?.StringEquals).toEqual({ "aws:SourceAccount": ACCOUNT });
      expect(statement.Condition?.ArnEquals?.["aws:SourceArn"]).toBeDefined();
    }
  });

  it("lets EventBridge in only for the RotationFailed rule, named so the key can name it", () => {
    const { resources } = build();
    const [rule] = ofType(resources, "AWS::Events::Rule");
    const ruleName = String(rule?.Properties.Name);
    expect(ruleName).toMatch(/^AlertStack-Rotation-[0-9A-F]{8}-rotation-failed$/);
    expect(ruleName.length).toBeLessThanOrEqual(64);
    for (const { statement } of serviceStatements(resources).filter((s) => s.service === "events.amazonaws.com")) {
      expect(sourceArns(statement).map(arn)).toEqual([`arn:aws:events:${REGION}:${ACCOUNT}:rule/${ruleName}`]);
    }
  });

  it("lets CloudWatch in only for the construct's own alarms, each by its ARN", () => {
    const { resources } = build();
    const alarmNames = ofType(resources, "AWS::CloudWatch::Alarm").map((alarm) => String(alarm.Properties.AlarmName));
    expect(alarmNames).toHaveLength(11);
    for (const name of alarmNames) expect(name).toMatch(/^AlertStack-Rotation-[0-9A-F]{8}-\w+$/);
    for (const { statement } of serviceStatements(resources).filter((s) => s.service === "cloudwatch.amazonaws.com")) {
      expect(sourceArns(statement).map(arn).sort()).toEqual(
        alarmNames.map((name) => `arn:aws:cloudwatch:${REGION}:${ACCOUNT}:alarm:${name}`).sort(),
      );
    }
  });

  it("conditions EventBridge's grant on a topic the caller brings, and on that topic's key", () => {
    const { resources } = build((stack) => ({
      alertTopic: new sns.Topic(stack, "PlatformAlerts", { masterKey: new kms.Key(stack, "PlatformKey") }),
    }));
    const statements = serviceStatements(resources);
    expect(statements.map(({ where, service }) => `${where} ${service}`).sort()).toEqual([
      "key policy events.amazonaws.com",
      "topic policy events.amazonaws.com",
    ]);
    for (const { statement } of statements) {
      expect(statement.Condition?.StringEquals).toEqual({ "aws:SourceAccount": ACCOUNT });
      expect(sourceArns(statement).map(arn)).toEqual([
        expect.stringMatching(new RegExp(`^arn:aws:events:${REGION}:${ACCOUNT}:rule/AlertStack-Rotation-`)),
      ]);
    }
  });

  it("refuses to synthesize an alarm added some other way, whose name the key policy would not allow", () => {
    expect(() =>
      build(undefined, (rotation) => {
        new cloudwatch.Alarm(rotation, "ExtraAlarm", {
          metric: rotation.rotationFunction.metricThrottles(),
          threshold: 1,
          evaluationPeriods: 1,
        });
      }),
    ).toThrow(/alarm AlertStack\/Rotation\/ExtraAlarm was not made by the alarm helper/);
  });
});
