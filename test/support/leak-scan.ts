import { appendFileSync, mkdirSync, rmSync } from "node:fs";

/** The folder the leak scan reads: each `npm test` run sets its own (scripts/test.mjs); a bare vitest run uses the default. */
export const LEAK_SCAN_DIR = process.env.LEAK_SCAN_DIR ?? "test-output/leak-scan/default";

/**
 * vitest globalSetup: empties the capture folder (test/support/capture-output.ts) before a run. The scan itself runs
 * after vitest, in scripts/leak-scan.mjs, because an error thrown in a global teardown does not fail vitest's exit code.
 */
export function setup(): void {
  rmSync(LEAK_SCAN_DIR, { recursive: true, force: true });
}

/**
 * Appends to `file` of the capture folder ("output-…" files hold what the tests printed, "keys-…" the keys the Novala
 * models issued), re-creating the folder if something removed it. Capture must never break the code under test:
 * losing a capture line is better than failing the test that wrote it, and the scan reports what it read.
 */
export function appendToLeakScan(file: string, data: string | Buffer): void {
  const path = `${LEAK_SCAN_DIR}/${file}`;
  try {
    appendFileSync(path, data);
  } catch {
    try {
      mkdirSync(LEAK_SCAN_DIR, { recursive: true });
      appendFileSync(path, data);
    } catch {
      // see above
    }
  }
}
