import { appendFileSync, mkdirSync } from "node:fs";
import { keyMaterialListeners } from "../../local/novala-model.js";

/**
 * Runs in every test worker (vitest setupFiles): copies everything written to stdout and stderr — the handlers'
 * Powertools logs and metrics go there — and every key the Novala models issue into test-output/leak-scan/, where the
 * global teardown (test/support/leak-scan.ts) searches the output for the keys.
 */
const dir = process.env.LEAK_SCAN_DIR ?? "test-output/leak-scan/default";
mkdirSync(dir, { recursive: true });
const tag = `${process.pid}-${process.env.VITEST_POOL_ID ?? "0"}`;
const outputFile = `${dir}/output-${tag}.log`;
const keysFile = `${dir}/keys-${tag}.txt`;

for (const stream of [process.stdout, process.stderr]) {
  const write = stream.write.bind(stream) as (...args: unknown[]) => boolean;
  stream.write = ((chunk: unknown, ...rest: unknown[]) => {
    append(outputFile, typeof chunk === "string" ? chunk : Buffer.from(chunk as Uint8Array));
    return write(chunk, ...rest);
  }) as typeof stream.write;
}

keyMaterialListeners.add((material) => append(keysFile, `${material.join("\n")}\n`));

/** Appends, re-creating the folder if something removed it; capture must never break the code under test. */
function append(file: string, data: string | Buffer): void {
  try {
    appendFileSync(file, data);
  } catch {
    try {
      mkdirSync(dir, { recursive: true });
      appendFileSync(file, data);
    } catch {
      // Losing a capture line is better than failing the test that wrote it; the scan reports what it read.
    }
  }
}
