import type { CreateScheduleInput, GetScheduleOutput, ScheduleSummary } from "@aws-sdk/client-scheduler";

/**
 * An in-process model of EventBridge Scheduler's schedules within schedule groups: what the revocation scheduler
 * creates, and what the local run fires. It stores what CreateSchedule is given (expression, timezone, target with
 * input, retry policy and dead-letter queue, ActionAfterCompletion, flexible window) so tests can read it back, and
 * `due(now)` lists the one-time `at()` schedules whose time has come. Nothing fires by itself.
 */

export class SchedulerModelError extends Error {}
export class ConflictException extends SchedulerModelError {
  override name = "ConflictException";
}
export class ResourceNotFoundException extends SchedulerModelError {
  override name = "ResourceNotFoundException";
}
export class ValidationException extends SchedulerModelError {
  override name = "ValidationException";
}

/** A stored schedule, as GetSchedule answers it. */
export type StoredSchedule = GetScheduleOutput & {
  Arn: string;
  Name: string;
  GroupName: string;
  ScheduleExpression: string;
  CreationDate: Date;
};

export interface SchedulerModelOptions {
  region?: string;
  accountId?: string;
  clock?: { now(): Date };
  /** Groups that exist from the start besides "default". */
  groups?: string[];
}

const NAME_PATTERN = /^[0-9a-zA-Z-_.]{1,64}$/;
const AT_PATTERN = /^at\((\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})\)$/;

export class SchedulerModel {
  readonly region: string;
  readonly accountId: string;
  private readonly clock: { now(): Date };
  private readonly groups = new Map<string, Map<string, StoredSchedule>>();

  constructor(options: SchedulerModelOptions = {}) {
    this.region = options.region ?? "us-east-1";
    this.accountId = options.accountId ?? "123456789012";
    this.clock = options.clock ?? { now: () => new Date() };
    this.groups.set("default", new Map());
    for (const group of options.groups ?? []) this.createScheduleGroup({ Name: group });
  }

  createScheduleGroup(input: { Name?: string }): { ScheduleGroupArn: string } {
    const name = checkName(input.Name, "Name");
    if (this.groups.has(name)) throw new ConflictException(`Schedule group ${name} already exists.`);
    this.groups.set(name, new Map());
    return { ScheduleGroupArn: `arn:aws:scheduler:${this.region}:${this.accountId}:schedule-group/${name}` };
  }

  createSchedule(input: CreateScheduleInput): { ScheduleArn: string } {
    const name = checkName(input.Name, "Name");
    const groupName = input.GroupName ?? "default";
    const group = this.group(groupName);
    const expression = input.ScheduleExpression;
    if (!expression || !/^(at\(.+\)|rate\(.+\)|cron\(.+\))$/.test(expression)) {
      throw new ValidationException("Invalid Schedule Expression: expected at(), rate() or cron().");
    }
    if (expression.startsWith("at(") && !AT_PATTERN.test(expression)) {
      throw new ValidationException("Invalid Schedule Expression: at() takes yyyy-mm-ddThh:mm:ss.");
    }
    const window = input.FlexibleTimeWindow;
    if (!window?.Mode || (window.Mode === "FLEXIBLE") !== (window.MaximumWindowInMinutes !== undefined)) {
      throw new ValidationException("FlexibleTimeWindow needs Mode, and MaximumWindowInMinutes exactly when FLEXIBLE.");
    }
    const target = input.Target;
    if (!target?.Arn || !target.RoleArn) throw new ValidationException("Target needs Arn and RoleArn.");
    const retry = target.RetryPolicy;
    if (
      retry &&
      ((retry.MaximumRetryAttempts !== undefined &&
        (retry.MaximumRetryAttempts < 0 || retry.MaximumRetryAttempts > 185)) ||
        (retry.MaximumEventAgeInSeconds !== undefined &&
          (retry.MaximumEventAgeInSeconds < 60 || retry.MaximumEventAgeInSeconds > 86_400)))
    ) {
      throw new ValidationException("RetryPolicy: MaximumRetryAttempts 0-185, MaximumEventAgeInSeconds 60-86400.");
    }
    if (input.Description !== undefined && input.Description.length > 512) {
      throw new ValidationException("Description must be at most 512 characters.");
    }
    if (group.has(name)) throw new ConflictException(`Schedule ${name} already exists.`);
    const now = this.clock.now();
    const schedule: StoredSchedule = structuredClone({
      Arn: `arn:aws:scheduler:${this.region}:${this.accountId}:schedule/${groupName}/${name}`,
      Name: name,
      GroupName: groupName,
      ScheduleExpression: expression,
      ScheduleExpressionTimezone: input.ScheduleExpressionTimezone ?? "UTC",
      ...(input.Description !== undefined && { Description: input.Description }),
      State: input.State ?? "ENABLED",
      FlexibleTimeWindow: window,
      Target: {
        ...target,
        // Scheduler's documented default when no RetryPolicy is given.
        RetryPolicy: retry ?? { MaximumRetryAttempts: 185, MaximumEventAgeInSeconds: 86_400 },
      },
      ...(input.ActionAfterCompletion !== undefined && { ActionAfterCompletion: input.ActionAfterCompletion }),
      ...(input.StartDate !== undefined && { StartDate: input.StartDate }),
      ...(input.EndDate !== undefined && { EndDate: input.EndDate }),
      CreationDate: now,
      LastModificationDate: now,
    });
    group.set(name, schedule);
    return { ScheduleArn: schedule.Arn };
  }

