/** Telemetry for the Lambdas over Powertools Logger and Metrics, with their middleware. */
import { Logger } from "@aws-lambda-powertools/logger";
import { injectLambdaContext } from "@aws-lambda-powertools/logger/middleware";
import { Metrics } from "@aws-lambda-powertools/metrics";
import { logMetrics } from "@aws-lambda-powertools/metrics/middleware";
import middy from "@middy/core";
import type { Context } from "aws-lambda";
import type { TelemetryConfig } from "../../contract/configuration.js";
import { METRICS_NAMESPACE, METRICS_SERVICE } from "../../contract/environment.js";
import type { MetricName } from "../../contract/metrics.js";
import type { MetricUnit, Telemetry } from "../../core/ports.js";
import { redact } from "../../core/redact.js";

/**
 * Telemetry for the Lambdas: structured JSON logs (Powertools Logger) and CloudWatch metrics as EMF (Powertools
 * Metrics), attached to a handler by Powertools' middleware (withTelemetry). Every message and field passes through
 * redact() on the way out, a last guard against key material.
 */
export class PowertoolsTelemetry implements Telemetry {
  readonly logger: Logger;
  readonly metrics: Metrics;

  /** `config`: readTelemetryConfig's (the handlers pass their environment's); by default the contract's names. */
  constructor(config: TelemetryConfig = { serviceName: METRICS_SERVICE, metricsNamespace: METRICS_NAMESPACE }) {
    const { serviceName, metricsNamespace } = config;
    this.logger = new Logger({ serviceName });
    this.metrics = new Metrics({
      namespace: metricsNamespace,
      serviceName,
      logger: metricsWarnings(this.logger),
    });
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
  metric(name: MetricName, value = 1, unit: MetricUnit = "Count"): void {
    // The port's units are CloudWatch's own names, which Powertools takes as they are.
    this.metrics.addMetric(name, unit, value);
  }

  /** The keys every log line of this invocation carries (withTelemetry resets them after it). */
  begin(keys: Record<string, string | undefined>): void {
    this.logger.appendKeys(redactFields(keys) ?? {});
  }
}

/**
 * `handler` with Powertools' middleware: every log line carries the Lambda context (function_request_id,
 * cold_start, …), the invocation's keys are reset after it, and its metrics are flushed even when it threw. Called
 * without a context (tests, the local run), the lines carry no request id.
 */
export function withTelemetry<E, R>(
  telemetry: PowertoolsTelemetry,
  handler: (event: E, context: Partial<Context>) => Promise<R>,
): (event: E, context?: Partial<Context>) => Promise<R> {
  const wrapped = middy<E, R>((event: E, context: Context) => handler(event, context))
    .use(injectLambdaContext(telemetry.logger, { resetKeys: true }))
    .use(logMetrics(telemetry.metrics));
  return (event, context) => wrapped(event, (context ?? {}) as Context);
}

const EMPTY_METRICS_WARNING = "No application metrics to publish";

/** Metrics' own warnings, to the log; not the one for an invocation without metrics, which most steps are by design. */
function metricsWarnings(logger: Logger) {
  return {
    debug: (message: string) => logger.debug(message),
    info: (message: string) => logger.info(message),
    warn: (message: string) => {
      if (!String(message).startsWith(EMPTY_METRICS_WARNING)) logger.warn(message);
    },
    error: (message: string) => logger.error(message),
  };
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
