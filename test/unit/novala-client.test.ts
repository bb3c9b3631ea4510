/**
 * The Novala HTTP client and key adapter against raw node:http servers on 127.0.0.1:0 with scripted answers. Raw
 * servers (not the simulator) let each test misbehave precisely: reset a socket after the request arrived, stall the
 * body, redirect, echo a key in an error. Sleep and jitter are injected, so waits are asserted rather than waited.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { createServer as createNetServer, type Socket } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import {
  CreateOutcomeUnknownError,
  KeyUnauthorizedError,
  NovalaHttpError,
  NovalaUnavailableError,
  RetryAfterAboveCapError,
} from "../../lambdas/adapters/novala/errors.js";
import {
  type AttemptRecord,
  MAX_RETRY_AFTER_MS,
  NovalaHttpClient,
  parseRetryAfter,
} from "../../lambdas/adapters/novala/http-client.js";
import { NovalaKeyApi } from "../../lambdas/adapters/novala/key-api.js";
import { AllowedHosts } from "../../lambdas/contract/allowed-hosts.js";
import type { NovalaClientConfig } from "../../lambdas/contract/configuration.js";
import { HostNotAllowedError, InvalidInputError } from "../../lambdas/contract/errors.js";
import type { NovalaCredentials } from "../../lambdas/core/ports.js";
import { caught } from "../support/caught.js";

const BEARER = "sk_live_BearerTokenThatMustNeverLeak0001";
const ECHOED_SECRET = "sk_live_EchoedSecretThatMustNeverLeak9999";

interface Received {
  method: string;
  url: string;
  headers: IncomingMessage["headers"];
  body: string;
}

type Handler = (req: IncomingMessage, res: ServerResponse, received: Received) => void;

interface TestServer {
  port: number;
  baseUrl: string;
  requests: Received[];
  connections: number;
}

const cleanups: (() => Promise<void> | void)[] = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** Answers the n-th request with handlers[n], and the last handler for any after that. */
async function startServer(handlers: Handler[], port = 0): Promise<TestServer> {
  const state: TestServer = { port: 0, baseUrl: "", requests: [], connections: 0 };
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      const received = {
        method: req.method ?? "",
        url: req.url ?? "",
        headers: req.headers,
        body: Buffer.concat(chunks).toString(),
      };
      state.requests.push(received);
      const handler = handlers[Math.min(state.requests.length - 1, handlers.length - 1)];
      handler?.(req, res, received);
    });
  });
  server.on("connection", () => {
    state.connections++;
  });
  await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
  const address = server.address();
  if (address === null || typeof address === "string") throw new Error("no port");
  state.port = address.port;
  state.baseUrl = `http://127.0.0.1:${address.port}`;
  cleanups.push(
    () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  );
  return state;
}

