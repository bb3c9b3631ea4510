/**
 * The NovalaKeyRotation construct: what it makes and in which order. Its parts live in lib/construct/: the props and
 * their checks, the functions, the permissions and the alerts.
 */
import { ArnFormat, Duration, RemovalPolicy, Stack } from "aws-cdk-lib";
import type * as cloudwatch from "aws-cdk-lib/aws-cloudwatch";
import * as events from "aws-cdk-lib/aws-events";
import type * as iam from "aws-cdk-lib/aws-iam";
import type * as lambda from "aws-cdk-lib/aws-lambda";
import * as scheduler from "aws-cdk-lib/aws-scheduler";
import { CfnRotationSchedule } from "aws-cdk-lib/aws-secretsmanager";
import type * as sns from "aws-cdk-lib/aws-sns";
import * as sqs from "aws-cdk-lib/aws-sqs";
import { Construct } from "constructs";
import {
  defaultScheduleGroupName,
  METRICS_NAMESPACE,
  METRICS_SERVICE,
  revocationEnvironment,
  rotationEnvironment,
} from "../lambdas/contract/environment.js";
import { createAlerts } from "./construct/alerts.js";
import { lambdaRole, novalaFunction } from "./construct/functions.js";
import {
  acknowledgeNagFindings,
  allowSchedulerToInvoke,
  allowSecretsManagerInvoke,
  createSchedulerRole,
  grantFunctionRights,
} from "./construct/permissions.js";
import { claimScheduleGroupName, type NovalaKeyRotationProps, seconds, validate } from "./construct/props.js";

export type { NovalaKeyRotationProps };
/** Powertools metrics: the namespace and the `service` dimension that both Lambdas publish under (the contract's). */
export { METRICS_NAMESPACE, METRICS_SERVICE };

/**
 * Rotates Novala API keys held in Secrets Manager: the rotation function and its schedule on each secret, the
 * revocation function with its Scheduler group, role and dead-letter queue, and the alerts (an EventBridge rule on
 * failed and abandoned rotations, CloudWatch alarms) on one SNS topic.
 */
export class NovalaKeyRotation extends Construct {
  /** The Secrets Manager rotation function. */
  public readonly rotationFunction: lambda.Function;
  /** The function that the one-time schedules invoke to revoke retired keys. */
  public readonly revocationFunction: lambda.Function;
  /** The schedule group that holds the one-time revocation schedules. */
  public readonly scheduleGroup: scheduler.ScheduleGroup;
  /** The role EventBridge Scheduler assumes to invoke the revocation function. */
  public readonly schedulerRole: iam.Role;
  /** Revocations that neither Scheduler nor Lambda could deliver or complete. */
  public readonly deadLetterQueue: sqs.Queue;
  /** Every alert goes here. */
  public readonly alertTopic: sns.ITopic;
  /** The rule on Secrets Manager's RotationFailed and RotationAbandoned events for these secrets. */
  public readonly rotationFailureRule: events.Rule;
  /** Where the Key Rotated and Key Rotation Rolled Back events go. */
  public readonly eventBus: events.IEventBus;
  /** The daily rule that has the rotation function check every secret for an overdue rotation. */
  public readonly overdueCheckRule: events.Rule;
  /**
   * The alarms, by name: RotationErrors, RevocationErrors, RotationsEnded, RevocationsRefused, KeyClaimsRefused,
   * RevocationsFailed, DeadLetters, RotationOverdue, RotationEventsFailed, RevocationHardLimitReached.
   */
  public readonly alarms: Record<string, cloudwatch.Alarm>;

