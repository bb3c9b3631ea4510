/** Novala's key-management endpoints (docs/novala-key-api.md) behind the KeyApi port. */
import * as z from "zod/mini";
import type { NovalaClientConfig } from "../../contract/configuration.js";
import { InvalidInputError } from "../../contract/errors.js";
import { KEY_ID_PATTERN } from "../../contract/key-shapes.js";
import {
  type CreatedNovalaKey,
  type KeyApi,
  type KeyListFilter,
  matchesKeyFilter,
  type NovalaCredentials,
  type NovalaKey,
} from "../../core/ports.js";
import { CreateOutcomeUnknownError, NovalaHttpError } from "./errors.js";
import { NovalaHttpClient, type NovalaHttpClientOptions } from "./http-client.js";

const KEYS_PATH = "/api/v1/api-keys";
const SELF_PATH = `${KEYS_PATH}/self`;
const KEY_PATH_TEMPLATE = `${KEYS_PATH}/{id}`;
/** The contract's largest page. */
export const LIST_PAGE_SIZE = 100;
/** The most name suffixes one list request carries (the contract's limit). */
export const MAX_NAME_SUFFIXES = 50;
/** A runaway-pagination guard: 10,000 pages of 100 keys is far beyond any tenant. */
const MAX_PAGES = 10_000;

const nonEmpty = z.string().check(z.minLength(1));
/** What a lastUsedAt that is not a string becomes. */
export const LAST_USED_UNKNOWN = "unknown";

/** Novala's key object, as its answers carry it. Unknown fields are dropped, so no secret rides along on a listed key. */
const novalaKeyFields = {
  id: nonEmpty,
  name: nonEmpty,
  publishableKey: nonEmpty,
  createdAt: nonEmpty,
  scopes: z.array(z.string()),
  status: z.enum(["active", "revoked"]),
  // A lastUsedAt that is not a string (nor null) is kept as "unknown", never a reason to refuse the key: the due
  // revocation reads it as a use at an unknown time, never as "unused" (lambdas/core/revocation-usage.ts).
  lastUsedAt: z.catch(z.optional(z.nullable(z.string())), LAST_USED_UNKNOWN),
};
const novalaKeySchema = z.object(novalaKeyFields);
/** The create answer's key: the key object and, only here, its secret key. */
const createdKeySchema = z.object({ ...novalaKeyFields, secretKey: nonEmpty });
/** One page of the list: `{"data": [key, …], "total": n}`; the keys are read one by one, to name the bad one. */
const keyListPageSchema = z.object({ data: z.array(z.unknown()), total: z.int().check(z.minimum(0)) });

/** What each field must be, as a shape error says it. */
const EXPECTED: Record<string, string> = {
  id: "a non-empty string",
  name: "a non-empty string",
  publishableKey: "a non-empty string",
  createdAt: "a non-empty string",
  scopes: "an array of strings",
  status: '"active" or "revoked"',
  secretKey: "a string",
  data: "an array",
  total: "a non-negative integer",
};

/** Read endpoints that prove a scope works, each asked for one item. Scopes not listed have no probe. */
export const SCOPE_PROBES: Readonly<Record<string, string>> = {
  "leads.lead.read": "/api/v1/leads?limit=1",
  pipeline: "/api/v1/pipeline/deals?limit=1",
  "bookings.read": "/api/bookings/resources?limit=1",
};

/**
 * Novala's key-management contract (docs/novala-key-api.md) behind the KeyApi port. Novala publishes no such
 * endpoints, so the paths, bodies and status meanings are assumed; every one of them lives in this file so that a
 * different real contract changes only this file. Transport, retries and secrecy rules live in http-client.ts.
 * Response shapes are checked by the zod schemas below, just enough that the rotation never acts on a half-read key; a
 * shape error names the field and never echoes the body, which may hold a secret key.
 */
export class NovalaKeyApi implements KeyApi {
  constructor(private readonly http: NovalaHttpClient) {}

