/** The stranded-key rule: active keys of a secret's lineage that nothing will ever revoke. */
import { carriesRotationTag, hasRotationTag } from "./key-name.js";
import type { KeyApi, NovalaKey, SecretStore } from "./ports.js";
import { type KeyClaim, keyClaimOf, type ManagerCredentials, proveClaim } from "./possession.js";
import { readLastUse } from "./revocation-usage.js";

/** One version of a secret as read: its labels, and its value (undefined when it could not be read). */
export interface VersionRead {
  versionId: string;
  stages: string[];
  value?: string;
}

/** A secret as read for the rule: every version, labelled or not, with its value. */
export interface SecretRead {
  secretArn: string;
  secretName: string;
  versions: VersionRead[];
}

/** How a key is attributed to an unlabelled version of a secret read. */
export type Attribution =
  | { by: "lineage-tag"; secretArn: string; secretName: string; versionId: string }
  | { by: "value"; secretArn: string; secretName: string; versionId: string; claim: KeyClaim };

/** A key the rule may revoke, and the version it is attributed to. */
export interface StrandedCandidate {
  key: NovalaKey;
  attribution: Attribution;
}

/** Why an unheld, unscheduled key is not a candidate. */
export type LeftAloneReason =
  | { kind: "not-attributable" }
  | { kind: "rotation-in-flight"; secretName: string; versionId: string; stages: string[] }
  | { kind: "used-within-grace"; lastUsedAt: string };

/** What the rule found: the candidates, the keys left alone and why, and counts of what it looked at. */
export interface StrandedVerdict {
  /** Revocable: a lineage-tagged key as it is, a key named by a version's value once that version proves it. */
  candidates: StrandedCandidate[];
  leftAlone: { key: NovalaKey; reason: LeftAloneReason }[];
  /** Active keys looked at: carrying a rotation tag, or named by an unlabelled version. */
  considered: number;
  heldBySecrets: number;
  scheduledForRevocation: number;
  youngerThanMinAge: number;
}

/** What the rule reads: the secrets, the tenant's keys, which keys a schedule names, the clock and the bounds. */
export interface StrandedRuleInput {
  secrets: SecretRead[];
  /** The tenant's keys (Novala's list). */
  keys: NovalaKey[];
  /** Whether a revocation schedule names the key. */
  scheduled: (keyId: string) => boolean;
  now: number;
  /** Keys younger than this are left alone: a rotation in flight may be about to store one. */
  minAgeMs: number;
  /** Keys Novala saw used within this long are left alone: someone still relies on them. */
  graceMs: number;
}

/** Every version of a secret with its value: a labelled one read by its first label, an unlabelled one by its id. */
export async function readSecretVersions(
  store: Pick<SecretStore, "listVersions" | "getValue">,
  secretArn: string,
  secretName: string = secretArn,
): Promise<SecretRead> {
  const versions: VersionRead[] = [];
  for (const version of await store.listVersions(secretArn)) {
    const stage = version.stages[0];
    const stored = await store.getValue(
      secretArn,
      stage ? { stage, versionId: version.versionId } : { versionId: version.versionId },
    );
    versions.push({ ...version, ...(stored && { value: stored.value }) });
  }
  return { secretArn, secretName, versions };
}

/**
 * Finds the stranded keys: active keys of a secret's lineage that nothing will ever revoke (docs/design.md, "Stranded
 * keys"), held only by an unlabelled version with no revocation pending. Sorts the tenant's active keys into candidates
 * and keys left alone (with the reason). Pure over what the caller read (`reconcile` in the CLI, the fault suite):
 * reads nothing, proves nothing (a proof uses the key, which Novala counts as a use); revokeStrandedKey() proves and
 * revokes one candidate.
 *
 * @example
 * const secrets = [await readSecretVersions(store, secretArn)];
 * const verdict = classifyUnheldKeys({ secrets, keys, scheduled, now, minAgeMs, graceMs });
 * for (const candidate of verdict.candidates) await revokeStrandedKey(deps, manager, candidate);
 */
