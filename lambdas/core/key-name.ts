/** The lineage tag in a replacement key's name, and the revocation schedule's name. */
import { createHash } from "node:crypto";

const TAG_SEPARATOR = " · rot ";
const TAG_HEX_DIGITS = 24;
const TAG_PATTERN = new RegExp(` · rot [0-9a-f]{${TAG_HEX_DIGITS}}$`);
/** Tags of releases before lineage binding (token only, 10 hex digits): stripped from names, never matched. */
const LEGACY_TAG_PATTERN = / · rot [0-9a-f]{10}$/;

/**
 * The tag a replacement key carries in its name: "Acumatica Integration · rot 3f9a…" (24 hex digits, 96 bits). It is
 * derived from the secret's ARN and the rotation token together, so a retried createSecret finds (and revokes) a key
 * that an earlier attempt created but never stored, and no token anyone chooses can match another secret's keys.
 *
 * The lineage tag of one rotation (one version) of one secret.
 */
export function rotationTag(secretArn: string, versionId: string): string {
  return createHash("sha256").update(`${secretArn}\n${versionId}`).digest("hex").slice(0, TAG_HEX_DIGITS);
}

/** The name of the replacement key: the base name (without an earlier rotation's tag) and this rotation's tag. */
export function replacementKeyName(baseName: string, secretArn: string, token: string): string {
  return `${untaggedName(baseName)}${TAG_SEPARATOR}${rotationTag(secretArn, token)}`;
}

/** `name` without a rotation tag (this release's or an earlier one's): the base name a secret keeps. */
export function untaggedName(name: string): string {
  return name.replace(TAG_PATTERN, "").replace(LEGACY_TAG_PATTERN, "");
}

/** Whether `name` carries the tag of version `versionId` of the secret `secretArn`. */
export function hasRotationTag(name: string, secretArn: string, versionId: string): boolean {
  return name.endsWith(rotationTagSuffix(secretArn, versionId));
}

/** The end of the name of every key minted for version `versionId` of `secretArn`: a list filter, never proof. */
export function rotationTagSuffix(secretArn: string, versionId: string): string {
  return `${TAG_SEPARATOR}${rotationTag(secretArn, versionId)}`;
}

/** Whether a key name carries any rotator tag. Says nothing about whose: never enough to revoke a key. */
export function carriesRotationTag(name: string): boolean {
  return TAG_PATTERN.test(name);
}

/**
 * The revocation schedule's name: one per secret and key, so a retried finishSecret finds it and never makes a
 * second (Scheduler names: 1-64 of [0-9a-zA-Z-_.]).
 */
export function revocationScheduleName(secretArn: string, keyId: string): string {
  const secretHash = createHash("sha256").update(secretArn).digest("hex").slice(0, 12);
  const safeKeyId = keyId.replace(/[^0-9a-zA-Z-_.]/g, "_").slice(0, 36);
  return `revoke-${secretHash}-${safeKeyId}`;
}

/**
 * The schedule of the `postponement`th postponement (1, 2, …) of the revocation schedule `name`: a new name each time,
 * since the schedule that fires the check may not be deleted yet when the next one is made. At most 64 characters:
 * `name` has at most 56 characters, and a postponement number at most 5 digits (lambdas/contract/revocation-request.ts).
 */
export function postponedScheduleName(name: string, postponement: number): string {
  return `${name}-p${postponement}`;
}

/** Whether the schedule `candidate` is the revocation schedule `name` or one of its postponements. */
export function isScheduleOrPostponement(candidate: string, name: string): boolean {
  if (candidate === name) return true;
  // Key ids have no "-", so "<name>-p<digits>" belongs to this key alone, never to a key whose id extends this one's.
  return candidate.startsWith(`${name}-p`) && /^\d+$/.test(candidate.slice(name.length + 2));
}

/** The prefix every revocation schedule of one secret shares (status and rollback list them by it). */
export function revocationSchedulePrefix(secretArn: string): string {
  return revocationScheduleName(secretArn, "").replace(/-$/, "");
}
