import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { ArnFormat, Duration, Lazy, Names, RemovalPolicy, Stack, Token, Validations } from "aws-cdk-lib";
import * as cloudwatch from "aws-cdk-lib/aws-cloudwatch";
import * as cloudwatchActions from "aws-cdk-lib/aws-cloudwatch-actions";
import type * as ec2 from "aws-cdk-lib/aws-ec2";
import * as events from "aws-cdk-lib/aws-events";
import * as eventsTargets from "aws-cdk-lib/aws-events-targets";
import * as iam from "aws-cdk-lib/aws-iam";
import * as kms from "aws-cdk-lib/aws-kms";
import * as lambda from "aws-cdk-lib/aws-lambda";
import * as logs from "aws-cdk-lib/aws-logs";
import * as scheduler from "aws-cdk-lib/aws-scheduler";
import type * as secretsmanager from "aws-cdk-lib/aws-secretsmanager";
import { CfnRotationSchedule } from "aws-cdk-lib/aws-secretsmanager";
import * as sns from "aws-cdk-lib/aws-sns";
import * as snsSubscriptions from "aws-cdk-lib/aws-sns-subscriptions";
import * as sqs from "aws-cdk-lib/aws-sqs";
import { Construct } from "constructs";
import {
  defaultScheduleGroupName,
  METRICS_NAMESPACE,
  METRICS_SERVICE,
  novalaClientEnvironment,
  OVERDUE_CHECK,
  OVERDUE_METRIC,
  parseAllowedHosts,
  ROTATION_EVENT_SOURCE,
  rotationEnvironment,
  SCHEDULE_GROUP_NAME,
  SECONDS,
  type SecondsSetting,
  secondsProblem,
} from "../lambdas/contract/environment.js";
import { OUTCOME_TAG_KEYS } from "../lambdas/contract/rotation-outcome.js";
import { scheduleProblem } from "../lambdas/contract/schedule.js";
import { DEFAULT_ALLOWED_HOSTS } from "../lambdas/core/allowed-hosts.js";

/** The oldest Node.js major that the bundled code (undici 7, the pinned AWS SDK) runs on. */
const OLDEST_NODE_MAJOR = 20;

/** Powertools metrics: the namespace and the `service` dimension that both Lambdas publish under (the contract's). */
export { METRICS_NAMESPACE, METRICS_SERVICE };

const MAX_LAMBDA_TIMEOUT = Duration.minutes(15);

/** Properties of a {@link NovalaKeyRotation}. */
export interface NovalaKeyRotationProps {
  /**
   * The secrets that hold a Novala key pair and that this construct rotates. Existing secrets
   * (`Secret.fromSecretNameV2`, `Secret.fromSecretCompleteArn`, `Secret.fromSecretPartialArn`) or a `Secret` created
   * in the same stack. A new secret must hold a key pair (the JSON of docs/design.md) before its first rotation:
   * put the first key in with `aws secretsmanager put-secret-value` right after the deploy.
   *
   * The rotation function may read and write only these secrets.
   */
  readonly secrets: secretsmanager.ISecret[];

  /**
   * When Secrets Manager rotates the secrets: `rate(N days)`, `rate(N hours)` or a six-field `cron(...)` expression
   * (UTC), as the `ScheduleExpression` of `AWS::SecretsManager::RotationSchedule`.
   *
   * @default "rate(30 days)"
   */
  readonly scheduleExpression?: string;

  /**
   * The rotation window: how long after the scheduled time Secrets Manager may start the rotation, in whole hours
   * (1 to 24). Required with a `cron()` expression, so that the window is a deliberate choice.
   *
   * @default - none with `rate()`: Secrets Manager picks the time within the interval
   */
  readonly rotationWindow?: Duration;

  /**
   * Whether Secrets Manager rotates the secrets as soon as this rotation schedule is created or changed by a deploy.
   * Off by default so that a `cdk deploy` never replaces a production key by surprise (consumers would then depend
   * on the grace period during a deploy nobody planned as a rotation); Secrets Manager then only tests the
   * configuration, and the first rotation happens on schedule or on `aws secretsmanager rotate-secret`.
   *
   * @default false
   */
  readonly rotateImmediatelyOnUpdate?: boolean;

  /**
   * How long the old key stays live after a rotation before a one-time EventBridge Scheduler schedule revokes it.
   * Must exceed the longest time a consumer caches the secret. 0 revokes the old key at the end of the rotation.
   * From 0 to 7 days, in whole seconds.
   *
   * @default Duration.hours(24)
   */
  readonly gracePeriod?: Duration;

