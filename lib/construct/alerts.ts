/**
 * The alerts, all on one SNS topic: an EventBridge rule on failed and abandoned rotations, the daily overdue check,
 * and the CloudWatch alarms; the topic's key and policy admit each source only for this account.
 */
import { ArnFormat, Duration, Lazy, Names, Stack } from "aws-cdk-lib";
import * as cloudwatch from "aws-cdk-lib/aws-cloudwatch";
import * as cloudwatchActions from "aws-cdk-lib/aws-cloudwatch-actions";
import * as events from "aws-cdk-lib/aws-events";
import * as eventsTargets from "aws-cdk-lib/aws-events-targets";
import * as iam from "aws-cdk-lib/aws-iam";
import * as kms from "aws-cdk-lib/aws-kms";
import type * as lambda from "aws-cdk-lib/aws-lambda";
import type * as secretsmanager from "aws-cdk-lib/aws-secretsmanager";
import * as sns from "aws-cdk-lib/aws-sns";
import * as snsSubscriptions from "aws-cdk-lib/aws-sns-subscriptions";
import type * as sqs from "aws-cdk-lib/aws-sqs";
import type { Construct } from "constructs";
import { HARD_LIMIT_METRIC, OVERDUE_CHECK, OVERDUE_METRIC } from "../../lambdas/contract/environment.js";
import type { MetricName } from "../../lambdas/contract/metrics.js";
import { rotationMetric } from "./metrics.js";
import type { NovalaKeyRotationProps, Settings } from "./props.js";

export interface Alerts {
  alertTopic: sns.ITopic;
  rotationFailureRule: events.Rule;
  overdueCheckRule: events.Rule;
  alarms: Record<string, cloudwatch.Alarm>;
  /** The alarms' ARNs, built from their names (no reference to the alarms: what a policy or a dashboard may name). */
  alarmArns: string[];
}

