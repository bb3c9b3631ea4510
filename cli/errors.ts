import { RotationError } from "../lambdas/contract/errors.js";
import { sanitize } from "./output.js";

/**
 * Errors of the command line. A CliError is an expected failure (a refusal, a failed rotation, a bad input): its
 * message is the one line the user sees. Anything else is reported the same way, by its name and message; the stack
 * only with --debug. Every line goes through sanitize() (cli/output.ts): redacted (a last line of defence against key
 * material), with no control character or escape sequence (messages quote Novala and secret values).
 */
export class CliError extends RotationError {
  override name = "CliError";
  constructor(
    message: string,
    readonly exitCode: number = EXIT.failed,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/** Exit codes: documented in docs/cli.md. */
export const EXIT = {
  ok: 0,
  /** The operation failed or was refused; also any unexpected error. */
  failed: 1,
  /** Bad usage: an unknown option, a missing argument, a malformed value. */
  usage: 2,
  /** `rotate` stopped following before the rotation finished (--timeout). */
  timedOut: 3,
  /** `status`: the verdict is not healthy (a key or a value in trouble, a rotation stuck, failed or in progress, …); a fleet: any secret's. */
  unhealthy: 4,
  /** `status`: the verdict is incomplete: Novala could not be asked in time, or (a fleet) a secret could not be read. */
  unknown: 5,
} as const;

/** The one line for `error`: a CliError's message, otherwise "Name: message" (names like Error are left out). */
export function describeError(error: unknown): string {
  if (error instanceof CliError) return sanitize(error.message);
  if (error instanceof Error) {
    const plain = error.name === "Error" || error.name === "CliError" || error.message.includes(`${error.name}:`);
    const name = plain ? "" : `${error.name}: `;
    return sanitize(`${name}${error.message || "(no message)"}`);
  }
  return sanitize(String(error));
}

/** Writes the error line (and with `debug` the stack) to stderr; returns the exit code. */
export function reportError(error: unknown, debug: boolean, stderr: NodeJS.WritableStream = process.stderr): number {
  const line = describeError(error).replace(/\s*\n\s*/g, " ");
  stderr.write(`novala-rotation: ${line}\n`);
  if (debug && error instanceof Error && error.stack) stderr.write(`${sanitize(error.stack)}\n`);
  return error instanceof CliError ? error.exitCode : EXIT.failed;
}
