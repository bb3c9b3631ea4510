/**
 * The rate budget (lambdas/adapters/novala/rate-budget.ts): an execution environment's calls are spaced at its share
 * of the budget, so they stay under the simulator's per-tenant limit, and a 429's Retry-After holds back every call of
 * the environment, not only the one that got it.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { NovalaUnavailableError, RetryAfterAboveCapError } from "../../lambdas/adapters/novala/errors.js";
import { MAX_RETRY_AFTER_MS, NovalaHttpClient } from "../../lambdas/adapters/novala/http-client.js";
import {
  environmentPacer,
  type HoldOffAboveCap,
  MAX_HELD_OFF_ORIGINS,
  type PacerWait,
  RatePacer,
} from "../../lambdas/adapters/novala/rate-budget.js";
import { AllowedHosts } from "../../lambdas/contract/allowed-hosts.js";
import { readNovalaClientConfig } from "../../lambdas/contract/configuration.js";
import { type NovalaSimulator, startNovalaSimulator } from "../../local/novala-simulator.js";
import { caught } from "../support/caught.js";

const config = {
  allowedHosts: new AllowedHosts("127.0.0.1"),
  connectTimeoutMs: 5_000,
  requestTimeoutMs: 10_000,
  retryBudgetMs: 60_000,
};

const CAP = MAX_RETRY_AFTER_MS;
const HOSTILE = "http://127.0.0.1:1";
const HONEST = "http://127.0.0.1:2";

/** A clock that only moves when someone sleeps on it. */
function fakeClock() {
  let now = 0;
  return {
    now: () => now,
    sleep: async (ms: number) => {
      now += ms;
    },
  };
}

/**
 * A clock for callers that wait at the same time: sleep() parks the caller until `run()` moves time to its turn, in
 * the order of their wake-up times. A pacer that spins would park callers without end: run() then fails instead of
 * hanging the test.
 */
function manualClock() {
  let now = 0;
  let order = 0;
  const timers: { at: number; order: number; wake: () => void }[] = [];
  const settle = () => new Promise<void>((resolve) => setImmediate(resolve));
  return {
    now: () => now,
    sleep: (ms: number) =>
      new Promise<void>((wake) => {
        timers.push({ at: now + ms, order: order++, wake });
      }),
    async run(maxTimers = 1000): Promise<void> {
      for (let fired = 0; ; fired++) {
        await settle();
        if (timers.length === 0) return;
        if (fired >= maxTimers) throw new Error(`still waiting after ${maxTimers} timers: the pacer spins`);
        timers.sort((a, b) => a.at - b.at || a.order - b.order);
        const next = timers.shift() as (typeof timers)[number];
        now = Math.max(now, next.at);
        next.wake();
      }
    },
  };
}

/** A pacer on the manual clock that records every wait, and callers that note when they were let through. */
function pacerOnManualClock(ratePerSecond: number) {
  const clock = manualClock();
  const waits: PacerWait[] = [];
  const pacer = new RatePacer(ratePerSecond, { ...clock, random: () => 0, onWait: (wait) => waits.push(wait) });
  /** When each origin's calls were let through, and what each call was answered. */
  const passed: Record<string, number[]> = {};
  const answered: Record<string, (HoldOffAboveCap | undefined)[]> = {};
  const call = async (origin: string) => {
    const heldOff = await pacer.acquire(origin, CAP);
    answered[origin] = [...(answered[origin] ?? []), heldOff];
    if (!heldOff) passed[origin] = [...(passed[origin] ?? []), clock.now()];
  };
  return { clock, pacer, waits, passed, answered, call };
}

