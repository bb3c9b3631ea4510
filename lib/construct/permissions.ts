/**
 * Least privilege: the role EventBridge Scheduler assumes, what each function's role may do, who may invoke the
 * rotation function, and the cdk-nag findings this design accepts (each with its reason).
 */
import { ArnFormat, Names, Stack, Validations } from "aws-cdk-lib";
import * as events from "aws-cdk-lib/aws-events";
import * as iam from "aws-cdk-lib/aws-iam";
import type * as kms from "aws-cdk-lib/aws-kms";
import * as lambda from "aws-cdk-lib/aws-lambda";
import type * as secretsmanager from "aws-cdk-lib/aws-secretsmanager";
import type * as sqs from "aws-cdk-lib/aws-sqs";
import type { Construct } from "constructs";
import { ROTATION_EVENT_SOURCE } from "../../lambdas/contract/environment.js";
import { OUTCOME_TAG_KEYS } from "../../lambdas/contract/rotation-outcome.js";
import type { NovalaKeyRotationProps, Settings } from "./props.js";

/**
 * The role EventBridge Scheduler assumes: invoke the revocation function (granted by {@link allowSchedulerToInvoke},
 * once the function exists: its environment names this role), send what it cannot deliver to the queue.
 */
export function createSchedulerRole(scope: Construct, groupName: string, deadLetterQueue: sqs.IQueue): iam.Role {
  const stack = Stack.of(scope);
  const role = new iam.Role(scope, "SchedulerRole", {
    description: "Assumed by EventBridge Scheduler to invoke the Novala key revocation function",
    assumedBy: new iam.ServicePrincipal("scheduler.amazonaws.com", {
      conditions: {
        StringEquals: { "aws:SourceAccount": stack.account },
        ArnLike: {
          "aws:SourceArn": stack.formatArn({
            service: "scheduler",
            resource: "schedule-group",
            resourceName: groupName,
            arnFormat: ArnFormat.SLASH_RESOURCE_NAME,
          }),
        },
      },
    }),
  });
  role.addToPrincipalPolicy(
    new iam.PolicyStatement({
      sid: "SendUndeliveredRevocations",
      actions: ["sqs:SendMessage"],
      resources: [deadLetterQueue.queueArn],
    }),
  );
  return role;
}

/** The scheduler role may invoke the revocation function, and nothing else. */
export function allowSchedulerToInvoke(schedulerRole: iam.Role, revocationFunction: lambda.IFunction): void {
  schedulerRole.addToPrincipalPolicy(
    new iam.PolicyStatement({
      sid: "InvokeRevocationFunctionOnly",
      actions: ["lambda:InvokeFunction"],
      resources: [revocationFunction.functionArn],
    }),
  );
}

export interface Grants {
  props: NovalaKeyRotationProps;
  settings: Settings;
  rotationRole: iam.Role;
  revocationRole: iam.Role;
  schedulerRole: iam.Role;
  scheduleArnsInGroup: string;
  eventBus: events.IEventBus;
  /** The daily overdue check's rule, whose target lists the deployment's secrets. */
  overdueCheckRuleName: string;
}

