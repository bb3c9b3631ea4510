/**
 * The Lambda code as it ships: each function bundled by esbuild into one minified ES module with a source map, with
 * everything it imports inside (the npm undici and the AWS SDK clients at the versions package-lock.json pins and the
 * tests ran, as AWS advises, rather than whatever SDK the runtime carries that month). Built at package build time
 * into dist/lambdas/<name>/, which the construct deploys with `lambda.Code.fromAsset`, so a consumer's synth needs
 * neither esbuild nor Docker.
 *
 * Beside each bundle, `<name>.cdx.json`: a CycloneDX SBOM of the npm packages whose code is inside it, from esbuild's
 * own account of the bundle's inputs (its metafile), so it lists what ships and nothing else.
 *
 * `tsx scripts/lambda-bundles.ts [outDir]` builds both (default dist/lambdas); `npm run build`, the CDK app
 * (cdk.json) and the test set-up call it, so no run deploys or tests a stale bundle.
 */
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { basename, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { type BuildOptions, build, version as esbuildVersion, type Metafile } from "esbuild";

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
 * Builds both functions into `outDir/<name>/index.mjs` (+ `.map`) and their SBOMs into `outDir/<name>.cdx.json`;
 * returns each bundle's path and size. A file is replaced (write to a temporary name, then rename) only when its
 * content changed, so concurrent builds of the same sources (parallel test files that each synthesize) never let a
 * reader see a missing or half-written bundle.
 */
export async function buildLambdaAssets(
  outDir: string = LAMBDA_ASSETS_DIR,
): Promise<Record<LambdaName, { file: string; bytes: number; sbom: string }>> {
  const built = {} as Record<LambdaName, { file: string; bytes: number; sbom: string }>;
  for (const name of Object.keys(LAMBDA_ENTRIES) as LambdaName[]) {
    const dir = join(outDir, name);
    mkdirSync(dir, { recursive: true });
    const file = join(dir, "index.mjs");
    const result = await build({
      ...lambdaBuildOptions(name),
      outfile: file,
      write: false,
      metafile: true,
      absWorkingDir: REPO_ROOT,
    });
    const written = new Set<string>();
    for (const output of result.outputFiles) {
      written.add(basename(output.path));
      writeIfChanged(output.path, output.contents);
    }
    // Only index.mjs and its map: the folder is the function's deployment package as it is (the SBOM sits beside it).
    for (const entry of readdirSync(dir)) {
      if (!written.has(entry) && !entry.endsWith(".tmp")) rmSync(join(dir, entry), { recursive: true, force: true });
    }
    const bundle = readFileSync(file);
    const sbom = join(outDir, `${name}.cdx.json`);
    writeIfChanged(sbom, `${JSON.stringify(bundleSbom(name, bundle, result.metafile), null, 2)}\n`);
    built[name] = { file, bytes: bundle.length, sbom };
  }
  return built;
}

function writeIfChanged(path: string, contents: Uint8Array | string): void {
  const bytes = Buffer.from(contents);
  if (existsSync(path) && bytes.equals(readFileSync(path))) return;
  const temporary = `${path}.${process.pid}.tmp`;
  writeFileSync(temporary, bytes);
  renameSync(temporary, path);
}

/**
 * The npm package a bundle input belongs to, by its folder under the last `node_modules/` of its path (a nested copy
 * is its own package): `node_modules/@smithy/core/dist-es/x.js` → `node_modules/@smithy/core`. Undefined for the
 * project's own code.
 */
export function packageDirOf(input: string): string | undefined {
  return /^(.*node_modules\/(?:@[^/]+\/)?[^/]+)\//.exec(input)?.[1];
}

/** A package as an SBOM lists it: what its package.json says. */
export interface BundledPackage {
  name: string;
  version: string;
  license?: string;
}

/**
 * The npm packages whose code went into a bundle: every package of an input that put at least one byte into the
 * output (esbuild's metafile; a module tree-shaken to nothing does not count), with the name, version and license of
 * its package.json. Sorted by name, then version.
 */
export function bundledPackages(metafile: Metafile): BundledPackage[] {
  const output = Object.entries(metafile.outputs).find(([file]) => file.endsWith(".mjs"))?.[1];
  if (!output) throw new Error("esbuild's metafile names no .mjs output");
  const dirs = new Set<string>();
  for (const [input, { bytesInOutput }] of Object.entries(output.inputs)) {
    const dir = packageDirOf(input);
    if (dir && bytesInOutput > 0) dirs.add(dir);
  }
  const packages = [...dirs].map((dir): BundledPackage => {
    const manifest = JSON.parse(readFileSync(join(REPO_ROOT, dir, "package.json"), "utf8")) as Record<string, unknown>;
    if (typeof manifest.name !== "string" || typeof manifest.version !== "string") {
      throw new Error(`${dir}/package.json has no name or version`);
    }
    return {
      name: manifest.name,
      version: manifest.version,
      ...(typeof manifest.license === "string" && { license: manifest.license }),
    };
  });
  return packages.sort((a, b) => a.name.localeCompare(b.name) || a.version.localeCompare(b.version));
}

/** The package URL of an npm package (`pkg:npm/%40aws-sdk/client-scheduler@3.1169.0`: the scope's `@` encoded). */
export function npmPurl({ name, version }: BundledPackage): string {
  return `pkg:npm/${name.replace(/^@/, "%40")}@${version}`;
}

/**
 * A CycloneDX 1.6 SBOM of one bundle: the bundle itself (with its SHA-256, so the SBOM names the exact file) and one
 * library component per bundled package. No timestamp or serial number: the same sources give the same file.
 */
function bundleSbom(name: LambdaName, bundle: Buffer, metafile: Metafile) {
  const project = JSON.parse(readFileSync(join(REPO_ROOT, "package.json"), "utf8")) as {
    name: string;
    version: string;
    license?: string;
  };
  const self = `${project.name}@${project.version}#lambda-${name}`;
  const components = bundledPackages(metafile).map((pkg) => ({
    type: "library",
    "bom-ref": npmPurl(pkg),
    ...(pkg.name.startsWith("@")
      ? { group: pkg.name.slice(0, pkg.name.indexOf("/")), name: pkg.name.slice(pkg.name.indexOf("/") + 1) }
      : { name: pkg.name }),
    version: pkg.version,
    purl: npmPurl(pkg),
    ...(pkg.license && { licenses: [sbomLicense(pkg.license)] }),
  }));
  return {
    bomFormat: "CycloneDX",
    specVersion: "1.6",
    version: 1,
    metadata: {
      tools: { components: [{ type: "application", name: "esbuild", version: esbuildVersion }] },
      component: {
        type: "application",
        "bom-ref": self,
        name: `${project.name}-${name}-lambda`,
        version: project.version,
        description: `The ${name} function's deployment package: dist/lambdas/${name}/index.mjs`,
        hashes: [{ alg: "SHA-256", content: createHash("sha256").update(bundle).digest("hex") }],
        ...(project.license && { licenses: [sbomLicense(project.license)] }),
      },
    },
    components,
    dependencies: [{ ref: self, dependsOn: components.map((component) => component["bom-ref"]) }],
  };
}

/** An SPDX identifier as `license.id`, an expression (`MIT OR Apache-2.0`) as `expression`, anything else by name. */
function sbomLicense(license: string) {
  if (/^[A-Za-z0-9.+-]+$/.test(license)) return { license: { id: license } };
  if (/\b(AND|OR|WITH)\b/.test(license)) return { expression: license };
  return { license: { name: license } };
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
