import { describe, expect, it } from "vitest";
import { abortRotation } from "../../lambdas/core/abort.js";
import { AWSCURRENT, AWSPENDING } from "../../lambdas/core/ports.js";
import { caught } from "../support/caught.js";
import { createWorld } from "../support/world.js";

/** A rotation stored and tested, not yet finished: its token and the pending key. */
async function pendingRotation() {
  const world = createWorld({ graceSeconds: 3600 });
  const token = world.startRotation();
  await world.step("createSecret", token);
  await world.step("testSecret", token);
  return { world, token, pendingKeyId: world.valueAt(AWSPENDING)?.keyId as string };
}

describe("abort (lambdas/core/abort.ts) against a step that runs meanwhile (concurrency suite)", () => {
  it("removes AWSPENDING before it revokes anything, so a finishSecret that starts later is refused by its guard", async () => {
    const { world, token, pendingKeyId } = await pendingRotation();
    const writes: string[] = [];
    const store = world.deps.store;
    const keys = world.deps.keys;
    const deps = {
      ...world.deps,
      store: Object.assign(Object.create(store), {
        moveStage: (...args: Parameters<typeof store.moveStage>) => {
          writes.push(`moveStage ${args[1]}`);
          return store.moveStage(...args);
        },
      }),
      keys: Object.assign(Object.create(keys), {
        revoke: (...args: Parameters<typeof keys.revoke>) => {
          writes.push("revoke");
          return keys.revoke(...args);
        },
      }),
    };

    const outcome = await abortRotation(deps, world.secretArn, token);

    expect(writes).toEqual([`moveStage ${AWSPENDING}`, "revoke"]);
    expect(outcome).toMatchObject({ pendingRemoved: true, stagesBefore: [AWSPENDING] });
    expect(world.novala.inspect(pendingKeyId)?.status).toBe("revoked");
    const late = await caught(world.step("finishSecret", token));
    expect(late.message).toMatch(/is not a version of secret .* that has a stage/);
    expect(world.valueAt(AWSCURRENT)?.keyId).toBe(world.firstKey.id);
  });

  it("aborts nothing when the rotation was promoted first (AWSCURRENT moved, AWSPENDING not yet removed)", async () => {
    const { world, token, pendingKeyId } = await pendingRotation();
    // finishSecret's promotion, before its own removal of AWSPENDING.
    world.secretsManager.updateSecretVersionStage({
      SecretId: world.secretArn,
      VersionStage: AWSCURRENT,
      MoveToVersionId: token,
      RemoveFromVersionId: world.stageOf(AWSCURRENT),
    });

    const error = await caught(abortRotation(world.deps, world.secretArn, token));

    expect(error.message).toMatch(/became AWSCURRENT of secret .*: the rotation finished; nothing was aborted/);
    expect(world.novala.inspect(pendingKeyId)?.status).toBe("active");
    expect(world.valueAt(AWSCURRENT)?.keyId).toBe(pendingKeyId);
  });
});