/** What each function's role may do: the listed secrets, their keys through Secrets Manager, its own schedules. */
export function grantFunctionRights(
  scope: Construct,
  {
    props,
    settings,
    rotationRole,
    revocationRole,
    schedulerRole,
    scheduleArnsInGroup,
    eventBus,
    overdueCheckRuleName,
  }: Grants,
): void {
  const stack = Stack.of(scope);
  const secretKeys = collectKeys(props, settings.secrets);
  const rotatedArns = settings.secrets.map(policyArn);
  const managerArns = props.managerSecret ? [policyArn(props.managerSecret)] : [];
  const viaSecretsManager = { "kms:ViaService": `secretsmanager.${stack.region}.${stack.urlSuffix}` };

  rotationRole.addToPrincipalPolicy(
    new iam.PolicyStatement({
      sid: "RotateListedSecrets",
      actions: [
        "secretsmanager:DescribeSecret",
        "secretsmanager:GetSecretValue",
        // createSecret finds the versions of abandoned rotations, whose keys it revokes.
        "secretsmanager:ListSecretVersionIds",
        "secretsmanager:PutSecretValue",
        "secretsmanager:UpdateSecretVersionStage",
      ],
      resources: rotatedArns,
    }),
  );
  rotationRole.addToPrincipalPolicy(
    new iam.PolicyStatement({
      sid: "RecordOutcomeTagsOnListedSecrets",
      // The last rotation's outcome, for `novala-rotation status`: these two tag keys only, never another tag.
      actions: ["secretsmanager:TagResource"],
      resources: rotatedArns,
      conditions: {
        "ForAllValues:StringEquals": { "aws:TagKeys": [...OUTCOME_TAG_KEYS] },
        Null: { "aws:TagKeys": "false" },
      },
    }),
  );
  if (managerArns.length > 0) {
    const readManager = new iam.PolicyStatement({
      sid: "ReadManagerSecret",
      actions: ["secretsmanager:GetSecretValue"],
      resources: managerArns,
    });
    rotationRole.addToPrincipalPolicy(readManager);
  }
  if (secretKeys.rotated.length > 0) {
    rotationRole.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: "UseSecretsKeyThroughSecretsManager",
        actions: ["kms:Decrypt", "kms:GenerateDataKey"],
        resources: secretKeys.rotated.map((key) => key.keyArn),
        conditions: { StringEquals: viaSecretsManager },
      }),
    );
  }
  const decryptOnly = [...new Set([...secretKeys.rotated, ...secretKeys.manager])];
  if (secretKeys.manager.some((key) => !secretKeys.rotated.includes(key))) {
    rotationRole.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: "DecryptManagerSecret",
        actions: ["kms:Decrypt"],
        resources: secretKeys.manager.map((key) => key.keyArn),
        conditions: { StringEquals: viaSecretsManager },
      }),
    );
  }
  // Both functions schedule revocations: finishSecret after the grace period, the revocation function when it
  // postpones one. Each may create schedules in its own group only, pass the scheduler role only, and publish its
  // events on the bus only.
  for (const [role, purpose] of [
    [rotationRole, "CreateRevocationSchedulesInOwnGroup"],
    [revocationRole, "PostponeRevocationsInOwnGroup"],
  ] as const) {
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: purpose,
        actions: ["scheduler:CreateSchedule"],
        resources: [scheduleArnsInGroup],
      }),
    );
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: "PublishRotationEvents",
        actions: ["events:PutEvents"],
        resources: [eventBus.eventBusArn],
        // Only events in the rotation's own source, so the role cannot impersonate another service on the bus.
        conditions: { StringEquals: { "events:source": ROTATION_EVENT_SOURCE } },
      }),
    );
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: "PassSchedulerRoleOnly",
        actions: ["iam:PassRole"],
        resources: [schedulerRole.roleArn],
        conditions: { StringEquals: { "iam:PassedToService": "scheduler.amazonaws.com" } },
      }),
    );
  }
  rotationRole.addToPrincipalPolicy(
    new iam.PolicyStatement({
      sid: "FindRevocationSchedules",
      // createSecret leaves a key alone, and finishSecret does not retire it again, while its revocation is still
      // scheduled or postponed: ListSchedules by the key's schedule-name prefix in the group. ListSchedules has no
      // resource-level permission: IAM evaluates it against every schedule of the account and region.
      actions: ["scheduler:ListSchedules"],
      resources: [schedulesOfAccount(scope)],
    }),
  );

  rotationRole.addToPrincipalPolicy(
    new iam.PolicyStatement({
      sid: "ReadOverdueCheckRule",
      // The overdue check covers the secrets its own rule lists, whatever an invocation's event says.
      actions: ["events:ListTargetsByRule"],
      resources: [
        stack.formatArn({
          service: "events",
          resource: "rule",
          resourceName: overdueCheckRuleName,
          arnFormat: ArnFormat.SLASH_RESOURCE_NAME,
        }),
      ],
    }),
  );

  revocationRole.addToPrincipalPolicy(
    new iam.PolicyStatement({
      sid: "ReadListedAndManagerSecrets",
      actions: ["secretsmanager:DescribeSecret", "secretsmanager:GetSecretValue"],
      resources: [...new Set([...rotatedArns, ...managerArns])],
    }),
  );
  // The key to revoke must be held by a retired version of its secret: rotations back to back leave it unlabelled.
  revocationRole.addToPrincipalPolicy(
    new iam.PolicyStatement({
      sid: "FindRetiredVersions",
      actions: ["secretsmanager:ListSecretVersionIds"],
      resources: rotatedArns,
    }),
  );
  if (decryptOnly.length > 0) {
    revocationRole.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: "DecryptSecretsThroughSecretsManager",
        actions: ["kms:Decrypt"],
        resources: decryptOnly.map((key) => key.keyArn),
        conditions: { StringEquals: viaSecretsManager },
      }),
    );
  }
}