export function classifyUnheldKeys(input: StrandedRuleInput): StrandedVerdict {
  const held = new Set<string>();
  const named = new Map<string, Attribution>();
  for (const secret of input.secrets) {
    for (const version of secret.versions) {
      const where = `version ${version.versionId} of secret ${secret.secretName}`;
      const claim = keyClaimOf(version.value, where);
      if (!claim) continue;
      if (version.stages.length > 0) held.add(claim.keyId);
      else if (!named.has(claim.keyId)) {
        named.set(claim.keyId, {
          by: "value",
          secretArn: secret.secretArn,
          secretName: secret.secretName,
          versionId: version.versionId,
          claim,
        });
      }
    }
  }
  const verdict: StrandedVerdict = {
    candidates: [],
    leftAlone: [],
    considered: 0,
    heldBySecrets: 0,
    scheduledForRevocation: 0,
    youngerThanMinAge: 0,
  };
  for (const key of input.keys) {
    if (key.status !== "active" || (!carriesRotationTag(key.name) && !named.has(key.id))) continue;
    verdict.considered++;
    if (held.has(key.id)) {
      verdict.heldBySecrets++;
      continue;
    }
    if (input.scheduled(key.id)) {
      verdict.scheduledForRevocation++;
      continue;
    }
    const age = input.now - new Date(key.createdAt).getTime();
    if (Number.isFinite(age) && age < input.minAgeMs) {
      verdict.youngerThanMinAge++;
      continue;
    }
    const tagged = findTaggedVersion(key, input.secrets);
    if (tagged && tagged.version.stages.length > 0) {
      const { secret, version } = tagged;
      verdict.leftAlone.push({
        key,
        reason: {
          kind: "rotation-in-flight",
          secretName: secret.secretName,
          versionId: version.versionId,
          stages: version.stages,
        },
      });
      continue;
    }
    const attribution: Attribution | undefined = tagged
      ? {
          by: "lineage-tag",
          secretArn: tagged.secret.secretArn,
          secretName: tagged.secret.secretName,
          versionId: tagged.version.versionId,
        }
      : named.get(key.id);
    if (!attribution) {
      verdict.leftAlone.push({ key, reason: { kind: "not-attributable" } });
      continue;
    }
    // A lastUsedAt that is not a timestamp is a use at an unknown time: never read as "unused".
    const use = readLastUse(key.lastUsedAt);
    if (use.kind === "unknown" || (use.kind === "at" && use.ms > input.now - input.graceMs)) {
      verdict.leftAlone.push({ key, reason: { kind: "used-within-grace", lastUsedAt: use.text } });
      continue;
    }
    verdict.candidates.push({ key, attribution });
  }
  return verdict;
}

function findTaggedVersion(
  key: NovalaKey,
  secrets: SecretRead[],
): { secret: SecretRead; version: VersionRead } | undefined {
  if (!carriesRotationTag(key.name)) return undefined;
  for (const secret of secrets) {
    const version = secret.versions.find((candidate) =>
      hasRotationTag(key.name, secret.secretArn, candidate.versionId),
    );
    if (version) return { secret, version };
  }
  return undefined;
}

/** What revoking a candidate did. */
export type StrandedRevocation =
  | { outcome: "revoked" | "already-revoked" }
  | { outcome: "gone"; status: "revoked" | "unknown" }
  | { outcome: "refused"; reason: string };

/**
 * Revokes a candidate with the manager's credentials: a lineage-tagged key as it is (the rotator minted it for that
 * version), a key named by a version's value only once that version proves it holds the key (proveClaim: its secret
 * key authenticates as that id). Anything else is refused and left alone.
 */
export async function revokeStrandedKey(
  deps: { keys: KeyApi },
  manager: ManagerCredentials,
  candidate: StrandedCandidate,
): Promise<StrandedRevocation> {
  const { attribution, key } = candidate;
  if (manager.managed && key.id === manager.keyId) {
    return { outcome: "refused", reason: `key ${key.id} is the manager key` };
  }
  if (attribution.by === "value") {
    const proof = await proveClaim(deps, manager, attribution.claim);
    if (proof.outcome === "gone") return proof;
    if (proof.outcome === "refused") return proof;
  }
  return { outcome: await deps.keys.revoke(manager, key.id) };
}
