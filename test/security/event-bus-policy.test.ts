/**
 * Events only the rotator can send (issue 19, item 5; docs/security.md T22): by default the construct publishes on a
 * bus of its own whose policy denies `events:PutEvents` of `novala.key-rotation` events to every principal but the two
 * functions' roles (and the roles given as `eventPublishers`). On the account's default bus anyone allowed PutEvents
 * could forge a `Key Rotated` and make consumers act on it. With `eventBus` the construct uses that bus and sets no
 * policy on it (docs/events.md says what its owner must add).
 */
import { App, Stack } from "aws-cdk-lib";
import { Template } from "aws-cdk-lib/assertions";
import * as events from "aws-cdk-lib/aws-events";
import * as iam from "aws-cdk-lib/aws-iam";
import * as secretsmanager from "aws-cdk-lib/aws-secretsmanager";
import { describe, expect, it } from "vitest";
import { ENV, ROTATION_EVENT_SOURCE } from "../../lambdas/contract/environment.js";
import { NovalaKeyRotation, type NovalaKeyRotationProps, NovalaKeyRotationPropsError } from "../../lib/index.js";

const ACCOUNT = "111122223333";
const REGION = "eu-west-1";
const OPERATOR_ROLE = `arn:aws:iam::${ACCOUNT}:role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_Operator_0123456789abcdef`;

interface Resource {
  Type: string;
  Properties: Record<string, unknown>;
}

interface Statement {
  Sid: string;
  Effect: "Allow" | "Deny";
  Principal: unknown;
  Action: string;
  Resource: unknown;
  Condition: Record<string, Record<string, unknown[]>>;
}

function build(extra: (stack: Stack) => Partial<NovalaKeyRotationProps> = () => ({})) {
  // No bundling: the functions' code plays no part in these policies.
  const app = new App({ context: { "aws:cdk:bundling-stacks": [] } });
  const stack = new Stack(app, "BusStack", { env: { account: ACCOUNT, region: REGION } });
  new NovalaKeyRotation(stack, "Rotation", {
    secrets: [secretsmanager.Secret.fromSecretNameV2(stack, "Secret", "novala/acme")],
    ...extra(stack),
  });
  const json = Template.fromStack(stack).toJSON() as { Resources: Record<string, Resource> };
  const of = (type: string) => Object.entries(json.Resources).filter(([, resource]) => resource.Type === type);
  const id = (type: string, hint: string) => of(type).find(([key]) => key.includes(hint))?.[0] as string;
  return { json, of, id };
}

/** The principal ARN IAM sees for a role's session (`aws:PrincipalArn`), for a GetAtt of that role. */
const roleArn = (logicalId: string) => ({ "Fn::GetAtt": [logicalId, "Arn"] });

/**
 * Whether `statement` denies PutEvents by `principalArn` of entries with `sources`: the two condition operators the
 * policy uses, as IAM evaluates them (ForAnyValue: true when any value of the request matches; ArnNotEquals: true when
 * the key matches none of the listed values).
 */
function denies(statement: Statement, principalArn: unknown, sources: string[]): boolean {
  const anySource = (statement.Condition["ForAnyValue:StringEquals"]?.["events:source"] ?? []) as string[];
  const exempt = statement.Condition.ArnNotEquals?.["aws:PrincipalArn"] ?? [];
  const sourceMatches = sources.some((source) => anySource.includes(source));
  const notExempt = !exempt.some((arn) => JSON.stringify(arn) === JSON.stringify(principalArn));
  return statement.Effect === "Deny" && statement.Action === "events:PutEvents" && sourceMatches && notExempt;
}

