import { spawnSync } from "node:child_process";
import { mkdirSync, readFileSync, rmSync } from "node:fs";
import { join, resolve } from "node:path";
import { gzipSync } from "node:zlib";
import { type BuildOptions, build, type Metafile, type Plugin } from "esbuild";
import { kb, progress, type Row } from "./support.js";

/**
 * Bundle size: the bundles `cdk synth` writes (found through the template's aws:asset:path metadata), raw and
 * gzipped, against a default bundle of the same entry (esbuild bundling everything, the AWS SDK and undici included,
 * as a NodejsFunction without externals would). Both live inside the repository so that the external `@aws-sdk/*`
 * imports of the synthesized bundles resolve to the installed SDK, as they resolve to the runtime's copy on Lambda.
 */
export const BENCH_OUT = resolve("test-output/bench");
const CDK_OUT = join(BENCH_OUT, "cdk.out");
const STACK = "NovalaKeyRotation";
const TARGET_BYTES = 250 * 1024;

export interface LambdaBundles {
  name: "rotation" | "revocation";
  /** The bundle cdk synth wrote. */
  synthesized: string;
  /** The default bundle (everything bundled). */
  baseline: string;
  /** The synthesized bundle's code with the two AWS SDK clients bundled too (an option, measured for comparison). */
  sdkBundled: string;
}

const ENTRIES = { rotation: "lambdas/rotation/index.ts", revocation: "lambdas/revocation/index.ts" } as const;
/**
 * The default bundle bundles the npm undici, as the code did before it took the runtime's copy: the runtime-undici
 * module is replaced by one that hands out the npm package's Agent (whose prototype carries the same request API).
 */
const NPM_UNDICI: Plugin = {
  name: "npm-undici",
  setup(pluginBuild) {
    pluginBuild.onResolve({ filter: /runtime-undici\.js$/ }, () => ({ path: "npm-undici", namespace: "bench" }));
    pluginBuild.onLoad({ filter: /^npm-undici$/, namespace: "bench" }, () => ({
      contents: 'import { Agent } from "undici"; export function runtimeAgentClass() { return Agent; }',
      resolveDir: resolve("."),
      loader: "js",
    }));
  },
};

const BANNER =
  "import { createRequire as __novalaCreateRequire } from 'node:module'; const require = __novalaCreateRequire(import.meta.url);";

export async function benchBundles(): Promise<{ rows: Row[]; bundles: LambdaBundles[]; notes: string[] }> {
  progress("cdk synth …");
  rmSync(CDK_OUT, { recursive: true, force: true });
  mkdirSync(BENCH_OUT, { recursive: true });
  const synth = spawnSync(
    "npx",
    // The app has no example context: it is given its (example) secrets here.
    ["cdk", "synth", "--quiet", "-o", CDK_OUT, "-c", "secrets=novala/acumatica-integration", "-c", "alertEmail=none"],
    { encoding: "utf8", timeout: 300_000 },
  );
  if (synth.status !== 0) throw new Error(`cdk synth failed:\n${synth.stdout}\n${synth.stderr}`);
  const template = JSON.parse(readFileSync(join(CDK_OUT, `${STACK}.template.json`), "utf8")) as {
    Resources: Record<string, { Type: string; Properties: { Handler?: string }; Metadata?: Record<string, string> }>;
  };
  const synthesized = new Map<string, string>();
  for (const [logicalId, resource] of Object.entries(template.Resources)) {
    if (resource.Type !== "AWS::Lambda::Function") continue;
    const assetPath = resource.Metadata?.["aws:asset:path"];
    if (!assetPath) continue;
    const name = /Revocation/i.test(logicalId) ? "revocation" : "rotation";
    synthesized.set(name, join(CDK_OUT, assetPath, "index.mjs"));
  }

  const rows: Row[] = [];
  const bundles: LambdaBundles[] = [];
  const notes: string[] = [];
  for (const name of ["rotation", "revocation"] as const) {
    const bundle = synthesized.get(name);
    if (!bundle) throw new Error(`no ${name} function with an asset in the synthesized template`);
    const baseline = join(BENCH_OUT, "default-bundle", name, "index.mjs");
    progress(`default bundle of ${name} …`);
    // Both baselines bundle everything, as a default NodejsFunction would; the first also takes npm's undici.
    const everything: BuildOptions = { ...lambdaBuild(name), banner: { js: BANNER } };
    await build({ ...everything, plugins: [NPM_UNDICI], outfile: baseline });
    const sdkBundled = join(BENCH_OUT, "sdk-bundled", name, "index.mjs");
    await build({ ...everything, outfile: sdkBundled });
    const ours = readFileSync(bundle);
    const theirs = readFileSync(baseline);
    const gz = (data: Buffer) => gzipSync(data, { level: 9 }).length;
    rows.push({
      figure: `bundle size, ${name} (raw / gzip)`,
      target: "≤ 250 KB raw",
      baseline: `${kb(theirs.length)} / ${kb(gz(theirs))}`,
      measured: `${kb(ours.length)} / ${kb(gz(ours))}`,
      pass: ours.length <= TARGET_BYTES,
    });
    bundles.push({ name, synthesized: bundle, baseline, sdkBundled });
    const before = await build({
      ...lambdaBuild(name),
      external: ["@aws-sdk/*"],
      plugins: [NPM_UNDICI],
      write: false,
      outfile: join(BENCH_OUT, "analysis", `${name}-npm-undici.mjs`),
    });
    const beforeBytes = before.outputFiles[0]?.contents.length ?? 0;
    notes.push(
      `${name}: ${await composition(name)}; with the SDK external but npm undici bundled (the construct's previous bundling) ${kb(beforeBytes)}; with the AWS SDK bundled too (runtime undici) ${kb(readFileSync(sdkBundled).length)}`,
    );
  }
  return { rows, bundles, notes };
}

/** The options every bench build of a Lambda shares: minified ESM for the Lambda runtime's Node, as the construct. */
function lambdaBuild(name: keyof typeof ENTRIES): BuildOptions {
  return {
    entryPoints: [ENTRIES[name]],
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node24",
    minify: true,
    mainFields: ["module", "main"],
    logLevel: "silent",
  };
}

/** What the synthesized bundle is made of (same options as the construct), by package, from esbuild's metafile. */
async function composition(name: keyof typeof ENTRIES): Promise<string> {
  const result = await build({
    ...lambdaBuild(name),
    external: ["@aws-sdk/*"],
    write: false,
    metafile: true,
    outfile: join(BENCH_OUT, "analysis", `${name}.mjs`),
  });
  const totals = new Map<string, number>();
  const output = Object.values((result.metafile as Metafile).outputs)[0];
  for (const [file, input] of Object.entries(output?.inputs ?? {})) {
    const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(file)?.[1];
    const group = pkg?.startsWith("@aws-lambda-powertools/") ? "powertools" : (pkg ?? "project code");
    totals.set(group, (totals.get(group) ?? 0) + input.bytesInOutput);
  }
  return [...totals.entries()]
    .sort((a, b) => b[1] - a[1])
    .map(([group, bytes]) => `${group} ${kb(bytes)}`)
    .join(", ");
}
