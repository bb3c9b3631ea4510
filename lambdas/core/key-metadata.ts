/**
 * The lenient reading of a stored value: an old version need not pass today's validation to be retired, revoked or
 * shown. keyClaimOf (possession.ts) reads the claim to act on from it, keyMetadata what may be shown.
 */

/** A stored value's JSON object, or undefined when it is not one. Never throws, never echoes the value. */
export function lenientRecord(value: string | undefined): Record<string, unknown> | undefined {
  if (value === undefined) return undefined;
  try {
    const parsed: unknown = JSON.parse(value);
    return typeof parsed === "object" && parsed !== null && !Array.isArray(parsed)
      ? (parsed as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}

/** A field of a lenient record that is a non-empty string. */
export function textField(record: Record<string, unknown> | undefined, field: string): string | undefined {
  const value = record?.[field];
  return typeof value === "string" && value.length > 0 ? value : undefined;
}

/** The metadata of a stored value that may be shown: never publishableKey or secretKey. */
export interface KeyMetadata {
  keyId?: string;
  name?: string;
  scopes?: string[];
  createdAt?: string;
  baseUrl?: string;
  managerSecretId?: string;
}

/** The showable fields of a stored value, each only when it has the right type. */
export function keyMetadata(value: string | undefined): KeyMetadata {
  const record = lenientRecord(value);
  if (!record) return {};
  const meta: KeyMetadata = {};
  for (const field of ["keyId", "name", "createdAt", "baseUrl", "managerSecretId"] as const) {
    const text = textField(record, field);
    if (text !== undefined) meta[field] = text;
  }
  if (Array.isArray(record.scopes)) meta.scopes = record.scopes.filter((s): s is string => typeof s === "string");
  return meta;
}
