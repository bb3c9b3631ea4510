import { managerCredentials, type RotationDeps, readKeySecret } from "./context.js";
import { RotationStateError } from "./errors.js";
import { versionWithStage } from "./guard.js";
import type { RevocationRequest } from "./ports.js";
import { AWSCURRENT, AWSPENDING } from "./ports.js";
import { keyIdOf } from "./retire.js";

export type RevocationDeps = Pick<RotationDeps, "store" | "keys" | "telemetry"> & {
  config: Pick<RotationDeps["config"], "allowedHosts">;
};

/** Validates the revocation schedule's Input; names the field that is wrong. */
export function parseRevocationRequest(event: unknown): RevocationRequest {
  const input = (typeof event === "string" ? safeJson(event) : event) as Partial<RevocationRequest> | undefined;
  if (typeof input !== "object" || input === null) {
    throw new RotationStateError("revocation event must be a JSON object with secretId and keyId");
  }
  for (const field of ["secretId", "keyId"] as const) {
    if (typeof input[field] !== "string" || input[field].length === 0) {
      throw new RotationStateError(`revocation event field "${field}" is missing or not a string`);
    }
  }
  return input as RevocationRequest;
}

/**
 * The revocation Lambda's job: re-read the secret and revoke `keyId` unless AWSCURRENT or AWSPENDING holds it now (an
 * operator may have rolled back); that refusal is logged at error level and counted. 404 from Novala means done.
 */
export async function revokeRetiredKey(
  deps: RevocationDeps,
  request: RevocationRequest,
): Promise<"revoked" | "already-revoked" | "refused"> {
  try {
    return await revokeUnlessHeld(deps, request);
  } catch (error) {
    deps.telemetry.metric("RevocationsFailed");
    throw error;
  }
}

async function revokeUnlessHeld(deps: RevocationDeps, { secretId, keyId }: RevocationRequest) {
  const description = await deps.store.describe(secretId);
  const current = await readKeySecret(deps, description.arn, AWSCURRENT);
  if (!current) throw new RotationStateError(`secret ${secretId} has no AWSCURRENT value`);
  const pendingVersion = versionWithStage(description, AWSPENDING);
  const pending =
    pendingVersion && pendingVersion !== current.versionId
      ? await deps.store.getValue(description.arn, { stage: AWSPENDING, versionId: pendingVersion })
      : undefined;
  const holder =
    current.secret.keyId === keyId ? AWSCURRENT : pending && keyIdOf(pending.value) === keyId ? AWSPENDING : undefined;
  if (holder) {
    deps.telemetry.error("refused to revoke a key that the secret still holds", { keyId, stage: holder });
    deps.telemetry.metric("RevocationsRefused");
    return "refused" as const;
  }
  const manager = await managerCredentials(deps, description.arn, current);
  const outcome = await deps.keys.revoke(manager, keyId);
  if (outcome === "revoked") deps.telemetry.metric("KeysRevoked");
  deps.telemetry.info("revoked the retired key", { keyId, outcome });
  return outcome;
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
