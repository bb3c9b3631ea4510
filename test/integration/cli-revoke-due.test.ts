/**
 * `novala-rotation revoke-due` (issue 16, item 3) as an operator runs it on moto, whose Scheduler never fires: a child
 * process against moto and the Novala simulator, with the rotation function "deployed" (registered in moto with the
 * construct's environment) and the rotations run here (--run-steps). Asserts what it prints, its exit code, and what it
 * leaves at Novala and in the Scheduler group.
 */
import {
  CreateScheduleCommand,
  DeleteScheduleCommand,
  GetScheduleCommand,
  ListSchedulesCommand,
} from "@aws-sdk/client-scheduler";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { LOCAL_ROTATION_LAMBDA_ARN } from "../../cli/secrets-manager-driver.js";
import {
  postponedScheduleName,
  revocationScheduleName,
  revocationSchedulePrefix,
} from "../../lambdas/core/key-name.js";
import type { CreatedNovalaKey } from "../../lambdas/core/ports.js";
import { useMotoAndSimulator } from "../support/integration.js";
import { motoSuiteTitle, skipMoto, TEST_SCHEDULE_GROUP } from "../support/moto.js";
import { type CliRun, expectNoKeyMaterial, runCli } from "../support/run-cli.js";

const HERE = ["--run-steps", "--lambda-arn", LOCAL_ROTATION_LAMBDA_ARN];
const HOUR_MS = 3_600_000;

