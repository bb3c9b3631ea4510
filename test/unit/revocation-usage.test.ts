import { describe, expect, it } from "vitest";
import { parseRevocationRequest } from "../../lambdas/contract/revocation-request.js";
import { revocationScheduleName } from "../../lambdas/core/key-name.js";
import type { SecretVersion } from "../../lambdas/core/ports.js";
import {
  CLOCK_SKEW_MS,
  isConsumerUse,
  nextCheckTime,
  readLastUse,
  retiredNoEarlierThan,
  runDueRevocation,
} from "../../lambdas/core/revocation-usage.js";
import { atTime } from "../../local/scheduler-model.js";
import { reportingLastUse } from "../support/memory-key-api.js";
import { createWorld, SCHEDULE_GROUP, type World, type WorldOptions } from "../support/world.js";

/**
 * The due revocation (lambdas/core/revocation-usage.ts) over the in-memory world, on its simulated clock: a consumer
 * is a request with the old key at a simulated time (NovalaModel.useKey), a schedule fires when the clock reaches it.
 */
const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

/** A world whose first key was retired by a rotation a minute after the secret was made (the version dates differ). */
async function rotatedWorld(options: WorldOptions = {}) {
  const world = createWorld({ graceSeconds: 3600, ...options });
  world.clock.advance(MINUTE);
  const rotatedAt = world.clock.now().getTime();
  const token = await world.rotate();
  return { world, token, rotatedAt, oldKey: world.firstKey };
}

/** The schedules in the group, by name, with their time and input. */
function schedules(world: World) {
  return world.schedulerModel.listSchedules({ GroupName: SCHEDULE_GROUP }).Schedules.map((summary) => {
    const schedule = world.schedulerModel.getSchedule({ Name: summary.Name, GroupName: SCHEDULE_GROUP });
    return {
      name: schedule.Name,
      at: atTime(schedule),
      input: JSON.parse(schedule.Target?.Input ?? "{}") as Record<string, unknown>,
    };
  });
}

const consumerUses = (world: World, secretKey: string) => expect(world.novala.useKey(secretKey).ok).toBe(true);
const statusOf = (world: World, keyId: string) => world.novala.inspect(keyId)?.status;

