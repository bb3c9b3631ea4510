/** The secret value's schema: parsing, validation and the value written for a new key. */
import * as z from "zod/mini";
import type { AllowedHosts } from "../contract/allowed-hosts.js";
import { KEY_ID_PATTERN, PUBLISHABLE_KEY_PATTERN, SECRET_KEY_PATTERN } from "../contract/key-shapes.js";
import { BaseUrlNotAllowedError, SecretValueError } from "./errors.js";
import { keyNameProblem } from "./key-name-rule.js";

const nonEmpty = z.string().check(z.minLength(1));

/**
 * The secret value consumers read from AWSCURRENT (docs/design.md). Unknown extra fields are kept as they are
 * across rotations. Validation errors name the field and never echo the value.
 */
const keySecretFields = z.object({
  baseUrl: nonEmpty,
  keyId: nonEmpty,
  name: nonEmpty,
  scopes: z.array(nonEmpty),
  publishableKey: nonEmpty,
  secretKey: nonEmpty,
  createdAt: nonEmpty,
  managerSecretId: z.optional(nonEmpty),
});
const keySecretSchema = z.looseObject(keySecretFields.shape);

/** The secret value's known fields (docs/design.md, "The secret value"), validated. */
export type KeySecret = z.infer<typeof keySecretFields>;

/** A validated secret value, and the whole object it came from. */
export interface ParsedKeySecret {
  secret: KeySecret;
  /** The whole parsed object, extra fields included, to carry them into the next version. */
  raw: Record<string, unknown>;
}

/**
 * Parses and checks a secret value. `label` says which secret it is in messages ("secret novala/acme AWSCURRENT").
 */
export function parseKeySecret(value: string, label: string, allowedHosts: AllowedHosts): ParsedKeySecret {
  let json: unknown;
  try {
    json = JSON.parse(value);
  } catch {
    throw new SecretValueError(`${label}: the secret value is not JSON`);
  }
  if (typeof json !== "object" || json === null || Array.isArray(json)) {
    throw new SecretValueError(`${label}: the secret value must be a JSON object`);
  }
  const result = keySecretSchema.safeParse(json);
  if (!result.success) {
    const problems = result.error.issues.map((issue) => {
      const field = issue.path.join(".") || "(root)";
      return issue.code === "invalid_type" && issueInputMissing(json, issue.path)
        ? `field "${field}" is missing`
        : `field "${field}" must be ${describeExpected(issue)}`;
    });
    throw new SecretValueError(`${label}: ${problems.join("; ")}`);
  }
  const secret = result.data as KeySecret & Record<string, unknown>;
  if (!KEY_ID_PATTERN.test(secret.keyId)) {
    throw new SecretValueError(`${label}: field "keyId" must be "key_" followed by 1 to 64 letters or digits`);
  }
  const nameProblem = keyNameProblem(secret.name);
  if (nameProblem) throw new SecretValueError(`${label}: field "name" ${nameProblem}`);
  const publishableMode = secret.publishableKey.match(PUBLISHABLE_KEY_PATTERN)?.[1];
  if (!publishableMode) {
    throw new SecretValueError(`${label}: field "publishableKey" must start with pk_live_ or pk_test_`);
  }
  const secretMode = secret.secretKey.match(SECRET_KEY_PATTERN)?.[1];
  if (!secretMode) {
    throw new SecretValueError(`${label}: field "secretKey" must start with sk_live_ or sk_test_`);
  }
  if (publishableMode !== secretMode) {
    throw new SecretValueError(`${label}: fields "publishableKey" and "secretKey" mix live and test keys`);
  }
  if (!allowedHosts.isAllowed(secret.baseUrl)) {
    throw new BaseUrlNotAllowedError(
      `${label}: field "baseUrl" names a host outside NOVALA_ALLOWED_HOSTS (${allowedHosts.spec}), or plain http to a host that is not an explicitly listed loopback host`,
    );
  }
  return { secret, raw: result.data as Record<string, unknown> };
}

function issueInputMissing(json: unknown, path: PropertyKey[]): boolean {
  let node: unknown = json;
  for (const key of path) {
    if (typeof node !== "object" || node === null) return true;
    node = (node as Record<PropertyKey, unknown>)[key];
  }
  return node === undefined;
}

function describeExpected(issue: z.core.$ZodIssue): string {
  if (issue.code === "invalid_type") return `a ${issue.expected}`;
  if (issue.code === "too_small") return "non-empty";
  return "valid";
}

/**
 * A stored value's fields, read leniently: the JSON object it holds, whatever its fields; undefined when it is not a
 * JSON object. For values that need not pass today's validation (an old version retired, shown or searched).
 */
export function lenientFields(value: string | undefined): Record<string, unknown> | undefined {
  if (value === undefined) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch {
    return undefined;
  }
  return typeof parsed === "object" && parsed !== null && !Array.isArray(parsed)
    ? (parsed as Record<string, unknown>)
    : undefined;
}

/** What a stored value says about its key that may be shown: never `publishableKey` or `secretKey`. */
export interface KeyMetadata {
  keyId?: string;
  name?: string;
  scopes?: string[];
  createdAt?: string;
  baseUrl?: string;
  managerSecretId?: string;
}

/**
 * The showable fields of a stored value, read leniently (an old version need not pass today's validation to be
 * shown): each field that is a string, and the scopes that are strings; nothing for a value that is not a JSON object.
 */
export function keyMetadataOf(value: string | undefined): KeyMetadata {
  const fields = lenientFields(value);
  if (!fields) return {};
  const metadata: KeyMetadata = {};
  for (const field of ["keyId", "name", "createdAt", "baseUrl", "managerSecretId"] as const) {
    const text = fields[field];
    if (typeof text === "string") metadata[field] = text;
  }
  if (Array.isArray(fields.scopes)) {
    metadata.scopes = fields.scopes.filter((scope): scope is string => typeof scope === "string");
  }
  return metadata;
}

/** Scopes as a set: order and duplicates do not matter to Novala. */
export function sameScopes(a: readonly string[], b: readonly string[]): boolean {
  const left = new Set(a);
  const right = new Set(b);
  return left.size === right.size && [...left].every((scope) => right.has(scope));
}

/**
 * The secret value for a key pair as Novala's create answer (or the simulator's seed) returns it: what onboarding,
 * the local run and the tests store as a first version.
 */
export function secretValueFor(
  baseUrl: string,
  key: Pick<KeySecret, "name" | "scopes" | "publishableKey" | "secretKey" | "createdAt"> & { id: string },
  extra: Record<string, unknown> = {},
): string {
  const value: KeySecret = {
    baseUrl,
    keyId: key.id,
    name: key.name,
    scopes: key.scopes,
    publishableKey: key.publishableKey,
    secretKey: key.secretKey,
    createdAt: key.createdAt,
  };
  return JSON.stringify({ ...value, ...extra });
}
