/** The rate budget of rotation: a pacer per execution environment, with a hold-off per origin after a 429. */
import type { RateBudget } from "../../contract/configuration.js";

/** Test and benchmark hooks of a pacer: its clock, its sleep, its randomness, a view of its waits. */
export interface PacerOptions {
  /** Milliseconds. Default: performance.now. */
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
  /** In [0, 1): where in its first interval a new pacer starts, so that environments started together spread out. */
  random?: () => number;
  /** Told of every wait before it starts (tests and benchmarks: who waited, how long, and why). */
  onWait?: (wait: PacerWait) => void;
}

/** One wait of a caller: for its slot of the budget, or for its origin's hold-off. */
export interface PacerWait {
  origin: string;
  ms: number;
  cause: "budget" | "hold-off";
}

/** An origin's hold-off that is longer than the caller may wait: answered by acquire instead of waited out. */
export interface HoldOffAboveCap {
  origin: string;
  /** What the 429 asked for (its Retry-After), in ms; may be Infinity. */
  askedMs: number;
  /** What is left of it now, in ms. */
  leftMs: number;
}

/** What the HTTP client asks of a pacer: a slot before each attempt, and an origin's hold-off after a 429. */
export interface RequestPacer {
  /**
   * Resolves when this caller may send to `origin`: its slot of the budget has come, then the origin's hold-off has
   * passed. Resolves the hold-off instead, without waiting for it, when more than `maxHoldOffMs` of it is left.
   */
  acquire(origin: string, maxHoldOffMs: number): Promise<HoldOffAboveCap | undefined>;
  /** No call to `origin` starts within the next `ms` (a 429's Retry-After, or its backoff). */
  holdOff(origin: string, ms: number): void;
}

/**
 * The most origins whose hold-off a pacer remembers. The allow-list bounds the hosts, but a wildcard pattern
 * (`*.novala.ai`) does not bound their number; forgetting a hold-off only costs that origin another 429.
 */
export const MAX_HELD_OFF_ORIGINS = 32;

/** Below this a hold-off is over: timers may fire a fraction of a millisecond early. */
const HOLD_OFF_RESOLUTION_MS = 1;

/**
 * The rate budget of rotation (docs/design.md, "A rate budget for rotation"): the construct gives the functions a
 * number of Novala requests per second per tenant that rotation may use, and how many rotations may run at once; each
 * execution environment paces its own calls at budget ÷ concurrency with this pacer, so that all of them together stay
 * within the budget without talking to each other.
 *
 * A token bucket of one token refilled at `ratePerSecond`: calls are spaced 1 ÷ rate apart, in the order asked; and
 * a "not before" per origin (scheme://host:port, one Novala tenant), set by 429s. The hold-off is applied after the
 * budget has given the call its slot, and only to that origin: a host that answers `Retry-After: 86400` holds back its
 * own calls, never another tenant's. A caller never waits out more than the cap it names; a longer hold-off is
 * answered to it instead, and it fails the call.
 *
 * @example
 * const pacer = new RatePacer(20 / 50); // a budget of 20/s shared by 50 rotations
 * const heldOff = await pacer.acquire("https://acme.novala.ai", 30_000); // undefined: send now
 */
export class RatePacer implements RequestPacer {
  readonly intervalMs: number;
  private readonly now: () => number;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly onWait: (wait: PacerWait) => void;
  private nextAt: number;
  private readonly heldOff = new Map<string, { notBefore: number; askedMs: number }>();

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
    this.onWait = options.onWait ?? (() => {});
    this.nextAt = this.now() + (options.random ?? Math.random)() * this.intervalMs;
  }

  async acquire(origin: string, maxHoldOffMs: number): Promise<HoldOffAboveCap | undefined> {
    for (;;) {
      // The budget decides first: the slot is reserved whatever the origin, so a hold-off never moves another
      // origin's slots.
      const now = this.now();
      const slot = Math.max(now, this.nextAt);
      this.nextAt = slot + this.intervalMs;
      if (slot > now) await this.wait(origin, slot - now, "budget");
      // Then the origin's own hold-off, which may have started (a 429) while this caller waited for its slot.
      const leftMs = this.holdOffLeft(origin);
      if (leftMs < HOLD_OFF_RESOLUTION_MS) return undefined;
      const held = this.heldOff.get(origin);
      if (leftMs > maxHoldOffMs) return { origin, askedMs: held?.askedMs ?? leftMs, leftMs };
      await this.wait(origin, leftMs, "hold-off");
      // A new slot after the hold-off: the calls it held back leave spaced out, not in one burst.
    }
  }

  holdOff(origin: string, ms: number): void {
    // NaN and negative waits are no hold-off; Infinity is one that never ends, answered to every caller (never slept).
    if (!(ms > 0)) return;
    const notBefore = this.now() + ms;
    const held = this.heldOff.get(origin);
    if (held && held.notBefore >= notBefore) return;
    if (!held) this.makeRoom();
    this.heldOff.set(origin, { notBefore, askedMs: ms });
  }

  /** Milliseconds before a call to `origin` may start; 0 when it is not held off. */
  holdOffLeft(origin: string): number {
    const held = this.heldOff.get(origin);
    if (!held) return 0;
    const left = held.notBefore - this.now();
    if (left > 0) return left;
    this.heldOff.delete(origin);
    return 0;
  }

  private async wait(origin: string, ms: number, cause: PacerWait["cause"]): Promise<void> {
    this.onWait({ origin, ms, cause });
    await this.sleep(ms);
  }

  /** Drops hold-offs that are over; when all are running, the one that ends first. */
  private makeRoom(): void {
    if (this.heldOff.size < MAX_HELD_OFF_ORIGINS) return;
    const now = this.now();
    let first: [string, number] | undefined;
    for (const [origin, { notBefore }] of this.heldOff) {
      if (notBefore <= now) this.heldOff.delete(origin);
      else if (!first || notBefore < first[1]) first = [origin, notBefore];
    }
    if (first && this.heldOff.size >= MAX_HELD_OFF_ORIGINS) this.heldOff.delete(first[0]);
  }
}

/**
 * The pacer of this execution environment for `budget` (budget ÷ concurrency), made once and kept across invocations:
 * a warm environment goes on from where the last invocation left it, hold-offs included (they are per origin and
 * capped, so one tenant's cannot hold back the next invocation's). Undefined without a budget (a function deployed
 * before the budget existed, a local run): calls are then not paced.
 */
export function environmentPacer(budget: RateBudget | undefined): RatePacer | undefined {
  if (budget === undefined) return undefined;
  const key = `${budget.perSecond}/${budget.concurrency}`;
  if (sharedPacer?.key !== key) sharedPacer = { key, pacer: new RatePacer(budget.perSecond / budget.concurrency) };
  return sharedPacer.pacer;
}

let sharedPacer: { key: string; pacer: RatePacer } | undefined;
