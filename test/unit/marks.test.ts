import { describe, expect, it } from "vitest";
import { CREATING_TAG, marksFromTags, OUTCOME_TAG, TESTED_TAG } from "../../lambdas/contract/rotation-outcome.js";
import { UntestedVersionError } from "../../lambdas/core/errors.js";
import { AWSCURRENT, AWSPENDING } from "../../lambdas/core/ports.js";
import { runRotationStep } from "../../lambdas/core/rotation.js";
import { caught } from "../support/caught.js";
import { Crash, crashPoint, createWorld, type World } from "../support/world.js";

/** The secret's tags, as DescribeSecret returns them. */
function tagsOf(world: World) {
  return world.secretsManager.describeSecret({ SecretId: world.secretArn }).Tags ?? [];
}

function marksOf(world: World) {
  return marksFromTags(tagsOf(world));
}

/** Writes a tag on the secret, as anyone holding TagResource on it could. */
function forgeTag(world: World, key: string, value: string) {
  world.secretsManager.tagResource({ SecretId: world.secretArn, Tags: [{ Key: key, Value: value }] });
}

function statusOf(world: World, keyId: string | undefined) {
  return keyId ? world.novala.inspect(keyId)?.status : undefined;
}

/** The status of every neighbour's key (another team's secrets, the manager): none may ever change. */
function neighbourStatuses(world: World) {
  const n = world.neighbours;
  if (!n) throw new Error("the world has no neighbours");
  return [n.managerKey, n.victimKey, n.victimOldKey, n.bystanderKey].map((key) => [key.id, statusOf(world, key.id)]);
}

describe("the creating mark: a clean rotation lists nothing", () => {
  it("the first and the next rotations read no key list; each mark is cleared once the rotation finished", async () => {
    const world = createWorld();
    await world.rotate();
    world.clock.advance(31 * 86_400_000);
    await world.rotate();

    expect(world.keys.calls().list).toBe(0);
    expect(marksOf(world)).toEqual({ creating: "", tested: "" });
  });

  it("a retry of createSecret that finds its own token marked lists and revokes the key the crashed attempt made", async () => {
    const world = createWorld();
    const token = world.startRotation();
    const crashing = crashPoint(world.deps, "store", "putPendingValue", "before");
    await expect(runRotationStep(crashing.deps, "createSecret", world.secretArn, token)).rejects.toThrow(Crash);
    const orphan = world.activeRotatorKeys()[0]?.id;
    expect(marksOf(world).creating).toBe(token);

    await world.rotate(token);

    expect(world.keys.calls().list).toBe(1);
    expect(statusOf(world, orphan)).toBe("revoked");
    expect(world.activeRotatorKeys().map((key) => key.id)).toEqual([world.valueAt(AWSCURRENT)?.keyId]);
  });

  it("another, unfinished token marked: the keys its abandoned rotation left are revoked", async () => {
    const world = createWorld();
    const abandoned = world.startRotation();
    await world.step("createSecret", abandoned);
    const left = world.valueAt(AWSPENDING)?.keyId as string;
    // Secrets Manager gives the rotation up (someone put a value in the middle of it): its version loses AWSPENDING.
    world.secretsManager.updateSecretVersionStage({
      SecretId: world.secretArn,
      VersionStage: AWSPENDING,
      RemoveFromVersionId: abandoned,
    });

    await world.rotate();

    expect(statusOf(world, left)).toBe("revoked");
    expect(world.keys.calls().list).toBe(1);
  });

  it("a secret rotated before the marks (no creating tag) is looked at as before them, once", async () => {
    const world = createWorld();
    await world.rotate();
    world.secretsManager.untagResource({ SecretId: world.secretArn, TagKeys: [CREATING_TAG, TESTED_TAG] });
    const token = world.startRotation();
    const crashing = crashPoint(world.deps, "keys", "create", "after");
    await expect(runRotationStep(crashing.deps, "createSecret", world.secretArn, token)).rejects.toThrow(Crash);
    // The crash came after the mark: put it back to "rotated before the marks" (an attempt of the old code).
    world.secretsManager.untagResource({ SecretId: world.secretArn, TagKeys: [CREATING_TAG] });
    const orphan = world.activeRotatorKeys().find((key) => key.id !== world.valueAt(AWSCURRENT)?.keyId)?.id;

    await world.rotate(token);
    const listsAfterUpgrade = world.keys.calls().list;
    await world.rotate();

    expect(statusOf(world, orphan)).toBe("revoked");
    expect(world.activeRotatorKeys().map((key) => key.id)).toEqual([world.valueAt(AWSCURRENT)?.keyId]);
    // Unsure once (the token's keys and abandoned versions'), then the marks carry it: no more lists.
    expect(listsAfterUpgrade).toBeGreaterThan(0);
    expect(world.keys.calls().list).toBe(listsAfterUpgrade);
  });

  it("a mark that cannot be written fails createSecret before anything is minted", async () => {
    const world = createWorld();
    const token = world.startRotation();
    const store = Object.assign(Object.create(world.deps.store), {
      record: async () => {
        throw new Error("TagResource: AccessDeniedException (simulated)");
      },
    });

    const error = await caught(runRotationStep({ ...world.deps, store }, "createSecret", world.secretArn, token));

    expect(error.message).toContain("AccessDeniedException");
    expect(world.keys.calls().create).toBe(0);
    expect(world.activeRotatorKeys()).toEqual([]);
  });
});

