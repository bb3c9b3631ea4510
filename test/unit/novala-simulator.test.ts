/**
 * The Novala simulator over real HTTP on loopback (undici): the key-management contract of docs/novala-key-api.md, its
 * switches (latency, propagation delay, rate limit) and each injected fault kind, and that its request log never holds
 * key material.
 */
import { Agent, request } from "undici";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { CreatedNovalaKey, NovalaKey } from "../../lambdas/core/ports.js";
import {
  type NovalaSimulator,
  type NovalaSimulatorOptions,
  startNovalaSimulator,
} from "../../local/novala-simulator.js";

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: unknown;
}

let sim: NovalaSimulator;
let agent: Agent;
let manager: CreatedNovalaKey;
let consumer: CreatedNovalaKey;
let clock: number;

async function start(options: NovalaSimulatorOptions = {}): Promise<void> {
  clock = Date.parse("2026-11-27T17:00:00Z");
  sim = await startNovalaSimulator({ now: () => clock, ...options });
  manager = sim.model.seedKey({ name: "Manager", scopes: ["api_keys.manage"] });
  consumer = sim.model.seedKey({ name: "Consumer", scopes: ["leads.lead.read", "pipeline"] });
}

async function call(
  method: "GET" | "POST" | "DELETE" | "PUT",
  path: string,
  options: { bearer?: string; body?: unknown; rawBody?: string; timeoutMs?: number } = {},
): Promise<Reply> {
  const headers: Record<string, string> = {};
  if (options.bearer !== undefined) headers.authorization = `Bearer ${options.bearer}`;
  let body: string | undefined = options.rawBody;
  if (options.body !== undefined) {
    body = JSON.stringify(options.body);
    headers["content-type"] = "application/json";
  }
  const response = await request(`${sim.url}${path}`, {
    method,
    headers,
    body,
    dispatcher: agent,
    signal: options.timeoutMs === undefined ? undefined : AbortSignal.timeout(options.timeoutMs),
  });
  const text = await response.body.text();
  return { status: response.statusCode, headers: response.headers, body: text === "" ? undefined : JSON.parse(text) };
}

function createKey(name: string, scopes: string[], bearer = manager.secretKey): Promise<Reply> {
  return call("POST", "/api/v1/api-keys", { bearer, body: { name, scopes } });
}

beforeEach(async () => {
  agent = new Agent({ keepAliveTimeout: 10_000 });
  await start();
});

afterEach(async () => {
  await sim.stop();
  await agent.close();
});

describe("authentication and authorisation", () => {
  it("answers 401 for a missing, malformed, unknown or revoked key", async () => {
    expect(await call("GET", "/api/v1/api-keys/self")).toMatchObject({ status: 401, body: { error: "Unauthorized" } });
    expect((await call("GET", "/api/v1/api-keys/self", { bearer: "sk_live_doesnotexist" })).status).toBe(401);
    const malformed = await request(`${sim.url}/api/v1/api-keys/self`, {
      headers: { authorization: `Basic ${consumer.secretKey}` },
      dispatcher: agent,
    });
    await malformed.body.text();
    expect(malformed.statusCode).toBe(401);

    expect((await call("GET", "/api/v1/api-keys/self", { bearer: consumer.secretKey })).status).toBe(200);
    expect((await call("DELETE", `/api/v1/api-keys/${consumer.id}`, { bearer: manager.secretKey })).status).toBe(204);
    expect(await call("GET", "/api/v1/api-keys/self", { bearer: consumer.secretKey })).toMatchObject({
      status: 401,
      body: { error: "Unauthorized" },
    });
    expect((await call("GET", "/api/v1/api-keys/self", { bearer: consumer.publishableKey })).status).toBe(401);
  });

  it("answers 403 when the caller lacks api_keys.manage or a probe's scope", async () => {
    expect(await createKey("x", ["pipeline"], consumer.secretKey)).toMatchObject({
      status: 403,
      body: { error: "Forbidden" },
    });
    expect((await call("GET", "/api/v1/api-keys", { bearer: consumer.secretKey })).status).toBe(403);
    expect((await call("DELETE", `/api/v1/api-keys/${manager.id}`, { bearer: consumer.secretKey })).status).toBe(403);
    expect((await call("GET", `/api/v1/api-keys/${manager.id}`, { bearer: consumer.secretKey })).status).toBe(403);
    // The publishable key of a manager pair cannot manage keys.
    expect((await createKey("x", ["pipeline"], manager.publishableKey)).status).toBe(403);
    expect((await call("GET", "/api/bookings/resources?limit=1", { bearer: consumer.secretKey })).status).toBe(403);
    expect(sim.model.keys()).toHaveLength(2);
  });
});

