/** The revocation request: parsing it, and revoking the retired key it names once proven. */
import type { RevocationRequest } from "../contract/revocation-request.js";
import { managerCredentials, type RotationDeps, readKeySecret } from "./context.js";
import { RotationStateError } from "./errors.js";
import { versionWithStage } from "./guard.js";
import type { SecretDescription } from "./ports.js";
import { AWSCURRENT, AWSPENDING, AWSPREVIOUS } from "./ports.js";
import { type KeyClaim, keyClaimOf, proveClaim } from "./possession.js";

export { parseRevocationRequest } from "../contract/revocation-request.js";

export type RevocationDeps = Pick<RotationDeps, "store" | "keys" | "telemetry"> & {
  config: Pick<RotationDeps["config"], "allowedHosts">;
};

/** How many retired versions the search for the key's holder reads at most (Secrets Manager keeps about 100). */
const MAX_VERSIONS_SEARCHED = 25;

/**
 * The revocation Lambda's job. The event is a claim from whoever could invoke the function: it revokes `keyId` only
 * when a retired version of the named secret (neither AWSCURRENT nor AWSPENDING) holds it and proves it (its secret
 * key authenticates as that id), and never the manager key. Anything else is refused, logged at error level and
 * counted. A key Novala already reports revoked or unknown needs nothing.
 */
export async function revokeRetiredKey(
  deps: RevocationDeps,
  request: RevocationRequest,
): Promise<"revoked" | "already-revoked" | "refused"> {
  try {
    return await revokeIfRetired(deps, request);
  } catch (error) {
    deps.telemetry.metric("RevocationsFailed");
    throw error;
  }
}

async function revokeIfRetired(deps: RevocationDeps, request: RevocationRequest) {
  const { keyId } = request;
  const description = await deps.store.describe(request.secretId);
  const current = await readKeySecret(deps, description.arn, AWSCURRENT);
  if (!current) throw new RotationStateError(`secret ${request.secretId} has no AWSCURRENT value`);
  const pendingVersion = versionWithStage(description, AWSPENDING);
  // By version id alone: AWSPENDING may leave that version meanwhile (an abort, a rollback of testSecret), and a read
  // pinned to the label would then fail the revocation (concurrency suite: "revoke ∥ abort": the operator's revoke,
  // its schedule already taken, left the key active on AWSPREVIOUS with nothing to revoke it).
  const pending =
    pendingVersion && pendingVersion !== current.versionId
      ? await deps.store.getValue(description.arn, { versionId: pendingVersion })
      : undefined;
  const holder =
    current.secret.keyId === keyId
      ? AWSCURRENT
      : keyClaimOf(pending?.value, AWSPENDING)?.keyId === keyId
        ? AWSPENDING
        : undefined;
  if (holder) return refuse(deps, "refused to revoke a key that the secret still holds", { keyId, stage: holder });

  const claim = await findRetiredClaim(deps, description, request, [current.versionId, pendingVersion]);
  if (!claim) {
    return refuse(deps, "refused to revoke a key that no retired version of the secret holds", {
      keyId,
      secretId: description.arn,
    });
  }
  const manager = await managerCredentials(deps, description.arn, current);
  const proof = await proveClaim(deps, manager, claim);
  if (proof.outcome === "refused") {
    return refuse(deps, `refused to revoke key ${keyId} named by ${claim.where}: ${proof.reason}`, { keyId });
  }
  if (proof.outcome === "gone") {
    deps.telemetry.info("the retired key is already gone at Novala", { keyId, status: proof.status });
    return "already-revoked" as const;
  }
  const outcome = await deps.keys.revoke(manager, keyId);
  if (outcome === "revoked") deps.telemetry.metric("KeysRevoked");
  deps.telemetry.info("revoked the retired key", { keyId, outcome });
  return outcome;
}

/**
 * The retired version that names `keyId`: the one the event points at first (the schedule records it), then
 * AWSPREVIOUS, then unlabelled versions (rotations back to back within the grace period push a key off AWSPREVIOUS).
 */
async function findRetiredClaim(
  deps: RevocationDeps,
  description: SecretDescription,
  request: RevocationRequest,
  live: (string | undefined)[],
): Promise<KeyClaim | undefined> {
  const skip = new Set(live.filter((version): version is string => version !== undefined));
  let listed: string[] | undefined;
  const next = async (): Promise<string | undefined> => {
    const preferred = [request.versionId, versionWithStage(description, AWSPREVIOUS)].find(
      (version) => version !== undefined && !skip.has(version),
    );
    if (preferred) return preferred;
    listed ??= (await deps.store.listVersions(description.arn)).map((version) => version.versionId);
    return listed.find((version) => !skip.has(version));
  };
  for (let read = 0; read < MAX_VERSIONS_SEARCHED; read++) {
    const versionId = await next();
    if (!versionId) return undefined;
    skip.add(versionId);
    const stored = await deps.store.getValue(description.arn, { versionId });
    const claim = keyClaimOf(stored?.value, `retired version ${versionId} of secret ${description.arn}`);
    if (claim?.keyId === request.keyId) return claim;
  }
  return undefined;
}

function refuse(deps: RevocationDeps, message: string, fields: Record<string, unknown>): "refused" {
  deps.telemetry.error(message, fields);
  deps.telemetry.metric("RevocationsRefused");
  return "refused";
}
