import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { LAMBDA_ASSETS_DIR, LAMBDA_ENTRIES, type LambdaName } from "../../scripts/lambda-bundles.js";

/**
 * Know what ships (issue 19, item 6): beside each Lambda bundle, a CycloneDX SBOM of the npm packages inside it. It is
 * checked here against a second account of the bundle, its source map (every file that put code into the bundle), and
 * against the versions package-lock.json installed: everything that is inside is listed, at the installed version,
 * and nothing else. The test set-up builds dist/lambdas from the current sources (test/support/lambda-assets.ts).
 */
const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const LOCK = JSON.parse(readFileSync(join(ROOT, "package-lock.json"), "utf8")) as {
  packages: Record<string, { version?: string }>;
};

interface SbomComponent {
  type: string;
  "bom-ref": string;
  group?: string;
  name: string;
  version: string;
  purl: string;
  licenses?: { license?: { id?: string; name?: string }; expression?: string }[];
}

interface Sbom {
  bomFormat: string;
  specVersion: string;
  metadata: { component: { name: string; hashes: { alg: string; content: string }[] } };
  components: SbomComponent[];
  dependencies: { ref: string; dependsOn: string[] }[];
}

const read = (path: string) => readFileSync(path, "utf8");

/** The packages whose files the bundle's source map names, as `name@version` (the version installed there). */
function packagesInSourceMap(name: LambdaName): Set<string> {
  const bundleDir = join(LAMBDA_ASSETS_DIR, name);
  const map = JSON.parse(read(join(bundleDir, "index.mjs.map"))) as { sources: string[] };
  const found = new Set<string>();
  for (const source of map.sources) {
    const file = relative(ROOT, resolve(bundleDir, source));
    const dir = /^(.*node_modules\/(?:@[^/]+\/)?[^/]+)\//.exec(file)?.[1];
    if (!dir) continue;
    const version = LOCK.packages[dir]?.version;
    expect(version, `${dir} is not in package-lock.json`).toBeDefined();
    const installed = JSON.parse(read(join(ROOT, dir, "package.json"))) as { name: string; version: string };
    expect(installed.version, `${dir}: installed, not locked`).toBe(version);
    found.add(`${installed.name}@${installed.version}`);
  }
  return found;
}

const fullName = (component: SbomComponent) =>
  component.group ? `${component.group}/${component.name}` : component.name;

describe.each(Object.keys(LAMBDA_ENTRIES) as LambdaName[])("the SBOM of the %s bundle", (name) => {
  const sbom = JSON.parse(read(join(LAMBDA_ASSETS_DIR, `${name}.cdx.json`))) as Sbom;

  it("is CycloneDX 1.6 JSON naming the bundle it describes by its SHA-256", () => {
    expect(sbom).toMatchObject({ bomFormat: "CycloneDX", specVersion: "1.6" });
    const bundle = readFileSync(join(LAMBDA_ASSETS_DIR, name, "index.mjs"));
    expect(sbom.metadata.component.hashes).toEqual([
      { alg: "SHA-256", content: createHash("sha256").update(bundle).digest("hex") },
    ]);
  });

  it("lists exactly the packages inside the bundle, at the versions package-lock.json installed", () => {
    const listed = sbom.components.map((component) => `${fullName(component)}@${component.version}`);
    expect(new Set(listed).size).toBe(listed.length);
    expect(listed.sort()).toEqual([...packagesInSourceMap(name)].sort());
    for (const expected of [
      "undici",
      "zod",
      "@aws-sdk/client-secrets-manager",
      "@aws-sdk/client-scheduler",
      "@aws-lambda-powertools/logger",
      "@middy/core",
    ]) {
      const version = LOCK.packages[`node_modules/${expected}`]?.version;
      expect(listed, expected).toContain(`${expected}@${version}`);
    }
    // Packages of the project's tool chain are not inside.
    for (const tool of ["esbuild", "typescript", "aws-cdk-lib", "vitest", "commander"]) {
      expect(listed.some((entry) => entry.startsWith(`${tool}@`))).toBe(false);
    }
  });

  it("gives each package its purl and its license", () => {
    for (const component of sbom.components) {
      const purlName = component.group ? `${component.group.replace("@", "%40")}/${component.name}` : component.name;
      expect(component).toMatchObject({ type: "library", purl: `pkg:npm/${purlName}@${component.version}` });
      expect(component["bom-ref"]).toBe(component.purl);
      const manifest = JSON.parse(read(join(ROOT, "node_modules", fullName(component), "package.json")));
      if (manifest.version === component.version && typeof manifest.license === "string") {
        expect(component.licenses?.[0]?.license?.id ?? component.licenses?.[0]?.expression).toBe(manifest.license);
      }
    }
    const undici = sbom.components.find((component) => component.name === "undici");
    expect(undici?.licenses).toEqual([{ license: { id: "MIT" } }]);
    const [dependencies] = sbom.dependencies;
    expect(dependencies?.dependsOn.sort()).toEqual(sbom.components.map((component) => component.purl).sort());
  });
});
