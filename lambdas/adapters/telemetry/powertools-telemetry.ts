import { Logger } from "@aws-lambda-powertools/logger";
import { Metrics, MetricUnit } from "@aws-lambda-powertools/metrics";
import { ENV, METRICS_NAMESPACE, METRICS_SERVICE } from "../../contract/environment.js";
import type { MetricName, Telemetry } from "../../core/ports.js";
import { redact } from "../../core/redact.js";

/**
 * Telemetry for the Lambdas: structured JSON logs (Powertools Logger) and CloudWatch metrics as EMF (Powertools
 * Metrics). Every message and field passes through redact() on the way out, a last guard against key material.
 */
export class PowertoolsTelemetry implements Telemetry {
  readonly logger: Logger;
  readonly metrics: Metrics;

  constructor() {
    const serviceName = process.env[ENV.serviceName] ?? METRICS_SERVICE;
    this.logger = new Logger({ serviceName });
    this.metrics = new Metrics({ namespace: process.env[ENV.metricsNamespace] ?? METRICS_NAMESPACE, serviceName });
  }

  debug(message: string, fields?: Record<string, unknown>): void {
    this.logger.debug(redact(message), redactFields(fields) ?? {});
  }
  info(message: string, fields?: Record<string, unknown>): void {
    this.logger.info(redact(message), redactFields(fields) ?? {});
  }
  warn(message: string, fields?: Record<string, unknown>): void {
    this.logger.warn(redact(message), redactFields(fields) ?? {});
  }
  error(message: string, fields?: Record<string, unknown>): void {
    this.logger.error(redact(message), redactFields(fields) ?? {});
  }
  metric(name: MetricName, value = 1, unit: "Count" | "Milliseconds" = "Count"): void {
    this.metrics.addMetric(name, unit === "Count" ? MetricUnit.Count : MetricUnit.Milliseconds, value);
  }

  /** Starts an invocation: the keys every log line of it carries. */
  begin(keys: Record<string, string | undefined>): void {
    this.logger.resetKeys();
    this.logger.appendKeys(redactFields(keys) ?? {});
  }

  /** Ends an invocation: metrics are flushed even when the step threw. */
  end(): void {
    this.metrics.publishStoredMetrics();
  }
}

function redactFields<T extends Record<string, unknown>>(fields: T | undefined): T | undefined {
  return fields === undefined ? undefined : (JSON.parse(redact(JSON.stringify(fields))) as T);
}

/**
 * What a failed invocation throws back to Lambda: the same error name and a redacted message, so that nothing that
 * reaches the runtime's own error log can carry a key.
 */
export function publicError(error: unknown): Error {
  if (!(error instanceof Error)) return new Error(redact(String(error)));
  const message = redact(error.message);
  if (message === error.message) return error;
  const safe = new Error(message);
  safe.name = error.name;
  return safe;
}
