/** The functions' own metrics as CloudWatch reads them: what the alarms and the dashboard watch. */
import { Duration } from "aws-cdk-lib";
import * as cloudwatch from "aws-cdk-lib/aws-cloudwatch";
import { METRICS_NAMESPACE, METRICS_SERVICE } from "../../lambdas/contract/environment.js";
import type { MetricName } from "../../lambdas/contract/metrics.js";

/**
 * `metricName` in the functions' namespace and `service` dimension (Powertools publishes both): by default its sum
 * over 5 minutes. Only a name of the contract's list (lambdas/contract/metrics.ts) compiles.
 */
export function rotationMetric(
  metricName: MetricName,
  options: { statistic?: string; period?: Duration; label?: string } = {},
): cloudwatch.Metric {
  return new cloudwatch.Metric({
    namespace: METRICS_NAMESPACE,
    metricName,
    dimensionsMap: { service: METRICS_SERVICE },
    statistic: options.statistic ?? cloudwatch.Stats.SUM,
    period: options.period ?? Duration.minutes(5),
    ...(options.label && { label: options.label }),
  });
}
