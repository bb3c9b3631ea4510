/** Proof of possession: which key a secret's value or an event may act on. */

import { KEY_ID_PATTERN, SECRET_KEY_PATTERN } from "../contract/key-shapes.js";
import type { RotationDeps } from "./context.js";
import { isUnauthorized } from "./errors.js";
import { hasRotationTag } from "./key-name.js";
import type { NovalaCredentials, NovalaKey } from "./ports.js";
import { lenientFields } from "./secret-value.js";

/** Credentials that create and revoke keys, and the key behind them, which no consumer secret's rotation may touch. */
export interface ManagerCredentials extends NovalaCredentials {
  /** The key id of the credentials: the manager key, or for a self-managed secret its own current key. */
  keyId: string;
  /** True when a separate manager secret supplies the credentials (the secret is a consumer). */
  managed: boolean;
  /** The manager secret they were read from (the deployment's): what a message about the manager key names. */
  secretId?: string;
}

/** A version's claim to a key, read leniently: an old version need not pass today's validation to be retired. */
export interface KeyClaim {
  keyId: string;
  secretKey?: string;
  /** Where the claim comes from, for messages: "AWSPREVIOUS of secret …", "version … of secret …". */
  where: string;
}

/** What Novala's answers say of a claim: proven (and how), gone already, or refused (and why). */
export type Proof =
  | { outcome: "proven"; key: NovalaKey; by: "secret-key" | "lineage-tag" }
  | { outcome: "gone"; status: "revoked" | "unknown" }
  | { outcome: "refused"; reason: string };

/**
 * Proof of possession: a secret's value and a revocation event are claims, not facts. The rotator copies scopes from,
 * or revokes, a key only when the version that names it proves it: its secret key authenticates as that key id
 * (GET /api-keys/self), or Novala already reports the key revoked or unknown (nothing left to do). See docs/security.md.
 *
 * Checks `claim` against Novala, calling with `manager`'s origin only (the tenant the key would be revoked in).
 * `lineage` (this secret's ARN and the rotation's version id) also accepts a key whose secret key does not authenticate
 * yet (propagation) when its name carries exactly that lineage tag: the rotator minted it for this very version.
 *
 * @example
 * const proof = await proveClaim(deps, manager, keyClaimOf(previous.value, "AWSPREVIOUS of secret …")!);
 * if (proof.outcome === "proven") await deps.keys.revoke(manager, proof.key.id);
 */
export async function proveClaim(
  deps: Pick<RotationDeps, "keys">,
  manager: ManagerCredentials,
  claim: KeyClaim,
  lineage?: { secretArn: string; versionId: string },
): Promise<Proof> {
  const problem = claimProblem(manager, claim);
  if (problem) return { outcome: "refused", reason: problem };
  const bySecretKey = await proofBySecretKey(deps, manager, claim);
  if (bySecretKey) return bySecretKey;
  // The secret key does not authenticate (or there is none): only Novala's own record can settle the claim.
  const known = await deps.keys.get(manager, claim.keyId);
  if (!known) return { outcome: "gone", status: "unknown" };
  if (known.status === "revoked") return { outcome: "gone", status: "revoked" };
  if (lineage && hasRotationTag(known.name, lineage.secretArn, lineage.versionId)) {
    return { outcome: "proven", key: known, by: "lineage-tag" };
  }
  return { outcome: "refused", reason: unprovenReason(claim) };
}

/**
 * Proof that the retired version `holder` holds `claim`, before a revocation acts on it (revokes it, or postpones its
 * revocation). It reads Novala's record of the key once, with the manager's credentials (GET /api-keys/{id}), which does
 * not use the key and so leaves its lastUsedAt alone. A key the rotator minted for exactly the version that holds it
 * carries that version's lineage tag in its name: the record proves it, without another call. A key without that tag
 * (a secret's first, onboarded key) is proven as ever by its secret key (GET /api-keys/self): one more call, which
 * Novala counts as a use of the key (the caller records it as the rotator's own). Never a publishable key, never the
 * manager key. A proven key is answered with the record as read before any use of it.
 */