describe("lastUsedAt, which the due revocation reads", () => {
  it("records every authenticated request of a key, on every route, with the simulator's clock", async () => {
    const managerCalls: [string, "GET" | "POST" | "DELETE", unknown?][] = [
      ["GET /api/v1/api-keys/self", "GET"],
      ["GET /api/v1/api-keys", "GET"],
      [`GET /api/v1/api-keys/${consumer.id}`, "GET"],
      ["POST /api/v1/api-keys", "POST", { name: "x", scopes: ["pipeline"] }],
      ["DELETE /api/v1/api-keys/key_unknown", "DELETE"],
    ];
    for (const [route, method, body] of managerCalls) {
      clock += 60_000;
      await call(method, route.slice(route.indexOf(" ") + 1), { bearer: manager.secretKey, body });
      expect(sim.model.inspect(manager.id)?.lastUsedAt, route).toBe(new Date(clock).toISOString());
    }
    // A consumer's probe, its publishable key, and a probe it is forbidden: each is a use of the pair.
    for (const [path, bearer] of [
      ["/api/v1/leads?limit=1", consumer.secretKey],
      ["/api/v1/pipeline/deals?limit=1", consumer.publishableKey],
      ["/api/bookings/resources?limit=1", consumer.secretKey],
      [`/api/v1/api-keys/${consumer.id}`, consumer.secretKey],
    ] as const) {
      clock += 60_000;
      await call("GET", path, { bearer });
      expect(sim.model.inspect(consumer.id)?.lastUsedAt, path).toBe(new Date(clock).toISOString());
    }
  });

  it("a manager reading another key's record does not touch that key's lastUsedAt", async () => {
    await call("GET", "/api/v1/leads?limit=1", { bearer: consumer.secretKey });
    const usedAt = new Date(clock).toISOString();
    clock += 3_600_000;
    const read = await call("GET", `/api/v1/api-keys/${consumer.id}`, { bearer: manager.secretKey });
    expect((read.body as { data: NovalaKey }).data.lastUsedAt).toBe(usedAt);
    expect(sim.model.inspect(consumer.id)?.lastUsedAt).toBe(usedAt);
    expect(sim.model.inspect(manager.id)?.lastUsedAt).toBe(new Date(clock).toISOString());
  });

  it("a failed authentication is no use, and useKey records a consumer's use at a simulated time", async () => {
    await call("GET", "/api/v1/leads?limit=1", { bearer: `${consumer.secretKey}x` });
    expect(sim.model.inspect(consumer.id)?.lastUsedAt).toBeNull();
    const at = new Date("2026-11-27T18:30:00Z");
    expect(sim.model.useKey(consumer.secretKey, at).ok).toBe(true);
    expect(sim.model.inspect(consumer.id)?.lastUsedAt).toBe(at.toISOString());
    sim.model.forceRevoke(consumer.id);
    expect(sim.model.useKey(consumer.secretKey).ok).toBe(false);
    expect(sim.model.inspect(consumer.id)?.lastUsedAt).toBe(at.toISOString());
  });
});

