/** `npx tsx bench/usage-only.ts`: only the revocation that waits for consumers (rows of `npm run bench`). */
import { benchUsageRevocation } from "./usage.js";

process.removeAllListeners("warning");
const { rows, notes } = await benchUsageRevocation();
for (const row of rows)
  console.log(`| ${row.figure} | ${row.target} | ${row.baseline} | ${row.measured} | ${row.pass ? "pass" : "MISS"} |`);
for (const note of notes) console.log(`- ${note}`);
