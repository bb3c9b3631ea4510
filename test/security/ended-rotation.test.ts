/**
 * Ending a rotation (issue 16, item 5) acts on two things only: the key this very create made (revoked when Novala
 * proves it is that one) and AWSPENDING of this rotation's own version. A writer of the secret, who can forge its
 * values and move AWSPENDING with put-secret-value, and a create answer that names another key, gain nothing from it.
 */
import { describe, expect, it } from "vitest";
import { RotationEndedError } from "../../lambdas/core/errors.js";
import type { KeyApi, SecretStore } from "../../lambdas/core/ports.js";
import { runRotationStep } from "../../lambdas/core/rotation.js";
import { createWorld, type World } from "../support/world.js";

/** Every key on the tenant with its status, to compare before and after. */
function statuses(world: World): Record<string, string> {
  return Object.fromEntries(world.novala.keys().map((key) => [key.id, key.status]));
}

function stagesOf(world: World, secretId: string) {
  return world.secretsManager.describeSecret({ SecretId: secretId }).VersionIdsToStages;
}

describe("ending a rotation cannot be turned against another key or version", () => {
  it("a forged AWSCURRENT claiming another team's key: ended, nothing minted or revoked, only this AWSPENDING removed", async () => {
    const world = createWorld({ neighbours: true });
    const victim = world.neighbours?.victimKey;
    const own = JSON.parse(world.secretsManager.getSecretValue({ SecretId: world.secretArn }).SecretString ?? "{}");
    world.secretsManager.putSecretValue({
      SecretId: world.secretArn,
      SecretString: JSON.stringify({ ...own, keyId: victim?.id }),
    });
    const victimStages = stagesOf(world, world.neighbours?.victimSecretArn as string);
    const before = statuses(world);
    const token = world.startRotation();
    const error = await world.step("createSecret", token).catch((caught: Error) => caught);
    expect(error).toBeInstanceOf(RotationEndedError);
    expect(error?.message).toMatch(/claims key key_\w+, but its secret key authenticates as key/);
    expect(world.keys.calls()).toMatchObject({ create: 0, revoke: 0 });
    expect(statuses(world)).toEqual(before);
    expect(stagesOf(world, world.neighbours?.victimSecretArn as string)).toEqual(victimStages);
    expect(world.stages()[token]).toBeUndefined();
    expect(world.telemetry.count("KeyClaimsRefused")).toBe(1);
  });

  it("a writer who moved AWSPENDING onto a version of its own meanwhile keeps it: the ending removes only its own", async () => {
    const world = createWorld({ neighbours: true });
    world.secretsManager.putSecretValue({ SecretId: world.secretArn, SecretString: "{forged" });
    const token = world.startRotation();
    const victim = world.neighbours?.victimKey;
    let forged: string | undefined;
    // Between the guard and the ending, the writer puts a value of its own as AWSPENDING (naming the victim's key).
    const store: SecretStore = Object.assign(Object.create(world.deps.store), {
      getValue: async (id: string, ref: Parameters<SecretStore["getValue"]>[1]) => {
        if (ref.stage === "AWSCURRENT" && forged === undefined) {
          forged = world.secretsManager.putSecretValue({
            SecretId: world.secretArn,
            SecretString: JSON.stringify({ keyId: victim?.id, secretKey: victim?.secretKey }),
            VersionStages: ["AWSPENDING"],
          }).VersionId;
        }
        return world.deps.store.getValue(id, ref);
      },
    });
    const before = statuses(world);
    const error = await runRotationStep({ ...world.deps, store }, "createSecret", world.secretArn, token).catch(
      (caught: Error) => caught,
    );
    expect(error).toBeInstanceOf(RotationEndedError);
    expect(error?.message).toContain(`AWSPENDING was already off version ${token}`);
    expect(world.stages()[forged as string]).toEqual(["AWSPENDING"]);
    expect(statuses(world)).toEqual(before);
    expect(world.keys.calls().revoke).toBe(0);
  });

  it("a create answer naming another team's key (with other scopes): that key is not revoked; the one made is, later", async () => {
    const world = createWorld({ neighbours: true });
    const victim = world.neighbours?.victimKey;
    const made: string[] = [];
    const keys: KeyApi = Object.assign(Object.create(world.keys), {
      create: async (manager: never, request: { name: string; scopes: string[] }) => {
        const created = await world.keys.create(manager, request);
        made.push(created.id);
        return { ...created, id: victim?.id, scopes: ["bookings.read"] };
      },
    });
    const token = world.startRotation();
    const error = await runRotationStep({ ...world.deps, keys }, "createSecret", world.secretArn, token).catch(
      (caught: Error) => caught,
    );
    expect(error).toBeInstanceOf(RotationEndedError);
    expect(error?.message).toMatch(/nothing was stored, key key_\w+ was not revoked: its secret key authenticates as/);
    expect(world.novala.inspect(victim?.id as string)?.status).toBe("active");
    expect(world.stages()[token]).toBeUndefined();
    // The key really made carries this rotation's lineage tag: the next rotation revokes it as an ended one's.
    expect(world.novala.inspect(made[0] as string)?.status).toBe("active");
    await world.rotate();
    expect(world.novala.inspect(made[0] as string)?.status).toBe("revoked");
    expect(world.novala.inspect(victim?.id as string)?.status).toBe("active");
  });
});
