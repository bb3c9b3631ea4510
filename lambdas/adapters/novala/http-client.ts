/** The one way this project talks HTTP to Novala: undici, the allow-list, timeouts, retries, capped answers. */
import { Agent, type Dispatcher } from "undici";
import type { NovalaClientConfig } from "../../contract/configuration.js";
import { RotationError } from "../../contract/errors.js";
import { SecretValueError } from "../../core/errors.js";
import type { Telemetry } from "../../core/ports.js";
import { redact, redactSecrets } from "../../core/redact.js";
import {
  CreateOutcomeUnknownError,
  NovalaAnswerTooLargeError,
  NovalaHttpError,
  NovalaUnavailableError,
  novalaRefusal,
  RetryAfterAboveCapError,
} from "./errors.js";
import type { RequestPacer } from "./rate-budget.js";

/** The methods Novala's key API uses. */
export type HttpMethod = "GET" | "POST" | "DELETE";

/** One Novala call, as the key API asks it of the client. */
export interface NovalaRequest {
  method: HttpMethod;
  /** The tenant's base URL; only its origin is used. */
  baseUrl: string;
  /** Absolute path, with the query string if any: "/api/v1/api-keys/key_1". */
  path: string;
  /** The path as the operation is named in errors and metrics: "/api/v1/api-keys/{id}". Defaults to `path`. */
  pathTemplate?: string;
  bearer: string;
  /** Sent as JSON. */
  body?: unknown;
  /** Statuses answered without an error. Default: any 2xx. */
  expect?: readonly number[];
}

/** An expected answer. */
export interface NovalaResponse {
  status: number;
  /** The parsed JSON body; undefined for an empty body. */
  body: unknown;
}

/** One HTTP attempt, for call counting in tests and benchmarks. Carries no header or body. */
export interface AttemptRecord {
  method: HttpMethod;
  /** "GET /api/v1/api-keys/{id}" */
  operation: string;
  /** 1 for the first attempt of an operation. */
  attempt: number;
  /** Undefined when no answer came back (network error or timeout). */
  status?: number;
  /** Error code of a failed attempt: ECONNRESET, UND_ERR_CONNECT_TIMEOUT, ATTEMPT_TIMEOUT, … */
  errorCode?: string;
  durationMs: number;
}

/** The client's clock, randomness, pacer and hooks: tests, benchmarks and the Lambdas' rate budget set them. */
export interface NovalaHttpClientOptions {
  /** Waits between attempts. Default: setTimeout. */
  sleep?: (ms: number) => Promise<void>;
  /** In [0, 1): the jitter source. Default: Math.random. */
  random?: () => number;
  /** Milliseconds, for the retry budget. Default: performance.now. */
  now?: () => number;
  onAttempt?: (record: AttemptRecord) => void;
  /** First backoff ceiling. Default 200 ms. */
  backoffBaseMs?: number;
  /** Largest backoff ceiling. Default 10 s. */
  backoffCapMs?: number;
  /**
   * How long one operation may keep retrying while every failure is a 429 (Novala answers; it only paces this
   * caller), when that is longer than the configuration's retry budget. Default 180 s. See DEFAULT_RATE_LIMIT_BUDGET_MS.
   */
  rateLimitBudgetMs?: number;
  /** Replaces the shared Agent (its own timeouts then apply). */
  dispatcher?: Dispatcher;
  /** Paces every attempt and, after a 429, holds back the calls to that origin (the rate budget, ./rate-budget.ts). */
  pacer?: RequestPacer;
  /**
   * Where the rate budget's effect is counted: NovalaRateLimited for every 429 answered, RateBudgetWait (ms) for each
   * attempt that waited for its slot of the budget or for its origin's hold-off.
   */
  metrics?: Pick<Telemetry, "metric">;
}

/** Full-jitter backoff: the first ceiling, doubled per attempt up to the cap. */
export const DEFAULT_BACKOFF_BASE_MS = 200;
export const DEFAULT_BACKOFF_CAP_MS = 10_000;
/**
 * A fleet of secrets deployed together rotates together: N Lambdas share one tenant's rate limit (50 requests/s), and
 * the last of them is served only after about N × (calls per rotation) ÷ 50 s. A 429 is Novala answering, not Novala
 * down, so it is retried for longer than NOVALA_RETRY_BUDGET_SECONDS (which bounds 5xx and network errors): 180 s,
 * which with the construct's default health-check deadline (60 s) stays inside its default timeout (5 min). Measured
 * in bench/ (fleet rotation): with 60 s, 11 % of 500 concurrent rotations gave up; with 180 s none did.
 */
