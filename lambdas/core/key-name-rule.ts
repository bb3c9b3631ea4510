/** What a key's name may hold: checked where a name comes in (a secret's value, Novala's introspection answer). */
import { rotationTagSuffix, untaggedName } from "./key-name.js";

/** The most characters Novala takes in a key name (docs/novala-key-api.md). */
export const NOVALA_MAX_NAME_LENGTH = 256;
/** A key's name without its lineage tag: room for the tag a replacement key's name gets (" · rot <24 hex>"). */
export const MAX_KEY_NAME_LENGTH = NOVALA_MAX_NAME_LENGTH - rotationTagSuffix("", "").length;

/**
 * Control characters (C0, DEL, C1) and the bidirectional overrides and isolates, which can make a terminal show other
 * text than the name holds (clear the screen, print a fake verdict, reorder what follows).
 */
const UNPRINTABLE = /[\p{Cc}\u200e\u200f\u202a-\u202e\u2066-\u2069]/u;

/**
 * Why `name` may not be a key's name, or undefined. A key pair's name comes from Novala (introspection) or from a
 * secret's value (a claim by whoever may write it), and reaches logs, events, the next key's name and the operator's
 * terminal: no control characters, and short enough that the replacement key's name (with its tag) fits Novala's limit.
 */
export function keyNameProblem(name: string): string | undefined {
  if (name.trim().length === 0) return "is empty";
  if (UNPRINTABLE.test(name)) return "holds control characters";
  const base = untaggedName(name);
  if (base.length > MAX_KEY_NAME_LENGTH) {
    return `is ${base.length} characters long: at most ${MAX_KEY_NAME_LENGTH} (Novala takes ${NOVALA_MAX_NAME_LENGTH}, the rotation tag needs the rest)`;
  }
  return undefined;
}
