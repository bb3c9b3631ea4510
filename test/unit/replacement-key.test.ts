import { describe, expect, it } from "vitest";
import { marksFromTags } from "../../lambdas/contract/rotation-outcome.js";
import { replacementKeyName, revocationScheduleName } from "../../lambdas/core/key-name.js";
import { AWSPENDING, type CreatedNovalaKey } from "../../lambdas/core/ports.js";
import {
  createReplacementKey,
  type Leftovers,
  leftoversToCheck,
  provenScopes,
  revokeUnstoredKeys,
} from "../../lambdas/core/replacement-key.js";
import { caught } from "../support/caught.js";
import { CONSUMER_SCOPES, createWorld, type World } from "../support/world.js";

function statusOf(world: World, keyId: string) {
  return world.novala.inspect(keyId)?.status;
}

/** What provenScopes answers for the world's secret as it stands, with the credentials a step would act with. */
async function scopesOf(world: World) {
  return provenScopes(world.deps, world.secretArn, await world.current(), await world.manager());
}

describe("provenScopes: the scopes a replacement key gets", () => {
  it("are Novala's, not a stored list that disagrees (the disagreement is logged)", async () => {
    const world = createWorld();
    world.putKey(world.firstKey, undefined, { scopes: ["pipeline"] });

    expect(await scopesOf(world)).toEqual(CONSUMER_SCOPES);
    expect(world.telemetry.lines).toContainEqual(
      expect.objectContaining({ level: "warn", fields: expect.objectContaining({ stored: ["pipeline"] }) }),
    );
  });

  it("include api_keys.manage for a self-managed secret, whose key mints its own replacement", async () => {
    const world = createWorld({ managed: false });

    expect(await scopesOf(world)).toEqual([...CONSUMER_SCOPES, "api_keys.manage"]);
  });

  it("are refused, and counted, for a consumer of a manager whose key holds api_keys.manage", async () => {
    const world = createWorld();
    const powerful = world.novala.seedKey({ name: "Acumatica Integration", scopes: ["pipeline", "api_keys.manage"] });
    world.putKey(powerful);

    const error = await caught(scopesOf(world));

    expect(error.message).toBe(
      `refused to rotate: key ${powerful.id} of a consumer secret holds api_keys.manage; only the manager may`,
    );
    expect(world.telemetry.count("KeyClaimsRefused")).toBe(1);
  });

  it("are refused, and counted, when AWSCURRENT claims another team's key", async () => {
    const world = createWorld({ neighbours: true });
    const victim = world.neighbours?.victimKey.id as string;
    world.putKey(world.firstKey, undefined, { keyId: victim });

    const error = await caught(scopesOf(world));

    expect(error.message).toBe(
      `refused to rotate: AWSCURRENT of secret ${world.secretArn} claims key ${victim}, but its secret key ` +
        `authenticates as key ${world.firstKey.id}, not ${victim}`,
    );
    expect(world.telemetry.count("KeyClaimsRefused")).toBe(1);
  });
});

describe("provenScopes on a dead key names the put-key command that fixes it", () => {
  it("a consumer's current key revoked outside the rotator", async () => {
    const world = createWorld();
    world.novala.forceRevoke(world.firstKey.id);

    const error = await caught(scopesOf(world));

    expect(error.message).toBe(
      `the current key ${world.firstKey.id} is revoked at Novala: it was rotated or revoked outside this rotator. ` +
        `Put the pair that works in with \`novala-rotation put-key ${world.secretArn}\` and rotate again`,
    );
  });

  it("a self-managed secret's key, which can no longer even ask Novala about itself", async () => {
    const world = createWorld({ managed: false });
    world.novala.forceRevoke(world.firstKey.id);

    const error = await caught(scopesOf(world));

    expect(error.message).toContain(`the current key ${world.firstKey.id} of self-managed secret ${world.secretArn}`);
    expect(error.message).toContain("answers 401 at Novala");
    expect(error.message).toContain(`\`novala-rotation put-key ${world.secretArn} --self-managed\``);
  });

  it("the manager key, when Novala must be asked about the consumer's key with it", async () => {
    const world = createWorld();
    world.novala.forceRevoke(world.firstKey.id);
    world.novala.forceRevoke(world.managerKey?.id as string);

    const error = await caught(scopesOf(world));

    expect(error.message).toContain(
      `the manager key ${world.managerKey?.id} (manager secret ${world.managerSecretArn})`,
    );
    expect(error.message).toContain("answers 401 at Novala");
    expect(error.message).toContain(`\`novala-rotation put-key ${world.managerSecretArn} --self-managed\``);
  });
});

/** A version that lost every label before its rotation finished (Secrets Manager gave the rotation up). */
function abandonedVersion(world: World): string {
  const token = world.startRotation();
  world.secretsManager.updateSecretVersionStage({
    SecretId: world.secretArn,
    VersionStage: AWSPENDING,
    RemoveFromVersionId: token,
  });
  return token;
}

