/** The ManagerSecretCache port as a warm execution environment's memory (lambdas/core/ports.ts). */
import type { ManagerSecretCache, StoredValue } from "../../core/ports.js";

/** How long a manager secret's value is used before it is read again: at most 5 minutes (issue 20). */
export const MANAGER_CACHE_MS = 5 * 60_000;
/** One deployment names one manager; a few entries are room enough for a local run with several. */
const MAX_ENTRIES = 8;

/**
 * Each manager secret's AWSCURRENT value as last read, used for {@link MANAGER_CACHE_MS}: a rotation's four steps (and
 * the next rotations of a fleet) read the manager secret once in that window instead of once per step. Why that is safe
 * while the manager itself rotates: docs/design.md, "The manager's key, read once per window".
 */
export class TimedManagerSecretCache implements ManagerSecretCache {
  private readonly values = new Map<string, { value: StoredValue; readAt: number }>();

  constructor(
    private readonly now: () => number = Date.now,
    private readonly windowMs = MANAGER_CACHE_MS,
  ) {}

  get(secretId: string): StoredValue | undefined {
    const entry = this.values.get(secretId);
    if (!entry) return undefined;
    const age = this.now() - entry.readAt;
    // A clock that went back (age < 0) is no reason to trust an old value.
    if (age >= 0 && age < this.windowMs) return entry.value;
    this.values.delete(secretId);
    return undefined;
  }

  set(secretId: string, value: StoredValue): void {
    this.values.delete(secretId);
    this.values.set(secretId, { value, readAt: this.now() });
    for (const oldest of this.values.keys()) {
      if (this.values.size <= MAX_ENTRIES) break;
      this.values.delete(oldest);
    }
  }

  drop(secretId: string): void {
    this.values.delete(secretId);
  }
}
