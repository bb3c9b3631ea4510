import { describe, expect, it } from "vitest";
import { keyClaimOf, proveClaim, reportRefusedClaim } from "../../lambdas/core/possession.js";
import { keyMetadataOf } from "../../lambdas/core/secret-value.js";
import { createWorld, type World } from "../support/world.js";

const WHERE = "AWSPREVIOUS of secret novala/acumatica";

/** A world with other teams on the tenant, and the credentials its steps act with (the manager's). */
async function tenant(options: Parameters<typeof createWorld>[0] = {}) {
  const world = createWorld({ neighbours: true, ...options });
  return { world, manager: await world.manager(), neighbours: world.neighbours as NonNullable<World["neighbours"]> };
}

describe("proveClaim: a version proves the key it names", () => {
  it("by its secret key, which authenticates as the claimed key", async () => {
    const { world, manager } = await tenant();
    const { id, secretKey } = world.firstKey;

    const proof = await proveClaim(world.deps, manager, { keyId: id, secretKey, where: WHERE });

    expect(proof).toMatchObject({ outcome: "proven", by: "secret-key", key: { id, status: "active" } });
  });

  it("by the lineage tag of this very rotation, for a key that does not authenticate yet", async () => {
    const { world, manager } = await tenant();
    world.novala.setPropagationDelayMs(60_000);
    const key = world.mintedFor("version-1", true);
    const claim = { keyId: key.id, secretKey: key.secretKey, where: WHERE };

    const proof = await proveClaim(world.deps, manager, claim, { secretArn: world.secretArn, versionId: "version-1" });

    expect(proof).toMatchObject({ outcome: "proven", by: "lineage-tag", key: { id: key.id } });
  });

  it("not by the lineage tag of another version, nor without the lineage asked for", async () => {
    const { world, manager } = await tenant();
    world.novala.setPropagationDelayMs(60_000);
    const key = world.mintedFor("version-1", true);
    const claim = { keyId: key.id, secretKey: key.secretKey, where: WHERE };
    const refused = {
      outcome: "refused",
      reason: `its secret key does not authenticate, and Novala reports key ${key.id} active`,
    };

    const otherVersion = { secretArn: world.secretArn, versionId: "version-2" };
    expect(await proveClaim(world.deps, manager, claim, otherVersion)).toEqual(refused);
    expect(await proveClaim(world.deps, manager, claim)).toEqual(refused);
  });
});

describe("proveClaim: a key that is gone needs no proof", () => {
  it("a revoked key, with or without its secret key", async () => {
    const { world, manager } = await tenant();
    world.novala.forceRevoke(world.firstKey.id);
    const { id, secretKey } = world.firstKey;

    expect(await proveClaim(world.deps, manager, { keyId: id, secretKey, where: WHERE })).toEqual({
      outcome: "gone",
      status: "revoked",
    });
    expect(await proveClaim(world.deps, manager, { keyId: id, where: WHERE })).toEqual({
      outcome: "gone",
      status: "revoked",
    });
  });

  it("a key Novala does not know", async () => {
    const { world, manager } = await tenant();

    const proof = await proveClaim(world.deps, manager, { keyId: "key_0000000000000000", where: WHERE });

    expect(proof).toEqual({ outcome: "gone", status: "unknown" });
  });
});

describe("proveClaim refuses a claim the version cannot prove", () => {
  it("a malformed key id, without asking Novala anything", async () => {
    const { world, manager } = await tenant();

    const proof = await proveClaim(world.deps, manager, { keyId: "key_../../api-keys", where: WHERE });

    expect(proof).toEqual({ outcome: "refused", reason: "the key id is malformed" });
    expect(Object.values(world.keys.calls()).every((count) => count === 0)).toBe(true);
  });

  it("the manager key, even with the manager's own secret key", async () => {
    const { world, manager, neighbours } = await tenant();
    const { id, secretKey } = neighbours.managerKey;

    const proof = await proveClaim(world.deps, manager, { keyId: id, secretKey, where: WHERE });

    expect(proof).toEqual({ outcome: "refused", reason: `key ${id} is the manager key` });
  });

  it("but a self-managed secret's own key is its own to prove", async () => {
    const world = createWorld({ managed: false });
    const { id, secretKey } = world.firstKey;

    const proof = await proveClaim(world.deps, await world.manager(), { keyId: id, secretKey, where: WHERE });

    expect(proof).toMatchObject({ outcome: "proven", by: "secret-key" });
  });

  it("a publishable key in place of the secret key: it is public, so it proves nothing", async () => {
    const { world, manager } = await tenant();
    const { id, publishableKey } = world.firstKey;

    const proof = await proveClaim(world.deps, manager, { keyId: id, secretKey: publishableKey, where: WHERE });

    expect(proof).toEqual({
      outcome: "refused",
      reason: `it holds no secret key, and Novala reports key ${id} active`,
    });
  });

  it("a secret key that authenticates as another key than the one claimed", async () => {
    const { world, manager, neighbours } = await tenant();
    const victim = neighbours.victimKey.id;
    const claim = { keyId: victim, secretKey: world.firstKey.secretKey, where: WHERE };

    const proof = await proveClaim(world.deps, manager, claim);

    expect(proof).toEqual({
      outcome: "refused",
      reason: `its secret key authenticates as key ${world.firstKey.id}, not ${victim}`,
    });
  });

  it("no secret key, or one Novala does not accept, for a key that is active", async () => {
    const { world, manager, neighbours } = await tenant();
    const bystander = neighbours.bystanderKey.id;

    expect(await proveClaim(world.deps, manager, { keyId: bystander, where: WHERE })).toEqual({
      outcome: "refused",
      reason: `it holds no secret key, and Novala reports key ${bystander} active`,
    });
    const madeUp = `sk_live_${"0".repeat(48)}`;
    expect(await proveClaim(world.deps, manager, { keyId: bystander, secretKey: madeUp, where: WHERE })).toEqual({
      outcome: "refused",
      reason: `its secret key does not authenticate, and Novala reports key ${bystander} active`,
    });
  });
});

