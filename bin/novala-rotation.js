#!/usr/bin/env node
/**
 * The `novala-rotation` command line (bin/novala-rotation.ts) from plain Node: registers tsx so that the TypeScript
 * sources load without a build step. `novala-rotation --help` lists the commands.
 */
import { register } from "tsx/esm/api";

register();
const { main } = await import(new URL("./novala-rotation.ts", import.meta.url).href);
await main(process.argv);
