import { randomUUID } from "node:crypto";
import { CreateSecretCommand, PutSecretValueCommand } from "@aws-sdk/client-secrets-manager";
import { storeError } from "../lambdas/adapters/aws/secret-store.js";
import { KeyUnauthorizedError, NovalaHttpError } from "../lambdas/adapters/novala/errors.js";
import { HostNotAllowedError } from "../lambdas/contract/errors.js";
import { errorMessage } from "../lambdas/core/errors.js";
import type { NovalaCredentials, NovalaKey } from "../lambdas/core/ports.js";
import { AWSCURRENT } from "../lambdas/core/ports.js";
import { parseKeySecret, secretValueFor } from "../lambdas/core/secret-value.js";
import { describeSecret, isNotFound } from "./aws.js";
import { CliError, EXIT } from "./errors.js";
import { type CommonOptions, maskedKey, type Session, withSession } from "./session.js";

/**
 * `put-key <secret-id>`: onboarding. Reads a key pair (standard input, or a prompt that does not echo), checks the
 * prefixes, introspects the pair at Novala (GET /api-keys/self with each key) for id, name, scopes and creation time,
 * and writes the secret value of docs/design.md as the new AWSCURRENT, keeping any extra fields the secret held.
 * A secret that holds another key that still works is not overwritten without --force. Only the last four characters
 * of either key are ever printed.
 */
export interface PutKeyOptions extends CommonOptions {
  baseUrl?: string;
  managerSecret?: string;
  selfManaged?: boolean;
  create?: boolean;
  description?: string;
  kmsKeyId?: string;
  force?: boolean;
}

interface KeyPair {
  publishableKey: string;
  secretKey: string;
}

const PUBLISHABLE = /^pk_(live|test)_[A-Za-z0-9]+$/;
const SECRET = /^sk_(live|test)_[A-Za-z0-9]+$/;
const MAX_INPUT_BYTES = 64 * 1024;
const MANAGE_SCOPE = "api_keys.manage";

export function putKey(secretId: string, options: PutKeyOptions): Promise<number> {
  return withSession(options, (session) => run(session, secretId, options));
}

