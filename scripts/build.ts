/**
 * `npm run build`: the package as it is packed. dist/lib: the construct as JavaScript with declarations (tsc);
 * dist/lambdas: both functions pre-bundled (scripts/lambda-bundles.ts); dist/cli: the `novala-rotation` command line
 * as one ES module with its dependencies inside, so the package needs no runtime dependency besides its peers.
 */
import { spawnSync } from "node:child_process";
import { chmodSync, existsSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { build } from "esbuild";
import { buildLambdaAssets, LAMBDA_ENTRIES, REPO_ROOT, REQUIRE_BANNER } from "./lambda-bundles.js";

const DIST = join(REPO_ROOT, "dist");

// dist/lambdas is rebuilt in place (only changed files are replaced): tests running in parallel read it.
for (const dir of ["lib", "cli"]) rmSync(join(DIST, dir), { recursive: true, force: true });
const tsc = spawnSync("npx", ["tsc", "-p", "tsconfig.build.json"], { cwd: REPO_ROOT, stdio: "inherit" });
if (tsc.status !== 0) throw new Error(`tsc -p tsconfig.build.json failed (exit ${tsc.status})`);

pruneUnreachable();

await buildLambdaAssets(join(DIST, "lambdas"));

await build({
  stdin: {
    contents: 'import { main } from "./bin/novala-rotation.ts";\nawait main(process.argv);\n',
    resolveDir: REPO_ROOT,
    sourcefile: "novala-rotation-cli.ts",
    loader: "ts",
  },
  outfile: join(DIST, "cli", "novala-rotation.mjs"),
  bundle: true,
  platform: "node",
  format: "esm",
  target: "node20",
  mainFields: ["module", "main"],
  banner: { js: `#!/usr/bin/env node\n${REQUIRE_BANNER}` },
  logLevel: "warning",
});
// Runnable by itself too (`./dist/cli/novala-rotation.mjs`); the package's bin is bin/novala-rotation.js, which imports it.
chmodSync(join(DIST, "cli", "novala-rotation.mjs"), 0o755);
process.stderr.write("built dist/lib, dist/lambdas, dist/cli\n");

/**
 * tsc emits every module of the library's program, also those only a type import reaches (lambdas/core/ports.ts and
 * secret-value.ts, which import zod, a devDependency): the package keeps only the .js and .d.ts files that
 * dist/lib/index.js and index.d.ts reach through their imports; nothing else in dist/lib and dist/lambdas (the bundles'
 * folders aside) would ever load, and some would import packages the package does not declare.
 */
function pruneUnreachable(): void {
  /** `import … from "./x.js"`, `export … from "../y.js"`, `import "./z.js"`, `import("./w.js")`: relative specifiers. */
  const relativeImport = /(?:\bfrom\s*|\bimport\s*\(?\s*)["'](\.{1,2}\/[^"']+)["']/g;
  const reachable = new Set<string>();
  const queue = [join(DIST, "lib", "index.js"), join(DIST, "lib", "index.d.ts")];
  for (let file = queue.pop(); file !== undefined; file = queue.pop()) {
    if (reachable.has(file)) continue;
    reachable.add(file);
    for (const [, specifier] of readFileSync(file, "utf8").matchAll(relativeImport)) {
      // A declaration file names a module by its .js path; its declarations are in the .d.ts beside it.
      const target = resolve(dirname(file), specifier as string).replace(
        /\.js$/,
        file.endsWith(".d.ts") ? ".d.ts" : ".js",
      );
      if (!existsSync(target)) throw new Error(`${file} imports ${specifier}, which tsc did not emit`);
      queue.push(target);
    }
  }
  const bundleDirs = Object.keys(LAMBDA_ENTRIES).map((name) => join(DIST, "lambdas", name));
  const prune = (dir: string): void => {
    if (!existsSync(dir) || bundleDirs.includes(dir)) return;
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) prune(path);
      else if (/\.(d\.ts|js)$/.test(entry.name) && !reachable.has(path)) rmSync(path);
    }
    if (readdirSync(dir).length === 0) rmSync(dir, { recursive: true });
  };
  prune(join(DIST, "lib"));
  prune(join(DIST, "lambdas"));
}
