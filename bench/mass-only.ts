/** `npx tsx bench/mass-only.ts`: only the mass rotation next to production (the last rows of `npm run bench`). */
import { benchMassRotation } from "./mass-rotation.js";

process.removeAllListeners("warning");
const { rows, notes } = await benchMassRotation();
for (const row of rows)
  console.log(`| ${row.figure} | ${row.target} | ${row.baseline} | ${row.measured} | ${row.pass ? "pass" : "MISS"} |`);
for (const note of notes) console.log(`- ${note}`);