describe("key management", () => {
  it("creates a key pair that introspects to itself and whose secret is never shown again", async () => {
    const created = await createKey("Acumatica Integration · rot a1b2c3d4e5", ["leads.lead.read", "pipeline"]);
    expect(created.status).toBe(201);
    const data = (created.body as { data: CreatedNovalaKey }).data;
    expect(data).toMatchObject({
      name: "Acumatica Integration · rot a1b2c3d4e5",
      scopes: ["leads.lead.read", "pipeline"],
      status: "active",
      lastUsedAt: null,
    });
    expect(data.id).toMatch(/^key_[0-9a-f]+$/);
    expect(data.secretKey).toMatch(/^sk_live_[A-Za-z0-9]+$/);
    expect(data.publishableKey).toMatch(/^pk_live_[A-Za-z0-9]+$/);
    expect(new Date(data.createdAt).toISOString()).toBe(data.createdAt);

    const self = await call("GET", "/api/v1/api-keys/self", { bearer: data.secretKey });
    expect(self.status).toBe(200);
    const selfKey = (self.body as { data: NovalaKey }).data;
    expect(selfKey.id).toBe(data.id);
    expect(selfKey.lastUsedAt).toBe(new Date(clock).toISOString());
    expect(JSON.stringify(self.body)).not.toContain(data.secretKey);
    const viaManager = await call("GET", `/api/v1/api-keys/${data.id}`, { bearer: manager.secretKey });
    expect(JSON.stringify(viaManager.body)).not.toContain(data.secretKey);
    expect(sim.model.issuedKeyMaterial()).toEqual(expect.arrayContaining([data.secretKey, data.publishableKey]));
  });

  it("creates test-mode keys for a test-mode manager", async () => {
    const testManager = sim.model.seedKey({ name: "Test manager", scopes: ["api_keys.manage"], mode: "test" });
    const created = await createKey("t", ["pipeline"], testManager.secretKey);
    const data = (created.body as { data: CreatedNovalaKey }).data;
    expect(data.secretKey.startsWith("sk_test_")).toBe(true);
    expect(data.publishableKey.startsWith("pk_test_")).toBe(true);
  });

  it("answers 400 for an unknown scope or a bad body, and creates nothing", async () => {
    expect(await createKey("x", ["leads.lead.read", "leads.lead.write"])).toMatchObject({
      status: 400,
      body: { error: expect.stringContaining("leads.lead.write") },
    });
    expect((await createKey("", ["pipeline"])).status).toBe(400);
    expect((await createKey("x", [])).status).toBe(400);
    expect((await call("POST", "/api/v1/api-keys", { bearer: manager.secretKey, rawBody: "{nope" })).status).toBe(400);
    expect((await call("POST", "/api/v1/api-keys", { bearer: manager.secretKey, body: [1] })).status).toBe(400);
    // Authentication comes before the body check.
    expect((await call("POST", "/api/v1/api-keys", { rawBody: "{nope" })).status).toBe(401);
    expect(sim.model.keys()).toHaveLength(2);
  });

  it("knows extra scopes when configured", async () => {
    await sim.stop();
    await start({ extraScopes: ["invoices.read"] });
    expect((await createKey("x", ["invoices.read"])).status).toBe(201);
  });

  it("lists active and revoked keys in creation order with offset pagination", async () => {
    const ids = [manager.id, consumer.id];
    for (let i = 0; i < 5; i++) {
      const created = await createKey(`k${i}`, ["pipeline"]);
      ids.push((created.body as { data: NovalaKey }).data.id);
    }
    await call("DELETE", `/api/v1/api-keys/${ids[3]}`, { bearer: manager.secretKey });

    const pages: NovalaKey[] = [];
    for (let page = 1; page <= 4; page++) {
      const reply = await call("GET", `/api/v1/api-keys?page=${page}&limit=2`, { bearer: manager.secretKey });
      expect(reply.status).toBe(200);
      const body = reply.body as { data: NovalaKey[]; total: number; page: number; pageSize: number };
      expect(body).toMatchObject({ total: 7, page, pageSize: 2 });
      expect(body.data.length).toBe(page < 4 ? 2 : 1);
      pages.push(...body.data);
    }
    expect(pages.map((key) => key.id)).toEqual(ids);
    expect(pages[3]?.status).toBe("revoked");
    expect(JSON.stringify(pages)).not.toMatch(/sk_live_/);

    const beyond = await call("GET", "/api/v1/api-keys?page=9&limit=2", { bearer: manager.secretKey });
    expect(beyond.body).toMatchObject({ data: [], total: 7, page: 9 });
    const defaults = await call("GET", "/api/v1/api-keys", { bearer: manager.secretKey });
    expect(defaults.body).toMatchObject({ total: 7, page: 1, pageSize: 25 });
    expect((await call("GET", "/api/v1/api-keys?limit=100", { bearer: manager.secretKey })).status).toBe(200);
    for (const query of ["limit=101", "limit=0", "page=0", "page=x", "limit=2.5"]) {
      expect((await call("GET", `/api/v1/api-keys?${query}`, { bearer: manager.secretKey })).status).toBe(400);
    }
  });

  it("reads a key as its manager or as the key itself, and answers 404 for an unknown id", async () => {
    const asManager = await call("GET", `/api/v1/api-keys/${consumer.id}`, { bearer: manager.secretKey });
    expect(asManager).toMatchObject({ status: 200, body: { data: { id: consumer.id, scopes: consumer.scopes } } });
    const asItself = await call("GET", `/api/v1/api-keys/${consumer.id}`, { bearer: consumer.publishableKey });
    expect(asItself).toMatchObject({ status: 200, body: { data: { id: consumer.id } } });
    expect(await call("GET", "/api/v1/api-keys/key_unknown", { bearer: manager.secretKey })).toMatchObject({
      status: 404,
      body: { error: "Not found" },
    });
  });

  it("revokes with 204, then answers 404 for the revoked or an unknown key", async () => {
    expect(await call("DELETE", `/api/v1/api-keys/${consumer.id}`, { bearer: manager.secretKey })).toMatchObject({
      status: 204,
      body: undefined,
    });
    expect((await call("DELETE", `/api/v1/api-keys/${consumer.id}`, { bearer: manager.secretKey })).status).toBe(404);
    expect((await call("DELETE", "/api/v1/api-keys/key_unknown", { bearer: manager.secretKey })).status).toBe(404);
    const read = await call("GET", `/api/v1/api-keys/${consumer.id}`, { bearer: manager.secretKey });
    expect(read.body).toMatchObject({ data: { id: consumer.id, status: "revoked" } });
  });

  it("introspects a publishable key to the pair it belongs to", async () => {
    const reply = await call("GET", "/api/v1/api-keys/self", { bearer: consumer.publishableKey });
    expect(reply).toMatchObject({
      status: 200,
      body: {
        data: { id: consumer.id, publishableKey: consumer.publishableKey, scopes: ["leads.lead.read", "pipeline"] },
      },
    });
    expect(JSON.stringify(reply.body)).not.toContain(consumer.secretKey);
  });

  it("answers 404 for unknown routes and 405 for a wrong method", async () => {
    expect((await call("GET", "/api/v1/nothing", { bearer: manager.secretKey })).status).toBe(404);
    expect((await call("PUT", `/api/v1/api-keys/${consumer.id}`, { bearer: manager.secretKey })).status).toBe(405);
  });
});

