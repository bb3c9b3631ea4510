/**
 * A rotation's Novala cost does not grow with the tenant's history: it asks the key list for its own lineage tags
 * (docs/novala-key-api.md, "Filtering the key list"), and a tenant that ignores or refuses the filter still gets a
 * correct rotation, at the old cost.
 */
import { afterEach, describe, expect, it, vi } from "vitest";
import { NovalaHttpClient } from "../../lambdas/adapters/novala/http-client.js";
import { NovalaKeyApi } from "../../lambdas/adapters/novala/key-api.js";
import { AllowedHosts } from "../../lambdas/contract/allowed-hosts.js";
import { rotationTagSuffix } from "../../lambdas/core/key-name.js";
import { runRotationStep } from "../../lambdas/core/rotation.js";
import type { NovalaModel } from "../../local/novala-model.js";
import { type NovalaSimulator, startNovalaSimulator } from "../../local/novala-simulator.js";
import { Crash, crashPoint, createWorld } from "../support/world.js";

const REVOKED_HISTORY = 10_000;
const ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:novala/acumatica-AbCdEf";

function seedHistory(model: NovalaModel, count = REVOKED_HISTORY): void {
  for (let index = 0; index < count; index++) {
    model.seedKey({
      name: `Old integration ${index} · rot ${"0".repeat(24)}`,
      scopes: ["pipeline"],
      status: "revoked",
    });
  }
}

/** Counts the key-list pages the model serves (ModelKeyApi counts one list call however many pages it reads). */
function countPages(model: NovalaModel): () => number {
  const spy = vi.spyOn(model, "list");
  return () => spy.mock.calls.length;
}

describe("a clean rotation in a tenant with 10,000 revoked keys", () => {
  it.each([
    [true, 3600],
    [false, 3600],
    [true, 0],
    [false, 0],
  ])(
    "reads no key list, the filter honoured %s, grace %i s: the same calls as in an empty tenant",
    async (filters, graceSeconds) => {
      const empty = createWorld({ graceSeconds });
      await empty.rotate();

      const world = createWorld({ graceSeconds });
      seedHistory(world.novala);
      world.novala.setListFilters(filters);
      const pages = countPages(world.novala);
      await world.rotate();
      expect(pages()).toBe(0);
      expect(world.keys.calls()).toEqual(empty.keys.calls());
      // By kind: the current key's proof (self), the create, the health check (self with the secret key and with the
      // publishable key, one probe per read scope), the old key's proof (self) before its revocation (grace 0) or its
      // schedule (a claim a writer forged is refused at the rotation, not only when the schedule falls due).
      expect(world.keys.calls()).toEqual({
        self: 4,
        get: 0,
        create: 1,
        list: 0,
        revoke: graceSeconds === 0 ? 1 : 0,
        probe: 2,
      });
    },
  );

  it("still revokes a key a crashed create left behind when the tenant ignores the filter", async () => {
    const world = createWorld();
    seedHistory(world.novala, 250);
    world.novala.setListFilters(false);
    const pages = countPages(world.novala);
    const token = world.startRotation();
    const crashing = crashPoint(world.deps, "store", "putPendingValue", "before");
    await expect(runRotationStep(crashing.deps, "createSecret", world.secretArn, token)).rejects.toThrow(Crash);
    const orphan = world.activeRotatorKeys()[0]?.id;
    await world.rotate(token);
    expect(world.novala.inspect(orphan ?? "")?.status).toBe("revoked");
    expect(world.activeRotatorKeys().map((key) => key.id)).toEqual([world.valueAt("AWSCURRENT")?.keyId]);
    // Every page of the history, read once: by the retry, which found the crashed attempt's creating mark (the first
    // attempt, a clean one, read none). Correct, at the unfiltered cost, only where a key may have been left.
    expect(pages()).toBeGreaterThanOrEqual(3);
    expect(pages()).toBeLessThan(2 * 3);
  });
});

describe("the HTTP adapter's filtered list, against the simulator", () => {
  let novala: NovalaSimulator | undefined;
  afterEach(async () => {
    await novala?.stop();
    novala = undefined;
  });

  async function setUp() {
    novala = await startNovalaSimulator();
    seedHistory(novala.model);
    const manager = novala.model.seedKey({ name: "Rotation manager", scopes: ["api_keys.manage"] });
    const mine = novala.model.seedKey({ name: `Acumatica${rotationTagSuffix(ARN, "token-1")}`, scopes: ["pipeline"] });
    const other = novala.model.seedKey({ name: `Acumatica${rotationTagSuffix(ARN, "token-2")}`, scopes: ["pipeline"] });
    const api = new NovalaKeyApi(
      new NovalaHttpClient({
        allowedHosts: new AllowedHosts(`127.0.0.1:${novala.port}`),
        connectTimeoutMs: 1000,
        requestTimeoutMs: 5000,
        retryBudgetMs: 10_000,
      }),
    );
    return { sim: novala, api, creds: { baseUrl: novala.url, bearer: manager.secretKey }, mine, other };
  }

  it("asks for the tags and reads one page", async () => {
    const { sim, api, creds, mine } = await setUp();
    const filter = { status: "active", nameSuffixes: [rotationTagSuffix(ARN, "token-1")] } as const;
    const keys = await api.list(creds, filter);
    expect(keys.map((key) => key.id)).toEqual([mine.id]);
    expect(sim.requestLog().map((entry) => entry.path)).toHaveLength(1);
    expect(sim.requestLog()[0]?.path).toContain("status=active&name_suffix=");
    await api.close();
  });

  it("filters itself when the tenant ignores the filter, and asks again without it when the tenant refuses it", async () => {
    const { sim, api, creds, mine, other } = await setUp();
    const filter = { nameSuffixes: [rotationTagSuffix(ARN, "token-1"), rotationTagSuffix(ARN, "token-2")] };
    sim.model.setListFilters(false);
    expect((await api.list(creds, filter)).map((key) => key.id).sort()).toEqual([mine.id, other.id].sort());
    expect(sim.requestLog().length).toBeGreaterThan(REVOKED_HISTORY / 100);

    sim.clearRequestLog();
    sim.injectFault({ match: "GET /api/v1/api-keys", kind: "status", status: 400, message: "unknown parameter" });
    expect((await api.list(creds, filter)).map((key) => key.id).sort()).toEqual([mine.id, other.id].sort());
    expect(sim.requestLog()[1]?.path).toBe("/api/v1/api-keys?page=1&limit=100");
    await api.close();
  });

  it("splits more tags than one request may carry, and answers an empty tag list without asking", async () => {
    const { sim, api, creds, mine } = await setUp();
    const suffixes = Array.from({ length: 120 }, (_, index) => rotationTagSuffix(ARN, `token-${index + 1}`));
    expect((await api.list(creds, { status: "active", nameSuffixes: suffixes })).length).toBe(2);
    expect(sim.requestLog()).toHaveLength(3);
    expect(await api.list(creds, { nameSuffixes: [] })).toEqual([]);
    expect(sim.requestLog()).toHaveLength(3);
    expect(mine.id).toBeTruthy();
    await api.close();
  });
});