/** The `Sid` of the statement in the construct's own bus policy that keeps rotation events the rotator's. */
export const ROTATION_EVENTS_SID = "OnlyTheRotatorPutsRotationEvents";

/**
 * The construct's own event bus, whose policy denies `events:PutEvents` of any entry with source
 * `novala.key-rotation` to every principal but `publishers` (the two functions' roles, and the props' eventPublishers): an explicit Deny, which IAM
 * applies to callers of this account too (an Allow in the bus's policy would only add to their own rights). Other
 * sources stay as the account's IAM allows them. The policy is the bus's own property, set as the bus is created, and
 * names the bus by an ARN built from its name (a reference to itself would be a cycle).
 */
export function createRotationEventBus(scope: Construct, publishers: iam.IRole[]): events.EventBus {
  const stack = Stack.of(scope);
  const eventBusName = `${Names.uniqueResourceName(scope, { maxLength: 249, separator: "-" })}-events`;
  const bus = new events.EventBus(scope, "RotationEvents", { eventBusName });
  (bus.node.defaultChild as events.CfnEventBus).policy = new iam.PolicyDocument({
    statements: [
      new iam.PolicyStatement({
        sid: ROTATION_EVENTS_SID,
        effect: iam.Effect.DENY,
        principals: [new iam.AnyPrincipal()],
        actions: ["events:PutEvents"],
        resources: [
          stack.formatArn({
            service: "events",
            resource: "event-bus",
            resourceName: eventBusName,
            arnFormat: ArnFormat.SLASH_RESOURCE_NAME,
          }),
        ],
        conditions: {
          // One PutEvents may carry several entries: any of them with the rotation's source is enough to deny.
          "ForAnyValue:StringEquals": { "events:source": [ROTATION_EVENT_SOURCE] },
          ArnNotEquals: { "aws:PrincipalArn": publishers.map((role) => role.roleArn) },
        },
      }),
    ],
  });
  return bus;
}

/**
 * Secrets Manager may invoke the rotation function, for this account's secrets only (CDK's default permission has no
 * SourceAccount, which Control Tower and Security Hub flag as a confused-deputy risk).
 */
export function allowSecretsManagerInvoke(scope: Construct, rotationFunction: lambda.IFunction): lambda.CfnPermission {
  return new lambda.CfnPermission(scope, "SecretsManagerInvoke", {
    action: "lambda:InvokeFunction",
    functionName: rotationFunction.functionArn,
    principal: "secretsmanager.amazonaws.com",
    sourceAccount: Stack.of(scope).account,
  });
}

