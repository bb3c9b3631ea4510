/**
 * How many Secrets Manager calls a rotation makes (issue 12: at most 14), counted at the embedded Secrets Manager
 * server behind the real AWS adapter: each step reads what it needs once. setSecret's guard (one DescribeSecret,
 * issue 17) costs the one call above 14 of a self-managed secret's later rotations.
 */
import { SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { afterEach, describe, expect, it } from "vitest";
import { AwsSecretStore } from "../../lambdas/adapters/aws/secret-store.js";
import { ROTATION_STEPS } from "../../lambdas/contract/rotation-event.js";
import { runRotationStep } from "../../lambdas/core/rotation.js";
import { type SecretsManagerServer, startSecretsManagerServer } from "../../local/secrets-manager-server.js";
import { Crash, crashPoint, createWorld } from "../support/world.js";

const OPERATIONS = [
  "DescribeSecret",
  "GetSecretValue",
  "ListSecretVersionIds",
  "PutSecretValue",
  "UpdateSecretVersionStage",
];

let server: SecretsManagerServer | undefined;
afterEach(async () => {
  await server?.stop();
  server = undefined;
});

async function setUp(graceSeconds: number, managed = true) {
  const world = createWorld({ graceSeconds, managed });
  server = await startSecretsManagerServer(world.secretsManager);
  const client = new SecretsManagerClient({
    region: "us-east-1",
    endpoint: server.url,
    credentials: { accessKeyId: "local", secretAccessKey: "local" },
  });
  const deps = { ...world.deps, store: new AwsSecretStore(client) };
  const sm = server;
  const count = () => Object.fromEntries(OPERATIONS.map((op) => [op, sm.calls(op)]));
  const total = () => OPERATIONS.reduce((sum, op) => sum + sm.calls(op), 0);
  async function rotate(): Promise<number> {
    const before = total();
    const token = world.startRotation();
    for (const step of ROTATION_STEPS) await runRotationStep(deps, step, world.secretArn, token);
    return total() - before;
  }
  return { world, client, count, total, rotate };
}

describe("Secrets Manager calls per rotation", () => {
  it("are 17 for a first rotation and 18 with an AWSPREVIOUS key to check (was 20 and 21)", async () => {
    const { world, rotate, count } = await setUp(0);
    const first = await rotate();
    const second = await rotate();
    // A manager-managed secret: every step but setSecret also reads the manager secret (3 calls).
    expect({ first, second }).toEqual({ first: 17, second: 18 });
    // One per step and rotation: the guard runs first in every step, setSecret included.
    expect(count().DescribeSecret).toBe(8);
    // And the rotation did what it must: the new key is current, the old one revoked.
    expect(world.activeRotatorKeys().map((key) => key.id)).toEqual([world.valueAt("AWSCURRENT")?.keyId]);
  });

  it("are 14 and 15 for a self-managed secret", async () => {
    const { rotate } = await setUp(0, false);
    expect([await rotate(), await rotate()]).toEqual([14, 15]);
  });

  it("a finishSecret retried after a crash past the promotion reads the labels again and retires the old key", async () => {
    const { world, client, total } = await setUp(0);
    const deps = { ...world.deps, store: new AwsSecretStore(client) };
    const token = world.startRotation();
    for (const step of ["createSecret", "setSecret", "testSecret"] as const) {
      await runRotationStep(deps, step, world.secretArn, token);
    }
    const crashing = crashPoint(deps, "store", "moveStage", "after", 2);
    await expect(runRotationStep(crashing.deps, "finishSecret", world.secretArn, token)).rejects.toThrow(Crash);
    expect(world.novala.inspect(world.firstKey.id)?.status).toBe("active");
    const before = total();
    await runRotationStep(deps, "finishSecret", world.secretArn, token);
    expect(world.novala.inspect(world.firstKey.id)?.status).toBe("revoked");
    // DescribeSecret, AWSCURRENT, AWSPREVIOUS, the manager secret.
    expect(total() - before).toBe(4);
  });
});
