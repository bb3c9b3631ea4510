/**
 * An in-process model of one Novala tenant's API keys, following the assumed key-management contract of
 * docs/novala-key-api.md: key pairs, bearer authentication, scopes, offset pagination, revocation, the read endpoints
 * used as scope probes, and the propagation delay of a new key.
 *
 * Both faces share these business rules: the HTTP simulator (novala-simulator.ts) and the direct KeyApi of the tests
 * (test/support/memory-key-api.ts). Every operation takes the caller's bearer token and answers an {@link Outcome}
 * with the HTTP status Novala would send, so neither face re-implements a rule. Time comes from an injectable clock.
 *
 * Decisions where the contract is silent (documented so that tests and adapters agree):
 * - Key management (create, list, revoke, reading another key) needs the *secret* key of a pair holding
 *   `api_keys.manage`; a publishable key of such a pair gets 403.
 * - Read endpoints (the probes), `GET /api-keys/self` and `GET /api-keys/{id}` of the caller's own pair accept either
 *   key of the pair, with the pair's scopes.
 * - A created key has the mode (live/test) of the key that created it.
 * - A create body needs a non-empty `name` (≤ 256 characters) and a non-empty array of known scopes; duplicates are
 *   dropped, order is kept.
 * - `lastUsedAt` is set whenever the key authenticates successfully.
 *
 * Error messages never carry key material: 401 is always "Unauthorized", 403 "Forbidden".
 */
import { randomBytes } from "node:crypto";
import type { CreatedNovalaKey, NovalaKey } from "../lambdas/core/ports.js";

/** The scopes every tenant knows. */
export const BUILT_IN_SCOPES: readonly string[] = ["leads.lead.read", "pipeline", "bookings.read", "api_keys.manage"];

export const MANAGE_SCOPE = "api_keys.manage";

/** The read endpoint (path, without query) that proves each probe-able scope, per docs/novala-key-api.md. */
export const SCOPE_PROBES: Readonly<Record<string, string>> = {
  "leads.lead.read": "/api/v1/leads",
  pipeline: "/api/v1/pipeline/deals",
  "bookings.read": "/api/bookings/resources",
};

export const DEFAULT_PAGE_SIZE = 25;
export const MAX_PAGE_SIZE = 100;
export const MAX_NAME_LENGTH = 256;

export type KeyMode = "live" | "test";

/** Pass as the body of {@link NovalaModel.create} when the request body was not JSON (400 after the auth checks). */
export const INVALID_JSON: unique symbol = Symbol("invalid JSON");

/** An answer of the model: the HTTP status and either the value (2xx) or Novala's `error` text (4xx). */
export type Outcome<T> = { ok: true; status: number; value: T } | { ok: false; status: number; error: string };

export interface KeyPage {
  data: NovalaKey[];
  total: number;
  page: number;
  pageSize: number;
}

/** What a probe answers: an (empty) page of the probed resource. */
export interface ProbePage {
  data: unknown[];
  total: number;
  page: number;
  pageSize: number;
}

export interface NovalaModelOptions {
  /** Milliseconds since the epoch; defaults to the global clock, read at each call (a faked Date moves it). */
  now?: () => number;
  /** How long a newly created key answers 401 to its own authentication. Default 0. */
  propagationDelayMs?: number;
  /** Scopes known in addition to {@link BUILT_IN_SCOPES}. */
  extraScopes?: string[];
  /** Whether the key list honours `status` and `name_suffix` (default true); false: a tenant that ignores them. */
  listFilters?: boolean;
}

/** The most `name_suffix` values one list request may carry. */
export const MAX_NAME_SUFFIXES = 50;

/** The key list's query: raw values as they arrive (`name_suffix` may repeat). */
export interface KeyListQuery {
  page?: unknown;
  limit?: unknown;
  status?: unknown;
  name_suffix?: unknown;
}

export interface SeedKeyRequest {
  name: string;
  scopes: string[];
  /** Default "live". */
  mode?: KeyMode;
  /** Default "active". */
  status?: "active" | "revoked";
  /** Default: the clock's now. */
  createdAt?: string;
  /** Apply the propagation delay to this key too. Default false: a seeded key works at once. */
  propagate?: boolean;
}

/** Who a bearer token is. */
export interface Caller {
  key: NovalaKey;
  via: "secret" | "publishable";
}