/** cdk-nag AwsSolutions findings that this design accepts, each with the reason that holds for it. */
export function acknowledgeNagFindings(
  scope: Construct,
  props: NovalaKeyRotationProps,
  rotationRole: iam.Role,
  revocationRole: iam.Role,
  scheduleArnsInGroup: string,
): void {
  const ack = (target: Construct, id: string, reason: string) =>
    Validations.of(target).acknowledge({ id: `AwsSolutions::${id}`, reason });

  ack(
    rotationRole,
    `AwsSolutions-IAM5[Resource::${nagText(Stack.of(scope), scheduleArnsInGroup)}]`,
    "finishSecret names each one-time revocation schedule after the secret and the retired key at run time, so " +
      "the schedule ARNs are not known at deploy time; the wildcard covers only this construct's own schedule " +
      "group and only scheduler:CreateSchedule.",
  );
  ack(
    revocationRole,
    `AwsSolutions-IAM5[Resource::${nagText(Stack.of(scope), scheduleArnsInGroup)}]`,
    "A postponed revocation is a one-time schedule named after the secret, the retired key and the postponement " +
      "at run time; the wildcard covers only this construct's own schedule group and only scheduler:CreateSchedule.",
  );
  ack(
    rotationRole,
    `AwsSolutions-IAM5[Resource::${nagText(Stack.of(scope), schedulesOfAccount(scope))}]`,
    "scheduler:ListSchedules supports no resource-level permission: EventBridge Scheduler authorizes it against " +
      "schedule/*/* of the account and region whatever group the call names (aws/aws-cdk#38201). The function " +
      "lists only its own group by name prefix; the answer holds schedule names and states, no inputs.",
  );
  if (props.vpc) {
    for (const role of [rotationRole, revocationRole]) {
      ack(
        role,
        "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole]",
        "AWSLambdaVPCAccessExecutionRole is AWS's policy for the network interfaces of a VPC-attached function " +
          "(its ec2 actions cannot be scoped to resources); it grants nothing on secrets, keys or schedules.",
      );
    }
  }
}

/** Every schedule of the account and region: what IAM authorizes scheduler:ListSchedules against. */
function schedulesOfAccount(scope: Construct): string {
  return Stack.of(scope).formatArn({
    service: "scheduler",
    resource: "schedule",
    resourceName: "*/*",
    arnFormat: ArnFormat.SLASH_RESOURCE_NAME,
  });
}

/** The ARN that an IAM policy needs for a secret: the full ARN, or the partial one plus Secrets Manager's suffix. */
export function policyArn(secret: secretsmanager.ISecret): string {
  return secret.secretFullArn ?? `${secret.secretArn}-??????`;
}

function collectKeys(
  props: NovalaKeyRotationProps,
  rotated: secretsmanager.ISecret[],
): { rotated: kms.IKey[]; manager: kms.IKey[] } {
  const unique = (keys: (kms.IKey | undefined)[]) => [...new Set(keys.filter((key): key is kms.IKey => !!key))];
  return {
    rotated: unique([props.encryptionKey, ...rotated.map((secret) => secret.encryptionKey)]),
    manager: unique(props.managerSecret ? [props.managerSecret.encryptionKey ?? props.encryptionKey] : []),
  };
}

/** A value as cdk-nag prints it in a finding id: `<AWS::Region>` for a Ref, `<LogicalId.Attr>` for a GetAtt. */
function nagText(stack: Stack, value: string): string {
  const render = (part: unknown): string => {
    if (typeof part === "string") return part;
    const obj = (part ?? {}) as Record<string, unknown>;
    if (typeof obj.Ref === "string") return `<${obj.Ref}>`;
    if (Array.isArray(obj["Fn::GetAtt"])) return `<${(obj["Fn::GetAtt"] as string[]).join(".")}>`;
    if (Array.isArray(obj["Fn::Join"])) {
      const [separator, parts] = obj["Fn::Join"] as [string, unknown[]];
      return parts.map(render).join(separator);
    }
    throw new Error(`NovalaKeyRotation: cannot name ${JSON.stringify(part)} in a cdk-nag acknowledgement`);
  };
  return render(stack.resolve(value));
}
