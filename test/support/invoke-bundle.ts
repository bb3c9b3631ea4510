import { spawn } from "node:child_process";
import { basename, dirname } from "node:path";
import { pathToFileURL } from "node:url";
import { recordChildOutput } from "./child-output.js";
import { node24Binary } from "./node24.js";

export interface BundleRun {
  code: number | null;
  /** Everything the process printed (structured logs, EMF metrics). */
  output: string;
  /** The handler's return value, when it returned. */
  result?: unknown;
  /** "Name: message" of what the handler threw. */
  failure?: string;
  /** `process.version` of the process that ran it. */
  nodeVersion?: string;
}

/**
 * Invokes a bundle's `handler` in a fresh Node 24 process (the Lambda runtime's major version), as a cold Lambda
 * would: the environment is exactly `environment` plus PATH, the event is passed as JSON, and `context` (as Lambda
 * gives it: the revocation function reads its own ARN from invokedFunctionArn) as the second argument. What it prints
 * goes to the test's captured output (test/support/capture-output.ts), never to the console.
 */
export function invokeBundle(
  bundle: string,
  environment: Record<string, string>,
  event: unknown,
  context: { invokedFunctionArn?: string } = {},
): Promise<BundleRun> {
  const runner = `
    process.stdout.write("\\nNODE " + process.version + "\\n");
    const { handler } = await import(${JSON.stringify(pathToFileURL(bundle).href)});
    try {
      const result = await handler(JSON.parse(process.env.TEST_EVENT), JSON.parse(process.env.TEST_CONTEXT));
      process.stdout.write("\\nRESULT " + JSON.stringify(result ?? null) + "\\n");
    } catch (error) {
      process.stdout.write("\\nFAILED " + error.name + ": " + error.message + "\\n");
      process.exitCode = 1;
    }`;
  return new Promise((done, fail) => {
    const child = spawn(node24Binary(), ["--input-type=module", "-e", runner], {
      env: {
        PATH: process.env.PATH ?? "",
        ...environment,
        TEST_EVENT: JSON.stringify(event),
        TEST_CONTEXT: JSON.stringify(context),
      },
    });
    let output = "";
    child.stdout.on("data", (chunk) => {
      output += chunk;
    });
    child.stderr.on("data", (chunk) => {
      output += chunk;
    });
    child.once("error", fail);
    child.on("close", (code) => {
      recordChildOutput(`node24 ${basename(dirname(bundle))}`, output);
      const result = /\nRESULT (.*)\n/.exec(output)?.[1];
      const failure = /\nFAILED (.*)\n/.exec(output)?.[1];
      const nodeVersion = /\nNODE (.*)\n/.exec(output)?.[1];
      done({
        code,
        output,
        ...(result !== undefined && { result: JSON.parse(result) }),
        ...(failure && { failure }),
        ...(nodeVersion && { nodeVersion }),
      });
    });
  });
}