export const DEFAULT_RATE_LIMIT_BUDGET_MS = 180_000;
/**
 * The longest `Retry-After` waited out (docs/design.md, "A rate budget for rotation"). Novala's per-tenant limit
 * refills within a second, so an honest pacing 429 asks for a few seconds; a longer wait is a quota, an outage or a
 * hostile host, which waiting inside one invocation does not fix. 30 s fits six times into the 429 budget
 * (DEFAULT_RATE_LIMIT_BUDGET_MS) and, with the default 60 s health-check deadline, leaves a step most of the default
 * 5-minute timeout. Above it the call fails at once; the step is retried later.
 */
export const MAX_RETRY_AFTER_MS = 30_000;
/**
 * The largest answer read, in bytes. Novala's largest legitimate answer is a list page of 100 key objects (about
 * 30 KB with long names and three scopes each); 1 MB leaves ample room and still fits in a 256 MB Lambda.
 */
export const MAX_ANSWER_BYTES = 1024 * 1024;
/** Novala's error text is kept only up to this length (and only as plain text): a longer one is not a status line. */
const MAX_ERROR_TEXT = 120;
const USER_AGENT = "novala-key-rotation";

/**
 * Error codes of a connection that never opened: the request bytes were certainly not sent, so even a POST may be
 * retried. Undici reports a TLS handshake that does not finish in time as UND_ERR_CONNECT_TIMEOUT too.
 */
const NOT_SENT_CODES = new Set([
  "ECONNREFUSED",
  "UND_ERR_CONNECT_TIMEOUT",
  "ENOTFOUND",
  "EAI_AGAIN",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "EADDRNOTAVAIL",
]);

const ATTEMPT_TIMEOUT = "ATTEMPT_TIMEOUT";

type AttemptResult =
  | { kind: "answer"; status: number; headers: Record<string, string | string[] | undefined>; text: string }
  /** An answer whose body was larger than MAX_ANSWER_BYTES (announced or read): the body was not kept. */
  | { kind: "too-large"; status: number; announced: boolean }
  | { kind: "failure"; code: string; detail: string; notSent: boolean };

/**
 * The one way this project talks HTTP to Novala: JSON over undici, allow-list checked before every request, no
 * redirects, a connect and a total timeout per attempt, and retries of 429/5xx/network errors with capped exponential
 * backoff and full jitter inside a retry budget. A `Retry-After` is honoured up to MAX_RETRY_AFTER_MS; a longer one
 * fails the call at once (RetryAfterAboveCapError), since it would hold the Lambda until its timeout. Novala documents
 * no idempotency keys, so a POST is retried only when it certainly did not take effect (429, or the connection never
 * opened); any other failure after sending throws CreateOutcomeUnknownError and leaves reconciliation to the caller.
 * An answer is read as a stream and refused past MAX_ANSWER_BYTES (at once when its content-length announces more),
 * so an allowed host cannot exhaust the Lambda's memory. Error messages carry statuses, operation names and Novala's
 * error text only when it is short plain text with nothing of the bearer token or of any key in it (see errorText),
 * never a body.
 *
 * The undici is the npm package at the version this project pins and tests, bundled into each Lambda, not Node's
 * internal copy (which changes with the runtime's minor version under a deployed function).
 */
export class NovalaHttpClient {
  private readonly dispatcher: Dispatcher;
  private readonly ownsDispatcher: boolean;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly random: () => number;
  private readonly now: () => number;
  private readonly baseMs: number;
  private readonly capMs: number;
  private readonly rateLimitBudgetMs: number;

  constructor(
    private readonly config: NovalaClientConfig,
    private readonly options: NovalaHttpClientOptions = {},
  ) {
    this.ownsDispatcher = options.dispatcher === undefined;
    this.dispatcher =
      options.dispatcher ??
      new Agent({
        connect: { timeout: config.connectTimeoutMs },
        headersTimeout: config.requestTimeoutMs,
        bodyTimeout: config.requestTimeoutMs,
      });
    this.sleep = options.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
    this.random = options.random ?? Math.random;
    this.now = options.now ?? (() => performance.now());
    this.baseMs = options.backoffBaseMs ?? DEFAULT_BACKOFF_BASE_MS;
    this.capMs = options.backoffCapMs ?? DEFAULT_BACKOFF_CAP_MS;
    this.rateLimitBudgetMs = Math.max(config.retryBudgetMs, options.rateLimitBudgetMs ?? DEFAULT_RATE_LIMIT_BUDGET_MS);
  }