describe("a due revocation of a key a consumer still uses", () => {
  it("is postponed: a new schedule after the quiet window, counted, announced and logged; the key stays active", async () => {
    const { world, token, rotatedAt, oldKey } = await rotatedWorld();
    world.clock.advance(30 * MINUTE);
    consumerUses(world, oldKey.secretKey);
    const usedAt = world.clock.now().toISOString();
    world.clock.advance(30 * MINUTE + 1000);

    const [done] = await world.fireDueRevocationsWithFacts();
    const base = revocationScheduleName(world.secretArn, oldKey.id);
    expect(done).toMatchObject({ outcome: "postponed", keyId: oldKey.id, lastUsedAt: usedAt, postponements: 1 });
    expect(statusOf(world, oldKey.id)).toBe("active");
    const nextCheckAt = Date.parse(usedAt) + HOUR + 60_000;
    const hardLimitAt = rotatedAt + 7 * 24 * HOUR;
    expect(done?.outcome === "postponed" && done.nextCheckAt.getTime()).toBe(nextCheckAt);
    expect(done?.hardLimitAt?.getTime()).toBe(hardLimitAt);

    // The fired schedule is gone (Scheduler deletes it); its postponement has the next name, time and input.
    const [next, ...others] = schedules(world);
    expect(others).toEqual([]);
    expect(next?.name).toBe(`${base}-p1`);
    expect(next?.at).toBe(nextCheckAt);
    const previousVersion = world.stageOf("AWSPREVIOUS");
    expect(next?.input).toEqual({
      secretId: world.secretArn,
      keyId: oldKey.id,
      versionId: previousVersion,
      rotationToken: token,
      revokeAfter: new Date(nextCheckAt).toISOString(),
      // The first key carries no lineage tag: proving it used it (/self), a use the next check must not count.
      rotatorUsedAt: new Date(rotatedAt + HOUR + 1000).toISOString(),
      postponements: 1,
      lastUsedAt: usedAt,
      hardLimitAt: new Date(hardLimitAt).toISOString(),
    });
    expect(parseRevocationRequest(next?.input)).toMatchObject({ postponements: 1 });
    expect(world.telemetry.count("RevocationsPostponed")).toBe(1);
    expect(world.telemetry.count("KeysRevoked")).toBe(0);
    expect(world.events.published().at(-1)).toEqual({
      detailType: "Key Revocation Postponed",
      detail: {
        schemaVersion: 1,
        secretArn: world.secretArn,
        keyId: oldKey.id,
        lastUsedAt: usedAt,
        nextCheckAt: new Date(nextCheckAt).toISOString(),
        hardLimitAt: new Date(hardLimitAt).toISOString(),
        postponements: 1,
      },
    });
    expect(world.telemetry.lines).toContainEqual(
      expect.objectContaining({
        level: "info",
        message: "a consumer still uses the retired key: its revocation is postponed",
        fields: expect.objectContaining({ keyId: oldKey.id, schedule: `${base}-p1`, postponements: 1 }),
      }),
    );

    // The consumer moved: the postponed check finds only the rotator's own use (its proof) and revokes.
    world.clock.advance(nextCheckAt - world.clock.now().getTime());
    expect(await world.fireDueRevocations()).toEqual(["revoked"]);
    expect(statusOf(world, oldKey.id)).toBe("revoked");
    expect(schedules(world)).toEqual([]);
  });

  it("is never cut off while it keeps using the key: checked again after each quiet window, each time a new name", async () => {
    const { world, oldKey } = await rotatedWorld();
    const names: string[] = [];
    for (let hour = 0; hour < 5; hour++) {
      world.clock.advance(20 * MINUTE);
      consumerUses(world, oldKey.secretKey);
      world.clock.advance(HOUR - 20 * MINUTE);
      const fired = await world.fireDueRevocationsWithFacts();
      for (const done of fired) {
        expect(done.outcome).toBe("postponed");
        if (done.outcome === "postponed") names.push(done.schedule);
      }
    }
    expect(statusOf(world, oldKey.id)).toBe("active");
    expect(names.length).toBeGreaterThanOrEqual(3);
    expect(new Set(names).size).toBe(names.length);
    expect(names).toEqual(names.map((_name, index) => expect.stringMatching(new RegExp(`-p${index + 1}$`))));
  });

  it("costs one Novala call for a key the rotator minted (its lineage tag proves it), two for the untagged first key", async () => {
    const { world, oldKey } = await rotatedWorld();
    world.clock.advance(HOUR + 1000);
    // The first key, untagged: the record (GET), then its secret key (/self) proves it.
    consumerUses(world, oldKey.secretKey);
    let before = world.keys.calls();
    expect(await world.fireDueRevocations()).toEqual(["postponed"]);
    let after = world.keys.calls();
    expect({ get: after.get - before.get, self: after.self - before.self }).toEqual({ get: 1, self: 1 });

    // A key the rotator minted, retired by the next rotation: its record's name carries its version's tag.
    const minted = String(world.valueAt("AWSCURRENT")?.keyId);
    const mintedSecret = String(world.valueAt("AWSCURRENT")?.secretKey);
    await world.rotate();
    world.clock.advance(20 * MINUTE);
    consumerUses(world, mintedSecret);
    world.clock.advance(40 * MINUTE + 1000);
    before = world.keys.calls();
    const fired = await world.fireDueRevocationsWithFacts();
    after = world.keys.calls();
    expect(fired.map((done) => [done.keyId, done.outcome])).toEqual([[minted, "postponed"]]);
    expect({ get: after.get - before.get, self: after.self - before.self }).toEqual({ get: 1, self: 0 });
  });
});

