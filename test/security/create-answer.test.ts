import { describe, expect, it } from "vitest";
import { CreateAnswerRefusedError, RotationEndedError } from "../../lambdas/core/errors.js";
import type { CreatedNovalaKey, KeyApi } from "../../lambdas/core/ports.js";
import { runRotationStep } from "../../lambdas/core/rotation.js";
import { createWorld } from "../support/world.js";

/**
 * Novala's create answer is input from a host, not a fact: an answer that does not describe exactly the key asked for
 * is never stored and ends the rotation (a retry cannot fix it); the key it made is revoked (or, when its id is
 * unusable, found by its lineage tag and revoked by the next rotation's createSecret).
 */
describe("the create answer is checked before it is stored", () => {
  const lies: [string, (created: CreatedNovalaKey) => CreatedNovalaKey][] = [
    ["more scopes than asked for", (created) => ({ ...created, scopes: [...created.scopes, "api_keys.manage"] })],
    ["another name", (created) => ({ ...created, name: "Someone else's key" })],
    ["a test-mode secret key for a live pair", (created) => ({ ...created, secretKey: `sk_test_${"a".repeat(32)}` })],
    ["a publishable key without its prefix", (created) => ({ ...created, publishableKey: "pub_123" })],
  ];

  for (const [lie, rewrite] of lies) {
    it(`refuses an answer with ${lie}, revokes the key it made, stores nothing and ends the rotation`, async () => {
      const world = createWorld();
      const made: string[] = [];
      const keys: KeyApi = Object.assign(Object.create(world.keys), {
        create: async (manager: never, request: { name: string; scopes: string[] }) => {
          const created = await world.keys.create(manager, request);
          made.push(created.id);
          return rewrite(created);
        },
      });
      const token = world.startRotation();
      const error = await runRotationStep({ ...world.deps, keys }, "createSecret", world.secretArn, token).catch(
        (caught: unknown) => caught,
      );
      expect(error).toBeInstanceOf(RotationEndedError);
      expect((error as Error).cause).toBeInstanceOf(CreateAnswerRefusedError);
      expect(made).toHaveLength(1);
      expect(world.novala.inspect(made[0] as string)?.status).toBe("revoked");
      expect(world.valueAt("AWSPENDING")).toBeUndefined();
      expect(world.stageOf("AWSPENDING")).toBeUndefined();
      expect(world.telemetry.count("KeyClaimsRefused")).toBe(1);
      expect(world.telemetry.count("RotationsEnded")).toBe(1);
    });
  }

  it("never revokes an existing key an answer names as new (the manager's or the current one)", async () => {
    const world = createWorld();
    const managerId = world.managerKey?.id as string;
    const keys: KeyApi = Object.assign(Object.create(world.keys), {
      create: async (manager: never, request: { name: string; scopes: string[] }) => ({
        ...(await world.keys.create(manager, request)),
        id: managerId,
      }),
    });
    const token = world.startRotation();
    await expect(runRotationStep({ ...world.deps, keys }, "createSecret", world.secretArn, token)).rejects.toThrow(
      /the id of an existing key .*nothing was stored/,
    );
    expect(world.novala.inspect(managerId)?.status).toBe("active");
    expect(world.novala.inspect(world.firstKey.id)?.status).toBe("active");
    // The key really made carries this rotation's lineage tag; the rotation ended, so its version lost AWSPENDING and
    // the next rotation's createSecret revokes it as an abandoned rotation's key.
    const made = world.novala.keys().filter((key) => key.name.includes(" · rot "));
    expect(made.map((key) => key.status)).toEqual(["active"]);
    expect(world.stages()[token]).toBeUndefined();
    await world.rotate();
    expect(world.novala.inspect(made[0]?.id as string)?.status).toBe("revoked");
    expect(world.activeRotatorKeys().map((key) => key.id)).toEqual([world.valueAt("AWSCURRENT")?.keyId]);
  });
});
