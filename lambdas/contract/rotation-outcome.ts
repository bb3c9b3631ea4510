/** The rotation outcome tags on a secret: written by the rotation function, read by `novala-rotation status`. */

/** How the last rotation step of a secret ended, as the rotation function records it (ids and a reason, no keys). */
export interface RotationOutcome {
  /**
   * in-progress: a step before finishSecret succeeded; succeeded: finishSecret did; rolled-back: testSecret found the
   * new key unhealthy; ended: createSecret met a failure a retry cannot fix and ended the rotation (AWSPENDING
   * removed); failed: anything else threw (AWSPENDING stays for the retry).
   */
  kind: "in-progress" | "succeeded" | "rolled-back" | "ended" | "failed";
  step: string;
  /** The rotation token (the version id). */
  token: string;
  at: Date;
  /** Why it rolled back, ended or failed: the error's name and its redacted message, short (ended: and the fix). */
  reason?: string;
}

/**
 * Where the rotation function records a secret's last rotation outcome, and how: two tags on the secret itself, written
 * by the rotation function (TagResource, limited by the construct to exactly these keys) and read by `novala-rotation
 * status` from DescribeSecret. Tags need no extra resource, are read with the one call status makes anyway, and hold
 * only ids, a step, a time and a redacted reason: never key material. The construct (IAM), the rotation function's
 * adapter and the CLI all take the keys and the encoding from here.
 *
 * - `novala-rotation:last-outcome`: "<kind> <step> <ISO time> <token>", e.g. "failed createSecret 2026-11-27T17:00:00.000Z 3f9a…"
 * - `novala-rotation:last-reason`: why it rolled back, ended or failed ("" otherwise), at most 256 characters; for
 *   "ended" it closes with the fix.
 */
export const OUTCOME_TAG = "novala-rotation:last-outcome";
export const REASON_TAG = "novala-rotation:last-reason";
/** The tag keys the rotation function may write (the construct limits TagResource to them). */
export const OUTCOME_TAG_KEYS = [OUTCOME_TAG, REASON_TAG] as const;

/** A tag value's limit in Secrets Manager. */
const MAX_TAG_VALUE = 256;
const KINDS: readonly RotationOutcome["kind"][] = ["in-progress", "succeeded", "rolled-back", "ended", "failed"];

/**
 * Keeps the characters AWS allows in tag values across services (letters, digits, spaces and `_ . : / = + - @`);
 * anything else becomes a space, and the result is cut to the limit.
 */
export function tagSafe(text: string): string {
  const safe = text
    .replace(/[^\p{L}\p{N} _.:/=+\-@]/gu, " ")
    .replace(/\s+/g, " ")
    .trim();
  return safe.length > MAX_TAG_VALUE ? `${safe.slice(0, MAX_TAG_VALUE - 3)}...` : safe;
}

/** The two tags that record `outcome` (TagResource's Tags). */
export function outcomeTags(outcome: RotationOutcome): { Key: string; Value: string }[] {
  return [
    {
      Key: OUTCOME_TAG,
      Value: tagSafe(`${outcome.kind} ${outcome.step} ${outcome.at.toISOString()} ${outcome.token}`),
    },
    { Key: REASON_TAG, Value: tagSafe(outcome.reason ?? "") },
  ];
}

/** The outcome the tags describe, or undefined when there is none or it is not in this shape. */
export function outcomeFromTags(tags: { Key?: string; Value?: string }[] | undefined): RotationOutcome | undefined {
  const value = (key: string) => tags?.find((tag) => tag.Key === key)?.Value;
  const match = value(OUTCOME_TAG)?.match(/^(\S+) (\S+) (\S+) (\S+)$/);
  if (!match) return undefined;
  const [, kind, step, at, token] = match as unknown as [string, RotationOutcome["kind"], string, string, string];
  const time = new Date(at);
  if (!KINDS.includes(kind) || Number.isNaN(time.getTime())) return undefined;
  const reason = value(REASON_TAG);
  return { kind, step, token, at: time, ...(reason && { reason }) };
}
