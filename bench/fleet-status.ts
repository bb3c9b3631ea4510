/**
 * `npx tsx bench/fleet-status.ts [--secrets N] [--concurrency C] [--check-timeout D] [--no-check]`: the fleet view over
 * N healthy secrets (default 200) plus one secret per verdict state moto can reach (test/support/fleet.ts), in
 * moto_server and the Novala simulator. Prints the command it runs, its table and summary, its wall time and its exit
 * code. One tenant never answers: about one --check-timeout (default here 5s) of the wall time is waiting for it.
 *
 * moto's clock cannot be set, so this script runs moto_server under a wrapper whose clock reads a file: it moves moto's
 * clock 40 days back while one secret is rotated, which makes that secret's rotation overdue by its schedule. The
 * command line itself runs on the real clock.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { startNovalaSimulator } from "../local/novala-simulator.js";
import { seedFleet } from "../test/support/fleet.js";
import { schedulerClientFor, secretsManagerClientFor } from "../test/support/moto.js";
import { runCli } from "../test/support/run-cli.js";

// The SDK warns about Node 20 on stderr when a client is made; the figures need none of it.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = "true";
const args = process.argv.slice(2);
const flag = (name: string, fallback: string) => {
  const at = args.indexOf(name);
  return at >= 0 ? (args[at + 1] ?? fallback) : fallback;
};
const healthy = Number(flag("--secrets", "200"));
const concurrency = flag("--concurrency", "10");
const check = !args.includes("--no-check");
const checkTimeout = flag("--check-timeout", "5s");

/** moto_server with time.time() moved back by the seconds written in `clockFile` (0 or empty: the real time). */
const MOTO_WITH_CLOCK = `
import sys, time
_real = time.time
def _shifted():
    try:
        with open(sys.argv[1]) as f:
            return _real() - float(f.read() or 0)
    except (OSError, ValueError):
        return _real()
time.time = _shifted
from moto.server import main
main(["-p", sys.argv[2], "-H", "127.0.0.1"])
`;

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

async function startShiftedMoto(clockFile: string): Promise<{ endpoint: string; child: ChildProcess }> {
  const port = await freePort();
  const child = spawn("python3", ["-c", MOTO_WITH_CLOCK, clockFile, String(port)], { stdio: "ignore" });
  const endpoint = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      if ((await fetch(`${endpoint}/moto-api/reset`, { method: "POST" })).ok) return { endpoint, child };
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error("moto_server did not start within 30 s");
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

const work = mkdtempSync(join(tmpdir(), "fleet-status-"));
const clockFile = join(work, "moto-clock-offset");
writeFileSync(clockFile, "0");
const moto = await startShiftedMoto(clockFile);
const novala = await startNovalaSimulator();
const hangingNovala = await startNovalaSimulator();
const secrets = secretsManagerClientFor(moto.endpoint);
const scheduler = schedulerClientFor(moto.endpoint);
try {
  const seeding = performance.now();
  const expected = await seedFleet(
    { motoEndpoint: moto.endpoint, secrets, scheduler, novala, hangingNovala },
    {
      prefix: "bench/fleet/",
      healthy,
      shiftClock: async (ms) => writeFileSync(clockFile, String(ms / 1000)),
    },
  );
  console.log(`seeded ${expected.size} secrets in ${((performance.now() - seeding) / 1000).toFixed(1)} s`);
  const command = [
    "status",
    "--prefix",
    "bench/fleet/",
    "--concurrency",
    concurrency,
    ...(check ? ["--check", "--check-timeout", checkTimeout] : []),
  ];
  console.log(`$ novala-rotation ${command.join(" ")} --endpoint-url ${moto.endpoint}\n`);
  const started = performance.now();
  const run = await runCli(command, { endpoint: moto.endpoint });
  const wallMs = performance.now() - started;
  const lines = run.stdout.trimEnd().split("\n");
  // The table's worst rows and its end: the healthy rows all look alike.
  const shown =
    lines.length > 60 ? [...lines.slice(0, 40), `  … ${lines.length - 50} more lines …`, ...lines.slice(-10)] : lines;
  console.log(shown.join("\n"));
  if (run.stderr.trim()) console.log(`\nstderr:\n${run.stderr.trimEnd()}`);
  console.log(`\nwall time ${(wallMs / 1000).toFixed(1)} s, exit code ${run.code}`);
  const json = await runCli([...command, "--json"], { endpoint: moto.endpoint });
  const report = JSON.parse(json.stdout) as { secrets: { secret: string; verdict: { state: string } }[] };
  const wrong = report.secrets.filter((entry) => expected.get(entry.secret) !== entry.verdict.state);
  console.log(
    `--json: ${report.secrets.length} entries, exit code ${json.code}; ` +
      (wrong.length === 0
        ? "every secret in the state its seed expects"
        : `unexpected: ${wrong.map((entry) => `${entry.secret} ${entry.verdict.state}`).join(", ")}`),
  );
} finally {
  secrets.destroy();
  scheduler.destroy();
  await novala.stop();
  await hangingNovala.stop();
  moto.child.kill();
  rmSync(work, { recursive: true, force: true });
}
