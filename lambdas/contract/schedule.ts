/** The rotation schedule grammar Secrets Manager accepts (RotationRules.ScheduleExpression). */

const RATE = /^rate\((\d+) (hours?|days?)\)$/;
const CRON = /^cron\((\S+(?: \S+){5})\)$/;

/**
 * Why `expression` is not a rotation schedule, or undefined when it is one; the construct (scheduleExpression, and the
 * app's `schedule` context key) and the command line (`rotate --schedule`) check it the same way: `rate(N hours)` or
 * `rate(N days)`, every 4 hours to 1000 days, or a six-field `cron(minutes hours day-of-month month day-of-week year)`
 * in UTC in which exactly one of day-of-month and day-of-week is `?` (both set is ambiguous, and Secrets Manager
 * refuses it).
 *
 * @example
 * scheduleProblem("rate(30 days)"); // undefined
 * scheduleProblem("30"); // '"30" is not a schedule: write "rate(30 days)"'
 */
export function scheduleProblem(expression: string): string | undefined {
  const text = expression.trim();
  const rate = RATE.exec(text);
  if (rate) {
    const hours = Number(rate[1]) * (rate[2]?.startsWith("day") ? 24 : 1);
    if (hours < 4 || hours > 1000 * 24) return `must rotate every 4 hours to 1000 days, got "${text}"`;
    return undefined;
  }
  const cron = CRON.exec(text);
  if (cron) {
    const [, , dayOfMonth, , dayOfWeek] = (cron[1] as string).split(" ");
    if (dayOfMonth !== "?" && dayOfWeek !== "?") {
      return (
        `"${text}" sets both day-of-month (${dayOfMonth}) and day-of-week (${dayOfWeek}), which is ambiguous: ` +
        `make one of them "?", e.g. "cron(0 3 ? * SUN *)"`
      );
    }
    if (dayOfMonth === "?" && dayOfWeek === "?") {
      return `"${text}" leaves both day-of-month and day-of-week "?": set one of them`;
    }
    return undefined;
  }
  if (/^\d+$/.test(text)) return `"${text}" is not a schedule: write "rate(${text} days)"`;
  return `must be "rate(N days)", "rate(N hours)" or a six-field "cron(...)" expression, got "${text}"`;
}

/** Whether `expression` is a cron() schedule (judged by its next rotation date only, not an interval). */
export function isCron(expression: string): boolean {
  return expression.trim().startsWith("cron(");
}
