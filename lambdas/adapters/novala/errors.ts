/** Novala's refusals and failures as the adapter raises them: the key API's errors (lambdas/core/errors.ts). */
import { KeyApiCreateOutcomeUnknownError, KeyApiRefusalError, KeyApiUnavailableError } from "../../core/errors.js";
import { redact } from "../../core/redact.js";
import type { HoldOffAboveCap } from "./rate-budget.js";

/**
 * Novala refused a key-API request (an answer the caller did not expect). The message ends with Novala's `error` text,
 * redacted. `status` is for operators and for the rule that ends a rotation (lambdas/core/end-rotation.ts).
 */
export class NovalaHttpError extends KeyApiRefusalError {
  override name = "NovalaHttpError";
  readonly unauthorized: boolean = false;

  constructor(status: number, operation: string, message: string, options?: ErrorOptions) {
    super(status, operation, answered(operation, status, message), options);
  }
}

/**
 * Novala's answer was larger than the client reads (it was not kept): a broken or hostile server. Not retried. The
 * message names the operation and the limit, never the body.
 */
export class NovalaAnswerTooLargeError extends NovalaHttpError {
  override name = "NovalaAnswerTooLargeError";

  constructor(
    status: number,
    operation: string,
    readonly limitBytes: number,
    announced: boolean,
  ) {
    super(
      status,
      operation,
      `${announced ? "its content-length announces" : "it sent"} an answer larger than the ${formatBytes(limitBytes)} limit; the answer was not read`,
    );
  }
}

/**
 * Novala does not accept the credentials (401): the key has not propagated yet, was revoked, or was rotated outside
 * this rotator.
 */
export class KeyUnauthorizedError extends NovalaHttpError {
  override name = "KeyUnauthorizedError";
  override readonly unauthorized = true;

  constructor(operation: string, message: string, options?: ErrorOptions) {
    super(401, operation, message, options);
  }
}

/** The error for a refusal: KeyUnauthorizedError for a 401, NovalaHttpError for any other status. */
export function novalaRefusal(status: number, operation: string, message: string): NovalaHttpError {
  return status === 401
    ? new KeyUnauthorizedError(operation, message)
    : new NovalaHttpError(status, operation, message);
}

/** Novala could not be reached or kept failing after the retry budget (network errors, 429, 5xx). Transient. */
export class NovalaUnavailableError extends KeyApiUnavailableError {
  override name = "NovalaUnavailableError";

  constructor(operation: string, message: string, lastStatus?: number, options?: ErrorOptions) {
    super(operation, `Novala ${operation} failed: ${message}`, lastStatus, options);
  }
}

/**
 * A `Retry-After` above the client's cap (MAX_RETRY_AFTER_MS, lambdas/adapters/novala/http-client.ts), or a call to an
 * origin still held off by one: the call fails at once instead of waiting. A NovalaUnavailableError, so the core treats
 * it as transient (the step fails and is retried later; nothing is rolled back). The message names the origin, the
 * wait asked for and the cap; nothing of a key.
 */
export class RetryAfterAboveCapError extends NovalaUnavailableError {
  override name = "RetryAfterAboveCapError";

  private constructor(
    operation: string,
    message: string,
    /** scheme://host:port of the URL called (redacted, as in the message). */
    readonly origin: string,
    /** The wait the server asked for, in ms (may be Infinity). */
    readonly retryAfterMs: number,
    lastStatus?: number,
  ) {
    super(operation, message, lastStatus);
  }

  /** The answer to this call asked for more than `capMs`. */
  static answered(
    operation: string,
    origin: string,
    status: number,
    retryAfterMs: number,
    capMs: number,
  ): RetryAfterAboveCapError {
    const where = redact(origin);
    return new RetryAfterAboveCapError(
      operation,
      `${where} answered ${status} with Retry-After ${formatWait(retryAfterMs)}, above the cap of ${formatWait(capMs)}; not waiting: the call fails now, to be retried later`,
      where,
      retryAfterMs,
      status,
    );
  }

  /** An earlier 429 of this origin asked for more than `capMs`, and more than that of it is left. */
  static heldOff(operation: string, held: HoldOffAboveCap, capMs: number): RetryAfterAboveCapError {
    const where = redact(held.origin);
    return new RetryAfterAboveCapError(
      operation,
      `${where} is held off for ${formatWait(held.leftMs)} more (it answered 429 with Retry-After ${formatWait(held.askedMs)}), above the cap of ${formatWait(capMs)}; not waiting: the call fails now, to be retried later`,
      where,
      held.askedMs,
      429,
    );
  }
}

/** A create whose request may have reached Novala but whose answer did not come back, or cannot be used: a key may exist. */
export class CreateOutcomeUnknownError extends KeyApiCreateOutcomeUnknownError {
  override name = "CreateOutcomeUnknownError";
}

/** "Novala GET /api/v1/api-keys/self answered 403: Forbidden" */
function answered(operation: string, status: number, message: string): string {
  return `Novala ${operation} answered ${status}: ${message}`;
}

function formatBytes(bytes: number): string {
  return bytes % (1024 * 1024) === 0 ? `${bytes / (1024 * 1024)} MB` : `${bytes} bytes`;
}

/** "86400 s"; a wait no server means (past 10^9 s, about 32 years, or Infinity) reads "more than 10^9 s". */
function formatWait(ms: number): string {
  const seconds = Math.ceil(ms / 1000);
  return seconds > 1e9 ? "more than 10^9 s" : `${seconds} s`;
}
