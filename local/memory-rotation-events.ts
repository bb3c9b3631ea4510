import { rotationEventEntry } from "../lambdas/adapters/aws/rotation-events.js";
import { KEY_REVOCATION_POSTPONED, KEY_ROTATED, KEY_ROTATION_ROLLED_BACK } from "../lambdas/contract/environment.js";
import type {
  KeyRevocationPostponed,
  KeyRotated,
  KeyRotationRolledBack,
  RotationEvents,
} from "../lambdas/core/ports.js";

/**
 * RotationEvents in memory, for tests and the local run: keeps the PutEvents entries the EventBridge adapter would
 * send (same builder), and can be told to fail, as a bus that is down or forbidden would.
 */
export class MemoryRotationEvents implements RotationEvents {
  readonly entries: ReturnType<typeof rotationEventEntry>[] = [];
  /** When set, every publish throws this. */
  failure: Error | undefined;

  constructor(
    private readonly eventBus = "default",
    private readonly onEntry?: (entry: ReturnType<typeof rotationEventEntry>) => void,
  ) {}

  async keyRotated(event: KeyRotated): Promise<void> {
    this.record(rotationEventEntry(this.eventBus, KEY_ROTATED, event));
  }

  async rotationRolledBack(event: KeyRotationRolledBack): Promise<void> {
    this.record(rotationEventEntry(this.eventBus, KEY_ROTATION_ROLLED_BACK, event));
  }

  async keyRevocationPostponed(event: KeyRevocationPostponed): Promise<void> {
    this.record(rotationEventEntry(this.eventBus, KEY_REVOCATION_POSTPONED, event));
  }

  /** The published events as consumers see them: detail-type and parsed detail. */
  published(): { detailType: string; detail: Record<string, unknown> }[] {
    return this.entries.map((entry) => ({
      detailType: String(entry.DetailType),
      detail: JSON.parse(entry.Detail) as Record<string, unknown>,
    }));
  }

  private record(entry: ReturnType<typeof rotationEventEntry>): void {
    if (this.failure) throw this.failure;
    this.entries.push(entry);
    this.onEntry?.(entry);
  }
}
