import type { Context } from "aws-lambda";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { PowertoolsTelemetry, withTelemetry } from "../../lambdas/adapters/telemetry/powertools-telemetry.js";
import { handler as rotationHandler } from "../../lambdas/rotation/index.js";

const context = {
  awsRequestId: "c6af9ac6-7b61-11e6-9a41-93e812345678",
  functionName: "novala-rotation",
  functionVersion: "$LATEST",
  invokedFunctionArn: "arn:aws:lambda:us-east-1:123456789012:function:novala-rotation",
  memoryLimitInMB: "256",
} as Context;

/** Everything written to stdout and stderr while `run` runs, as text. */
let written: string[] = [];
beforeEach(() => {
  written = [];
  for (const stream of [process.stdout, process.stderr]) {
    const write = stream.write.bind(stream) as (...args: unknown[]) => boolean;
    vi.spyOn(stream, "write").mockImplementation(((chunk: unknown, ...rest: unknown[]) => {
      written.push(String(chunk));
      return write(chunk, ...rest);
    }) as typeof stream.write);
  }
});
afterEach(() => {
  vi.restoreAllMocks();
});

function logLines(): Record<string, unknown>[] {
  return written
    .join("")
    .split("\n")
    .filter((line) => line.startsWith("{"))
    .map((line) => JSON.parse(line) as Record<string, unknown>)
    .filter((line) => "level" in line);
}

describe("Powertools middleware on the handlers", () => {
  it("every log line carries the request id and the cold-start flag; an invocation without metrics warns of none", async () => {
    const telemetry = new PowertoolsTelemetry();
    const handler = withTelemetry(telemetry, async (event: { n: number }) => {
      telemetry.info("working", { n: event.n });
      return event.n;
    });
    expect(await handler({ n: 1 }, context)).toBe(1);
    expect(await handler({ n: 2 }, { ...context, awsRequestId: "second" })).toBe(2);
    const lines = logLines().filter((line) => line.message === "working");
    expect(lines).toHaveLength(2);
    // Cold start is the process's first invocation (another test file may have been first in this worker).
    expect(lines[0]).toMatchObject({
      function_request_id: context.awsRequestId,
      cold_start: expect.any(Boolean),
      n: 1,
    });
    expect(lines[1]).toMatchObject({ function_request_id: "second", cold_start: false, n: 2 });
    expect(written.join("")).not.toContain("No application metrics");
  });

  it("the rotation handler's failure line carries the request id, and its metric is flushed", async () => {
    await expect(rotationHandler({} as never, context)).rejects.toThrow();
    const failed = logLines().find((line) => line.level === "ERROR");
    expect(failed).toMatchObject({ function_request_id: context.awsRequestId, function_name: "novala-rotation" });
    expect(failed).toHaveProperty("cold_start");
    expect(written.join("")).toContain('"RotationsFailed":1');
    expect(written.join("")).not.toContain("No application metrics");
  });
});
