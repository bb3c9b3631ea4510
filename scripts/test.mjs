// `npm test`: runs vitest (arguments pass through), scans all the tests wrote (printed or captured) for key material,
// then prints one plain closing line, "Tests: N passed, N failed, N skipped", that CI reads whether the run passed or not.
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync, rmSync } from "node:fs";
import { scanForLeaks } from "./leak-scan.mjs";

// Each run captures into its own folder, so concurrent runs cannot clear each other's capture.
const leakScanDir = `test-output/leak-scan/run-${process.pid}`;
const report = "test-output/vitest.json";
rmSync(report, { force: true });
const run = spawnSync(
  "npx",
  ["vitest", "run", "--reporter=default", "--reporter=json", `--outputFile.json=${report}`, ...process.argv.slice(2)],
  { stdio: "inherit", env: { ...process.env, LEAK_SCAN_DIR: leakScanDir } },
);
const leaks = scanForLeaks(leakScanDir);
rmSync(leakScanDir, { recursive: true, force: true });
if (existsSync(report)) {
  const result = JSON.parse(readFileSync(report, "utf8"));
  const skipped = result.numPendingTests + result.numTodoTests;
  console.log(`Tests: ${result.numPassedTests} passed, ${result.numFailedTests} failed, ${skipped} skipped`);
}
process.exit(leaks.length > 0 ? 1 : (run.status ?? 1));
