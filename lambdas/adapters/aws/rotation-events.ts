/** The RotationEvents port over Amazon EventBridge. */
import { type EventBridgeClient, PutEventsCommand, type PutEventsRequestEntry } from "@aws-sdk/client-eventbridge";
import {
  KEY_REVOCATION_POSTPONED,
  KEY_ROTATED,
  KEY_ROTATION_ROLLED_BACK,
  ROTATION_EVENT_SOURCE,
} from "../../contract/environment.js";
import type { KeyRevocationPostponed, KeyRotated, KeyRotationRolledBack, RotationEvents } from "../../core/ports.js";
import { redact } from "../../core/redact.js";
import { AwsServiceError, awsServiceError } from "./errors.js";

/**
 * RotationEvents over EventBridge: one PutEvents entry per event on the configured bus, source novala.key-rotation,
 * the secret's ARN as the event's resource (docs/events.md). The entry is built by a pure function that the in-memory
 * adapter shares, so both publish the same shape.
 */
export class EventBridgeRotationEvents implements RotationEvents {
  constructor(
    private readonly client: EventBridgeClient,
    private readonly eventBus: string,
  ) {}

  keyRotated(event: KeyRotated): Promise<void> {
    return this.put(rotationEventEntry(this.eventBus, KEY_ROTATED, event));
  }

  rotationRolledBack(event: KeyRotationRolledBack): Promise<void> {
    return this.put(rotationEventEntry(this.eventBus, KEY_ROTATION_ROLLED_BACK, event));
  }

  keyRevocationPostponed(event: KeyRevocationPostponed): Promise<void> {
    return this.put(rotationEventEntry(this.eventBus, KEY_REVOCATION_POSTPONED, event));
  }

  private async put(entry: PutEventsRequestEntry): Promise<void> {
    const out = await this.client
      .send(new PutEventsCommand({ Entries: [entry] }))
      .catch((error: unknown) => Promise.reject(awsServiceError("PutEvents", `${entry.DetailType}`, error)));
    // PutEvents answers 200 with a failed entry (throttled, bus not found, access denied): that is a failure too.
    if ((out.FailedEntryCount ?? 0) > 0) {
      const failed = out.Entries?.[0];
      throw new AwsServiceError(
        { operation: "PutEvents", ...(failed?.ErrorCode && { awsErrorName: failed.ErrorCode }) },
        `PutEvents ${entry.DetailType}: ${failed?.ErrorCode ?? "failed"}: ${failed?.ErrorMessage ?? ""}`,
      );
    }
  }
}

/** Version 1 of the detail: the fields of KeyRotated, KeyRotationRolledBack or KeyRevocationPostponed, ids only. */
export const ROTATION_EVENT_SCHEMA_VERSION = 1;

/** The PutEvents entry of one event. Pure: the AWS and the in-memory adapters both use it. */
export function rotationEventEntry(
  eventBus: string,
  detailType: typeof KEY_ROTATED | typeof KEY_ROTATION_ROLLED_BACK | typeof KEY_REVOCATION_POSTPONED,
  detail: KeyRotated | KeyRotationRolledBack | KeyRevocationPostponed,
): PutEventsRequestEntry & { Detail: string } {
  return {
    EventBusName: eventBus,
    Source: ROTATION_EVENT_SOURCE,
    DetailType: detailType,
    Resources: [detail.secretArn],
    // redact(): a last guard; the detail holds ids and a reason, never a key.
    Detail: redact(JSON.stringify({ schemaVersion: ROTATION_EVENT_SCHEMA_VERSION, ...detail })),
  };
}