async function run(session: Session, secretId: string, options: PutKeyOptions): Promise<number> {
  const { out } = session;
  const c = out.color;
  if (options.managerSecret && options.selfManaged) {
    throw new CliError("--manager-secret and --self-managed exclude each other", EXIT.usage);
  }

  // The secret as it is: whether it exists, and the value (and key) it holds now.
  let arn: string | undefined;
  let existing: { value: string; raw: Record<string, unknown> } | undefined;
  try {
    const described = await describeSecret(session.aws, secretId);
    arn = described.ARN as string;
    const stored = await session.aws.store.getValue(arn, { stage: AWSCURRENT });
    if (stored) existing = { value: stored.value, raw: jsonObject(stored.value) ?? {} };
  } catch (error) {
    if (!isNotFound(error)) throw error;
    if (!options.create) throw new CliError(`secret ${secretId} does not exist (add --create to create it)`);
  }

  const baseUrl = options.baseUrl ?? text(existing?.raw.baseUrl);
  if (!baseUrl) throw new CliError("--base-url is required: the secret holds no baseUrl yet", EXIT.usage);
  try {
    session.config.allowedHosts.check(baseUrl);
  } catch (error) {
    if (error instanceof HostNotAllowedError) throw new CliError(`--base-url: ${error.message}`, EXIT.usage);
    throw error;
  }

  const pair = await readKeyPair();
  const key = await introspect(session, baseUrl, pair);

  const heldKeyId = text(existing?.raw.keyId);
  const replacing = heldKeyId !== undefined && heldKeyId !== key.id ? heldKeyId : undefined;
  if (replacing && !options.force) {
    const works = await heldKeyWorks(session, existing?.raw ?? {});
    if (works !== false) {
      throw new CliError(
        works === true
          ? `secret ${secretId} already holds key ${replacing}, which still works at Novala; add --force to replace it`
          : `secret ${secretId} holds key ${replacing} and whether it still works could not be checked (${works.error}); add --force to replace it`,
      );
    }
  }

  // Extra fields of an existing value are kept, as rotation keeps them.
  const value: Record<string, unknown> = {
    ...existing?.raw,
    ...JSON.parse(secretValueFor(baseUrl, { ...key, ...pair })),
  };
  if (options.managerSecret) value.managerSecretId = options.managerSecret;
  if (options.selfManaged) delete value.managerSecretId;
  const json = JSON.stringify(value);
  const parsed = parseKeySecret(json, `secret ${secretId}`, session.config.allowedHosts);
  if (parsed.secret.managerSecretId) {
    try {
      await session.managerCredentials(arn ?? secretId, parsed);
    } catch (error) {
      throw new CliError(`managerSecretId ${parsed.secret.managerSecretId}: ${errorMessage(error)}`);
    }
  } else if (!key.scopes.includes(MANAGE_SCOPE)) {
    out.warn(
      `key ${key.id} is self-managed but lacks ${MANAGE_SCOPE}: it cannot rotate itself; ` +
        "name a manager secret with --manager-secret",
    );
  }

  // Asked before the write: the manager credentials come from the value as it will be.
  let manage: NovalaCredentials | undefined;
  if (replacing) {
    if (parsed.secret.managerSecretId) manage = await session.managerCredentials(arn ?? secretId, parsed);
    else if (key.scopes.includes(MANAGE_SCOPE)) manage = { baseUrl, bearer: pair.secretKey };
  }
  const replacedStatus = replacing
    ? await replacedKeyStatus(session, existing?.raw ?? {}, replacing, manage)
    : "active";

  let versionId: string | undefined;
  let outcome: "created" | "updated" | "unchanged";
  if (existing?.value === json) {
    outcome = "unchanged";
  } else if (arn === undefined) {
    const created = await send("CreateSecret", secretId, () =>
      session.aws.secrets.send(
        new CreateSecretCommand({
          Name: secretId,
          SecretString: json,
          ClientRequestToken: randomUUID(),
          ...(options.description && { Description: options.description }),
          ...(options.kmsKeyId && { KmsKeyId: options.kmsKeyId }),
        }),
      ),
    );
    arn = created.ARN;
    versionId = created.VersionId;
    outcome = "created";
  } else {
    const put = await send("PutSecretValue", secretId, () =>
      session.aws.secrets.send(
        new PutSecretValueCommand({ SecretId: arn, SecretString: json, ClientRequestToken: randomUUID() }),
      ),
    );
    versionId = put.VersionId;
    outcome = "updated";
  }

  out.data({
    secretId,
    arn,
    outcome,
    versionId,
    keyId: key.id,
    name: key.name,
    scopes: key.scopes,
    createdAt: key.createdAt,
    publishableKey: maskedKey(pair.publishableKey),
    secretKey: maskedKey(pair.secretKey),
    managerSecretId: parsed.secret.managerSecretId ?? null,
    ...(replacing && {
      replacedKeyId: replacing,
      replacedKeyStatus: typeof replacedStatus === "string" ? replacedStatus : "unchecked",
    }),
  });
  out.line(
    outcome === "unchanged"
      ? `Secret ${secretId} already holds key ${key.id} with this metadata: nothing written.`
      : `${c.green("Stored")} key ${key.id} "${key.name}" in ${outcome === "created" ? "the new secret" : "secret"} ` +
          `${secretId} as AWSCURRENT${versionId ? ` (version ${versionId})` : ""}.`,
  );
  out.fields(
    [
      ["scopes", key.scopes.join(", ")],
      ["key created", key.createdAt],
      ["publishable key", maskedKey(pair.publishableKey)],
      ["secret key", maskedKey(pair.secretKey)],
      ["rotated by", parsed.secret.managerSecretId ? `manager secret ${parsed.secret.managerSecretId}` : "itself"],
    ],
    2,
  );
  if (replacing) {
    const before = `the key it held before, ${replacing},`;
    if (replacedStatus === "active") {
      out.line(`  ${c.yellow("!")} ${before} is still active at Novala: revoke it once no consumer uses it.`);
    } else if (replacedStatus === "revoked" || replacedStatus === "unknown") {
      out.line(`  ${before} is ${replacedStatus === "revoked" ? "already revoked at" : "unknown to"} Novala.`);
    } else {
      out.line(
        `  ${c.yellow("!")} ${before} could not be checked at Novala (${replacedStatus.error}): revoke it there if it is still active.`,
      );
    }
  }
  return 0;
}

/**
 * What Novala says of the key a secret held before: its own secret key answers for it while it works; once it does
 * not (401), Novala's record is asked with credentials that may read it (the manager key, or the new self-managed key).
 */
async function replacedKeyStatus(
  session: Session,
  raw: Record<string, unknown>,
  keyId: string,
  manage: NovalaCredentials | undefined,
): Promise<"active" | "revoked" | "unknown" | { error: string }> {
  const baseUrl = text(raw.baseUrl);
  const secretKey = text(raw.secretKey);
  try {
    if (baseUrl && secretKey && SECRET.test(secretKey) && session.config.allowedHosts.isAllowed(baseUrl)) {
      try {
        const self = await session.keys.self({ baseUrl, bearer: secretKey });
        if (self.id === keyId) return self.status;
      } catch (error) {
        if (!(error instanceof KeyUnauthorizedError)) throw error;
      }
    }
    if (!manage) return { error: "its secret key does not authenticate, and no key that may read it was given" };
    const known = await session.keys.get(manage, keyId);
    return known ? known.status : "unknown";
  } catch (error) {
    return { error: errorMessage(error) };
  }
}

