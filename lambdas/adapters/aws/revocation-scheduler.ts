/** The RevocationScheduler port over EventBridge Scheduler one-time schedules. */
import {
  ConflictException,
  CreateScheduleCommand,
  type CreateScheduleInput,
  ListSchedulesCommand,
  ResourceNotFoundException,
  type SchedulerClient,
} from "@aws-sdk/client-scheduler";
import type { RevocationTarget } from "../../contract/configuration.js";
import type { RevocationRequest } from "../../contract/revocation-request.js";
import { isScheduleOrPostponement } from "../../core/key-name.js";
import type { RevocationScheduler } from "../../core/ports.js";
import { AwsServiceError, awsFailure, awsFailureMessage } from "./errors.js";

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

/**
 * The RevocationScheduler over EventBridge Scheduler: one one-time `at()` schedule per retired key, whose target is
 * the revocation Lambda with the RevocationRequest as input. The schedule's name is deterministic (the caller derives
 * it from secret and key), so a retried finishSecret meets ConflictException and reports "exists" instead of making a
 * second schedule. The CreateSchedule input is built by a pure function shared with the local model adapter.
 */
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
      if (error instanceof ConflictException) return "exists";
      throw schedulerError("CreateSchedule", this.target.scheduleGroup, name, error);
    }
  }

  /**
   * One ListSchedules by the name as a prefix (paginated; a key has one schedule and a few postponements at most)
   * sees the schedule and its postponements alike. A group that does not exist holds no schedules.
   */
  async isScheduled(name: string): Promise<boolean> {
    try {
      let nextToken: string | undefined;
      do {
        const page = await this.client.send(
          new ListSchedulesCommand({ GroupName: this.target.scheduleGroup, NamePrefix: name, NextToken: nextToken }),
        );
        if ((page.Schedules ?? []).some((schedule) => isScheduleOrPostponement(schedule.Name ?? "", name))) {
          return true;
        }
        nextToken = page.NextToken;
      } while (nextToken);
      return false;
    } catch (error) {
      if (error instanceof ResourceNotFoundException) return false;
      throw schedulerError("ListSchedules", this.target.scheduleGroup, name, error);
    }
  }
}

/** An EventBridge Scheduler call failed: the operation and the service's exception name as fields. */
export class SchedulerError extends AwsServiceError {
  override name = "SchedulerError";
}

/** Any error of `operation` on the schedule `group/name` as a SchedulerError; no raw response is kept. */
export function schedulerError(operation: string, group: string, name: string, error: unknown): SchedulerError {
  if (error instanceof SchedulerError) return error;
  const failure = awsFailure(operation, error);
  return new SchedulerError(failure, awsFailureMessage(`${group}/${name}`, failure));
}
