/**
 * An allowed Novala host that answers badly (issue 9, items 5 to 7): a body far larger than any real answer, a body
 * that trickles in, an error text that echoes the request's key back in another case or encoding, and a pattern that
 * would reach another port. Each runs the real HTTP client and key adapter against the Novala simulator on loopback
 * (its "flood" and "status" faults), and asserts what a user would notice: the process stays small and quick, the
 * error names the operation and the limit, and no run of 8 characters of a key reaches an error or a printed line.
 */
import fc from "fast-check";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { describeError } from "../../cli/errors.js";
import { Output } from "../../cli/output.js";
import {
  CreateOutcomeUnknownError,
  NovalaAnswerTooLargeError,
  NovalaUnavailableError,
} from "../../lambdas/adapters/novala/errors.js";
import { MAX_ANSWER_BYTES } from "../../lambdas/adapters/novala/http-client.js";
import { createNovalaKeyApi, type NovalaKeyApi } from "../../lambdas/adapters/novala/key-api.js";
import { PowertoolsTelemetry, publicError } from "../../lambdas/adapters/telemetry/powertools-telemetry.js";
import { AllowedHosts } from "../../lambdas/contract/allowed-hosts.js";
import type { NovalaClientConfig } from "../../lambdas/contract/configuration.js";
import { HostNotAllowedError } from "../../lambdas/contract/errors.js";
import type { CreatedNovalaKey, NovalaCredentials } from "../../lambdas/core/ports.js";
import { MIN_LEAK_RUN, redact } from "../../lambdas/core/redact.js";
import { type NovalaSimulator, startNovalaSimulator } from "../../local/novala-simulator.js";
import { caught } from "../support/caught.js";

const MB = 1024 * 1024;
const HUGE = 400 * MB;

let novala: NovalaSimulator;
let manager: CreatedNovalaKey;
let consumer: CreatedNovalaKey;
const apis: NovalaKeyApi[] = [];

beforeAll(async () => {
  novala = await startNovalaSimulator();
  manager = novala.model.seedKey({ name: "Rotation manager", scopes: ["api_keys.manage"] });
  consumer = novala.model.seedKey({ name: "Acumatica Integration", scopes: ["leads.lead.read"] });
});

afterEach(async () => {
  novala.clearFaults();
  novala.clearRequestLog();
  for (const api of apis.splice(0)) await api.close();
});

afterAll(async () => {
  await novala?.stop();
});

function keyApi(overrides: Partial<NovalaClientConfig> = {}): NovalaKeyApi {
  const api = createNovalaKeyApi({
    allowedHosts: new AllowedHosts("127.0.0.1"),
    connectTimeoutMs: 1000,
    requestTimeoutMs: 5000,
    retryBudgetMs: 0,
    ...overrides,
  });
  apis.push(api);
  return api;
}

function as(key: CreatedNovalaKey): NovalaCredentials {
  return { baseUrl: novala.url, bearer: key.secretKey };
}

/** Runs `work` while sampling the resident set size; resolves its outcome and the largest growth seen. */
async function peakGrowth<T>(work: () => Promise<T>): Promise<{ outcome: T; growthBytes: number }> {
  const before = process.memoryUsage().rss;
  let peak = before;
  const sampler = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage().rss);
  }, 5);
  try {
    const outcome = await work();
    peak = Math.max(peak, process.memoryUsage().rss);
    return { outcome, growthBytes: peak - before };
  } finally {
    clearInterval(sampler);
  }
}

