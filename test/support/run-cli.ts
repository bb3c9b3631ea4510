import { spawn } from "node:child_process";
import { basename } from "node:path";
import { fileURLToPath } from "node:url";
import { expect } from "vitest";
import { recordChildOutput } from "./child-output.js";
import { TEST_REGION } from "./moto.js";

/**
 * Runs `novala-rotation` (or another entry of bin/) as a child process (`node bin/novala-rotation.js …`) with dummy AWS credentials, no shared
 * AWS configuration and Novala allowed on loopback only, the way an operator would run it against moto.
 */
export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

const ROOT = fileURLToPath(new URL("../..", import.meta.url));

export function runCli(
  args: string[],
  options: {
    endpoint?: string;
    input?: string;
    /** Close the reading end of its stdout at once, as `| head -n 0` does: every write then meets EPIPE. */
    closeStdout?: boolean;
    /** Another entry point of bin/ (the demo): default bin/novala-rotation.js. */
    entry?: string;
  } = {},
): Promise<CliRun> {
  const { endpoint, entry, ...rest } = options;
  return runProcess(
    process.execPath,
    [entry ?? "bin/novala-rotation.js", ...args, ...(endpoint ? ["--endpoint-url", endpoint] : [])],
    cliEnvironment(),
    rest,
  );
}

/** The environment runCli gives the command line: dummy AWS credentials, no shared config, Novala on loopback only. */
export function cliEnvironment(): Record<string, string> {
  return {
    PATH: process.env.PATH as string,
    HOME: process.env.HOME as string,
    AWS_ACCESS_KEY_ID: "test",
    AWS_SECRET_ACCESS_KEY: "test",
    AWS_REGION: TEST_REGION,
    AWS_CONFIG_FILE: "/dev/null",
    AWS_SHARED_CREDENTIALS_FILE: "/dev/null",
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true",
    NOVALA_ALLOWED_HOSTS: "127.0.0.1",
  };
}

/**
 * Runs `command` in the repository with exactly `env`, to its end (killed after `timeoutMs`); collects both streams,
 * and hands them to the test's captured output (shown if the test fails, scanned for keys, never printed otherwise).
 */
export function runProcess(
  command: string,
  args: string[],
  env: Record<string, string>,
  options: { input?: string; closeStdout?: boolean; timeoutMs?: number } = {},
): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: ROOT, env, stdio: ["pipe", "pipe", "pipe"] });
    if (options.closeStdout) child.stdout.destroy();
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => {
      stdout += chunk.toString("utf8");
    });
    child.stderr.on("data", (chunk: Buffer) => {
      stderr += chunk.toString("utf8");
    });
    const timer = options.timeoutMs ? setTimeout(() => child.kill("SIGKILL"), options.timeoutMs) : undefined;
    child.once("error", reject);
    child.once("close", (code) => {
      clearTimeout(timer);
      const source = [basename(command), ...args.slice(0, 2)].join(" ");
      recordChildOutput(`${source} stdout`, stdout);
      recordChildOutput(`${source} stderr`, stderr);
      resolve({ code, stdout, stderr });
    });
    child.stdin.end(options.input ?? "");
  });
}

/** Anything shaped like a whole Novala key, in any case (the masked "pk_live_…abcd" does not match). */
export const KEY_SHAPE = /(pk|sk)_(live|test)_[A-Za-z0-9]{6,}/i;

/** Fails when a run printed any key the simulator issued, or anything shaped like a key. */
export function expectNoKeyMaterial(run: CliRun, issued: Iterable<string>): void {
  const printed = `${run.stdout}\n${run.stderr}`;
  for (const material of issued) expect(printed).not.toContain(material);
  expect(printed).not.toMatch(KEY_SHAPE);
}