  async self(caller: NovalaCredentials): Promise<NovalaKey> {
    const response = await this.http.request({ method: "GET", ...at(caller), path: SELF_PATH, expect: [200] });
    return readKey(response.body, `GET ${SELF_PATH}`, response.status);
  }

  async get(manager: NovalaCredentials, keyId: string): Promise<NovalaKey | undefined> {
    const response = await this.http.request({
      method: "GET",
      ...at(manager),
      path: keyPath(keyId),
      pathTemplate: KEY_PATH_TEMPLATE,
      expect: [200, 404],
    });
    if (response.status === 404) return undefined;
    return readKey(response.body, `GET ${KEY_PATH_TEMPLATE}`, response.status);
  }

  async create(manager: NovalaCredentials, request: { name: string; scopes: string[] }): Promise<CreatedNovalaKey> {
    const operation = `POST ${KEYS_PATH}`;
    const response = await this.http.request({
      method: "POST",
      ...at(manager),
      path: KEYS_PATH,
      body: { name: request.name, scopes: request.scopes },
    });
    // From here on a key exists: an unreadable answer means the caller must reconcile, exactly as after a timeout.
    const data = objectField(response.body, "data");
    // Only a well-formed id reaches the message: the answer is a hostile host's text until proven otherwise.
    const id = data && typeof data.id === "string" && KEY_ID_PATTERN.test(data.id) ? data.id : undefined;
    try {
      const { secretKey, ...key } = readKeyObject(createdKeySchema, data, "data", operation, response.status);
      return { ...key, lastUsedAt: key.lastUsedAt ?? null, secretKey };
    } catch (error) {
      if (!(error instanceof NovalaHttpError)) throw error;
      throw new CreateOutcomeUnknownError(
        `${error.message}; a key was created${id ? ` (id ${id})` : ""} but cannot be used, reconcile by name`,
      );
    }
  }

  /**
   * Asks Novala for the filtered list (status, and up to {@link MAX_NAME_SUFFIXES} name suffixes per request) and
   * filters the answer again here: a tenant that ignores the parameters answers every key, which costs pages but
   * not correctness; one that refuses them (400) is asked again without them.
   */
  async list(manager: NovalaCredentials, filter?: KeyListFilter): Promise<NovalaKey[]> {
    const suffixes = filter?.nameSuffixes;
    if (suffixes?.length === 0) return [];
    const keys = new Map<string, NovalaKey>();
    const chunks = suffixes ? chunked(suffixes, MAX_NAME_SUFFIXES) : [[]];
    for (const chunk of chunks) {
      const query = [
        ...(filter?.status ? [`status=${filter.status}`] : []),
        ...chunk.map((suffix) => `name_suffix=${encodeURIComponent(suffix)}`),
      ].join("&");
      try {
        await this.listPages(manager, query, keys);
      } catch (error) {
        if (!(query && error instanceof NovalaHttpError && error.status === 400)) throw error;
        // A tenant without the filter: read every key once; the filter below does the rest.
        await this.listPages(manager, "", keys);
        break;
      }
    }
    return [...keys.values()].filter((key) => matchesKeyFilter(key, filter));
  }

  private async listPages(manager: NovalaCredentials, query: string, keys: Map<string, NovalaKey>): Promise<void> {
    const operation = `GET ${KEYS_PATH}`;
    const filtered = query ? `&${query}` : "";
    // Offset pages shift when keys are created or deleted meanwhile; keying by id drops the duplicates that causes.
    let received = 0;
    for (let page = 1; page <= MAX_PAGES; page++) {
      const response = await this.http.request({
        method: "GET",
        ...at(manager),
        path: `${KEYS_PATH}?page=${page}&limit=${LIST_PAGE_SIZE}${filtered}`,
        pathTemplate: `${KEYS_PATH}?page={page}&limit=${LIST_PAGE_SIZE}${filtered ? "&{filter}" : ""}`,
        expect: [200],
      });
      const answer = parseShape(keyListPageSchema, asObject(response.body) ?? {}, "", operation, response.status);
      const { data, total } = answer;
      data.forEach((item, index) => {
        const key = readNovalaKey(item, `data[${index}]`, operation, response.status);
        keys.set(key.id, key);
      });
      received += data.length;
      if (received >= total || data.length === 0) return;
    }
    throw new NovalaHttpError(200, operation, `more than ${MAX_PAGES} pages; giving up`);
  }

