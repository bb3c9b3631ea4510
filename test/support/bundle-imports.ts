import { isBuiltin } from "node:module";

/**
 * Modules a bundle loads that are not Node built-ins: static `import … from "x"` / `import "x"` statements of the ES
 * module (minified: `import{a as b}from"x";`) and literal `require("x")` calls left in bundled CommonJS code. A Lambda
 * deployment package that bundles everything has none, except `allowed` (optional modules loaded in a try/catch).
 * A quick static check: the tests that run a bundle do so from a folder with no node_modules above it.
 */
export function nonBuiltinImports(code: string, allowed: readonly string[] = []): string[] {
  const names = [
    ...[...code.matchAll(/(?:^|[;\n}])\s*import\s*(?:[\w*{}\s,$]+from\s*)?["']([^"']+)["']/g)].map((m) => m[1]),
    // Not inside a message such as "register it with [require('x');]".
    ...[...code.matchAll(/(?<![\w$.[])require\(\s*["']([^"']+)["']\s*\)/g)].map((m) => m[1]),
  ] as string[];
  return [...new Set(names)].filter((name) => !isBuiltin(name) && !allowed.includes(name)).sort();
}

/**
 * The SDK's SigV4a signer, required in a try/catch by the Secrets Manager client's multi-region signer only for
 * multi-region access points; neither function signs with SigV4a.
 */
export const OPTIONAL_SDK_MODULES = ["@aws-sdk/signature-v4-crt"];