interface KeyRecord {
  meta: NovalaKey;
  secretKey: string;
  /** Epoch ms from which the key authenticates (propagation). */
  usableFrom: number;
}

const UNAUTHORIZED = "Unauthorized";
const FORBIDDEN = "Forbidden";
const NOT_FOUND = "Not found";

function fail<T>(status: number, error: string): Outcome<T> {
  return { ok: false, status, error };
}

function succeed<T>(status: number, value: T): Outcome<T> {
  return { ok: true, status, value };
}

function randomToken(bytes: number): string {
  return randomBytes(bytes).toString("hex");
}

function copyKey(key: NovalaKey): NovalaKey {
  return { ...key, scopes: [...key.scopes] };
}

function parsePositiveInteger(raw: unknown, field: string, fallback: number, max?: number): number | string {
  if (raw === undefined || raw === null || raw === "") return fallback;
  const value = typeof raw === "number" ? raw : typeof raw === "string" && /^\d+$/.test(raw) ? Number(raw) : Number.NaN;
  if (!Number.isSafeInteger(value) || value < 1) return `${field} must be a positive integer`;
  if (max !== undefined && value > max) return `${field} must be at most ${max}`;
  return value;
}

/**
 * Told of every key pair any model issues, in any test file or process: the test suite's leak scan collects them
 * here and then searches everything the handlers printed for them.
 */
export const keyMaterialListeners = new Set<(material: string[]) => void>();

/** One Novala tenant. */
export class NovalaModel {
  private readonly now: () => number;
  private propagationDelay: number;
  private readonly scopes: Set<string>;
  /** In creation order. */
  private readonly records: KeyRecord[] = [];
  private readonly byId = new Map<string, KeyRecord>();
  private readonly bySecret = new Map<string, KeyRecord>();
  private readonly byPublishable = new Map<string, KeyRecord>();
  private readonly issued: string[] = [];
  private listFilters: boolean;

  constructor(options: NovalaModelOptions = {}) {
    this.listFilters = options.listFilters ?? true;
    this.now = options.now ?? (() => Date.now());
    this.propagationDelay = Math.max(0, options.propagationDelayMs ?? 0);
    this.scopes = new Set([...BUILT_IN_SCOPES, ...(options.extraScopes ?? [])]);
  }

  // ---- switches and inspection (no authentication: for tests and the demo) ----

  get propagationDelayMs(): number {
    return this.propagationDelay;
  }

  /** Applies to keys created from now on. */
  setPropagationDelayMs(ms: number): void {
    this.propagationDelay = Math.max(0, ms);
  }

  /** Whether the key list honours its filters (false: the parameters are ignored, as by a tenant that lacks them). */
  setListFilters(enabled: boolean): void {
    this.listFilters = enabled;
  }

  knownScopes(): string[] {
    return [...this.scopes];
  }

  addScopes(...scopes: string[]): void {
    for (const scope of scopes) this.scopes.add(scope);
  }

  /** Metadata of every key, active and revoked, in creation order (never the secret). */
  keys(): NovalaKey[] {
    return this.records.map((record) => copyKey(record.meta));
  }

  /** Metadata of one key, or undefined. */
  inspect(keyId: string): NovalaKey | undefined {
    const record = this.byId.get(keyId);
    return record ? copyKey(record.meta) : undefined;
  }

  /** Every secret and publishable key this model ever issued, so that tests can scan output for leaks. */
  issuedKeyMaterial(): string[] {
    return [...this.issued];
  }

  /** Creates a key directly, bypassing authentication (set-up of tests and the demo). Returns it with its secret. */
  seedKey(request: SeedKeyRequest): CreatedNovalaKey {
    const unknown = request.scopes.filter((scope) => !this.scopes.has(scope));
    if (unknown.length > 0) throw new Error(`unknown scope(s): ${unknown.join(", ")}`);
    const record = this.issue(request.name, request.scopes, request.mode ?? "live", request.propagate ?? false);
    if (request.createdAt) record.meta.createdAt = request.createdAt;
    if (request.status === "revoked") record.meta.status = "revoked";
    return { ...copyKey(record.meta), secretKey: record.secretKey };
  }

