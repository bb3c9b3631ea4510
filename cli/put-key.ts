import { randomUUID } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { CreateSecretCommand, PutSecretValueCommand } from "@aws-sdk/client-secrets-manager";
import { storeError } from "../lambdas/adapters/aws/secret-store.js";
import { KeyUnauthorizedError, NovalaHttpError } from "../lambdas/adapters/novala/errors.js";
import { formatDuration } from "../lambdas/contract/duration.js";
import { HostNotAllowedError } from "../lambdas/contract/errors.js";
import { MANAGE_SCOPE, PUBLISHABLE_KEY_PATTERN, SECRET_KEY_PATTERN } from "../lambdas/contract/key-shapes.js";
import { errorMessage } from "../lambdas/core/errors.js";
import {
  introspectionProblem,
  type KeyPair,
  keyPairProblem,
  namesSecret,
  type OnboardingDecision,
  onboardingDecision,
} from "../lambdas/core/onboarding.js";
import type { NovalaCredentials, NovalaKey } from "../lambdas/core/ports.js";
import { AWSCURRENT } from "../lambdas/core/ports.js";
import { lenientFields, parseKeySecret, secretValueFor } from "../lambdas/core/secret-value.js";
import { describeSecret, isNotFound } from "./aws.js";
import { type Deployment, deploymentIfAny } from "./deployment.js";
import { CliError, EXIT } from "./errors.js";
import { type CommonOptions, maskedKey, type Session, withSession } from "./session.js";

/**
 * `put-key <secret-id>`: onboarding. Gathers the key pair (standard input, or a prompt that does not echo), Novala's
 * answers about it (GET /api-keys/self with each key: id, name, scopes, creation time; with --wait until the pair has
 * propagated), the secret as it is and its deployment (the rotation function's configuration names the manager
 * secrets); lambdas/core/onboarding.ts decides whether this pair may go into this secret (the tenant's master key only
 * into the deployment's manager secret, or a secret named self-managed with --self-managed); then writes the secret
 * value of docs/design.md as the new AWSCURRENT, keeping any extra fields the secret held. A secret that holds another
 * key that still works is not overwritten without --force. Every refusal comes before any write. Only the last four
 * characters of either key are ever printed.
 */
export interface PutKeyOptions extends CommonOptions {
  baseUrl?: string;
  managerSecret?: string;
  selfManaged?: boolean;
  create?: boolean;
  description?: string;
  kmsKeyId?: string;
  force?: boolean;
  /** Wait for Novala to accept a pair that is too new to work yet, at most this long (--wait, --wait-timeout). */
  wait?: boolean;
  waitTimeout?: number;
  /** The rotation function whose deployment names the manager secrets (default: the secret's own). */
  lambdaArn?: string;
}

export const DEFAULT_WAIT_TIMEOUT_MS = 120_000;
const WAIT_INTERVAL_MS = 2_000;
const MAX_INPUT_BYTES = 64 * 1024;

/** What put-key did: the text and the --json document are both made from it (never a key but the last four). */
export interface PutKeyReport {
  secretId: string;
  arn?: string;
  outcome: "created" | "updated" | "unchanged";
  versionId?: string;
  keyId: string;
  name: string;
  scopes: string[];
  createdAt: string;
  publishableKey: string;
  secretKey: string;
  managerSecretId: string | null;
  /** Whether the deployment names this secret as its manager; null when no deployment was found. */
  deploymentManager: boolean | null;
  warnings: string[];
  replacedKeyId?: string;
  replacedKeyStatus?: "active" | "revoked" | "unknown" | "unchecked";
  replacedKeyError?: string;
}

export function putKey(secretId: string, options: PutKeyOptions): Promise<number> {
  return withSession(options, (session) => run(session, secretId, options));
}

