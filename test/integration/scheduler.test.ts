import {
  CreateScheduleGroupCommand,
  GetScheduleCommand,
  ListSchedulesCommand,
  type SchedulerClient,
} from "@aws-sdk/client-scheduler";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  AwsRevocationScheduler,
  atExpression,
  buildRevocationScheduleInput,
} from "../../lambdas/adapters/aws/revocation-scheduler.js";
import type { RevocationTarget } from "../../lambdas/contract/configuration.js";
import type { RevocationRequest } from "../../lambdas/contract/revocation-request.js";
import { revocationScheduleName } from "../../lambdas/core/key-name.js";
import { ModelRevocationScheduler } from "../../local/model-adapters.js";
import { SchedulerModel } from "../../local/scheduler-model.js";
import { type Moto, motoSuiteTitle, schedulerClientFor, skipMoto, startMoto } from "../support/moto.js";

/**
 * The revocation schedule as EventBridge Scheduler stores it: AwsRevocationScheduler against moto's Scheduler (the
 * exact fields, ConflictException read as "exists", never a second schedule) and ModelRevocationScheduler against the
 * in-process model, which the local run fires with `due(now)`.
 */

const SECRET_ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:novala/acme-AbCdEf";
const target: RevocationTarget = {
  scheduleGroup: "novala-revocations",
  functionArn: "arn:aws:lambda:us-east-1:123456789012:function:novala-revoke",
  schedulerRoleArn: "arn:aws:iam::123456789012:role/novala-scheduler",
  deadLetterQueueArn: "arn:aws:sqs:us-east-1:123456789012:novala-revocation-dlq",
};
const at = new Date("2026-11-28T17:00:00.250Z");
const request: RevocationRequest = {
  secretId: SECRET_ARN,
  keyId: "key_old",
  rotationToken: "0b7c2f5e-7d0e-4a8e-9d52-3c1a2b4c5d6e",
  revokeAfter: at.toISOString(),
};

/** What GetSchedule must answer for the schedule of `request`. */
function expectedSchedule(name: string, withDlq: boolean) {
  return {
    Name: name,
    GroupName: target.scheduleGroup,
    Description: `Revoke Novala key key_old retired from ${SECRET_ARN}`,
    ScheduleExpression: "at(2026-11-28T17:00:01)",
    ScheduleExpressionTimezone: "UTC",
    FlexibleTimeWindow: { Mode: "OFF" },
    ActionAfterCompletion: "DELETE",
    State: "ENABLED",
    Target: {
      Arn: target.functionArn,
      RoleArn: target.schedulerRoleArn,
      Input: JSON.stringify(request),
      RetryPolicy: { MaximumRetryAttempts: 10, MaximumEventAgeInSeconds: 21_600 },
      ...(withDlq && { DeadLetterConfig: { Arn: target.deadLetterQueueArn } }),
    },
  };
}

describe("buildRevocationScheduleInput", () => {
  it("rounds at() up to the whole second in UTC and leaves the DLQ out when none is configured", () => {
    expect(atExpression(new Date("2026-01-02T03:04:05.000Z"))).toBe("at(2026-01-02T03:04:05)");
    expect(atExpression(new Date("2026-01-02T03:04:05.001Z"))).toBe("at(2026-01-02T03:04:06)");
    const { deadLetterQueueArn: _, ...withoutDlq } = target;
    const input = buildRevocationScheduleInput(withoutDlq, "n", at, request);
    expect(input.Target?.DeadLetterConfig).toBeUndefined();
    expect(JSON.parse(input.Target?.Input ?? "")).toEqual(request);
  });
});

