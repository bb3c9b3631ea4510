/**
 * Errors the rotation raises, all RotationErrors. Messages name the problem (a field, a variable, a stage, a key id)
 * and never carry key material or a secret value.
 */

/**
 * The base of every error the project raises. `cause` is the error this one explains; it is logged with it, so an
 * error whose cause could hold a secret (an SDK error's raw response, an answer's body) is not passed on.
 */
export class RotationError extends Error {
  override name = "RotationError";
}

/** Bad configuration (an environment variable): raised before any side effect. */
export class ConfigurationError extends RotationError {
  override name = "ConfigurationError";
}

/** A secret value that is not what docs/design.md describes. */
export class SecretValueError extends RotationError {
  override name = "SecretValueError";
}

/**
 * A secret value whose `baseUrl` the allow-list does not admit: the value names another host, or the deployment's
 * NOVALA_ALLOWED_HOSTS lacks the tenant's. Nothing was sent.
 */
export class BaseUrlNotAllowedError extends SecretValueError {
  override name = "BaseUrlNotAllowedError";
}

/** The guard refused the step: rotation disabled, unknown token, token not AWSPENDING. */
export class RotationStateError extends RotationError {
  override name = "RotationStateError";
}

/**
 * The key a secret names no longer works at Novala (revoked, unknown, or answering 401): its current key, or the
 * manager key that would act for it. It was rotated or revoked outside this rotator, so nothing proves the secret still
 * owns a key. `fix` names the command that puts a working pair in; the message ends with it.
 */
export class CurrentKeyUnusableError extends RotationStateError {
  override name = "CurrentKeyUnusableError";
  constructor(
    readonly problem: string,
    readonly fix: string,
  ) {
    super(`${problem}. ${fix}`);
  }
}

/**
 * createSecret met a failure that a retry cannot fix, and ended the rotation: it revoked the key it had made (when
 * Novala proved it) and removed AWSPENDING from the rotation's version, so that the next RotateSecret starts afresh.
 * `problem` is what went wrong (redacted), `fix` what the operator must do first; `cause` is the failure.
 */
export class RotationEndedError extends RotationError {
  override name = "RotationEndedError";
  constructor(
    message: string,
    readonly step: string,
    readonly problem: string,
    readonly fix: string,
    options: { cause: unknown },
  ) {
    super(message, options);
  }
}

/**
 * A secret's value or an event claimed a key that Novala's answers do not prove: the claimed key id is not the one
 * the stored secret key authenticates as, it is the manager key, or it would carry rights the lineage never had.
 * Nothing was minted or revoked on the strength of the claim.
 */
export class KeyClaimRefusedError extends RotationError {
  override name = "KeyClaimRefusedError";
}

/**
 * Novala's create answer does not describe exactly the key asked for (name, scopes, status, mode, a fresh id): it was
 * not stored, and the key it made was revoked when its id was usable.
 */
export class CreateAnswerRefusedError extends KeyClaimRefusedError {
  override name = "CreateAnswerRefusedError";
}

/** testSecret found the pending key unhealthy (after rolling it back, unless it was the current key). */
export class HealthCheckFailedError extends RotationError {
  override name = "HealthCheckFailedError";
}

/** testSecret rolled the rotation back: the pending key failed its health check, AWSPENDING was removed. */
export class RotationRolledBackError extends HealthCheckFailedError {
  override name = "RotationRolledBackError";
}

/** A URL that the allow-list does not permit: nothing was sent. */
export class HostNotAllowedError extends RotationError {
  override name = "HostNotAllowedError";
}

/**
 * Novala refused a key-API request (an answer the caller did not expect). `message` is Novala's `error` text,
 * redacted. `status` is for operators and the adapters: the core tells refusals apart by class
 * (KeyUnauthorizedError), never by status code.
 */
export class NovalaHttpError extends RotationError {
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

/**
 * Novala does not accept the credentials: the key has not propagated yet, was revoked, or was rotated outside this
 * rotator. The key-API adapters raise it for a 401.
 */
export class KeyUnauthorizedError extends NovalaHttpError {
  override name = "KeyUnauthorizedError";
  constructor(operation: string, message: string) {
    super(401, operation, message);
  }
}

/** The key-API error for a refusal: KeyUnauthorizedError for a 401, NovalaHttpError for any other status. */
export function novalaRefusal(status: number, operation: string, message: string): NovalaHttpError {
  return status === 401
    ? new KeyUnauthorizedError(operation, message)
    : new NovalaHttpError(status, operation, message);
}

function formatBytes(bytes: number): string {
  return bytes % (1024 * 1024) === 0 ? `${bytes / (1024 * 1024)} MB` : `${bytes} bytes`;
}

/** Novala could not be reached or kept failing after the retry budget (network errors, 429, 5xx). */
export class NovalaUnavailableError extends RotationError {
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
export class CreateOutcomeUnknownError extends RotationError {
  override name = "CreateOutcomeUnknownError";
}

export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
