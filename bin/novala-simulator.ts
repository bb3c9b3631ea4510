/**
 * The command line of the local Novala simulator (bin/novala-simulator.js): starts local/novala-simulator.ts on loopback,
 * seeds a manager key (api_keys.manage) and a consumer key (leads.lead.read, pipeline), prints the URL and a
 * ready-to-use secret value (docs/design.md's JSON) for each, and runs until Ctrl-C.
 */
import { Command, InvalidArgumentError } from "commander";
import { secretValueFor } from "../lambdas/core/secret-value.js";
import { startNovalaSimulator } from "../local/novala-simulator.js";

function nonNegativeInteger(raw: string): number {
  const value = Number(raw);
  if (!Number.isSafeInteger(value) || value < 0) throw new InvalidArgumentError("expected an integer ≥ 0");
  return value;
}

interface CliOptions {
  port: number;
  propagationDelayMs: number;
  latencyMs: number;
  rateLimit?: number;
  managerSecretId: string;
}

/** Runs the simulator until SIGINT/SIGTERM. `argv` is process.argv. */
export async function main(argv: string[] = process.argv): Promise<void> {
  const program = new Command()
    .name("novala-simulator")
    .description("A local Novala key-management simulator on 127.0.0.1, seeded with a manager and a consumer key.")
    .option("--port <port>", "port to listen on (0 = a free port)", nonNegativeInteger, 0)
    .option("--propagation-delay-ms <ms>", "how long a newly created key answers 401", nonNegativeInteger, 0)
    .option("--latency-ms <ms>", "latency added to every answer", nonNegativeInteger, 0)
    .option("--rate-limit <perSecond>", "requests per second for the tenant (429 beyond; default: no limit)", (raw) => {
      const value = Number(raw);
      if (!Number.isFinite(value) || value <= 0) throw new InvalidArgumentError("expected a number > 0");
      return value;
    })
    .option(
      "--manager-secret-id <id>",
      "the Secrets Manager id the consumer secret names as its managerSecretId",
      "novala/manager",
    );
  program.parse(argv);
  const options = program.opts<CliOptions>();

  const simulator = await startNovalaSimulator({
    port: options.port,
    propagationDelayMs: options.propagationDelayMs,
    latencyMs: options.latencyMs,
    rateLimitPerSecond: options.rateLimit ?? null,
  });
  const manager = simulator.model.seedKey({ name: "Simulator manager", scopes: ["api_keys.manage"] });
  const consumer = simulator.model.seedKey({ name: "Simulator consumer", scopes: ["leads.lead.read", "pipeline"] });
  const secretValue = (key: typeof manager, extra: Record<string, string> = {}) =>
    secretValueFor(simulator.url, key, extra);

  // These are the simulator's own throw-away test keys, valid only against this process on loopback. Printing them
  // to the user's terminal is the point of this command (so they can be stored as secrets for a local run); it is
  // the one place in the project where key material is printed on purpose.
  const out = process.stdout;
  out.write(`Novala simulator listening on ${simulator.url}\n`);
  out.write(
    `switches: propagationDelayMs=${options.propagationDelayMs} latencyMs=${options.latencyMs} ` +
      `rateLimitPerSecond=${options.rateLimit ?? "off"}\n\n`,
  );
  out.write(`Manager secret (api_keys.manage; store it as ${options.managerSecretId}):\n${secretValue(manager)}\n\n`);
  out.write(
    `Consumer secret (leads.lead.read, pipeline; managed by ${options.managerSecretId}):\n` +
      `${secretValue(consumer, { managerSecretId: options.managerSecretId })}\n\n`,
  );
  out.write("Press Ctrl-C to stop.\n");

  await new Promise<void>((resolve) => {
    const shutdown = () => {
      process.off("SIGINT", shutdown);
      process.off("SIGTERM", shutdown);
      simulator.stop().then(resolve, resolve);
    };
    process.on("SIGINT", shutdown);
    process.on("SIGTERM", shutdown);
  });
  out.write("Novala simulator stopped.\n");
}