  async revoke(manager: NovalaCredentials, keyId: string): Promise<"revoked" | "already-revoked"> {
    const response = await this.http.request({
      method: "DELETE",
      ...at(manager),
      path: keyPath(keyId),
      pathTemplate: KEY_PATH_TEMPLATE,
      expect: [200, 204, 404],
    });
    return response.status === 404 ? "already-revoked" : "revoked";
  }

  async probe(caller: NovalaCredentials, scope: string): Promise<"ok" | "no-probe"> {
    const path = Object.hasOwn(SCOPE_PROBES, scope) ? SCOPE_PROBES[scope] : undefined;
    if (path === undefined) return "no-probe";
    await this.http.request({ method: "GET", ...at(caller), path, expect: [200] });
    return "ok";
  }

  /** Closes the HTTP client's connections (tests, benchmarks, the local run). */
  close(): Promise<void> {
    return this.http.close();
  }
}

/** The KeyApi the Lambdas use: one HTTP client (one connection pool) per configuration. */
export function createNovalaKeyApi(config: NovalaClientConfig, options?: NovalaHttpClientOptions): NovalaKeyApi {
  return new NovalaKeyApi(new NovalaHttpClient(config, options));
}

function at(credentials: NovalaCredentials): { baseUrl: string; bearer: string } {
  return { baseUrl: credentials.baseUrl, bearer: credentials.bearer };
}

function keyPath(keyId: string): string {
  if (keyId.length === 0) throw new InvalidInputError("Novala key id is empty");
  return `${KEYS_PATH}/${encodeURIComponent(keyId)}`;
}

function asObject(value: unknown): Record<string, unknown> | undefined {
  return typeof value === "object" && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : undefined;
}

function objectField(value: unknown, field: string): Record<string, unknown> | undefined {
  return asObject(asObject(value)?.[field]);
}

function shapeError(status: number, operation: string, field: string, expected: string): NovalaHttpError {
  return new NovalaHttpError(status, operation, `the answer's ${field} is missing or not ${expected}`);
}

/** `{"data": key}` */
function readKey(body: unknown, operation: string, status: number): NovalaKey {
  return readNovalaKey(asObject(body)?.data, "data", operation, status);
}

function readNovalaKey(value: unknown, where: string, operation: string, status: number): NovalaKey {
  const key = readKeyObject(novalaKeySchema, value, where, operation, status);
  return { ...key, lastUsedAt: key.lastUsedAt ?? null };
}

/** A key object at `where` in the answer: "an object" when it is none, else the first field that is wrong. */
function readKeyObject<T>(
  schema: z.ZodMiniType<T>,
  value: unknown,
  where: string,
  operation: string,
  status: number,
): T {
  if (!asObject(value)) throw shapeError(status, operation, where, "an object");
  return parseShape(schema, value, where, operation, status);
}

/** Parses `value` (at `where`, "" for the body) with `schema`; the error names the first wrong field, never a value. */
function parseShape<T>(schema: z.ZodMiniType<T>, value: unknown, where: string, operation: string, status: number): T {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const field = String(result.error.issues[0]?.path[0] ?? "");
  throw shapeError(status, operation, where ? `${where}.${field}` : field, EXPECTED[field] ?? "valid");
}

function chunked<T>(items: readonly T[], size: number): T[][] {
  const chunks: T[][] = [];
  for (let start = 0; start < items.length; start += size) chunks.push(items.slice(start, start + size));
  return chunks;
}
