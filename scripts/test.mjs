// `npm test`: runs vitest (arguments pass through), then prints one plain closing line,
// "Tests: N passed, N failed, N skipped", that CI reads whether the run passed or not.
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync, rmSync } from "node:fs";

const report = "test-output/vitest.json";
rmSync(report, { force: true });
const run = spawnSync(
  "npx",
  ["vitest", "run", "--reporter=default", "--reporter=json", `--outputFile.json=${report}`, ...process.argv.slice(2)],
  { stdio: "inherit" },
);
if (existsSync(report)) {
  const result = JSON.parse(readFileSync(report, "utf8"));
  const skipped = result.numPendingTests + result.numTodoTests;
  console.log(`Tests: ${result.numPassedTests} passed, ${result.numFailedTests} failed, ${skipped} skipped`);
}
process.exit(run.status ?? 1);
