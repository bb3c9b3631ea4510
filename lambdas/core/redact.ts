/** The last line of defence against key material in logs and messages: redaction of key-shaped text. */
const KEY_PATTERN = /(pk|sk)_(live|test)_[a-z0-9]+/gi;
/** The shortest run of a key's characters that counts as leaking it. */
export const MIN_LEAK_RUN = 8;
/** A key's public prefix: on its own it says nothing about which key. */
const PUBLIC_PREFIX = /^(?:pk|sk)_(?:live|test)_/i;

/**
 * A last line of defence: anything shaped like a Novala key is cut to its prefix and last four characters before it
 * reaches a log line or an error message. Code never logs keys on purpose; this catches what slips through, also when
 * a server echoes a key back in another case (`SK_LIVE_…`), percent-encoded (`sk%5Flive%5F…`, any character, once or
 * twice), as a JSON escape (`sk\u005flive…`) or glued to other word characters (`xxsk_live_…`): the text is matched
 * as a reader would decode it, and the span it came from is replaced.
 *
 * @example
 * redact("Bearer sk_live_4f9c2a7d1e8b"); // "Bearer sk_live_…1e8b"
 */
export function redact(text: string): string {
  // Most lines hold no escape at all: match them as they are.
  if (!/[%\\]/.test(text))
    return text.replace(KEY_PATTERN, (match, kind: string, mode: string) => masked(match, kind, mode));
  const decoded = decodeWithOffsets(text);
  const plain = decoded.map((entry) => entry.char).join("");
  let out = "";
  let copied = 0;
  for (const match of plain.matchAll(KEY_PATTERN)) {
    const first = decoded[match.index];
    const last = decoded[match.index + match[0].length - 1];
    if (!first || !last) continue;
    out += text.slice(copied, first.start) + masked(match[0], match[1] as string, match[2] as string);
    copied = last.end;
  }
  return out + text.slice(copied);
}

/** "sk_live_…abcd": four characters of a long key help an operator tell keys apart; of a fragment, none. */
function masked(key: string, kind: string, mode: string): string {
  const body = key.slice(kind.length + mode.length + 2);
  return `${kind.toLowerCase()}_${mode.toLowerCase()}_…${body.length >= MIN_LEAK_RUN ? body.slice(-4) : ""}`;
}

/**
 * Replaces every run of MIN_LEAK_RUN or more characters of any of `secrets` in `text` with `replacement`, in any case
 * and percent-encoded (once or twice), wherever it stands. For text from outside (a server's error message) that may
 * echo a credential we sent, whatever its shape. Runs that lie wholly inside a key's public prefix do not count.
 */
export function redactSecrets(text: string, secrets: readonly string[], replacement = "[redacted]"): string {
  // Every MIN_LEAK_RUN-character window of every secret (lower case), with where it starts in that secret.
  const windows = new Map<string, { secret: string; offset: number }>();
  for (const secret of secrets) {
    const lower = secret.toLowerCase();
    const prefix = PUBLIC_PREFIX.exec(secret)?.[0].length ?? 0;
    for (let offset = Math.max(0, prefix - MIN_LEAK_RUN + 1); offset + MIN_LEAK_RUN <= lower.length; offset++) {
      const window = lower.slice(offset, offset + MIN_LEAK_RUN);
      if (!windows.has(window)) windows.set(window, { secret: lower, offset });
    }
  }
  if (windows.size === 0) return text;

  const decoded = decodeWithOffsets(text);
  const chars = decoded.map((entry) => entry.char.toLowerCase());
  const masked = new Array<boolean>(text.length).fill(false);
  const mask = (from: number, to: number) => {
    const first = decoded[from];
    const last = decoded[to];
    if (first && last) masked.fill(true, first.start, last.end);
  };
  for (let at = 0; at + MIN_LEAK_RUN <= chars.length; at++) {
    const found = windows.get(chars.slice(at, at + MIN_LEAK_RUN).join(""));
    if (!found) continue;
    // Reach back over what precedes the run in the secret too (its public prefix), so no dangling "sk_live_" stays.
    let from = at;
    while (
      from > 0 &&
      found.offset - (at - from) > 0 &&
      chars[from - 1] === found.secret[found.offset - (at - from) - 1]
    ) {
      from--;
    }
    mask(from, at + MIN_LEAK_RUN - 1);
  }

  let out = "";
  for (let index = 0; index < text.length; index++) {
    if (!masked[index]) out += text[index];
    else if (index === 0 || !masked[index - 1]) out += replacement;
  }
  return out;
}

/** "…abcd": the last four characters, which logs and the CLI may show. */
export function lastFour(key: string): string {
  return `…${key.slice(-4)}`;
}

interface DecodedChar {
  char: string;
  /** The character's span in the original text. */
  start: number;
  end: number;
}

/**
 * The text as a reader would decode it, one UTF-16 unit per entry with the span it came from: percent escapes
 * (`%5F`, and `%255F` encoded twice) and JSON/JavaScript escapes (`\u005f`) become their character.
 */
function decodeWithOffsets(text: string): DecodedChar[] {
  const out: DecodedChar[] = [];
  for (let index = 0; index < text.length; ) {
    const escaped = ESCAPE.exec(text.slice(index, index + 6));
    const hex = escaped?.[1] ?? escaped?.[2] ?? escaped?.[3];
    if (escaped && hex !== undefined) {
      out.push({ char: String.fromCharCode(Number.parseInt(hex, 16)), start: index, end: index + escaped[0].length });
      index += escaped[0].length;
      continue;
    }
    out.push({ char: text[index] as string, start: index, end: index + 1 });
    index += 1;
  }
  return out;
}

const ESCAPE = /^(?:%25([0-9a-f]{2})|%([0-9a-f]{2})|\\u([0-9a-f]{4}))/i;
