/**
 * A last line of defence: anything shaped like a Novala key is cut to its prefix and last four characters before it
 * reaches a log line or an error message. Code never logs keys on purpose; this catches what slips through.
 */
const KEY_PATTERN = /\b(pk|sk)_(live|test)_[A-Za-z0-9]+/g;

export function redact(text: string): string {
  return text.replace(KEY_PATTERN, (key, kind: string, mode: string) => `${kind}_${mode}_…${key.slice(-4)}`);
}

/** "…abcd": the last four characters, which logs and the CLI may show. */
export function lastFour(key: string): string {
  return `…${key.slice(-4)}`;
}