async function run(session: Session, secretId: string, options: PutKeyOptions): Promise<number> {
  if (options.managerSecret && options.selfManaged) {
    throw new CliError("--manager-secret and --self-managed exclude each other", EXIT.usage);
  }

  // Gather: the secret as it is (whether it exists, the value and key it holds now) and its deployment.
  let arn: string | undefined;
  let rotationLambdaArn: string | undefined;
  let existing: { value: string; raw: Record<string, unknown> } | undefined;
  try {
    const described = await describeSecret(session.aws, secretId);
    arn = described.ARN as string;
    rotationLambdaArn = described.RotationLambdaARN;
    const stored = await session.aws.store.getValue(arn, { stage: AWSCURRENT });
    if (stored) existing = { value: stored.value, raw: lenientFields(stored.value) ?? {} };
  } catch (error) {
    if (!isNotFound(error)) throw error;
    if (!options.create) throw new CliError(`secret ${secretId} does not exist (add --create to create it)`);
  }
  const deployment = await deploymentOf(session, secretId, rotationLambdaArn, options);

  const baseUrl = options.baseUrl ?? textField(existing?.raw, "baseUrl");
  if (!baseUrl) throw new CliError("--base-url is required: the secret holds no baseUrl yet", EXIT.usage);
  try {
    session.config.allowedHosts.check(baseUrl);
  } catch (error) {
    if (error instanceof HostNotAllowedError) throw new CliError(`--base-url: ${error.message}`, EXIT.usage);
    throw error;
  }

  const pair = await readKeyPair();
  const key = await introspect(session, baseUrl, pair, options);

  // Decide: the core's onboarding rules, on the value as it will be.
  const value: Record<string, unknown> = {
    ...existing?.raw,
    ...JSON.parse(secretValueFor(baseUrl, { ...key, ...pair })),
  };
  if (options.managerSecret) value.managerSecretId = options.managerSecret;
  if (options.selfManaged) delete value.managerSecretId;
  const managerSecretId = typeof value.managerSecretId === "string" ? value.managerSecretId : undefined;
  const managers = deployment?.managerSecretArns;
  const target = arn ?? secretId;
  const decision: OnboardingDecision = onboardingDecision(key, {
    secretName: secretId,
    ...(managerSecretId && { managerSecretId }),
    isDeploymentManager: managers?.some((manager) => namesSecret(target, manager)) ?? false,
    ...(managers && { deploymentManagers: managers }),
    ...(managerSecretId &&
      managers?.length && {
        managerIsTheDeployments: managers.some((manager) => namesSecret(managerSecretId, manager)),
      }),
    selfManagedFlag: options.selfManaged === true,
  });
  if (!decision.accepted) throw new CliError(`refusing to store the pair in ${secretId}: ${decision.refusal}`);

  const json = JSON.stringify(value);
  const parsed = parseKeySecret(json, `secret ${secretId}`, session.config.allowedHosts);
  if (parsed.secret.managerSecretId) {
    try {
      await session.managerCredentials(arn ?? secretId, parsed);
    } catch (error) {
      throw new CliError(`managerSecretId ${parsed.secret.managerSecretId}: ${errorMessage(error)}`);
    }
  }

  const heldKeyId = textField(existing?.raw, "keyId");
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
  // Asked before the write: the manager credentials come from the value as it will be.
  let manage: NovalaCredentials | undefined;
  if (replacing) {
    if (parsed.secret.managerSecretId) manage = await session.managerCredentials(arn ?? secretId, parsed);
    else if (key.scopes.includes(MANAGE_SCOPE)) manage = { baseUrl, bearer: pair.secretKey };
  }
  const replacedStatus = replacing
    ? await replacedKeyStatus(session, existing?.raw ?? {}, replacing, manage)
    : undefined;

  // Act: one write, or none when the secret already holds exactly this value.
  let versionId: string | undefined;
  let outcome: PutKeyReport["outcome"];
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

  return render(session, {
    secretId,
    ...(arn && { arn }),
    outcome,
    ...(versionId && { versionId }),
    keyId: key.id,
    name: key.name,
    scopes: key.scopes,
    createdAt: key.createdAt,
    publishableKey: maskedKey(pair.publishableKey),
    secretKey: maskedKey(pair.secretKey),
    managerSecretId: parsed.secret.managerSecretId ?? null,
    deploymentManager: managers === undefined ? null : managers.some((manager) => namesSecret(target, manager)),
    warnings: decision.warnings,
    ...(replacing && {
      replacedKeyId: replacing,
      replacedKeyStatus: typeof replacedStatus === "string" ? replacedStatus : "unchecked",
      ...(typeof replacedStatus === "object" && { replacedKeyError: replacedStatus.error }),
    }),
  });
}

/**
 * The deployment that names the manager secrets: the secret's rotation function, or --lambda-arn (a new secret, or a
 * manager secret no function rotates). Undefined when neither names one, or it cannot be read (then a manage-scoped key
 * needs --self-managed); a function that is not the deployment's is refused (cli/deployment.ts).
 */
async function deploymentOf(
  session: Session,
  secretId: string,
  rotationLambdaArn: string | undefined,
  options: PutKeyOptions,
): Promise<Deployment | undefined> {
  const functionArn = options.lambdaArn ?? rotationLambdaArn;
  if (!functionArn) return undefined;
  return deploymentIfAny(session.aws, { Name: secretId, RotationLambdaARN: functionArn }, {});
}