describe("a huge answer", () => {
  it("is refused at once when its content-length announces 400 MB: nothing is read, nothing retried", async () => {
    novala.injectFault({ match: "GET /api/v1/api-keys/self", kind: "flood", bytes: HUGE, announce: true, count: 5 });
    const started = Date.now();
    const error = await caught(keyApi({ retryBudgetMs: 60_000 }).self(as(consumer)));
    expect(Date.now() - started).toBeLessThan(2000);
    expect(error).toBeInstanceOf(NovalaAnswerTooLargeError);
    expect(error.message).toBe(
      "Novala GET /api/v1/api-keys/self answered 200: its content-length announces an answer larger than the 1 MB limit; the answer was not read",
    );
    const log = novala.requestLog();
    expect(log).toHaveLength(1);
    // The client hung up after the headers: the server got rid of a few socket buffers' worth at most.
    expect(log[0]?.bytesWritten).toBeLessThan(16 * MB);
  });

  it("is cut off past 1 MB when it streams 400 MB without a content-length, and the process stays small", async () => {
    novala.injectFault({ match: "GET /api/v1/api-keys", kind: "flood", bytes: HUGE });
    const { outcome: error, growthBytes } = await peakGrowth(() => caught(keyApi().list(as(manager))));
    expect(error).toBeInstanceOf(NovalaAnswerTooLargeError);
    expect(error.message).toBe(
      "Novala GET /api/v1/api-keys?page={page}&limit=100 answered 200: it sent an answer larger than the 1 MB limit; the answer was not read",
    );
    expect((error as NovalaAnswerTooLargeError).limitBytes).toBe(MAX_ANSWER_BYTES);
    // Reading it whole took the process to 494 MB (issue 9); the Lambda has 256 MB.
    expect(growthBytes).toBeLessThan(64 * MB);
    expect(novala.requestLog()[0]?.bytesWritten).toBeLessThan(32 * MB);
  });

  it("cut off in a create's answer is an unknown outcome: the key exists, the create is not retried", async () => {
    novala.injectFault({ match: "POST /api/v1/api-keys", kind: "flood", status: 201, bytes: HUGE, perform: true });
    const name = "Acumatica Integration · huge answer";
    const error = await caught(keyApi({ retryBudgetMs: 60_000 }).create(as(manager), { name, scopes: ["pipeline"] }));
    expect(error).toBeInstanceOf(CreateOutcomeUnknownError);
    expect(error.message).toContain(
      "Novala POST /api/v1/api-keys answered 201: it sent an answer larger than the 1 MB",
    );
    expect(error.message).toContain("the create may have taken effect");
    // Exactly what CreateOutcomeUnknownError tells the caller: a key exists, and only its name tag can find it.
    expect(novala.counters()["POST /api/v1/api-keys"]).toBe(1);
    expect(keysNamed(name)).toHaveLength(1);
  });

  it("on a refused create (4xx) is an error of its own, not an unknown outcome: nothing was created", async () => {
    novala.injectFault({ match: "POST /api/v1/api-keys", kind: "flood", status: 400, bytes: 2 * MB });
    const name = "Acumatica Integration · refused";
    const error = await caught(keyApi().create(as(manager), { name, scopes: ["pipeline"] }));
    expect(error).toBeInstanceOf(NovalaAnswerTooLargeError);
    expect(error).not.toBeInstanceOf(CreateOutcomeUnknownError);
    expect(keysNamed(name)).toHaveLength(0);
  });
});

function keysNamed(name: string): string[] {
  const listed = novala.model.list(manager.secretKey, { limit: "100" });
  if (!listed.ok) throw new Error(listed.error);
  return listed.value.data.filter((key) => key.name === name).map((key) => key.id);
}

describe("a slow answer", () => {
  it("that trickles in byte by byte is bounded by the attempt's total timeout, not by each chunk", async () => {
    novala.injectFault({
      match: "GET /api/v1/api-keys/self",
      kind: "flood",
      bytes: MB,
      chunkBytes: 4,
      intervalMs: 20,
    });
    const started = Date.now();
    const error = await caught(keyApi({ requestTimeoutMs: 400 }).self(as(consumer)));
    expect(Date.now() - started).toBeLessThan(2000);
    expect(error).toBeInstanceOf(NovalaUnavailableError);
    expect(error.message).toContain("no answer within 400 ms");
  });

  it("in every retried attempt is bounded by the retry budget as a whole", async () => {
    novala.injectFault({
      match: "GET /api/v1/api-keys/self",
      kind: "flood",
      bytes: MB,
      chunkBytes: 4,
      intervalMs: 20,
      count: 100,
    });
    const started = Date.now();
    const error = await caught(keyApi({ requestTimeoutMs: 300, retryBudgetMs: 1000 }).self(as(consumer)));
    // The budget (1 s) plus one last attempt (0.3 s), with slack for a busy machine.
    expect(Date.now() - started).toBeLessThan(3000);
    expect(error).toBeInstanceOf(NovalaUnavailableError);
    expect(error.message).toMatch(/gave up after \d+ attempts; retry budget 1000 ms/);
  });

  it("to a create is an unknown outcome after the timeout, with exactly one request", async () => {
    novala.injectFault({
      match: "POST /api/v1/api-keys",
      kind: "flood",
      status: 201,
      bytes: MB,
      chunkBytes: 4,
      intervalMs: 20,
      perform: true,
    });
    const error = await caught(
      keyApi({ requestTimeoutMs: 300, retryBudgetMs: 60_000 }).create(as(manager), {
        name: "Acumatica Integration · slow answer",
        scopes: ["pipeline"],
      }),
    );
    expect(error).toBeInstanceOf(CreateOutcomeUnknownError);
    expect(error.message).toContain("no answer within 300 ms");
    expect(novala.counters()["POST /api/v1/api-keys"]).toBe(1);
  });
});