  /**
   * Sends `req`, retrying as the class comment describes. Resolves for an expected status; throws NovalaHttpError for
   * any other non-retryable answer (including a redirect), NovalaUnavailableError when retries run out,
   * CreateOutcomeUnknownError for a POST that may have taken effect, HostNotAllowedError before sending anything.
   */
  async request(req: NovalaRequest): Promise<NovalaResponse> {
    const operation = `${req.method} ${req.pathTemplate ?? req.path}`;
    const url = this.buildUrl(req);
    const { origin } = url;
    checkBearer(req.bearer);
    const idempotent = req.method !== "POST";
    const started = this.now();
    let slept = 0;
    // True while every failure so far was a 429: the longer rate-limit budget applies.
    let onlyRateLimited = true;
    for (let attempt = 1; ; attempt++) {
      const asked = this.now();
      const heldOff = await this.options.pacer?.acquire(origin, MAX_RETRY_AFTER_MS);
      const pacedMs = Math.round(this.now() - asked);
      if (pacedMs > 0) this.options.metrics?.metric("RateBudgetWait", pacedMs, "Milliseconds");
      if (heldOff) throw RetryAfterAboveCapError.heldOff(operation, heldOff, MAX_RETRY_AFTER_MS);
      const attemptStarted = this.now();
      const result = await this.attempt(req, url);
      this.options.onAttempt?.({
        method: req.method,
        operation,
        attempt,
        ...(result.kind === "failure" ? { errorCode: result.code } : { status: result.status }),
        durationMs: Math.max(0, this.now() - attemptStarted),
      });

      if (result.kind === "too-large") throw tooLargeError(result, operation, idempotent);

      let retryAfterMs: number | undefined;
      let lastStatus: number | undefined;
      let failure: string;
      if (result.kind === "answer") {
        const { status } = result;
        if (isExpected(status, req.expect))
          return { status, body: parseJson(result.text, operation, status, idempotent) };
        if (status >= 300 && status < 400) {
          throw new NovalaHttpError(status, operation, redirectMessage(result.headers.location, url, req.bearer));
        }
        const message = errorText(result.text, req.bearer);
        if (status !== 429 && status < 500) throw novalaRefusal(status, operation, message);
        if (!idempotent && status !== 429) {
          throw new CreateOutcomeUnknownError(
            `Novala ${operation} answered ${status} (${message}); the create may have taken effect, so it is not retried`,
          );
        }
        lastStatus = status;
        if (status === 429) this.options.metrics?.metric("NovalaRateLimited");
        else onlyRateLimited = false;
        retryAfterMs = parseRetryAfter(result.headers["retry-after"]);
        if (retryAfterMs !== undefined && retryAfterMs > MAX_RETRY_AFTER_MS) {
          // Later calls to this origin fail at once too, without asking it again; other origins are not touched.
          if (status === 429) this.options.pacer?.holdOff(origin, retryAfterMs);
          throw RetryAfterAboveCapError.answered(operation, origin, status, retryAfterMs, MAX_RETRY_AFTER_MS);
        }
        failure = `answered ${status}: ${message}`;
      } else {
        if (!idempotent && !result.notSent) {
          throw new CreateOutcomeUnknownError(
            `Novala ${operation} failed after the request was sent (${result.detail}); the create may have taken effect, so it is not retried`,
          );
        }
        failure = result.detail;
        onlyRateLimited = false;
      }

      const ceiling = Math.min(this.capMs, this.baseMs * 2 ** (attempt - 1));
      const waitMs = Math.max(retryAfterMs ?? 0, Math.floor(this.random() * ceiling));
      // A 429 paces the tenant, not this call: every call to this origin sharing the pacer waits for it.
      if (lastStatus === 429) this.options.pacer?.holdOff(origin, retryAfterMs ?? waitMs);
      // The budget counts the larger of wall time and time slept, so an injected sleep still drains it.
      const spent = Math.max(this.now() - started, slept);
      const budgetMs = onlyRateLimited ? this.rateLimitBudgetMs : this.config.retryBudgetMs;
      if (spent + waitMs > budgetMs) {
        throw new NovalaUnavailableError(
          operation,
          `${failure} (gave up after ${attempt} attempt${attempt === 1 ? "" : "s"}; retry budget ${budgetMs} ms)`,
          lastStatus,
        );
      }
      await this.sleep(waitMs);
      slept += waitMs;
    }
  }

  /** Closes the shared Agent's connections (tests, benchmarks). */
  async close(): Promise<void> {
    if (this.ownsDispatcher) await this.dispatcher.close();
  }

  private buildUrl(req: NovalaRequest): URL {
    if (!req.path.startsWith("/"))
      throw new RotationError(`Novala path must be absolute: ${req.pathTemplate ?? req.path}`);
    // Checking the base first turns an unparseable baseUrl into HostNotAllowedError without echoing it.
    const origin = this.config.allowedHosts.check(req.baseUrl).origin;
    return this.config.allowedHosts.check(`${origin}${req.path}`);
  }

