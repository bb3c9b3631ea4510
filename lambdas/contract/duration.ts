/** The project's one duration grammar (`30s`, `24h`, `7d`): parsing and formatting. */
import { ConfigurationError } from "./errors.js";

const UNITS: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const DURATION = /^(\d+)(ms|s|m|h|d)$/;
const EXAMPLES = "30s, 15m, 24h or 7d";

/** Why `text` is not a duration, or undefined when it is one. */
export function durationProblem(text: string): string | undefined {
  const trimmed = text.trim();
  if (DURATION.test(trimmed)) return undefined;
  if (/^\d+$/.test(trimmed)) {
    return `"${trimmed}" has no unit: write ${trimmed}s, ${trimmed}m, ${trimmed}h or ${trimmed}d`;
  }
  return `expected a duration: a whole number and a unit (ms, s, m, h, d), such as ${EXAMPLES}; got "${trimmed}"`;
}

/**
 * Parses a duration to milliseconds; throws a ConfigurationError whose message is durationProblem's. The one duration
 * grammar of the project: a whole number and a unit, always — `500ms`, `30s`, `15m`, `24h`, `7d`, `0s`. The CDK app's
 * context keys (gracePeriod, rotationWindow, healthCheckDeadline) and the command line's options (--grace, --timeout,
 * --min-age, …) both read it here, so `24` means the same thing (nothing: it is refused) in both.
 *
 * @example
 * parseDurationMs("24h"); // 86_400_000
 * parseDurationMs("24"); // throws: "24" has no unit: write 24s, 24m, 24h or 24d
 */
export function parseDurationMs(text: string): number {
  const problem = durationProblem(text);
  if (problem) throw new ConfigurationError(problem);
  const [, amount, unit] = DURATION.exec(text.trim()) as RegExpExecArray;
  const ms = Number(amount) * (UNITS[unit as string] as number);
  if (!Number.isSafeInteger(ms)) throw new ConfigurationError(`"${text.trim()}" is too long a duration`);
  return ms;
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
