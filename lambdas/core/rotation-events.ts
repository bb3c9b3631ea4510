/** Publishing Key Rotated and Key Rotation Rolled Back: logged and counted on failure, never thrown. */
import type { RotationDeps } from "./context.js";
import { errorMessage, SecretValueError } from "./errors.js";
import type { KeyRotationRolledBack, StoredValue } from "./ports.js";
import { keyClaimOf } from "./possession.js";
import type { ParsedKeySecret } from "./secret-value.js";

/**
 * What a promotion leaves, as finishSecret reads it (before its own promotion, or after a crashed one): the value
 * AWSCURRENT holds (validated) and the one AWSPREVIOUS holds, if any. Announced, then the old key retired.
 */
export interface Promoted {
  current: ParsedKeySecret & { versionId: string };
  previous?: StoredValue;
}

/** After a promotion (also a retried one: events are at least once). The ids come from what the step read. */
export async function announceKeyRotated(
  deps: RotationDeps,
  secretArn: string,
  token: string,
  { current, previous }: Promoted,
): Promise<void> {
  await publishing(deps, "Key Rotated", async () => {
    const newKeyId = current.versionId === token ? current.secret.keyId : undefined;
    if (!newKeyId) throw new SecretValueError(`version ${token} holds no key id`);
    const oldKeyId = keyClaimOf(previous?.value)?.keyId;
    // A promoted copy of the current key (Secrets Manager's configuration test) changed nothing.
    if (oldKeyId === newKeyId) return;
    await deps.events.keyRotated({
      secretArn,
      newKeyId,
      newVersionId: token,
      ...(oldKeyId && previous && { oldKeyId, oldVersionId: previous.versionId }),
    });
  });
}

/** After testSecret rolled a rotation back. */
export async function announceRolledBack(deps: RotationDeps, event: KeyRotationRolledBack): Promise<void> {
  await publishing(deps, "Key Rotation Rolled Back", () => deps.events.rotationRolledBack(event));
}

/**
 * Publishes with `publish`, telling consumers that a secret's key changed. What it announces has already happened and
 * must not fail because the news could not be sent: a failure is logged and counted (RotationEventsFailed, which is
 * alarmed), never thrown.
 */
export async function publishing(
  deps: Pick<RotationDeps, "telemetry">,
  detailType: string,
  publish: () => Promise<void>,
  unaffected = "the rotation itself",
): Promise<void> {
  try {
    await publish();
  } catch (error) {
    deps.telemetry.metric("RotationEventsFailed");
    deps.telemetry.warn(`could not publish the ${detailType} event; ${unaffected} is not affected`, {
      errorName: (error as { name?: unknown } | null)?.name,
      errorMessage: errorMessage(error),
    });
  }
}
