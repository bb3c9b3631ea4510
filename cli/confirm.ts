import { createInterface } from "node:readline/promises";
import { CliError, EXIT } from "./errors.js";
import { sanitize } from "./output.js";

/**
 * The question a command asks before it cuts consumers off (`leak`, `revoke`, `rollback --revoke-now`). It is asked on
 * stderr, so stdout keeps the report. `--yes` answers it; with no terminal to ask on and no --yes the command refuses
 * (usage) before it changes anything, since a script that meant to confirm would have said so.
 */
export interface Confirmation {
  /** What is about to happen, as the end of "About to …" (and of "refusing to … without confirmation"). */
  action: string;
  /** What consumers and operators will see, one line each. */
  consequences: string[];
  /** Extra lines shown under the question on a terminal only (the secrets a selection names). */
  details?: string[];
}

/** Resolves when the operator confirmed (or gave --yes); otherwise throws a CliError and nothing has changed. */
export async function confirmOrRefuse(confirmation: Confirmation, yes: boolean | undefined): Promise<void> {
  if (yes) return;
  const { action, consequences } = confirmation;
  if (process.stdin.isTTY !== true) {
    throw new CliError(
      `refusing to ${action} without confirmation: there is no terminal to ask on. ` +
        `Add --yes to confirm (${consequences.join("; ")})`,
      EXIT.usage,
    );
  }
  const lines = [
    `About to ${action}.`,
    ...consequences.map((line) => `  - ${line}`),
    ...(confirmation.details ?? []).map((line) => `    ${line}`),
  ];
  process.stderr.write(`${sanitize(lines.join("\n"))}\n`);
  if (!(await askYes("Go ahead? [y/N] "))) throw new CliError("not confirmed: nothing was changed");
}

/** A y/N question on the terminal; Ctrl-C or the end of input is a no. */
async function askYes(question: string): Promise<boolean> {
  const reader = createInterface({ input: process.stdin, output: process.stderr });
  const stop = new AbortController();
  reader.on("SIGINT", () => stop.abort());
  reader.on("close", () => stop.abort());
  try {
    const answer = await reader.question(question, { signal: stop.signal });
    return /^\s*y(es)?\s*$/i.test(answer);
  } catch {
    return false;
  } finally {
    reader.close();
  }
}
