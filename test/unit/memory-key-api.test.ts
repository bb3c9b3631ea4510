/**
 * ModelKeyApi: the KeyApi over the in-process Novala model, which unit tests of the rotation use in place of the HTTP
 * adapter. Checks that it answers as that adapter does (errors, 404 handling, paging, probes) and leaks no key.
 */
import { beforeEach, describe, expect, it } from "vitest";
import {
  CreateOutcomeUnknownError,
  KeyUnauthorizedError,
  NovalaUnavailableError,
} from "../../lambdas/adapters/novala/errors.js";
import type { CreatedNovalaKey, NovalaCredentials } from "../../lambdas/core/ports.js";
import { NovalaModel } from "../../local/novala-model.js";
import { ModelKeyApi } from "../support/memory-key-api.js";

const BASE_URL = "https://acme.novala.ai";

let clock: number;
let model: NovalaModel;
let api: ModelKeyApi;
let manager: CreatedNovalaKey;
let consumer: CreatedNovalaKey;
let asManager: NovalaCredentials;
let asConsumer: NovalaCredentials;
const messages: string[] = [];

function creds(bearer: string): NovalaCredentials {
  return { baseUrl: BASE_URL, bearer };
}

/** Awaits a rejection and returns the error, recording its message for the leak check. */
async function failure(promise: Promise<unknown>): Promise<Error> {
  const error = await promise.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  if (!(error instanceof Error)) throw new Error("expected a rejection");
  messages.push(error.message);
  return error;
}

beforeEach(() => {
  clock = Date.parse("2026-11-27T17:00:00Z");
  model = new NovalaModel({ now: () => clock });
  api = new ModelKeyApi(model);
  manager = model.seedKey({ name: "Manager", scopes: ["api_keys.manage"] });
  consumer = model.seedKey({ name: "Consumer", scopes: ["leads.lead.read", "pipeline"] });
  asManager = creds(manager.secretKey);
  asConsumer = creds(consumer.secretKey);
});

describe("self", () => {
  it("introspects a secret or a publishable key to its pair", async () => {
    expect(await api.self(asConsumer)).toMatchObject({ id: consumer.id, scopes: ["leads.lead.read", "pipeline"] });
    expect((await api.self(creds(consumer.publishableKey))).id).toBe(consumer.id);
    expect(await api.self(asConsumer)).not.toHaveProperty("secretKey");
  });

  it("throws KeyUnauthorizedError (401) for an unknown or revoked key", async () => {
    const unknown = await failure(api.self(creds("sk_live_unknown")));
    expect(unknown).toBeInstanceOf(KeyUnauthorizedError);
    expect(unknown).toMatchObject({ status: 401, operation: "self" });
    model.forceRevoke(consumer.id);
    expect(await failure(api.self(asConsumer))).toMatchObject({ status: 401 });
  });

  it("ignores baseUrl: the model is one tenant", async () => {
    expect((await api.self({ baseUrl: "https://other.novala.ai", bearer: consumer.secretKey })).id).toBe(consumer.id);
  });
});

describe("create", () => {
  it("creates a key with exactly the requested scopes, returning the secret once", async () => {
    const created = await api.create(asManager, { name: "Consumer · rot 0123456789", scopes: ["pipeline"] });
    expect(created).toMatchObject({ name: "Consumer · rot 0123456789", scopes: ["pipeline"], status: "active" });
    expect(created.secretKey).toMatch(/^sk_live_/);
    expect((await api.self(creds(created.secretKey))).id).toBe(created.id);
    expect(await api.get(asManager, created.id)).not.toHaveProperty("secretKey");
  });

  it("throws NovalaHttpError 400 for an unknown scope and 403 for a non-manager", async () => {
    expect(await failure(api.create(asManager, { name: "x", scopes: ["nope.read"] }))).toMatchObject({
      status: 400,
      operation: "create",
    });
    expect(await failure(api.create(asConsumer, { name: "x", scopes: ["pipeline"] }))).toMatchObject({ status: 403 });
    expect(await failure(api.create(creds(manager.publishableKey), { name: "x", scopes: ["pipeline"] }))).toMatchObject(
      { status: 403 },
    );
    expect(model.keys()).toHaveLength(2);
  });

  it("a new key answers 401 until the propagation delay has passed", async () => {
    model.setPropagationDelayMs(2_000);
    const created = await api.create(asManager, { name: "new", scopes: ["pipeline"] });
    expect(await failure(api.self(creds(created.secretKey)))).toMatchObject({ status: 401 });
    expect(await failure(api.probe(creds(created.secretKey), "pipeline"))).toMatchObject({ status: 401 });
    expect((await api.get(asManager, created.id))?.status).toBe("active");
    clock += 2_000;
    expect((await api.self(creds(created.secretKey))).id).toBe(created.id);
  });
});

