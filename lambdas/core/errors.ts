/** The core's errors, all RotationErrors (lambdas/contract/errors.ts); docs/design.md, "Errors", has the taxonomy. */
import { RotationError } from "../contract/errors.js";

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

/**
 * A step or a command that cannot run in the secret's present state: no AWSCURRENT value, no value to test or promote,
 * no rotation to abort, a key that no longer works. Nothing was changed. A retry helps only once the state changes
 * (another step ran, an operator acted).
 */
export class PreconditionError extends RotationError {
  override name = "PreconditionError";
}

/**
 * The guard refused the step (lambdas/core/guard.ts): rotation disabled, unknown token, token not AWSPENDING. Thrown
 * by the guard only; a stale retry of a finished or abandoned rotation meets it.
 */
export class RotationStateError extends PreconditionError {
  override name = "RotationStateError";
}

/**
 * The key a secret names no longer works at Novala (revoked, unknown, or answering 401): its current key, or the
 * manager key that would act for it. It was rotated or revoked outside this rotator, so nothing proves the secret still
 * owns a key. `fix` names the command that puts a working pair in; the message ends with it.
 */
export class CurrentKeyUnusableError extends PreconditionError {
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

/**
 * What a KeyApi (ports.ts) raises besides its answers, so that the core tells Novala's failures apart without knowing
 * the adapter: a refusal (Novala answered, but not as asked: `status` says how, `unauthorized` whether the credentials
 * do not authenticate), Novala unavailable (transient), a create whose outcome is unknown. The Novala adapter's errors
 * (lambdas/adapters/novala/errors.ts) extend these three; the core never raises one.
 */
export abstract class KeyApiRefusalError extends RotationError {
  /**
   * The credentials do not authenticate (401): the key has not propagated yet, was revoked, or was rotated outside
   * this rotator. The core tells it from other refusals by this ({@link isUnauthorized}), never by the status code.
   */
  abstract readonly unauthorized: boolean;

  constructor(
    readonly status: number,
    readonly operation: string,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/** Whether `error` is the key API saying the credentials do not authenticate (a 401). */
export function isUnauthorized(error: unknown): boolean {
  return error instanceof KeyApiRefusalError && error.unauthorized;
}

/** Novala could not be reached, or kept failing past the retry budget (network errors, 429, 5xx): transient. */
export abstract class KeyApiUnavailableError extends RotationError {
  constructor(
    readonly operation: string,
    message: string,
    readonly lastStatus?: number,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/**
 * A create whose request may have reached Novala but whose answer did not come back or cannot be used: a key may
 * exist. The caller reconciles by the key's name tag before it creates again.
 */
export abstract class KeyApiCreateOutcomeUnknownError extends RotationError {}

/** `error`'s message, or the text of a thrown value that is not an Error. */
export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