  getSchedule(input: { Name?: string; GroupName?: string }): StoredSchedule {
    const name = checkName(input.Name, "Name");
    const schedule = this.group(input.GroupName ?? "default").get(name);
    if (!schedule) throw new ResourceNotFoundException(`Schedule ${name} does not exist.`);
    return structuredClone(schedule);
  }

  listSchedules(input: { GroupName?: string; NamePrefix?: string; State?: string } = {}): {
    Schedules: ScheduleSummary[];
  } {
    const groups = input.GroupName === undefined ? [...this.groups.values()] : [this.group(input.GroupName)];
    const schedules = groups
      .flatMap((group) => [...group.values()])
      .filter((schedule) => input.NamePrefix === undefined || schedule.Name.startsWith(input.NamePrefix))
      .filter((schedule) => input.State === undefined || schedule.State === input.State)
      .map((schedule) => ({
        Arn: schedule.Arn,
        Name: schedule.Name,
        GroupName: schedule.GroupName,
        State: schedule.State,
        CreationDate: schedule.CreationDate,
        LastModificationDate: schedule.LastModificationDate,
        Target: { Arn: schedule.Target?.Arn },
      }));
    return { Schedules: schedules };
  }

  deleteSchedule(input: { Name?: string; GroupName?: string }): void {
    const name = checkName(input.Name, "Name");
    const group = this.group(input.GroupName ?? "default");
    if (!group.delete(name)) throw new ResourceNotFoundException(`Schedule ${name} does not exist.`);
  }

  /**
   * Enabled one-time schedules whose `at()` time (in their timezone; only UTC is modelled) is at or before `now`,
   * earliest first. The local run invokes each target, then calls `completed`.
   */
  due(now: Date = this.clock.now()): StoredSchedule[] {
    const due: Array<{ at: number; schedule: StoredSchedule }> = [];
    for (const group of this.groups.values()) {
      for (const schedule of group.values()) {
        const at = atTime(schedule);
        if (at !== undefined && schedule.State === "ENABLED" && at <= now.getTime()) due.push({ at, schedule });
      }
    }
    return due.sort((a, b) => a.at - b.at).map(({ schedule }) => structuredClone(schedule));
  }

  /** After a one-time schedule fired: deleted with ActionAfterCompletion DELETE, otherwise left (it never fires again). */
  completed(input: { Name: string; GroupName?: string }): void {
    const group = this.group(input.GroupName ?? "default");
    const schedule = group.get(input.Name);
    if (!schedule) return;
    if (schedule.ActionAfterCompletion === "DELETE") group.delete(input.Name);
    else schedule.State = "DISABLED";
  }

  private group(name: string): Map<string, StoredSchedule> {
    const group = this.groups.get(name);
    if (!group) throw new ResourceNotFoundException(`Schedule group ${name} does not exist.`);
    return group;
  }
}

/** The epoch milliseconds of an `at()` schedule, or undefined for recurring ones. */
export function atTime(schedule: Pick<StoredSchedule, "ScheduleExpression" | "ScheduleExpressionTimezone">) {
  const match = AT_PATTERN.exec(schedule.ScheduleExpression);
  if (!match) return undefined;
  const zone = schedule.ScheduleExpressionTimezone ?? "UTC";
  if (zone !== "UTC" && zone !== "Etc/UTC") {
    throw new ValidationException(`the scheduler model only understands at() in UTC, not ${zone}`);
  }
  return Date.parse(`${match[1]}Z`);
}

function checkName(name: string | undefined, field: string): string {
  if (!name || !NAME_PATTERN.test(name)) {
    throw new ValidationException(`${field} must be 1-64 characters of [0-9a-zA-Z-_.].`);
  }
  return name;
}
