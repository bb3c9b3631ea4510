/**
 * The rate budget of rotation (docs/design.md, "A rate budget for rotation"): the construct gives the functions a
 * number of Novala requests per second per tenant that rotation may use, and how many rotations may run at once; each
 * execution environment paces its own calls at budget ÷ concurrency, so that all of them together stay within the
 * budget without talking to each other. A 429 holds back every call of the environment until its `Retry-After` has
 * passed (one shared "not before"), instead of each call backing off on its own clock.
 */
import { ENV } from "../../contract/environment.js";

export interface PacerOptions {
  /** Milliseconds. Default: performance.now. */
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
  /** In [0, 1): where in its first interval a new pacer starts, so that environments started together spread out. */
  random?: () => number;
}

/** What the HTTP client asks of a pacer: a slot before each attempt, and a group hold-off after a 429. */
export interface RequestPacer {
  acquire(): Promise<void>;
  holdOff(ms: number): void;
}

/** A token bucket of one token refilled at `ratePerSecond`: calls are spaced 1 ÷ rate apart, in the order asked. */
export class RatePacer implements RequestPacer {
  readonly intervalMs: number;
  private readonly now: () => number;
  private readonly sleep: (ms: number) => Promise<void>;
  private nextAt: number;
  private notBefore = 0;

  constructor(
    readonly ratePerSecond: number,
    options: PacerOptions = {},
  ) {
    if (!Number.isFinite(ratePerSecond) || ratePerSecond <= 0) {
      throw new Error(`the rate of a pacer must be a positive number of requests per second, got ${ratePerSecond}`);
    }
    this.intervalMs = 1000 / ratePerSecond;
    this.now = options.now ?? (() => performance.now());
    this.sleep = options.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
    this.nextAt = this.now() + (options.random ?? Math.random)() * this.intervalMs;
  }

  /** Resolves when this caller may send: its reserved slot has come and no hold-off is running. */
  async acquire(): Promise<void> {
    for (;;) {
      const now = this.now();
      const slot = Math.max(now, this.nextAt, this.notBefore);
      this.nextAt = slot + this.intervalMs;
      if (slot > now) await this.sleep(slot - now);
      // A 429 seen while this caller waited moves every caller behind its Retry-After.
      if (this.notBefore <= this.now()) return;
    }
  }

  /** No call of this pacer starts within the next `ms` (a 429's Retry-After, or its backoff). */
  holdOff(ms: number): void {
    this.notBefore = Math.max(this.notBefore, this.now() + Math.max(0, ms));
  }
}

/** Novala's documented rate limit per tenant (docs/novala-key-api.md). */
export const NOVALA_TENANT_LIMIT_PER_SECOND = 50;

/**
 * The pacer of one execution environment: budget ÷ concurrency from the environment, made once and kept across
 * invocations (a warm environment goes on from where the last invocation left it). Undefined when no budget is set
 * (a function deployed before the budget existed, a local run): calls are then not paced.
 */
let environmentPacer: { key: string; pacer: RatePacer } | undefined;

export function pacerFromEnvironment(env: Record<string, string | undefined> = process.env): RatePacer | undefined {
  const budget = env[ENV.rateBudget];
  if (budget === undefined || budget.trim() === "") return undefined;
  const concurrency = env[ENV.rotationConcurrency] ?? "1";
  const key = `${budget}/${concurrency}`;
  if (environmentPacer?.key !== key) {
    const rate = Number(budget) / Number(concurrency);
    if (!Number.isFinite(rate) || rate <= 0 || !Number.isInteger(Number(concurrency))) {
      throw new Error(
        `${ENV.rateBudget} (${budget}) must be a positive number and ${ENV.rotationConcurrency} (${concurrency}) a positive whole number`,
      );
    }
    environmentPacer = { key, pacer: new RatePacer(rate) };
  }
  return environmentPacer.pacer;
}