/** revokeUnstoredKeys for "version-1", whose value holds `storedKeyId`. */
async function revokeUnstored(world: World, storedKeyId: string, leftBehind?: string[]) {
  const manager = await world.manager();
  await revokeUnstoredKeys(
    world.deps,
    manager,
    world.secretArn,
    await world.current(),
    "version-1",
    storedKeyId,
    leftBehind,
  );
}

/** createReplacementKey for `token`, looking for what `leftovers` says (by default: nothing, a clean rotation). */
async function replacement(world: World, token: string, deps = world.deps, leftovers: Leftovers = "none") {
  return createReplacementKey(
    deps,
    await world.manager(),
    world.secretArn,
    await world.current(),
    CONSUMER_SCOPES,
    token,
    leftovers,
  );
}

describe("createReplacementKey", () => {
  it("creates the key asked for: the secret's name with this rotation's tag, the proven scopes, active", async () => {
    const world = createWorld();

    const { created, leftBehind } = await replacement(world, "version-1");

    expect(leftBehind).toEqual([]);
    expect(created).toMatchObject({
      name: replacementKeyName("Acumatica Integration", world.secretArn, "version-1"),
      scopes: CONSUMER_SCOPES,
      status: "active",
    });
    expect(world.activeRotatorKeys().map((key) => key.id)).toEqual([created.id]);
  });

  it("leaves a key minted for the same token alive and names it (a delivery still running may store it)", async () => {
    const world = createWorld();
    const leftover = world.mintedFor("version-1");

    const { created, leftBehind } = await replacement(world, "version-1", world.deps, "this-token");

    expect(leftBehind).toEqual([leftover.id]);
    expect(statusOf(world, leftover.id)).toBe("active");
    // Once the version holds a value, revokeUnstoredKeys revokes every other key minted for the token.
    await revokeUnstored(world, created.id, leftBehind);
    expect(world.activeRotatorKeys().map((key) => key.id)).toEqual([created.id]);
  });

  it("revokeUnstoredKeys, left nothing to go by, lists the token's keys and never revokes the stored one", async () => {
    const world = createWorld();
    const stored = world.mintedFor("version-1");
    const other = world.mintedFor("version-1");

    await revokeUnstored(world, stored.id);

    expect(statusOf(world, other.id)).toBe("revoked");
    expect(world.activeRotatorKeys().map((key) => key.id)).toEqual([stored.id]);
  });

  it("revokes the keys of abandoned versions, except one whose revocation is scheduled (its grace period)", async () => {
    const world = createWorld({ graceSeconds: 3600, neighbours: true });
    const stranded = world.mintedFor(abandonedVersion(world));
    const retiredVersion = abandonedVersion(world);
    const inGrace = world.mintedFor(retiredVersion);
    const revokeAt = new Date(world.clock.now().getTime() + 3600_000);
    await world.deps.scheduler.ensureScheduled(revocationScheduleName(world.secretArn, inGrace.id), revokeAt, {
      secretId: world.secretArn,
      keyId: inGrace.id,
      versionId: retiredVersion,
      rotationToken: "a later rotation",
      revokeAfter: revokeAt.toISOString(),
    });
    const victim = world.neighbours?.victimKey.id as string;

    await replacement(world, "version-1", world.deps, "abandoned");

    expect(statusOf(world, stranded.id)).toBe("revoked");
    expect(statusOf(world, inGrace.id)).toBe("active");
    expect(statusOf(world, victim)).toBe("active");
    expect(statusOf(world, world.firstKey.id)).toBe("active");
  });

  it("reconciles a create whose answer was lost: the key it made is found by its tag and named in leftBehind", async () => {
    const world = createWorld();
    world.keys.injectFailure({ operation: "create", kind: "outcome-unknown" });

    const { created, leftBehind } = await replacement(world, "version-1");

    const tagged = world.novala.keys().filter((key) => key.name === created.name);
    expect(tagged.map((key) => [key.id === created.id, key.status])).toEqual([
      [false, "active"],
      [true, "active"],
    ]);
    expect(leftBehind).toEqual([tagged.find((key) => key.id !== created.id)?.id]);
  });

  it("gives up after three lost answers, leaving the tagged keys to the step that stores the token's value", async () => {
    const world = createWorld();
    world.keys.injectFailure({ operation: "create", kind: "outcome-unknown", count: 3 });

    const error = await caught(replacement(world, "version-1"));

    expect(error.name).toBe("CreateOutcomeUnknownError");
    // Revoking them now could revoke a key a concurrent delivery of createSecret is storing.
    expect(world.activeRotatorKeys()).toHaveLength(3);
  });
});

