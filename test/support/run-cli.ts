import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { TEST_REGION } from "./moto.js";

/**
 * Runs `novala-rotation` as a child process (`node bin/novala-rotation.js …`) with dummy AWS credentials, no shared
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
  } = {},
): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      ["bin/novala-rotation.js", ...args, ...(options.endpoint ? ["--endpoint-url", options.endpoint] : [])],
      {
        cwd: ROOT,
        env: {
          PATH: process.env.PATH,
          HOME: process.env.HOME,
          AWS_ACCESS_KEY_ID: "test",
          AWS_SECRET_ACCESS_KEY: "test",
          AWS_REGION: TEST_REGION,
          AWS_CONFIG_FILE: "/dev/null",
          AWS_SHARED_CREDENTIALS_FILE: "/dev/null",
          AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true",
          NOVALA_ALLOWED_HOSTS: "127.0.0.1",
        },
        stdio: ["pipe", "pipe", "pipe"],
      },
    );
    if (options.closeStdout) child.stdout.destroy();
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => {
      stdout += chunk.toString("utf8");
    });
    child.stderr.on("data", (chunk: Buffer) => {
      stderr += chunk.toString("utf8");
    });
    child.once("error", reject);
    child.once("close", (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(options.input ?? "");
  });
}