describe("scope probes", () => {
  it("answers 200 with the scope and 403 without it, for either key of the pair", async () => {
    const both = sim.model.seedKey({ name: "Bookings", scopes: ["bookings.read"] });
    for (const bearer of [consumer.secretKey, consumer.publishableKey]) {
      expect(await call("GET", "/api/v1/leads?limit=1", { bearer })).toMatchObject({
        status: 200,
        body: { data: [], pageSize: 1 },
      });
      expect((await call("GET", "/api/v1/pipeline/deals?limit=1", { bearer })).status).toBe(200);
      expect((await call("GET", "/api/bookings/resources?limit=1", { bearer })).status).toBe(403);
    }
    expect((await call("GET", "/api/bookings/resources?limit=1", { bearer: both.secretKey })).status).toBe(200);
    expect((await call("GET", "/api/v1/leads?limit=1", { bearer: both.secretKey })).status).toBe(403);
    expect((await call("GET", "/api/v1/leads?limit=1", { bearer: "sk_live_nope" })).status).toBe(401);
  });
});

describe("switches", () => {
  it("propagation delay: a new key answers 401 until the delay has passed, while its manager sees it active", async () => {
    sim.setSwitches({ propagationDelayMs: 5_000 });
    const data = ((await createKey("new", ["pipeline"])).body as { data: CreatedNovalaKey }).data;
    expect((await call("GET", "/api/v1/api-keys/self", { bearer: data.secretKey })).status).toBe(401);
    expect((await call("GET", "/api/v1/pipeline/deals?limit=1", { bearer: data.secretKey })).status).toBe(401);
    expect((await call("GET", "/api/v1/api-keys/self", { bearer: data.publishableKey })).status).toBe(401);
    expect((await call("GET", `/api/v1/api-keys/${data.id}`, { bearer: manager.secretKey })).body).toMatchObject({
      data: { status: "active" },
    });
    clock += 4_999;
    expect((await call("GET", "/api/v1/api-keys/self", { bearer: data.secretKey })).status).toBe(401);
    clock += 1;
    expect((await call("GET", "/api/v1/api-keys/self", { bearer: data.secretKey })).status).toBe(200);
    // Seeded keys work at once.
    expect((await call("GET", "/api/v1/api-keys/self", { bearer: manager.secretKey })).status).toBe(200);
  });

  it("propagation delay with the real clock", async () => {
    await sim.stop();
    sim = await startNovalaSimulator({ propagationDelayMs: 150 });
    manager = sim.model.seedKey({ name: "Manager", scopes: ["api_keys.manage"] });
    const data = ((await createKey("new", ["pipeline"])).body as { data: CreatedNovalaKey }).data;
    expect((await call("GET", "/api/v1/api-keys/self", { bearer: data.secretKey })).status).toBe(401);
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect((await call("GET", "/api/v1/api-keys/self", { bearer: data.secretKey })).status).toBe(200);
  });

  it("rate limit: 429 with Retry-After once the bucket is empty, then recovers", async () => {
    sim.setSwitches({ rateLimitPerSecond: 3 });
    for (let i = 0; i < 3; i++) {
      expect((await call("GET", "/api/v1/api-keys/self", { bearer: consumer.secretKey })).status).toBe(200);
    }
    const limited = await call("GET", "/api/v1/api-keys/self", { bearer: consumer.secretKey });
    expect(limited).toMatchObject({ status: 429, body: { error: "Too many requests" } });
    expect(limited.headers["retry-after"]).toBe("1");
    // The rate limit is per tenant: another key is limited as well, and a POST is not performed.
    expect((await createKey("x", ["pipeline"])).status).toBe(429);
    expect(sim.model.keys()).toHaveLength(2);
    clock += 340;
    expect((await call("GET", "/api/v1/api-keys/self", { bearer: consumer.secretKey })).status).toBe(200);
    expect((await call("GET", "/api/v1/api-keys/self", { bearer: consumer.secretKey })).status).toBe(429);
    clock += 1_000;
    expect((await call("GET", "/api/v1/api-keys/self", { bearer: consumer.secretKey })).status).toBe(200);
    expect(sim.requestLog().filter((entry) => entry.rateLimited)).toHaveLength(3);

    sim.setSwitches({ retryAfterHeader: false, rateLimitPerSecond: 1 });
    expect((await call("GET", "/api/v1/api-keys/self", { bearer: consumer.secretKey })).status).toBe(200);
    const bare = await call("GET", "/api/v1/api-keys/self", { bearer: consumer.secretKey });
    expect(bare.status).toBe(429);
    expect(bare.headers["retry-after"]).toBeUndefined();

    sim.setSwitches({ rateLimitPerSecond: null });
    for (let i = 0; i < 5; i++) {
      expect((await call("GET", "/api/v1/api-keys/self", { bearer: consumer.secretKey })).status).toBe(200);
    }
  });

  it("latency is added to every answer", async () => {
    sim.setSwitches({ latencyMs: 80 });
    const started = performance.now();
    expect((await call("GET", "/api/v1/api-keys/self", { bearer: consumer.secretKey })).status).toBe(200);
    expect(performance.now() - started).toBeGreaterThanOrEqual(75);
    expect(sim.switches()).toMatchObject({ latencyMs: 80, retryAfterHeader: true, rateLimitPerSecond: null });
  });

  it("rejects invalid switch values", () => {
    expect(() => sim.setSwitches({ latencyMs: -1 })).toThrow();
    expect(() => sim.setSwitches({ rateLimitPerSecond: Number.NaN })).toThrow();
  });
});

