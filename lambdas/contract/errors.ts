/** The errors every layer shares: the project's base error, and the contract's own (configuration, input, hosts). */

/**
 * The base of every error the project raises. Its message names the problem (a field, a variable, a stage, a key id)
 * and never carries key material or a secret value. `cause` (the standard {@link ErrorOptions}) is the error this one
 * explains; it is logged with it, so an error whose cause could hold a secret (an SDK error's raw response, an
 * answer's body) is never passed as one.
 *
 * @example
 * throw new RotationError("what went wrong, with ids only", { cause: error });
 */
export class RotationError extends Error {
  override name = "RotationError";

  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
  }
}

/**
 * A bad configuration value (an environment variable, a context key, a construct prop or a command-line option),
 * raised before any side effect. The message names the variable (or the key) and says what it must be. Not retried:
 * the same configuration fails the same way.
 */
export class ConfigurationError extends RotationError {
  override name = "ConfigurationError";
}

/**
 * Input from a caller that is not what the contract says, refused before it is used: a malformed key id handed to the
 * key API, an invocation's malformed event. Not retried: the same input fails the same way.
 */
export class InvalidInputError extends RotationError {
  override name = "InvalidInputError";
}

/**
 * An invocation's event that is not what the contract says: a malformed rotation event, revocation event or overdue
 * check. The message names the first wrong field, never a value.
 */
export class InvalidEventError extends InvalidInputError {
  override name = "InvalidEventError";
}

/** A URL that the allow-list (NOVALA_ALLOWED_HOSTS) does not permit: nothing was sent. */
export class HostNotAllowedError extends RotationError {
  override name = "HostNotAllowedError";
}