  /** Revokes a key directly, bypassing authentication. Returns whether it was active. */
  forceRevoke(keyId: string): boolean {
    const record = this.byId.get(keyId);
    if (!record || record.meta.status === "revoked") return false;
    record.meta.status = "revoked";
    return true;
  }

  // ---- the API, as Novala answers it ----

  /**
   * Authenticates a bearer token (secret or publishable): 401 for missing, unknown, revoked or not yet propagated.
   * Every request goes through here first, so every authenticated request, whatever its route and answer, records the
   * calling key's lastUsedAt, and only the calling key's (a manager reading another key leaves that key's alone).
   */
  authenticate(bearer: string | undefined): Outcome<Caller> {
    return this.authenticateAt(bearer, this.now());
  }

  /**
   * A consumer's request with `bearer` at `at` (default: the clock's now), as Novala records it: the key's lastUsedAt
   * becomes `at`. For tests and the local run, whose consumers keep using an old key on a simulated clock.
   */
  useKey(bearer: string, at: Date = new Date(this.now())): Outcome<Caller> {
    return this.authenticateAt(bearer, at.getTime());
  }

  private authenticateAt(bearer: string | undefined, at: number): Outcome<Caller> {
    if (!bearer) return fail(401, UNAUTHORIZED);
    const bySecret = this.bySecret.get(bearer);
    const record = bySecret ?? this.byPublishable.get(bearer);
    if (record?.meta.status !== "active" || at < record.usableFrom) return fail(401, UNAUTHORIZED);
    record.meta.lastUsedAt = new Date(at).toISOString();
    return succeed(200, { key: record.meta, via: bySecret ? "secret" : "publishable" });
  }

  /** GET /api/v1/api-keys/self. */
  self(bearer: string | undefined): Outcome<NovalaKey> {
    const caller = this.authenticate(bearer);
    if (!caller.ok) return caller;
    return succeed(200, copyKey(caller.value.key));
  }

  /** POST /api/v1/api-keys with `body` (the parsed JSON). */
  create(bearer: string | undefined, body: unknown): Outcome<CreatedNovalaKey> {
    const caller = this.requireManager(bearer);
    if (!caller.ok) return caller;
    if (body === INVALID_JSON) return fail(400, "request body is not valid JSON");
    if (typeof body !== "object" || body === null || Array.isArray(body))
      return fail(400, "body must be a JSON object");
    const { name, scopes } = body as { name?: unknown; scopes?: unknown };
    if (typeof name !== "string" || name.trim() === "") return fail(400, "name must be a non-empty string");
    if (name.length > MAX_NAME_LENGTH) return fail(400, `name must be at most ${MAX_NAME_LENGTH} characters`);
    if (!Array.isArray(scopes) || scopes.length === 0) return fail(400, "scopes must be a non-empty array of strings");
    if (!scopes.every((scope): scope is string => typeof scope === "string")) {
      return fail(400, "scopes must be a non-empty array of strings");
    }
    const unknown = scopes.filter((scope) => !this.scopes.has(scope));
    if (unknown.length > 0) return fail(400, `unknown scope: ${unknown.join(", ")}`);
    const mode: KeyMode = caller.value.key.publishableKey.startsWith("pk_test_") ? "test" : "live";
    const record = this.issue(name, [...new Set(scopes)], mode, true);
    return succeed(201, { ...copyKey(record.meta), secretKey: record.secretKey });
  }

  /**
   * GET /api/v1/api-keys?page=&limit=&status=&name_suffix= (raw query values accepted; limit ≤ 100; name_suffix may
   * repeat, up to 50 times: a key matches when its name ends with any). `total` counts the matching keys.
   */
  list(bearer: string | undefined, query: KeyListQuery = {}): Outcome<KeyPage> {
    const caller = this.requireManager(bearer);
    if (!caller.ok) return caller;
    const page = parsePositiveInteger(query.page, "page", 1);
    if (typeof page === "string") return fail(400, page);
    const limit = parsePositiveInteger(query.limit, "limit", DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE);
    if (typeof limit === "string") return fail(400, limit);
    let records = this.records;
    if (this.listFilters) {
      const { status, name_suffix: rawSuffixes } = query;
      if (status !== undefined && status !== "active" && status !== "revoked") {
        return fail(400, 'status must be "active" or "revoked"');
      }
      const suffixes = rawSuffixes === undefined ? undefined : [rawSuffixes].flat();
      if (suffixes && !suffixes.every((suffix) => typeof suffix === "string" && suffix.length > 0)) {
        return fail(400, "name_suffix must be a non-empty string");
      }
      if (suffixes && suffixes.length > MAX_NAME_SUFFIXES) {
        return fail(400, `name_suffix may be given at most ${MAX_NAME_SUFFIXES} times`);
      }
      records = records.filter(
        (record) =>
          (status === undefined || record.meta.status === status) &&
          (suffixes === undefined || suffixes.some((suffix) => record.meta.name.endsWith(suffix as string))),
      );
    }
    const start = (page - 1) * limit;
    const data = records.slice(start, start + limit).map((record) => copyKey(record.meta));
    return succeed(200, { data, total: records.length, page, pageSize: limit });
  }

