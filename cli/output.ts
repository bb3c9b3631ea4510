import { randomBytes } from "node:crypto";
import Table from "cli-table3";
import { redact } from "../lambdas/core/redact.js";

/**
 * Everything the command line prints goes through an Output: human lines and tables on stdout, warnings on stderr,
 * JSON for --json, a live progress line on a terminal. Every string passes printable() on its way out: redact(), a
 * last line of defence (no command ever puts key material into what it prints; put-key shows the last four characters
 * only), and the removal of control characters and escape sequences. Much of what is printed was written by someone
 * else (a key's name and scopes in a secret's value, a reason in a tag, Novala's error text): an escape sequence in it
 * could clear the screen and draw a fake "healthy" verdict. The command's own colours survive because they are not
 * escape sequences until the Output turns them into some (see Colors).
 */

/**
 * The colours a command may use. On a colourful stream they wrap the text in markers that carry a random nonce of
 * this process; printable() turns exactly those markers into SGR sequences and strips every other escape sequence and
 * control character. Text from outside cannot forge a marker: the nonce is never printed.
 */
export interface Colors {
  bold(text: string): string;
  dim(text: string): string;
  red(text: string): string;
  green(text: string): string;
  yellow(text: string): string;
}

export interface OutputStreams {
  stdout: NodeJS.WriteStream | NodeJS.WritableStream;
  stderr: NodeJS.WriteStream | NodeJS.WritableStream;
  env: Record<string, string | undefined>;
}

/** The width of a table when stdout is not a terminal (a file, a pipe, CI's log). */
export const NON_TTY_TABLE_WIDTH = 200;

/** A column is never wrapped narrower than this. */
const MIN_COLUMN_WIDTH = 12;

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
    this.color = createColors(colorful);
  }

  /** A line of human output (nothing with --json). */
  line(text = ""): void {
    if (this.json) return;
    this.clearLive();
    this.streams.stdout.write(`${printable(text)}\n`);
  }

  /** The --json document (nothing without --json): exact JSON, whose strings escape every control character. */
  data(value: unknown): void {
    if (!this.json) return;
    this.streams.stdout.write(`${redact(JSON.stringify(value, null, 2))}\n`);
  }

  /** A warning on stderr: shown with --json too, so that a machine reader's stdout stays one document. */
  warn(text: string): void {
    this.clearLive();
    this.streams.stderr.write(`${printable(`${this.color.yellow("warning:")} ${text}`)}\n`);
  }

  /**
   * A table on stdout (nothing with --json). Cells are plain strings; empty ones show "-". When the table is wider than
   * the terminal (or than NON_TTY_TABLE_WIDTH off a terminal), the widest columns wrap on word boundaries, and a word
   * longer than its column is cut with "…": --json has every value whole.
   */
  table(head: string[], rows: string[][], options: { indent?: number } = {}): void {
    if (this.json) return;
    const indent = options.indent ?? 0;
    const cells = [head.map((cell) => this.color.bold(cell)), ...rows.map((row) => row.map((c) => c || "-"))].map(
      (row) => row.map((cell) => printable(cell)),
    );
    const body = cells.slice(1);
    const colWidths = fitColumns(
      cells.map((row) => row.map(displayWidth)),
      this.width() - indent,
      (cells[0] ?? []).map((_, i) => body.some((row) => /\s/.test(row[i] ?? ""))),
    );
    const table = new Table({
      head: cells[0] as string[],
      style: { head: [], border: [], compact: true },
      ...(colWidths ? { colWidths, wordWrap: true, wrapOnWordBoundary: true } : { wordWrap: false }),
    });
    for (const row of cells.slice(1)) table.push(row);
    this.clearLive();
    const margin = " ".repeat(indent);
    // The cells are printable already, and the table adds only its borders and our colours.
    this.streams.stdout.write(
      `${table
        .toString()
        .split("\n")
        .map((text) => `${margin}${text}`)
        .join("\n")}\n`,
    );
  }

  /** A "label  value" block, labels padded to one width; a value is one line (a newline in it becomes a space). */
  fields(rows: [string, string][], indent = 0): void {
    const width = Math.max(...rows.map(([label]) => label.length));
    for (const [label, value] of rows)
      this.line(`${" ".repeat(indent)}${this.color.dim(label.padEnd(width))}  ${value.replace(/\r?\n/g, " ")}`);
  }

  /** The live line on a terminal (replaced by the next one, cleared before any other output); nothing otherwise. */
  live(text: string): void {
    if (this.json || !this.interactive) return;
    const columns = (this.streams.stdout as NodeJS.WriteStream).columns || 100;
    this.streams.stdout.write(`\r\x1b[2K${printable(text.replace(/\n/g, " ")).slice(0, Math.max(20, columns - 1))}`);
    this.liveShown = true;
  }

  clearLive(): void {
    if (!this.liveShown) return;
    this.streams.stdout.write("\r\x1b[2K");
    this.liveShown = false;
  }

  /** The width tables are fitted to: the terminal's columns on a terminal, else NON_TTY_TABLE_WIDTH. */
  private width(): number {
    const columns = (this.streams.stdout as NodeJS.WriteStream).columns;
    return this.interactive && columns ? columns : NON_TTY_TABLE_WIDTH;
  }
}

