import { describe, expect, it } from "vitest";
import { MANAGER_CACHE_MS, TimedManagerSecretCache } from "../../lambdas/adapters/aws/manager-cache.js";
import { ROTATION_STEPS } from "../../lambdas/contract/rotation-event.js";
import type { RotationDeps } from "../../lambdas/core/context.js";
import { AWSCURRENT, type SecretStore } from "../../lambdas/core/ports.js";
import { runRotationStep } from "../../lambdas/core/rotation.js";
import { caught } from "../support/caught.js";
import { createWorld, secretValue, type World } from "../support/world.js";

/** The world's ports with a warm environment's manager cache, counting the reads of the manager secret. */
function warm(world: World) {
  const reads = { manager: 0 };
  const store = world.deps.store;
  const counting: SecretStore = Object.assign(Object.create(store), {
    getValue: (secretId: string, ref: Parameters<SecretStore["getValue"]>[1]) => {
      if (secretId === world.managerSecretArn) reads.manager++;
      return store.getValue(secretId, ref);
    },
  });
  const managerCache = new TimedManagerSecretCache(() => world.clock.now().getTime());
  const deps: RotationDeps = { ...world.deps, store: counting, managerCache };
  const rotate = async () => {
    const token = world.startRotation();
    for (const step of ROTATION_STEPS) await runRotationStep(deps, step, world.secretArn, token);
    return token;
  };
  return { reads, deps, rotate, managerCache };
}

/** The manager rotated outside this environment: a new manager key in the manager secret, the old one revoked. */
function rotateManagerElsewhere(world: World) {
  const next = world.novala.seedKey({ name: "Rotation manager", scopes: ["api_keys.manage"] });
  world.secretsManager.putSecretValue({ SecretId: world.managerSecretArn, SecretString: secretValue(next) });
  world.novala.revoke(next.secretKey, world.managerKey?.id as string);
  return next;
}

describe("the manager secret, read once per window in a warm environment", () => {
  it("is read once across a rotation's four steps, and not again by the next rotation within the window", async () => {
    const world = createWorld({ graceSeconds: 0 });
    const { reads, rotate } = warm(world);

    await rotate();
    expect(reads.manager).toBe(1);
    world.clock.advance(60_000);
    await rotate();
    expect(reads.manager).toBe(1);
  });

  it("is read again once the window is over", async () => {
    const world = createWorld({ graceSeconds: 0 });
    const { reads, rotate } = warm(world);

    await rotate();
    world.clock.advance(MANAGER_CACHE_MS);
    await rotate();

    expect(reads.manager).toBe(2);
  });

  it("a 401 to the cached manager key re-reads the manager secret once, and the rotation succeeds", async () => {
    const world = createWorld({ graceSeconds: 0 });
    const { reads, rotate } = warm(world);
    await rotate();
    rotateManagerElsewhere(world);

    const token = await rotate();

    expect(world.stageOf(AWSCURRENT)).toBe(token);
    expect(reads.manager).toBe(2);
    expect(world.telemetry.lines.filter((line) => /cached manager key answered 401/.test(line.message))).toHaveLength(
      1,
    );
  });

  it("a 401 to a freshly read manager key fails as without the cache: no second read, no loop", async () => {
    const world = createWorld({ graceSeconds: 0 });
    const { reads, rotate } = warm(world);
    const next = world.novala.seedKey({ name: "Rotation manager", scopes: ["api_keys.manage"] });
    world.novala.revoke(next.secretKey, world.managerKey?.id as string);

    const error = await caught(rotate());

    expect(error.message).toContain("rotation ended at createSecret: Novala create answered 401");
    expect(world.keys.calls().create).toBe(1);
    expect(reads.manager).toBe(1);
    expect(world.telemetry.lines.some((line) => /cached manager key answered 401/.test(line.message))).toBe(false);
  });
});

describe("a manager key revoked with no replacement in its secret", () => {
  it("cached: one re-read, which answers 401 too, and the rotation fails as it would have without the cache", async () => {
    const world = createWorld({ graceSeconds: 0 });
    const { reads, rotate } = warm(world);
    await rotate();
    const next = world.novala.seedKey({ name: "Rotation manager", scopes: ["api_keys.manage"] });
    world.novala.revoke(next.secretKey, world.managerKey?.id as string);

    const error = await caught(rotate());

    expect(error.message).toContain("answer");
    expect(error.message).toContain("401");
    expect(reads.manager).toBe(2);
    expect(world.telemetry.lines.filter((line) => /cached manager key answered 401/.test(line.message))).toHaveLength(
      1,
    );
  });
});

describe("TimedManagerSecretCache", () => {
  const value = { versionId: "v1", value: "{}" };

  it("keeps a value for the window, then forgets it", () => {
    let now = 1_000_000;
    const cache = new TimedManagerSecretCache(() => now);
    cache.set("manager", value);
    now += MANAGER_CACHE_MS - 1;
    expect(cache.get("manager")).toEqual(value);
    now += 1;
    expect(cache.get("manager")).toBeUndefined();
  });

  it("forgets a value when the clock goes back (no reason to trust an old read)", () => {
    let now = 1_000_000;
    const cache = new TimedManagerSecretCache(() => now);
    cache.set("manager", value);
    now -= 1;
    expect(cache.get("manager")).toBeUndefined();
    now += 1;
    expect(cache.get("manager")).toBeUndefined();
  });

  it("drops a value on demand", () => {
    const cache = new TimedManagerSecretCache(() => 0);
    cache.set("manager", value);
    cache.drop("manager");
    expect(cache.get("manager")).toBeUndefined();
  });
});
