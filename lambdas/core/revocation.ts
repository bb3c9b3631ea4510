/** The revocation request: parsing it, finding and proving the retired key it names, and revoking it at once. */
import type { RevocationRequest } from "../contract/revocation-request.js";
import { managerCredentials, type RotationDeps, requireCurrent } from "./context.js";
import { rotationInProgress, versionWithStage } from "./guard.js";
import type { NovalaKey, SecretDescription } from "./ports.js";
import { AWSCURRENT, AWSPENDING, AWSPREVIOUS } from "./ports.js";
import { type KeyClaim, keyClaimOf, type ManagerCredentials, proveRetiredKey } from "./possession.js";

/** What a revocation reads and acts with: the secret, Novala, the logs. */
export type RevocationDeps = Pick<RotationDeps, "store" | "keys" | "telemetry"> & {
  config: Pick<RotationDeps["config"], "allowedHosts">;
};

/** How many retired versions the search for the key's holder reads at most (Secrets Manager keeps about 100). */
const MAX_VERSIONS_SEARCHED = 25;

/**
 * Revokes a retired key now, never postponed: grace 0, the operator's `revoke`, the leak response, a rollback without
 * grace. The event is a claim from whoever could invoke the function: it revokes `keyId` only when a retired version of
 * the named secret (neither AWSCURRENT nor AWSPENDING) holds it and proves it ({@link proveRetiredHolding}), and never
 * the manager key. Anything else is refused, logged at error level and counted. A key Novala already reports revoked
 * or unknown needs nothing. The revocation a schedule fires goes through runDueRevocation (revocation-usage.ts), which
 * proves the same way and may wait for consumers.
 */
export async function revokeRetiredKey(
  deps: RevocationDeps,
  request: RevocationRequest,
): Promise<"revoked" | "already-revoked" | "refused"> {
  try {
    const proven = await proveRetiredHolding(deps, request);
    if (proven.outcome !== "proven") return proven.outcome;
    return await revokeProvenKey(deps, proven.manager, request.keyId);
  } catch (error) {
    deps.telemetry.metric("RevocationsFailed");
    throw error;
  }
}

/** A retired key proven to belong to the secret, as read before any act on it. */
export interface ProvenRetiredKey {
  outcome: "proven";
  secretArn: string;
  /** The retired version that holds the key. */
  versionId: string;
  manager: ManagerCredentials;
  /** Novala's record of the key, read with the manager's credentials before the key itself was used. */
  record: NovalaKey;
  /** How it was proven: by the lineage tag in its name (no use of the key), or by its secret key (one use). */
  by: "secret-key" | "lineage-tag";
}

/**
 * The proof steps every revocation takes before any act (a revocation, or a postponement's schedule and event): re-read
 * the secret (neither AWSCURRENT nor AWSPENDING may hold the key), find the retired version that names it, and prove it
 * (lambdas/core/possession.ts, proveRetiredKey: one read of Novala's record, and the key's secret key only when its
 * name does not carry that version's lineage tag). A refusal is logged at error level and counted here.
 */
export async function proveRetiredHolding(
  deps: RevocationDeps,
  request: RevocationRequest,
): Promise<ProvenRetiredKey | { outcome: "refused"; reason: string } | { outcome: "already-revoked"; reason: string }> {
  const { keyId } = request;
  const description = await deps.store.describe(request.secretId);
  const current = await requireCurrent(deps, description.arn, request.secretId);
  const pendingVersion = rotationInProgress(description);
  // Not the AWSCURRENT just read: a promotion between the two reads made the pending version current. Read by version
  // id alone: AWSPENDING may leave that version meanwhile (an abort, a rollback of testSecret), and a read pinned to
  // the label would then fail the revocation (concurrency suite: "revoke ∥ abort": the operator's revoke, its schedule
  // already taken, left the key active on AWSPREVIOUS with nothing to revoke it).
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

  const found = await findRetiredClaim(deps, description, request, [current.versionId, pendingVersion]);
  if (!found) {
    return refuse(deps, "refused to revoke a key that no retired version of the secret holds", {
      keyId,
      secretId: description.arn,
    });
  }
  const { claim, versionId } = found;
  const manager = await managerCredentials(deps, description.arn, current);
  const proof = await proveRetiredKey(deps, manager, claim, { secretArn: description.arn, versionId });
  if (proof.outcome === "refused") {
    return refuse(deps, `refused to revoke key ${keyId} named by ${claim.where}: ${proof.reason}`, { keyId });
  }
  if (proof.outcome === "gone") {
    deps.telemetry.info("the retired key is already gone at Novala", { keyId, status: proof.status });
    return { outcome: "already-revoked", reason: `Novala reports key ${keyId} ${proof.status}` };
  }
  return { outcome: "proven", secretArn: description.arn, versionId, manager, record: proof.key, by: proof.by };
}

/** Revokes a key proven to be a secret's retired key, with the manager's credentials; counted and logged. */
export async function revokeProvenKey(
  deps: Pick<RevocationDeps, "keys" | "telemetry">,
  manager: ManagerCredentials,
  keyId: string,
  fields: Record<string, unknown> = {},
): Promise<"revoked" | "already-revoked"> {
  const outcome = await deps.keys.revoke(manager, keyId);
  if (outcome === "revoked") deps.telemetry.metric("KeysRevoked");
  deps.telemetry.info("revoked the retired key", { keyId, outcome, ...fields });
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
): Promise<{ claim: KeyClaim; versionId: string } | undefined> {
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
    if (claim?.keyId === request.keyId) return { claim, versionId };
  }
  return undefined;
}

function refuse(
  deps: RevocationDeps,
  message: string,
  fields: Record<string, unknown>,
): { outcome: "refused"; reason: string } {
  deps.telemetry.error(message, fields);
  deps.telemetry.metric("RevocationsRefused");
  return { outcome: "refused", reason: message };
}