/** The key's characters after its public prefix, lower case: what must never be printed, 8 at a time. */
function secretRuns(key: string): string[] {
  const lower = key.toLowerCase();
  const prefix = /^(pk|sk)_(live|test)_/.exec(lower)?.[0].length ?? 0;
  const runs: string[] = [];
  for (let start = Math.max(0, prefix - MIN_LEAK_RUN + 1); start + MIN_LEAK_RUN <= lower.length; start++) {
    runs.push(lower.slice(start, start + MIN_LEAK_RUN));
  }
  return runs;
}

/** `text` as a reader could decode it: lower case, percent-decoded twice, JSON escapes of "_" undone. */
function decodedForms(text: string): string[] {
  const decode = (value: string) =>
    value.replace(/%([0-9a-f]{2})/gi, (_match, hex: string) => String.fromCharCode(Number.parseInt(hex, 16)));
  const lower = text.toLowerCase().replace(/\\u005f/g, "_");
  return [lower, decode(lower), decode(decode(lower))];
}

function leakedRun(text: string, key: string): string | undefined {
  const forms = decodedForms(text);
  return secretRuns(key).find((run) => forms.some((form) => form.includes(run)));
}

function percentEncodeAll(text: string): string {
  return [...text].map((char) => `%${char.charCodeAt(0).toString(16).toUpperCase().padStart(2, "0")}`).join("");
}

/** The ways a server may echo the key it was sent. */
function echoes(key: string): Record<string, string> {
  const body = key.slice(8);
  return {
    "upper case": `invalid key ${key.toUpperCase()}`,
    "URL-encoded separators": `invalid key ${key.replace(/_/g, "%5F")}`,
    "URL-encoded, every character": `Bearer%20${percentEncodeAll(key)} rejected`,
    "URL-encoded twice": `invalid key ${percentEncodeAll(key).replace(/%/g, "%25")}`,
    "glued to word characters": `tokenxx${key}yy is revoked`,
    "glued, upper case": `XX${key.toUpperCase()}YY is revoked`,
    "JSON escape": `invalid key ${key.replace(/_/g, "\\u005f")}`,
    "without its prefix": `unknown token ${body}`,
    "a fragment, upper case": `bad token …${body.slice(5, 25).toUpperCase()}…`,
    base64: `Basic ${Buffer.from(`:${key}`).toString("base64")} rejected`,
  };
}

/** Every line the Lambdas and the command line would print for `error`. */
function printedLines(error: Error): string {
  const written: string[] = [];
  const write = process.stdout.write.bind(process.stdout);
  process.stdout.write = ((chunk: string | Uint8Array) => {
    written.push(typeof chunk === "string" ? chunk : Buffer.from(chunk).toString("utf8"));
    return true;
  }) as typeof process.stdout.write;
  try {
    const telemetry = new PowertoolsTelemetry();
    telemetry.error(`createSecret failed: ${error.message}`, { error: error.message, step: "createSecret" });
  } finally {
    process.stdout.write = write;
  }
  const streams = { stdout: sink(written), stderr: sink(written), env: {} };
  const output = new Output(false, streams);
  output.line(error.message);
  output.warn(error.message);
  new Output(true, streams).data({ error: error.message });
  written.push(describeError(error), publicError(error).message);
  return written.join("\n");
}

function sink(into: string[]): NodeJS.WritableStream {
  return {
    write: (chunk: string) => {
      into.push(chunk);
      return true;
    },
  } as unknown as NodeJS.WritableStream;
}

describe("an error text that echoes the key", () => {
  for (const [form, _example] of Object.entries(echoes("sk_live_placeholder"))) {
    it(`keeps no run of 8 characters of the bearer key (${form}) in the error or any printed line`, async () => {
      const message = echoes(consumer.secretKey)[form] as string;
      // The echo does carry the key (base64 hides it from this check, so that one is checked below).
      if (form !== "base64") expect(leakedRun(message, consumer.secretKey)).toBeDefined();
      novala.injectFault({ match: "GET /api/v1/api-keys/self", kind: "status", status: 401, message });
      const error = await caught(keyApi().self(as(consumer)));
      expect(error.message).toMatch(/^Novala GET \/api\/v1\/api-keys\/self answered 401: /);
      const printed = `${error.message}\n${error.stack ?? ""}\n${printedLines(error)}`;
      expect(leakedRun(printed, consumer.secretKey)).toBeUndefined();
      expect(printed).not.toContain(Buffer.from(`:${consumer.secretKey}`).toString("base64").slice(0, 16));
    });
  }

  it("still shows a short plain error text that carries no key", async () => {
    novala.injectFault({ match: "POST /api/v1/api-keys", kind: "status", status: 400, message: "unknown scope: nope" });
    const error = await caught(keyApi().create(as(manager), { name: "n", scopes: ["nope"] }));
    expect(error.message).toBe("Novala POST /api/v1/api-keys answered 400: unknown scope: nope");
  });
});

