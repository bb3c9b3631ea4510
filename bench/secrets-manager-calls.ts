/**
 * Secrets Manager calls of one rotation as the rotation function makes them (issue 20): the four steps with their
 * outcome records and marks, through the AWS adapter against the embedded Secrets Manager over HTTP, counted by
 * operation at the server. Self-managed and manager-managed, a first rotation (no AWSPREVIOUS) and a later one. The
 * manager secret's cache (one per execution environment, a 5-minute window) starts empty for each rotation ("cold": a
 * lone rotation) or is the one the previous rotation filled ("warm": a fleet rotating together).
 */
import { SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { TimedManagerSecretCache } from "../lambdas/adapters/aws/manager-cache.js";
import { AwsSecretStore } from "../lambdas/adapters/aws/secret-store.js";
import { ROTATION_STEPS } from "../lambdas/contract/rotation-event.js";
import { startSecretsManagerServer } from "../local/secrets-manager-server.js";
import { createWorld } from "../test/support/world.js";
import { runStepAsLambda, SM_OPERATIONS } from "./rotation.js";
import { progress, type Row } from "./support.js";

/** Calls of a first and a later rotation of one secret, by operation. */
async function rotationCalls(
  managed: boolean,
  cache: "cold" | "warm" = "cold",
): Promise<{ first: number; later: number; detail: string }> {
  const world = createWorld({ graceSeconds: 86_400, managed });
  const server = await startSecretsManagerServer(world.secretsManager);
  const client = new SecretsManagerClient({
    region: "us-east-1",
    endpoint: server.url,
    credentials: { accessKeyId: "local", secretAccessKey: "local" },
  });
  const count = () => Object.fromEntries(SM_OPERATIONS.map((operation) => [operation, server.calls(operation)]));
  const total = (counts: Record<string, number>) => Object.values(counts).reduce((sum, n) => sum + n, 0);
  let managerCache = new TimedManagerSecretCache(() => world.clock.now().getTime());
  const rotate = async () => {
    if (cache === "cold") managerCache = new TimedManagerSecretCache(() => world.clock.now().getTime());
    const before = count();
    const token = world.startRotation();
    // A Lambda invocation per step, each with its own adapters over the environment's clients and cache.
    for (const step of ROTATION_STEPS) {
      const deps = { ...world.deps, store: new AwsSecretStore(client), managerCache };
      await runStepAsLambda(deps, step, world.secretArn, token);
    }
    const after = count();
    return Object.fromEntries(
      SM_OPERATIONS.map((operation) => [operation, (after[operation] ?? 0) - (before[operation] ?? 0)]),
    );
  };
  try {
    const first = await rotate();
    const later = await rotate();
    const detail = Object.entries(later)
      .filter(([, n]) => n > 0)
      .map(([operation, n]) => `${operation} ${n}`)
      .join(", ");
    return { first: total(first), later: total(later), detail };
  } finally {
    client.destroy();
    await server.stop();
  }
}

export async function benchSecretsManagerCalls(): Promise<{ rows: Row[] }> {
  progress("Secrets Manager calls per rotation …");
  const self = await rotationCalls(false);
  const managed = await rotationCalls(true);
  const warm = await rotationCalls(true, "warm");
  return {
    rows: [
      {
        figure: "Secrets Manager calls per rotation, self-managed (first; later), records and marks included",
        target: "≤ 15",
        baseline: "—",
        measured: `${self.first}; ${self.later} (later: ${self.detail})`,
        pass: Math.max(self.first, self.later) <= 15,
      },
      {
        figure: "Secrets Manager calls per rotation, manager-managed (first; later), records and marks included",
        target: "≤ 15",
        baseline: "—",
        measured: `${managed.first}; ${managed.later} (later: ${managed.detail})`,
        pass: Math.max(managed.first, managed.later) <= 15,
      },
      {
        figure: "Secrets Manager calls per rotation, manager-managed, manager secret cached (a fleet: first; later)",
        target: "≤ 15",
        baseline: "—",
        measured: `${warm.first}; ${warm.later}`,
        pass: Math.max(warm.first, warm.later) <= 15,
      },
    ],
  };
}
