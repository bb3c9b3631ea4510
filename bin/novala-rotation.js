#!/usr/bin/env node
/**
 * `novala-rotation`, the package's bin. In a clone, where bin/novala-rotation.ts sits beside this file, it loads the
 * TypeScript sources through tsx (a devDependency), so `npx novala-rotation …` works right after `npm ci`, with no
 * build and never a stale one. The packed package has no sources: there it runs the built dist/cli/novala-rotation.mjs.
 * `novala-rotation --help` lists the commands.
 */
import { existsSync } from "node:fs";

const source = new URL("./novala-rotation.ts", import.meta.url);
if (existsSync(source)) {
  const { register } = await import("tsx/esm/api");
  register();
  const { main } = await import(source.href);
  await main(process.argv);
} else {
  await import("../dist/cli/novala-rotation.mjs");
}