describe("a due revocation of a key nobody uses", () => {
  it("revokes at the end of the grace: the rotator's own proof in finishSecret is not a consumer's use (watermark)", async () => {
    // Grace 30 min, window 1 h: finishSecret's proof (/self) is within the window when the schedule fires.
    const { world, oldKey } = await rotatedWorld({ graceSeconds: 1800 });
    expect(world.novala.inspect(oldKey.id)?.lastUsedAt).toBe(world.clock.now().toISOString());
    world.clock.advance(30 * MINUTE);
    expect(await world.fireDueRevocations()).toEqual(["revoked"]);
    expect(world.telemetry.count("RevocationsPostponed")).toBe(0);
  });

  it("without the watermark the same proof would look like a consumer's use (the check the watermark makes)", async () => {
    const { world, oldKey } = await rotatedWorld({ graceSeconds: 1800 });
    world.clock.advance(30 * MINUTE);
    const [schedule] = schedules(world);
    const { rotatorUsedAt: _dropped, ...withoutWatermark } = schedule?.input ?? {};
    const done = await runDueRevocation(world.deps, parseRevocationRequest(withoutWatermark));
    expect(done.outcome).toBe("postponed");
    expect(statusOf(world, oldKey.id)).toBe("active");
  });

  it("revokes a key last used by a consumer longer than the quiet window ago", async () => {
    const { world, oldKey } = await rotatedWorld({ graceSeconds: 3 * 3600 });
    world.clock.advance(30 * MINUTE);
    consumerUses(world, oldKey.secretKey);
    world.clock.advance(150 * MINUTE + 1000);
    expect(await world.fireDueRevocations()).toEqual(["revoked"]);
  });

  it.each([
    ["null", null],
    ["absent", "absent"],
  ])("revokes at the grace when Novala reports lastUsedAt %s (today's behaviour)", async (_label, lastUsedAt) => {
    const { world, oldKey } = await rotatedWorld();
    world.deps.keys = reportingLastUse(world.keys, lastUsedAt);
    world.clock.advance(HOUR + 1000);
    expect(await world.fireDueRevocations()).toEqual(["revoked"]);
    expect(statusOf(world, oldKey.id)).toBe("revoked");
  });

  it("is a revocation, not a postponement, once the key is already gone", async () => {
    const { world, oldKey } = await rotatedWorld();
    world.novala.forceRevoke(oldKey.id);
    world.clock.advance(HOUR + 1000);
    expect(await world.fireDueRevocations()).toEqual(["already-revoked"]);
    expect(schedules(world)).toEqual([]);
  });
});

describe("a lastUsedAt that is not a timestamp", () => {
  it.each([
    ["a word", "yesterday"],
    ["a date without a time", "2026-11-27"],
    ["the adapter's unknown", "unknown"],
    ["an impossible date", "2026-13-45T99:99:99Z"],
  ])("(%s) is a use at an unknown time: postponed and warned, never revoked as unused", async (_label, lastUsedAt) => {
    const { world, oldKey } = await rotatedWorld();
    world.deps.keys = reportingLastUse(world.keys, lastUsedAt);
    world.clock.advance(HOUR + 1000);
    const [done] = await world.fireDueRevocationsWithFacts();
    expect(done).toMatchObject({ outcome: "postponed", lastUsedAt: "unknown" });
    expect(statusOf(world, oldKey.id)).toBe("active");
    expect(world.telemetry.lines).toContainEqual(
      expect.objectContaining({ level: "warn", message: expect.stringContaining("not a timestamp") }),
    );
    // Checked again one quiet window (and the margin) later, still bounded by the hard limit.
    expect(done?.outcome === "postponed" && done.nextCheckAt.getTime()).toBe(
      world.clock.now().getTime() + HOUR + 60_000,
    );
  });
});

describe("the hard limit", () => {
  /** A consumer that never moves: uses the old key every 10 minutes while the schedules fire, until `untilMs`. */
  async function consumerNeverMoves(world: World, secretKey: string, untilMs: number) {
    const outcomes: Awaited<ReturnType<World["fireDueRevocationsWithFacts"]>> = [];
    while (world.clock.now().getTime() < untilMs) {
      world.clock.advance(10 * MINUTE);
      world.novala.useKey(secretKey);
      outcomes.push(...(await world.fireDueRevocationsWithFacts()));
    }
    return outcomes;
  }

  it("revokes a key still in use at its hard limit (default), alarmed; no check was ever scheduled past it", async () => {
    const { world, rotatedAt, oldKey } = await rotatedWorld({ hardLimitSeconds: 4 * 3600 });
    const hardLimitAt = rotatedAt + 4 * HOUR;
    const outcomes = await consumerNeverMoves(world, oldKey.secretKey, hardLimitAt + HOUR);
    expect(outcomes.map((done) => done.outcome)).toEqual(["postponed", "postponed", "postponed", "revoked"]);
    for (const done of outcomes) {
      if (done.outcome === "postponed") expect(done.nextCheckAt.getTime()).toBeLessThanOrEqual(hardLimitAt);
    }
    const last = outcomes.at(-1);
    expect(last).toMatchObject({ outcome: "revoked", hardLimitReached: true, postponements: 3 });
    expect(last?.hardLimitAt?.getTime()).toBe(hardLimitAt);
    expect(statusOf(world, oldKey.id)).toBe("revoked");
    expect(world.telemetry.count("RevocationHardLimitReached")).toBe(1);
    expect(world.telemetry.lines).toContainEqual(
      expect.objectContaining({ level: "error", message: expect.stringContaining("at its hard limit: revoking it") }),
    );
  });

  it("keeps it with atHardLimit keep: active, nothing scheduled, alarmed", async () => {
    const { world, rotatedAt, oldKey } = await rotatedWorld({ hardLimitSeconds: 4 * 3600, atHardLimit: "keep" });
    const outcomes = await consumerNeverMoves(world, oldKey.secretKey, rotatedAt + 5 * HOUR);
    expect(outcomes.at(-1)).toMatchObject({ outcome: "kept", postponements: 3 });
    expect(statusOf(world, oldKey.id)).toBe("active");
    expect(schedules(world)).toEqual([]);
    expect(world.telemetry.count("RevocationHardLimitReached")).toBe(1);
    expect(world.telemetry.lines).toContainEqual(
      expect.objectContaining({ level: "error", message: expect.stringContaining("kept active") }),
    );
  });

  it("is met up to a minute early rather than late: a check under a minute before it acts", async () => {
    const { world, rotatedAt, oldKey } = await rotatedWorld({ hardLimitSeconds: 3600 });
    world.clock.advance(50 * MINUTE);
    consumerUses(world, oldKey.secretKey);
    world.clock.advance(HOUR - 50 * MINUTE - 30_000 - (world.clock.now().getTime() - rotatedAt - HOUR));
    const [schedule] = schedules(world);
    const done = await runDueRevocation(world.deps, parseRevocationRequest(schedule?.input));
    expect(done).toMatchObject({ outcome: "revoked", hardLimitReached: true });
  });
});

