/**
 * `npm run audit:bundles` (.ci/run): the npm packages inside the Lambda bundles, at the versions that are inside (the
 * SBOMs beside the bundles, rebuilt here from the current sources), checked against npm's security advisories.
 * `npm audit --omit=dev` cannot do it: every bundled package is a devDependency, since the package ships them inside
 * its bundles and declares no dependencies.
 *
 * npm does the matching: the versions go into a generated package-lock.json (one per set of distinct names, should a
 * package be bundled at two versions) and `npm audit --package-lock-only` asks the registry's advisory service about
 * exactly them. Exit 1 on a high or critical advisory; when the service cannot be asked (offline, a registry mirror
 * that does not serve audits), it says so plainly, says nothing was checked, and exits 0: the build is not the
 * registry's hostage, and the line is there in the log for anyone who reads it.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildLambdaAssets } from "./lambda-bundles.js";

interface AuditReport {
  message?: string;
  error?: { summary?: string; detail?: string };
  vulnerabilities?: Record<string, { severity: string; via: (string | { title?: string; url?: string })[] }>;
}

const FAILING = new Set(["high", "critical"]);

const built = await buildLambdaAssets();
const versions = new Map<string, Set<string>>();
for (const { sbom } of Object.values(built)) {
  const { components } = JSON.parse(readFileSync(sbom, "utf8")) as {
    components: { group?: string; name: string; version: string }[];
  };
  for (const component of components) {
    const name = component.group ? `${component.group}/${component.name}` : component.name;
    versions.set(name, (versions.get(name) ?? new Set()).add(component.version));
  }
}

// One lockfile can hold one version of a name at the top: a name bundled at two versions goes into a second set.
const sets: Map<string, string>[] = [];
for (const [name, each] of [...versions.entries()].sort(([a], [b]) => a.localeCompare(b))) {
  [...each].forEach((version, index) => {
    sets[index] ??= new Map();
    sets[index].set(name, version);
  });
}

const findings: string[] = [];
let checked = 0;
for (const set of sets) {
  const report = audit(set);
  if (!report.vulnerabilities) {
    const why = report.error?.summary || report.message || "no answer";
    console.log(
      `bundle audit: npm's advisory service could not be asked (${why.split("\n")[0]}): the ${versions.size} ` +
        "bundled packages were NOT checked this time. Run `npm run audit:bundles` where the registry answers.",
    );
    process.exit(0);
  }
  checked += set.size;
  for (const [name, { severity, via }] of Object.entries(report.vulnerabilities)) {
    const advisories = via
      .filter((entry) => typeof entry === "object")
      .map((entry) => [entry.title, entry.url].filter(Boolean).join(" "));
    findings.push(`${severity.padEnd(8)} ${name}@${set.get(name) ?? "?"}: ${advisories.join("; ") || "see npm audit"}`);
    if (FAILING.has(severity)) process.exitCode = 1;
  }
}
for (const finding of findings) console.log(`bundle audit: ${finding}`);
console.log(
  `bundle audit: ${checked} bundled package versions checked against npm's advisories: ` +
    (findings.length === 0 ? "none known" : `${findings.length} with advisories`) +
    (process.exitCode === 1 ? " (high or critical: update them, rebuild, and run again)" : ""),
);

/** `npm audit --package-lock-only --json` over a lockfile that holds exactly `set` (name → version). */
function audit(set: Map<string, string>): AuditReport {
  const dir = mkdtempSync(join(tmpdir(), "novala-bundle-audit-"));
  try {
    const dependencies = Object.fromEntries(set);
    const root = { name: "novala-bundled-packages", version: "0.0.0", private: true, dependencies };
    writeFileSync(join(dir, "package.json"), JSON.stringify(root));
    const packages = Object.fromEntries([...set].map(([name, version]) => [`node_modules/${name}`, { version }]));
    writeFileSync(
      join(dir, "package-lock.json"),
      JSON.stringify({ ...root, lockfileVersion: 3, requires: true, packages: { "": root, ...packages } }),
    );
    const run = spawnSync("npm", ["audit", "--package-lock-only", "--json"], {
      cwd: dir,
      encoding: "utf8",
      timeout: 120_000,
      env: { ...process.env, npm_config_update_notifier: "false", npm_config_fund: "false" },
    });
    try {
      return JSON.parse(run.stdout) as AuditReport;
    } catch {
      return { message: (run.stderr || run.error?.message || `npm audit exited ${run.status}`).trim() };
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