/** Makes the alerts on the topic given in props, or on a topic (and key) of its own. */
export function createAlerts(
  scope: Construct,
  {
    props,
    settings,
    rotationFunction,
    revocationFunction,
    deadLetterQueue,
  }: {
    props: NovalaKeyRotationProps;
    settings: Settings;
    rotationFunction: lambda.Function;
    revocationFunction: lambda.Function;
    deadLetterQueue: sqs.Queue;
  },
): Alerts {
  const stack = Stack.of(scope);
  // The rule and the alarms get physical names, so that the alert key's policy can name them as the only sources
  // (aws:SourceArn) without referencing them: they target the topic that key encrypts, a dependency cycle.
  const alertSources = alertSourceNames(scope);
  const alarmArns: string[] = [];
  const namedAlarms = new Set<cloudwatch.Alarm>();
  const alertTopic = props.alertTopic ?? createAlertTopic(scope, alarmArns);
  if (props.alertEmail) alertTopic.addSubscription(new snsSubscriptions.EmailSubscription(props.alertEmail));

  const rotationFailureRule = new events.Rule(scope, "RotationFailedRule", {
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
  const message = events.RuleTargetInput.fromObject({
    alert: `Novala key rotation: ${events.EventField.fromPath("$.detail.eventName")}`,
    secretId: events.EventField.fromPath("$.detail.additionalEventData.SecretId"),
    region: events.EventField.region,
    time: events.EventField.time,
  });
  rotationFailureRule.addTarget({
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
  const overdueCheckRule = new events.Rule(scope, "OverdueCheckRule", {
    // Named, so that the rotation function can read its own list of secrets from it (OVERDUE_CHECK_RULE).
    ruleName: overdueCheckRuleName(scope),
    description: "Daily check that every Novala key secret rotated within its schedule plus the window",
    schedule: events.Schedule.rate(Duration.days(1)),
  });
  overdueCheckRule.addTarget(
    new eventsTargets.LambdaFunction(rotationFunction, {
      event: events.RuleTargetInput.fromObject({
        check: OVERDUE_CHECK,
        secretIds: settings.secrets.map((secret) => secret.secretFullArn ?? secret.secretName),
      }),
      retryAttempts: 2,
    }),
  );

  const action = new cloudwatchActions.SnsAction(alertTopic);
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
    const created = new cloudwatch.Alarm(scope, `${name}Alarm`, {
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
  scope.node.addValidation({
    validate: () =>
      scope.node
        .findAll()
        .filter((child): child is cloudwatch.Alarm => child instanceof cloudwatch.Alarm && !namedAlarms.has(child))
        .map((child) => `alarm ${child.node.path} was not made by the alarm helper: the alert key would refuse it`),
  });
  const period = Duration.minutes(5);
  const customMetric = (metricName: MetricName) => rotationMetric(metricName, { period });
  const alarms = {
    RotationErrors: alarm(
      "RotationErrors",
      rotationFunction.metricErrors({ period, statistic: cloudwatch.Stats.SUM }),
      "The Novala key rotation function failed (a step threw: see its logs for the secret and step)",
    ),
    RevocationErrors: alarm(
      "RevocationErrors",
      revocationFunction.metricErrors({ period, statistic: cloudwatch.Stats.SUM }),
      "The Novala key revocation function failed; Lambda retries, then the event goes to the dead-letter queue",
    ),
    RotationsEnded: alarm(
      "RotationsEnded",
      customMetric("RotationsEnded"),
      "A Novala key rotation met a failure a retry cannot fix (a create Novala refused, an unusable current key or " +
        "value) and was ended: `novala-rotation status <secret>` says why and what to do (docs/operations.md)",
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
    PromotionsRefused: alarm(
      "PromotionsRefused",
      customMetric("PromotionsRefused"),
      "finishSecret refused to promote a version no testSecret passed (someone invoked the rotation function " +
        "directly, or changed the secret's tested mark): nothing was promoted or revoked; see docs/operations.md",
    ),
    RevocationsFailed: alarm(
      "RevocationsFailed",
      customMetric("RevocationsFailed"),
      "Revoking a retired Novala key failed; the old key may still be live",
    ),
    DeadLetters: alarm(
      "DeadLetters",
      deadLetterQueue.metricApproximateNumberOfMessagesVisible({ period, statistic: cloudwatch.Stats.MAXIMUM }),
      "A retired Novala key's revocation could not be delivered or completed: revoke it by hand (see the message)",
    ),
    RotationEventsFailed: alarm(
      "RotationEventsFailed",
      customMetric("RotationEventsFailed"),
      "A Key Rotated or Key Rotation Rolled Back event could not be published: consumers were not told (the " +
        "rotation itself is done; see the rotation function's logs)",
    ),
    RevocationHardLimitReached: alarm(
      "RevocationHardLimitReached",
      customMetric(HARD_LIMIT_METRIC),
      "A consumer still used a retired Novala key when its hard limit came: the revocation function revoked it " +
        "anyway (consumers still on it now get 401) or, with atRevocationHardLimit keep, left it active. Find who " +
        "uses the old key (its log names the secret and key) and make them read the current one",
    ),
    // A daily count of overdue secrets (the overdue check below); one day is the metric's natural period.
    RotationOverdue: alarm(
      "RotationOverdue",
      rotationMetric(OVERDUE_METRIC, { statistic: cloudwatch.Stats.MAXIMUM, period: Duration.days(1) }),
      "A Novala key secret has not rotated successfully for longer than its schedule plus the window, or its " +
        "rotation is disabled (the rotation function's log names the secret and the reason)",
    ),
  };

  return { alertTopic, rotationFailureRule, overdueCheckRule, alarms, alarmArns };
}

/**
 * The alert topic and its key. An SNS topic under the AWS-managed aws/sns key cannot receive from CloudWatch alarms
 * or EventBridge, so the key admits both, each only for this account and its own sources: CloudWatch for `alarmArns`
 * (filled as the alarms are made) here, EventBridge for the rule where the rule's target is granted.
 */
function createAlertTopic(scope: Construct, alarmArns: string[]): sns.Topic {
  const account = Stack.of(scope).account;
  const key = new kms.Key(scope, "AlertTopicKey", {
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
  const topic = new sns.Topic(scope, "AlertTopic", {
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

/** The EventBridge pattern value that matches a secret's ARN in an event. */
function secretIdPattern(secret: secretsmanager.ISecret): string | { prefix: string } {
  return secret.secretFullArn ?? { prefix: `${secret.secretArn}-` };
}

/**
 * The daily overdue check's rule name: unique in the account and region (the stack name, the construct's path and a
 * hash of it). The rotation function reads the deployment's secrets from this rule's target.
 */
export function overdueCheckRuleName(scope: Construct): string {
  return `${Names.uniqueResourceName(scope, { maxLength: 48, separator: "-" })}-overdue-check`;
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
