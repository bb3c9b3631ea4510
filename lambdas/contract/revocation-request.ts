/** The revocation Lambda's event (the revocation schedule's Input): its schema, and its type by inference. */
import * as z from "zod/mini";
import { RotationStateError } from "../core/errors.js";
import { KEY_ID_PATTERN } from "../core/secret-value.js";

/** Secrets Manager's version ids (ClientRequestToken): 32 to 64 characters. */
const VERSION_ID_PATTERN = /^[A-Za-z0-9-]{32,64}$/;

const present = z.string().check(z.minLength(1));
/** A field kept for the logs only: a value that is not a string is dropped, never a reason to refuse the event. */
const forTheLogs = z.catch(z.optional(z.string()), undefined);

/** `{secretId, keyId, rotationToken?, versionId?, revokeAfter?}`, as finishSecret writes it into the schedule. */
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
});

export type RevocationRequest = z.infer<typeof revocationRequestSchema>;

/**
 * Validates the revocation schedule's Input (an object, or its JSON text); the error names the first field that is
 * wrong and never echoes a value.
 */
export function parseRevocationRequest(event: unknown): RevocationRequest {
  const input = typeof event === "string" ? safeJson(event) : event;
  if (typeof input !== "object" || input === null || Array.isArray(input)) {
    throw new RotationStateError("revocation event must be a JSON object with secretId and keyId");
  }
  const result = revocationRequestSchema.safeParse(input);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const field = String(issue?.path[0] ?? "");
  if (field === "versionId") {
    throw new RotationStateError('revocation event field "versionId" is not a Secrets Manager version id');
  }
  if (field === "keyId" && issue?.code === "invalid_format") {
    throw new RotationStateError(
      'revocation event field "keyId" is not a Novala key id ("key_" and letters or digits)',
    );
  }
  throw new RotationStateError(`revocation event field "${field}" is missing or not a string`);
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
