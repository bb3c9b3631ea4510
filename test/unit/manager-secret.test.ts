import { describe, expect, it, vi } from "vitest";
import { readRevocationConfig, readRotationConfig } from "../../lambdas/contract/configuration.js";
import { namesSecret } from "../../lambdas/contract/manager-secret.js";
import { CurrentKeyUnusableError, KeyClaimRefusedError, RotationEndedError } from "../../lambdas/core/errors.js";
import { AWSCURRENT } from "../../lambdas/core/ports.js";
import { secretValueFor } from "../../lambdas/core/secret-value.js";
import { caught } from "../support/caught.js";
import { BASE_URL, createWorld } from "../support/world.js";

/**
 * The manager is the deployment's (docs/security.md): a consumer value's `managerSecretId` must name the manager
 * secret the construct gives the functions (MANAGER_SECRET_ARN); any other is a refused claim, and the secret it names
 * is never read. Messages name the deployment's manager, never the id a value wrote.
 */

const PREFIX = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:";
const FULL = `${PREFIX}novala/manager-AbCdEf`;
const PARTIAL = `${PREFIX}novala/manager`;
const revocationTarget = {
  REVOCATION_SCHEDULE_GROUP: "novala-revocations",
  REVOCATION_SCHEDULER_ROLE_ARN: "arn:aws:iam::123456789012:role/scheduler",
  REVOCATION_FUNCTION_ARN: "arn:aws:lambda:eu-west-1:123456789012:function:revocation",
};

describe("namesSecret: whether a value's managerSecretId names the deployment's manager secret", () => {
  it.each([
    ["the full ARN", FULL, FULL, true],
    ["the name, for a full ARN", "novala/manager", FULL, true],
    ["the partial ARN, for a full ARN", PARTIAL, FULL, true],
    ["the full ARN, for a partial ARN (the deployment knows the name only)", FULL, PARTIAL, true],
    ["the name, for a partial ARN", "novala/manager", PARTIAL, true],
    ["another secret's full ARN", `${PREFIX}novala/rogue-AbCdEf`, FULL, false],
    ["another secret's name", "novala/rogue", FULL, false],
    ["a name that only starts like it", "novala/manager2", PARTIAL, false],
    [
      "a secret of the same name that was deleted and made again (another suffix)",
      `${PREFIX}novala/manager-ZzZzZz`,
      FULL,
      false,
    ],
    [
      "the same name in another account",
      "arn:aws:secretsmanager:eu-west-1:999999999999:secret:novala/manager-AbCdEf",
      FULL,
      false,
    ],
    [
      "the same name in another region",
      "arn:aws:secretsmanager:us-east-1:123456789012:secret:novala/manager",
      PARTIAL,
      false,
    ],
    ["an empty id", "", FULL, false],
  ])("%s", (_name, id, deployment, expected) => {
    expect(namesSecret(id, deployment)).toBe(expected);
  });
});

describe("MANAGER_SECRET_ARN, as the functions read it", () => {
  it("is an ARN, `none`, or absent (a local run: not pinned)", () => {
    const noGrace = { REVOCATION_GRACE_SECONDS: "0" };
    expect(readRotationConfig({ ...noGrace, MANAGER_SECRET_ARN: FULL }).managerSecretArn).toBe(FULL);
    expect(readRevocationConfig({ MANAGER_SECRET_ARN: PARTIAL, ...revocationTarget }).managerSecretArn).toBe(PARTIAL);
    expect(readRotationConfig({ ...noGrace, MANAGER_SECRET_ARN: "none" }).managerSecretArn).toBeNull();
    expect(readRotationConfig(noGrace).managerSecretArn).toBeUndefined();
    expect(() => readRotationConfig({ ...noGrace, MANAGER_SECRET_ARN: "novala/manager" })).toThrow(
      'MANAGER_SECRET_ARN is malformed: "novala/manager"',
    );
  });
});

