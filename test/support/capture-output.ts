import { afterAll, beforeEach, type RunnerTestSuite } from "vitest";
import { keyMaterialListeners } from "../../local/novala-model.js";
import { installChildOutputRecorder } from "./child-output.js";
import { appendToLeakScan } from "./leak-scan.js";

/**
 * Runs in every test worker (vitest setupFiles). Everything the code under test writes to stdout and stderr (the
 * handlers' Powertools log lines and EMF metrics) and everything its child processes print (recordChildOutput) is
 * captured instead of printed: it goes to test-output/leak-scan/, where scripts/leak-scan.mjs searches it for every key
 * the Novala models issued, and to the running test's own buffer, which is shown only when that test fails. So CI's
 * output shows results, and a failure still comes with the log lines that explain it. `console.*` calls are vitest's
 * and stay visible (vitest.config.ts hands them to the leak scan too).
 */
const tag = `${process.pid}-${process.env.VITEST_POOL_ID ?? "0"}`;
const outputFile = `output-${tag}.log`;

/** What one failed test shows at most: the end of its output, where the failure is. */
const SHOWN_BYTES = 100_000;

class CapturedOutput {
  private chunks: string[] = [];
  private bytes = 0;
  private leftOut = 0;

  add(text: string): void {
    this.chunks.push(text);
    this.bytes += text.length;
    while (this.bytes > SHOWN_BYTES && this.chunks.length > 1) {
      const dropped = this.chunks.shift() as string;
      this.bytes -= dropped.length;
      this.leftOut += dropped.length;
    }
  }

  /** Shows the captured output through vitest's console, which labels it with the test (or file) it belongs to. */
  show(what: string): void {
    if (this.bytes === 0) return;
    const omitted = this.leftOut > 0 ? ` (its first ${this.leftOut} characters left out)` : "";
    console.error(`── ${what}${omitted} ──\n${this.chunks.join("").trimEnd()}\n── end of ${what} ──`);
  }
}

/** The running test's output; outside a test (beforeAll, afterAll, module load), the file's. */
const outsideTests = new CapturedOutput();
let current = outsideTests;

function capture(text: string): void {
  appendToLeakScan(outputFile, text);
  current.add(text);
}

for (const stream of [process.stdout, process.stderr]) {
  stream.write = ((chunk: unknown, ...rest: unknown[]) => {
    capture(typeof chunk === "string" ? chunk : Buffer.from(chunk as Uint8Array).toString("utf8"));
    // Node's write(chunk, encoding?, callback?): the caller's callback still runs, as after a real write.
    const callback = rest.find((argument) => typeof argument === "function") as (() => void) | undefined;
    if (callback) queueMicrotask(callback);
    return true;
  }) as typeof stream.write;
}
installChildOutputRecorder(capture);
keyMaterialListeners.add((material) => appendToLeakScan(`keys-${tag}.txt`, `${material.join("\n")}\n`));

beforeEach(({ onTestFinished, onTestFailed }) => {
  const output = new CapturedOutput();
  current = output;
  onTestFinished(() => {
    current = outsideTests;
  });
  onTestFailed(() => output.show("output captured during this failed test"));
});

// biome-ignore lint/correctness/noEmptyPattern: vitest passes the file second and wants a destructured first argument.
afterAll(({}, file) => {
  current = outsideTests;
  if (failed(file)) outsideTests.show("output captured outside the tests of this file (beforeAll, afterAll)");
});

function failed(suite: Readonly<RunnerTestSuite>): boolean {
  return suite.tasks.some((task) => task.result?.state === "fail" || ("tasks" in task && failed(task)));
}
