/**
 * Forged and replayed revocation events against the revocation that waits for consumers (lambdas/core/
 * revocation-usage.ts), on the in-memory world with the tenant's other teams and a simulated clock. An invoker of the
 * revocation function chooses every field of the event; a postponement is an act (a schedule, an event), so the proof
 * comes first, and the event's times and counts must never give a key a longer life than the hard limit counted from
 * Secrets Manager's own version dates. docs/security.md, T16 and T17.
 */
import { randomUUID } from "node:crypto";
import { describe, expect, it } from "vitest";
import {
  MAX_POSTPONEMENTS,
  parseRevocationRequest,
  type RevocationRequest,
} from "../../lambdas/contract/revocation-request.js";
import { revocationScheduleName } from "../../lambdas/core/key-name.js";
import { type DueRevocationOutcome, runDueRevocation } from "../../lambdas/core/revocation-usage.js";
import { atTime } from "../../local/scheduler-model.js";
import { reportingLastUse } from "../support/memory-key-api.js";
import { createWorld, SCHEDULE_GROUP, secretValue, type World } from "../support/world.js";

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const HARD_LIMIT_MS = 6 * HOUR;

/** The attacker's own secret (the world's), rotated with grace 1 h, its first key retired; the tenant beside it. */
async function tenant() {
  const world = createWorld({ graceSeconds: 3600, hardLimitSeconds: HARD_LIMIT_MS / 1000, neighbours: true });
  world.clock.advance(MINUTE);
  const retiredAt = world.clock.now().getTime();
  const token = await world.rotate();
  const n = world.neighbours;
  if (!n) throw new Error("no neighbours");
  const original = parseRevocationRequest(onlySchedule(world).input);
  return { world, n, token, retiredAt, hardLimitAt: retiredAt + HARD_LIMIT_MS, original, oldKey: world.firstKey };
}

function schedulesOf(world: World) {
  return world.schedulerModel.listSchedules({ GroupName: SCHEDULE_GROUP }).Schedules.map((summary) => {
    const schedule = world.schedulerModel.getSchedule({ Name: summary.Name, GroupName: SCHEDULE_GROUP });
    return { name: schedule.Name, at: atTime(schedule) as number, input: schedule.Target?.Input ?? "{}" };
  });
}

function onlySchedule(world: World) {
  const [schedule, ...others] = schedulesOf(world);
  expect(others).toEqual([]);
  if (!schedule) throw new Error("no schedule");
  return schedule;
}

/** Puts a version of the attacker's own secret, with no staging label, naming `keyId` with `secretKey`. */
function forgedRetiredVersion(world: World, keyId: string, secretKey: string): string {
  const versionId = randomUUID();
  world.secretsManager.putSecretValue({
    SecretId: world.secretArn,
    ClientRequestToken: versionId,
    VersionStages: [],
    SecretString: JSON.stringify({ ...JSON.parse(secretValue(world.firstKey)), keyId, secretKey }),
  });
  return versionId;
}

function refusedWithoutAct(world: World, done: DueRevocationOutcome, schedulesBefore: string[]) {
  expect(done.outcome).toBe("refused");
  expect(schedulesOf(world).map((schedule) => schedule.name)).toEqual(schedulesBefore);
  expect(world.events.published().filter((event) => event.detailType === "Key Revocation Postponed")).toEqual([]);
  expect(world.telemetry.count("RevocationsPostponed")).toBe(0);
}

describe("a forged event that names a key the secret does not prove", () => {
  it("another team's busy key, named by the attacker's own retired version: refused before any act", async () => {
    const { world, n } = await tenant();
    world.clock.advance(HOUR);
    // The victim's key is in use: were it proven, the event would buy it postponements (and the attacker alarms).
    world.novala.useKey(n.victimKey.secretKey);
    const before = schedulesOf(world).map((schedule) => schedule.name);
    for (const secretKey of [world.firstKey.secretKey, n.victimKey.publishableKey, "sk_live_guessed0000000000000000"]) {
      const versionId = forgedRetiredVersion(world, n.victimKey.id, secretKey);
      const done = await runDueRevocation(world.deps, {
        secretId: world.secretArn,
        keyId: n.victimKey.id,
        versionId,
        postponements: 3,
        rotatorUsedAt: "1970-01-01T00:00:00.000Z",
      });
      refusedWithoutAct(world, done, before);
    }
    expect(world.novala.inspect(n.victimKey.id)?.status).toBe("active");
    expect(world.telemetry.count("RevocationsRefused")).toBe(3);
  });

  it("the manager key, named by the attacker's secret or by the manager's own: refused", async () => {
    const { world, n } = await tenant();
    world.clock.advance(HOUR);
    world.novala.useKey(n.managerKey.secretKey);
    const before = schedulesOf(world).map((schedule) => schedule.name);
    const versionId = forgedRetiredVersion(world, n.managerKey.id, n.managerKey.secretKey);
    refusedWithoutAct(
      world,
      await runDueRevocation(world.deps, { secretId: world.secretArn, keyId: n.managerKey.id, versionId }),
      before,
    );
    refusedWithoutAct(
      world,
      await runDueRevocation(world.deps, { secretId: n.managerSecretArn, keyId: n.managerKey.id }),
      before,
    );
    expect(world.novala.inspect(n.managerKey.id)?.status).toBe("active");
  });
});