describe.skipIf(skipMoto)(motoSuiteTitle("novala-rotation revoke-due: due revocations run by hand"), () => {
  const world = useMotoAndSimulator({ POWERTOOLS_METRICS_DISABLED: "true", POWERTOOLS_LOG_LEVEL: "CRITICAL" });
  let consumer: CreatedNovalaKey;
  let arn: string;

  beforeEach(async () => {
    const manager = world.novala.model.seedKey({ name: "Rotation manager", scopes: ["api_keys.manage"] });
    const managerArn = await world.createSecret("novala/manager", manager);
    consumer = world.novala.model.seedKey({ name: "Acumatica Integration", scopes: ["leads.lead.read"] });
    arn = await world.createSecret("novala/acumatica", consumer, { managerSecretId: managerArn });
  });
  afterEach(() => vi.useRealTimers());

  async function cli(args: string[]): Promise<CliRun> {
    const run = await runCli(args, { endpoint: world.moto.endpoint });
    expectNoKeyMaterial(run, world.novala.model.issuedKeyMaterial());
    return run;
  }

  /** A rotation as `rotate` runs it on moto: the original key retired, its revocation scheduled after the grace. */
  async function rotate(): Promise<void> {
    const run = await cli(["rotate", "novala/acumatica", ...HERE, "--schedule", "rate(30 days)"]);
    expect(run.code, run.stderr).toBe(0);
  }

  async function schedules(): Promise<string[]> {
    const listed = await world.scheduler.send(
      new ListSchedulesCommand({ GroupName: TEST_SCHEDULE_GROUP, NamePrefix: revocationSchedulePrefix(arn) }),
    );
    return (listed.Schedules ?? []).map((schedule) => schedule.Name as string).sort();
  }

  /** The schedule finishSecret made, moved to a time that has passed (moto's Scheduler never fires it). */
  async function makeDue(name: string): Promise<void> {
    const made = await world.scheduler.send(new GetScheduleCommand({ GroupName: TEST_SCHEDULE_GROUP, Name: name }));
    await world.scheduler.send(new DeleteScheduleCommand({ GroupName: TEST_SCHEDULE_GROUP, Name: name }));
    const past = new Date(Date.now() - 10 * 60_000);
    await world.scheduler.send(
      new CreateScheduleCommand({
        GroupName: TEST_SCHEDULE_GROUP,
        Name: name,
        ScheduleExpression: `at(${past.toISOString().slice(0, 19)})`,
        FlexibleTimeWindow: { Mode: "OFF" },
        Target: made.Target,
      }),
    );
  }

  /** The due revocations revoke-due reports for `secret` (--json: the text's table wraps long details). */
  function dueOf(run: CliRun, secret = "novala/acumatica") {
    const report = JSON.parse(run.stdout) as { results: { secret: string; outcome: string; due: unknown[] }[] };
    return report.results.find((row) => row.secret === secret);
  }

  it("a due schedule: runs it as the revocation function would (revoked), removes it; a schedule not due is left alone", async () => {
    await world.deployRotationFunction(3600);
    await rotate();
    const name = revocationScheduleName(arn, consumer.id);
    expect(await schedules()).toEqual([name]);

    const early = await cli(["revoke-due", "novala/acumatica", "--json"]);
    expect(early.code, early.stderr).toBe(0);
    expect(dueOf(early)?.due).toEqual([
      expect.objectContaining({
        keyId: consumer.id,
        schedule: name,
        outcome: "not due",
        detail: expect.stringMatching(/^due .*: left to Scheduler \(revoke revokes it now\)$/),
      }),
    ]);
    expect(world.status(consumer.id)).toBe("active");
    expect(await schedules()).toEqual([name]);

    await makeDue(name);
    const text = await cli(["revoke-due", "novala/acumatica", "--schedule-group", TEST_SCHEDULE_GROUP]);
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toMatch(new RegExp(`│ novala/acumatica │ ${consumer.id} │ ${name} │ revoked +│`));
    expect(text.stdout).toContain("1 revoked");
    expect(world.status(consumer.id)).toBe("revoked");
    const run = await cli(["revoke-due", "novala/acumatica", "--json"]);
    expect(run.code, run.stderr).toBe(0);
    expect(dueOf(run)?.due).toEqual([expect.objectContaining({ keyId: consumer.id, outcome: "already revoked" })]);
    expect(world.status(consumer.id)).toBe("revoked");
    expect(await schedules()).toEqual([]);
    // The key AWSCURRENT holds is untouched; the manager key too.
    expect(world.status((await world.valueAt(arn, "AWSCURRENT")).keyId)).toBe("active");
  });

  it("a due schedule whose key a consumer still uses: postponed (a new schedule with the next name, the old one gone)", async () => {
    await world.deployRotationFunction(3600);
    await rotate();
    const name = revocationScheduleName(arn, consumer.id);
    await makeDue(name);
    // A consumer still calls with the old key, a minute after the rotator's own last use of it.
    world.novala.model.useKey(consumer.secretKey, new Date(Date.now() + 60_000));

    const run = await cli(["revoke-due", "novala/acumatica", "--json"]);
    expect(run.code, run.stderr).toBe(0);
    const report = JSON.parse(run.stdout);
    expect(report.results).toEqual([
      expect.objectContaining({
        secret: "novala/acumatica",
        due: [
          expect.objectContaining({
            keyId: consumer.id,
            schedule: name,
            outcome: "postponed",
            newSchedule: postponedScheduleName(name, 1),
            scheduleRemoved: true,
          }),
        ],
      }),
    ]);
    expect(world.status(consumer.id)).toBe("active");
    expect(await schedules()).toEqual([postponedScheduleName(name, 1)]);
    const next = await world.scheduler.send(
      new GetScheduleCommand({ GroupName: TEST_SCHEDULE_GROUP, Name: postponedScheduleName(name, 1) }),
    );
    expect(JSON.parse(next.Target?.Input ?? "{}")).toMatchObject({ keyId: consumer.id, postponements: 1 });
  });

  it("a lost schedule (AWSPREVIOUS active, no schedule: the dead-letter case): runs it once due", async () => {
    // Two hours ago on the simulator's clock: the keys made and the rotator's own uses of the old key (its proofs), so
    // that no use falls within the quiet window when revoke-due runs.
    vi.useFakeTimers({ toFake: ["Date"], now: Date.now() - 2 * HOUR_MS });
    const manager = world.novala.model.seedKey({ name: "Legacy manager", scopes: ["api_keys.manage"] });
    const managerArn = await world.createSecret("novala/legacy-manager", manager);
    const legacy = world.novala.model.seedKey({ name: "Legacy Integration", scopes: ["leads.lead.read"] });
    const legacyArn = await world.createSecret("novala/legacy", legacy, { managerSecretId: managerArn });
    await world.deployRotationFunction(1);
    const rotated = await cli(["rotate", "novala/legacy", ...HERE, "--schedule", "rate(30 days)"]);
    expect(rotated.code, rotated.stderr).toBe(0);
    vi.useRealTimers();
    const name = revocationScheduleName(legacyArn, legacy.id);
    // Its grace period (1 s) is over; Scheduler gave up on its schedule and deleted it.
    await new Promise((resolve) => setTimeout(resolve, 1500));
    await world.scheduler.send(new DeleteScheduleCommand({ GroupName: TEST_SCHEDULE_GROUP, Name: name }));
    expect(world.status(legacy.id)).toBe("active");

    const run = await cli(["revoke-due", "novala/legacy", "--json"]);
    expect(run.code, run.stderr).toBe(0);
    expect(dueOf(run, "novala/legacy")?.due).toEqual([
      expect.objectContaining({
        keyId: legacy.id,
        outcome: "revoked",
        detail: expect.stringMatching(/^AWSPREVIOUS's key, no schedule \(lost/),
      }),
    ]);
    expect(world.status(legacy.id)).toBe("revoked");
    expect(world.status(manager.id)).toBe("active");

    // Run again: nothing is revoked twice.
    const again = await cli(["revoke-due", "novala/legacy"]);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toContain("already revoked");
  });

  it("a lost schedule whose grace period is not over: its schedule is put back, the key stays", async () => {
    await world.deployRotationFunction(3600);
    await rotate();
    const name = revocationScheduleName(arn, consumer.id);
    await world.scheduler.send(new DeleteScheduleCommand({ GroupName: TEST_SCHEDULE_GROUP, Name: name }));

    const run = await cli(["revoke-due", "novala/acumatica", "--json"]);
    expect(run.code, run.stderr).toBe(0);
    expect(dueOf(run)?.due).toEqual([
      expect.objectContaining({
        keyId: consumer.id,
        outcome: "scheduled",
        newSchedule: name,
        detail: expect.stringMatching(
          /^AWSPREVIOUS's key, no schedule: not due until .*; its revocation schedule is back$/,
        ),
      }),
    ]);
    expect(world.status(consumer.id)).toBe("active");
    expect(await schedules()).toEqual([name]);
  });

  it("a selection: each secret's due revocations, one table; Novala down: failed with the cause, the schedule kept (exit 1)", async () => {
    await world.deployRotationFunction(3600);
    await rotate();
    const name = revocationScheduleName(arn, consumer.id);
    await makeDue(name);
    await world.novala.stop();

    const run = await cli(["revoke-due", "--prefix", "novala/", "--json"]);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain("2 secret(s) match --prefix novala/");
    expect(dueOf(run)?.due).toEqual([
      expect.objectContaining({
        outcome: "failed",
        detail: expect.stringMatching(/Novala .*the schedule stays: run revoke-due again once the cause is fixed$/),
      }),
    ]);
    expect(dueOf(run, "novala/manager")).toMatchObject({ outcome: "not rotated", due: [] });
    expect(await schedules()).toEqual([name]);
  });

  it("refuses without a deployment to follow: the secret names no rotation function", async () => {
    const run = await cli(["revoke-due", "novala/acumatica"]);
    expect(run.code).toBe(1);
    expect(run.stdout + run.stderr).toMatch(/no rotation function|add --lambda-arn|--schedule-group/);
  });
});