  /**
   * The name of the EventBridge Scheduler group that holds the one-time revocation schedules. The rotation function
   * finds it in its environment, and the `novala-rotation` CLI through the secret's rotation function; the stack
   * outputs it. Give each NovalaKeyRotation in one stack its own name.
   *
   * @default `<stack name>-revocations` (cut to 64 characters, with a hash, for a long stack name)
   */
  readonly scheduleGroupName?: string;

  /**
   * The event bus that receives a `Key Rotated` event after every successful rotation and a `Key Rotation Rolled
   * Back` event after every rollback (source `novala.key-rotation`; docs/events.md). The rotation function may put
   * events on this bus only.
   *
   * @default - the account's default event bus
   */
  readonly eventBus?: events.IEventBus;

  /**
   * The secret that holds the Novala manager key (scope `api_keys.manage`) that the rotated secrets' `managerSecretId`
   * names. Both functions read it; the rotation function writes it only when it rotates it too (`rotateManagerSecret`,
   * or the manager secret listed in `secrets`).
   *
   * @default - no manager secret: every rotated secret is self-managed (its own key holds `api_keys.manage`)
   */
  readonly managerSecret?: secretsmanager.ISecret;

  /**
   * Rotate the manager secret too, on the same schedule: it is a self-managed secret (its key holds
   * `api_keys.manage` and creates its own replacement), so the rotation function gets the same rights on it as on
   * the listed secrets (PutSecretValue, UpdateSecretVersionStage, ListSecretVersionIds) and it gets a rotation schedule.
   * The same as listing it in `secrets` as well. Needs `managerSecret`.
   *
   * @default false: the manager secret is only read
   */
  readonly rotateManagerSecret?: boolean;

  /**
   * The hosts that the functions may send keys to (`NOVALA_ALLOWED_HOSTS`): exact host names or `*.domain`
   * wildcards, optionally with `:port`. Every secret's `baseUrl` must match one of them.
   *
   * @default ["*.novala.ai"]
   */
  readonly allowedHosts?: string[];

  /**
   * How long testSecret keeps retrying the health check of a new key (Novala may answer 401 while the key
   * propagates) before it rolls the rotation back. From 0 to 840 seconds.
   *
   * @default Duration.seconds(60)
   */
  readonly healthCheckDeadline?: Duration;

  /**
   * How long one Novala operation may spend retrying 429, 5xx and network errors (`NOVALA_RETRY_BUDGET_SECONDS`).
   * From 0 to 840 seconds.
   *
   * @default Duration.seconds(60)
   */
  readonly novalaRetryBudget?: Duration;

  /**
   * The connect timeout of each Novala call (`NOVALA_CONNECT_TIMEOUT_SECONDS`).
   *
   * @default Duration.seconds(5)
   */
  readonly novalaConnectTimeout?: Duration;

  /**
   * The total timeout of one Novala HTTP attempt (`NOVALA_REQUEST_TIMEOUT_SECONDS`).
   *
   * @default Duration.seconds(10)
   */
  readonly novalaRequestTimeout?: Duration;

  /**
   * The topic that receives every alert: rotation failures and abandoned rotations, function errors, refused or
   * failed revocations, and messages in the revocation dead-letter queue.
   *
   * @default - a new topic, encrypted with a new customer-managed KMS key that CloudWatch and EventBridge may use
   */
  readonly alertTopic?: sns.ITopic;

  /**
   * An e-mail address to subscribe to the alert topic (the recipient must confirm the subscription).
   *
   * @default - no subscription
   */
  readonly alertEmail?: string;

  /**
   * The VPC to run both functions in. They need egress to the Novala hosts (a NAT gateway or an egress proxy) and a
   * path to Secrets Manager and EventBridge Scheduler (interface VPC endpoints `secretsmanager` and `scheduler`, or
   * the same NAT); CloudWatch Logs is written by the Lambda service and needs no endpoint.
   *
   * @default - not in a VPC: the functions reach Novala and AWS over the Lambda service's network
   */
  readonly vpc?: ec2.IVpc;

  /**
   * Where in `vpc` to place the functions' network interfaces. Only with `vpc`.
   *
   * @default - the VPC's private subnets with egress
   */
  readonly vpcSubnets?: ec2.SubnetSelection;

  /**
   * The security groups of the functions. Only with `vpc`. They must allow outbound HTTPS (443) to Novala and to the
   * VPC endpoints.
   *
   * @default - a new security group per function that allows all outbound traffic
   */
  readonly securityGroups?: ec2.ISecurityGroup[];