function render(session: Session, report: PutKeyReport): number {
  const { out } = session;
  const c = out.color;
  out.data(report);
  for (const warning of report.warnings) out.warn(warning);
  out.line(
    report.outcome === "unchanged"
      ? `Secret ${report.secretId} already holds key ${report.keyId} with this metadata: nothing written.`
      : `${c.green("Stored")} key ${report.keyId} "${report.name}" in ${report.outcome === "created" ? "the new secret" : "secret"} ` +
          `${report.secretId} as AWSCURRENT${report.versionId ? ` (version ${report.versionId})` : ""}.`,
  );
  out.fields(
    [
      ["scopes", report.scopes.join(", ")],
      ["key created", report.createdAt],
      ["publishable key", report.publishableKey],
      ["secret key", report.secretKey],
      [
        "rotated by",
        report.managerSecretId
          ? `manager secret ${report.managerSecretId}`
          : report.deploymentManager
            ? "itself (the deployment's manager secret)"
            : "itself",
      ],
    ],
    2,
  );
  if (report.replacedKeyId) {
    const before = `the key it held before, ${report.replacedKeyId},`;
    if (report.replacedKeyStatus === "active") {
      out.line(`  ${c.yellow("!")} ${before} is still active at Novala: revoke it once no consumer uses it.`);
    } else if (report.replacedKeyStatus === "revoked" || report.replacedKeyStatus === "unknown") {
      out.line(
        `  ${before} is ${report.replacedKeyStatus === "revoked" ? "already revoked at" : "unknown to"} Novala.`,
      );
    } else {
      out.line(
        `  ${c.yellow("!")} ${before} could not be checked at Novala (${report.replacedKeyError}): revoke it there if it is still active.`,
      );
    }
  }
  return EXIT.ok;
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
  const baseUrl = textField(raw, "baseUrl");
  const secretKey = textField(raw, "secretKey");
  try {
    if (baseUrl && secretKey && SECRET_KEY_PATTERN.test(secretKey) && session.config.allowedHosts.isAllowed(baseUrl)) {
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
        validate: (v) => PUBLISHABLE_KEY_PATTERN.test(v.trim()) || "a publishable key starts with pk_live_ or pk_test_",
      },
      context,
    );
    const secretKey = await password(
      {
        message: "Secret key (sk_live_… or sk_test_…):",
        validate: (v) => SECRET_KEY_PATTERN.test(v.trim()) || "a secret key starts with sk_live_ or sk_test_",
      },
      context,
    );
    return checkPair({ publishableKey: publishableKey.trim(), secretKey: secretKey.trim() });
  }
  const input = await readStdin();
  const object = input.trimStart().startsWith("{") ? lenientFields(input) : undefined;
  if (object) {
    return checkPair({
      publishableKey: textField(object, "publishableKey") ?? "",
      secretKey: textField(object, "secretKey") ?? "",
    });
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
  const problem = keyPairProblem(pair);
  if (problem) throw new CliError(problem);
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

/**
 * GET /api-keys/self with each key: both must answer, for one active key whose name may be stored (the core's
 * introspectionProblem). A new pair answers 401 until Novala has propagated it: with --wait, asked again every 2 s until
 * --wait-timeout, with a line on stderr; without, refused with the hint.
 */
async function introspect(
  session: Session,
  baseUrl: string,
  pair: KeyPair,
  options: PutKeyOptions,
): Promise<NovalaKey> {
  const deadline = Date.now() + (options.waitTimeout ?? DEFAULT_WAIT_TIMEOUT_MS);
  let said = false;
  for (;;) {
    try {
      const bySecret = await ask(session, baseUrl, pair.secretKey, "secret");
      const byPublishable = await ask(session, baseUrl, pair.publishableKey, "publishable");
      const problem = introspectionProblem(bySecret, byPublishable, pair.publishableKey);
      if (problem) throw new CliError(problem);
      return bySecret;
    } catch (error) {
      if (!(error instanceof NotAcceptedYet)) throw error;
      const which = error.which;
      if (!options.wait) {
        throw new CliError(
          `Novala rejects the ${which} key (401): it is invalid or revoked, or too new to work yet (add --wait to ` +
            "wait for Novala to accept it)",
        );
      }
      if (Date.now() >= deadline) {
        throw new CliError(
          `Novala still rejects the ${which} key (401) after ${formatDuration(options.waitTimeout ?? DEFAULT_WAIT_TIMEOUT_MS)}: ` +
            "it is invalid or revoked (a new pair propagates within seconds); check the pair in Novala's dashboard",
        );
      }
      if (!said) {
        process.stderr.write(
          `put-key: Novala does not accept the ${which} key yet (401): waiting for it to propagate ` +
            `(at most ${formatDuration(options.waitTimeout ?? DEFAULT_WAIT_TIMEOUT_MS)})…\n`,
        );
        said = true;
      }
      await sleep(Math.min(WAIT_INTERVAL_MS, Math.max(0, deadline - Date.now())));
    }
  }
}

/** Novala answered 401 for one half of the pair (`which`: "secret" or "publishable"). */
class NotAcceptedYet extends Error {
  constructor(readonly which: string) {
    super(`Novala rejects the ${which} key (401)`);
  }
}

/** GET /api-keys/self with one key; a 401 comes back as NotAcceptedYet. */
async function ask(session: Session, baseUrl: string, bearer: string, which: string): Promise<NovalaKey> {
  try {
    return await session.keys.self({ baseUrl, bearer });
  } catch (error) {
    if (error instanceof KeyUnauthorizedError) throw new NotAcceptedYet(which);
    throw error;
  }
}

/** Whether the key a secret holds still authenticates at Novala: true, false, or the reason it cannot be told. */
async function heldKeyWorks(session: Session, raw: Record<string, unknown>): Promise<boolean | { error: string }> {
  const baseUrl = textField(raw, "baseUrl");
  const secretKey = textField(raw, "secretKey");
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

/** A field of a lenient read that is a non-empty string. */
function textField(fields: Record<string, unknown> | undefined, field: string): string | undefined {
  const value = fields?.[field];
  return typeof value === "string" && value.length > 0 ? value : undefined;
}