describe.skipIf(skipMoto)(motoSuiteTitle("AwsRevocationScheduler against moto's Scheduler"), () => {
  let moto: Moto;
  let client: SchedulerClient;

  beforeAll(async () => {
    moto = await startMoto();
    client = schedulerClientFor(moto.endpoint, { maxAttempts: 1 });
    await client.send(new CreateScheduleGroupCommand({ Name: target.scheduleGroup }));
  });
  afterAll(async () => {
    client?.destroy();
    await moto?.stop();
  });

  it("creates the one-time schedule with exactly the fields rotation relies on", async () => {
    const scheduler = new AwsRevocationScheduler(client, target);
    const name = revocationScheduleName(SECRET_ARN, "key_old");
    expect(await scheduler.ensureScheduled(name, at, request)).toBe("created");
    const stored = await client.send(new GetScheduleCommand({ Name: name, GroupName: target.scheduleGroup }));
    expect(stored).toMatchObject(expectedSchedule(name, true));
    expect(stored.Arn).toBe(`arn:aws:scheduler:us-east-1:123456789012:schedule/${target.scheduleGroup}/${name}`);
  });

  it("a second ensure meets ConflictException, answers 'exists' and makes no second schedule", async () => {
    const scheduler = new AwsRevocationScheduler(client, target);
    const name = revocationScheduleName(SECRET_ARN, "key_again");
    expect(await scheduler.ensureScheduled(name, at, { ...request, keyId: "key_again" })).toBe("created");
    const later = new Date(at.getTime() + 3_600_000);
    expect(await scheduler.ensureScheduled(name, later, { ...request, keyId: "key_again" })).toBe("exists");
    const listed = await client.send(new ListSchedulesCommand({ GroupName: target.scheduleGroup, NamePrefix: name }));
    expect(listed.Schedules?.map((schedule) => schedule.Name)).toEqual([name]);
    const stored = await client.send(new GetScheduleCommand({ Name: name, GroupName: target.scheduleGroup }));
    expect(stored.ScheduleExpression).toBe("at(2026-11-28T17:00:01)"); // the first one, never replaced
  });

  it("other errors are rethrown naming the schedule", async () => {
    // Known deviation: Scheduler answers ResourceNotFoundException for a missing group (CreateSchedule API
    // reference, Errors); moto fails with an HTML 500 page (a KeyError), which the SDK reports as a parse error.
    const scheduler = new AwsRevocationScheduler(client, { ...target, scheduleGroup: "no-such-group" });
    const error = await scheduler.ensureScheduled("revoke-x", at, request).catch((caught: Error) => caught);
    expect(error).toBeInstanceOf(Error);
    expect((error as Error).message).toContain("CreateSchedule no-such-group/revoke-x");
  });
});

describe("ModelRevocationScheduler", () => {
  it("stores the same schedule, answers 'exists' on a retry, and the model fires it when due", async () => {
    const model = new SchedulerModel({ groups: [target.scheduleGroup] });
    const scheduler = new ModelRevocationScheduler(model, target);
    const name = revocationScheduleName(SECRET_ARN, "key_old");
    expect(await scheduler.ensureScheduled(name, at, request)).toBe("created");
    expect(await scheduler.ensureScheduled(name, at, request)).toBe("exists");
    expect(model.getSchedule({ Name: name, GroupName: target.scheduleGroup })).toMatchObject(
      expectedSchedule(name, true),
    );
    expect(model.listSchedules({ GroupName: target.scheduleGroup, NamePrefix: "revoke-" }).Schedules).toHaveLength(1);

    expect(model.due(new Date("2026-11-28T17:00:00.999Z"))).toEqual([]);
    const due = model.due(new Date("2026-11-28T17:00:01Z"));
    expect(due.map((schedule) => schedule.Name)).toEqual([name]);
    expect(JSON.parse(due[0]?.Target?.Input ?? "")).toEqual(request);
    model.completed({ Name: name, GroupName: target.scheduleGroup });
    expect(model.listSchedules({ GroupName: target.scheduleGroup }).Schedules).toEqual([]);
  });

  it("an unknown group fails as Scheduler does", async () => {
    const scheduler = new ModelRevocationScheduler(new SchedulerModel(), target);
    await expect(scheduler.ensureScheduled("revoke-x", at, request)).rejects.toMatchObject({
      name: "SchedulerError",
      operation: "CreateSchedule",
      awsErrorName: "ResourceNotFoundException",
    });
  });
});
