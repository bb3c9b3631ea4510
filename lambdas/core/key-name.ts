import { createHash } from "node:crypto";

/**
 * The tag a replacement key carries in its name, derived from the rotation token, so that a retried createSecret can
 * find (and revoke) a key that an earlier attempt created but never stored: "Acumatica Integration · rot a1b2c3d4e5".
 */
const TAG_SEPARATOR = " · rot ";
const TAG_PATTERN = / · rot [0-9a-f]{10}$/;

export function rotationTag(token: string): string {
  return createHash("sha256").update(token).digest("hex").slice(0, 10);
}

/** The name of the replacement key: the base name (without an earlier rotation's tag) and this token's tag. */
export function replacementKeyName(baseName: string, token: string): string {
  return `${untaggedName(baseName)}${TAG_SEPARATOR}${rotationTag(token)}`;
}

export function untaggedName(name: string): string {
  return name.replace(TAG_PATTERN, "");
}

export function hasRotationTag(name: string, token: string): boolean {
  return name.endsWith(`${TAG_SEPARATOR}${rotationTag(token)}`);
}

/** Whether a key name carries any rotator tag (the reconcile command looks for these). */
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

/** The prefix every revocation schedule of one secret shares (status and rollback list them by it). */
export function revocationSchedulePrefix(secretArn: string): string {
  return revocationScheduleName(secretArn, "").replace(/-$/, "");
}