  private async attempt(req: NovalaRequest, url: URL): Promise<AttemptResult> {
    const controller = new AbortController();
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      controller.abort(new Error("attempt timed out"));
    }, this.config.requestTimeoutMs);
    try {
      const headers: Record<string, string> = {
        authorization: `Bearer ${req.bearer}`,
        accept: "application/json",
        "user-agent": USER_AGENT,
      };
      let body: string | undefined;
      if (req.body !== undefined) {
        body = JSON.stringify(req.body);
        headers["content-type"] = "application/json";
      }
      // What undici's top-level request(url, { dispatcher }) does: origin and path from the URL, on this dispatcher.
      const response = await this.dispatcher.request({
        origin: url.origin,
        path: `${url.pathname}${url.search}`,
        method: req.method,
        headers,
        body,
        signal: controller.signal,
      });
      const status = response.statusCode;
      if (status >= 300 && status < 400) {
        await response.body.dump();
        return { kind: "answer", status, headers: response.headers, text: "" };
      }
      if (announcedLength(response.headers["content-length"]) > MAX_ANSWER_BYTES) {
        discard(response.body);
        return { kind: "too-large", status, announced: true };
      }
      // The attempt timer (above) aborts a body that trickles in: it bounds the whole answer, not each chunk.
      const text = await readCapped(response.body, MAX_ANSWER_BYTES);
      if (text === undefined) return { kind: "too-large", status, announced: false };
      return { kind: "answer", status, headers: response.headers, text };
    } catch (error) {
      if (timedOut) {
        return {
          kind: "failure",
          code: ATTEMPT_TIMEOUT,
          detail: `no answer within ${this.config.requestTimeoutMs} ms`,
          notSent: false,
        };
      }
      const code = errorCode(error);
      return {
        kind: "failure",
        code,
        detail: `${code}: ${scrub(error instanceof Error ? error.message : String(error), req.bearer)}`,
        notSent: NOT_SENT_CODES.has(code),
      };
    } finally {
      clearTimeout(timer);
    }
  }
}

/** Reads a body as UTF-8 up to `limit` bytes; undefined (and the stream destroyed) when it holds more. */
async function readCapped(body: Dispatcher.ResponseData["body"], limit: number): Promise<string | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    size += chunk.length;
    if (size > limit) {
      discard(body);
      return undefined;
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks, size).toString("utf8");
}

/** Drops an unread body and its connection; the abort it causes is expected, not an error to report. */
function discard(body: { on(event: "error", listener: () => void): unknown; destroy(): unknown }): void {
  body.on("error", () => {});
  body.destroy();
}

/** A content-length header as a number; 0 when absent or unreadable (the streamed count still applies). */
function announcedLength(header: string | string[] | undefined): number {
  const value = (Array.isArray(header) ? header[0] : header)?.trim();
  return value && /^\d+$/.test(value) ? Number(value) : 0;
}

/**
 * An answer past MAX_ANSWER_BYTES. For a create it is a key that may exist (the answer was cut off, so its id and
 * secret are unknown) unless Novala refused the request (4xx): the caller reconciles by the key's name tag.
 */
function tooLargeError(
  result: { status: number; announced: boolean },
  operation: string,
  idempotent: boolean,
): NovalaAnswerTooLargeError | CreateOutcomeUnknownError {
  const error = new NovalaAnswerTooLargeError(result.status, operation, MAX_ANSWER_BYTES, result.announced);
  const refused = result.status >= 400 && result.status < 500;
  if (idempotent || refused) return error;
  return new CreateOutcomeUnknownError(
    `${error.message}; the create may have taken effect, so it is not retried and its answer is not used`,
  );
}

function isExpected(status: number, expect: readonly number[] | undefined): boolean {
  return expect ? expect.includes(status) : status >= 200 && status < 300;
}

function checkBearer(bearer: string): void {
  // Undici would refuse these too; refusing here guarantees nothing is sent and nothing of the token is echoed.
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are exactly what is refused
  if (bearer.length === 0 || /[\u0000-\u001f\u007f\s]/.test(bearer)) {
    throw new SecretValueError("Novala bearer token is empty or contains characters not allowed in a header");
  }
}