  /**
   * The customer-managed KMS key that encrypts the rotated secrets (and the manager secret), when it is not already
   * known from the `ISecret`s (`Secret.fromSecretAttributes({ encryptionKey })`). The rotation function may decrypt
   * and generate data keys with it, only through Secrets Manager (`kms:ViaService`).
   *
   * @default - the keys of the `ISecret`s that carry one; none for secrets under the AWS-managed `aws/secretsmanager`
   */
  readonly encryptionKey?: kms.IKey;

  /**
   * How long the functions' logs are kept.
   *
   * @default logs.RetentionDays.ONE_YEAR
   */
  readonly logRetention?: logs.RetentionDays;

  /**
   * The memory of each function, in MiB.
   *
   * @default 256
   */
  readonly memorySize?: number;

  /**
   * The timeout of each function. It must cover the health-check deadline plus the retry budget of the Novala call
   * that follows it (the rollback's revoke), so it may not be shorter than `healthCheckDeadline + novalaRetryBudget`.
   *
   * @default Duration.minutes(5)
   */
  readonly timeout?: Duration;

  /**
   * The Lambda runtime of both functions: a Node.js runtime, `nodejs20.x` or later. The code is the same pre-bundled
   * ES module on every one of them (built with the package, with its own undici and AWS SDK).
   *
   * @default lambda.Runtime.NODEJS_24_X
   */
  readonly runtime?: lambda.Runtime;
}

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
   * The alarms, by name: RotationErrors, RevocationErrors, RevocationsRefused, KeyClaimsRefused, RevocationsFailed,
   * DeadLetters, RotationOverdue, RotationEventsFailed.
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

    const secretKeys = collectKeys(props, settings.secrets);

    // --- Functions ----------------------------------------------------------------------------------------------
    const rotationRole = lambdaRole(this, "RotationRole", "Novala key rotation function", props.vpc);
    const revocationRole = lambdaRole(this, "RevocationRole", "Novala key revocation function", props.vpc);

    // The environment is written through the contract (lambdas/contract/environment.ts) that the functions read.
    const novalaSettings = {
      allowedHosts: settings.allowedHosts,
      connectTimeoutSeconds: seconds(settings.connectTimeout),
      requestTimeoutSeconds: seconds(settings.requestTimeout),
      retryBudgetSeconds: seconds(settings.retryBudget),
    };
    const runtimeEnvironment = { NODE_OPTIONS: "--enable-source-maps" };
    const novalaEnvironment = { ...novalaClientEnvironment(novalaSettings), ...runtimeEnvironment };
    const common = { props, settings };

    this.revocationFunction = novalaFunction(this, "RevocationFunction", common, {
      code: "revocation",
      description: "Revokes a retired Novala key when its grace period ends (target of one-time Scheduler schedules)",
      role: revocationRole,
      environment: novalaEnvironment,
      // A failure after Lambda's own asynchronous retries lands in the same alarmed queue as Scheduler's.
      deadLetterQueue: this.deadLetterQueue,
    });

    this.schedulerRole = new iam.Role(this, "SchedulerRole", {
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
    this.schedulerRole.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: "InvokeRevocationFunctionOnly",
        actions: ["lambda:InvokeFunction"],
        resources: [this.revocationFunction.functionArn],
      }),
    );
    this.schedulerRole.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: "SendUndeliveredRevocations",
        actions: ["sqs:SendMessage"],
        resources: [this.deadLetterQueue.queueArn],
      }),
    );

    this.eventBus = props.eventBus ?? events.EventBus.fromEventBusName(this, "DefaultEventBus", "default");
    this.rotationFunction = novalaFunction(this, "RotationFunction", common, {
      code: "rotation",
      description: "Secrets Manager rotation function for Novala API keys",
      role: rotationRole,
      environment: {
        ...rotationEnvironment({
          ...novalaSettings,
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
    rotationRole.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: "CreateRevocationSchedulesInOwnGroup",
        // GetSchedule: createSecret leaves a key alone while its revocation is still scheduled (its grace period).
        actions: ["scheduler:CreateSchedule", "scheduler:GetSchedule"],
        resources: [scheduleArnsInGroup],
      }),
    );
    rotationRole.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: "PublishRotationEvents",
        actions: ["events:PutEvents"],
        resources: [this.eventBus.eventBusArn],
        // Only events in the rotation's own source, so the role cannot impersonate another service on the bus.
        conditions: { StringEquals: { "events:source": ROTATION_EVENT_SOURCE } },
      }),
    );
    rotationRole.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: "PassSchedulerRoleOnly",
        actions: ["iam:PassRole"],
        resources: [this.schedulerRole.roleArn],
        conditions: { StringEquals: { "iam:PassedToService": "scheduler.amazonaws.com" } },
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

    // Secrets Manager may invoke the rotation function, for this account's secrets only (CDK's default permission
    // has no SourceAccount, which Control Tower and Security Hub flag as a confused-deputy risk).
    const invokePermission = new lambda.CfnPermission(this, "SecretsManagerInvoke", {
      action: "lambda:InvokeFunction",
      functionName: this.rotationFunction.functionArn,
      principal: "secretsmanager.amazonaws.com",
      sourceAccount: stack.account,
    });

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
    // The rule and the alarms get physical names, so that the alert key's policy can name them as the only sources
    // (aws:SourceArn) without referencing them: they target the topic that key encrypts, a dependency cycle.
    const alertSources = alertSourceNames(this);
    const alarmArns: string[] = [];
    const namedAlarms = new Set<cloudwatch.Alarm>();
    this.alertTopic = props.alertTopic ?? this.createAlertTopic(alarmArns);
    if (props.alertEmail) this.alertTopic.addSubscription(new snsSubscriptions.EmailSubscription(props.alertEmail));

    this.rotationFailureRule = new events.Rule(this, "RotationFailedRule", {
      ruleName: alertSources.ruleName,
      description: "Secrets Manager RotationFailed or RotationAbandoned on a Novala key secret",
      eventPattern: {
        source: ["aws.secretsmanager"],
        detailType: ["AWS Service Event via CloudTrail"],
        detail: {
          eventSource: ["secretsmanager.amazonaws.com"],
          eventName: ["RotationFailed", "RotationAbandoned"],
          additionalEventData: { SecretId: settings.secrets.map(secretIdPattern) },
        },
      },
    });
    // Not events-targets' SnsTopic: it grants events.amazonaws.com on the topic and its key without any condition.
    const alertTopic = this.alertTopic;
    const message = events.RuleTargetInput.fromObject({
      alert: `Novala key rotation: ${events.EventField.fromPath("$.detail.eventName")}`,
      secretId: events.EventField.fromPath("$.detail.additionalEventData.SecretId"),
      region: events.EventField.region,
      time: events.EventField.time,
    });
    this.rotationFailureRule.addTarget({
      bind: () => ({ arn: alertTopic.topicArn, input: message, targetResource: alertTopic }),
    });
    // On a topic of this stack also its key (grantPublish); on an imported topic a no-op, as before.
    alertTopic.grantPublish(
      new iam.ServicePrincipal("events.amazonaws.com", {
        conditions: sourceConditions(stack.account, alertSources.ruleArn),
      }),
    );

    // CloudWatch cannot alarm on 30 days without a success (Period × EvaluationPeriods is at most 7 days), so a daily
    // rule has the rotation function, which may already describe these secrets, count the overdue ones.
    this.overdueCheckRule = new events.Rule(this, "OverdueCheckRule", {
      description: "Daily check that every Novala key secret rotated within its schedule plus the window",
      schedule: events.Schedule.rate(Duration.days(1)),
    });
    this.overdueCheckRule.addTarget(
      new eventsTargets.LambdaFunction(this.rotationFunction, {
        event: events.RuleTargetInput.fromObject({
          check: OVERDUE_CHECK,
          secretIds: settings.secrets.map((secret) => secret.secretFullArn ?? secret.secretName),
        }),
        retryAttempts: 2,
      }),
    );

    const action = new cloudwatchActions.SnsAction(this.alertTopic);
    const alarm = (name: string, metric: cloudwatch.IMetric, description: string) => {
      const alarmName = `${alertSources.alarmPrefix}-${name}`;
      alarmArns.push(
        stack.formatArn({
          service: "cloudwatch",
          resource: "alarm",
          resourceName: alarmName,
          arnFormat: ArnFormat.COLON_RESOURCE_NAME,
        }),
      );
      const created = new cloudwatch.Alarm(this, `${name}Alarm`, {
        alarmName,
        metric,
        alarmDescription: description,
        threshold: 1,
        evaluationPeriods: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      });
      created.addAlarmAction(action);
      namedAlarms.add(created);
      return created;
    };
    // An alarm made some other way would have a name the alert key's policy does not allow, and fail silently.
    this.node.addValidation({
      validate: () =>
        this.node
          .findAll()
          .filter((child): child is cloudwatch.Alarm => child instanceof cloudwatch.Alarm && !namedAlarms.has(child))
          .map((child) => `alarm ${child.node.path} was not made by the alarm helper: the alert key would refuse it`),
    });
    const period = Duration.minutes(5);
    const customMetric = (metricName: string) =>
      new cloudwatch.Metric({
        namespace: METRICS_NAMESPACE,
        metricName,
        dimensionsMap: { service: METRICS_SERVICE },
        statistic: cloudwatch.Stats.SUM,
        period,
      });
    this.alarms = {
      RotationErrors: alarm(
        "RotationErrors",
        this.rotationFunction.metricErrors({ period, statistic: cloudwatch.Stats.SUM }),
        "The Novala key rotation function failed (a step threw: see its logs for the secret and step)",
      ),
      RevocationErrors: alarm(
        "RevocationErrors",
        this.revocationFunction.metricErrors({ period, statistic: cloudwatch.Stats.SUM }),
        "The Novala key revocation function failed; Lambda retries, then the event goes to the dead-letter queue",
      ),
      RevocationsRefused: alarm(
        "RevocationsRefused",
        customMetric("RevocationsRefused"),
        "A scheduled revocation was refused because the secret still holds that key (rolled back?)",
      ),
      KeyClaimsRefused: alarm(
        "KeyClaimsRefused",
        customMetric("KeyClaimsRefused"),
        "A secret's value or a revocation event named a Novala key it could not prove it holds (see docs/security.md): " +
          "nothing was minted or revoked for it; find who wrote that secret version",
      ),
      RevocationsFailed: alarm(
        "RevocationsFailed",
        customMetric("RevocationsFailed"),
        "Revoking a retired Novala key failed; the old key may still be live",
      ),
      DeadLetters: alarm(
        "DeadLetters",
        this.deadLetterQueue.metricApproximateNumberOfMessagesVisible({ period, statistic: cloudwatch.Stats.MAXIMUM }),
        "A retired Novala key's revocation could not be delivered or completed: revoke it by hand (see the message)",
      ),
      RotationEventsFailed: alarm(
        "RotationEventsFailed",
        customMetric("RotationEventsFailed"),
        "A Key Rotated or Key Rotation Rolled Back event could not be published: consumers were not told (the " +
          "rotation itself is done; see the rotation function's logs)",
      ),
      // A daily count of overdue secrets (the overdue check below); one day is the metric's natural period.
      RotationOverdue: alarm(
        "RotationOverdue",
        new cloudwatch.Metric({
          namespace: METRICS_NAMESPACE,
          metricName: OVERDUE_METRIC,
          dimensionsMap: { service: METRICS_SERVICE },
          statistic: cloudwatch.Stats.MAXIMUM,
          period: Duration.days(1),
        }),
        "A Novala key secret has not rotated successfully for longer than its schedule plus the window, or its " +
          "rotation is disabled (the rotation function's log names the secret and the reason)",
      ),
    };

    this.acknowledgeNagFindings(props, rotationRole, revocationRole, scheduleArnsInGroup);
  }

  /**
   * The alert topic and its key. An SNS topic under the AWS-managed aws/sns key cannot receive from CloudWatch alarms
   * or EventBridge, so the key admits both, each only for this account and its own sources: CloudWatch for `alarmArns`
   * (filled as the alarms are made) here, EventBridge for the rule where the rule's target is granted.
   */
  private createAlertTopic(alarmArns: string[]): sns.Topic {
    const account = Stack.of(this).account;
    const key = new kms.Key(this, "AlertTopicKey", {
      description: "Encrypts the Novala key rotation alert topic",
      enableKeyRotation: true,
    });
    const alarmSources = sourceConditions(account, Lazy.list({ produce: () => alarmArns }));
    const cloudwatchPrincipal = new iam.ServicePrincipal("cloudwatch.amazonaws.com");
    key.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: "AllowcloudwatchToPublish",
        principals: [cloudwatchPrincipal],
        actions: ["kms:Decrypt", "kms:GenerateDataKey*"],
        resources: ["*"],
        conditions: alarmSources,
      }),
    );
    const topic = new sns.Topic(this, "AlertTopic", {
      displayName: "Novala key rotation alerts",
      masterKey: key,
      enforceSSL: true,
    });
    topic.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: "AllowcloudwatchAlarmsToPublish",
        principals: [cloudwatchPrincipal],
        actions: ["sns:Publish"],
        resources: [topic.topicArn],
        conditions: alarmSources,
      }),
    );
    return topic;
  }

  /** cdk-nag AwsSolutions findings that this design accepts, each with the reason that holds for it. */
  private acknowledgeNagFindings(
    props: NovalaKeyRotationProps,
    rotationRole: iam.Role,
    revocationRole: iam.Role,
    scheduleArnsInGroup: string,
  ) {
    const ack = (scope: Construct, id: string, reason: string) =>
      Validations.of(scope).acknowledge({ id: `AwsSolutions::${id}`, reason });

    ack(
      rotationRole,
      `AwsSolutions-IAM5[Resource::${nagText(Stack.of(this), scheduleArnsInGroup)}]`,
      "finishSecret names each one-time revocation schedule after the secret and the retired key at run time, so " +
        "the schedule ARNs are not known at deploy time; the wildcard covers only this construct's own schedule " +
        "group and only scheduler:CreateSchedule and scheduler:GetSchedule.",
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
}

// ------------------------------------------------------------------------------------------------------------------

interface Settings {
  /** The secrets rotated: `secrets`, and the manager secret with `rotateManagerSecret`. */
  secrets: secretsmanager.ISecret[];
  scheduleExpression: string;
  rotationWindow?: Duration;
  rotateImmediatelyOnUpdate: boolean;
  gracePeriod: Duration;
  allowedHosts: string[];
  healthCheckDeadline: Duration;
  retryBudget: Duration;
  connectTimeout: Duration;
  requestTimeout: Duration;
  logRetention: logs.RetentionDays;
  memorySize: number;
  timeout: Duration;
  runtime: lambda.Runtime;
}

/** Applies the defaults and rejects wrong props with a message that names the prop. */
function validate(props: NovalaKeyRotationProps): Settings {
  const fail = (prop: string, message: string): never => {
    throw new Error(`NovalaKeyRotation: ${prop} ${message}`);
  };
  if (!props.secrets || props.secrets.length === 0) fail("secrets", "must list at least one secret to rotate");
  // The same secret twice would get two rotation schedules (and two rotations racing for it).
  const identity = (secret: secretsmanager.ISecret) =>
    JSON.stringify(Stack.of(secret).resolve(secret.secretFullArn ?? secret.secretArn));
  const seen = new Map<string, number>();
  props.secrets.forEach((secret, index) => {
    const earlier = seen.get(identity(secret));
    if (earlier !== undefined) fail("secrets", `lists the same secret twice (entries ${earlier} and ${index})`);
    seen.set(identity(secret), index);
  });
  if (props.rotateManagerSecret && !props.managerSecret) fail("rotateManagerSecret", "needs managerSecret");
  const secrets =
    props.rotateManagerSecret && props.managerSecret && !seen.has(identity(props.managerSecret))
      ? [...props.secrets, props.managerSecret]
      : props.secrets;

  const scheduleExpression = props.scheduleExpression?.trim() ?? "rate(30 days)";
  const isCron = scheduleExpression.startsWith("cron(");
  if (!Token.isUnresolved(scheduleExpression)) {
    const problem = scheduleProblem(scheduleExpression);
    if (problem) fail("scheduleExpression", problem);
  }
  const rotationWindow = props.rotationWindow;
  if (isCron && !rotationWindow) {
    fail(
      "rotationWindow",
      `is required with a cron() scheduleExpression ("${scheduleExpression}"), e.g. Duration.hours(2)`,
    );
  }
  if (rotationWindow && !rotationWindow.isUnresolved()) {
    const minutes = rotationWindow.toMinutes();
    if (minutes % 60 !== 0 || minutes < 60 || minutes > 24 * 60) {
      fail("rotationWindow", `must be whole hours from 1 to 24, got ${rotationWindow.toHumanString()}`);
    }
  }

  // Bounds and defaults are the contract's, which the functions enforce when they read their environment.
  const gracePeriod = props.gracePeriod ?? Duration.seconds(SECONDS.gracePeriod.defaultSeconds);
  if (!gracePeriod.isUnresolved()) {
    const ms = gracePeriod.toMilliseconds();
    if (ms % 1000 !== 0 || secondsProblem(SECONDS.gracePeriod, ms / 1000)) {
      const max = Duration.seconds(SECONDS.gracePeriod.maxSeconds).toHumanString();
      fail("gracePeriod", `must be whole seconds from 0 to ${max}, got ${gracePeriod.toHumanString()}`);
    }
  }

  // The Lambdas' own parser: a pattern one accepts, the other accepts too.
  const allowedHosts = props.allowedHosts ?? [DEFAULT_ALLOWED_HOSTS];
  if (allowedHosts.length === 0) fail("allowedHosts", "must list at least one host pattern");
  for (const host of allowedHosts) {
    if (Token.isUnresolved(host)) continue;
    if (host.includes(",")) fail("allowedHosts", `entry "${host}" holds several patterns: give one per entry`);
    try {
      parseAllowedHosts(host);
    } catch (error) {
      fail("allowedHosts", `entry ${(error as Error).message}`);
    }
  }

  const checked = (prop: string, value: Duration, setting: SecondsSetting) => {
    if (secondsProblem(setting, seconds(value))) {
      fail(prop, `must be from ${setting.minSeconds} to ${setting.maxSeconds} seconds, got ${value.toHumanString()}`);
    }
    return value;
  };
  const orDefault = (value: Duration | undefined, setting: SecondsSetting) =>
    value ?? Duration.seconds(setting.defaultSeconds);
  const healthCheckDeadline = checked(
    "healthCheckDeadline",
    orDefault(props.healthCheckDeadline, SECONDS.healthCheckDeadline),
    SECONDS.healthCheckDeadline,
  );
  const retryBudget = checked(
    "novalaRetryBudget",
    orDefault(props.novalaRetryBudget, SECONDS.retryBudget),
    SECONDS.retryBudget,
  );
  const connectTimeout = checked(
    "novalaConnectTimeout",
    orDefault(props.novalaConnectTimeout, SECONDS.connectTimeout),
    SECONDS.connectTimeout,
  );
  const requestTimeout = checked(
    "novalaRequestTimeout",
    orDefault(props.novalaRequestTimeout, SECONDS.requestTimeout),
    SECONDS.requestTimeout,
  );
  if (props.scheduleGroupName !== undefined && !Token.isUnresolved(props.scheduleGroupName)) {
    if (!SCHEDULE_GROUP_NAME.test(props.scheduleGroupName)) {
      fail("scheduleGroupName", `must be 1 to 64 letters, digits, "-", "_" or ".", got "${props.scheduleGroupName}"`);
    }
  }

  const timeout = props.timeout ?? Duration.minutes(5);
  const timeoutSeconds = timeout.toSeconds();
  if (timeoutSeconds > MAX_LAMBDA_TIMEOUT.toSeconds()) {
    fail("timeout", `must be at most 15 minutes (Lambda's limit), got ${timeout.toHumanString()}`);
  }
  if (timeoutSeconds < seconds(healthCheckDeadline)) {
    fail(
      "timeout",
      `(${timeout.toHumanString()}) is shorter than healthCheckDeadline (${healthCheckDeadline.toHumanString()})`,
    );
  }
  const needed = seconds(healthCheckDeadline) + seconds(retryBudget);
  if (timeoutSeconds < needed) {
    fail(
      "timeout",
      `(${timeout.toHumanString()}) must cover healthCheckDeadline plus novalaRetryBudget (${needed} seconds): ` +
        "a failed health check is followed by the rollback's revoke, with its own retries",
    );
  }

  const memorySize = props.memorySize ?? 256;
  if (!Number.isInteger(memorySize) || memorySize < 128 || memorySize > 10_240) {
    fail("memorySize", `must be a whole number of MiB from 128 to 10240, got ${memorySize}`);
  }
  if (props.alertEmail !== undefined && !Token.isUnresolved(props.alertEmail)) {
    if (!/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(props.alertEmail)) {
      fail("alertEmail", `must be an e-mail address, got "${props.alertEmail}"`);
    }
  }
  if (!props.vpc && (props.vpcSubnets || props.securityGroups)) {
    fail(props.vpcSubnets ? "vpcSubnets" : "securityGroups", "needs vpc");
  }
  const runtime = props.runtime ?? lambda.Runtime.NODEJS_24_X;
  const nodeMajor = /^nodejs(\d+)\.x$/.exec(runtime.name)?.[1];
  if (runtime.family !== lambda.RuntimeFamily.NODEJS || !nodeMajor || Number(nodeMajor) < OLDEST_NODE_MAJOR) {
    fail("runtime", `must be a Node.js runtime, nodejs${OLDEST_NODE_MAJOR}.x or later, got "${runtime.name}"`);
  }

  return {
    secrets,
    scheduleExpression,
    ...(rotationWindow && { rotationWindow }),
    rotateImmediatelyOnUpdate: props.rotateImmediatelyOnUpdate ?? false,
    gracePeriod,
    allowedHosts,
    healthCheckDeadline,
    retryBudget,
    connectTimeout,
    requestTimeout,
    logRetention: props.logRetention ?? logs.RetentionDays.ONE_YEAR,
    memorySize,
    timeout,
    runtime,
  };
}

/** A duration in seconds, fractions kept: the form the contract's variables take. */
function seconds(duration: Duration): number {
  return duration.toMilliseconds() / 1000;
}

/** Schedule-group names already taken in each stack: two constructs in one stack must not share a group. */
const scheduleGroupNames = new WeakMap<Stack, Set<string>>();

function claimScheduleGroupName(stack: Stack, name: string): string {
  const taken = scheduleGroupNames.get(stack) ?? new Set<string>();
  if (!Token.isUnresolved(name) && taken.has(name)) {
    throw new Error(
      `NovalaKeyRotation: scheduleGroupName "${name}" is already used by another NovalaKeyRotation in stack ` +
        `${stack.stackName}: give each its own scheduleGroupName`,
    );
  }
  taken.add(name);
  scheduleGroupNames.set(stack, taken);
  return name;
}

/** The ARN that an IAM policy needs for a secret: the full ARN, or the partial one plus Secrets Manager's suffix. */
function policyArn(secret: secretsmanager.ISecret): string {
  return secret.secretFullArn ?? `${secret.secretArn}-??????`;
}

/** The EventBridge pattern value that matches a secret's ARN in an event. */
function secretIdPattern(secret: secretsmanager.ISecret): string | { prefix: string } {
  return secret.secretFullArn ?? { prefix: `${secret.secretArn}-` };
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

function lambdaRole(scope: Construct, id: string, description: string, vpc: ec2.IVpc | undefined): iam.Role {
  return new iam.Role(scope, id, {
    description,
    assumedBy: new iam.ServicePrincipal("lambda.amazonaws.com"),
    managedPolicies: vpc
      ? [iam.ManagedPolicy.fromAwsManagedPolicyName("service-role/AWSLambdaVPCAccessExecutionRole")]
      : [],
  });
}

interface FunctionSpec {
  /** The folder of its pre-bundled code under dist/lambdas (scripts/lambda-bundles.ts). */
  code: "rotation" | "revocation";
  description: string;
  role: iam.Role;
  environment: Record<string, string>;
  deadLetterQueue?: sqs.IQueue;
}

/**
 * One of the two functions, from its pre-bundled code: one minified ES module with a source map, built with the package
 * (scripts/lambda-bundles.ts), so synthesizing needs neither esbuild nor Docker.
 */
function novalaFunction(
  scope: Construct,
  id: string,
  { props, settings }: { props: NovalaKeyRotationProps; settings: Settings },
  spec: FunctionSpec,
): lambda.Function {
  // The log group is created here (not by Lambda on first write) so that it has a retention and the role may write
  // to it alone, without the AWSLambdaBasicExecutionRole managed policy.
  const logGroup = new logs.LogGroup(scope, `${id}Logs`, { retention: settings.logRetention });
  const fn = new lambda.Function(scope, id, {
    code: lambda.Code.fromAsset(lambdaAssetDir(spec.code)),
    handler: "index.handler",
    description: spec.description,
    runtime: settings.runtime,
    architecture: lambda.Architecture.ARM_64,
    memorySize: settings.memorySize,
    timeout: settings.timeout,
    role: spec.role,
    logGroup,
    loggingFormat: lambda.LoggingFormat.JSON,
    environment: spec.environment,
    ...(spec.deadLetterQueue && { deadLetterQueue: spec.deadLetterQueue }),
    ...(props.vpc && {
      vpc: props.vpc,
      ...(props.vpcSubnets && { vpcSubnets: props.vpcSubnets }),
      ...(props.securityGroups && { securityGroups: props.securityGroups }),
    }),
  });
  logGroup.grantWrite(spec.role);
  return fn;
}

/**
 * The folder of a function's pre-bundled code: dist/lambdas/<name> of this package, found from this module whether it
 * runs as built JavaScript (dist/lib) or as TypeScript in this repository (lib).
 */
function lambdaAssetDir(name: FunctionSpec["code"]): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, "package.json"))) {
    const parent = dirname(dir);
    if (parent === dir) break;
    dir = parent;
  }
  const assetDir = join(dir, "dist", "lambdas", name);
  if (!existsSync(join(assetDir, "index.mjs"))) {
    throw new Error(
      `NovalaKeyRotation: the pre-bundled ${name} function is missing (${join(assetDir, "index.mjs")}): ` +
        "in this package's repository run `npm run build` (or `npm run build:lambdas`); an installed package ships it",
    );
  }
  return assetDir;
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

/**
 * Physical names for the alert sources, unique in the account and region (the stack name, the construct's path and a
 * hash of it), and the rule's ARN built from its name.
 */
function alertSourceNames(scope: Construct): { ruleName: string; ruleArn: string; alarmPrefix: string } {
  const ruleName = `${Names.uniqueResourceName(scope, { maxLength: 48, separator: "-" })}-rotation-failed`;
  return {
    ruleName,
    ruleArn: Stack.of(scope).formatArn({
      service: "events",
      resource: "rule",
      resourceName: ruleName,
      arnFormat: ArnFormat.SLASH_RESOURCE_NAME,
    }),
    alarmPrefix: Names.uniqueResourceName(scope, { maxLength: 120, separator: "-" }),
  };
}

/** A service may act for this account only, and only for these sources (its confused-deputy conditions). */
function sourceConditions(account: string, sourceArns: string | string[]): Record<string, Record<string, unknown>> {
  return { StringEquals: { "aws:SourceAccount": account }, ArnEquals: { "aws:SourceArn": sourceArns } };
}
