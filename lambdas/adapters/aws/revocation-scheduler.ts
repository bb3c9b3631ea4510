import {
  CreateScheduleCommand,
  type CreateScheduleInput,
  GetScheduleCommand,
  type SchedulerClient,
} from "@aws-sdk/client-scheduler";
import type { RevocationTarget } from "../../core/config.js";
import type { RevocationRequest, RevocationScheduler } from "../../core/ports.js";

/**
 * The RevocationScheduler over EventBridge Scheduler: one one-time `at()` schedule per retired key, whose target is
 * the revocation Lambda with the RevocationRequest as input. The schedule's name is deterministic (the caller derives
 * it from secret and key), so a retried finishSecret meets ConflictException and reports "exists" instead of making a
 * second schedule. The CreateSchedule input is built by a pure function shared with the local model adapter.
 */

/**
 * Retry policy for delivering the revocation event to the Lambda. Scheduler invokes a Lambda target asynchronously,
 * so these retries cover only delivery (throttling, service errors); the function's own failures are retried by
 * Lambda's asynchronous invocation. Revoking is idempotent (Novala answers 404 for a revoked key), so retrying is
 * always safe. Scheduler's default (185 attempts over 24 hours) would hide a delivery problem for a day while the
 * retired key stays live; 10 attempts within 6 hours, then the dead-letter queue (alarmed), surfaces it the same
 * working day and still rides out a regional blip.
 */
export const REVOCATION_RETRY_POLICY = { MaximumRetryAttempts: 10, MaximumEventAgeInSeconds: 6 * 3600 } as const;

/** `at(yyyy-mm-ddThh:mm:ss)` in UTC, rounded up to the whole second so the grace period is never cut short. */
export function atExpression(at: Date): string {
  const seconds = Math.ceil(at.getTime() / 1000);
  return `at(${new Date(seconds * 1000).toISOString().slice(0, 19)})`;
}

/** The CreateSchedule input of one revocation schedule. Pure: the AWS and the model adapters both use it. */
export function buildRevocationScheduleInput(
  target: RevocationTarget,
  name: string,
  at: Date,
  request: RevocationRequest,
): CreateScheduleInput & { Name: string; GroupName: string; ScheduleExpression: string } {
  return {
    Name: name,
    GroupName: target.scheduleGroup,
    Description: `Revoke Novala key ${request.keyId} retired from ${request.secretId}`.slice(0, 512),
    ScheduleExpression: atExpression(at),
    ScheduleExpressionTimezone: "UTC",
    FlexibleTimeWindow: { Mode: "OFF" },
    ActionAfterCompletion: "DELETE",
    State: "ENABLED",
    Target: {
      Arn: target.functionArn,
      RoleArn: target.schedulerRoleArn,
      Input: JSON.stringify(request),
      RetryPolicy: { ...REVOCATION_RETRY_POLICY },
      ...(target.deadLetterQueueArn && { DeadLetterConfig: { Arn: target.deadLetterQueueArn } }),
    },
  };
}

export class AwsRevocationScheduler implements RevocationScheduler {
  constructor(
    private readonly client: SchedulerClient,
    private readonly target: RevocationTarget,
  ) {}

  async ensureScheduled(name: string, at: Date, request: RevocationRequest): Promise<"created" | "exists"> {
    try {
      await this.client.send(new CreateScheduleCommand(buildRevocationScheduleInput(this.target, name, at, request)));
      return "created";
    } catch (error) {
      if ((error as { name?: unknown } | null)?.name === "ConflictException") return "exists";
      throw schedulerError(name, this.target.scheduleGroup, error);
    }
  }

  async isScheduled(name: string): Promise<boolean> {
    try {
      await this.client.send(new GetScheduleCommand({ Name: name, GroupName: this.target.scheduleGroup }));
      return true;
    } catch (error) {
      if ((error as { name?: unknown } | null)?.name === "ResourceNotFoundException") return false;
      throw schedulerError(name, this.target.scheduleGroup, error);
    }
  }
}

/** The service's exception name and message, naming the schedule; no raw response is kept. */
export function schedulerError(name: string, group: string, error: unknown): Error {
  const errorName = (error as { name?: unknown } | null)?.name;
  const message = error instanceof Error ? error.message : String(error);
  const wrapped = new Error(
    `CreateSchedule ${group}/${name}: ${typeof errorName === "string" ? `${errorName}: ` : ""}${message}`,
  );
  if (typeof errorName === "string") wrapped.name = errorName;
  return wrapped;
}