describe("a rotation under a deployment that names its manager", () => {
  /** A world pinned to its own manager, with a second secret on the tenant that holds a working manager pair. */
  function pinnedWorld() {
    const world = createWorld();
    const deploymentManager = world.managerSecretArn as string;
    world.deps.config.managerSecretArn = deploymentManager;
    const rogueKey = world.novala.seedKey({ name: "Another manager", scopes: ["api_keys.manage"] });
    const rogueSecretArn = world.secretsManager.createSecret({
      Name: "novala/team-manager",
      SecretString: secretValueFor(BASE_URL, rogueKey),
    }).ARN;
    const reads = vi.spyOn(world.deps.store, "getValue");
    return { world, deploymentManager, rogueKey, rogueSecretArn, reads };
  }

  it("rotates a value that names the deployment's manager, by ARN or by name, and reads only that secret", async () => {
    const { world, deploymentManager, reads } = pinnedWorld();
    await world.rotate();

    const byName = createWorld();
    byName.deps.config.managerSecretArn = byName.managerSecretArn as string;
    byName.putKey(byName.firstKey, [AWSCURRENT], { managerSecretId: "novala/manager" });
    await byName.rotate();

    expect(world.telemetry.count("RotationsSucceeded")).toBe(1);
    expect(byName.telemetry.count("RotationsSucceeded")).toBe(1);
    expect(byName.telemetry.count("KeyClaimsRefused")).toBe(0);
    const managerReads = reads.mock.calls.filter(([id]) => id !== world.secretArn).map(([id]) => id);
    expect(new Set(managerReads)).toEqual(new Set([deploymentManager]));
  });

  it("refuses a value that names another secret holding a working manager pair: never read, nothing minted", async () => {
    const { world, rogueKey, rogueSecretArn, reads } = pinnedWorld();
    world.putKey(world.firstKey, [AWSCURRENT], { managerSecretId: rogueSecretArn });
    const keysBefore = world.novala.keys().length;

    const error = await caught(world.rotate());

    expect(error).toBeInstanceOf(RotationEndedError);
    expect((error as RotationEndedError).cause).toBeInstanceOf(KeyClaimRefusedError);
    expect(((error as RotationEndedError).cause as Error).message).toBe(
      `refused: secret ${world.secretArn} names manager secret "${rogueSecretArn}", which is not this ` +
        `deployment's manager secret ${world.managerSecretArn}`,
    );
    // The fix names the team's own secret, never the id the value wrote.
    expect((error as RotationEndedError).fix).toContain("put-key novala/acumatica");
    expect(world.telemetry.count("KeyClaimsRefused")).toBe(1);
    expect(world.telemetry.lines).toContainEqual(
      expect.objectContaining({ level: "error", message: expect.stringContaining("not this deployment's manager") }),
    );
    expect(reads.mock.calls.map(([id]) => id)).not.toContain(rogueSecretArn);
    expect(world.novala.keys()).toHaveLength(keysBefore);
    expect(world.novala.inspect(rogueKey.id)?.lastUsedAt ?? null).toBeNull();
    expect(world.novala.inspect(world.firstKey.id)?.status).toBe("active");
  });

  it("refuses a due revocation whose secret now names another manager: the retired key stays, counted", async () => {
    const world = createWorld({ graceSeconds: 3600 });
    world.deps.config.managerSecretArn = world.managerSecretArn as string;
    await world.rotate();
    const rogueKey = world.novala.seedKey({ name: "Another manager", scopes: ["api_keys.manage"] });
    const rogueSecretArn = world.secretsManager.createSecret({
      Name: "novala/team-manager",
      SecretString: secretValueFor(BASE_URL, rogueKey),
    }).ARN;
    // A writer of the secret repoints AWSCURRENT's value at its own manager before the revocation falls due.
    world.secretsManager.putSecretValue({
      SecretId: world.secretArn,
      SecretString: JSON.stringify({ ...world.valueAt(AWSCURRENT), managerSecretId: rogueSecretArn }),
      VersionStages: [AWSCURRENT],
    });
    world.clock.advance(3601_000);

    const error = await caught(world.fireDueRevocations());

    expect(error).toBeInstanceOf(KeyClaimRefusedError);
    expect(world.novala.inspect(world.firstKey.id)?.status).toBe("active");
    expect(world.novala.inspect(rogueKey.id)?.lastUsedAt ?? null).toBeNull();
    expect(world.telemetry.count("KeyClaimsRefused")).toBe(1);
  });

  it("refuses every manager secret when the deployment has none (its secrets are self-managed)", async () => {
    const world = createWorld();
    world.deps.config.managerSecretArn = null;
    const reads = vi.spyOn(world.deps.store, "getValue");

    const error = await caught(world.rotate());

    expect(error.message).toContain("but this deployment has no manager secret");
    expect(world.telemetry.count("KeyClaimsRefused")).toBe(1);
    expect(reads.mock.calls.map(([id]) => id)).not.toContain(world.managerSecretArn);
  });

  it("names the deployment's manager, not what the value wrote, when the manager key no longer works", async () => {
    const world = createWorld();
    const deploymentManager = world.managerSecretArn as string;
    world.deps.config.managerSecretArn = deploymentManager;
    // The value writes a name; the deployment knows the full ARN, which is what is read and what the fix names.
    world.putKey(world.firstKey, [AWSCURRENT], { managerSecretId: "novala/manager" });
    // Novala must be asked about the consumer's key with the manager key, which no longer works either.
    world.novala.forceRevoke(world.firstKey.id);
    world.novala.forceRevoke(world.managerKey?.id as string);

    const error = await caught(world.rotate());

    expect((error as RotationEndedError).cause).toBeInstanceOf(CurrentKeyUnusableError);
    expect(error.message).toContain(`(manager secret ${deploymentManager}) answers 401`);
    expect((error as RotationEndedError).fix).toBe(
      `Put the pair that works in with \`novala-rotation put-key ${deploymentManager} --self-managed\` and rotate again`,
    );
  });
});
