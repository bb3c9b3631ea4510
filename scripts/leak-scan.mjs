// After the test run: fails if any key a Novala model issued appears in anything the tests' processes wrote to
// stdout or stderr (handler logs, metrics, errors), what their child processes printed, or what they logged through
// the console. test/support/capture-output.ts and vitest.config.ts collect all of it, printed or not.
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

/** Resolves the leaks found in `dir` (empty when clean) and prints a summary line. */
export function scanForLeaks(dir) {
  if (!existsSync(dir)) {
    // No capture at all means the scan cannot vouch for anything: that is a failure, not a pass.
    console.error(`Leak scan: no captured output in ${dir}`);
    return ["no captured output"];
  }
  const files = readdirSync(dir);
  const keys = new Set();
  for (const file of files.filter((name) => name.startsWith("keys-"))) {
    for (const key of readFileSync(join(dir, file), "utf8").split("\n")) if (key) keys.add(key);
  }
  const find = keyFinder(keys);
  const leaks = [];
  let scannedBytes = 0;
  for (const file of files.filter((name) => name.startsWith("output-"))) {
    const text = readFileSync(join(dir, file), "utf8");
    scannedBytes += text.length;
    for (const key of find(text)) leaks.push(`${file}: a key ending …${key.slice(-4)}`);
  }
  console.log(
    `Leak scan: ${keys.size} issued keys searched for in ${scannedBytes} bytes of test output, ${leaks.length} found`,
  );
  for (const leak of leaks) console.error(`  LEAK ${leak}`);
  return leaks;
}

/**
 * Which of `keys` a text contains, in one pass per key prefix rather than one per key: a hundred thousand keys and
 * megabytes of captured output stay a matter of seconds. Every key starts with its 3-character prefix ("sk_", "pk_"),
 * so each place a prefix occurs is checked against the set for each key length; the answer is the same as
 * `text.includes(key)` for every key.
 */
function keyFinder(keys) {
  const lengthsByPrefix = new Map();
  const short = [];
  for (const key of keys) {
    if (key.length < 3) {
      short.push(key);
      continue;
    }
    const prefix = key.slice(0, 3);
    if (!lengthsByPrefix.has(prefix)) lengthsByPrefix.set(prefix, new Set());
    lengthsByPrefix.get(prefix).add(key.length);
  }
  return (text) => {
    const found = new Set(short.filter((key) => text.includes(key)));
    for (const [prefix, lengths] of lengthsByPrefix) {
      for (let at = text.indexOf(prefix); at !== -1; at = text.indexOf(prefix, at + 1)) {
        for (const length of lengths) {
          const candidate = text.slice(at, at + length);
          if (keys.has(candidate)) found.add(candidate);
        }
      }
    }
    return found;
  };
}
