import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { recordChildOutput } from "../support/child-output.js";

/**
 * The construct as a platform team meets it: `npm pack` (its prepack runs `npm run build`), the tarball installed into
 * a throwaway CDK app in a temporary folder next to aws-cdk-lib, constructs and cdk-nag at this repository's versions
 * (from npm's cache when it has them), with no esbuild and no TypeScript loader. The app, in TypeScript, is
 * type-checked and compiled against the package's declarations (NodeNext resolution, as `cdk init` apps use), then
 * synthesized with plain Node: a stack that rotates an imported secret, checked by cdk-nag's AwsSolutions rules.
 */
const REPO = resolve(".");
const lockVersion = (name: string): string => {
  const lock = JSON.parse(readFileSync(join(REPO, "package-lock.json"), "utf8"));
  const version = lock.packages?.[`node_modules/${name}`]?.version;
  if (typeof version !== "string") throw new Error(`${name} is not in package-lock.json`);
  return version;
};

const CONSUMER_APP = `
import { App, Duration, Stack, Validations } from "aws-cdk-lib";
import * as lambda from "aws-cdk-lib/aws-lambda";
import * as secretsmanager from "aws-cdk-lib/aws-secretsmanager";
import { AwsSolutionsChecks } from "cdk-nag";
import { NovalaKeyRotation, type NovalaKeyRotationProps } from "novala-key-rotation";

// Asset metadata (the CDK CLI turns it on) names each function's asset folder for the test.
const app = new App({ outdir: "cdk.out", context: { "aws:cdk:enable-asset-metadata": true } });
const stack = new Stack(app, "ConsumerStack", { env: { account: "111122223333", region: "eu-west-1" } });
const props: NovalaKeyRotationProps = {
  secrets: [secretsmanager.Secret.fromSecretNameV2(stack, "Acme", "novala/acme")],
  gracePeriod: Duration.hours(12),
  runtime: lambda.Runtime.NODEJS_24_X,
};
const rotation = new NovalaKeyRotation(stack, "Rotation", props);
// The construct's public members are typed with aws-cdk-lib's own interfaces.
export const functions: lambda.IFunction[] = [rotation.rotationFunction, rotation.revocationFunction];
Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
app.synth();
`;

function run(command: string, args: string[], cwd: string, timeout = 240_000) {
  const result = spawnSync(command, args, {
    cwd,
    encoding: "utf8",
    timeout,
    env: { ...process.env, npm_config_audit: "false", npm_config_fund: "false", npm_config_update_notifier: "false" },
  });
  recordChildOutput(`${command} ${args[0]}`, `${result.stdout ?? ""}${result.stderr ?? ""}`);
  if (result.status !== 0) {
    throw new Error(`${command} ${args.join(" ")} failed (${result.status}):\n${result.stdout}\n${result.stderr}`);
  }
  return result.stdout;
}

