#!/usr/bin/env node
/**
 * `npm run demo` (bin/novala-demo.ts) from plain Node: registers tsx so that the TypeScript sources load without a
 * build step. `node bin/novala-demo.js --help` lists the options.
 */
import { register } from "tsx/esm/api";

register();
const { main } = await import(new URL("./novala-demo.ts", import.meta.url).href);
await main(process.argv);