/**
 * Column widths (content plus cli-table3's one-space padding each side) that fit `available` characters with the
 * borders, or undefined when the table fits as it is. The widest columns give up width, down to one cap they share
 * (never below MIN_COLUMN_WIDTH): first only the `wrappable` ones (text with spaces, which wraps on words), then, if
 * that is not enough, the others too (an id or a name is then cut with "…"). A long reason wraps; the ids beside it
 * stay whole.
 */
export function fitColumns(widths: number[][], available: number, wrappable?: boolean[]): number[] | undefined {
  const columns = Math.max(0, ...widths.map((row) => row.length));
  const natural = Array.from({ length: columns }, (_, i) => Math.max(1, ...widths.map((row) => row[i] ?? 0)) + 2);
  const budget = available - (columns + 1);
  const fitted = [...natural];
  const total = () => fitted.reduce((sum, width) => sum + width, 0);
  if (total() <= budget) return undefined;
  for (const shrinkable of [(i: number) => wrappable?.[i] ?? true, () => true]) {
    let cap = Math.max(...fitted);
    while (cap > MIN_COLUMN_WIDTH && total() > budget) {
      cap -= 1;
      for (const [i, width] of natural.entries()) {
        if (shrinkable(i)) fitted[i] = Math.min(width, Math.max(cap, MIN_COLUMN_WIDTH));
      }
    }
    if (total() <= budget) break;
  }
  return fitted;
}

/** The width a cell's longest line takes on screen (SGR sequences take none). */
function displayWidth(cell: string): number {
  return Math.max(
    ...cell
      .replace(SGR, "")
      .split("\n")
      .map((line) => [...line].length),
  );
}

// biome-ignore lint/suspicious/noControlCharactersInRegex: an SGR sequence starts with ESC.
const SGR = /\u001b\[\d+m/g;

/**
 * An escape sequence: CSI (`ESC [` … final byte), OSC/DCS/SOS/PM/APC strings (up to BEL or `ESC \`), or a two-byte
 * `ESC x`; also a lone ESC.
 */
// biome-ignore lint/suspicious/noControlCharactersInRegex: these are what it finds.
const ESCAPE_SEQUENCE = /\u001b(?:\[[0-?]*[ -/]*[@-~]?|[\]PX^_][^\u0007\u001b]*(?:\u0007|\u001b\\)?|[ -~])?/g;
/**
 * C0 controls but tab and newline, DEL, C1 controls (8-bit CSI included), and the Unicode bidirectional overrides and
 * isolates, which reorder what a terminal shows.
 */
// biome-ignore lint/suspicious/noControlCharactersInRegex: these are what it finds.
const CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

/** This process's colour marker: NUL, the nonce, the SGR code, NUL. NUL is stripped from any other text. */
const NONCE = randomBytes(12).toString("hex");
const MARKER = new RegExp(`\u0000${NONCE}:(\\d+)\u0000`, "g");
const mark = (code: number) => `\u0000${NONCE}:${code}\u0000`;

/** Text as it may reach a terminal: redacted, with no control character (but newline and tab) or escape sequence. */
export function sanitize(text: string): string {
  return redact(text).replace(ESCAPE_SEQUENCE, "").replace(CONTROL, "");
}

/** sanitize(), except that this process's colour markers become the SGR sequences they stand for. */
export function printable(text: string): string {
  let out = "";
  let copied = 0;
  for (const match of text.matchAll(MARKER)) {
    out += `${sanitize(text.slice(copied, match.index))}\u001b[${match[1]}m`;
    copied = match.index + match[0].length;
  }
  return out + sanitize(text.slice(copied));
}

/**
 * Colours as markers (see Colors), closed as picocolors closes them: a nested colour that closes with the same code
 * reopens the outer one.
 */
export function createColors(enabled: boolean): Colors {
  const style = (open: number, close: number, reopen = open) => {
    if (!enabled) return (text: string) => text;
    const [on, off, again] = [mark(open), mark(close), mark(reopen)];
    return (text: string) => `${on}${text.split(off).join(off + again)}${off}`;
  };
  return {
    bold: style(1, 22, 1),
    dim: style(2, 22, 2),
    red: style(31, 39),
    green: style(32, 39),
    yellow: style(33, 39),
  };
}

/** The ISO form for --json; undefined for nothing. */
export function isoTime(value: Date | string | null | undefined): string | undefined {
  if (value === undefined || value === null || value === "") return undefined;
  const date = value instanceof Date ? value : new Date(value);
  return Number.isNaN(date.getTime()) ? String(value) : date.toISOString();
}