describe("forged marks (whoever may tag the secret)", () => {
  it.each([
    ["names the rotation's own token", (_world: World, token: string) => token],
    ["names another team's version", (world: World) => world.neighbours?.victimVersions.current ?? ""],
    ["names an unknown token", () => "f00dfeed-0000-4000-8000-000000000000"],
  ])("a creating mark that %s costs a list at most: no neighbour's key changes", async (_label, forged) => {
    const world = createWorld({ neighbours: true });
    await world.rotate();
    const retired = world.valueAt(AWSCURRENT)?.keyId as string;
    const neighbours = neighbourStatuses(world);
    const created = world.keys.calls().create;
    const token = world.startRotation();
    forgeTag(world, CREATING_TAG, forged(world, token));

    await world.rotate(token);

    expect(world.stageOf(AWSCURRENT)).toBe(token);
    expect(neighbourStatuses(world)).toEqual(neighbours);
    expect(statusOf(world, retired)).toBe("revoked");
    expect(world.keys.calls().create).toBe(created + 1);
  });

  it("a tested mark naming another version gets no untested version promoted", async () => {
    const world = createWorld({ neighbours: true });
    const token = world.startRotation();
    await world.step("createSecret", token);
    forgeTag(world, TESTED_TAG, world.neighbours?.victimVersions.current ?? "");

    const error = await caught(world.step("finishSecret", token));

    expect(error).toBeInstanceOf(UntestedVersionError);
    expect(world.stageOf(AWSCURRENT)).not.toBe(token);
  });

  it("a tested mark written before a failed health check is cleared by the rollback: nothing is promoted", async () => {
    const world = createWorld();
    const token = world.startRotation();
    await world.step("createSecret", token);
    forgeTag(world, TESTED_TAG, token);
    world.novala.revoke(world.managerKey?.secretKey, world.valueAt(AWSPENDING)?.keyId as string);

    await expect(world.step("testSecret", token)).rejects.toThrow();
    expect(marksOf(world).tested).toBe("");
    expect(world.stageOf(AWSCURRENT)).not.toBe(token);
  });
});

describe("the tested mark: finishSecret promotes only a version testSecret passed", () => {
  it("refuses a version createSecret filled but no testSecret passed: nothing promoted or revoked, counted", async () => {
    const world = createWorld({ graceSeconds: 0 });
    const token = world.startRotation();
    await world.step("createSecret", token);
    const pending = world.valueAt(AWSPENDING)?.keyId as string;

    const error = await caught(world.step("finishSecret", token));

    expect(error).toBeInstanceOf(UntestedVersionError);
    expect(error.message).toContain(`refused to promote version ${token}`);
    expect(world.stageOf(AWSPENDING)).toBe(token);
    expect(world.stageOf(AWSCURRENT)).not.toBe(token);
    expect(statusOf(world, world.firstKey.id)).toBe("active");
    expect(statusOf(world, pending)).toBe("active");
    expect(world.keys.calls().revoke).toBe(0);
    expect(world.telemetry.count("PromotionsRefused")).toBe(1);
    // The refusal is recorded as the step's failure, and testSecret then finishSecret go on.
    expect(tagsOf(world).find((tag) => tag.Key === OUTCOME_TAG)?.Value).toMatch(/^failed finishSecret /);
    await world.step("testSecret", token);
    await world.step("finishSecret", token);
    expect(world.stageOf(AWSCURRENT)).toBe(token);
  });

  it("Secrets Manager's retry of the whole rotation with the same token still finishes", async () => {
    const world = createWorld();
    const token = world.startRotation();
    await world.step("createSecret", token);
    await world.step("setSecret", token);
    await world.step("testSecret", token);
    const crashing = crashPoint(world.deps, "store", "moveStage", "before");
    await expect(runRotationStep(crashing.deps, "finishSecret", world.secretArn, token)).rejects.toThrow(Crash);

    await world.rotate(token);

    expect(world.stageOf(AWSCURRENT)).toBe(token);
    expect(world.keys.calls().create).toBe(1);
    expect(marksOf(world)).toEqual({ creating: "", tested: "" });
  });

  it("Secrets Manager's configuration test (AWSPENDING holds the current key) passes testSecret", async () => {
    const world = createWorld();
    const token = world.startRotation(undefined, false);
    world.secretsManager.putSecretValue({
      SecretId: world.secretArn,
      ClientRequestToken: token,
      SecretString: world.secretsManager.getSecretValue({ SecretId: world.secretArn }).SecretString ?? "",
      VersionStages: [AWSPENDING],
    });

    await world.step("testSecret", token);

    expect(marksOf(world).tested).toBe(token);
    expect(statusOf(world, world.firstKey.id)).toBe("active");
  });
});

describe("a step the guard refuses records nothing", () => {
  it.each(["createSecret", "setSecret", "testSecret", "finishSecret"] as const)("%s", async (step) => {
    const world = createWorld();
    await world.rotate();
    const before = tagsOf(world);

    await expect(world.step(step, "not-a-rotation-of-this-secret")).rejects.toThrow();

    expect(tagsOf(world)).toEqual(before);
  });
});