export async function proveRetiredKey(
  deps: Pick<RotationDeps, "keys">,
  manager: ManagerCredentials,
  claim: KeyClaim,
  holder: { secretArn: string; versionId: string },
): Promise<Proof> {
  const problem = claimProblem(manager, claim);
  if (problem) return { outcome: "refused", reason: problem };
  const record = await deps.keys.get(manager, claim.keyId);
  if (!record) return { outcome: "gone", status: "unknown" };
  if (record.id !== claim.keyId) {
    return { outcome: "refused", reason: `Novala answered key ${record.id} when asked for key ${claim.keyId}` };
  }
  if (record.status === "revoked") return { outcome: "gone", status: "revoked" };
  if (hasRotationTag(record.name, holder.secretArn, holder.versionId)) {
    return { outcome: "proven", key: record, by: "lineage-tag" };
  }
  const bySecretKey = await proofBySecretKey(deps, manager, claim);
  if (bySecretKey?.outcome === "proven") return { ...bySecretKey, key: record };
  return bySecretKey ?? { outcome: "refused", reason: unprovenReason(claim) };
}

/** Why `claim` may not be acted on whatever Novala says, or undefined. */
function claimProblem(manager: ManagerCredentials, claim: KeyClaim): string | undefined {
  if (!KEY_ID_PATTERN.test(claim.keyId)) return "the key id is malformed";
  if (manager.managed && claim.keyId === manager.keyId) return `key ${claim.keyId} is the manager key`;
  return undefined;
}

/**
 * The claim's secret key asked who it is (GET /api-keys/self, at the manager's origin): proven, gone, or refused when
 * it authenticates as another key; undefined when there is no secret key or it does not authenticate.
 */
async function proofBySecretKey(
  deps: Pick<RotationDeps, "keys">,
  manager: ManagerCredentials,
  claim: KeyClaim,
): Promise<Proof | undefined> {
  // Only a secret key proves possession: /api-keys/self also answers for the pair's publishable key, which is public.
  const secretKey = claim.secretKey && SECRET_KEY_PATTERN.test(claim.secretKey) ? claim.secretKey : undefined;
  if (!secretKey) return undefined;
  let key: NovalaKey;
  try {
    key = await deps.keys.self({ baseUrl: manager.baseUrl, bearer: secretKey });
  } catch (error) {
    if (isUnauthorized(error)) return undefined;
    throw error;
  }
  if (key.id !== claim.keyId) {
    return { outcome: "refused", reason: `its secret key authenticates as key ${key.id}, not ${claim.keyId}` };
  }
  return key.status === "active"
    ? { outcome: "proven", key, by: "secret-key" }
    : { outcome: "gone", status: "revoked" };
}

function unprovenReason(claim: KeyClaim): string {
  const secretKey = claim.secretKey && SECRET_KEY_PATTERN.test(claim.secretKey);
  return `${secretKey ? "its secret key does not authenticate" : "it holds no secret key"}, and Novala reports key ${claim.keyId} active`;
}

/** A refused claim: logged at error level and counted (the KeyClaimsRefused alarm watches the metric). */
export function reportRefusedClaim(
  deps: Pick<RotationDeps, "telemetry">,
  message: string,
  fields: Record<string, unknown>,
): void {
  deps.telemetry.error(message, fields);
  deps.telemetry.metric("KeyClaimsRefused");
}

/**
 * The key id and secret key a stored value claims, leniently (an old version need not pass today's validation to be
 * retired); undefined when it names no key id. The one reader of a claim: `keyClaimOf(value)?.keyId` is a value's key id.
 */
export function keyClaimOf(value: string | undefined, where = ""): KeyClaim | undefined {
  const fields = lenientFields(value);
  const keyId = fields?.keyId;
  if (typeof keyId !== "string" || keyId.length === 0) return undefined;
  const secretKey = typeof fields?.secretKey === "string" && fields.secretKey.length > 0 ? fields.secretKey : undefined;
  return { keyId, ...(secretKey && { secretKey }), where };
}
