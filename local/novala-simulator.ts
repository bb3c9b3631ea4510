/**
 * A Novala simulator on loopback: a small node:http server that speaks the key-management contract of
 * docs/novala-key-api.md over a {@link NovalaModel} (one tenant), so that the real HTTP adapter, the local run and the
 * benchmarks can be driven without Novala.
 *
 * Besides the contract it can misbehave on purpose, the way real SaaS key APIs do:
 * - switches (at start and at run time through `setSwitches`): `latencyMs` added to every answer,
 *   `propagationDelayMs` (a new key answers 401 for that long), a per-tenant token-bucket `rateLimitPerSecond`
 *   (429, with `Retry-After` in seconds unless `retryAfterHeader` is false);
 * - a queue of injected faults, each matching "METHOD /path" and firing `count` times: answer a status, reset the
 *   connection, hang, perform the operation and then lose the answer, or flood the client with a huge or slow body.
 *
 * `requestLog()` records method, path, route and outcome of every request: never headers or bodies, and any key
 * material that a client might put into a path is redacted.
 */
import { once } from "node:events";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { redact } from "../lambdas/core/redact.js";
import { INVALID_JSON, NovalaModel, type Outcome } from "./novala-model.js";

export interface SimulatorSwitches {
  /** Added to every answer (and before every fault). Default 0. */
  latencyMs: number;
  /** How long a newly created key answers 401. Default 0. Applies to keys created after the change. */
  propagationDelayMs: number;
  /** Requests per second for the tenant (token bucket, burst = the rate); null or 0 = no limit. Default null. */
  rateLimitPerSecond: number | null;
  /** Whether a rate-limit 429 carries `Retry-After` (seconds). Default true. */
  retryAfterHeader: boolean;
}

/** What a fault does when it fires. */
export type FaultAction =
  /** Answer `status` with `{"error": message}` (and `Retry-After: retryAfterSeconds` when given); nothing is done. */
  | { kind: "status"; status: number; retryAfterSeconds?: number; message?: string }
  /** Destroy the socket without answering; nothing is done. */
  | { kind: "reset" }
  /**
   * Answer nothing for `ms` milliseconds, then destroy the socket. With `perform: true` the operation is done first
   * (a create that times out on the client but created the key).
   */
  | { kind: "hang"; ms: number; perform?: boolean }
  /** Perform the operation (for example really create the key), then destroy the socket instead of answering. */
  | { kind: "lose-answer" }
  /**
   * Answer `status` (default 200) with a body of `bytes` bytes that opens like a JSON answer and never closes,
   * written `chunkBytes` (default 64 KiB) at a time, `intervalMs` apart (default 0: as fast as the client reads); with
   * `announce` the content-length says `bytes` up front, otherwise the body is chunked. Stops as soon as the client
   * hangs up and holds one chunk at most, so a 400 MB answer costs the simulator nothing. With `perform: true` the
   * operation is done first (a create whose answer cannot be read).
   */
  | {
      kind: "flood";
      bytes: number;
      status?: number;
      chunkBytes?: number;
      intervalMs?: number;
      announce?: boolean;
      perform?: boolean;
    };

export type FaultKind = FaultAction["kind"];

/**
 * A fault and the requests it matches. `match` is "METHOD PATH": METHOD is a verb or "*"; PATH is either a route
 * template ("GET /api/v1/api-keys/{id}" matches reads of any key id but not /self), a concrete path
 * ("DELETE /api/v1/api-keys/key_ab12"), a path with "*" segments ("GET /api/v1/api-keys/*" matches /self too), or "*"
 * (any path). The query string is ignored. `count` (default 1) is how many times it fires.
 */
export type FaultSpec = FaultAction & { match: string; count?: number };

export interface PendingFault {
  match: string;
  kind: FaultKind;
  remaining: number;
}

export type RequestOutcome = "answered" | "reset" | "hang" | "lost" | "flooded";

