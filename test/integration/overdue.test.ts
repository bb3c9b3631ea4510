import { CreateSecretCommand, RotateSecretCommand, type SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { AwsSecretStore } from "../../lambdas/adapters/aws/secret-store.js";
import { OVERDUE_CHECK } from "../../lambdas/contract/environment.js";
import { checkRotationsOverdue, overdueReason } from "../../lambdas/core/overdue.js";
import type { RotationScheduleState, SecretDescription } from "../../lambdas/core/ports.js";
import { RecordingTelemetry } from "../../local/recording-telemetry.js";
import { caught } from "../support/caught.js";
import { useMotoAndSimulatorForSuite } from "../support/integration.js";
import { lambdaEnvironment, type Moto, motoSuiteTitle, skipMoto } from "../support/moto.js";
import { createWorld } from "../support/world.js";

/**
 * The daily overdue check: which secrets have not rotated within their schedule plus the window (the logic, over the
 * Secrets Manager model), and the rotation function answering the construct's check event against moto.
 */

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const NOW = new Date("2026-12-01T12:00:00Z");

function described(rotationEnabled: boolean, schedule: RotationScheduleState): SecretDescription {
  return { arn: "arn:secret", name: "novala/acme", rotationEnabled, versionStages: {}, schedule };
}
const ago = (ms: number) => new Date(NOW.getTime() - ms);

describe("overdueReason", () => {
  it.each([
    ["rotation disabled", described(false, {}), /rotation is not enabled/],
    ["next rotation still ahead", described(true, { nextRotation: ago(-DAY), automaticallyAfterDays: 30 }), undefined],
    ["due, within its 3-hour window", described(true, { nextRotation: ago(2 * HOUR), window: "3h" }), undefined],
    ["due, past its 3-hour window", described(true, { nextRotation: ago(4 * HOUR), window: "3h" }), /has not happened/],
    ["due, within the default window (a day)", described(true, { nextRotation: ago(23 * HOUR) }), undefined],
    ["due, past the default window", described(true, { nextRotation: ago(25 * HOUR) }), /has not happened/],
    [
      "last rotated within 30 days plus the window",
      described(true, { lastRotated: ago(30 * DAY + 23 * HOUR), automaticallyAfterDays: 30 }),
      undefined,
    ],
    [
      "last rotated longer ago than 30 days plus the window",
      described(true, { lastRotated: ago(31 * DAY + HOUR), automaticallyAfterDays: 30 }),
      /longer ago than its schedule plus the window/,
    ],
    [
      "rate(12 hours) with a 1-hour window, last rotated 14 hours ago",
      described(true, { lastRotated: ago(14 * HOUR), scheduleExpression: "rate(12 hours)", window: "1h" }),
      /longer ago/,
    ],
    [
      "cron(): only the next date counts",
      described(true, { lastRotated: ago(90 * DAY), scheduleExpression: "cron(0 4 ? * MON *)", window: "2h" }),
      undefined,
    ],
  ])("%s", (_name, description, expected) => {
    const reason = overdueReason(description, NOW);
    if (expected === undefined) expect(reason).toBeUndefined();
    else expect(reason).toMatch(expected);
  });
});

describe("overdueReason: a stuck rotation (the verdict's rule, lambdas/core/verdict.ts)", () => {
  const pending = {
    ...described(true, { nextRotation: ago(-DAY) }),
    versionStages: { v1: ["AWSCURRENT"], v2: ["AWSPENDING"] },
  };
  it("counts AWSPENDING on another version made over an hour ago, and names no step it cannot know", () => {
    const reason = overdueReason(pending, NOW, [
      { versionId: "v2", stages: ["AWSPENDING"], createdDate: ago(2 * HOUR) },
    ]);
    expect(reason).toBe("rotation stuck since 2026-12-01 10:00:00Z (begun over 1 h ago, not finished)");
  });
  it("leaves alone a rotation under way, and one whose version's date it was not given", () => {
    expect(overdueReason(pending, NOW, [{ versionId: "v2", stages: ["AWSPENDING"], createdDate: ago(HOUR / 2) }])).toBe(
      undefined,
    );
    expect(overdueReason(pending, NOW)).toBeUndefined();
  });
});

describe("checkRotationsOverdue over the Secrets Manager model", () => {
  it("counts a rotation stuck for over an hour, and reads the versions' dates only for a secret with one pending", async () => {
    const world = createWorld();
    await world.rotate();
    const listed = vi.spyOn(world.deps.store, "listVersions");
    const check = async () =>
      checkRotationsOverdue(
        { store: world.deps.store, telemetry: new RecordingTelemetry(), clock: world.clock },
        { check: OVERDUE_CHECK, secretIds: [world.secretArn] },
      );
    expect((await check()).overdue).toEqual([]);
    // Nothing pending: DescribeSecret was enough.
    expect(listed).not.toHaveBeenCalled();
    world.startRotation();
    expect((await check()).overdue).toEqual([]);
    world.clock.advance(2 * HOUR);
    expect((await check()).overdue).toEqual([
      {
        secretId: world.secretArn,
        reason: expect.stringMatching(/^rotation stuck since .* \(begun over 1 h ago, not finished\)$/),
      },
    ]);
    expect(listed).toHaveBeenCalledTimes(2);
  });

  it("counts nothing after a rotation, the secret once its schedule and window have passed, and an unknown secret", async () => {
    const world = createWorld();
    await world.rotate();
    const check = async () => {
      const telemetry = new RecordingTelemetry();
      const result = await checkRotationsOverdue(
        { store: world.deps.store, telemetry, clock: world.clock },
        { check: OVERDUE_CHECK, secretIds: [world.secretArn, "novala/missing"] },
      );
      return { result, telemetry };
    };

    const fresh = await check();
    expect(fresh.result.overdue).toEqual([
      { secretId: "novala/missing", reason: expect.stringMatching(/^could not be checked: .*ResourceNotFound/) },
    ]);
    expect(fresh.telemetry.metrics).toEqual([
      { name: "RotationsOverdue", value: 1, unit: "Count" },
      // The rotated secret: its last rotation is the oldest (the missing one has none).
      { name: "OldestRotationAgeDays", value: 0, unit: "None" },
    ]);

    world.clock.advance(31 * DAY + HOUR);
    const late = await check();
    expect(late.result.overdue.map((entry) => entry.secretId)).toEqual([world.secretArn, "novala/missing"]);
    expect(late.telemetry.count("RotationsOverdue")).toBe(2);
    expect(late.telemetry.count("OldestRotationAgeDays")).toBe(31.04);
    expect(late.telemetry.lines).toContainEqual(
      expect.objectContaining({ level: "error", message: "rotation is overdue", fields: expect.any(Object) }),
    );
  });
});

describe.skipIf(skipMoto)(motoSuiteTitle("the rotation function's overdue check against moto"), () => {
  let moto: Moto;
  let secrets: SecretsManagerClient;
  const savedEnv = { ...process.env };
  const servers = useMotoAndSimulatorForSuite();

  beforeAll(async () => {
    ({ moto, secrets } = servers);
    Object.assign(process.env, lambdaEnvironment(moto.endpoint, { POWERTOOLS_LOG_LEVEL: "CRITICAL" }));
  });

  afterAll(() => {
    for (const name of Object.keys(process.env)) if (!(name in savedEnv)) delete process.env[name];
    Object.assign(process.env, savedEnv);
  });

  it("reads DescribeSecret's schedule, and the handler publishes the count of overdue secrets", async () => {
    const rotated = await secrets.send(new CreateSecretCommand({ Name: "novala/rotated", SecretString: "{}" }));
    const idle = await secrets.send(new CreateSecretCommand({ Name: "novala/idle", SecretString: "{}" }));
    await secrets.send(
      new RotateSecretCommand({ SecretId: rotated.ARN, RotationRules: { AutomaticallyAfterDays: 30, Duration: "4h" } }),
    );
    const description = await new AwsSecretStore(secrets).describe(rotated.ARN as string);
    expect(description.rotationEnabled).toBe(true);
    // moto 5 keeps no RotationRules.Duration, so the window is the default day here.
    expect(description.schedule).toMatchObject({ automaticallyAfterDays: 30 });
    expect(description.schedule?.lastRotated?.getTime()).toBeLessThanOrEqual(Date.now());
    expect(description.schedule?.nextRotation?.getTime()).toBeGreaterThan(Date.now());
    expect(overdueReason(description, new Date())).toBeUndefined();
    expect(overdueReason(description, new Date(Date.now() + 31 * DAY))).toMatch(/has not happened/);

    const written: string[] = [];
    const spy = vi.spyOn(process.stdout, "write").mockImplementation((chunk) => {
      written.push(String(chunk));
      return true;
    });
    try {
      const { handler } = await import("../../lambdas/rotation/index.js");
      await handler({ check: OVERDUE_CHECK, secretIds: [rotated.ARN as string, idle.ARN as string] });
    } finally {
      spy.mockRestore();
    }
    const metric = written.map((line) => line.trim()).find((line) => line.includes('"RotationsOverdue"'));
    expect(metric && JSON.parse(metric)).toMatchObject({
      _aws: {
        CloudWatchMetrics: [
          {
            Namespace: "NovalaKeyRotation",
            Metrics: [{ Name: "RotationsOverdue" }, { Name: "OldestRotationAgeDays", Unit: "None" }],
          },
        ],
      },
      service: "novala-rotation",
      // The idle secret: rotation is not enabled.
      RotationsOverdue: 1,
      // The rotated secret's rotation, a moment ago; the idle one never rotated.
      OldestRotationAgeDays: 0,
    });
  });

  it("the handler refuses a malformed check as an InvalidEventError, describing nothing", async () => {
    const { handler } = await import("../../lambdas/rotation/index.js");
    const error = await caught(handler({ check: OVERDUE_CHECK, secretIds: "novala/rotated" } as never));
    expect(error.name).toBe("InvalidEventError");
    expect(error.message).toBe('overdue check field "secretIds" must be a list of secret ids');
  });
});
