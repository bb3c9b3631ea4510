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
 * Where the rotation function records a secret's last rotation outcome and the rotation's marks, and how: tags on the
 * secret itself, written by the rotation function (TagResource, limited by the construct to exactly these keys; one
 * call writes a record's outcome and marks together) and read back for free with the DescribeSecret that every step's
 * guard makes (and that `novala-rotation status` makes). Tags need no extra resource and hold only ids, a step, a time
 * and a redacted reason: never key material. The construct (IAM), the rotation function's adapter and the CLI all take
 * the keys and the encoding from here.
 *
 * - `novala-rotation:last-outcome`: "<kind> <step> <ISO time> <token>", e.g. "failed createSecret 2026-11-27T17:00:00.000Z 3f9a…"
 * - `novala-rotation:last-reason`: why it rolled back, ended or failed ("" otherwise), at most 256 characters; for
 *   "ended" it closes with the fix.
 * - `novala-rotation:creating`: the token whose createSecret may have created a key (RotationMarks.creating).
 * - `novala-rotation:tested`: the token whose version passed testSecret's health check (RotationMarks.tested).
 */
export const OUTCOME_TAG = "novala-rotation:last-outcome";
export const REASON_TAG = "novala-rotation:last-reason";
export const CREATING_TAG = "novala-rotation:creating";
export const TESTED_TAG = "novala-rotation:tested";
/** The tag keys the rotation function may write (the construct limits TagResource to them). */
export const OUTCOME_TAG_KEYS = [OUTCOME_TAG, REASON_TAG, CREATING_TAG, TESTED_TAG] as const;

/**
 * The rotation's durable marks (docs/design.md, "The marks"). Each names a token (a version id), or is "" once the
 * rotation that set it finished; undefined when the secret has never carried the tag. They are claims like any tag:
 * whoever may tag the secret can write them (docs/security.md), so a mark only ever makes the rotator do more work or
 * refuse, never act on a key it would not otherwise prove.
 */
export interface RotationMarks {
  /**
   * Written by createSecret before its create (with its "in-progress" outcome, one TagResource): a create may have
   * been attempted for this token. A createSecret that finds its own token here looks for the keys an earlier attempt
   * left; one that finds another token not AWSCURRENT revokes what abandoned rotations left; one that finds none (or
   * "") creates without listing. Cleared by finishSecret and by a rollback; kept by an ended rotation and an abort.
   */
  creating?: string;
  /** Written by testSecret with its outcome once the version passed the health check; finishSecret promotes only it. */
  tested?: string;
}

/** What one TagResource writes: an outcome, marks, or both; a mark not given keeps its value. */
export interface RotationRecord {
  outcome?: RotationOutcome;
  marks?: RotationMarks;
}

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

/** The tags that write `record` (TagResource's Tags): the outcome's two, then each mark given. */
export function recordTags(record: RotationRecord): { Key: string; Value: string }[] {
  const marks = record.marks ?? {};
  return [
    ...(record.outcome ? outcomeTags(record.outcome) : []),
    ...(marks.creating !== undefined ? [{ Key: CREATING_TAG, Value: tagSafe(marks.creating) }] : []),
    ...(marks.tested !== undefined ? [{ Key: TESTED_TAG, Value: tagSafe(marks.tested) }] : []),
  ];
}

/** The marks the tags carry: each one's value, "" when cleared, undefined when the tag is absent. */
export function marksFromTags(tags: { Key?: string; Value?: string }[] | undefined): RotationMarks {
  const value = (key: string) => {
    const tag = tags?.find((candidate) => candidate.Key === key);
    return tag === undefined ? undefined : (tag.Value ?? "");
  };
  const creating = value(CREATING_TAG);
  const tested = value(TESTED_TAG);
  return { ...(creating !== undefined && { creating }), ...(tested !== undefined && { tested }) };
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