describe("injected faults", () => {
  it("status: answers the status (with Retry-After) count times and does nothing", async () => {
    sim.injectFault({ match: "POST /api/v1/api-keys", kind: "status", status: 503, retryAfterSeconds: 2, count: 2 });
    for (let i = 0; i < 2; i++) {
      const reply = await createKey("x", ["pipeline"]);
      expect(reply.status).toBe(503);
      expect(reply.headers["retry-after"]).toBe("2");
      expect(reply.body).toEqual({ error: expect.any(String) });
    }
    expect(sim.model.keys()).toHaveLength(2);
    expect((await createKey("x", ["pipeline"])).status).toBe(201);
    expect(sim.pendingFaults()).toEqual([]);
  });

  it("matches route templates, concrete paths and wildcards, and only the given method", async () => {
    sim.injectFault({ match: "GET /api/v1/api-keys/{id}", kind: "status", status: 500 });
    expect((await call("GET", "/api/v1/api-keys/self", { bearer: consumer.secretKey })).status).toBe(200);
    expect((await call("DELETE", `/api/v1/api-keys/${consumer.id}`, { bearer: manager.secretKey })).status).toBe(204);
    expect((await call("GET", `/api/v1/api-keys/${consumer.id}`, { bearer: manager.secretKey })).status).toBe(500);

    sim.injectFault({ match: `DELETE /api/v1/api-keys/${manager.id}`, kind: "status", status: 502 });
    expect((await call("DELETE", "/api/v1/api-keys/key_other", { bearer: manager.secretKey })).status).toBe(404);
    expect(sim.pendingFaults()).toEqual([
      { match: `DELETE /api/v1/api-keys/${manager.id}`, kind: "status", remaining: 1 },
    ]);
    sim.clearFaults();

    sim.injectFault({ match: "GET /api/v1/api-keys/*", kind: "status", status: 429, count: 2 });
    expect((await call("GET", "/api/v1/api-keys/self", { bearer: manager.secretKey })).status).toBe(429);
    expect((await call("GET", "/api/v1/api-keys/key_x", { bearer: manager.secretKey })).status).toBe(429);
    expect((await call("GET", "/api/v1/api-keys/self", { bearer: manager.secretKey })).status).toBe(200);

    sim.injectFault({ match: "* *", kind: "status", status: 500 });
    expect((await call("GET", "/api/v1/leads?limit=1", { bearer: consumer.secretKey })).status).toBe(500);
    expect(() => sim.injectFault({ match: "api-keys", kind: "reset" })).toThrow(/METHOD/);
    expect(() => sim.injectFault({ match: "GET /x", kind: "reset", count: 0 })).toThrow();
  });

  it("reset: destroys the connection without answering or acting", async () => {
    sim.injectFault({ match: "POST /api/v1/api-keys", kind: "reset" });
    await expect(createKey("x", ["pipeline"])).rejects.toThrow();
    expect(sim.model.keys()).toHaveLength(2);
    expect(sim.requestLog().at(-1)).toMatchObject({ route: "POST /api/v1/api-keys", outcome: "reset", fault: "reset" });
    expect((await createKey("x", ["pipeline"])).status).toBe(201);
  });

  it("hang: answers nothing for longer than the client waits, and does nothing", async () => {
    sim.injectFault({ match: "POST /api/v1/api-keys", kind: "hang", ms: 5_000 });
    const started = performance.now();
    await expect(
      call("POST", "/api/v1/api-keys", {
        bearer: manager.secretKey,
        body: { name: "x", scopes: ["pipeline"] },
        timeoutMs: 150,
      }),
    ).rejects.toMatchObject({ name: "TimeoutError" });
    expect(performance.now() - started).toBeLessThan(2_000);
    expect(sim.model.keys()).toHaveLength(2);
    expect(sim.requestLog().at(-1)).toMatchObject({ outcome: "hang", fault: "hang" });
  });

  it("hang with perform: the create times out on the client but the key exists", async () => {
    sim.injectFault({ match: "POST /api/v1/api-keys", kind: "hang", ms: 5_000, perform: true });
    await expect(
      call("POST", "/api/v1/api-keys", {
        bearer: manager.secretKey,
        body: { name: "timed out", scopes: ["pipeline"] },
        timeoutMs: 150,
      }),
    ).rejects.toMatchObject({ name: "TimeoutError" });
    expect(sim.model.keys().map((key) => key.name)).toContain("timed out");
  });

  it("hang ends by closing the socket after ms", async () => {
    sim.injectFault({ match: "GET /api/v1/api-keys/self", kind: "hang", ms: 100 });
    const started = performance.now();
    await expect(call("GET", "/api/v1/api-keys/self", { bearer: consumer.secretKey })).rejects.toMatchObject({
      code: "UND_ERR_SOCKET",
    });
    expect(performance.now() - started).toBeGreaterThanOrEqual(90);
  });

  it("lose-answer: performs the create, then destroys the socket", async () => {
    sim.injectFault({ match: "POST /api/v1/api-keys", kind: "lose-answer" });
    await expect(createKey("lost answer", ["pipeline"])).rejects.toMatchObject({ code: "UND_ERR_SOCKET" });
    const lost = sim.model.keys().find((key) => key.name === "lost answer");
    expect(lost).toMatchObject({ status: "active", scopes: ["pipeline"] });
    expect(sim.requestLog().at(-1)).toMatchObject({ outcome: "lost", status: 201, fault: "lose-answer" });
    const listed = await call("GET", "/api/v1/api-keys", { bearer: manager.secretKey });
    expect((listed.body as { data: NovalaKey[] }).data.map((key) => key.id)).toContain(lost?.id);
  });

  it("lose-answer on a revoke: the key is revoked although the client saw no answer", async () => {
    sim.injectFault({ match: "DELETE /api/v1/api-keys/{id}", kind: "lose-answer" });
    await expect(call("DELETE", `/api/v1/api-keys/${consumer.id}`, { bearer: manager.secretKey })).rejects.toThrow();
    expect(sim.model.inspect(consumer.id)?.status).toBe("revoked");
    expect((await call("DELETE", `/api/v1/api-keys/${consumer.id}`, { bearer: manager.secretKey })).status).toBe(404);
  });
});

