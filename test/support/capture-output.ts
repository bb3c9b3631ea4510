import { appendFileSync, mkdirSync } from "node:fs";
import { keyMaterialListeners } from "../../local/novala-model.js";

/**
 * Runs in every test worker (vitest setupFiles): copies everything written to stdout and stderr — the handlers'
 * Powertools logs and metrics go there — and every key the Novala models issue into test-output/leak-scan/, where the
 * global teardown (test/support/leak-scan.ts) searches the output for the keys.
 */
const dir = "test-output/leak-scan";
mkdirSync(dir, { recursive: true });
const tag = `${process.pid}-${process.env.VITEST_POOL_ID ?? "0"}`;
const outputFile = `${dir}/output-${tag}.log`;
const keysFile = `${dir}/keys-${tag}.txt`;

for (const stream of [process.stdout, process.stderr]) {
  const write = stream.write.bind(stream) as (...args: unknown[]) => boolean;
  stream.write = ((chunk: unknown, ...rest: unknown[]) => {
    appendFileSync(outputFile, typeof chunk === "string" ? chunk : Buffer.from(chunk as Uint8Array));
    return write(chunk, ...rest);
  }) as typeof stream.write;
}

keyMaterialListeners.add((material) => appendFileSync(keysFile, `${material.join("\n")}\n`));
