import { InvalidArgumentError } from "commander";
import { durationProblem, formatDuration, parseDurationMs as parseShared } from "../lambdas/contract/duration.js";

/**
 * Durations on the command line: the project's one grammar (lambdas/contract/duration.ts), a whole number and a unit
 * ("500ms", "90s", "15m", "24h", "7d"), shared with the CDK app's context keys. Parsed to milliseconds.
 */
export function parseDurationMs(raw: string): number {
  const problem = durationProblem(raw);
  if (problem) throw new InvalidArgumentError(problem);
  try {
    return parseShared(raw);
  } catch (error) {
    throw new InvalidArgumentError((error as Error).message);
  }
}

/** A commander argument parser for a duration within [minMs, maxMs]. */
export function durationOption(minMs: number, maxMs: number): (raw: string) => number {
  return (raw) => {
    const value = parseDurationMs(raw);
    if (value < minMs || value > maxMs) {
      throw new InvalidArgumentError(`expected a duration from ${formatDuration(minMs)} to ${formatDuration(maxMs)}`);
    }
    return value;
  };
}
