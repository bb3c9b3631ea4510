/**
 * `npm run demo`: a whole rotation on this machine (local/demo.ts) with the Novala simulator and the Secrets Manager
 * model, or moto with --endpoint-url. Exit 0 when it went as expected (a rotation that succeeds, or with
 * --fail-health-check one that is rolled back), 1 otherwise.
 */
import { Command, InvalidArgumentError } from "commander";
import { action, runProgram } from "../cli/program.js";
import { redact } from "../lambdas/core/redact.js";
import { runDemo } from "../local/demo.js";

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

function nonNegativeInteger(raw: string): number {
  const value = Number(raw);
  if (!/^\d+$/.test(raw) || !Number.isSafeInteger(value)) throw new InvalidArgumentError("expected an integer ≥ 0");
  return value;
}

export function buildProgram(): Command {
  return new Command("novala-demo")
    .description("A whole rotation on this machine: Novala simulator, Secrets Manager model (or --endpoint-url).")
    .showHelpAfterError("(add --help for usage)")
    .option("--endpoint-url <url>", "use this Secrets Manager and Scheduler endpoint (moto) instead of the models")
    .option("--region <region>", "AWS region for --endpoint-url")
    .option("--fail-health-check", "make the new key fail its health check, to show the rollback")
    .option("--grace-seconds <seconds>", "grace period before the old key is revoked (0: at once)", nonNegativeInteger)
    .option("--self-managed", "rotate a self-managed key instead of one managed by a manager secret")
    .option("--keep", "leave the demo secrets in place at the end (with --endpoint-url), for status and friends")
    .action(action((options: DemoCliOptions) => demo(options)));
}

/** Runs the demo; `argv` is process.argv. Sets process.exitCode and exits once output is written. */
export async function main(argv: string[] = process.argv): Promise<void> {
  await runProgram(buildProgram(), argv);
}
