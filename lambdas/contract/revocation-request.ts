/** The revocation Lambda's event (the revocation schedule's Input): its schema, and its type by inference. */
import * as z from "zod/mini";
import { InvalidEventError } from "./errors.js";
import { KEY_ID_PATTERN } from "./key-shapes.js";

/** Secrets Manager's version ids (ClientRequestToken): 32 to 64 characters. */
const VERSION_ID_PATTERN = /^[A-Za-z0-9-]{32,64}$/;

const present = z.string().check(z.minLength(1));
/** A field kept for the logs only: a value that is not a string is dropped, never a reason to refuse the event. */
const forTheLogs = z.catch(z.optional(z.string()), undefined);

/**
 * The most postponements an event may claim. A revocation is checked at most once a minute for at most 30 days
 * (43,200 checks), and the next postponement's number must fit a schedule name (lambdas/core/key-name.ts).
 */
export const MAX_POSTPONEMENTS = 99_999;

/** An ISO 8601 UTC time as the rotator writes it (`Date.toISOString()`). */
const ISO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,3})?Z$/;
const isoTime = z.string().check(
  z.regex(ISO_TIME),
  z.refine((text) => Number.isFinite(Date.parse(text))),
);

/**
 * `{secretId, keyId, rotationToken?, versionId?, revokeAfter?, rotatorUsedAt?, postponements?, lastUsedAt?,
 * hardLimitAt?}`, as finishSecret or a postponement writes it into the schedule. Every field is a claim: the revocation
 * proves the key from the secret and Novala, and takes times that matter from Secrets Manager and its own clock.
 */
export const revocationRequestSchema = z.object({
  /** The secret's ARN. */
  secretId: present,
  /** The Novala key to revoke. */
  keyId: present.check(z.regex(KEY_ID_PATTERN)),
  /** The rotation that retired the key, for the logs. */
  rotationToken: forTheLogs,
  /** The version that held the key when it was retired: where the revocation looks first for the proof. */
  versionId: z.optional(z.string().check(z.regex(VERSION_ID_PATTERN))),
  /** When the schedule was meant to fire (ISO 8601, UTC), for the logs. */
  revokeAfter: forTheLogs,
  /**
   * When the rotator itself last called Novala with this key's credentials (its proof of possession): Novala's
   * lastUsedAt up to this time (plus a clock-skew allowance) is the rotator's use, not a consumer's. Clamped to now.
   */
  rotatorUsedAt: z.optional(isoTime),
  /** How many times this key's revocation has been postponed so far (it names the next postponement's schedule). */
  postponements: z.optional(z.int().check(z.minimum(0), z.maximum(MAX_POSTPONEMENTS))),
  /** The last use that postponed it, and the hard limit then computed: for `status`, never trusted. */
  lastUsedAt: forTheLogs,
  hardLimitAt: forTheLogs,
});

/** The revocation Lambda's event, as checked: every field a claim. */
export type RevocationRequest = z.infer<typeof revocationRequestSchema>;

/**
 * Validates the revocation schedule's Input (an object, or its JSON text); the error names the first field that is
 * wrong and never echoes a value.
 */
export function parseRevocationRequest(event: unknown): RevocationRequest {
  const input = typeof event === "string" ? safeJson(event) : event;
  if (typeof input !== "object" || input === null || Array.isArray(input)) {
    throw new InvalidEventError("revocation event must be a JSON object with secretId and keyId");
  }
  const result = revocationRequestSchema.safeParse(input);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const field = String(issue?.path[0] ?? "");
  if (field === "versionId") {
    throw new InvalidEventError('revocation event field "versionId" is not a Secrets Manager version id');
  }
  if (field === "rotatorUsedAt") {
    throw new InvalidEventError('revocation event field "rotatorUsedAt" is not an ISO 8601 UTC time');
  }
  if (field === "postponements") {
    throw new InvalidEventError(
      `revocation event field "postponements" is not a whole number from 0 to ${MAX_POSTPONEMENTS}`,
    );
  }
  if (field === "keyId" && issue?.code === "invalid_format") {
    throw new InvalidEventError('revocation event field "keyId" is not a Novala key id ("key_" and letters or digits)');
  }
  throw new InvalidEventError(`revocation event field "${field}" is missing or not a string`);
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
