/**
 * How many Secrets Manager calls a rotation makes (issue 20: at most 15, the marks and the outcome records included),
 * counted by operation at the embedded Secrets Manager server behind the real AWS adapter, each step a Lambda
 * invocation of its own (its own adapter) in one execution environment (one manager secret cache). Was 18 and 19 for a
 * self-managed secret (14 and 15 without the four TagResource records), 21 and 22 for a manager-managed one.
 */
import { SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { afterEach, describe, expect, it } from "vitest";
import { TimedManagerSecretCache } from "../../lambdas/adapters/aws/manager-cache.js";
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
  "TagResource",
] as const;
const DAY_MS = 86_400_000;

let server: SecretsManagerServer | undefined;
afterEach(async () => {
  await server?.stop();
  server = undefined;
});

async function setUp(options: { graceSeconds: number; managed?: boolean }) {
  const world = createWorld({ graceSeconds: options.graceSeconds, managed: options.managed ?? true });
  server = await startSecretsManagerServer(world.secretsManager);
  const client = new SecretsManagerClient({
    region: "us-east-1",
    endpoint: server.url,
    credentials: { accessKeyId: "local", secretAccessKey: "local" },
  });
  const sm = server;
  const count = () => Object.fromEntries(OPERATIONS.map((op) => [op, sm.calls(op)])) as Record<string, number>;
  const total = () => OPERATIONS.reduce((sum, op) => sum + sm.calls(op), 0);
  /** The execution environment's manager secret cache (the rotation function's: a 5-minute window). */
  const managerCache = new TimedManagerSecretCache(() => world.clock.now().getTime());
  /** One invocation's ports: its own AWS adapter, the environment's cache. */
  const invocation = () => ({ ...world.deps, store: new AwsSecretStore(client), managerCache });
  /** A whole rotation, as Secrets Manager drives it: its calls, by operation. */
  async function rotate(): Promise<Record<string, number>> {
    const before = count();
    const token = world.startRotation();
    for (const step of ROTATION_STEPS) await runRotationStep(invocation(), step, world.secretArn, token);
    const after = count();
    return Object.fromEntries(OPERATIONS.map((op) => [op, (after[op] ?? 0) - (before[op] ?? 0)]));
  }
  /** A month passes: the retired key's schedule falls due and revokes it, the cache's window is long over. */
  async function aMonthLater(): Promise<void> {
    world.clock.advance(30 * DAY_MS);
    await world.fireDueRevocations();
  }
  return { world, client, count, total, rotate, aMonthLater, invocation };
}

const sum = (calls: Record<string, number>) => Object.values(calls).reduce((a, b) => a + b, 0);

describe("Secrets Manager calls per rotation, marks and records included", () => {
  it("a self-managed secret: 14 for a first rotation, 15 a month later (one more: AWSPREVIOUS's value)", async () => {
    const { rotate, aMonthLater } = await setUp({ graceSeconds: 86_400, managed: false });
    const first = await rotate();
    await aMonthLater();
    const later = await rotate();
    expect([sum(first), sum(later)]).toEqual([14, 15]);
    // No key-version list (no leftover to look for); three records: createSecret's with the creating mark,
    // testSecret's with the tested mark, finishSecret's that clears them; setSecret records nothing.
    expect(later).toEqual({
      DescribeSecret: 4,
      GetSecretValue: 5,
      ListSecretVersionIds: 0,
      PutSecretValue: 1,
      UpdateSecretVersionStage: 2,
      TagResource: 3,
    });
  });

  it("a manager-managed secret: the manager secret read once per rotation, 15 and 16; 15 with it cached", async () => {
    const { rotate, aMonthLater } = await setUp({ graceSeconds: 86_400 });
    const first = await rotate();
    await aMonthLater();
    const later = await rotate();
    // A lone rotation: createSecret reads the manager secret; the later steps find it in the environment's cache.
    expect([sum(first), sum(later)]).toEqual([15, 16]);
    expect(later.GetSecretValue).toBe(6);
    // The next rotation within the cache's window (a fleet rotating together) reads it no more.
    expect(sum(await rotate())).toBe(15);
  });

  it("grace 0 costs no more: finishSecret revokes the old key with the cached manager key", async () => {
    const { rotate, aMonthLater } = await setUp({ graceSeconds: 0 });
    const first = await rotate();
    await aMonthLater();
    expect([sum(first), sum(await rotate())]).toEqual([15, 16]);
  });

  it("one DescribeSecret per step: the guard's, whose tags carry the marks", async () => {
    const { rotate } = await setUp({ graceSeconds: 86_400 });
    expect((await rotate()).DescribeSecret).toBe(4);
  });

  it("a finishSecret retried after a crash past the promotion reads the labels again and retires the old key", async () => {
    const { world, total, invocation } = await setUp({ graceSeconds: 0 });
    const token = world.startRotation();
    for (const step of ["createSecret", "setSecret", "testSecret"] as const) {
      await runRotationStep(invocation(), step, world.secretArn, token);
    }
    const crashing = crashPoint(invocation(), "store", "moveStage", "after", 2);
    await expect(runRotationStep(crashing.deps, "finishSecret", world.secretArn, token)).rejects.toThrow(Crash);
    expect(world.novala.inspect(world.firstKey.id)?.status).toBe("active");
    const before = total();
    await runRotationStep(invocation(), "finishSecret", world.secretArn, token);
    expect(world.novala.inspect(world.firstKey.id)?.status).toBe("revoked");
    // DescribeSecret, AWSCURRENT, AWSPREVIOUS (the manager key is cached), and the record that clears the marks.
    expect(total() - before).toBe(4);
  });
});
