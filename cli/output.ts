import Table from "cli-table3";
import pc from "picocolors";
import { redact } from "../lambdas/core/redact.js";

/**
 * Everything the command line prints goes through an Output: human lines and tables on stdout, warnings on stderr,
 * JSON for --json, a live progress line on a terminal. Every string passes redact() on its way out, a last line of
 * defence: no command ever puts key material into what it prints (put-key shows the last four characters only).
 */
export type Colors = ReturnType<typeof pc.createColors>;

export interface OutputStreams {
  stdout: NodeJS.WriteStream | NodeJS.WritableStream;
  stderr: NodeJS.WriteStream | NodeJS.WritableStream;
  env: Record<string, string | undefined>;
}

export class Output {
  /** Colours for stdout: on a terminal (unless NO_COLOR), or with FORCE_COLOR. */
  readonly color: Colors;
  /** Whether stdout is a terminal (live progress line instead of plain lines). */
  readonly interactive: boolean;
  private liveShown = false;

  constructor(
    readonly json: boolean,
    private readonly streams: OutputStreams = { stdout: process.stdout, stderr: process.stderr, env: process.env },
  ) {
    const { stdout, env } = streams;
    this.interactive = (stdout as NodeJS.WriteStream).isTTY === true && env.TERM !== "dumb";
    const colorful = env.NO_COLOR === undefined && (Boolean(env.FORCE_COLOR) || this.interactive);
    this.color = pc.createColors(colorful);
  }

  /** A line of human output (nothing with --json). */
  line(text = ""): void {
    if (this.json) return;
    this.clearLive();
    this.streams.stdout.write(`${redact(text)}\n`);
  }

  /** The --json document (nothing without --json). */
  data(value: unknown): void {
    if (!this.json) return;
    this.streams.stdout.write(`${redact(JSON.stringify(value, null, 2))}\n`);
  }

  /** A warning on stderr: shown with --json too, so that a machine reader's stdout stays one document. */
  warn(text: string): void {
    this.clearLive();
    this.streams.stderr.write(`${this.color.yellow("warning:")} ${redact(text)}\n`);
  }

  /** A table on stdout (nothing with --json). Cells are plain strings; empty ones show "-". */
  table(head: string[], rows: string[][], options: { indent?: number } = {}): void {
    if (this.json) return;
    const table = new Table({
      head: head.map((cell) => this.color.bold(cell)),
      style: { head: [], border: [], compact: true },
      wordWrap: false,
    });
    for (const row of rows) table.push(row.map((cell) => (cell === "" ? "-" : cell)));
    const indent = " ".repeat(options.indent ?? 0);
    this.line(
      table
        .toString()
        .split("\n")
        .map((text) => `${indent}${text}`)
        .join("\n"),
    );
  }

  /** A "label  value" block, labels padded to one width. */
  fields(rows: [string, string][], indent = 0): void {
    const width = Math.max(...rows.map(([label]) => label.length));
    for (const [label, value] of rows)
      this.line(`${" ".repeat(indent)}${this.color.dim(label.padEnd(width))}  ${value}`);
  }

  /** The live line on a terminal (replaced by the next one, cleared before any other output); nothing otherwise. */
  live(text: string): void {
    if (this.json || !this.interactive) return;
    const columns = (this.streams.stdout as NodeJS.WriteStream).columns || 100;
    this.streams.stdout.write(`\r\x1b[2K${redact(text).slice(0, Math.max(20, columns - 1))}`);
    this.liveShown = true;
  }

  clearLive(): void {
    if (!this.liveShown) return;
    this.streams.stdout.write("\r\x1b[2K");
    this.liveShown = false;
  }
}

/** "2026-11-27 17:00:00Z" from a Date or an ISO string; "" for nothing. */
export function formatTime(value: Date | string | null | undefined): string {
  if (value === undefined || value === null || value === "") return "";
  const date = value instanceof Date ? value : new Date(value);
  if (Number.isNaN(date.getTime())) return String(value);
  return date
    .toISOString()
    .replace("T", " ")
    .replace(/\.\d{3}Z$/, "Z");
}

/** The ISO form for --json; undefined for nothing. */
export function isoTime(value: Date | string | null | undefined): string | undefined {
  if (value === undefined || value === null || value === "") return undefined;
  const date = value instanceof Date ? value : new Date(value);
  return Number.isNaN(date.getTime()) ? String(value) : date.toISOString();
}
