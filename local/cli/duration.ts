import { InvalidArgumentError } from "commander";

/**
 * Durations on the command line: a number of seconds ("90"), or a number with a unit: "500ms", "90s", "15m", "24h",
 * "7d". Parsed to milliseconds.
 */
const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

export function parseDurationMs(raw: string): number {
  const match = raw.trim().match(/^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?$/);
  if (!match) throw new InvalidArgumentError('expected a duration such as "90", "90s", "15m", "24h" or "7d"');
  const value = Number(match[1]) * (UNITS[match[2] ?? "s"] ?? 1000);
  if (!Number.isFinite(value)) throw new InvalidArgumentError("the duration is too large");
  return value;
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

/** "250 ms", "90 s", "15 min", "24 h", "7 d": the largest unit that divides evenly (seconds otherwise). */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${ms} ms`;
  for (const [unit, size] of [
    ["d", 86_400_000],
    ["h", 3_600_000],
    ["min", 60_000],
  ] as const) {
    if (ms >= size && ms % size === 0) return `${ms / size} ${unit}`;
  }
  return `${Math.round(ms / 100) / 10} s`;
}
