import { describe, expect, it } from "vitest";
import { novalaRefusal } from "../../lambdas/adapters/novala/errors.js";
import { checkKeyHealth } from "../../lambdas/core/health-check.js";
import type { CreatedNovalaKey } from "../../lambdas/core/ports.js";
import type { KeySecret } from "../../lambdas/core/secret-value.js";
import { caught } from "../support/caught.js";
import { createWorld, secretValue, type World } from "../support/world.js";

/** The pending value a createSecret would have stored for `key`, with `claims` changed. */
function pendingFor(key: CreatedNovalaKey, claims: Partial<KeySecret> = {}): KeySecret {
  return { ...(JSON.parse(secretValue(key)) as KeySecret), ...claims };
}

/** A world whose health checks may wait `deadlineSeconds`, and a new key the rotator minted, working at once. */
function withNewKey(deadlineSeconds = 30) {
  const world = createWorld({ healthCheckDeadlineSeconds: deadlineSeconds });
  return { world, key: world.mintedFor("version-1") };
}

/** Runs the health check with the world's manager, and says how long it waited on the world's clock. */
async function check(world: World, pending: KeySecret, deps = world.deps) {
  const started = world.clock.now().getTime();
  const verdict = await checkKeyHealth(deps, pending, await world.manager());
  return { verdict, waitedMs: world.clock.now().getTime() - started };
}

describe("checkKeyHealth", () => {
  it("passes a key whose secret and publishable keys introspect to it, with every scope working", async () => {
    const { world, key } = withNewKey();

    expect((await check(world, pendingFor(key))).verdict).toEqual({ healthy: true });
  });

  it("fails a secret key that introspects to another key than the one stored", async () => {
    const { world, key } = withNewKey();

    const { verdict } = await check(world, pendingFor(key, { keyId: world.firstKey.id }));

    expect(verdict).toEqual({
      healthy: false,
      reason: `the secret key introspects to key ${key.id}, not ${world.firstKey.id}`,
    });
  });

  it("fails a key whose scopes differ, naming the missing and the extra ones", async () => {
    const { world, key } = withNewKey();

    const { verdict } = await check(world, pendingFor(key, { scopes: ["leads.lead.read", "bookings.read"] }));

    expect(verdict).toEqual({
      healthy: false,
      reason:
        "the secret key has scopes that differ from the current key's (missing: [bookings.read], extra: [pipeline])",
    });
  });

  it("fails a publishable key that belongs to another pair", async () => {
    const { world, key } = withNewKey();

    const { verdict } = await check(world, pendingFor(key, { publishableKey: world.firstKey.publishableKey }));

    expect(verdict).toEqual({
      healthy: false,
      reason: `the publishable key belongs to key ${world.firstKey.id}, not ${key.id}`,
    });
  });

  it("fails a key one of whose scope probes is refused, naming the scope and Novala's answer", async () => {
    const { world, key } = withNewKey();
    const keys = world.keysWith({
      probe: async (caller, scope) => {
        if (scope === "pipeline") throw novalaRefusal(403, "GET /api/v1/pipeline/deals", "Forbidden");
        return world.keys.probe(caller, scope);
      },
    });

    const { verdict } = await check(world, pendingFor(key), { ...world.deps, keys });

    expect(verdict).toEqual({
      healthy: false,
      reason: "the probe of scope pipeline was refused: Novala GET /api/v1/pipeline/deals answered 403: Forbidden",
    });
  });
});

describe("checkKeyHealth and a key that answers 401", () => {
  it("waits until the key has propagated, then passes it", async () => {
    const world = createWorld({ healthCheckDeadlineSeconds: 30 });
    world.novala.setPropagationDelayMs(10_000);
    const key = world.mintedFor("version-1", true);

    const { verdict, waitedMs } = await check(world, pendingFor(key));

    expect(verdict).toEqual({ healthy: true });
    expect(waitedMs).toBeGreaterThanOrEqual(10_000);
    expect(waitedMs).toBeLessThan(11_000);
  });

  it("fails at once, without waiting, a key Novala reports revoked", async () => {
    const { world, key } = withNewKey();
    world.novala.forceRevoke(key.id);

    const { verdict, waitedMs } = await check(world, pendingFor(key));

    expect(verdict).toEqual({ healthy: false, reason: `key ${key.id} is revoked at Novala` });
    expect(waitedMs).toBe(0);
  });

  it("fails it at the deadline when it never starts working", async () => {
    const world = createWorld({ healthCheckDeadlineSeconds: 5 });
    world.novala.setPropagationDelayMs(3_600_000);
    const key = world.mintedFor("version-1", true);

    const { verdict, waitedMs } = await check(world, pendingFor(key));

    expect(verdict).toMatchObject({
      healthy: false,
      reason: expect.stringMatching(
        new RegExp(`^key ${key.id} still answered 401 after \\d+ attempts over the health-check deadline \\(5 s\\)$`),
      ),
    });
    expect(waitedMs).toBe(5_000);
  });
});

describe("checkKeyHealth when Novala is unavailable", () => {
  it("gives no verdict: it throws, so that Secrets Manager retries the step instead of rolling back", async () => {
    const { world, key } = withNewKey();
    world.keys.injectFailure({ operation: "self", kind: "unavailable" });

    const error = await caught(check(world, pendingFor(key)));

    expect(error.name).toBe("NovalaUnavailableError");
  });
});
