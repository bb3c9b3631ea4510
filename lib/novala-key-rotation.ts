import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { ArnFormat, Duration, RemovalPolicy, Stack, Token, Validations } from "aws-cdk-lib";
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

/** The oldest Node.js major that the bundled code (undici 7, the pinned AWS SDK) runs on. */
const OLDEST_NODE_MAJOR = 20;

/** Powertools metrics: the namespace and the `service` dimension that both Lambdas publish under. */
export const METRICS_NAMESPACE = "NovalaKeyRotation";
export const METRICS_SERVICE = "novala-rotation";

/** The upper bound of the grace period (lambdas/core/config.ts, MAX_GRACE_SECONDS). */
const MAX_GRACE = Duration.days(7);
/** What lambdas/core/config.ts accepts for HEALTH_CHECK_DEADLINE_SECONDS and NOVALA_RETRY_BUDGET_SECONDS. */
const MAX_DEADLINE_SECONDS = 840;
const MAX_LAMBDA_TIMEOUT = Duration.minutes(15);

/** Properties of a {@link NovalaKeyRotation}. */
export interface NovalaKeyRotationProps {
  /**
   * The secrets that hold a Novala key pair and that this construct rotates. Existing secrets
   * (`Secret.fromSecretNameV2`, `Secret.fromSecretCompleteArn`, `Secret.fromSecretPartialArn`) or a `Secret` created
   * in the same stack. A new secret must hold a key pair (the JSON of rotation-design.md) before its first rotation:
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
   * The secret that holds the Novala manager key (scope `api_keys.manage`) that the rotated secrets' `managerSecretId`
   * names. Both functions may only read it.
   *
   * @default - no manager secret: every rotated secret is self-managed (its own key holds `api_keys.manage`)
   */
  readonly managerSecret?: secretsmanager.ISecret;

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
  /** The alarms, by name: RotationErrors, RevocationErrors, RevocationsRefused, RevocationsFailed, DeadLetters. */
  public readonly alarms: Record<string, cloudwatch.Alarm>;