/** The pair from standard input (not a terminal) or from two prompts that do not echo. */
async function readKeyPair(): Promise<KeyPair> {
  if (process.stdin.isTTY) {
    const { default: password } = await import("@inquirer/password");
    const context = { input: process.stdin, output: process.stderr };
    const publishableKey = await password(
      {
        message: "Publishable key (pk_live_… or pk_test_…):",
        validate: (v) => PUBLISHABLE.test(v.trim()) || "a publishable key starts with pk_live_ or pk_test_",
      },
      context,
    );
    const secretKey = await password(
      {
        message: "Secret key (sk_live_… or sk_test_…):",
        validate: (v) => SECRET.test(v.trim()) || "a secret key starts with sk_live_ or sk_test_",
      },
      context,
    );
    return checkPair({ publishableKey: publishableKey.trim(), secretKey: secretKey.trim() });
  }
  const input = await readStdin();
  const object = input.trimStart().startsWith("{") ? jsonObject(input) : undefined;
  if (object) {
    return checkPair({ publishableKey: text(object.publishableKey) ?? "", secretKey: text(object.secretKey) ?? "" });
  }
  const words = input.split(/[\s,;]+/).filter((word) => word.length > 0);
  const publishable = words.filter((word) => word.startsWith("pk_"));
  const secret = words.filter((word) => word.startsWith("sk_"));
  if (publishable.length + secret.length !== words.length) {
    throw new CliError("standard input holds something that is neither a publishable (pk_…) nor a secret (sk_…) key");
  }
  if (publishable.length !== 1 || secret.length !== 1) {
    throw new CliError(
      "standard input must hold exactly one publishable key (pk_…) and one secret key (sk_…), " +
        `found ${publishable.length} and ${secret.length}`,
    );
  }
  return checkPair({ publishableKey: publishable[0] as string, secretKey: secret[0] as string });
}

function checkPair(pair: KeyPair): KeyPair {
  const publishableMode = pair.publishableKey.match(PUBLISHABLE)?.[1];
  const secretMode = pair.secretKey.match(SECRET)?.[1];
  if (!publishableMode) throw new CliError("the publishable key must start with pk_live_ or pk_test_");
  if (!secretMode) throw new CliError("the secret key must start with sk_live_ or sk_test_");
  if (publishableMode !== secretMode) throw new CliError("the publishable and the secret key mix live and test mode");
  return pair;
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of process.stdin) {
    const buffer = Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk));
    size += buffer.length;
    if (size > MAX_INPUT_BYTES) throw new CliError("standard input is too large for a key pair");
    chunks.push(buffer);
  }
  const input = Buffer.concat(chunks).toString("utf8");
  if (input.trim() === "") throw new CliError("standard input is empty: pipe in the publishable and the secret key");
  return input;
}

/** GET /api-keys/self with each key: both must answer, for the same active key. */
async function introspect(session: Session, baseUrl: string, pair: KeyPair): Promise<NovalaKey> {
  const ask = async (bearer: string, which: string) => {
    try {
      return await session.keys.self({ baseUrl, bearer });
    } catch (error) {
      if (error instanceof KeyUnauthorizedError) {
        throw new CliError(
          `Novala rejects the ${which} key (401): it is invalid or revoked, or too new to work yet (try again in 30 s)`,
        );
      }
      throw error;
    }
  };
  const bySecret = await ask(pair.secretKey, "secret");
  const byPublishable = await ask(pair.publishableKey, "publishable");
  if (byPublishable.id !== bySecret.id || bySecret.publishableKey !== pair.publishableKey) {
    throw new CliError(
      `the keys are not one pair: the secret key is ${bySecret.id}, the publishable key belongs to ${byPublishable.id}`,
    );
  }
  if (bySecret.status !== "active") throw new CliError(`key ${bySecret.id} is ${bySecret.status} at Novala`);
  return bySecret;
}

/** Whether the key a secret holds still authenticates at Novala: true, false, or the reason it cannot be told. */
async function heldKeyWorks(session: Session, raw: Record<string, unknown>): Promise<boolean | { error: string }> {
  const baseUrl = text(raw.baseUrl);
  const secretKey = text(raw.secretKey);
  if (!baseUrl || !secretKey || !session.config.allowedHosts.isAllowed(baseUrl)) return false;
  try {
    const key = await session.keys.self({ baseUrl, bearer: secretKey });
    return key.status === "active";
  } catch (error) {
    if (error instanceof KeyUnauthorizedError || (error instanceof NovalaHttpError && error.status === 403))
      return false;
    return { error: errorMessage(error) };
  }
}

async function send<T>(operation: string, secretId: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    throw storeError(operation, secretId, error);
  }
}

function jsonObject(value: string): Record<string, unknown> | undefined {
  try {
    const parsed: unknown = JSON.parse(value);
    return typeof parsed === "object" && parsed !== null && !Array.isArray(parsed)
      ? (parsed as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}

function text(value: unknown): string | undefined {
  return typeof value === "string" && value.length > 0 ? value : undefined;
}
