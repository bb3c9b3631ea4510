// After the test run: fails if any key a Novala model issued appears in anything the tests' processes wrote to
// stdout or stderr (handler logs, metrics, errors). test/support/capture-output.ts collects both sides.
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
  const leaks = [];
  let scannedBytes = 0;
  for (const file of files.filter((name) => name.startsWith("output-"))) {
    const text = readFileSync(join(dir, file), "utf8");
    scannedBytes += text.length;
    for (const key of keys) if (text.includes(key)) leaks.push(`${file}: a key ending …${key.slice(-4)}`);
  }
  console.log(
    `Leak scan: ${keys.size} issued keys searched for in ${scannedBytes} bytes of test output, ${leaks.length} found`,
  );
  for (const leak of leaks) console.error(`  LEAK ${leak}`);
  return leaks;
}