describe("redact() on its own, knowing no key", () => {
  it("leaves no run of 8 characters of any key-shaped text, in any case, percent-encoded or glued", () => {
    const keyArbitrary = fc
      .tuple(fc.constantFrom("sk", "pk"), fc.constantFrom("live", "test"), fc.stringMatching(/^[A-Za-z0-9]{24,48}$/))
      .map(([kind, mode, body]) => `${kind}_${mode}_${body}`);
    const encodings: ((key: string) => string)[] = [
      (key) => key,
      (key) => key.toUpperCase(),
      (key) => key.replace(/_/g, "%5F"),
      (key) => key.replace(/_/g, "%5f"),
      (key) => percentEncodeAll(key),
      (key) => percentEncodeAll(key).replace(/%/g, "%25"),
      (key) => key.replace(/_/g, "\\u005f"),
    ];
    fc.assert(
      fc.property(
        keyArbitrary,
        fc.constantFrom(...encodings),
        fc.stringMatching(/^[A-Za-z0-9]{0,3}$/),
        fc.stringMatching(/^[A-Za-z0-9]{0,3}$/),
        (key, encode, before, after) => {
          const line = redact(`echo: ${before}${encode(key)}${after} (end)`);
          return leakedRun(line, key) === undefined && line.startsWith("echo: ") && line.endsWith(" (end)");
        },
      ),
      { numRuns: 500 },
    );
  });

  it("keeps the prefix and the last four characters of a whole key, as lastFour shows them", () => {
    expect(redact("key SK_LIVE_0123456789abcdefWXYZ in use")).toBe("key sk_live_…WXYZ in use");
    expect(redact("key sk%5Flive%5F0123456789abcdefWXYZ in use")).toBe("key sk_live_…WXYZ in use");
  });
});

describe("ports", () => {
  it("lets an https pattern without a port reach port 443 only, and one with a port that port only", async () => {
    const allowed = new AllowedHosts("*.novala.ai,api.example.test:8443");
    expect(allowed.isAllowed("https://acme.novala.ai/api/v1")).toBe(true);
    expect(allowed.isAllowed("https://acme.novala.ai:443/api/v1")).toBe(true);
    expect(allowed.isAllowed("https://acme.novala.ai:8443/api/v1")).toBe(false);
    expect(allowed.isAllowed("https://acme.novala.ai:22/")).toBe(false);
    expect(allowed.isAllowed("https://api.example.test:8443/")).toBe(true);
    expect(allowed.isAllowed("https://api.example.test/")).toBe(false);
    expect(() => allowed.check("https://acme.novala.ai:8443/")).toThrow(
      "host acme.novala.ai port 8443 is not in NOVALA_ALLOWED_HOSTS (*.novala.ai,api.example.test:8443); a pattern without a port allows 443 only",
    );
    // Nothing is sent to a port the pattern does not allow: the simulator's port is not 443.
    const api = keyApi({ allowedHosts: new AllowedHosts("127.0.0.1:443") });
    const error = await caught(
      api.self({ baseUrl: novala.url.replace("http:", "https:"), bearer: consumer.secretKey }),
    );
    expect(error).toBeInstanceOf(HostNotAllowedError);
    expect(novala.requestLog()).toHaveLength(0);
  });

  it("sends plain http only to a loopback host listed exactly, on any port unless the pattern names one", () => {
    const port = new URL(novala.url).port;
    expect(new AllowedHosts("127.0.0.1").isAllowed(novala.url)).toBe(true);
    expect(new AllowedHosts(`127.0.0.1:${port}`).isAllowed(novala.url)).toBe(true);
    expect(new AllowedHosts(`127.0.0.1:${Number(port) + 1}`).isAllowed(novala.url)).toBe(false);
    expect(new AllowedHosts("localhost").isAllowed(novala.url)).toBe(false);
    expect(new AllowedHosts("*.novala.ai").isAllowed("http://acme.novala.ai/")).toBe(false);
    expect(new AllowedHosts("acme.novala.ai").isAllowed("http://acme.novala.ai/")).toBe(false);
    expect(new AllowedHosts("0177.0.0.1,127.1").isAllowed("http://127.0.0.1/")).toBe(false);
  });
});