  /** GET /api/v1/api-keys/{id}: a manager, or the key itself (either key of the pair). */
  get(bearer: string | undefined, keyId: string): Outcome<NovalaKey> {
    const caller = this.authenticate(bearer);
    if (!caller.ok) return caller;
    if (caller.value.key.id === keyId) return succeed(200, copyKey(caller.value.key));
    if (!this.isManager(caller.value)) return fail(403, FORBIDDEN);
    const record = this.byId.get(keyId);
    if (!record) return fail(404, NOT_FOUND);
    return succeed(200, copyKey(record.meta));
  }

  /** DELETE /api/v1/api-keys/{id}: 204, or 404 when unknown or already revoked. Revocation is immediate. */
  revoke(bearer: string | undefined, keyId: string): Outcome<undefined> {
    const caller = this.requireManager(bearer);
    if (!caller.ok) return caller;
    const record = this.byId.get(keyId);
    if (!record || record.meta.status === "revoked") return fail(404, NOT_FOUND);
    record.meta.status = "revoked";
    return succeed(204, undefined);
  }

  /** The scope a read path (without query) proves, or undefined when it is not a probe endpoint. */
  probeScopeOf(path: string): string | undefined {
    return Object.entries(SCOPE_PROBES).find(([, probePath]) => probePath === path)?.[0];
  }

  /** The read endpoint of `scope`: 200 with an empty page when the caller holds the scope, 403 when not. */
  probe(bearer: string | undefined, scope: string, query: { limit?: unknown } = {}): Outcome<ProbePage> {
    if (!(scope in SCOPE_PROBES)) return fail(404, NOT_FOUND);
    const caller = this.authenticate(bearer);
    if (!caller.ok) return caller;
    if (!caller.value.key.scopes.includes(scope)) return fail(403, FORBIDDEN);
    const limit = parsePositiveInteger(query.limit, "limit", DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE);
    if (typeof limit === "string") return fail(400, limit);
    return succeed(200, { data: [], total: 0, page: 1, pageSize: limit });
  }

  // ---- internals ----

  private isManager(caller: Caller): boolean {
    return caller.via === "secret" && caller.key.scopes.includes(MANAGE_SCOPE);
  }

  private requireManager(bearer: string | undefined): Outcome<Caller> {
    const caller = this.authenticate(bearer);
    if (!caller.ok) return caller;
    if (!this.isManager(caller.value)) return fail(403, FORBIDDEN);
    return caller;
  }

  private issue(name: string, scopes: string[], mode: KeyMode, propagate: boolean): KeyRecord {
    let id: string;
    do id = `key_${randomToken(12)}`;
    while (this.byId.has(id));
    const now = this.now();
    const record: KeyRecord = {
      meta: {
        id,
        name,
        scopes: [...scopes],
        publishableKey: `pk_${mode}_${randomToken(16)}`,
        status: "active",
        createdAt: new Date(now).toISOString(),
        lastUsedAt: null,
      },
      secretKey: `sk_${mode}_${randomToken(24)}`,
      usableFrom: propagate ? now + this.propagationDelay : now,
    };
    this.records.push(record);
    this.byId.set(id, record);
    this.bySecret.set(record.secretKey, record);
    this.byPublishable.set(record.meta.publishableKey, record);
    this.issued.push(record.secretKey, record.meta.publishableKey);
    for (const listener of keyMaterialListeners) listener([record.secretKey, record.meta.publishableKey]);
    return record;
  }
}
