/**
 * What the command lines here share (`novala-rotation`, `npm run demo`): the wrapper that turns a command's result
 * into its exit code, and the run that parses argv and reports any error as one line.
 */
import { type Command, CommanderError } from "commander";
import { EXIT, reportError } from "./errors.js";

/** Wraps a command's implementation: its resolved exit code, or the error reported as one line. */
export function action<Args extends unknown[]>(run: (...args: Args) => Promise<number>) {
  return async (...args: Args) => {
    try {
      process.exitCode = await run(...args);
    } catch (error) {
      process.exitCode = reportError(error, process.argv.includes("--debug"));
    }
  };
}

/** Runs a command line; `argv` is process.argv. Sets process.exitCode and exits once output is written. */
export async function runProgram(program: Command, argv: string[]): Promise<void> {
  // The SDK warns on stderr about Node 20's end of support; a command line keeps stderr for its own one-line errors.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";
  // `novala-rotation status … | head`: the reader has gone; stop quietly instead of dying with an EPIPE stack trace.
  process.stdout.on("error", (error: NodeJS.ErrnoException) => {
    if (error.code === "EPIPE") process.exit(process.exitCode ?? EXIT.ok);
    throw error;
  });
  program.exitOverride();
  for (const command of program.commands) command.exitOverride();
  try {
    await program.parseAsync(argv);
  } catch (error) {
    if (error instanceof CommanderError) {
      process.exitCode = error.exitCode === 0 ? EXIT.ok : EXIT.usage;
    } else {
      process.exitCode = reportError(error, argv.includes("--debug"));
    }
  }
  // SDK and Novala clients are closed by each command; this only stops a stray keep-alive from holding the exit.
  setTimeout(() => process.exit(), 250).unref();
}
