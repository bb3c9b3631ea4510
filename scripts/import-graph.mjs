// Prints the import graph between the project's layers: which folder's files import which folder's modules, with
// counts (import and re-export declarations, and the files that make them). `node scripts/import-graph.mjs`, from the
// repository's root; `--all` adds the handlers, local/, bin/, bench/ and test/ as importers. No dependency: it reads
// the sources as text (static `import … from`, `export … from`, `import "…"` and `import("…")`).
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";

/** The layers, by the folder their files sit in (the first that matches). */
const LAYERS = [
  ["contract", "lambdas/contract/"],
  ["core", "lambdas/core/"],
  ["adapters", "lambdas/adapters/"],
  ["handlers", "lambdas/rotation/"],
  ["handlers", "lambdas/revocation/"],
  ["cli", "cli/"],
  ["lib", "lib/"],
  ["local", "local/"],
  ["bin", "bin/"],
  ["bench", "bench/"],
  ["test", "test/"],
];
const SHOWN = ["contract", "core", "adapters", "cli", "lib"];
const all = process.argv.includes("--all");
const importers = all ? [...new Set(LAYERS.map(([layer]) => layer))] : SHOWN;

const root = process.cwd();
const layerOf = (path) => LAYERS.find(([, folder]) => path.startsWith(folder))?.[0];

function* sources(folder) {
  for (const entry of readdirSync(folder, { withFileTypes: true })) {
    const path = join(folder, entry.name);
    if (entry.isDirectory()) {
      if (entry.name !== "node_modules") yield* sources(path);
    } else if (/\.(ts|mts|mjs|js)$/.test(entry.name) && !entry.name.endsWith(".d.ts")) {
      yield path;
    }
  }
}

const SPECIFIERS = [
  /\b(?:import|export)\s+(?:type\s+)?[^;'"]*?\bfrom\s*["']([^"']+)["']/g,
  /\bimport\s*["']([^"']+)["']/g,
  /\bimport\(\s*["']([^"']+)["']\s*\)/g,
];

/** `from` → `to` → { imports, files } */
const edges = new Map();
for (const top of ["lambdas", "cli", "lib", "local", "bin", "bench", "test"]) {
  let files;
  try {
    files = [...sources(join(root, top))];
  } catch {
    continue;
  }
  for (const file of files) {
    const path = relative(root, file).replaceAll("\\", "/");
    const from = layerOf(path);
    if (!from || !importers.includes(from)) continue;
    const text = readFileSync(file, "utf8").replace(/^\s*\/\/.*$/gm, "");
    for (const pattern of SPECIFIERS) {
      for (const [, specifier] of text.matchAll(pattern)) {
        if (!specifier.startsWith(".")) continue;
        const target = relative(root, resolve(dirname(file), specifier)).replaceAll("\\", "/");
        const to = layerOf(target);
        if (!to || to === from || !SHOWN.includes(to)) continue;
        const row = edges.get(from) ?? new Map();
        const edge = row.get(to) ?? { imports: 0, files: new Set() };
        edge.imports++;
        edge.files.add(path);
        row.set(to, edge);
        edges.set(from, row);
      }
    }
  }
}

console.log("importer -> imported: import declarations (importing files)");
for (const from of importers) {
  for (const to of SHOWN) {
    const edge = edges.get(from)?.get(to);
    if (edge)
      console.log(`${from.padEnd(8)} -> ${to.padEnd(8)} ${String(edge.imports).padStart(4)} (${edge.files.size})`);
  }
}
const cycles = SHOWN.flatMap((a) =>
  SHOWN.filter((b) => a < b && edges.get(a)?.has(b) && edges.get(b)?.has(a)).map((b) => `${a} <-> ${b}`),
);
console.log(cycles.length > 0 ? `cycles: ${cycles.join(", ")}` : "cycles: none");