describe("a forged or replayed event for the secret's own retired key gains nothing from postponement", () => {
  /**
   * A consumer that never moves off the old key, and an invoker that fires `event(now)` every 10 minutes besides the
   * real schedules: whatever it claims, the key is revoked by its hard limit, and no schedule is ever set after it.
   */
  type Tenant = Awaited<ReturnType<typeof tenant>>;
  async function neverLongerThanTheHardLimit(event: (t: Tenant, now: number) => RevocationRequest) {
    const t = await tenant();
    const { world, oldKey, hardLimitAt } = t;
    let revokedAt: number | undefined;
    while (world.clock.now().getTime() < hardLimitAt + 2 * HOUR) {
      world.clock.advance(10 * MINUTE);
      world.novala.useKey(oldKey.secretKey);
      await world.fireDueRevocations();
      const forged = await runDueRevocation(world.deps, event(t, world.clock.now().getTime()));
      if (forged.outcome === "postponed") expect(forged.nextCheckAt.getTime()).toBeLessThanOrEqual(hardLimitAt);
      for (const schedule of schedulesOf(world)) expect(schedule.at).toBeLessThanOrEqual(hardLimitAt);
      if (revokedAt === undefined && world.novala.inspect(oldKey.id)?.status === "revoked") {
        revokedAt = world.clock.now().getTime();
      }
    }
    expect(revokedAt).toBeDefined();
    // Revoked at the first check at (or under a minute before) the hard limit: the clock moves 10 minutes a step.
    expect(revokedAt).toBeLessThanOrEqual(hardLimitAt + 10 * MINUTE);
    expect(world.telemetry.count("RevocationHardLimitReached")).toBeGreaterThanOrEqual(1);
    return t;
  }

  it("the original event, replayed", async () => {
    await neverLongerThanTheHardLimit(({ original }) => original);
  });

  it("a huge postponement count (the largest the schema takes)", async () => {
    const { world, original } = await tenant();
    world.clock.advance(HOUR + 1000);
    world.novala.useKey(world.firstKey.secretKey);
    const done = await runDueRevocation(world.deps, { ...original, postponements: MAX_POSTPONEMENTS });
    // The count it writes stays one the next check accepts; the name fits Scheduler's 64 characters.
    expect(done).toMatchObject({ outcome: "postponed", postponements: MAX_POSTPONEMENTS });
    const name = done.outcome === "postponed" ? done.schedule : "";
    expect(name).toBe(`${revocationScheduleName(world.secretArn, world.firstKey.id)}-p${MAX_POSTPONEMENTS}`);
    expect(name.length).toBeLessThanOrEqual(64);
    expect(() => parseRevocationRequest(schedulesOf(world).find((s) => s.name === name)?.input)).not.toThrow();
    // One more than the schema takes is refused as malformed, naming the field.
    expect(() => parseRevocationRequest({ ...original, postponements: MAX_POSTPONEMENTS + 1 })).toThrow(
      `revocation event field "postponements" is not a whole number from 0 to ${MAX_POSTPONEMENTS}`,
    );
    await neverLongerThanTheHardLimit((t) => ({ ...t.original, postponements: MAX_POSTPONEMENTS }));
  });

  it("a far-past watermark: the rotator's own uses pass for a consumer's, still no longer than the hard limit", async () => {
    await neverLongerThanTheHardLimit((t) => ({ ...t.original, rotatorUsedAt: "1970-01-01T00:00:00.000Z" }));
  });

  it("a far-future watermark is clamped to now: a consumer's use passes for the rotator's, so it revokes earlier", async () => {
    const { world, original, oldKey } = await tenant();
    world.clock.advance(HOUR + 1000);
    world.novala.useKey(oldKey.secretKey);
    world.clock.advance(1000);
    const done = await runDueRevocation(world.deps, { ...original, rotatorUsedAt: "2100-01-01T00:00:00.000Z" });
    // The power any invoker of the function has anyway: revoking a retired key early (docs/security.md).
    expect(done).toMatchObject({ outcome: "revoked", rotatorUsedAt: world.clock.now() });
    expect(world.telemetry.count("RevocationsPostponed")).toBe(0);
  });

  it("a far-future watermark is never carried forward: a postponement writes at most the time of its check", async () => {
    const { world } = await tenant();
    // A key the rotator minted (its lineage tag proves it, no /self), retired by the next rotation.
    const minted = String(world.valueAt("AWSCURRENT")?.keyId);
    await world.rotate();
    const input = schedulesOf(world).find((schedule) => schedule.name.endsWith(minted))?.input ?? "{}";
    world.clock.advance(HOUR + 1000);
    // A Novala whose lastUsedAt is not a timestamp: a use at an unknown time, which postpones.
    world.deps.keys = reportingLastUse(world.keys, "unknown");
    const far = "2100-01-01T00:00:00.000Z";
    const done = await runDueRevocation(world.deps, { ...parseRevocationRequest(input), rotatorUsedAt: far });
    expect(done.outcome).toBe("postponed");
    const written = schedulesOf(world).find((schedule) => schedule.name.endsWith(`${minted}-p1`))?.input ?? "{}";
    expect(parseRevocationRequest(written).rotatorUsedAt).toBe(world.clock.now().toISOString());
  });

  it("a far-future hard limit, next check or last use in the event are never read", async () => {
    const far = "2100-01-01T00:00:00.000Z";
    await neverLongerThanTheHardLimit((t) => ({
      ...t.original,
      hardLimitAt: far,
      revokeAfter: far,
      lastUsedAt: far,
      postponements: 7,
    }));
  });

  it("writing new versions into the secret does not move the bound (it counts from the first one after the holder)", async () => {
    await neverLongerThanTheHardLimit(({ world, original }, now) => {
      world.secretsManager.putSecretValue({
        SecretId: world.secretArn,
        ClientRequestToken: randomUUID(),
        VersionStages: [],
        SecretString: `{"written at":${now}}`,
      });
      return original;
    });
  });
});