  constructor(scope: Construct, id: string, props: NovalaKeyRotationProps) {
    super(scope, id);
    const settings = validate(props);
    const stack = Stack.of(this);

    // --- Scheduler group, dead-letter queue and the role Scheduler assumes ---------------------------------------
    // Retained on stack deletion (CDK's default, kept on purpose): schedules still pending in it name the keys whose
    // revocation never ran, which deleting the group would silently discard. Delete it by hand once it is empty.
    this.scheduleGroup = new scheduler.ScheduleGroup(this, "RevocationSchedules", {
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

    const secretKeys = collectKeys(props);

    // --- Functions ----------------------------------------------------------------------------------------------
    const rotationRole = lambdaRole(this, "RotationRole", "Novala key rotation function", props.vpc);
    const revocationRole = lambdaRole(this, "RevocationRole", "Novala key revocation function", props.vpc);

    const novalaEnvironment = {
      NOVALA_ALLOWED_HOSTS: settings.allowedHosts.join(","),
      NOVALA_CONNECT_TIMEOUT_SECONDS: String(settings.connectTimeout.toSeconds()),
      NOVALA_REQUEST_TIMEOUT_SECONDS: String(settings.requestTimeout.toSeconds()),
      NOVALA_RETRY_BUDGET_SECONDS: String(settings.retryBudget.toSeconds()),
      POWERTOOLS_SERVICE_NAME: METRICS_SERVICE,
      POWERTOOLS_METRICS_NAMESPACE: METRICS_NAMESPACE,
      NODE_OPTIONS: "--enable-source-maps",
    };
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

    this.rotationFunction = novalaFunction(this, "RotationFunction", common, {
      code: "rotation",
      description: "Secrets Manager rotation function for Novala API keys",
      role: rotationRole,
      environment: {
        ...novalaEnvironment,
        HEALTH_CHECK_DEADLINE_SECONDS: String(settings.healthCheckDeadline.toSeconds()),
        REVOCATION_GRACE_SECONDS: String(settings.gracePeriod.toSeconds()),
        REVOCATION_SCHEDULE_GROUP: groupName,
        REVOCATION_FUNCTION_ARN: this.revocationFunction.functionArn,
        REVOCATION_SCHEDULER_ROLE_ARN: this.schedulerRole.roleArn,
        REVOCATION_DEAD_LETTER_QUEUE_ARN: this.deadLetterQueue.queueArn,
      },
    });

    // --- Least privilege --------------------------------------------------------------------------------------
    const rotatedArns = props.secrets.map(policyArn);
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
        resources: [...rotatedArns, ...managerArns],
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
    props.secrets.forEach((secret, index) => {
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
    this.alertTopic = props.alertTopic ?? this.createAlertTopic();
    if (props.alertEmail) this.alertTopic.addSubscription(new snsSubscriptions.EmailSubscription(props.alertEmail));

    this.rotationFailureRule = new events.Rule(this, "RotationFailedRule", {
      description: "Secrets Manager RotationFailed or RotationAbandoned on a Novala key secret",
      eventPattern: {
        source: ["aws.secretsmanager"],
        detailType: ["AWS Service Event via CloudTrail"],
        detail: {
          eventSource: ["secretsmanager.amazonaws.com"],
          eventName: ["RotationFailed", "RotationAbandoned"],
          additionalEventData: { SecretId: props.secrets.map(secretIdPattern) },
        },
      },
    });
    this.rotationFailureRule.addTarget(
      new eventsTargets.SnsTopic(this.alertTopic, {
        message: events.RuleTargetInput.fromObject({
          alert: `Novala key rotation: ${events.EventField.fromPath("$.detail.eventName")}`,
          secretId: events.EventField.fromPath("$.detail.additionalEventData.SecretId"),
          region: events.EventField.region,
          time: events.EventField.time,
        }),
      }),
    );

    const action = new cloudwatchActions.SnsAction(this.alertTopic);
    const alarm = (name: string, metric: cloudwatch.IMetric, description: string) => {
      const created = new cloudwatch.Alarm(this, `${name}Alarm`, {
        metric,
        alarmDescription: description,
        threshold: 1,
        evaluationPeriods: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      });
      created.addAlarmAction(action);
      return created;
    };
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
    };

    this.acknowledgeNagFindings(props, rotationRole, revocationRole, scheduleArnsInGroup);
  }

  private createAlertTopic(): sns.Topic {
    const key = new kms.Key(this, "AlertTopicKey", {
      description: "Encrypts the Novala key rotation alert topic",
      enableKeyRotation: true,
    });
    // An SNS topic under the AWS-managed aws/sns key cannot receive from CloudWatch alarms or EventBridge.
    for (const service of ["cloudwatch.amazonaws.com", "events.amazonaws.com"]) {
      key.addToResourcePolicy(
        new iam.PolicyStatement({
          sid: `Allow${service.split(".")[0]}ToPublish`,
          principals: [new iam.ServicePrincipal(service)],
          actions: ["kms:Decrypt", "kms:GenerateDataKey*"],
          resources: ["*"],
          conditions: { StringEquals: { "aws:SourceAccount": Stack.of(this).account } },
        }),
      );
    }
    return new sns.Topic(this, "AlertTopic", {
      displayName: "Novala key rotation alerts",
      masterKey: key,
      enforceSSL: true,
    });
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

  const scheduleExpression = props.scheduleExpression?.trim() ?? "rate(30 days)";
  const isCron = scheduleExpression.startsWith("cron(");
  if (!Token.isUnresolved(scheduleExpression)) {
    const rate = /^rate\((\d+) (hours?|days?)\)$/.exec(scheduleExpression);
    if (!rate && !/^cron\(\S+( \S+){5}\)$/.test(scheduleExpression)) {
      fail(
        "scheduleExpression",
        `must be "rate(N days)", "rate(N hours)" or a six-field "cron(...)" expression, got "${scheduleExpression}"`,
      );
    }
    if (rate) {
      const hours = Number(rate[1]) * (rate[2]?.startsWith("day") ? 24 : 1);
      if (hours < 4 || hours > 1000 * 24) {
        fail("scheduleExpression", `must rotate every 4 hours to 1000 days, got "${scheduleExpression}"`);
      }
    }
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

  const gracePeriod = props.gracePeriod ?? Duration.hours(24);
  if (!gracePeriod.isUnresolved()) {
    const ms = gracePeriod.toMilliseconds();
    if (ms < 0 || ms > MAX_GRACE.toMilliseconds() || ms % 1000 !== 0) {
      fail("gracePeriod", `must be whole seconds from 0 to 7 days, got ${gracePeriod.toHumanString()}`);
    }
  }

  const allowedHosts = props.allowedHosts ?? ["*.novala.ai"];
  if (allowedHosts.length === 0) fail("allowedHosts", "must list at least one host pattern");
  for (const host of allowedHosts) {
    if (!/^(\*\.)?[A-Za-z0-9.-]+(:\d+)?$|^\[[0-9a-fA-F:]+\](:\d+)?$/.test(host)) {
      fail("allowedHosts", `has "${host}", which is not a host pattern (examples: *.novala.ai, acme.novala.ai)`);
    }
  }

  const seconds = (prop: string, value: Duration, min: number, max: number) => {
    const ms = value.toMilliseconds();
    if (ms < min * 1000 || ms > max * 1000 || ms % 1000 !== 0) {
      fail(prop, `must be whole seconds from ${min} to ${max}, got ${value.toHumanString()}`);
    }
    return value;
  };
  const healthCheckDeadline = seconds(
    "healthCheckDeadline",
    props.healthCheckDeadline ?? Duration.seconds(60),
    0,
    MAX_DEADLINE_SECONDS,
  );
  const retryBudget = seconds(
    "novalaRetryBudget",
    props.novalaRetryBudget ?? Duration.seconds(60),
    0,
    MAX_DEADLINE_SECONDS,
  );
  const connectTimeout = seconds("novalaConnectTimeout", props.novalaConnectTimeout ?? Duration.seconds(5), 1, 60);
  const requestTimeout = seconds("novalaRequestTimeout", props.novalaRequestTimeout ?? Duration.seconds(10), 1, 120);

  const timeout = props.timeout ?? Duration.minutes(5);
  const timeoutSeconds = timeout.toSeconds();
  if (timeoutSeconds > MAX_LAMBDA_TIMEOUT.toSeconds()) {
    fail("timeout", `must be at most 15 minutes (Lambda's limit), got ${timeout.toHumanString()}`);
  }
  if (timeoutSeconds < healthCheckDeadline.toSeconds()) {
    fail(
      "timeout",
      `(${timeout.toHumanString()}) is shorter than healthCheckDeadline (${healthCheckDeadline.toHumanString()})`,
    );
  }
  const needed = healthCheckDeadline.toSeconds() + retryBudget.toSeconds();
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

/** The ARN that an IAM policy needs for a secret: the full ARN, or the partial one plus Secrets Manager's suffix. */
function policyArn(secret: secretsmanager.ISecret): string {
  return secret.secretFullArn ?? `${secret.secretArn}-??????`;
}

/** The EventBridge pattern value that matches a secret's ARN in an event. */
function secretIdPattern(secret: secretsmanager.ISecret): string | { prefix: string } {
  return secret.secretFullArn ?? { prefix: `${secret.secretArn}-` };
}

function collectKeys(props: NovalaKeyRotationProps): { rotated: kms.IKey[]; manager: kms.IKey[] } {
  const unique = (keys: (kms.IKey | undefined)[]) => [...new Set(keys.filter((key): key is kms.IKey => !!key))];
  return {
    rotated: unique([props.encryptionKey, ...props.secrets.map((secret) => secret.encryptionKey)]),
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