describe("postponed schedules are schedules", () => {
  it("isScheduled sees a postponement, and a retried finishSecret neither proves nor schedules the key again", async () => {
    const { world, token, oldKey } = await rotatedWorld();
    world.clock.advance(30 * MINUTE);
    consumerUses(world, oldKey.secretKey);
    world.clock.advance(30 * MINUTE + 1000);
    expect(await world.fireDueRevocations()).toEqual(["postponed"]);
    const base = revocationScheduleName(world.secretArn, oldKey.id);
    expect(await world.deps.scheduler.isScheduled(base)).toBe(true);
    // Another key whose id extends this one's is not taken for it.
    expect(await world.deps.scheduler.isScheduled(`${base}0`)).toBe(false);

    const before = world.keys.calls();
    const lastUsed = world.novala.inspect(oldKey.id)?.lastUsedAt;
    world.clock.advance(MINUTE);
    await world.step("finishSecret", token);
    expect(world.keys.calls().self).toBe(before.self);
    expect(world.novala.inspect(oldKey.id)?.lastUsedAt).toBe(lastUsed);
    expect(schedules(world).map((schedule) => schedule.name)).toEqual([`${base}-p1`]);
  });
});

describe("a postponed key off every label", () => {
  it("is neither retired anew by finishSecret nor swept by a later createSecret: its revocation is still pending", async () => {
    const { world } = await rotatedWorld();
    // The key the first rotation minted (tagged with its version), retired by the second rotation.
    const minted = String(world.valueAt("AWSCURRENT")?.keyId);
    const mintedSecret = String(world.valueAt("AWSCURRENT")?.secretKey);
    await world.rotate();
    world.clock.advance(30 * MINUTE);
    world.novala.useKey(mintedSecret);
    world.clock.advance(30 * MINUTE + 1000);
    const fired = await world.fireDueRevocationsWithFacts();
    expect(fired.find((done) => done.keyId === minted)?.outcome).toBe("postponed");
    // Two more rotations push its version off every label: createSecret then looks for abandoned rotations' keys.
    await world.rotate();
    await world.rotate();
    expect(Object.values(world.stages()).flat()).toHaveLength(2);
    expect(statusOf(world, minted)).toBe("active");
    // Its postponement is its one pending revocation: finishSecret, which retires AWSPREVIOUS before it loses its
    // label, saw it and neither proved the key again nor scheduled it anew.
    const base = revocationScheduleName(world.secretArn, minted);
    expect(
      schedules(world)
        .filter((schedule) => schedule.name.startsWith(base))
        .map((schedule) => schedule.name),
    ).toEqual([`${base}-p1`]);
    expect(world.telemetry.lines.map((line) => line.message)).not.toContain(
      "revoked a key an abandoned rotation left behind",
    );
  });
});

