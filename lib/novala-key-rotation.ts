/**
 * The NovalaKeyRotation construct: what it makes and in which order. Its parts live in lib/construct/: the props and
 * their checks, the functions, the permissions and the alerts.
 */
import { ArnFormat, Duration, RemovalPolicy, Stack, Tags } from "aws-cdk-lib";
import type * as cloudwatch from "aws-cdk-lib/aws-cloudwatch";
import type * as events from "aws-cdk-lib/aws-events";
import type * as iam from "aws-cdk-lib/aws-iam";
import type * as lambda from "aws-cdk-lib/aws-lambda";
import * as scheduler from "aws-cdk-lib/aws-scheduler";
import { CfnRotationSchedule } from "aws-cdk-lib/aws-secretsmanager";
import type * as sns from "aws-cdk-lib/aws-sns";
import * as sqs from "aws-cdk-lib/aws-sqs";
import { Construct } from "constructs";
import { DEPLOYMENT_TAG, deploymentMark, FUNCTION_TAG } from "../lambdas/contract/deployment-mark.js";
import {
  defaultScheduleGroupName,
  revocationEnvironment,
  rotationEnvironment,
} from "../lambdas/contract/environment.js";
import { NO_MANAGER_SECRET } from "../lambdas/contract/manager-secret.js";
import { createAlerts, overdueCheckRuleName } from "./construct/alerts.js";
import { createDashboard } from "./construct/dashboard.js";
import { lambdaRole, novalaFunction } from "./construct/functions.js";
import {
  acknowledgeNagFindings,
  allowSchedulerToInvoke,
  allowSecretsManagerInvoke,
  createRotationEventBus,
  createSchedulerRole,
  grantFunctionRights,
} from "./construct/permissions.js";
import {
  claimScheduleGroupName,
  type NovalaKeyRotationProps,
  NovalaKeyRotationPropsError,
  seconds,
  validate,
} from "./construct/props.js";

/**
 * Rotates Novala API keys held in Secrets Manager: the rotation function and its schedule on each secret, the
 * revocation function with its Scheduler group, role and dead-letter queue, the event bus consumers listen on, the
 * alerts (an EventBridge rule on failed and abandoned rotations, CloudWatch alarms) on one SNS topic, and a dashboard.
 * Both functions carry the deployment's mark (the tags `novala-rotation:deployment` and `novala-rotation:function`),
 * which the `novala-rotation` CLI checks beside CloudFormation's own `aws:cloudformation:stack-id` before it trusts a
 * function's environment.
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
  /**
   * Where the Key Rotated, Key Rotation Rolled Back and Key Revocation Postponed events go: the construct's own bus,
   * on which only the functions may put `novala.key-rotation` events, or the `eventBus` given.
   */
  public readonly eventBus: events.IEventBus;
  /** The dashboard of the rotation's metrics and alarms; undefined with `dashboard: false`. */
  public readonly dashboard?: cloudwatch.Dashboard;
  /** The daily rule that has the rotation function check every secret for an overdue rotation. */
  public readonly overdueCheckRule: events.Rule;
  /**
   * The alarms, by name: RotationErrors, RevocationErrors, RotationsEnded, RevocationsRefused, KeyClaimsRefused,
   * PromotionsRefused, RevocationsFailed, DeadLetters, RotationOverdue, RotationEventsFailed, RevocationHardLimitReached.
   */
  public readonly alarms: Record<string, cloudwatch.Alarm>;

  constructor(scope: Construct, id: string, props: NovalaKeyRotationProps) {
    super(scope, id);
    const settings = validate(this, props);
    const stack = Stack.of(this);

    // --- Scheduler group, dead-letter queue and the role Scheduler assumes ---------------------------------------
    // Retained on stack deletion (CDK's default, kept on purpose): schedules still pending in it name the keys whose
    // revocation never ran, which deleting the group would silently discard. Delete it by hand once it is empty.
    this.scheduleGroup = new scheduler.ScheduleGroup(this, "RevocationSchedules", {
      scheduleGroupName: claimScheduleGroupName(
        this,
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
    this.eventBus =
      props.eventBus ?? createRotationEventBus(this, [rotationRole, revocationRole, ...(props.eventPublishers ?? [])]);
    // The manager is the deployment's: a value naming any other secret is refused (lambdas/core/context.ts).
    const manager = {
      managerSecretArn: props.managerSecret
        ? (props.managerSecret.secretFullArn ?? props.managerSecret.secretArn)
        : NO_MANAGER_SECRET,
    };
    const overdueRule = overdueCheckRuleName(this);

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
          ...manager,
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
          ...manager,
          overdueCheckRule: overdueRule,
        }),
        ...runtimeEnvironment,
      },
    });
    markDeployment(this, { rotation: this.rotationFunction, revocation: this.revocationFunction });

    // --- Least privilege --------------------------------------------------------------------------------------
    grantFunctionRights(this, {
      props,
      settings,
      rotationRole,
      revocationRole,
      schedulerRole: this.schedulerRole,
      scheduleArnsInGroup,
      eventBus: this.eventBus,
      overdueCheckRuleName: overdueRule,
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
    if (settings.dashboard) this.dashboard = createDashboard(this, alerts.alarmArns);

    acknowledgeNagFindings(this, props, rotationRole, revocationRole, scheduleArnsInGroup);
  }
}

/**
 * The deployment's mark on both functions: `novala-rotation:deployment` = `<stack name>/<construct path in the stack>`
 * and `novala-rotation:function` = `rotation` or `revocation`. Anyone who may tag a function can copy these tags; the
 * CLI trusts them only beside the `aws:cloudformation:stack-id` tag that CloudFormation puts on what it creates and no
 * principal can set (lambdas/contract/deployment-mark.ts says what it checks).
 */
function markDeployment(scope: Construct, functions: Record<"rotation" | "revocation", lambda.Function>): void {
  const stack = Stack.of(scope);
  const path = scope.node.path.slice(stack.node.path.length + 1);
  const mark = deploymentMark(stack.stackName, path);
  if (mark.length > 256) {
    throw new NovalaKeyRotationPropsError(
      scope.node.path,
      "id",
      `makes a deployment mark longer than a tag value's 256 characters ("${mark.slice(0, 60)}…"): use shorter ids`,
    );
  }
  for (const [role, fn] of Object.entries(functions)) {
    Tags.of(fn).add(DEPLOYMENT_TAG, mark);
    Tags.of(fn).add(FUNCTION_TAG, role);
  }
}