describe("keyMetadataOf reads what a stored value may show, leniently", () => {
  it("keeps the showable fields that are strings, never a key", () => {
    const value = JSON.stringify({
      keyId: "key_1",
      name: "Acumatica Integration",
      scopes: ["pipeline", 7, "leads.lead.read"],
      createdAt: "2026-11-27T17:00:00Z",
      baseUrl: "https://acme.novala.ai",
      managerSecretId: 42,
      publishableKey: "pk_live_abcdefgh1234",
      secretKey: "sk_live_abcdefgh1234",
      extra: "kept by rotations, not shown",
    });
    expect(keyMetadataOf(value)).toEqual({
      keyId: "key_1",
      name: "Acumatica Integration",
      scopes: ["pipeline", "leads.lead.read"],
      createdAt: "2026-11-27T17:00:00Z",
      baseUrl: "https://acme.novala.ai",
    });
  });

  it.each([undefined, "not json", "null", "[]", '"key_1"'])("shows nothing of %s", (value) => {
    expect(keyMetadataOf(value)).toEqual({});
  });
});

describe("keyClaimOf reads a stored value leniently", () => {
  it("takes the key id and secret key of a value today's validation would refuse", () => {
    const value = JSON.stringify({ keyId: "key_1", secretKey: "sk_live_abc", scopes: "not a list" });

    expect(keyClaimOf(value, WHERE)).toEqual({ keyId: "key_1", secretKey: "sk_live_abc", where: WHERE });
  });

  it("keeps a malformed key id as a claim, for proveClaim to refuse", () => {
    expect(keyClaimOf(JSON.stringify({ keyId: "../x" }), WHERE)).toEqual({ keyId: "../x", where: WHERE });
  });

  it("leaves out a secret key that is empty or not a string", () => {
    expect(keyClaimOf(JSON.stringify({ keyId: "key_1", secretKey: "" }), WHERE)).toEqual({
      keyId: "key_1",
      where: WHERE,
    });
    expect(keyClaimOf(JSON.stringify({ keyId: "key_1", secretKey: 42 }), WHERE)).toEqual({
      keyId: "key_1",
      where: WHERE,
    });
  });

  it.each([
    ["no value", undefined],
    ["not JSON", "{keyId: key_1"],
    ["JSON null", "null"],
    ["a JSON list", '["key_1"]'],
    ["no key id", JSON.stringify({ secretKey: "sk_live_abc" })],
    ["an empty key id", JSON.stringify({ keyId: "" })],
    ["a key id that is not a string", JSON.stringify({ keyId: 7 })],
  ])("names no key for %s", (_label, value) => {
    expect(keyClaimOf(value, WHERE)).toBeUndefined();
  });
});

describe("reportRefusedClaim", () => {
  it("logs the refusal at error level and counts each one for the KeyClaimsRefused alarm", () => {
    const world = createWorld();

    reportRefusedClaim(world.deps, "refused to retire key key_1", { keyId: "key_1" });
    reportRefusedClaim(world.deps, "refused to retire key key_2", { keyId: "key_2" });

    expect(world.telemetry.count("KeyClaimsRefused")).toBe(2);
    expect(world.telemetry.lines).toEqual([
      { level: "error", message: "refused to retire key key_1", fields: { keyId: "key_1" } },
      { level: "error", message: "refused to retire key key_2", fields: { keyId: "key_2" } },
    ]);
  });
});
