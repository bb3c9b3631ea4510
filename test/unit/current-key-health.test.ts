/** rotate's check before RotateSecret (lambdas/core/current-key-health.ts), against the in-memory world. */
import { describe, expect, it } from "vitest";
import { currentKeyHealth } from "../../lambdas/core/current-key-health.js";
import { NovalaUnavailableError } from "../../lambdas/core/errors.js";
import { createWorld, secretValue } from "../support/world.js";

describe("currentKeyHealth", () => {
  it("healthy: the current key and its manager work; a rotation may start", async () => {
    const world = createWorld();
    expect(await currentKeyHealth(world.deps, world.secretArn, "novala/acumatica")).toEqual({
      state: "healthy",
      keyId: world.firstKey.id,
      managed: true,
      managerKeyId: world.managerKey?.id,
    });
  });

  it("a dead manager key is the manager's problem: its fix names the manager secret", async () => {
    const world = createWorld();
    const manager = world.managerKey;
    if (!manager) throw new Error("a managed world has a manager key");
    world.novala.revoke(manager.secretKey, manager.id);
    const health = await currentKeyHealth(world.deps, world.secretArn, "novala/acumatica");
    expect(health).toMatchObject({ state: "unhealthy", problem: "manager-key-dead" });
    expect(health.state === "unhealthy" && health.fix).toContain(`put-key ${world.managerSecretArn}`);
  });

  it("a self-managed key that cannot mint its replacement (no api_keys.manage)", async () => {
    const world = createWorld();
    const plain = world.novala.seedKey({ name: "Self", scopes: ["leads.lead.read"] });
    const arn = world.secretsManager.createSecret({ Name: "novala/self", SecretString: secretValue(plain) }).ARN;
    const health = await currentKeyHealth(world.deps, arn, "novala/self");
    expect(health).toMatchObject({ state: "unhealthy", problem: "cannot-manage", keyId: plain.id });
    expect(health.state === "unhealthy" && health.fix).toContain("put-key novala/self --manager-secret");
  });

  it("a consumer key holding api_keys.manage is a refused claim", async () => {
    const world = createWorld({ scopes: ["leads.lead.read", "api_keys.manage"] });
    const health = await currentKeyHealth(world.deps, world.secretArn, "novala/acumatica");
    expect(health).toMatchObject({ state: "unhealthy", problem: "claim-refused" });
  });

  it("Novala unreachable: unknown, never healthy", async () => {
    const world = createWorld();
    const keys = {
      ...world.deps.keys,
      self: () => Promise.reject(new NovalaUnavailableError("GET /api/v1/api-keys/self", "ECONNREFUSED")),
    };
    expect(await currentKeyHealth({ ...world.deps, keys }, world.secretArn, "novala/acumatica")).toEqual({
      state: "unknown",
      summary: "Novala GET /api/v1/api-keys/self failed: ECONNREFUSED",
    });
  });
});
