/**
 * The rate budget (lambdas/adapters/novala/rate-budget.ts): an execution environment's calls are spaced at its share
 * of the budget, so they stay under the simulator's per-tenant limit, and a 429's Retry-After holds back every call of
 * the environment, not only the one that got it.
 */
import { afterEach, describe, expect, it } from "vitest";
import { NovalaHttpClient } from "../../lambdas/adapters/novala/http-client.js";
import { pacerFromEnvironment, RatePacer } from "../../lambdas/adapters/novala/rate-budget.js";
import { AllowedHosts } from "../../lambdas/core/allowed-hosts.js";
import { type NovalaSimulator, startNovalaSimulator } from "../../local/novala-simulator.js";

const config = {
  allowedHosts: new AllowedHosts("127.0.0.1"),
  connectTimeoutMs: 5_000,
  requestTimeoutMs: 10_000,
  retryBudgetMs: 60_000,
};

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

describe("RatePacer", () => {
  it("spaces calls 1 ÷ rate apart in the order they ask, from a jittered start", async () => {
    const clock = fakeClock();
    const pacer = new RatePacer(4, { ...clock, random: () => 0.5 });
    const at: number[] = [];
    for (let i = 0; i < 4; i++) {
      await pacer.acquire();
      at.push(clock.now());
    }
    expect(at).toEqual([125, 375, 625, 875]);
  });

  it("holds every caller back until a hold-off has passed", async () => {
    const clock = fakeClock();
    const pacer = new RatePacer(10, { ...clock, random: () => 0 });
    await pacer.acquire();
    pacer.holdOff(2_000);
    await pacer.acquire();
    expect(clock.now()).toBe(2_000);
    await pacer.acquire();
    expect(clock.now()).toBe(2_100);
  });

  it("divides the environment's budget by the concurrency, and refuses a budget that is not a positive number", () => {
    expect(pacerFromEnvironment({})).toBeUndefined();
    expect(
      pacerFromEnvironment({ NOVALA_RATE_BUDGET_PER_SECOND: "20", ROTATION_CONCURRENCY: "50" })?.ratePerSecond,
    ).toBeCloseTo(0.4);
    expect(() => pacerFromEnvironment({ NOVALA_RATE_BUDGET_PER_SECOND: "fast", ROTATION_CONCURRENCY: "5" })).toThrow(
      /NOVALA_RATE_BUDGET_PER_SECOND \(fast\) must be a positive number/,
    );
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

  it("backs off as a group: after a 429 with Retry-After: 1, no call of the environment starts for a second", async () => {
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
