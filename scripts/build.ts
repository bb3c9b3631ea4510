/**
 * `npm run build`: the package as it is packed. dist/lib: the construct as JavaScript with declarations (tsc);
 * dist/lambdas: both functions pre-bundled (scripts/lambda-bundles.ts); dist/cli: the `novala-rotation` command line
 * as one ES module with its dependencies inside, so the package needs no runtime dependency besides its peers.
 */
import { spawnSync } from "node:child_process";
import { chmodSync, rmSync } from "node:fs";
import { join } from "node:path";
import { build } from "esbuild";
import { buildLambdaAssets, REPO_ROOT, REQUIRE_BANNER } from "./lambda-bundles.js";

const DIST = join(REPO_ROOT, "dist");

// dist/lambdas is rebuilt in place (only changed files are replaced): tests running in parallel read it.
for (const dir of ["lib", "cli"]) rmSync(join(DIST, dir), { recursive: true, force: true });
const tsc = spawnSync("npx", ["tsc", "-p", "tsconfig.build.json"], { cwd: REPO_ROOT, stdio: "inherit" });
if (tsc.status !== 0) throw new Error(`tsc -p tsconfig.build.json failed (exit ${tsc.status})`);

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