export interface RequestLogEntry {
  /** Epoch ms when the request arrived. */
  at: number;
  method: string;
  /** Path and query, with anything shaped like a key redacted. */
  path: string;
  /** The route template ("GET /api/v1/api-keys/{id}"), or "METHOD (unknown)". */
  route: string;
  /** The status answered; for "lost" and a performing "hang", the status the operation had. */
  status?: number;
  outcome: RequestOutcome;
  /** The injected fault that fired, if any. */
  fault?: FaultKind;
  /** True when the rate limit answered 429. */
  rateLimited?: boolean;
  /** For a flood: the body bytes written before the client hung up (or all of them). */
  bytesWritten?: number;
}

export interface NovalaSimulatorOptions extends Partial<SimulatorSwitches> {
  /** Default 0: a free port. The simulator listens on 127.0.0.1 only. */
  port?: number;
  /** The clock (epoch ms) of the model and the rate limiter. Default: the global clock, read at each call (a faked Date moves it). */
  now?: () => number;
  /** Scopes known in addition to the built-in ones. */
  extraScopes?: string[];
  /** A model to serve (default: a new one); its propagation delay is set from `propagationDelayMs` when given. */
  model?: NovalaModel;
}

export interface NovalaSimulator {
  /** http://127.0.0.1:PORT: the tenant's base URL (the API lives under /api/v1 and /api). */
  url: string;
  port: number;
  model: NovalaModel;
  switches(): SimulatorSwitches;
  setSwitches(changes: Partial<SimulatorSwitches>): void;
  /** Appends a fault to the queue (the first matching fault with firings left fires). */
  injectFault(fault: FaultSpec): void;
  clearFaults(): void;
  /** The faults that have firings left, in queue order. */
  pendingFaults(): PendingFault[];
  requestLog(): RequestLogEntry[];
  /** Requests per route template since start (or the last clearRequestLog). */
  counters(): Record<string, number>;
  clearRequestLog(): void;
  /** Closes the server, keep-alive sockets and hanging requests. Safe to call twice. */
  stop(): Promise<void>;
}

const MAX_BODY_BYTES = 64 * 1024;

type RouteName = "self" | "create" | "list" | "get" | "revoke" | "probe";

interface Route {
  name: RouteName;
  template: string;
  keyId?: string;
  scope?: string;
}

interface Answer {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
}

function resolveRoute(model: NovalaModel, method: string, pathname: string): Route | undefined {
  const base = "/api/v1/api-keys";
  if (pathname === base) {
    if (method === "POST") return { name: "create", template: `POST ${base}` };
    if (method === "GET") return { name: "list", template: `GET ${base}` };
    return undefined;
  }
  if (pathname === `${base}/self`) return method === "GET" ? { name: "self", template: `GET ${base}/self` } : undefined;
  if (pathname.startsWith(`${base}/`)) {
    const rest = pathname.slice(base.length + 1);
    if (rest === "" || rest.includes("/")) return undefined;
    const keyId = decodeURIComponent(rest);
    if (method === "GET") return { name: "get", template: `GET ${base}/{id}`, keyId };
    if (method === "DELETE") return { name: "revoke", template: `DELETE ${base}/{id}`, keyId };
    return undefined;
  }
  const scope = model.probeScopeOf(pathname);
  if (scope && method === "GET") return { name: "probe", template: `GET ${pathname}`, scope };
  return undefined;
}

function splitPattern(match: string): { method: string; path: string } {
  const trimmed = match.trim();
  const space = trimmed.indexOf(" ");
  const method = space > 0 ? trimmed.slice(0, space).toUpperCase() : "";
  const path = space > 0 ? trimmed.slice(space + 1).trim() : "";
  if (!method || !(path === "*" || path.startsWith("/"))) {
    throw new Error(`fault match must be "METHOD /path" (or "* *"), got ${JSON.stringify(match)}`);
  }
  return { method, path };
}

function faultMatches(match: string, method: string, pathname: string, template: string | undefined): boolean {
  const pattern = splitPattern(match);
  if (pattern.method !== "*" && pattern.method !== method) return false;
  if (pattern.path === "*") return true;
  if (template !== undefined && template.slice(template.indexOf(" ") + 1) === pattern.path) return true;
  const want = pattern.path.split("/");
  const have = pathname.split("/");
  return want.length === have.length && want.every((segment, index) => segment === "*" || segment === have[index]);
}

