import { rmSync } from "node:fs";

/**
 * vitest globalSetup: empties the capture folder (test/support/capture-output.ts) before a run. The scan itself runs
 * after vitest, in scripts/leak-scan.mjs, because an error thrown in a global teardown does not fail vitest's exit code.
 */
export function setup(): void {
  rmSync(process.env.LEAK_SCAN_DIR ?? "test-output/leak-scan/default", { recursive: true, force: true });
}