describe("the packed library in another CDK app", () => {
  let work: string;
  let app: string;
  let tarball: string;

  beforeAll(() => {
    work = mkdtempSync(join(tmpdir(), "novala-pack-"));
    app = join(work, "consumer");
    run("npm", ["pack", "--pack-destination", work], REPO);
    const packed = readdirSync(work).find((name) => name.endsWith(".tgz"));
    if (!packed) throw new Error(`npm pack wrote no tarball into ${work}`);
    tarball = join(work, packed);
    run("mkdir", ["-p", app], work);
    writeFileSync(
      join(app, "package.json"),
      JSON.stringify({
        name: "consumer-app",
        private: true,
        type: "module",
        dependencies: {
          "novala-key-rotation": `file:${tarball}`,
          "aws-cdk-lib": lockVersion("aws-cdk-lib"),
          constructs: lockVersion("constructs"),
          "cdk-nag": lockVersion("cdk-nag"),
        },
      }),
    );
    writeFileSync(
      join(app, "tsconfig.json"),
      JSON.stringify({
        compilerOptions: {
          target: "ES2022",
          module: "NodeNext",
          moduleResolution: "NodeNext",
          strict: true,
          skipLibCheck: true,
          outDir: "build",
          types: [],
        },
        files: ["app.ts"],
      }),
    );
    writeFileSync(join(app, "app.ts"), CONSUMER_APP);
    run("npm", ["install", "--prefer-offline", "--no-package-lock"], app);
  }, 360_000);

  afterAll(() => {
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it("packs the construct's JavaScript, declarations, pre-bundled functions and command line, and no sources", () => {
    const listing = run("tar", ["-tzf", tarball], work).split("\n").filter(Boolean).sort();
    expect(listing).toEqual(
      expect.arrayContaining([
        "package/dist/lib/index.js",
        "package/dist/lib/index.d.ts",
        "package/dist/lib/novala-key-rotation.d.ts",
        "package/dist/lambdas/rotation/index.mjs",
        "package/dist/lambdas/revocation/index.mjs",
        "package/dist/cli/novala-rotation.mjs",
      ]),
    );
    expect(listing.filter((file) => file.endsWith(".ts") && !file.endsWith(".d.ts"))).toEqual([]);
    const manifest = JSON.parse(readFileSync(join(app, "node_modules/novala-key-rotation/package.json"), "utf8"));
    expect(manifest.dependencies ?? {}).toEqual({});
    expect(Object.keys(manifest.peerDependencies).sort()).toEqual(["aws-cdk-lib", "constructs"]);
  });

  it("ships only what the library and its bundles need: each module imports only the package's own files, Node's and its peers'", () => {
    const installed = join(app, "node_modules/novala-key-rotation");
    const manifest = JSON.parse(readFileSync(join(installed, "package.json"), "utf8"));
    const allowed = new Set(Object.keys(manifest.peerDependencies));
    const listing = new Set(run("tar", ["-tzf", tarball], work).split("\n").filter(Boolean));
    const modules = [...listing].filter(
      (file) => /^package\/dist\/(lib|lambdas)\/.*\.(js|d\.ts)$/.test(file) && !/\/(rotation|revocation)\//.test(file),
    );
    expect(modules).toContain("package/dist/lib/index.js");
    for (const file of modules) {
      const text = readFileSync(join(installed, file.replace(/^package\//, "")), "utf8");
      for (const [, specifier] of text.matchAll(/(?:\bfrom\s*|\bimport\s*\(?\s*)["']([^"']+)["']/g)) {
        const target = specifier as string;
        if (target.startsWith(".")) {
          const resolved = join(dirname(file), target).replace(/\.js$/, file.endsWith(".d.ts") ? ".d.ts" : ".js");
          expect(listing.has(resolved), `${file} imports ${target}`).toBe(true);
        } else if (!target.startsWith("node:")) {
          const pkg = target.startsWith("@")
            ? target.split("/").slice(0, 2).join("/")
            : (target.split("/")[0] as string);
          expect(allowed.has(pkg), `${file} imports ${target}, which the package does not declare`).toBe(true);
        }
      }
    }
    // tsc emits these too (a type import reaches them; they import zod, a devDependency): the build leaves them out.
    expect(modules.filter((file) => /lambdas\/core\/(ports|secret-value)\.js$/.test(file))).toEqual([]);
  });

  it("packs a LICENSE, a CHANGELOG, the SBOM of each function, and a README whose every relative link is inside", () => {
    const listing = new Set(run("tar", ["-tzf", tarball], work).split("\n").filter(Boolean));
    const installed = join(app, "node_modules/novala-key-rotation");
    const manifest = JSON.parse(readFileSync(join(installed, "package.json"), "utf8"));
    expect(manifest.license).toBe("Apache-2.0");
    expect(readFileSync(join(installed, "LICENSE"), "utf8")).toMatch(/Apache License\s+Version 2\.0/);
    for (const file of ["CHANGELOG.md", "dist/lambdas/rotation.cdx.json", "dist/lambdas/revocation.cdx.json"]) {
      expect(listing.has(`package/${file}`), file).toBe(true);
    }
    const readme = readFileSync(join(installed, "README.md"), "utf8");
    const links = [...readme.matchAll(/\]\(([^)\s]+)\)/g)]
      .map(([, target]) => (target as string).split("#")[0] as string)
      .filter((target) => target !== "" && !/^[a-z]+:/i.test(target));
    expect(links.length).toBeGreaterThan(5);
    for (const link of links) expect(listing.has(join("package", link)), `README links ${link}`).toBe(true);
  });

  it("installs without esbuild or a TypeScript loader", () => {
    for (const tool of ["esbuild", "tsx", "typescript", "ts-node"]) {
      expect(existsSync(join(app, "node_modules", tool)), tool).toBe(false);
    }
  });

  it("type-checks a TypeScript app against the package's declarations and synthesizes it, cdk-nag clean", () => {
    run(process.execPath, [join(REPO, "node_modules/typescript/bin/tsc"), "-p", "tsconfig.json"], app);
    run(process.execPath, ["build/app.js"], app);
    const out = join(app, "cdk.out");
    const template = JSON.parse(readFileSync(join(out, "ConsumerStack.template.json"), "utf8"));
    const resources = Object.values(template.Resources) as {
      Type: string;
      Properties: Record<string, unknown>;
      Metadata?: Record<string, string>;
    }[];
    const functions = resources.filter((resource) => resource.Type === "AWS::Lambda::Function");
    expect(functions.map((fn) => fn.Properties.Runtime)).toEqual(["nodejs24.x", "nodejs24.x"]);
    const schedules = resources.filter((resource) => resource.Type === "AWS::SecretsManager::RotationSchedule");
    expect(schedules.map((schedule) => schedule.Properties.SecretId)).toEqual(["novala/acme"]);
    // Each function's asset is the package's pre-bundled code, as packed.
    for (const fn of functions) {
      const asset = join(out, fn.Metadata?.["aws:asset:path"] ?? "missing");
      expect(readdirSync(asset).sort()).toEqual(["index.mjs", "index.mjs.map"]);
    }
    const report = JSON.parse(readFileSync(join(out, "validation-report.json"), "utf8")) as {
      pluginReports: { pluginName: string; conclusion: string; violations: unknown[] }[];
    };
    expect(report.pluginReports.map(({ pluginName, conclusion }) => ({ pluginName, conclusion }))).toEqual([
      { pluginName: "AwsSolutions", conclusion: "success" },
    ]);
    expect(report.pluginReports.flatMap((plugin) => plugin.violations)).toEqual([]);
  });

  it("installs a working novala-rotation command line, which tells its version", () => {
    const help = run(join(app, "node_modules/.bin/novala-rotation"), ["--help"], app);
    expect(help).toMatch(/Usage: novala-rotation/);
    expect(help).toMatch(/\bstatus\b/);
    const { version } = JSON.parse(readFileSync(join(REPO, "package.json"), "utf8"));
    expect(run(join(app, "node_modules/.bin/novala-rotation"), ["--version"], app).trim()).toBe(version);
    // The built command line runs by itself too (it has its run bit), from the build `npm pack` made.
    expect(run(join(REPO, "dist/cli/novala-rotation.mjs"), ["--version"], REPO).trim()).toBe(version);
  });
});