describe("get, list and revoke", () => {
  it("get: resolves the key, undefined on 404, and throws 403 for another key without the scope", async () => {
    expect(await api.get(asManager, consumer.id)).toMatchObject({ id: consumer.id, status: "active" });
    expect(await api.get(asManager, "key_unknown")).toBeUndefined();
    expect((await api.get(asConsumer, consumer.id))?.id).toBe(consumer.id);
    expect(await failure(api.get(asConsumer, manager.id))).toMatchObject({ status: 403, operation: "get" });
    expect(await failure(api.get(creds("sk_live_unknown"), consumer.id))).toMatchObject({ status: 401 });
  });

  it("list: every key across pages, active and revoked, in creation order", async () => {
    const ids = [manager.id, consumer.id];
    for (let i = 0; i < 230; i++) ids.push(model.seedKey({ name: `k${i}`, scopes: ["pipeline"] }).id);
    model.forceRevoke(ids[150] ?? "");
    const keys = await api.list(asManager);
    expect(keys.map((key) => key.id)).toEqual(ids);
    expect(keys[150]?.status).toBe("revoked");
    expect(await failure(api.list(asConsumer))).toMatchObject({ status: 403, operation: "list" });
  });

  it("revoke: 'revoked', then 'already-revoked'; unknown is 'already-revoked'; revocation is immediate", async () => {
    expect(await api.revoke(asManager, consumer.id)).toBe("revoked");
    expect(await api.revoke(asManager, consumer.id)).toBe("already-revoked");
    expect(await api.revoke(asManager, "key_unknown")).toBe("already-revoked");
    expect(await failure(api.self(asConsumer))).toMatchObject({ status: 401 });
    const other = model.seedKey({ name: "other", scopes: ["pipeline"] });
    expect(await failure(api.revoke(asConsumer, other.id))).toMatchObject({ status: 401 });
    expect(await failure(api.revoke(creds(other.secretKey), manager.id))).toMatchObject({ status: 403 });
    expect(model.inspect(manager.id)?.status).toBe("active");
  });
});

describe("probe", () => {
  it("answers ok with the scope, no-probe without a read endpoint, and throws 403 / 401", async () => {
    expect(await api.probe(asConsumer, "leads.lead.read")).toBe("ok");
    expect(await api.probe(asConsumer, "pipeline")).toBe("ok");
    expect(await api.probe(asManager, "api_keys.manage")).toBe("no-probe");
    expect(await failure(api.probe(asConsumer, "bookings.read"))).toMatchObject({ status: 403, operation: "probe" });
    model.forceRevoke(consumer.id);
    expect(await failure(api.probe(asConsumer, "pipeline"))).toMatchObject({ status: 401 });
  });
});

describe("injected failures", () => {
  it("outcome-unknown: the key is created but the caller gets CreateOutcomeUnknownError", async () => {
    api.injectFailure({ operation: "create", kind: "outcome-unknown" });
    const error = await failure(api.create(asManager, { name: "tagged · rot 0123456789", scopes: ["pipeline"] }));
    expect(error).toBeInstanceOf(CreateOutcomeUnknownError);
    expect(model.keys().map((key) => key.name)).toContain("tagged · rot 0123456789");
    expect((await api.create(asManager, { name: "again", scopes: ["pipeline"] })).name).toBe("again");
  });

  it("outcome-unknown-not-created and unavailable do nothing", async () => {
    api.injectFailure({ operation: "create", kind: "outcome-unknown-not-created" });
    api.injectFailure({ operation: "revoke", kind: "unavailable", count: 2 });
    expect(await failure(api.create(asManager, { name: "x", scopes: ["pipeline"] }))).toBeInstanceOf(
      CreateOutcomeUnknownError,
    );
    expect(model.keys()).toHaveLength(2);
    for (let i = 0; i < 2; i++) {
      expect(await failure(api.revoke(asManager, consumer.id))).toBeInstanceOf(NovalaUnavailableError);
    }
    expect(model.inspect(consumer.id)?.status).toBe("active");
    expect(await api.revoke(asManager, consumer.id)).toBe("revoked");
    expect(api.calls()).toMatchObject({ create: 1, revoke: 3 });
    expect(() => api.injectFailure({ operation: "get", kind: "outcome-unknown" })).toThrow();
  });
});

describe("secrecy", () => {
  it("no error message carries key material", async () => {
    await failure(api.self(creds("sk_live_unknownkey1234")));
    await failure(api.create(asConsumer, { name: "x", scopes: ["pipeline"] }));
    await failure(api.probe(asConsumer, "bookings.read"));
    expect(messages.length).toBeGreaterThan(0);
    const material = [...model.issuedKeyMaterial(), "sk_live_unknownkey1234"];
    expect(material.length).toBeGreaterThanOrEqual(4);
    for (const message of messages) {
      for (const key of material) expect(message).not.toContain(key);
    }
  });
});
