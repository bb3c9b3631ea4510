/**
 * The Lambda code as it ships: each function bundled by esbuild into one minified ES module with a source map, with
 * everything it imports inside (the npm undici and the AWS SDK clients at the versions package-lock.json pins and the
 * tests ran, as AWS advises, rather than whatever SDK the runtime carries that month). Built at package build time
 * into dist/lambdas/<name>/, which the construct deploys with `lambda.Code.fromAsset`, so a consumer's synth needs
 * neither esbuild nor Docker.
 *
 * `tsx scripts/lambda-bundles.ts [outDir]` builds both (default dist/lambdas); `npm run build`, the CDK app
 * (cdk.json) and the test set-up call it, so no run deploys or tests a stale bundle.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { basename, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { type BuildOptions, build } from "esbuild";

export const REPO_ROOT = resolve(fileURLToPath(import.meta.url), "..", "..");
export const LAMBDA_ASSETS_DIR = join(REPO_ROOT, "dist", "lambdas");

export const LAMBDA_ENTRIES = {
  rotation: "lambdas/rotation/index.ts",
  revocation: "lambdas/revocation/index.ts",
} as const;
export type LambdaName = keyof typeof LAMBDA_ENTRIES;

/**
 * undici is CommonJS and calls require() on Node built-ins, which an ES module lacks: the banner gives the bundle a
 * require() of its own.
 */
export const REQUIRE_BANNER =
  "import { createRequire as __novalaCreateRequire } from 'node:module'; " +
  "const require = __novalaCreateRequire(import.meta.url);";

/** The esbuild options of a shipped bundle (also what the benchmarks measure). */
export function lambdaBuildOptions(name: LambdaName): BuildOptions {
  return {
    entryPoints: [join(REPO_ROOT, LAMBDA_ENTRIES[name])],
    bundle: true,
    platform: "node",
    format: "esm",
    // The oldest runtime the construct accepts (nodejs20.x); the syntax of node20 and node24 output is the same here.
    target: "node20",
    minify: true,
    sourcemap: "external",
    sourcesContent: false,
    mainFields: ["module", "main"],
    banner: { js: REQUIRE_BANNER },
    logLevel: "warning",
  };
}

/**
 * Builds both functions into `outDir/<name>/index.mjs` (+ `.map`); returns each bundle's path and size. A file is
 * replaced (write to a temporary name, then rename) only when its content changed, so concurrent builds of the same
 * sources (parallel test files that each synthesize) never let a reader see a missing or half-written bundle.
 */
export async function buildLambdaAssets(
  outDir: string = LAMBDA_ASSETS_DIR,
): Promise<Record<LambdaName, { file: string; bytes: number }>> {
  const built = {} as Record<LambdaName, { file: string; bytes: number }>;
  for (const name of Object.keys(LAMBDA_ENTRIES) as LambdaName[]) {
    const dir = join(outDir, name);
    mkdirSync(dir, { recursive: true });
    const file = join(dir, "index.mjs");
    const result = await build({ ...lambdaBuildOptions(name), outfile: file, write: false });
    const written = new Set<string>();
    for (const output of result.outputFiles) {
      written.add(basename(output.path));
      if (existsSync(output.path) && Buffer.from(output.contents).equals(readFileSync(output.path))) continue;
      const temporary = `${output.path}.${process.pid}.tmp`;
      writeFileSync(temporary, output.contents);
      renameSync(temporary, output.path);
    }
    // Only index.mjs and its map: the folder is the function's deployment package as it is.
    for (const entry of readdirSync(dir)) {
      if (!written.has(entry) && !entry.endsWith(".tmp")) rmSync(join(dir, entry), { recursive: true, force: true });
    }
    built[name] = { file, bytes: statSync(file).size };
  }
  return built;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const [outArg] = process.argv.slice(2).filter((arg) => !arg.startsWith("--"));
  const outDir = resolve(outArg ?? LAMBDA_ASSETS_DIR);
  const built = await buildLambdaAssets(outDir);
  if (!process.argv.includes("--quiet")) {
    for (const [name, { bytes }] of Object.entries(built)) {
      process.stderr.write(`lambda bundle ${name}: ${(bytes / 1024).toFixed(1)} KB\n`);
    }
  }
}
