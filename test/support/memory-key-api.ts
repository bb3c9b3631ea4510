/**
 * A KeyApi that calls a {@link NovalaModel} directly, without HTTP, for fast unit tests of the rotation logic. It
 * answers the way the HTTP adapter does over the simulator: 4xx answers throw `novalaRefusal(status, operation,
 * message)`, `get()` resolves undefined on 404, `revoke()` resolves "already-revoked" on 404, `probe()` resolves
 * "no-probe" for a scope without a read endpoint, and `list()` walks every page.
 *
 * The model is one tenant: the credentials' `baseUrl` is ignored (any baseUrl reaches the same model), only the
 * bearer counts. Tests that need the baseUrl checked (allow-list, tenant mismatch) must use the HTTP adapter.
 *
 * The model never answers 429 or 5xx; `injectFailure` stands in for the transport failures the HTTP adapter would
 * surface after its retries: NovalaUnavailableError, or CreateOutcomeUnknownError for a create (with or without the
 * key having been created).
 */

import {
  CreateOutcomeUnknownError,
  NovalaUnavailableError,
  novalaRefusal,
} from "../../lambdas/adapters/novala/errors.js";
import {
  type CreatedNovalaKey,
  type KeyApi,
  type KeyListFilter,
  matchesKeyFilter,
  type NovalaCredentials,
  type NovalaKey,
} from "../../lambdas/core/ports.js";
import {
  MAX_NAME_SUFFIXES,
  MAX_PAGE_SIZE,
  type NovalaModel,
  type Outcome,
  SCOPE_PROBES,
} from "../../local/novala-model.js";

export type KeyApiOperation = "self" | "get" | "create" | "list" | "revoke" | "probe";

/**
 * A failure the next `count` calls of `operation` raise instead of an answer:
 * - "unavailable": NovalaUnavailableError, nothing done (Novala unreachable, or 429/5xx past the retry budget);
 * - "outcome-unknown": create only; the key IS created, then CreateOutcomeUnknownError (the answer was lost);
 * - "outcome-unknown-not-created": create only; CreateOutcomeUnknownError, and no key was created.
 */
export interface InjectedFailure {
  operation: KeyApiOperation;
  kind: "unavailable" | "outcome-unknown" | "outcome-unknown-not-created";
  count?: number;
}

export class ModelKeyApi implements KeyApi {
  private readonly failures: Array<Required<InjectedFailure>> = [];
  private readonly callCounts: Record<KeyApiOperation, number> = {
    self: 0,
    get: 0,
    create: 0,
    list: 0,
    revoke: 0,
    probe: 0,
  };

  constructor(readonly model: NovalaModel) {}

  /** Queues a failure for the next `count` (default 1) calls of `failure.operation`. */
  injectFailure(failure: InjectedFailure): void {
    if (failure.kind !== "unavailable" && failure.operation !== "create") {
      throw new Error(`${failure.kind} applies to create only`);
    }
    this.failures.push({ count: 1, ...failure });
  }

  /** How many times each operation was called (list counts once however many pages it read). */
  calls(): Record<KeyApiOperation, number> {
    return { ...this.callCounts };
  }

  async self(caller: NovalaCredentials): Promise<NovalaKey> {
    this.enter("self");
    return this.unwrap("self", this.model.self(caller.bearer));
  }

  async get(manager: NovalaCredentials, keyId: string): Promise<NovalaKey | undefined> {
    this.enter("get");
    const outcome = this.model.get(manager.bearer, keyId);
    if (!outcome.ok && outcome.status === 404) return undefined;
    return this.unwrap("get", outcome);
  }

  async create(manager: NovalaCredentials, request: { name: string; scopes: string[] }): Promise<CreatedNovalaKey> {
    const failure = this.enter("create");
    if (failure === "outcome-unknown-not-created") {
      throw new CreateOutcomeUnknownError("Novala create: the answer did not come back (simulated; no key created)");
    }
    const outcome = this.model.create(manager.bearer, { name: request.name, scopes: [...request.scopes] });
    if (failure === "outcome-unknown") {
      throw new CreateOutcomeUnknownError("Novala create: the answer did not come back (simulated; a key was created)");
    }
    return this.unwrap("create", outcome);
  }

