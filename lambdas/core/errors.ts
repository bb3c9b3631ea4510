/**
 * Errors the rotation raises. Messages name the problem (a field, a variable, a stage, a key id) and never carry
 * key material or a secret value.
 */

/** Bad configuration (an environment variable): raised before any side effect. */
export class ConfigurationError extends Error {
  override name = "ConfigurationError";
}

/** A secret value that is not what docs/design.md describes. */
export class SecretValueError extends Error {
  override name = "SecretValueError";
}

/** The guard refused the step: rotation disabled, unknown token, token not AWSPENDING. */
export class RotationStateError extends Error {
  override name = "RotationStateError";
}

/**
 * A secret's value or an event claimed a key that Novala's answers do not prove: the claimed key id is not the one
 * the stored secret key authenticates as, it is the manager key, or it would carry rights the lineage never had.
 * Nothing was minted or revoked on the strength of the claim.
 */
export class KeyClaimRefusedError extends Error {
  override name = "KeyClaimRefusedError";
}

/** testSecret found the pending key unhealthy (after rolling it back, unless it was the current key). */
export class HealthCheckFailedError extends Error {
  override name = "HealthCheckFailedError";
}

/** testSecret rolled the rotation back: the pending key failed its health check, AWSPENDING was removed. */
export class RotationRolledBackError extends HealthCheckFailedError {
  override name = "RotationRolledBackError";
}

/** A URL that the allow-list does not permit: nothing was sent. */
export class HostNotAllowedError extends Error {
  override name = "HostNotAllowedError";
}

/** Novala answered with a status the caller did not expect. `message` is Novala's `error` text, redacted. */
export class NovalaHttpError extends Error {
  override name = "NovalaHttpError";
  constructor(
    readonly status: number,
    readonly operation: string,
    message: string,
  ) {
    super(`Novala ${operation} answered ${status}: ${message}`);
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

function formatBytes(bytes: number): string {
  return bytes % (1024 * 1024) === 0 ? `${bytes / (1024 * 1024)} MB` : `${bytes} bytes`;
}

/** Novala could not be reached or kept failing after the retry budget (network errors, 429, 5xx). */
export class NovalaUnavailableError extends Error {
  override name = "NovalaUnavailableError";
  constructor(
    readonly operation: string,
    message: string,
    readonly lastStatus?: number,
  ) {
    super(`Novala ${operation} failed: ${message}`);
  }
}

/** A create whose request may have reached Novala but whose answer did not come back: a key may exist. */
export class CreateOutcomeUnknownError extends Error {
  override name = "CreateOutcomeUnknownError";
}

export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