/** A TCP server that accepts and never says a word: a TLS handshake against it never finishes. */
async function startSilentServer(): Promise<{ port: number; requests: number }> {
  const sockets: Socket[] = [];
  const state = { port: 0, requests: 0 };
  const server = createNetServer((socket) => {
    sockets.push(socket);
    socket.on("data", () => {
      state.requests++;
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  if (address === null || typeof address === "string") throw new Error("no port");
  state.port = address.port;
  cleanups.push(
    () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  );
  return state;
}

async function freePort(): Promise<number> {
  const server = createNetServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  if (address === null || typeof address === "string") throw new Error("no port");
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return address.port;
}

function json(status: number, body?: unknown, headers: Record<string, string> = {}): Handler {
  return (_req, res) => {
    res.writeHead(status, { ...(body === undefined ? {} : { "content-type": "application/json" }), ...headers });
    res.end(body === undefined ? undefined : JSON.stringify(body));
  };
}

const reset: Handler = (req) => {
  req.socket.destroy();
};

/** Reads the request and never answers. */
const hang: Handler = () => {};

function key(id: string, extra: Record<string, unknown> = {}) {
  return {
    id,
    name: `Integration ${id}`,
    scopes: ["leads.lead.read", "pipeline"],
    publishableKey: `pk_live_${id.replace(/\W/g, "")}Publishable`,
    status: "active",
    createdAt: "2026-11-27T17:00:00Z",
    lastUsedAt: null,
    ...extra,
  };
}

interface Harness {
  api: NovalaKeyApi;
  http: NovalaHttpClient;
  waits: number[];
  attempts: AttemptRecord[];
  creds: NovalaCredentials;
}

function harness(
  server: { port: number; baseUrl?: string },
  overrides: Partial<NovalaClientConfig> & {
    allowed?: string;
    random?: () => number;
    onSleep?: () => Promise<void>;
  } = {},
): Harness {
  const { allowed, random, onSleep, ...configOverrides } = overrides;
  const config: NovalaClientConfig = {
    allowedHosts: new AllowedHosts(allowed ?? `127.0.0.1:${server.port}`),
    connectTimeoutMs: 1000,
    requestTimeoutMs: 2000,
    retryBudgetMs: 60_000,
    ...configOverrides,
  };
  const waits: number[] = [];
  const attempts: AttemptRecord[] = [];
  let clock = 0;
  const http = new NovalaHttpClient(config, {
    sleep: async (ms) => {
      waits.push(ms);
      clock += ms;
      await onSleep?.();
    },
    now: () => clock,
    random: random ?? (() => 0.5),
    onAttempt: (record) => attempts.push(record),
  });
  cleanups.push(() => http.close());
  return {
    api: new NovalaKeyApi(http),
    http,
    waits,
    attempts,
    creds: { baseUrl: server.baseUrl ?? `http://127.0.0.1:${server.port}`, bearer: BEARER },
  };
}

function expectNoKeyMaterial(error: Error) {
  const text = `${error.message} ${error.stack ?? ""} ${JSON.stringify(error)}`;
  expect(text).not.toContain(BEARER);
  expect(text).not.toContain(ECHOED_SECRET);
  expect(text).not.toContain("Publishable");
}

describe("allow-list", () => {
  it("refuses a host that is not listed without sending anything", async () => {
    const server = await startServer([json(200, { data: key("key_1") })]);
    const { api, creds, attempts } = harness(server, { allowed: "*.novala.ai" });
    const error = await caught(api.self(creds));
    expect(error).toBeInstanceOf(HostNotAllowedError);
    expect(server.connections).toBe(0);
    expect(server.requests).toHaveLength(0);
    expect(attempts).toHaveLength(0);
  });

  it("sends keys over https only, except to a loopback host listed exactly", async () => {
    const server = await startServer([json(200, { data: key("key_1") })]);
    const refused = harness(server, { allowed: "*.novala.ai,localhost" });
    await expect(refused.api.self({ baseUrl: "http://acme.novala.ai", bearer: BEARER })).rejects.toBeInstanceOf(
      HostNotAllowedError,
    );
    // Listed, but as a different loopback name: plain http needs the exact host.
    await expect(refused.api.self(refused.creds)).rejects.toBeInstanceOf(HostNotAllowedError);
    await expect(refused.api.self({ baseUrl: "ftp://acme.novala.ai", bearer: BEARER })).rejects.toBeInstanceOf(
      HostNotAllowedError,
    );
    expect(server.connections).toBe(0);

    const allowed = harness(server);
    await expect(allowed.api.self(allowed.creds)).resolves.toMatchObject({ id: "key_1" });
    expect(server.requests).toHaveLength(1);
  });

  it("uses the origin of the base URL with the contract's absolute paths and sends the bearer", async () => {
    const server = await startServer([json(200, { data: key("key_1") })]);
    const { api, creds } = harness(server);
    await api.self({ ...creds, baseUrl: `${creds.baseUrl}/api/v1` });
    expect(server.requests[0]?.url).toBe("/api/v1/api-keys/self");
    expect(server.requests[0]?.headers.authorization).toBe(`Bearer ${BEARER}`);
  });

  it("does not follow a redirect, even to an allowed host", async () => {
    const target = await startServer([json(200, { data: key("key_evil") })]);
    const server = await startServer([json(302, undefined, { location: `http://127.0.0.1:${target.port}/steal` })]);
    const { api, creds } = harness(server, { allowed: `127.0.0.1:${server.port},127.0.0.1:${target.port}` });
    const error = await caught(api.self(creds));
    expect(error).toBeInstanceOf(NovalaHttpError);
    expect((error as NovalaHttpError).status).toBe(302);
    expect(error.message).toContain(`redirect to 127.0.0.1:${target.port}; redirects are not followed`);
    expect(server.requests).toHaveLength(1);
    expect(target.connections).toBe(0);
  });
});

describe("timeouts", () => {
  it("gives up connecting after connectTimeoutMs (a TLS handshake that never finishes)", async () => {
    const silent = await startSilentServer();
    const { api, attempts } = harness(silent, { connectTimeoutMs: 200, retryBudgetMs: 0 });
    const started = Date.now();
    const error = await caught(api.self({ baseUrl: `https://127.0.0.1:${silent.port}`, bearer: BEARER }));
    expect(Date.now() - started).toBeLessThan(1900);
    expect(error).toBeInstanceOf(NovalaUnavailableError);
    expect(error.message).toContain("UND_ERR_CONNECT_TIMEOUT");
    expect(attempts.map((a) => a.errorCode)).toEqual(["UND_ERR_CONNECT_TIMEOUT"]);
    expectNoKeyMaterial(error);
  });

  it("retries a create whose connection never opened", async () => {
    const silent = await startSilentServer();
    const { api, attempts, waits } = harness(silent, { connectTimeoutMs: 100, retryBudgetMs: 350 });
    const error = await caught(
      api.create({ baseUrl: `https://127.0.0.1:${silent.port}`, bearer: BEARER }, { name: "n", scopes: [] }),
    );
    expect(error).toBeInstanceOf(NovalaUnavailableError);
    expect(waits).toEqual([100, 200]);
    expect(attempts).toHaveLength(3);
  });

  it("bounds a whole attempt by requestTimeoutMs, even while the body keeps trickling", async () => {
    const server = await startServer([
      (req, res) => {
        res.writeHead(200, { "content-type": "application/json" });
        res.write('{"data":');
        const drip = setInterval(() => res.write(" "), 50);
        req.socket.on("close", () => clearInterval(drip));
        cleanups.push(() => clearInterval(drip));
      },
    ]);
    const { api, creds, attempts } = harness(server, { requestTimeoutMs: 300, retryBudgetMs: 0 });
    const started = Date.now();
    const error = await caught(api.self(creds));
    expect(Date.now() - started).toBeLessThan(1500);
    expect(error).toBeInstanceOf(NovalaUnavailableError);
    expect(error.message).toContain("no answer within 300 ms");
    expect(attempts.map((a) => a.errorCode)).toEqual(["ATTEMPT_TIMEOUT"]);
  });
});

describe("retries", () => {
  it("retries 429 with capped exponential backoff and full jitter when there is no Retry-After", async () => {
    const tooMany = json(429, { error: "rate limited" });
    const server = await startServer([tooMany, tooMany, tooMany, json(200, { data: key("key_1") })]);
    const { api, creds, waits, attempts } = harness(server);
    await expect(api.self(creds)).resolves.toMatchObject({ id: "key_1" });
    // random 0.5 of ceilings 200, 400, 800
    expect(waits).toEqual([100, 200, 400]);
    expect(attempts.map((a) => a.status)).toEqual([429, 429, 429, 200]);
    expect(attempts.every((a) => a.operation === "GET /api/v1/api-keys/self")).toBe(true);
  });

  it("caps the backoff ceiling at 10 s", async () => {
    const server = await startServer([json(503, { error: "down" })]);
    const { api, creds, waits } = harness(server, { random: () => 0.999, retryBudgetMs: 40_000 });
    await caught(api.self(creds));
    expect(waits.slice(-2).every((w) => w === 9990)).toBe(true);
    expect(Math.max(...waits)).toBe(9990);
  });

  it("honours Retry-After in seconds", async () => {
    const server = await startServer([
      json(429, { error: "slow down" }, { "retry-after": "3" }),
      json(200, { data: key("k") }),
    ]);
    const { api, creds, waits } = harness(server);
    await api.self(creds);
    expect(waits).toEqual([3000]);
  });

  it("honours Retry-After as an HTTP date", async () => {
    const at = new Date(Date.now() + 4000).toUTCString();
    const server = await startServer([
      json(429, { error: "slow down" }, { "retry-after": at }),
      json(200, { data: key("k") }),
    ]);
    const { api, creds, waits } = harness(server);
    await api.self(creds);
    expect(waits).toHaveLength(1);
    expect(waits[0]).toBeGreaterThan(2000);
    expect(waits[0]).toBeLessThanOrEqual(4000);
  });

  it("parses Retry-After defensively", () => {
    const now = Date.parse("Wed, 21 Oct 2015 07:28:00 GMT");
    expect(parseRetryAfter(undefined)).toBeUndefined();
    expect(parseRetryAfter("soon")).toBeUndefined();
    expect(parseRetryAfter("0")).toBe(0);
    expect(parseRetryAfter("Wed, 21 Oct 2015 07:28:00 GMT", now + 10_000)).toBe(0);
    // The three date formats of RFC 9110, all GMT (asctime has no zone: it is not read as local time).
    expect(parseRetryAfter("Wed, 21 Oct 2015 07:28:30 GMT", now)).toBe(30_000);
    expect(parseRetryAfter("Wednesday, 21-Oct-15 07:28:30 GMT", now)).toBe(30_000);
    expect(parseRetryAfter("Wed Oct 21 07:28:30 2015", now)).toBe(30_000);
    // Date.parse alone reads these as dates in 2001; they are no Retry-After.
    for (const absurd of ["-5", "1.5", "1e3", "2015-10-21", "30 s"])
      expect(parseRetryAfter(absurd, now)).toBeUndefined();
    // Far past any timer: the caller compares it with the cap, it is never slept.
    expect(parseRetryAfter("9".repeat(400))).toBe(Number.POSITIVE_INFINITY);
  });

  it("retries 500, 502 and 503", async () => {
    const server = await startServer([
      json(500, { error: "boom" }),
      json(502, { error: "bad gateway" }),
      json(503, { error: "unavailable" }),
      json(200, { data: key("key_1") }),
    ]);
    const { api, creds, attempts } = harness(server);
    await expect(api.get(creds, "key_1")).resolves.toMatchObject({ id: "key_1" });
    expect(attempts.map((a) => a.status)).toEqual([500, 502, 503, 200]);
    expect(attempts[0]?.operation).toBe("GET /api/v1/api-keys/{id}");
  });

  it("retries a reset connection on an idempotent call", async () => {
    const server = await startServer([reset, json(204)]);
    const { api, creds, attempts } = harness(server);
    await expect(api.revoke(creds, "key_1")).resolves.toBe("revoked");
    expect(server.requests.map((r) => `${r.method} ${r.url}`)).toEqual([
      "DELETE /api/v1/api-keys/key_1",
      "DELETE /api/v1/api-keys/key_1",
    ]);
    expect(attempts[0]?.status).toBeUndefined();
    expect(attempts[0]?.errorCode).toMatch(/ECONNRESET|UND_ERR_SOCKET/);
  });

  it("retries a refused connection", async () => {
    const port = await freePort();
    let server: TestServer | undefined;
    const { api, creds } = harness(
      { port },
      {
        onSleep: async () => {
          server ??= await startServer([json(200, { data: key("key_1") })], port);
        },
      },
    );
    await expect(api.self(creds)).resolves.toMatchObject({ id: "key_1" });
    expect(server?.requests).toHaveLength(1);
  });

  it("stops when the next wait would exceed the retry budget", async () => {
    const server = await startServer([json(503, { error: "maintenance" })]);
    const { api, creds, waits } = harness(server, { retryBudgetMs: 1000, random: () => 0.99 });
    const error = await caught(api.list(creds));
    expect(error).toBeInstanceOf(NovalaUnavailableError);
    expect((error as NovalaUnavailableError).lastStatus).toBe(503);
    expect(error.message).toContain("answered 503: maintenance");
    // 198 + 396 = 594 spent; the next wait of 792 would pass 1000.
    expect(waits).toEqual([198, 396]);
    expect(server.requests).toHaveLength(3);
  });

  it("does not retry other 4xx", async () => {
    const server = await startServer([json(401, { error: "Unauthorized" })]);
    const { api, creds } = harness(server);
    const error = await caught(api.self(creds));
    expect(error).toBeInstanceOf(KeyUnauthorizedError);
    expect(error.message).toBe("Novala GET /api/v1/api-keys/self answered 401: Unauthorized");
    expect(server.requests).toHaveLength(1);
  });
});

describe("a Retry-After above the cap (MAX_RETRY_AFTER_MS)", () => {
  const tooMany = (retryAfter: string) => json(429, { error: "slow down" }, { "retry-after": retryAfter });

  it("fails the call at once, naming the origin, the wait asked for and the cap, and never sleeps", async () => {
    const server = await startServer([tooMany("86400"), json(200, { data: key("k") })]);
    const { api, creds, waits } = harness(server);
    const error = await caught(api.self(creds));
    expect(error).toBeInstanceOf(RetryAfterAboveCapError);
    // The core treats it as Novala unavailable: transient, the step is retried, nothing rolled back.
    expect(error).toBeInstanceOf(NovalaUnavailableError);
    expect((error as RetryAfterAboveCapError).lastStatus).toBe(429);
    expect((error as RetryAfterAboveCapError).origin).toBe(creds.baseUrl);
    expect(error.message).toBe(
      `Novala GET /api/v1/api-keys/self failed: ${creds.baseUrl} answered 429 with Retry-After 86400 s, above the cap of ${MAX_RETRY_AFTER_MS / 1000} s; not waiting: the call fails now, to be retried later`,
    );
    expect(waits).toEqual([]);
    expect(server.requests).toHaveLength(1);
    expectNoKeyMaterial(error);
  });

  it.each([
    ["just above 2^31 ms (a timer would fire at once)", "2147484", "2147484 s"],
    ["of 400 digits", "9".repeat(400), "more than 10^9 s"],
  ])("fails at once on a Retry-After %s", async (_label, header, said) => {
    const server = await startServer([tooMany(header)]);
    const { api, creds, waits } = harness(server);
    const error = await caught(api.self(creds));
    expect(error).toBeInstanceOf(RetryAfterAboveCapError);
    expect(error.message).toContain(`with Retry-After ${said}, above the cap`);
    expect(waits).toEqual([]);
  });

  it("fails at once on an HTTP-date Retry-After two hours ahead", async () => {
    const server = await startServer([tooMany(new Date(Date.now() + 2 * 3600_000).toUTCString())]);
    const { api, creds, waits } = harness(server);
    const error = await caught(api.self(creds));
    expect(error).toBeInstanceOf(RetryAfterAboveCapError);
    expect(error.message).toMatch(/answered 429 with Retry-After 7(199|200) s, above the cap of 30 s/);
    expect(waits).toEqual([]);
  });

  it("waits out a Retry-After of exactly the cap", async () => {
    const server = await startServer([tooMany(String(MAX_RETRY_AFTER_MS / 1000)), json(200, { data: key("k") })]);
    const { api, creds, waits } = harness(server);
    await expect(api.self(creds)).resolves.toMatchObject({ id: "k" });
    expect(waits).toEqual([MAX_RETRY_AFTER_MS]);
  });

  it.each(["-5", "1.5", "soon", "Tomorrow, 12:00"])(
    "reads an absurd Retry-After (%s) as none: the usual backoff, no spin",
    async (header) => {
      const server = await startServer([tooMany(header), json(200, { data: key("k") })]);
      const { api, creds, waits } = harness(server);
      await expect(api.self(creds)).resolves.toMatchObject({ id: "k" });
      // random 0.5 of the first ceiling, 200 ms
      expect(waits).toEqual([100]);
    },
  );

  it("fails a create at once too: a 429 created nothing, so no reconciliation is asked for", async () => {
    const server = await startServer([tooMany("86400")]);
    const { api, creds } = harness(server);
    const error = await caught(api.create(creds, { name: "n", scopes: [] }));
    expect(error).toBeInstanceOf(RetryAfterAboveCapError);
    expect(error).not.toBeInstanceOf(CreateOutcomeUnknownError);
    expect(server.requests).toHaveLength(1);
  });

  it("applies the cap to a 503's Retry-After as well", async () => {
    const server = await startServer([json(503, { error: "maintenance" }, { "retry-after": "3600" })]);
    const { api, creds, waits } = harness(server);
    const error = await caught(api.get(creds, "key_1"));
    expect(error).toBeInstanceOf(RetryAfterAboveCapError);
    expect(error.message).toContain("answered 503 with Retry-After 3600 s");
    expect(waits).toEqual([]);
  });
});

describe("create (POST, not idempotent)", () => {
  const request = { name: "Acumatica Integration [rot-1]", scopes: ["leads.lead.read"] };
  const created = { data: { ...key("key_new"), secretKey: ECHOED_SECRET } };

  it("sends name and scopes and returns the secret key once", async () => {
    const server = await startServer([json(201, created)]);
    const { api, creds } = harness(server);
    const result = await api.create(creds, request);
    expect(result).toMatchObject({ id: "key_new", secretKey: ECHOED_SECRET });
    expect(server.requests[0]?.method).toBe("POST");
    expect(server.requests[0]?.url).toBe("/api/v1/api-keys");
    expect(server.requests[0]?.headers["content-type"]).toBe("application/json");
    expect(JSON.parse(server.requests[0]?.body ?? "")).toEqual(request);
  });

  it("retries a 429, which certainly did not create anything", async () => {
    const server = await startServer([
      json(429, { error: "rate limited" }, { "retry-after": "1" }),
      json(201, created),
    ]);
    const { api, creds, waits } = harness(server);
    await expect(api.create(creds, request)).resolves.toMatchObject({ id: "key_new" });
    expect(server.requests).toHaveLength(2);
    expect(waits).toEqual([1000]);
  });

  it("retries a refused connection, which sent nothing", async () => {
    const port = await freePort();
    let server: TestServer | undefined;
    const { api, creds } = harness(
      { port },
      {
        onSleep: async () => {
          server ??= await startServer([json(201, created)], port);
        },
      },
    );
    await expect(api.create(creds, request)).resolves.toMatchObject({ id: "key_new" });
    expect(server?.requests).toHaveLength(1);
  });

  it.each([
    ["a 500 answer", json(500, { error: `internal error near ${ECHOED_SECRET}` })],
    ["a reset after the request was sent", reset],
  ])("throws CreateOutcomeUnknownError after %s, with exactly one request", async (_label, handler) => {
    const server = await startServer([handler, json(201, created)]);
    const { api, creds, waits } = harness(server);
    const error = await caught(api.create(creds, request));
    expect(error).toBeInstanceOf(CreateOutcomeUnknownError);
    expect(server.requests).toHaveLength(1);
    expect(waits).toEqual([]);
    expectNoKeyMaterial(error);
  });

  it("throws CreateOutcomeUnknownError after a timeout waiting for the answer, with exactly one request", async () => {
    const server = await startServer([hang, json(201, created)]);
    const { api, creds, waits } = harness(server, { requestTimeoutMs: 300 });
    const error = await caught(api.create(creds, request));
    expect(error).toBeInstanceOf(CreateOutcomeUnknownError);
    expect(error.message).not.toContain(request.name);
    expect(server.requests).toHaveLength(1);
    expect(waits).toEqual([]);
  });

  it("treats a 201 without a secret key as created but unusable, naming the id, never the body", async () => {
    const server = await startServer([json(201, { data: { ...key("key_new"), secret: ECHOED_SECRET } })]);
    const { api, creds } = harness(server);
    const error = await caught(api.create(creds, request));
    expect(error).toBeInstanceOf(CreateOutcomeUnknownError);
    expect(error.message).toContain("data.secretKey");
    expect(error.message).toContain("key_new");
    expectNoKeyMaterial(error);
  });

  it("names a missing data.id without echoing the secret key", async () => {
    const { id: _id, ...withoutId } = key("key_new");
    const server = await startServer([json(201, { data: { ...withoutId, secretKey: ECHOED_SECRET } })]);
    const { api, creds } = harness(server);
    const error = await caught(api.create(creds, request));
    expect(error).toBeInstanceOf(CreateOutcomeUnknownError);
    expect(error.message).toContain("data.id");
    expectNoKeyMaterial(error);
  });

  it("refuses 403 without retrying", async () => {
    const server = await startServer([json(403, { error: "Forbidden" })]);
    const { api, creds } = harness(server);
    const error = await caught(api.create(creds, request));
    expect(error).toBeInstanceOf(NovalaHttpError);
    expect((error as NovalaHttpError).operation).toBe("POST /api/v1/api-keys");
    expect(server.requests).toHaveLength(1);
  });
});

describe("key calls", () => {
  it("refuses an empty key id as invalid input (not a claim refusal), before any request", async () => {
    const server = await startServer([json(200, { data: key("key_1") })]);
    const { api, creds } = harness(server);
    for (const call of [api.get(creds, ""), api.revoke(creds, "")]) {
      const error = await caught(call);
      expect(error).toBeInstanceOf(InvalidInputError);
      expect(error.name).toBe("InvalidInputError");
      expect(error.message).toBe("Novala key id is empty");
    }
    expect(server.requests).toHaveLength(0);
  });

  it("GET 404 resolves undefined", async () => {
    const server = await startServer([json(404, { error: "Not found" })]);
    const { api, creds } = harness(server);
    await expect(api.get(creds, "key/../x")).resolves.toBeUndefined();
    expect(server.requests[0]?.url).toBe("/api/v1/api-keys/key%2F..%2Fx");
  });

  it("DELETE 204 is revoked and 404 is already-revoked", async () => {
    const server = await startServer([json(204), json(404, { error: "Not found" })]);
    const { api, creds } = harness(server);
    await expect(api.revoke(creds, "key_1")).resolves.toBe("revoked");
    await expect(api.revoke(creds, "key_1")).resolves.toBe("already-revoked");
  });

  it("lists every key across three pages using total", async () => {
    const all = Array.from({ length: 250 }, (_, i) => key(`key_${i}`, i % 2 ? { status: "revoked" } : {}));
    const page: Handler = (_req, res, received) => {
      const url = new URL(received.url, "http://x");
      const n = Number(url.searchParams.get("page"));
      const limit = Number(url.searchParams.get("limit"));
      json(200, { data: all.slice((n - 1) * limit, n * limit), total: all.length, page: n, pageSize: limit })(
        _req,
        res,
        received,
      );
    };
    const server = await startServer([page]);
    const { api, creds } = harness(server);
    const keys = await api.list(creds);
    expect(keys).toHaveLength(250);
    expect(keys.filter((k) => k.status === "revoked")).toHaveLength(125);
    expect(server.requests.map((r) => r.url)).toEqual([
      "/api/v1/api-keys?page=1&limit=100",
      "/api/v1/api-keys?page=2&limit=100",
      "/api/v1/api-keys?page=3&limit=100",
    ]);
  });

  it("stops listing at an empty page even if total claims more", async () => {
    const server = await startServer([
      json(200, { data: [key("key_1")], total: 5 }),
      json(200, { data: [], total: 5 }),
    ]);
    const { api, creds } = harness(server);
    await expect(api.list(creds)).resolves.toHaveLength(1);
    expect(server.requests).toHaveLength(2);
  });

  it("names a malformed field of a listed key", async () => {
    const server = await startServer([
      json(200, { data: [key("key_1"), key("key_2", { status: "paused" })], total: 2 }),
    ]);
    const { api, creds } = harness(server);
    const error = await caught(api.list(creds));
    expect(error.message).toContain("data[1].status");
  });

  it.each([
    ["a body that is not an object", ["x"], "the answer's data is missing or not an array"],
    ["a missing total", { data: [] }, "the answer's total is missing or not a non-negative integer"],
    ["a fractional total", { data: [], total: 1.5 }, "the answer's total is missing or not a non-negative integer"],
    ["an item that is not an object", { data: [[]], total: 1 }, "the answer's data[0] is missing or not an object"],
    ["an empty name", { data: [key("key_1", { name: "" })], total: 1 }, "data[0].name is missing or not a non-empty"],
    ["a scope that is not a string", { data: [key("key_1", { scopes: [1] })], total: 1 }, "data[0].scopes is"],
  ])("refuses a list page with %s, naming the field", async (_label, body, message) => {
    const server = await startServer([json(200, body)]);
    const { api, creds } = harness(server);
    const error = await caught(api.list(creds));
    expect(error).toBeInstanceOf(NovalaHttpError);
    expect(error.message).toContain(message);
  });

  it.each([
    ["a number", 5],
    ["an object", { at: "2026-11-27T17:00:00Z" }],
    ["a boolean", true],
  ])(
    'keeps a key whose lastUsedAt is %s, as lastUsedAt "unknown" (never refused, never unused)',
    async (_label, value) => {
      const server = await startServer([json(200, { data: [key("key_1", { lastUsedAt: value })], total: 1 })]);
      const { api, creds } = harness(server);
      const [listed] = await api.list(creds);
      expect(listed?.lastUsedAt).toBe("unknown");
    },
  );

  it("keeps a lastUsedAt string that is not a timestamp as it is (the core reads it as unknown)", async () => {
    const server = await startServer([json(200, { data: key("key_1", { lastUsedAt: "yesterday" }) })]);
    const { api, creds } = harness(server);
    expect((await api.get(creds, "key_1"))?.lastUsedAt).toBe("yesterday");
  });

  it("keeps only the key object's fields of a listed key, and reads a missing lastUsedAt as null", async () => {
    const { lastUsedAt: _unused, ...withoutLastUse } = key("key_1");
    const server = await startServer([
      json(200, { data: [{ ...withoutLastUse, secretKey: ECHOED_SECRET }], total: 1 }),
    ]);
    const { api, creds } = harness(server);
    const [listed] = await api.list(creds);
    expect(listed).toEqual({ ...withoutLastUse, lastUsedAt: null });
  });

  it("names a missing data.id of self", async () => {
    const { id: _id, ...withoutId } = key("key_1");
    const server = await startServer([json(200, { data: withoutId })]);
    const { api, creds } = harness(server);
    const error = await caught(api.self(creds));
    expect(error).toBeInstanceOf(NovalaHttpError);
    expect(error.message).toContain("data.id");
    expectNoKeyMaterial(error);
  });

  it("probes each scope's read endpoint and skips scopes without one", async () => {
    const server = await startServer([json(200, { data: [], total: 0 })]);
    const { api, creds } = harness(server);
    await expect(api.probe(creds, "leads.lead.read")).resolves.toBe("ok");
    await expect(api.probe(creds, "pipeline")).resolves.toBe("ok");
    await expect(api.probe(creds, "bookings.read")).resolves.toBe("ok");
    await expect(api.probe(creds, "api_keys.manage")).resolves.toBe("no-probe");
    await expect(api.probe(creds, "toString")).resolves.toBe("no-probe");
    expect(server.requests.map((r) => r.url)).toEqual([
      "/api/v1/leads?limit=1",
      "/api/v1/pipeline/deals?limit=1",
      "/api/bookings/resources?limit=1",
    ]);
  });

  it("fails a probe on 403 and on any answer but 200", async () => {
    const server = await startServer([json(403, { error: "Forbidden" }), json(204)]);
    const { api, creds } = harness(server);
    const forbidden = await caught(api.probe(creds, "pipeline"));
    expect(forbidden).toBeInstanceOf(NovalaHttpError);
    expect((forbidden as NovalaHttpError).status).toBe(403);
    expect((forbidden as NovalaHttpError).operation).toBe("GET /api/v1/pipeline/deals?limit=1");
    await expect(api.probe(creds, "pipeline")).rejects.toBeInstanceOf(NovalaHttpError);
  });
});

describe("secrecy", () => {
  it("redacts a secret key and the bearer token echoed in an error body, and withholds long text", async () => {
    const server = await startServer([
      json(400, { error: `invalid key ${ECHOED_SECRET} (Bearer ${BEARER})` }),
      json(400, { error: `unknown scope ${"x".repeat(500)}` }),
    ]);
    const { api, creds } = harness(server);
    const error = await caught(api.create(creds, { name: "n", scopes: ["nope"] }));
    expect(error).toBeInstanceOf(NovalaHttpError);
    expectNoKeyMaterial(error);
    expect(error.message).toBe(
      "Novala POST /api/v1/api-keys answered 400: invalid key sk_live_…9999 (Bearer sk_live_…0001)",
    );
    const long = await caught(api.create(creds, { name: "n", scopes: ["nope"] }));
    expect(long.message).toBe(
      "Novala POST /api/v1/api-keys answered 400: (error message withheld: not short plain text)",
    );
  });

  it("scrubs a bearer that is not shaped like a Novala key", async () => {
    const bearer = "opaque-manager-token-abcdef123456";
    const server = await startServer([json(401, { error: `token ${bearer} is revoked` })]);
    const { api, creds } = harness(server);
    const error = await caught(api.self({ ...creds, bearer }));
    expect(error.message).not.toContain(bearer);
    expect(error.message).toContain("[bearer]");
  });

  it("does not echo a body that is not Novala's error shape", async () => {
    const server = await startServer([
      (_req, res) => {
        res.writeHead(400, { "content-type": "text/html" });
        res.end(`<html>${ECHOED_SECRET}</html>`);
      },
    ]);
    const { api, creds } = harness(server);
    const error = await caught(api.self(creds));
    expect(error.message).toContain("(no error message)");
    expectNoKeyMaterial(error);
  });

  it("keeps key material out of retry-exhaustion errors and attempt records", async () => {
    const server = await startServer([json(503, { error: `down, your key ${ECHOED_SECRET}` })]);
    const { api, creds, attempts } = harness(server, { retryBudgetMs: 0 });
    const error = await caught(api.self(creds));
    expect(error).toBeInstanceOf(NovalaUnavailableError);
    expectNoKeyMaterial(error);
    expect(JSON.stringify(attempts)).not.toContain(BEARER);
  });

  it("refuses a bearer that cannot be a header value without sending anything", async () => {
    const server = await startServer([json(200, { data: key("k") })]);
    const { api, creds } = harness(server);
    const error = await caught(api.self({ ...creds, bearer: `${BEARER}\r\nx-evil: 1` }));
    expectNoKeyMaterial(error);
    expect(server.connections).toBe(0);
  });
});