describe("RatePacer", () => {
  it("spaces calls 1 ÷ rate apart in the order they ask, from a jittered start", async () => {
    const clock = fakeClock();
    const pacer = new RatePacer(4, { ...clock, random: () => 0.5 });
    const at: number[] = [];
    for (let i = 0; i < 4; i++) {
      await pacer.acquire(HONEST, CAP);
      at.push(clock.now());
    }
    expect(at).toEqual([125, 375, 625, 875]);
  });

  it("holds the calls to an origin back until its hold-off has passed", async () => {
    const clock = fakeClock();
    const pacer = new RatePacer(10, { ...clock, random: () => 0 });
    await pacer.acquire(HONEST, CAP);
    pacer.holdOff(HONEST, 2_000);
    await pacer.acquire(HONEST, CAP);
    expect(clock.now()).toBe(2_000);
    await pacer.acquire(HONEST, CAP);
    expect(clock.now()).toBe(2_100);
  });

  it("never delays another origin's calls: the budget gives each its slot, the hold-off applies to its origin only", async () => {
    const { clock, pacer, waits, passed, answered, call } = pacerOnManualClock(10);
    pacer.holdOff(HOSTILE, 86_400_000);
    const calls = [call(HOSTILE), call(HONEST), call(HOSTILE), call(HONEST), call(HOSTILE), call(HONEST)];
    await clock.run();
    await Promise.all(calls);
    // Slots 100 ms apart in the order asked; the hostile origin's calls take theirs and are answered at once.
    expect(passed[HONEST]).toEqual([100, 300, 500]);
    expect(passed[HOSTILE]).toBeUndefined();
    expect(answered[HOSTILE]).toEqual(
      Array.from({ length: 3 }, () => ({ origin: HOSTILE, askedMs: 86_400_000, leftMs: expect.any(Number) })),
    );
    expect(waits.filter((wait) => wait.cause === "hold-off")).toEqual([]);
    // The honest origin waits only for its slots of the budget, never for the hostile origin's hold-off.
    expect(waits.filter((wait) => wait.origin === HONEST)).toEqual(
      [100, 300, 500].map((ms) => ({ origin: HONEST, ms, cause: "budget" })),
    );
  });

  it("waits out a hold-off of exactly the cap, then lets the held calls go one slot apart while others pass", async () => {
    const { clock, pacer, waits, passed, call } = pacerOnManualClock(10);
    pacer.holdOff(HOSTILE, CAP);
    const calls = [call(HOSTILE), call(HONEST), call(HOSTILE), call(HONEST)];
    await clock.run();
    await Promise.all(calls);
    expect(passed[HONEST]).toEqual([100, 300]);
    expect(passed[HOSTILE]).toEqual([CAP, CAP + 100]);
    expect(waits.filter((wait) => wait.cause === "hold-off")).toEqual([
      { origin: HOSTILE, ms: CAP, cause: "hold-off" },
      { origin: HOSTILE, ms: CAP - 200, cause: "hold-off" },
    ]);
  });

  it("answers a hold-off above the cap at once, whatever its size, and ignores one that is not a wait", async () => {
    for (const ms of [CAP + 1_000, 2 ** 31 + 1, Number.MAX_VALUE, Number.POSITIVE_INFINITY]) {
      const { clock, pacer, waits, answered, call } = pacerOnManualClock(10);
      pacer.holdOff(HOSTILE, ms);
      const calls = [call(HOSTILE), call(HOSTILE)];
      // Two slots, no hold-off wait: a spin (a timer that fires at once, again and again) fails run().
      await clock.run(5);
      await Promise.all(calls);
      expect(answered[HOSTILE]?.map((heldOff) => heldOff?.askedMs)).toEqual([ms, ms]);
      expect(waits.map((wait) => wait.cause)).toEqual(["budget"]);
    }
    for (const ms of [-5, 0, Number.NaN]) {
      const { clock, pacer, waits, passed, call } = pacerOnManualClock(10);
      pacer.holdOff(HOSTILE, ms);
      const calls = [call(HOSTILE)];
      await clock.run(5);
      await Promise.all(calls);
      expect(passed[HOSTILE]).toEqual([0]);
      expect(waits).toEqual([]);
    }
  });

  it(`remembers the hold-offs of at most ${MAX_HELD_OFF_ORIGINS} origins, forgetting those that end first`, () => {
    const pacer = new RatePacer(10, { ...fakeClock(), random: () => 0 });
    const origins = Array.from({ length: MAX_HELD_OFF_ORIGINS + 8 }, (_, i) => `https://tenant-${i}.novala.ai`);
    // The first eight end first (an honest 1 s); the others ask for a day.
    for (const [i, origin] of origins.entries()) pacer.holdOff(origin, i < 8 ? 1_000 + i : 86_400_000 + i);
    expect(origins.filter((origin) => pacer.holdOffLeft(origin) > 0)).toEqual(origins.slice(8));
  });

  it("divides the environment's budget by the concurrency, and keeps one pacer per budget", () => {
    const pacerOf = (env: Record<string, string>) => environmentPacer(readNovalaClientConfig(env).rateBudget);
    expect(pacerOf({})).toBeUndefined();
    const budget = { NOVALA_RATE_BUDGET_PER_SECOND: "20", ROTATION_CONCURRENCY: "50" };
    expect(pacerOf(budget)?.ratePerSecond).toBeCloseTo(0.4);
    expect(pacerOf(budget)).toBe(pacerOf(budget));
    expect(pacerOf({ NOVALA_RATE_BUDGET_PER_SECOND: "20" })?.ratePerSecond).toBe(20);
  });
});

