import { describe, expect, it } from "vitest";
import { revocationScheduleName } from "../../lambdas/core/key-name.js";
import { AWSPREVIOUS } from "../../lambdas/core/ports.js";
import { retireOldKey, retireOutgoingPreviousKey } from "../../lambdas/core/retire.js";
import { createWorld, SCHEDULE_GROUP, type World, type WorldOptions } from "../support/world.js";

const HOUR = 3600;

function statusOf(world: World, keyId: string) {
  return world.novala.inspect(keyId)?.status;
}

/** The revocation schedules that exist, with when they fire and what they revoke. */
function schedules(world: World) {
  return world.schedulerModel.listSchedules({ GroupName: SCHEDULE_GROUP }).Schedules.map((listed) => {
    const schedule = world.schedulerModel.getSchedule({ Name: listed.Name, GroupName: SCHEDULE_GROUP });
    return { name: schedule.Name, at: schedule.ScheduleExpression, input: JSON.parse(schedule.Target?.Input ?? "{}") };
  });
}

function refusals(world: World) {
  return world.telemetry.lines.filter((line) => line.level === "error").map((line) => line.message);
}

/**
 * What a promotion leaves: a new key at AWSCURRENT (version `token`) and the first key's version at AWSPREVIOUS.
 * `previousValue` puts something else at AWSPREVIOUS first (what a writer of the secret could have put there).
 */
async function afterPromotion(options: WorldOptions, previousValue?: (world: World) => void) {
  const world = createWorld({ neighbours: true, ...options });
  const newKey = world.novala.seedKey({ name: "Acumatica Integration", scopes: world.firstKey.scopes });
  const token = world.putKey(newKey);
  previousValue?.(world);
  const previous = await world.deps.store.getValue(world.secretArn, { stage: AWSPREVIOUS });
  const promoted = { currentKeyId: (await world.current()).secret.keyId, previous };
  const retire = () => retireOldKey(world.deps, world.secretArn, token, promoted, world.manager);
  return { world, token, previous, retire, neighbours: world.neighbours as NonNullable<World["neighbours"]> };
}

describe("retireOldKey: the key a promotion moved to AWSPREVIOUS", () => {
  it("with grace 0 is revoked at once", async () => {
    const { world, retire } = await afterPromotion({ graceSeconds: 0 });

    await retire();

    expect(statusOf(world, world.firstKey.id)).toBe("revoked");
    expect(world.telemetry.count("KeysRevoked")).toBe(1);
    expect(schedules(world)).toEqual([]);
  });

  it("with a grace period gets one revocation schedule at its end, and works until then", async () => {
    const { world, token, previous, retire } = await afterPromotion({ graceSeconds: HOUR });

    await retire();

    expect(statusOf(world, world.firstKey.id)).toBe("active");
    expect(schedules(world)).toEqual([
      {
        name: revocationScheduleName(world.secretArn, world.firstKey.id),
        at: "at(2026-11-27T18:00:00)",
        input: {
          secretId: world.secretArn,
          keyId: world.firstKey.id,
          versionId: previous?.versionId,
          rotationToken: token,
          revokeAfter: "2026-11-27T18:00:00.000Z",
          // The watermark: the rotator's own proof with the key, which the due revocation does not count as a use.
          rotatorUsedAt: "2026-11-27T17:00:00.000Z",
        },
      },
    ]);
    expect(world.telemetry.count("RevocationsScheduled")).toBe(1);
  });

  it("retried later, makes no second schedule and does not push the first one back", async () => {
    const { world, retire } = await afterPromotion({ graceSeconds: HOUR });
    await retire();
    const first = schedules(world);

    world.clock.advance(10 * 60_000);
    await retire();

    expect(schedules(world)).toEqual(first);
    expect(world.telemetry.count("RevocationsScheduled")).toBe(1);
  });

  it("already revoked at Novala: nothing is revoked or scheduled", async () => {
    const { world, retire } = await afterPromotion({ graceSeconds: HOUR });
    world.novala.forceRevoke(world.firstKey.id);

    await retire();

    expect(schedules(world)).toEqual([]);
    expect(world.keys.calls().revoke).toBe(0);
  });

  it("refuses, and counts, an AWSPREVIOUS that names another team's key with a secret key of its own", async () => {
    const { world, retire, neighbours } = await afterPromotion({ graceSeconds: 0 }, (world) =>
      world.putKey(world.firstKey, [AWSPREVIOUS], { keyId: world.neighbours?.victimKey.id }),
    );
    const victim = neighbours.victimKey.id;

    await retire();

    expect(statusOf(world, victim)).toBe("active");
    expect(world.telemetry.count("KeyClaimsRefused")).toBe(1);
    expect(refusals(world)).toEqual([expect.stringContaining(`refused to retire key ${victim} named by AWSPREVIOUS`)]);
  });

  it("refuses an AWSPREVIOUS that names the manager key, even with the manager's secret key", async () => {
    const { world, retire, neighbours } = await afterPromotion({ graceSeconds: 0 }, (world) => {
      const manager = world.neighbours?.managerKey;
      if (manager) world.putKey(manager, [AWSPREVIOUS]);
    });

    await retire();

    expect(statusOf(world, neighbours.managerKey.id)).toBe("active");
    expect(world.telemetry.count("KeyClaimsRefused")).toBe(1);
    expect(refusals(world)).toEqual([expect.stringContaining("is the manager key")]);
  });

  it("leaves alone the copy of the current key that Secrets Manager's configuration test promotes", async () => {
    const world = createWorld({ graceSeconds: 0 });
    const token = world.putKey(world.firstKey);
    const previous = await world.deps.store.getValue(world.secretArn, { stage: AWSPREVIOUS });
    const promoted = { currentKeyId: (await world.current()).secret.keyId, previous };

    await retireOldKey(world.deps, world.secretArn, token, promoted, world.manager);

    expect(previous?.value).toContain(world.firstKey.id);
    expect(statusOf(world, world.firstKey.id)).toBe("active");
    expect(world.keys.calls().revoke).toBe(0);
  });

  it.each([
    ["no version is AWSPREVIOUS (a first rotation)", undefined],
    ["AWSPREVIOUS names no key", "not a key secret"],
  ])("has nothing to retire when %s", async (_label, previousValue) => {
    const world = createWorld({ graceSeconds: HOUR });
    const promoted = {
      currentKeyId: (await world.current()).secret.keyId,
      previous: previousValue === undefined ? undefined : { versionId: "version-0", value: previousValue },
    };

    await retireOldKey(world.deps, world.secretArn, "version-1", promoted, world.manager);

    expect(statusOf(world, world.firstKey.id)).toBe("active");
    expect(schedules(world)).toEqual([]);
    expect(Object.values(world.keys.calls()).every((count) => count === 0)).toBe(true);
  });
});

