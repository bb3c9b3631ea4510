/**
 * `npm run bench`: bundle size and cold start on Node 24 (figures, next to the CDK default bundle's), rotation overhead,
 * health check under propagation delay, the revocation that waits for consumers (on a simulated clock) and fleet
 * rotation (next to their targets), each with a baseline measured in
 * the same run. Prints figures; exits 0 whatever they are (only a crash exits non-zero). BENCH_QUICK=1: fewer runs
 * and smaller fleets. Network: loopback only.
 */
import { cpus, totalmem } from "node:os";
import { benchBundles } from "./bundles.js";
import { benchColdStart } from "./cold-start.js";
import { benchHistory } from "./history.js";
import { benchMassRotation } from "./mass-rotation.js";
import { benchFleet, benchHealthCheck, benchOverhead } from "./rotation.js";
import { benchSecretsManagerCalls } from "./secrets-manager-calls.js";
import { progress, QUICK, type Row } from "./support.js";
import { benchUsageRevocation } from "./usage.js";

// The AWS SDK warns about Node 20 on every client; the benchmark's output is the table.
process.removeAllListeners("warning");

const started = Date.now();
const rows: Row[] = [];
const notes: string[] = [];

const bundles = await benchBundles();
rows.push(...bundles.rows);
notes.push(
  "Bundle composition (shipped bundles, minified bytes by package, 1 KB and up):",
  ...bundles.notes.map((n) => `- ${n}`),
);

const cold = benchColdStart(bundles.bundles);
rows.push(...cold.rows);
notes.push("", "Cold start detail (medians, Node 24):", ...cold.notes.map((n) => `- ${n}`));

const overhead = await benchOverhead();
rows.push(...overhead.rows);
notes.push("", "Rotation overhead:", ...overhead.notes.map((n) => `- ${n}`));

const health = await benchHealthCheck();
rows.push(...health.rows);

rows.push(...(await benchHistory()).rows);
rows.push(...(await benchSecretsManagerCalls()).rows);

const usage = await benchUsageRevocation();
rows.push(...usage.rows);
notes.push("", "Revocation that waits for consumers (simulated clock):", ...usage.notes.map((n) => `- ${n}`));

const fleet = await benchFleet();
rows.push(...fleet.rows);
notes.push("", "Fleet rotation, growth with N:", "", ...fleet.notes);

const mass = await benchMassRotation();
rows.push(...mass.rows);
notes.push("", "Mass rotation next to production:", ...mass.notes.map((n) => `- ${n}`));

const headers = ["figure", "target", "baseline (same run)", "measured", "result"];
const cells = rows.map((row) => [
  row.figure,
  row.target,
  row.baseline,
  row.measured,
  row.pass === undefined ? "—" : row.pass ? "pass" : "MISS",
]);
const widths = headers.map((header, column) =>
  Math.max(header.length, ...cells.map((cell) => cell[column]?.length ?? 0)),
);
const line = (values: string[]) =>
  `| ${values.map((value, column) => value.padEnd(widths[column] ?? 0)).join(" | ")} |`;

const cpu = cpus()[0]?.model ?? "unknown CPU";
console.log(
  `Novala key rotation benchmarks${QUICK ? " (BENCH_QUICK=1)" : ""} — ${cpus().length} CPUs (${cpu.trim()}), ` +
    `${(totalmem() / 2 ** 30).toFixed(1)} GiB, Node ${process.version} (undici ${process.versions.undici}), ${process.platform}/${process.arch}`,
);
console.log("");
console.log(line(headers));
console.log(line(widths.map((width) => "-".repeat(width))));
for (const cell of cells) console.log(line(cell));
console.log("");
for (const note of notes) console.log(note);
console.log("");
console.log(`Whole run: ${((Date.now() - started) / 1000).toFixed(0)} s.`);
progress("done");