describe("the construct's own event bus", () => {
  it("is the functions' bus: their environment and their only PutEvents grant name it", () => {
    const { of, id, json } = build();
    expect(of("AWS::Events::EventBus")).toHaveLength(1);
    const bus = id("AWS::Events::EventBus", "RotationEvents");
    expect(json.Resources[bus]?.Properties.Name).toMatch(/^BusStack-Rotation-[0-9A-F]{8}-events$/);
    for (const [, fn] of of("AWS::Lambda::Function")) {
      const variables = (fn.Properties.Environment as { Variables: Record<string, unknown> }).Variables;
      expect(variables[ENV.eventBus]).toEqual({ "Fn::GetAtt": [bus, "Arn"] });
    }
    const grants = of("AWS::IAM::Policy")
      .flatMap(([, policy]) => (policy.Properties.PolicyDocument as { Statement: Record<string, unknown>[] }).Statement)
      .filter((statement) => statement.Action === "events:PutEvents");
    expect(grants).toHaveLength(2);
    for (const grant of grants) {
      expect(grant).toMatchObject({
        Resource: { "Fn::GetAtt": [bus, "Arn"] },
        Condition: { StringEquals: { "events:source": ROTATION_EVENT_SOURCE } },
      });
    }
  });

  it("denies novala.key-rotation events to every principal but the two functions' roles", () => {
    const { json, id, of } = build();
    const bus = json.Resources[id("AWS::Events::EventBus", "RotationEvents")] as Resource;
    const policy = bus.Properties.Policy as { Statement: Statement[] };
    expect(policy.Statement).toHaveLength(1);
    const [statement] = policy.Statement as [Statement];
    expect(statement).toMatchObject({ Effect: "Deny", Principal: { AWS: "*" }, Action: "events:PutEvents" });
    const rotationRole = roleArn(id("AWS::IAM::Role", "RotationRole"));
    const revocationRole = roleArn(id("AWS::IAM::Role", "RevocationRole"));
    expect(statement.Condition.ArnNotEquals?.["aws:PrincipalArn"]).toEqual([rotationRole, revocationRole]);

    // The functions publish; a consumer team, an operator's role, or anyone else allowed PutEvents cannot forge.
    expect(denies(statement, rotationRole, [ROTATION_EVENT_SOURCE])).toBe(false);
    expect(denies(statement, revocationRole, [ROTATION_EVENT_SOURCE])).toBe(false);
    expect(denies(statement, `arn:aws:iam::${ACCOUNT}:role/consumer-team`, [ROTATION_EVENT_SOURCE])).toBe(true);
    expect(denies(statement, OPERATOR_ROLE, [ROTATION_EVENT_SOURCE])).toBe(true);
    // A batch that hides one forged entry among others is denied whole; other sources are the account's business.
    expect(denies(statement, `arn:aws:iam::${ACCOUNT}:role/x`, ["my.app", ROTATION_EVENT_SOURCE])).toBe(true);
    expect(denies(statement, `arn:aws:iam::${ACCOUNT}:role/x`, ["my.app"])).toBe(false);
    // The bus names itself by an ARN built from its name: a reference to itself would be a CloudFormation cycle.
    expect(JSON.stringify(statement.Resource)).toContain(`:event-bus/${bus.Properties.Name}`);
    expect(of("AWS::Events::EventBusPolicy")).toHaveLength(0);
  });

  it("lets the roles given as eventPublishers put them too (an operator's rollback)", () => {
    const { json, id } = build((stack) => ({
      eventPublishers: [iam.Role.fromRoleArn(stack, "Operator", OPERATOR_ROLE)],
    }));
    const bus = json.Resources[id("AWS::Events::EventBus", "RotationEvents")] as Resource;
    const [statement] = (bus.Properties.Policy as { Statement: Statement[] }).Statement as [Statement];
    expect(denies(statement, OPERATOR_ROLE, [ROTATION_EVENT_SOURCE])).toBe(false);
    expect(denies(statement, `arn:aws:iam::${ACCOUNT}:role/consumer-team`, [ROTATION_EVENT_SOURCE])).toBe(true);
  });
});

describe("an existing bus (the eventBus prop)", () => {
  it("is used as it is: no bus and no bus policy of the construct's, the functions publish there only", () => {
    const given = `arn:aws:events:${REGION}:${ACCOUNT}:event-bus/platform`;
    const { of } = build((stack) => ({ eventBus: events.EventBus.fromEventBusArn(stack, "Platform", given) }));
    expect(of("AWS::Events::EventBus")).toHaveLength(0);
    expect(of("AWS::Events::EventBusPolicy")).toHaveLength(0);
    for (const [, fn] of of("AWS::Lambda::Function")) {
      const variables = (fn.Properties.Environment as { Variables: Record<string, unknown> }).Variables;
      expect(variables[ENV.eventBus]).toBe(given);
    }
  });

  it("refuses eventPublishers with it: the construct cannot set another bus's policy", () => {
    const build2 = () =>
      build((stack) => ({
        eventBus: events.EventBus.fromEventBusName(stack, "Platform", "platform"),
        eventPublishers: [iam.Role.fromRoleArn(stack, "Operator", OPERATOR_ROLE)],
      }));
    expect(build2).toThrow(NovalaKeyRotationPropsError);
    expect(build2).toThrow(/^NovalaKeyRotation: eventPublishers applies to the construct's own event bus only/);
  });
});