describe("request log, counters and stop", () => {
  it("records method, path, route and status per request, and never key material", async () => {
    await call("GET", "/api/v1/api-keys/self", { bearer: consumer.secretKey });
    await createKey("x", ["pipeline"]);
    await call("GET", "/api/v1/api-keys?page=1&limit=5", { bearer: manager.secretKey });
    await call("GET", "/api/v1/leads?limit=1", { bearer: consumer.publishableKey });
    // A careless client that puts a key into the path.
    await call("GET", `/api/v1/api-keys/${consumer.secretKey}`, { bearer: manager.secretKey });
    await call("DELETE", `/api/v1/api-keys/${consumer.publishableKey}`, { bearer: manager.secretKey });
    sim.injectFault({ match: "POST /api/v1/api-keys", kind: "lose-answer" });
    await createKey("y", ["pipeline"]).catch(() => undefined);

    const log = sim.requestLog();
    expect(log.map((entry) => [entry.method, entry.route, entry.status])).toEqual([
      ["GET", "GET /api/v1/api-keys/self", 200],
      ["POST", "POST /api/v1/api-keys", 201],
      ["GET", "GET /api/v1/api-keys", 200],
      ["GET", "GET /api/v1/leads", 200],
      ["GET", "GET /api/v1/api-keys/{id}", 404],
      ["DELETE", "DELETE /api/v1/api-keys/{id}", 404],
      ["POST", "POST /api/v1/api-keys", 201],
    ]);
    expect(log[2]?.path).toBe("/api/v1/api-keys?page=1&limit=5");
    expect(log[4]?.path).toBe(`/api/v1/api-keys/sk_live_…${consumer.secretKey.slice(-4)}`);
    const text = JSON.stringify(log);
    const material = sim.model.issuedKeyMaterial();
    expect(material.length).toBeGreaterThanOrEqual(8);
    for (const key of material) expect(text).not.toContain(key);
    expect(text).not.toMatch(/authorization|bearer/i);

    expect(sim.counters()).toEqual({
      "GET /api/v1/api-keys/self": 1,
      "POST /api/v1/api-keys": 2,
      "GET /api/v1/api-keys": 1,
      "GET /api/v1/leads": 1,
      "GET /api/v1/api-keys/{id}": 1,
      "DELETE /api/v1/api-keys/{id}": 1,
    });
    sim.clearRequestLog();
    expect(sim.requestLog()).toEqual([]);
    expect(sim.counters()).toEqual({});
  });

  it("stops promptly with keep-alive sockets and hanging requests open, and twice", async () => {
    await call("GET", "/api/v1/api-keys/self", { bearer: consumer.secretKey });
    sim.injectFault({ match: "GET /api/v1/api-keys/self", kind: "hang", ms: 30_000 });
    const hanging = call("GET", "/api/v1/api-keys/self", { bearer: consumer.secretKey }).catch((error) => error);
    await new Promise((resolve) => setTimeout(resolve, 50));
    const started = performance.now();
    await sim.stop();
    expect(performance.now() - started).toBeLessThan(1_000);
    expect(await hanging).toBeInstanceOf(Error);
    await sim.stop();
    await expect(call("GET", "/api/v1/api-keys/self", { bearer: consumer.secretKey })).rejects.toThrow();
  });
});
