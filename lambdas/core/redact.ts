/**
 * A last line of defence: anything shaped like a Novala key is cut to its prefix and last four characters before it
 * reaches a log line or an error message. Code never logs keys on purpose; this catches what slips through, also when
 * a server echoes a key back in another case (`SK_LIVE_…`), URL-encoded (`sk%5Flive%5F…`, once or twice), as a JSON
 * escape (`sk\u005flive…`) or glued to other word characters (`xxsk_live_…`).
 */
const SEPARATOR = String.raw`(?:_|%5f|%255f|\\u005f)`;
/** One character of a key's random part: alphanumeric, or any byte percent-encoded once or twice. */
const KEY_CHARACTER = "(?:[a-z0-9]|%[0-9a-f]{2}|%25[0-9a-f]{2})";
const KEY_PATTERN = new RegExp(`(pk|sk)${SEPARATOR}(live|test)${SEPARATOR}${KEY_CHARACTER}+`, "gi");
/** The shortest run of a key's characters that counts as leaking it. */
export const MIN_LEAK_RUN = 8;
/** A key's public prefix: on its own it says nothing about which key. */
const PUBLIC_PREFIX = /^(?:pk|sk)_(?:live|test)_/i;

export function redact(text: string): string {
  return text.replace(KEY_PATTERN, (match: string, kind: string, mode: string) => {
    const body = percentDecode(match).replace(/^(?:pk|sk)(?:_|\\u005f)(?:live|test)(?:_|\\u005f)/i, "");
    // Four characters of a long key help an operator tell keys apart; of a short fragment they would be most of it.
    const tail = body.length >= MIN_LEAK_RUN ? body.slice(-4) : "";
    return `${kind.toLowerCase()}_${mode.toLowerCase()}_…${tail}`;
  });
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

/** The text as characters after percent-decoding (`%5F`, `%255F`), each with the span it came from. */
function decodeWithOffsets(text: string): DecodedChar[] {
  const out: DecodedChar[] = [];
  for (let index = 0; index < text.length; ) {
    const twice = /^%25([0-9a-f]{2})/i.exec(text.slice(index, index + 5));
    const once = twice ? undefined : /^%([0-9a-f]{2})/i.exec(text.slice(index, index + 3));
    const hex = twice?.[1] ?? once?.[1];
    if (hex !== undefined) {
      const length = twice ? 5 : 3;
      out.push({ char: String.fromCharCode(Number.parseInt(hex, 16)), start: index, end: index + length });
      index += length;
      continue;
    }
    out.push({ char: text[index] as string, start: index, end: index + 1 });
    index += 1;
  }
  return out;
}

function percentDecode(text: string): string {
  return decodeWithOffsets(text)
    .map((entry) => entry.char)
    .join("");
}