  constructor(scope: Construct, id: string, props: NovalaKeyRotationProps) {
    super(scope, id);
    const settings = validate(props);
    const stack = Stack.of(this);

    // --- Scheduler group, dead-letter queue and the role Scheduler assumes ---------------------------------------
    // Retained on stack deletion (CDK's default, kept on purpose): schedules still pending in it name the keys whose
    // revocation never ran, which deleting the group would silently discard. Delete it by hand once it is empty.
    this.scheduleGroup = new scheduler.ScheduleGroup(this, "RevocationSchedules", {
      scheduleGroupName: claimScheduleGroupName(
        stack,
        props.scheduleGroupName ?? defaultScheduleGroupName(stack.stackName),
      ),
      removalPolicy: RemovalPolicy.RETAIN,
    });
    const groupName = this.scheduleGroup.scheduleGroupName;
    const scheduleArnsInGroup = stack.formatArn({
      service: "scheduler",
      resource: "schedule",
      resourceName: `${groupName}/*`,
      arnFormat: ArnFormat.SLASH_RESOURCE_NAME,
    });

    this.deadLetterQueue = new sqs.Queue(this, "RevocationDeadLetters", {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });

    // --- Functions ----------------------------------------------------------------------------------------------
    const rotationRole = lambdaRole(this, "RotationRole", "Novala key rotation function", props.vpc);
    const revocationRole = lambdaRole(this, "RevocationRole", "Novala key revocation function", props.vpc);

    // The environment is written through the contract (lambdas/contract/environment.ts) that the functions read.
    const novalaSettings = {
      allowedHosts: settings.allowedHosts,
      connectTimeoutSeconds: seconds(settings.connectTimeout),
      requestTimeoutSeconds: seconds(settings.requestTimeout),
      retryBudgetSeconds: seconds(settings.retryBudget),
      rateBudgetPerSecond: settings.rateBudgetPerSecond,
      rotationConcurrency: settings.rotationConcurrency,
    };
    // Both functions carry the usage rule: the revocation function applies it, the CLI reads it from the rotation's.
    const usageSettings = {
      revocationQuietWindowSeconds: seconds(settings.revocationQuietWindow),
      revocationHardLimitSeconds: seconds(settings.revocationHardLimit),
      atRevocationHardLimit: settings.atRevocationHardLimit,
    };
    const runtimeEnvironment = { NODE_OPTIONS: "--enable-source-maps" };
    const common = { props, settings };
    this.eventBus = props.eventBus ?? events.EventBus.fromEventBusName(this, "DefaultEventBus", "default");

    // The scheduler role must name the revocation function it invokes, and the revocation function must name the role
    // for the schedules it makes when it postpones: the role is made first and granted the function after (a
    // reference from the role's policy to the function, none back to the policy), and the function takes its own ARN
    // from its invocation's context, which keeps its environment free of a reference to itself.
    this.schedulerRole = createSchedulerRole(this, groupName, this.deadLetterQueue);
    this.revocationFunction = novalaFunction(this, "RevocationFunction", common, {
      code: "revocation",
      description: "Revokes a retired Novala key when its grace period ends, or postpones it while consumers use it",
      role: revocationRole,
      environment: {
        ...revocationEnvironment({
          ...novalaSettings,
          ...usageSettings,
          scheduleGroup: groupName,
          schedulerRoleArn: this.schedulerRole.roleArn,
          deadLetterQueueArn: this.deadLetterQueue.queueArn,
          eventBus: this.eventBus.eventBusArn,
        }),
        ...runtimeEnvironment,
      },
      // A failure after Lambda's own asynchronous retries lands in the same alarmed queue as Scheduler's.
      deadLetterQueue: this.deadLetterQueue,
    });
    allowSchedulerToInvoke(this.schedulerRole, this.revocationFunction);

    this.rotationFunction = novalaFunction(this, "RotationFunction", common, {
      code: "rotation",
      description: "Secrets Manager rotation function for Novala API keys",
      role: rotationRole,
      ...(settings.reservedConcurrency !== undefined && { reservedConcurrency: settings.reservedConcurrency }),
      environment: {
        ...rotationEnvironment({
          ...novalaSettings,
          ...usageSettings,
          healthCheckDeadlineSeconds: seconds(settings.healthCheckDeadline),
          gracePeriodSeconds: seconds(settings.gracePeriod),
          scheduleGroup: groupName,
          revocationFunctionArn: this.revocationFunction.functionArn,
          schedulerRoleArn: this.schedulerRole.roleArn,
          deadLetterQueueArn: this.deadLetterQueue.queueArn,
          eventBus: this.eventBus.eventBusArn,
        }),
        ...runtimeEnvironment,
      },
    });

    // --- Least privilege --------------------------------------------------------------------------------------
    grantFunctionRights(this, {
      props,
      settings,
      rotationRole,
      revocationRole,
      schedulerRole: this.schedulerRole,
      scheduleArnsInGroup,
      eventBus: this.eventBus,
    });
    const invokePermission = allowSecretsManagerInvoke(this, this.rotationFunction);

    // --- Rotation schedule on each secret ----------------------------------------------------------------------
    settings.secrets.forEach((secret, index) => {
      const schedule = new CfnRotationSchedule(this, `RotationSchedule${index}`, {
        secretId: secret.secretFullArn ?? secret.secretName,
        rotationLambdaArn: this.rotationFunction.functionArn,
        rotateImmediatelyOnUpdate: settings.rotateImmediatelyOnUpdate,
        rotationRules: {
          scheduleExpression: settings.scheduleExpression,
          ...(settings.rotationWindow && { duration: `${settings.rotationWindow.toHours()}h` }),
        },
      });
      // Secrets Manager tests the configuration (testSecret) as soon as the schedule exists: the function must be
      // invokable and its policy in place by then.
      schedule.node.addDependency(invokePermission);
      const policy = rotationRole.node.tryFindChild("DefaultPolicy");
      if (policy) schedule.node.addDependency(policy);
    });

    // --- Alerts ------------------------------------------------------------------------------------------------
    const alerts = createAlerts(this, {
      props,
      settings,
      rotationFunction: this.rotationFunction,
      revocationFunction: this.revocationFunction,
      deadLetterQueue: this.deadLetterQueue,
    });
    this.alertTopic = alerts.alertTopic;
    this.rotationFailureRule = alerts.rotationFailureRule;
    this.overdueCheckRule = alerts.overdueCheckRule;
    this.alarms = alerts.alarms;

    acknowledgeNagFindings(this, props, rotationRole, revocationRole, scheduleArnsInGroup);
  }
}
