import { redact } from "../../lambdas/core/redact.js";
import { runDemo } from "../demo.js";

/**
 * `demo`: the local run (local/demo.ts) as a subcommand. Exit 0 when it went as expected (a rotation that succeeds,
 * or with --fail-health-check one that is rolled back), 1 otherwise.
 */
export interface DemoCliOptions {
  endpointUrl?: string;
  region?: string;
  failHealthCheck?: boolean;
  graceSeconds?: number;
  selfManaged?: boolean;
  keep?: boolean;
}

export async function demo(options: DemoCliOptions): Promise<number> {
  const result = await runDemo({
    ...(options.endpointUrl !== undefined && { endpointUrl: options.endpointUrl }),
    ...(options.region !== undefined && { region: options.region }),
    ...(options.graceSeconds !== undefined && { graceSeconds: options.graceSeconds }),
    failHealthCheck: Boolean(options.failHealthCheck),
    selfManaged: Boolean(options.selfManaged),
    keep: Boolean(options.keep),
    print: (line) => process.stdout.write(`${redact(line)}\n`),
  });
  return result.ok ? 0 : 1;
}
