/**
 * The rows of the tables a command printed, each on one line whatever wrapped: cli/output.ts fits a table to the
 * width, so a long cell continues on the lines below its row, whose first cell is empty. Each logical row comes back as
 * `│ cell │ cell │`, every cell's lines joined with a space, so that a test matches a row as the operator reads it. A
 * row whose first cell wraps is not told apart from the next (no test's first column is that long). Lines outside a
 * table are kept as they are.
 */
export function unwrapTables(printed: string): string {
  const out: string[] = [];
  let row: string[][] | undefined;
  const flush = () => {
    if (row) out.push(`│ ${row.map((lines) => lines.filter(Boolean).join(" ")).join(" │ ")} │`);
    row = undefined;
  };
  for (const line of printed.split("\n")) {
    const cells = /^\s*│(.*)│\s*$/
      .exec(line)?.[1]
      ?.split("│")
      .map((cell) => cell.trim());
    if (!cells) {
      flush();
      out.push(line);
    } else if (row && cells[0] === "" && cells.length === row.length) {
      for (const [i, cell] of cells.entries()) row[i]?.push(cell);
    } else {
      flush();
      row = cells.map((cell) => [cell]);
    }
  }
  flush();
  return out.join("\n");
}