describe("the creating mark (issue 20: a clean rotation lists nothing)", () => {
  /** The world's deps, counting key lists, and noting the creating mark the secret carries at each create. */
  function watched(world: World) {
    const seen = { lists: 0, markAtCreate: [] as (string | undefined)[] };
    const keys = world.keysWith({
      list: async (manager, filter) => {
        seen.lists++;
        return world.keys.list(manager, filter);
      },
      create: async (manager, request) => {
        seen.markAtCreate.push(
          marksFromTags(world.secretsManager.describeSecret({ SecretId: world.secretArn }).Tags).creating,
        );
        return world.keys.create(manager, request);
      },
    });
    return { seen, deps: { ...world.deps, keys } };
  }

  it("a clean rotation reads no key list, and its token is marked, durably, before the create", async () => {
    const world = createWorld({ neighbours: true });
    const { seen, deps } = watched(world);

    await replacement(world, "version-1", deps);

    expect(seen).toEqual({ lists: 0, markAtCreate: ["version-1"] });
  });

  it("a mark it cannot write fails before anything is made", async () => {
    const world = createWorld();
    const store = Object.assign(Object.create(world.deps.store), {
      record: async () => {
        throw new Error("TagResource: ThrottlingException (simulated)");
      },
    });

    const error = await caught(replacement(world, "version-1", { ...world.deps, store }));

    expect(error.message).toContain("ThrottlingException");
    expect(world.activeRotatorKeys()).toEqual([]);
  });

  it("looks for an earlier attempt's keys only when its own token is marked", async () => {
    const world = createWorld();
    const leftover = world.mintedFor("version-1");
    const { seen, deps } = watched(world);

    const clean = await replacement(world, "version-1", deps, "none");
    expect(clean.leftBehind).toEqual([]);
    const retried = await replacement(world, "version-1", deps, "this-token");
    expect(retried.leftBehind).toContain(leftover.id);
    expect(seen.lists).toBe(1);
  });

  it("an abandoned rotation's sweep reads no key list when no version lost its labels", async () => {
    const world = createWorld();
    const { seen, deps } = watched(world);

    await replacement(world, "version-1", deps, "abandoned");

    expect(seen.lists).toBe(0);
  });

  it("leftoversToCheck: the token itself, another unfinished token, none, a finished one, or unsure", () => {
    const check = (creating: string | undefined, stages: Record<string, string[]> = {}) =>
      leftoversToCheck({ marks: creating === undefined ? {} : { creating }, versionStages: stages }, "t2");
    // No tag at all: a secret never rotated has nothing to look for; one rotated before the marks (or whose tag was
    // removed) is looked at as before them.
    expect(check(undefined, { t0: ["AWSCURRENT"], t2: ["AWSPENDING"] })).toBe("none");
    expect(check(undefined, { t0: ["AWSPREVIOUS"], t1: ["AWSCURRENT"], t2: ["AWSPENDING"] })).toBe("unsure");
    expect(check("", { t0: ["AWSPREVIOUS"], t1: ["AWSCURRENT"] })).toBe("none");
    expect(check("")).toBe("none");
    expect(check("t2")).toBe("this-token");
    expect(check("t1")).toBe("abandoned");
    expect(check("t1", { t1: ["AWSPREVIOUS"] })).toBe("abandoned");
    // Finished (AWSCURRENT), though its record that clears the mark was lost.
    expect(check("t1", { t1: ["AWSCURRENT"] })).toBe("none");
  });
});

describe("createReplacementKey checks Novala's create answer", () => {
  /** The world's deps, whose Novala answers a create with the key it really made, changed by `change`. */
  function answering(world: World, change: Partial<CreatedNovalaKey>) {
    const keys = world.keysWith({
      create: async (manager, request) => ({ ...(await world.keys.create(manager, request)), ...change }),
    });
    return { ...world.deps, keys };
  }

  /** The keys Novala really made (the rotator's tag), whatever the answers said. */
  function made(world: World) {
    return world.novala.keys().filter((key) => key.name.startsWith("Acumatica Integration · rot"));
  }

  it.each<[string, Partial<CreatedNovalaKey>, RegExp]>([
    [
      "other scopes than asked",
      { scopes: ["pipeline", "api_keys.manage"] },
      /scopes \[pipeline,api_keys.manage\] instead of/,
    ],
    ["another name than asked", { name: "Someone else" }, /another name than asked for/],
    ["a test key for a live secret", { secretKey: `sk_test_${"a".repeat(48)}` }, /a secret key that is not sk_live_/],
  ])("revokes the new key and fails when the answer describes %s", async (_label, change, message) => {
    const world = createWorld();

    const error = await caught(replacement(world, "version-1", answering(world, change)));

    expect(error.message).toMatch(message);
    expect(error.message).toContain("the new key was revoked");
    expect(made(world).map((key) => key.status)).toEqual(["revoked"]);
    expect(world.telemetry.count("KeyClaimsRefused")).toBe(1);
  });

  it("never revokes the current key when the answer names it", async () => {
    const world = createWorld();

    const error = await caught(replacement(world, "version-1", answering(world, { id: world.firstKey.id })));

    expect(error.message).toBe(
      `Novala's create answer describes the id of an existing key (${world.firstKey.id}); nothing was stored, nothing was revoked`,
    );
    expect(statusOf(world, world.firstKey.id)).toBe("active");
    // The key Novala really made is left for the retried step, which finds it by its tag.
    expect(made(world).map((key) => key.status)).toEqual(["active"]);
  });
});