/**
 * Before a promotion: AWSCURRENT holds the first key, and AWSPREVIOUS a second key that is still active (one an
 * operator rolled back from, or pushed there by hand), which the promotion is about to take its last label from.
 */
function beforePromotion(options: WorldOptions) {
  const world = createWorld({ neighbours: true, ...options });
  const rolledBackFrom = world.novala.seedKey({ name: "Acumatica Integration", scopes: world.firstKey.scopes });
  const previousVersionId = world.putKey(rolledBackFrom, [AWSPREVIOUS]);
  const pending = world.novala.seedKey({ name: "Acumatica Integration", scopes: world.firstKey.scopes });
  const keys = { pendingKeyId: pending.id, outgoingKeyId: world.firstKey.id, previousVersionId };
  const retire = (overrides: Partial<typeof keys> = {}, token = "pending-version") =>
    retireOutgoingPreviousKey(world.deps, world.secretArn, token, { ...keys, ...overrides }, world.manager);
  return { world, rolledBackFrom, previousVersionId, retire };
}

describe("retireOutgoingPreviousKey: the key about to lose its last label at a promotion", () => {
  it("with grace 0 is revoked before the promotion", async () => {
    const { world, rolledBackFrom, retire } = beforePromotion({ graceSeconds: 0 });

    await retire();

    expect(statusOf(world, rolledBackFrom.id)).toBe("revoked");
    expect(statusOf(world, world.firstKey.id)).toBe("active");
  });

  it("with a grace period gets one revocation schedule, however often the step is retried", async () => {
    const { world, rolledBackFrom, previousVersionId, retire } = beforePromotion({ graceSeconds: HOUR });

    await retire();
    await retire();

    expect(statusOf(world, rolledBackFrom.id)).toBe("active");
    expect(schedules(world)).toEqual([
      expect.objectContaining({
        name: revocationScheduleName(world.secretArn, rolledBackFrom.id),
        input: expect.objectContaining({ keyId: rolledBackFrom.id, versionId: previousVersionId }),
      }),
    ]);
    expect(world.telemetry.count("RevocationsScheduled")).toBe(1);
  });

  it("refuses, and counts, an AWSPREVIOUS that names another team's key", async () => {
    const { world, rolledBackFrom, retire } = beforePromotion({ graceSeconds: 0 });
    const victim = world.neighbours?.victimKey.id as string;
    const forged = world.putKey(rolledBackFrom, [AWSPREVIOUS], { keyId: victim });

    await retire({ previousVersionId: forged });

    expect(statusOf(world, victim)).toBe("active");
    expect(world.telemetry.count("KeyClaimsRefused")).toBe(1);
  });

  it.each<
    [string, (fixture: ReturnType<typeof beforePromotion>) => Parameters<ReturnType<typeof beforePromotion>["retire"]>]
  >([
    ["there is no AWSPREVIOUS (a first rotation)", () => [{ previousVersionId: undefined }]],
    ["AWSPREVIOUS is the version being promoted", (fixture) => [{}, fixture.previousVersionId]],
    ["AWSPREVIOUS holds the key being promoted", (fixture) => [{ pendingKeyId: fixture.rolledBackFrom.id }]],
    [
      "AWSPREVIOUS holds the outgoing key (the configuration test's copy)",
      (fixture) => [{ outgoingKeyId: fixture.rolledBackFrom.id }],
    ],
  ])("retires nothing when %s", async (_label, call) => {
    const fixture = beforePromotion({ graceSeconds: 0 });

    await fixture.retire(...call(fixture));

    expect(statusOf(fixture.world, fixture.rolledBackFrom.id)).toBe("active");
    expect(schedules(fixture.world)).toEqual([]);
    expect(fixture.world.keys.calls().revoke).toBe(0);
  });
});
