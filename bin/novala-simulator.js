#!/usr/bin/env node
/**
 * Starts the local Novala simulator (bin/novala-simulator.ts) from plain Node: registers tsx so that the
 * TypeScript sources load without a build step. Usage: novala-simulator [--port N] [--propagation-delay-ms MS]
 * [--latency-ms MS] [--rate-limit PER_SECOND].
 */
import { register } from "tsx/esm/api";

register();
const { main } = await import(new URL("./novala-simulator.ts", import.meta.url).href);
await main(process.argv);