/** The error's code, looking through `cause` and AggregateError (happy eyeballs) wrappers. */
function errorCode(error: unknown, depth = 0): string {
  if (depth > 4 || typeof error !== "object" || error === null) return "UNKNOWN";
  const { code, cause, errors } = error as { code?: unknown; cause?: unknown; errors?: unknown };
  if (typeof code === "string" && code.length > 0) return code;
  if (Array.isArray(errors) && errors.length > 0) return errorCode(errors[0], depth + 1);
  if (cause !== undefined) return errorCode(cause, depth + 1);
  return error instanceof Error ? error.name : "UNKNOWN";
}

function parseJson(text: string, operation: string, status: number, idempotent: boolean): unknown {
  if (text.trim() === "") return undefined;
  try {
    return JSON.parse(text);
  } catch {
    // The body may hold a key (a create answer): name the problem, never the text.
    if (!idempotent) {
      throw new CreateOutcomeUnknownError(
        `Novala ${operation} answered ${status} with a body that is not valid JSON; the create took effect but its result is unreadable`,
      );
    }
    throw new NovalaHttpError(status, operation, "the answer is not valid JSON");
  }
}

/**
 * Novala's `{"error": "..."}` text, when it is a short line of plain text; other bodies are not echoed. The text can
 * echo the request, so any run of the bearer token (any case, percent-encoded) and anything shaped like a key is
 * scrubbed first; what then still holds an encoding character (`%`, `\`, `&`, `=`, `+`), an unbroken token of 32 or
 * more characters (base64, hex) or is longer than MAX_ERROR_TEXT may hide a key in a form the scrubbing does not
 * know, and is withheld whole.
 */
function errorText(text: string, bearer: string): string {
  let message: unknown;
  try {
    message = (JSON.parse(text) as { error?: unknown } | null)?.error;
  } catch {
    return "(no error message)";
  }
  if (typeof message !== "string" || message.length === 0) return "(no error message)";
  const clean = scrub(message, bearer);
  if (clean.length > MAX_ERROR_TEXT || !PLAIN_TEXT.test(clean) || LONG_TOKEN.test(clean)) {
    return "(error message withheld: not short plain text)";
  }
  return clean;
}

/** Letters, digits, spaces and the punctuation of a plain status line (and the "…" of a redacted key). */
const PLAIN_TEXT = /^[\p{L}\p{N} .,:;!?'"()[\]{}<>/_#@*…-]*$/u;
/** An unbroken token this long is no word: it may be a credential in an encoding the scrubbing does not know. */
const LONG_TOKEN = /[A-Za-z0-9+/=_-]{32,}/;

function scrub(text: string, bearer: string): string {
  // Key-shaped text first, so a key that shares a run with the bearer still reads as "sk_live_…abcd".
  return redactSecrets(redact(text), [bearer], "[bearer]");
}

function redirectMessage(location: string | string[] | undefined, url: URL, bearer: string): string {
  const raw = Array.isArray(location) ? location[0] : location;
  let target = "an unknown location";
  if (raw) {
    try {
      target = new URL(raw, url).host;
    } catch {
      target = "an unparseable location";
    }
  }
  return `Novala answered a redirect to ${scrub(target, bearer)}; redirects are not followed`;
}

/**
 * Retry-After as delta-seconds or an HTTP date (RFC 9110: IMF-fixdate, RFC 850 or asctime, all GMT), in ms; a date
 * in the past is 0. Undefined when absent or anything else (a negative number, a fraction, "soon"): Date.parse alone
 * would read "-5" or "1.5" as dates in 2001. May be far above any timer's range (even Infinity): callers compare it
 * with MAX_RETRY_AFTER_MS before waiting.
 */
export function parseRetryAfter(header: string | string[] | undefined, nowMs = Date.now()): number | undefined {
  const value = (Array.isArray(header) ? header[0] : header)?.trim();
  if (!value) return undefined;
  if (/^\d+$/.test(value)) return Number(value) * 1000;
  const date = HTTP_DATE.some((format) => format.test(value))
    ? Date.parse(ASCTIME.test(value) ? `${value} GMT` : value)
    : Number.NaN;
  return Number.isNaN(date) ? undefined : Math.max(0, date - nowMs);
}

const DAY = "(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)";
const MONTH = "(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)";
const TIME = "\\d{2}:\\d{2}:\\d{2}";
/** asctime has no zone; RFC 9110 says it is GMT, Date.parse would take it as local time. */
const ASCTIME = new RegExp(`^${DAY} ${MONTH} [ \\d]\\d ${TIME} \\d{4}$`);
const HTTP_DATE = [
  new RegExp(`^${DAY}, \\d{2} ${MONTH} \\d{4} ${TIME} GMT$`),
  new RegExp(`^(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday), \\d{2}-${MONTH}-\\d{2} ${TIME} GMT$`),
  ASCTIME,
];