function bearerOf(request: IncomingMessage): string | undefined {
  const header = request.headers.authorization;
  if (!header) return undefined;
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
  return match?.[1];
}

function fromOutcome<T>(outcome: Outcome<T>, wrap: (value: T) => unknown): Answer {
  if (!outcome.ok) return { status: outcome.status, body: { error: outcome.error } };
  if (outcome.status === 204) return { status: 204 };
  return { status: outcome.status, body: wrap(outcome.value) };
}

async function readBody(request: IncomingMessage): Promise<{ ok: true; text: string } | { ok: false; answer: Answer }> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request) {
    const buffer = chunk as Buffer;
    size += buffer.length;
    if (size > MAX_BODY_BYTES) return { ok: false, answer: { status: 413, body: { error: "request body too large" } } };
    chunks.push(buffer);
  }
  return { ok: true, text: Buffer.concat(chunks).toString("utf8") };
}

/** Waits until `response` can take more or its socket closed, leaving no listener behind on the (kept-alive) socket. */
async function drainedOrClosed(response: ServerResponse, socket: Socket): Promise<void> {
  const controller = new AbortController();
  const { signal } = controller;
  try {
    await Promise.race([once(response, "drain", { signal }), once(socket, "close", { signal })]);
  } catch {
    // The response errored: the loop's check for a destroyed response ends the flood.
  } finally {
    controller.abort();
  }
}

