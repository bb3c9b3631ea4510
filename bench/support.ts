import { performance } from "node:perf_hooks";
import type { Telemetry } from "../lambdas/core/ports.js";

/** One line of the benchmark table. `pass` is undefined for a figure without a target (information only). */
export interface Row {
  figure: string;
  target: string;
  baseline: string;
  measured: string;
  pass?: boolean;
}

export const QUICK = process.env.BENCH_QUICK === "1";

export const silentTelemetry: Telemetry = {
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
  metric: () => undefined,
};

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  if (sorted.length === 0) return Number.NaN;
  const middle = Math.floor(sorted.length / 2);
  const at = (index: number) => sorted[index] ?? Number.NaN;
  return sorted.length % 2 === 1 ? at(middle) : (at(middle - 1) + at(middle)) / 2;
}

export function kb(bytes: number): string {
  return `${(bytes / 1024).toFixed(1)} KB`;
}

export function mb(bytes: number): string {
  return `${(bytes / 2 ** 20).toFixed(0)} MB`;
}

export function ms(value: number): string {
  return value >= 10_000 ? `${(value / 1000).toFixed(1)} s` : `${Math.round(value)} ms`;
}

export function sleep(milliseconds: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, milliseconds));
}

/** Samples the process's resident set size until stopped; resolves the peak in bytes. */
export function sampleMemory(intervalMs = 50): { stop: () => number } {
  let peak = process.memoryUsage().rss;
  const timer = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage().rss);
  }, intervalMs);
  return {
    stop: () => {
      clearInterval(timer);
      return Math.max(peak, process.memoryUsage().rss);
    },
  };
}

export function elapsedSince(started: number): number {
  return performance.now() - started;
}

/** Progress on stderr, so that stdout holds only the table. */
export function progress(message: string): void {
  process.stderr.write(`[bench] ${message}\n`);
}