describe("the rule's parts", () => {
  it("reads lastUsedAt: never, a time, or unknown", () => {
    expect(readLastUse(null)).toEqual({ kind: "never" });
    expect(readLastUse(undefined)).toEqual({ kind: "never" });
    expect(readLastUse("2026-11-27T17:00:00Z")).toMatchObject({ kind: "at", ms: Date.parse("2026-11-27T17:00:00Z") });
    expect(readLastUse("2026-11-27T18:00:00.123+01:00")).toMatchObject({ kind: "at" });
    for (const text of ["", "1", "2026", "Fri, 27 Nov 2026 17:00:00 GMT", "2026-11-27 17:00:00"]) {
      expect(readLastUse(text).kind, text).toBe("unknown");
    }
  });

  it("counts a use as a consumer's only past the watermark plus the skew and within the window", () => {
    const now = Date.parse("2026-11-28T12:00:00Z");
    const at = (ms: number) => ({ kind: "at", ms, text: "" }) as const;
    expect(isConsumerUse(at(now - 10 * MINUTE), now - 20 * MINUTE, now, HOUR)).toBe(true);
    expect(isConsumerUse(at(now - 10 * MINUTE), now - 10 * MINUTE - CLOCK_SKEW_MS, now, HOUR)).toBe(false);
    expect(isConsumerUse(at(now - 2 * HOUR), undefined, now, HOUR)).toBe(false);
    expect(isConsumerUse({ kind: "never" }, undefined, now, HOUR)).toBe(false);
    expect(isConsumerUse({ kind: "unknown", text: "x" }, now, now, HOUR)).toBe(true);
  });

  it("bounds the retirement from below by the first version created after the holder, else the holder's own", () => {
    const version = (versionId: string, iso?: string): SecretVersion => ({
      versionId,
      stages: [],
      ...(iso && { createdDate: new Date(iso) }),
    });
    const versions = [
      version("a", "2026-01-01T00:00:00Z"),
      version("c", "2026-03-01T00:00:00Z"),
      version("b", "2026-02-01T00:00:00Z"),
    ];
    expect(retiredNoEarlierThan(versions, "a")?.toISOString()).toBe("2026-02-01T00:00:00.000Z");
    expect(retiredNoEarlierThan(versions, "c")?.toISOString()).toBe("2026-03-01T00:00:00.000Z");
    expect(retiredNoEarlierThan([version("a")], "a")).toBeUndefined();
    // A version made the same instant as the holder is taken as after it (the earlier of two readings).
    const same = [version("a", "2026-01-01T00:00:00Z"), version("b", "2026-01-01T00:00:00Z")];
    expect(retiredNoEarlierThan(same, "a")?.toISOString()).toBe("2026-01-01T00:00:00.000Z");
    expect(retiredNoEarlierThan([...same, version("c", "2026-05-01T00:00:00Z")], "a")?.toISOString()).toBe(
      "2026-01-01T00:00:00.000Z",
    );
    expect(retiredNoEarlierThan(versions, "missing")).toBeUndefined();
    // Only a version that stored another key replaced the holder's: a rotation that ended before storing anything
    // (issue 16, item 5) does not start the hard limit days before the rotation that did.
    expect(retiredNoEarlierThan(versions, "a", (v) => v.versionId !== "b")?.toISOString()).toBe(
      "2026-03-01T00:00:00.000Z",
    );
    expect(retiredNoEarlierThan(versions, "a", () => false)?.toISOString()).toBe("2026-01-01T00:00:00.000Z");
  });

  it("schedules the next check after the window, at least a minute ahead, never past the hard limit", () => {
    const now = Date.parse("2026-11-28T12:00:00Z");
    const at = (ms: number) => ({ kind: "at", ms, text: "" }) as const;
    const far = now + 30 * 24 * HOUR;
    expect(nextCheckTime(at(now - 10 * MINUTE), now, far, HOUR).getTime()).toBe(now + 50 * MINUTE + 60_000);
    expect(nextCheckTime(at(now - 2 * HOUR), now, far, HOUR).getTime()).toBe(now + MINUTE);
    expect(nextCheckTime(at(now + 5 * MINUTE), now, far, HOUR).getTime()).toBe(now + HOUR + 60_000);
    expect(nextCheckTime({ kind: "unknown", text: "" }, now, far, HOUR).getTime()).toBe(now + HOUR + 60_000);
    expect(nextCheckTime({ kind: "unknown", text: "" }, now, now + 10 * MINUTE, HOUR).getTime()).toBe(
      now + 10 * MINUTE,
    );
  });
});