/** Starts a simulator on 127.0.0.1 (port 0 = a free port). */
export async function startNovalaSimulator(options: NovalaSimulatorOptions = {}): Promise<NovalaSimulator> {
  const now = options.now ?? (() => Date.now());
  const model =
    options.model ??
    new NovalaModel({ now, propagationDelayMs: options.propagationDelayMs, extraScopes: options.extraScopes });
  if (options.model && options.propagationDelayMs !== undefined)
    model.setPropagationDelayMs(options.propagationDelayMs);

  const switches: SimulatorSwitches = {
    latencyMs: 0,
    propagationDelayMs: model.propagationDelayMs,
    rateLimitPerSecond: null,
    retryAfterHeader: true,
  };
  const faults: Array<FaultAction & { match: string; remaining: number }> = [];
  let log: RequestLogEntry[] = [];
  let counts: Record<string, number> = {};
  const sockets = new Set<Socket>();
  const timers = new Set<NodeJS.Timeout>();
  let stopped = false;
  let bucket = { tokens: 0, at: now() };

  function applySwitches(changes: Partial<SimulatorSwitches>): void {
    for (const field of ["latencyMs", "propagationDelayMs"] as const) {
      const value = changes[field];
      if (value === undefined) continue;
      if (!Number.isFinite(value) || value < 0) throw new Error(`${field} must be a number ≥ 0`);
      switches[field] = value;
    }
    if (changes.propagationDelayMs !== undefined) model.setPropagationDelayMs(changes.propagationDelayMs);
    if (changes.rateLimitPerSecond !== undefined) {
      const rate = changes.rateLimitPerSecond;
      if (rate !== null && (!Number.isFinite(rate) || rate < 0)) throw new Error("rateLimitPerSecond must be ≥ 0");
      switches.rateLimitPerSecond = rate === 0 ? null : rate;
      bucket = { tokens: switches.rateLimitPerSecond ?? 0, at: now() };
    }
    if (changes.retryAfterHeader !== undefined) switches.retryAfterHeader = changes.retryAfterHeader;
  }
  applySwitches(options);

  function delay(ms: number): Promise<void> {
    if (ms <= 0) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        timers.delete(timer);
        resolve();
      }, ms);
      timers.add(timer);
    });
  }

  /** Takes a token; answers the seconds to wait when there is none. */
  function rateLimited(): number | undefined {
    const rate = switches.rateLimitPerSecond;
    if (!rate) return undefined;
    const at = now();
    bucket.tokens = Math.min(rate, bucket.tokens + ((at - bucket.at) / 1000) * rate);
    bucket.at = at;
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return undefined;
    }
    return Math.max(1, Math.ceil((1 - bucket.tokens) / rate));
  }

  function takeFault(method: string, pathname: string, template: string | undefined): FaultAction | undefined {
    const index = faults.findIndex((fault) => faultMatches(fault.match, method, pathname, template));
    if (index < 0) return undefined;
    const fault = faults[index];
    if (!fault) return undefined;
    fault.remaining -= 1;
    if (fault.remaining <= 0) faults.splice(index, 1);
    const { match: _match, remaining: _remaining, ...action } = fault;
    return action;
  }

  async function perform(route: Route, request: IncomingMessage, query: URLSearchParams): Promise<Answer> {
    const bearer = bearerOf(request);
    switch (route.name) {
      case "self":
        return fromOutcome(model.self(bearer), (data) => ({ data }));
      case "create": {
        const body = await readBody(request);
        if (!body.ok) return body.answer;
        let parsed: unknown;
        try {
          parsed = body.text === "" ? undefined : JSON.parse(body.text);
        } catch {
          // The model still checks authentication and the manage scope first.
          parsed = INVALID_JSON;
        }
        return fromOutcome(model.create(bearer, parsed), (data) => ({ data }));
      }
      case "list":
        return fromOutcome(
          model.list(bearer, {
            page: query.get("page") ?? undefined,
            limit: query.get("limit") ?? undefined,
            status: query.get("status") ?? undefined,
            name_suffix: query.has("name_suffix") ? query.getAll("name_suffix") : undefined,
          }),
          (page) => page,
        );
      case "get":
        return fromOutcome(model.get(bearer, route.keyId ?? ""), (data) => ({ data }));
      case "revoke":
        return fromOutcome(model.revoke(bearer, route.keyId ?? ""), () => undefined);
      case "probe":
        return fromOutcome(
          model.probe(bearer, route.scope ?? "", { limit: query.get("limit") ?? undefined }),
          (p) => p,
        );
    }
  }

  function send(response: ServerResponse, answer: Answer): void {
    if (response.destroyed || response.writableEnded) return;
    const headers: Record<string, string> = { ...answer.headers };
    if (answer.body === undefined) {
      response.writeHead(answer.status, headers);
      response.end();
      return;
    }
    const text = JSON.stringify(answer.body);
    headers["content-type"] = "application/json; charset=utf-8";
    headers["content-length"] = String(Buffer.byteLength(text));
    response.writeHead(answer.status, headers);
    response.end(text);
  }

  async function handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const method = (request.method ?? "GET").toUpperCase();
    const url = new URL(request.url ?? "/", "http://simulator.invalid");
    const route = resolveRoute(model, method, url.pathname);
    const template = route?.template ?? `${method} (unknown)`;
    const entry: RequestLogEntry = {
      at: now(),
      method,
      path: redact(`${url.pathname}${url.search}`),
      route: template,
      outcome: "answered",
    };
    log.push(entry);
    counts[template] = (counts[template] ?? 0) + 1;

    await delay(switches.latencyMs);
    if (stopped) return;

    const fault = takeFault(method, url.pathname, route?.template);
    if (fault) entry.fault = fault.kind;
    if (fault?.kind === "reset") {
      entry.outcome = "reset";
      request.socket.destroy();
      return;
    }
    if (fault?.kind === "status") {
      const headers: Record<string, string> = {};
      if (fault.retryAfterSeconds !== undefined) headers["retry-after"] = String(fault.retryAfterSeconds);
      entry.status = fault.status;
      send(response, { status: fault.status, body: { error: fault.message ?? "Injected failure" }, headers });
      return;
    }
    if (fault?.kind === "flood" && !fault.perform) {
      await flood(request, response, fault, entry);
      return;
    }
    if (fault?.kind === "hang" && !fault.perform) {
      entry.outcome = "hang";
      await delay(fault.ms);
      request.socket.destroy();
      return;
    }

    const wait = rateLimited();
    if (wait !== undefined) {
      entry.status = 429;
      entry.rateLimited = true;
      const headers: Record<string, string> = switches.retryAfterHeader ? { "retry-after": String(wait) } : {};
      send(response, { status: 429, body: { error: "Too many requests" }, headers });
      return;
    }

    let answer: Answer;
    if (!route) {
      const known = ["GET", "POST", "DELETE"].some((other) => resolveRoute(model, other, url.pathname));
      answer = known
        ? { status: 405, body: { error: "Method not allowed" } }
        : { status: 404, body: { error: "Not found" } };
    } else {
      answer = await perform(route, request, url.searchParams);
    }
    entry.status = answer.status;

    if (fault?.kind === "flood") {
      await flood(request, response, fault, entry);
      return;
    }
    if (fault?.kind === "lose-answer") {
      entry.outcome = "lost";
      request.socket.destroy();
      return;
    }
    if (fault?.kind === "hang") {
      entry.outcome = "hang";
      await delay(fault.ms);
      request.socket.destroy();
      return;
    }
    send(response, answer);
  }

  async function flood(
    request: IncomingMessage,
    response: ServerResponse,
    fault: Extract<FaultAction, { kind: "flood" }>,
    entry: RequestLogEntry,
  ): Promise<void> {
    entry.outcome = "flooded";
    entry.status = fault.status ?? 200;
    entry.bytesWritten = 0;
    const headers: Record<string, string> = { "content-type": "application/json; charset=utf-8" };
    if (fault.announce) headers["content-length"] = String(fault.bytes);
    response.writeHead(entry.status, headers);
    const opening = Buffer.from('{"data":{"id":"key_flood","name":"');
    const filler = Buffer.alloc(Math.max(1, fault.chunkBytes ?? 64 * 1024), "x");
    const gone = () => stopped || response.destroyed || request.socket.destroyed;
    while (entry.bytesWritten < fault.bytes && !gone()) {
      const source = entry.bytesWritten === 0 ? Buffer.concat([opening, filler]).subarray(0, filler.length) : filler;
      const chunk = source.subarray(0, Math.min(source.length, fault.bytes - entry.bytesWritten));
      const flushed = response.write(chunk);
      entry.bytesWritten += chunk.length;
      if (!flushed) await drainedOrClosed(response, request.socket);
      if (fault.intervalMs) await delay(fault.intervalMs);
    }
    if (!gone()) response.end();
  }

  const server = createServer((request, response) => {
    handle(request, response).catch(() => {
      // Never echo the error: it might describe a request. The model itself never throws with key material.
      send(response, { status: 500, body: { error: "Internal error" } });
    });
  });
  server.on("connection", (socket) => {
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
  });
  server.on("clientError", (_error, socket) => socket.destroy());

  server.listen(options.port ?? 0, "127.0.0.1");
  await once(server, "listening");
  const port = (server.address() as AddressInfo).port;

  return {
    url: `http://127.0.0.1:${port}`,
    port,
    model,
    switches: () => ({ ...switches }),
    setSwitches: applySwitches,
    injectFault(fault) {
      splitPattern(fault.match);
      const count = fault.count ?? 1;
      if (!Number.isInteger(count) || count < 1) throw new Error("fault count must be a positive integer");
      if (fault.kind === "hang" && !(fault.ms >= 0)) throw new Error("hang fault needs ms ≥ 0");
      if (fault.kind === "flood" && !(Number.isInteger(fault.bytes) && fault.bytes >= 0)) {
        throw new Error("flood fault needs a whole number of bytes ≥ 0");
      }
      const { count: _count, ...rest } = fault;
      faults.push({ ...rest, remaining: count });
    },
    clearFaults() {
      faults.length = 0;
    },
    pendingFaults: () => faults.map((fault) => ({ match: fault.match, kind: fault.kind, remaining: fault.remaining })),
    requestLog: () => log.map((entry) => ({ ...entry })),
    counters: () => ({ ...counts }),
    clearRequestLog() {
      log = [];
      counts = {};
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      for (const socket of sockets) socket.destroy();
      await closed;
    },
  };
}
