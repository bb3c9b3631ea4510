/** Where the test helpers hand what a child process printed, so that the leak scan reads it and CI shows it only for a failed test. */

/** Set by test/support/capture-output.ts in a vitest worker; absent elsewhere (the benchmarks), where nothing is kept. */
const RECORDER = Symbol.for("novala-key-rotation.test-output-recorder");

type Recorder = (text: string) => void;

/** Installs `record` as the sink of {@link recordChildOutput} (the vitest setup file does, once per test file). */
export function installChildOutputRecorder(record: Recorder): void {
  (globalThis as Record<symbol, Recorder | undefined>)[RECORDER] = record;
}

/**
 * Hands what a child process printed to the test's captured output, each line marked with `source` ("novala-rotation
 * status", "moto_server"): the leak scan reads it, and the test's failure report shows it. Never printed otherwise.
 */
export function recordChildOutput(source: string, output: string): void {
  const record = (globalThis as Record<symbol, Recorder | undefined>)[RECORDER];
  if (!record || output.length === 0) return;
  const lines = output.endsWith("\n") ? output.slice(0, -1) : output;
  record(`${lines.replace(/^/gm, `[${source}] `)}\n`);
}
