/**
 * `npx tsx bench/cost-only.ts`: only the per-rotation costs of issue 20 (rows of `npm run bench`; about a second): Novala
 * calls and key-list pages of a clean rotation in a 10,000-key tenant with the filter honoured and ignored, and
 * Secrets Manager calls per rotation with the records and marks.
 */
import { benchHistory } from "./history.js";
import { benchSecretsManagerCalls } from "./secrets-manager-calls.js";

process.removeAllListeners("warning");
const rows = [...(await benchHistory()).rows, ...(await benchSecretsManagerCalls()).rows];
for (const row of rows)
  console.log(`| ${row.figure} | ${row.target} | ${row.baseline} | ${row.measured} | ${row.pass ? "pass" : "MISS"} |`);
