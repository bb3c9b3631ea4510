import { mkdirSync, readFileSync, rmSync } from "node:fs";
import { join, resolve } from "node:path";
import { gzipSync } from "node:zlib";
import { type BuildOptions, build, type Metafile } from "esbuild";
import {
  buildLambdaAssets,
  LAMBDA_ENTRIES,
  type LambdaName,
  lambdaBuildOptions,
  packageDirOf,
} from "../scripts/lambda-bundles.js";
import { kb, progress, type Row } from "./support.js";

/**
 * Bundle size, as a figure (not a target: a function that runs once a month does not care): the bundles the package
 * ships (scripts/lambda-bundles.ts, undici and the AWS SDK inside), raw and gzipped, next to what a CDK
 * `NodejsFunction` with its default bundling makes of the same entry: CommonJS, not minified, no source map, and
 * `@aws-sdk/*` left to the runtime's copy. Both live inside the repository, so that the default bundle's external
 * `@aws-sdk/*` imports resolve to the installed SDK, as they resolve to the runtime's copy on Lambda.
 */
export const BENCH_OUT = resolve("test-output/bench");

export interface LambdaBundles {
  name: LambdaName;
  /** The bundle the package ships (an ES module). */
  shipped: string;
  /** The CDK default bundle (CommonJS). */
  cdkDefault: string;
}

/** NodejsFunction's bundling when nothing is set, for a nodejs24.x function (aws-cdk-lib/aws-lambda-nodejs). */
function cdkDefaultBuild(name: LambdaName): BuildOptions {
  return {
    entryPoints: [LAMBDA_ENTRIES[name]],
    bundle: true,
    platform: "node",
    format: "cjs",
    target: "node24",
    minify: false,
    sourcemap: false,
    external: ["@aws-sdk/*"],
    logLevel: "silent",
  };
}

export async function benchBundles(): Promise<{ rows: Row[]; bundles: LambdaBundles[]; notes: string[] }> {
  rmSync(BENCH_OUT, { recursive: true, force: true });
  mkdirSync(BENCH_OUT, { recursive: true });
  progress("the shipped bundles …");
  const shipped = await buildLambdaAssets(join(BENCH_OUT, "shipped"));
  const rows: Row[] = [];
  const bundles: LambdaBundles[] = [];
  const notes: string[] = [];
  for (const name of Object.keys(LAMBDA_ENTRIES) as LambdaName[]) {
    progress(`CDK default bundle of ${name} …`);
    // .cjs: Lambda loads a CommonJS index.js from a folder without package.json; this repository says "module".
    const cdkDefault = join(BENCH_OUT, "cdk-default", name, "index.cjs");
    await build({ ...cdkDefaultBuild(name), outfile: cdkDefault });
    const ours = readFileSync(shipped[name].file);
    const theirs = readFileSync(cdkDefault);
    const gz = (data: Buffer) => gzipSync(data, { level: 9 }).length;
    rows.push({
      figure: `bundle size, ${name} (raw / gzip)`,
      target: "— (a figure)",
      baseline: `${kb(theirs.length)} / ${kb(gz(theirs))} (CDK default, SDK not inside)`,
      measured: `${kb(ours.length)} / ${kb(gz(ours))}`,
    });
    bundles.push({ name, shipped: shipped[name].file, cdkDefault });
    notes.push(`${name}: ${await composition(name)}`);
  }
  return { rows, bundles, notes };
}

/** What the shipped bundle is made of, by package, from esbuild's metafile. */
async function composition(name: LambdaName): Promise<string> {
  const result = await build({ ...lambdaBuildOptions(name), write: false, metafile: true, outfile: "composition.mjs" });
  const totals = new Map<string, number>();
  const output = Object.entries((result.metafile as Metafile).outputs).find(([file]) => !file.endsWith(".map"))?.[1];
  for (const [file, input] of Object.entries(output?.inputs ?? {})) {
    const pkg = packageDirOf(file)?.replace(/^.*node_modules\//, "");
    let group = pkg ?? "project code";
    if (pkg?.startsWith("@aws-lambda-powertools/")) group = "powertools";
    else if (pkg?.startsWith("@aws-sdk/") || pkg?.startsWith("@smithy/") || pkg?.startsWith("@aws-crypto/")) {
      group = "AWS SDK (@aws-sdk, @smithy, @aws-crypto)";
    }
    totals.set(group, (totals.get(group) ?? 0) + input.bytesInOutput);
  }
  return [...totals.entries()]
    .sort((a, b) => b[1] - a[1])
    .filter(([, bytes]) => bytes >= 1024)
    .map(([group, bytes]) => `${group} ${kb(bytes)}`)
    .join(", ");
}
