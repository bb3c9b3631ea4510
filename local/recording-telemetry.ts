import type { MetricName } from "../lambdas/contract/metrics.js";
import type { Telemetry } from "../lambdas/core/ports.js";
import { redact } from "../lambdas/core/redact.js";

/**
 * A Telemetry that keeps every log line and metric in memory: tests assert on them, the fault suite scans them for
 * key material, and the local run prints them as they happen (`onLine`).
 */
export interface LogLine {
  level: "debug" | "info" | "warn" | "error";
  message: string;
  fields?: Record<string, unknown>;
}

export class RecordingTelemetry implements Telemetry {
  readonly lines: LogLine[] = [];
  readonly metrics: { name: MetricName; value: number; unit: string }[] = [];

  constructor(private readonly onLine?: (line: LogLine) => void) {}

  debug(message: string, fields?: Record<string, unknown>): void {
    this.record({ level: "debug", message, fields });
  }
  info(message: string, fields?: Record<string, unknown>): void {
    this.record({ level: "info", message, fields });
  }
  warn(message: string, fields?: Record<string, unknown>): void {
    this.record({ level: "warn", message, fields });
  }
  error(message: string, fields?: Record<string, unknown>): void {
    this.record({ level: "error", message, fields });
  }
  metric(name: MetricName, value = 1, unit = "Count"): void {
    this.metrics.push({ name, value, unit });
  }

  /** The sum of a metric over everything recorded. */
  count(name: MetricName): number {
    return this.metrics.filter((metric) => metric.name === name).reduce((sum, metric) => sum + metric.value, 0);
  }

  /** Everything recorded, as one text, for leak scans. */
  text(): string {
    return JSON.stringify({ lines: this.lines, metrics: this.metrics });
  }

  private record(line: LogLine): void {
    // Recorded raw, so a leak scan sees what the code tried to log; printing goes through redact().
    this.lines.push(line);
    this.onLine?.({ ...line, message: redact(line.message) });
  }
}