  async list(manager: NovalaCredentials, filter?: KeyListFilter): Promise<NovalaKey[]> {
    this.enter("list");
    const keys = new Map<string, NovalaKey>();
    const suffixes = filter?.nameSuffixes;
    if (suffixes?.length === 0) return [];
    const chunks = suffixes ? chunked(suffixes, MAX_NAME_SUFFIXES) : [undefined];
    for (const chunk of chunks) {
      const query = { status: filter?.status, name_suffix: chunk };
      let received = 0;
      for (let page = 1; ; page++) {
        const answer = this.unwrap("list", this.model.list(manager.bearer, { page, limit: MAX_PAGE_SIZE, ...query }));
        for (const key of answer.data) keys.set(key.id, key);
        received += answer.data.length;
        if (answer.data.length === 0 || received >= answer.total) break;
      }
    }
    return [...keys.values()].filter((key) => matchesKeyFilter(key, filter));
  }

  async revoke(manager: NovalaCredentials, keyId: string): Promise<"revoked" | "already-revoked"> {
    this.enter("revoke");
    const outcome = this.model.revoke(manager.bearer, keyId);
    if (!outcome.ok && outcome.status === 404) return "already-revoked";
    this.unwrap("revoke", outcome);
    return "revoked";
  }

  async probe(caller: NovalaCredentials, scope: string): Promise<"ok" | "no-probe"> {
    this.enter("probe");
    if (!(scope in SCOPE_PROBES)) return "no-probe";
    this.unwrap("probe", this.model.probe(caller.bearer, scope, { limit: 1 }));
    return "ok";
  }

  /** Counts the call and raises (or returns, for create's outcome-unknown kinds) a queued failure. */
  private enter(operation: KeyApiOperation): InjectedFailure["kind"] | undefined {
    this.callCounts[operation] += 1;
    const index = this.failures.findIndex((failure) => failure.operation === operation);
    const failure = this.failures[index];
    if (!failure) return undefined;
    failure.count -= 1;
    if (failure.count <= 0) this.failures.splice(index, 1);
    if (failure.kind === "unavailable") {
      if (operation === "create") {
        // Like a connection refused before anything was sent: the create certainly did not happen.
        throw new NovalaUnavailableError(operation, "simulated: Novala unreachable");
      }
      throw new NovalaUnavailableError(operation, "simulated: Novala unavailable", 503);
    }
    return failure.kind;
  }

  private unwrap<T>(operation: KeyApiOperation, outcome: Outcome<T>): T {
    if (outcome.ok) return outcome.value;
    if (outcome.status === 429 || outcome.status >= 500) {
      throw new NovalaUnavailableError(operation, outcome.error, outcome.status);
    }
    throw novalaRefusal(outcome.status, operation, outcome.error);
  }
}

function chunked<T>(items: readonly T[], size: number): T[][] {
  const chunks: T[][] = [];
  for (let start = 0; start < items.length; start += size) chunks.push(items.slice(start, start + size));
  return chunks;
}

/**
 * `keys` with `get` answering another lastUsedAt: a Novala that reports none ("absent", or null), or one whose answer
 * is not a timestamp. The rest of the key and every other call are `keys`' own.
 */
export function reportingLastUse(keys: KeyApi, lastUsedAt: unknown): KeyApi {
  return new Proxy(keys, {
    get(target, property) {
      const value = Reflect.get(target, property, target) as unknown;
      if (property !== "get") return typeof value === "function" ? value.bind(target) : value;
      return async (...args: Parameters<KeyApi["get"]>) => {
        const key = await target.get(...args);
        if (!key) return key;
        const { lastUsedAt: _real, ...rest } = key;
        return lastUsedAt === "absent" ? rest : { ...rest, lastUsedAt };
      };
    },
  });
}
