/**
 * The undici that Node.js itself ships, instead of a bundled copy. Node's global fetch is built on undici (Node 24:
 * undici 7, Node 20: undici 6), but Node does not export its Agent. The bundled `undici` package is ~520 KB of
 * minified code (fetch, WebSocket, caches, mocks and two 70 KB copies of the llhttp WebAssembly parser) of which this
 * project uses one Agent and `Dispatcher.request`; taking Node's own copy keeps each Lambda bundle small and its cold
 * start short.
 *
 * How the class is reached: loading undici installs an Agent as the process's global dispatcher, under the
 * cross-version key `Symbol.for("undici.globalDispatcher.1")` that every undici copy (Node's and npm's) reads and
 * writes. Node loads its copy on the first `fetch()` call; a `data:` URL is answered without any network access. The
 * constructor of that Agent is the Agent class; its prototype carries the request API (`Dispatcher.request`), exactly
 * as `import { Agent } from "undici"` would. If something replaced the global dispatcher (for example Node's
 * NODE_USE_ENV_PROXY, which installs an EnvHttpProxyAgent), the Agent it wraps is used.
 *
 * Only types are imported from the npm package: nothing of it reaches the bundle.
 */
import type { Agent, Dispatcher } from "undici";

export type { Dispatcher };
export type AgentClass = new (options?: Agent.Options) => Dispatcher;

const GLOBAL_DISPATCHER = Symbol.for("undici.globalDispatcher.1");

let agentClass: AgentClass | undefined;

/** The Agent class of the undici copy the process uses for fetch (Node's own, unless npm undici was loaded first). */
export function runtimeAgentClass(): AgentClass {
  if (agentClass) return agentClass;
  const holder = globalThis as unknown as Record<symbol, unknown>;
  if (holder[GLOBAL_DISPATCHER] === undefined) {
    // Synchronously loads Node's bundled undici (which installs its global Agent); the answer itself is not needed.
    fetch("data:,").then(
      (response) => response.body?.cancel(),
      () => undefined,
    );
  }
  const found = findAgentClass(holder[GLOBAL_DISPATCHER]);
  if (!found) {
    throw new Error(
      "the Node.js runtime's undici Agent could not be found (no global dispatcher, or one that wraps no Agent)",
    );
  }
  agentClass = found;
  return found;
}

function findAgentClass(dispatcher: unknown): AgentClass | undefined {
  if (isAgent(dispatcher)) return dispatcher.constructor as AgentClass;
  if (typeof dispatcher !== "object" || dispatcher === null) return undefined;
  // A wrapper (EnvHttpProxyAgent, ProxyAgent, RetryAgent) keeps the Agent it delegates to under a symbol key.
  for (const key of Object.getOwnPropertySymbols(dispatcher)) {
    const inner = (dispatcher as Record<symbol, unknown>)[key];
    if (isAgent(inner)) return inner.constructor as AgentClass;
  }
  return undefined;
}

function isAgent(value: unknown): value is Dispatcher {
  if (typeof value !== "object" || value === null) return false;
  const candidate = value as { constructor?: { name?: unknown }; request?: unknown; dispatch?: unknown };
  return (
    candidate.constructor?.name === "Agent" &&
    typeof candidate.request === "function" &&
    typeof candidate.dispatch === "function"
  );
}
