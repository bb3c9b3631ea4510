/**
 * The CloudWatch dashboard: the alarms' states, then what rotation and revocation did, what was refused, how healthy
 * new keys were, how Novala's rate limit weighed, and how long ago the oldest secret rotated. Every graph names a
 * metric of the contract's list (lambdas/contract/metrics.ts), which the functions publish.
 */
import { Duration, Names } from "aws-cdk-lib";
import * as cloudwatch from "aws-cdk-lib/aws-cloudwatch";
import type { Construct } from "constructs";
import type { MetricName } from "../../lambdas/contract/metrics.js";
import { rotationMetric } from "./metrics.js";

/** Events are summed over 5 minutes; the daily overdue check's figures over its day. */
const EVENTS = Duration.minutes(5);
const DAILY = Duration.days(1);

/**
 * The dashboard. `alarmArns` are built from the alarms' names, not references to them: the dashboard then depends on
 * no alarm (and moto's CloudFormation, which creates no alarm, still deploys it).
 */
export function createDashboard(scope: Construct, alarmArns: string[]): cloudwatch.Dashboard {
  const counts = (entries: [MetricName, string][]) =>
    entries.map(([name, label]) => rotationMetric(name, { period: EVENTS, label }));
  const graph = (title: string, props: Omit<cloudwatch.GraphWidgetProps, "title">) =>
    new cloudwatch.GraphWidget({ title, height: 6, ...props });

  const dashboard = new cloudwatch.Dashboard(scope, "Dashboard", {
    // Named after the stack and the construct's path, so that an operator finds it (the stack outputs it).
    dashboardName: Names.uniqueResourceName(scope, { maxLength: 255, separator: "-" }),
    defaultInterval: Duration.days(7),
  });
  dashboard.addWidgets(
    new cloudwatch.AlarmStatusWidget({
      title: "Alarms (docs/operations.md says what each one means and what to do)",
      alarms: alarmArns.map((arn, index) => cloudwatch.Alarm.fromAlarmArn(scope, `DashboardAlarm${index}`, arn)),
      width: 24,
      height: 3,
    }),
  );
  dashboard.addWidgets(
    graph("Rotations", {
      width: 12,
      left: counts([
        ["RotationsSucceeded", "succeeded"],
        ["RotationsRolledBack", "rolled back (new key unhealthy)"],
        ["RotationsEnded", "ended (a retry cannot fix it)"],
        ["RotationsFailed", "failed steps (retried)"],
      ]),
    }),
    graph("Revocations of retired keys", {
      width: 12,
      left: counts([
        ["KeysRevoked", "revoked"],
        ["RevocationsPostponed", "postponed (a consumer still uses it)"],
        ["RevocationsRefused", "refused"],
        ["RevocationsFailed", "failed"],
      ]),
    }),
  );
  dashboard.addWidgets(
    graph("Refused claims (a value or event naming a key, or manager, it cannot prove) and promotions (untested)", {
      width: 8,
      left: counts([
        ["KeyClaimsRefused", "refused claims"],
        ["PromotionsRefused", "refused promotions"],
      ]),
    }),
    graph("Retired keys still in use at their hard limit", {
      width: 8,
      left: counts([["RevocationHardLimitReached", "hard limit reached"]]),
    }),
    graph("Health check of new keys (ms)", {
      width: 8,
      left: [
        rotationMetric("HealthCheckLatency", { statistic: cloudwatch.Stats.AVERAGE, period: EVENTS, label: "average" }),
        rotationMetric("HealthCheckLatency", { statistic: cloudwatch.Stats.MAXIMUM, period: EVENTS, label: "maximum" }),
      ],
    }),
  );
  dashboard.addWidgets(
    graph("Novala's rate limit: 429 answers, and time waited for the rate budget (ms)", {
      width: 12,
      left: counts([["NovalaRateLimited", "429 answers"]]),
      right: [
        rotationMetric("RateBudgetWait", { period: EVENTS, label: "ms waited (sum)" }),
        rotationMetric("RateBudgetWait", {
          statistic: cloudwatch.Stats.MAXIMUM,
          period: EVENTS,
          label: "longest wait",
        }),
      ],
    }),
    graph("Oldest secret since its last rotation (days), and overdue secrets (daily check)", {
      width: 12,
      left: [
        rotationMetric("OldestRotationAgeDays", {
          statistic: cloudwatch.Stats.MAXIMUM,
          period: DAILY,
          label: "days since the oldest last rotation",
        }),
      ],
      right: [
        rotationMetric("RotationsOverdue", {
          statistic: cloudwatch.Stats.MAXIMUM,
          period: DAILY,
          label: "overdue secrets",
        }),
      ],
    }),
  );
  return dashboard;
}