describe("paced calls against the simulator's per-tenant rate limit", () => {
  let simulator: NovalaSimulator;
  afterEach(async () => simulator?.stop());

  async function burst(count: number, pacer?: RatePacer) {
    const key = simulator.model.seedKey({ name: "Consumer", scopes: ["pipeline"] });
    simulator.clearRequestLog();
    const client = new NovalaHttpClient(config, pacer ? { pacer } : {});
    try {
      await Promise.all(
        Array.from({ length: count }, () =>
          client.request({
            method: "GET",
            baseUrl: simulator.url,
            path: "/api/v1/api-keys/self",
            bearer: key.secretKey,
          }),
        ),
      );
    } finally {
      await client.close();
    }
    return simulator.requestLog();
  }

  it("stays under the limit with a pacer at half of it, where the same burst unpaced is answered 429", async () => {
    simulator = await startNovalaSimulator({ rateLimitPerSecond: 10 });
    const unpaced = await burst(20);
    expect(unpaced.filter((entry) => entry.rateLimited).length).toBeGreaterThan(0);

    await simulator.stop();
    simulator = await startNovalaSimulator({ rateLimitPerSecond: 10 });
    const paced = await burst(12, new RatePacer(5));
    expect(paced.filter((entry) => entry.rateLimited)).toEqual([]);
    expect(paced).toHaveLength(12);
    const first = paced[0]?.at ?? 0;
    const last = paced.at(-1)?.at ?? 0;
    // 12 calls at 5/s: 11 intervals of 200 ms.
    expect(last - first).toBeGreaterThanOrEqual(11 * 200 - 50);
  });

  it("backs off as a group: after a 429 with Retry-After: 1, no call of the environment to that tenant starts for a second", async () => {
    simulator = await startNovalaSimulator();
    simulator.injectFault({ match: "GET /api/v1/api-keys/self", kind: "status", status: 429, retryAfterSeconds: 1 });
    // Slots 500 ms apart: without the shared hold-off the second call would start half a second after the first.
    const log = await burst(3, new RatePacer(2, { random: () => 0 }));
    const [rateLimited, ...rest] = log;
    expect(rateLimited?.status).toBe(429);
    expect(rest).toHaveLength(3);
    for (const entry of rest) expect(entry.at - (rateLimited?.at ?? 0)).toBeGreaterThanOrEqual(990);
  });
});

describe("a hostile host answering 429 with Retry-After: 86400 next to another tenant (loopback servers)", () => {
  let simulator: NovalaSimulator;
  let hostile: Server;
  afterEach(async () => {
    await simulator?.stop();
    hostile?.closeAllConnections();
    await new Promise((resolve) => hostile?.close(resolve));
  });

  /** An allowed host that answers every request 429 with `Retry-After: 86400`; counts what reaches it. */
  async function startHostileHost() {
    const state = { url: "", requests: 0 };
    hostile = createServer((_req, res) => {
      state.requests++;
      res.writeHead(429, { "content-type": "application/json", "retry-after": "86400" });
      res.end(JSON.stringify({ error: "come back tomorrow" }));
    });
    await new Promise<void>((resolve) => hostile.listen(0, "127.0.0.1", resolve));
    state.url = `http://127.0.0.1:${(hostile.address() as AddressInfo).port}`;
    return state;
  }

  it("fails the hostile host's calls at once with a clear error, and never delays the other tenant's", async () => {
    simulator = await startNovalaSimulator();
    const host = await startHostileHost();
    const key = simulator.model.seedKey({ name: "Consumer", scopes: ["pipeline"] });
    const waits: PacerWait[] = [];
    // One environment's pacer and client, shared by both tenants' calls as a warm Lambda shares them.
    const pacer = new RatePacer(20, { onWait: (wait) => waits.push(wait) });
    const client = new NovalaHttpClient(config, { pacer });
    const self = (baseUrl: string, bearer: string) =>
      client.request({ method: "GET", baseUrl, path: "/api/v1/api-keys/self", bearer });
    const hostileBearer = "sk_live_HostileTenantBearerNeverLogged01";
    try {
      const first = await caught(self(host.url, hostileBearer));
      expect(first).toBeInstanceOf(RetryAfterAboveCapError);
      expect(first).toBeInstanceOf(NovalaUnavailableError);
      expect(first.message).toBe(
        `Novala GET /api/v1/api-keys/self failed: ${host.url} answered 429 with Retry-After 86400 s, above the cap of 30 s; not waiting: the call fails now, to be retried later`,
      );
      expect(first.message).not.toContain(hostileBearer);

      const calls = [
        ...Array.from({ length: 6 }, () => self(simulator.url, key.secretKey)),
        self(host.url, hostileBearer),
        self(host.url, hostileBearer),
      ];
      const results = await Promise.allSettled(calls);
      expect(results.slice(0, 6).map((result) => result.status)).toEqual(Array(6).fill("fulfilled"));
      for (const result of results.slice(6)) {
        expect(result.status).toBe("rejected");
        const error = (result as PromiseRejectedResult).reason as Error;
        expect(error).toBeInstanceOf(RetryAfterAboveCapError);
        expect(error.message).toMatch(
          new RegExp(
            `${host.url} is held off for 864\\d\\d s more \\(it answered 429 with Retry-After 86400 s\\), above the cap of 30 s`,
          ),
        );
      }
      // The later hostile calls failed in the pacer, without asking the host again.
      expect(host.requests).toBe(1);
      // Nobody waited for the hostile host's hold-off; the other tenant waited only for its slots (8 callers at once).
      expect(waits.filter((wait) => wait.cause === "hold-off")).toEqual([]);
      const tenantWaits = waits.filter((wait) => wait.origin === simulator.url);
      expect(tenantWaits.every((wait) => wait.cause === "budget" && wait.ms <= 8 * pacer.intervalMs)).toBe(true);
      expect(pacer.holdOffLeft(simulator.url)).toBe(0);
    } finally {
      await client.close();
    }
  });
});
