import { PassThrough } from "node:stream";
import { describe, expect, it } from "vitest";
import { createColors, fitColumns, Output, printable, sanitize } from "../../cli/output.js";

/**
 * What the command line prints from a secret's value, a tag or Novala reaches a terminal: cli/output.ts strips control
 * characters and escape sequences from all of it (a fake "healthy" drawn over a cleared screen is the attack), keeps
 * its own colours, and fits tables to the width. --json stays exact JSON.
 */
const ATTACK = "\u001b[2J\u001b[Hhealthy";

function capture(options: { json?: boolean; tty?: boolean; columns?: number; color?: boolean } = {}) {
  const stdout = Object.assign(new PassThrough(), { isTTY: options.tty === true, columns: options.columns });
  const stderr = new PassThrough();
  let out = "";
  let err = "";
  stdout.on("data", (chunk: Buffer) => {
    out += chunk.toString("utf8");
  });
  stderr.on("data", (chunk: Buffer) => {
    err += chunk.toString("utf8");
  });
  const env = options.color ? { FORCE_COLOR: "1" } : {};
  const output = new Output(options.json === true, { stdout, stderr, env });
  return { output, stdout: () => out, stderr: () => err };
}

describe("sanitize and printable", () => {
  it.each([
    ["CSI: clear the screen, cursor home", ATTACK, "healthy"],
    ["an SGR colour", "\u001b[32mhealthy\u001b[39m", "healthy"],
    ["OSC: a window title, ended by BEL", "a\u001b]0;pwned\u0007b", "ab"],
    ["OSC 8 hyperlink ended by ST", "\u001b]8;;https://evil\u001b\\link\u001b]8;;\u001b\\", "link"],
    ["a two-byte escape (RIS: reset the terminal)", "x\u001bcy", "xy"],
    ["a lone ESC at the end", "x\u001b", "x"],
    ["carriage return and backspace overwrite a line", "unhealthy\rhealthy\b", "unhealthyhealthy"],
    ["DEL and C1 controls (8-bit CSI)", "a\u007fb\u009b2Jc\u0085d", "ab2Jcd"],
    ["bidirectional overrides", "key_\u202eyhtlaeh", "key_yhtlaeh"],
    ["NUL (the colour marker's fence)", "a\u0000b", "ab"],
  ])("%s", (_what, input, expected) => {
    expect(sanitize(input)).toBe(expected);
    expect(printable(input)).toBe(expected);
  });

  it("keeps newline and tab, and redacts key material", () => {
    expect(sanitize("a\tb\nc")).toBe("a\tb\nc");
    expect(sanitize("sk_live_abcdefghijklmnop")).toBe("sk_live_…mnop");
  });

  it("turns this process's colours into SGR, and nothing that merely looks like them", () => {
    const c = createColors(true);
    expect(printable(c.green("healthy"))).toBe("\u001b[32mhealthy\u001b[39m");
    expect(printable(c.bold(`a ${c.dim("b")} c`))).toBe("\u001b[1ma \u001b[2mb\u001b[22m\u001b[1m c\u001b[22m");
    // Text from outside, coloured by the command: its own escapes are gone, the command's colour stays.
    expect(printable(c.red(`name ${ATTACK}`))).toBe("\u001b[31mname healthy\u001b[39m");
    // A forged marker (without this process's nonce) is stripped like any control character.
    expect(printable("\u0000deadbeef:32\u0000healthy")).toBe("deadbeef:32healthy");
    expect(createColors(false).green("healthy")).toBe("healthy");
  });
});

describe("Output", () => {
  it("prints no ESC byte from lines, fields, tables and warnings; --json keeps the exact JSON", () => {
    const text = capture();
    text.output.line(`Verdict  ${ATTACK}`);
    text.output.fields([["Name", `x${ATTACK}\nVerdict  healthy`]]);
    text.output.table(["Key id", "Name"], [["key_1", ATTACK]]);
    text.output.warn(ATTACK);
    expect(text.stdout()).not.toContain("\u001b");
    expect(text.stderr()).not.toContain("\u001b");
    // A field is one line: a newline in a value cannot start a line of its own.
    expect(text.stdout()).toContain("Name  xhealthy Verdict  healthy\n");

    const json = capture({ json: true });
    json.output.data({ name: ATTACK });
    expect(JSON.parse(json.stdout())).toEqual({ name: ATTACK });
    expect(json.stdout()).toContain("\\u001b[2J");
  });

  it("colours on a terminal are SGR sequences, and only the command's", () => {
    const tty = capture({ color: true });
    tty.output.line(tty.output.color.red(`x ${ATTACK}`));
    expect(tty.stdout()).toBe("\u001b[31mx healthy\u001b[39m\n");
  });

  it("wraps a long cell to fit the width off a terminal (200), and never cuts the short ids beside it", () => {
    const reason = `rotation stuck at createSecret: ${"NovalaUnavailableError: answered 503 ".repeat(8)}`;
    const { output, stdout } = capture();
    output.table(["Secret", "Key id", "Verdict"], [["novala/acumatica", "key_0123456789abcdef01234567", reason]]);
    const lines = stdout().trimEnd().split("\n");
    for (const line of lines) expect(line.length).toBeLessThanOrEqual(200);
    expect(lines.length).toBeGreaterThan(5);
    expect(stdout()).toContain("│ novala/acumatica │ key_0123456789abcdef01234567 │");
    // The whole reason is there, wrapped on word boundaries.
    expect(stdout().replace(/[│\s]+/g, " ")).toContain(reason.trim().split(" ").slice(0, 12).join(" "));
  });

  it("fits a terminal's columns, cutting a word longer than its column with an ellipsis", () => {
    const { output, stdout } = capture({ tty: true, columns: 60 });
    output.table(["Secret", "Verdict"], [["novala/a", `x${"y".repeat(100)} short words after it`]]);
    const lines = stdout().trimEnd().split("\n");
    // biome-ignore lint/suspicious/noControlCharactersInRegex: the head is bold on a terminal.
    for (const line of lines) expect([...line.replace(/\u001b\[\d+m/g, "")].length).toBeLessThanOrEqual(60);
    expect(stdout()).toContain("…");
    expect(stdout()).toContain("short words after it");
  });

  it("fitColumns: the table as it is when it fits; else only the widest columns shrink, to one cap", () => {
    expect(fitColumns([[5, 10]], 100)).toBeUndefined();
    // 3 columns: 10, 50 and 120 characters (+2 padding each), 4 borders, in 100: the two wide ones share the rest.
    expect(fitColumns([[10, 50, 120]], 100)).toEqual([12, 42, 42]);
    expect(fitColumns([[10, 50, 120]], 20)).toEqual([12, 12, 12]);
    // A name without spaces (it cannot wrap) keeps its width while the text beside it can give some up.
    expect(fitColumns([[30, 100, 22]], 80, [false, true, true])).toEqual([32, 22, 22]);
    expect(fitColumns([[30, 100, 22]], 80)).toEqual([26, 26, 24]);
  });
});
