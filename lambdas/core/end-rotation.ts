/** Ending a rotation that a retry cannot fix: which failures those are, and what ending one leaves. */
import { MANAGE_SCOPE } from "../contract/key-shapes.js";
import type { RotationDeps } from "./context.js";
import {
  BaseUrlNotAllowedError,
  CreateAnswerRefusedError,
  CurrentKeyUnusableError,
  errorMessage,
  KeyApiRefusalError,
  KeyClaimRefusedError,
  RotationEndedError,
  SecretValueError,
} from "./errors.js";
import { isRotationInProgress } from "./guard.js";
import { AWSPENDING } from "./ports.js";
import { redact } from "./redact.js";

/** What createSecret knew of the secret when it failed: the fix names the secret to repair. */
export interface FailingSecret {
  arn: string;
  /** The rotated secret's name (DescribeSecret's). */
  name: string;
  /** Whether its AWSCURRENT value was read and valid: a SecretValueError after that is the manager secret's. */
  currentRead: boolean;
  /** The manager secret the value names; undefined for a self-managed secret or before AWSCURRENT was read. */
  managerSecretId?: string;
}

/**
 * What an operator must do before a rotation that failed with `error` can succeed, or undefined when a retry may
 * succeed on its own. Permanent: a value that cannot be parsed, a current or manager key Novala no longer accepts, a
 * claim Novala does not prove, a create answer that describes another key, and a refusal Novala gives for good (a
 * 4xx other than 408 and 429). Transient, so AWSPENDING stays and Secrets Manager's retry continues: Novala
 * unavailable (429, 5xx, timeouts, network errors past the retry budget), a create whose outcome is unknown, a
 * Secrets Manager error.
 */
export function fixFor(error: unknown, secret: FailingSecret): string | undefined {
  // The key that creates and revokes: the manager key, or a self-managed secret's own.
  // It holds api_keys.manage, so put-key takes its pair only into a secret named self-managed (core/onboarding.ts).
  const signer = `${secret.managerSecretId ? shortSecretId(secret.managerSecretId, secret.arn) : secret.name} --self-managed`;
  /** The secret whose value failed: the manager secret once the rotated secret's own value was read. */
  const broken = secret.currentRead && secret.managerSecretId ? signer : secret.name;
  if (error instanceof CurrentKeyUnusableError) return error.fix;
  if (error instanceof BaseUrlNotAllowedError) {
    return `Allow its host in NOVALA_ALLOWED_HOSTS (allowedHosts), or put the right pair in with \`novala-rotation put-key ${broken}\``;
  }
  if (error instanceof SecretValueError) {
    return `Put a valid pair in with \`novala-rotation put-key ${broken}\`, then rotate again`;
  }
  if (error instanceof CreateAnswerRefusedError) {
    return "Check the tenant's Novala host and its status, then rotate again";
  }
  if (error instanceof KeyClaimRefusedError) {
    return `Find who wrote the value (CloudTrail PutSecretValue); put the team's pair back with \`novala-rotation put-key ${secret.name}\``;
  }
  if (!(error instanceof KeyApiRefusalError) || !refusedForGood(error.status)) return undefined;
  if (error.status === 409) {
    return "Revoke unused keys or raise the tenant's key limit at Novala, then rotate again";
  }
  if (error.status === 401 || error.status === 403) {
    return `Put a key that works and holds ${MANAGE_SCOPE} in with \`novala-rotation put-key ${signer}\`, then rotate again`;
  }
  return "Check the secret's name and scopes against Novala's rules, then rotate again";
}

/**
 * `id` as short as `put-key` takes it here: a Secrets Manager ARN in the account and region of `secretArn` becomes the
 * secret's name (its ARN ends in "-" and 6 characters Secrets Manager adds); anything else stays as it is.
 */
export function shortSecretId(id: string, secretArn: string): string {
  const [, prefix, name] = /^(arn:[^:]+:secretsmanager:[^:]+:\d+:secret:)(.+)-[A-Za-z0-9]{6}$/.exec(id) ?? [];
  return prefix && name && secretArn.startsWith(prefix) ? name : id;
}

/** A 4xx that asking again will not change: not 408 (the request never arrived whole) nor 429 (pacing). */
function refusedForGood(status: number): boolean {
  return status >= 400 && status < 500 && status !== 408 && status !== 429;
}

/**
 * Runs `work`, a part of createSecret before anything is stored; when it fails in a way a retry cannot fix (fixFor),
 * ends `token`'s rotation first and throws RotationEndedError instead. Any other failure is thrown as it is, and
 * AWSPENDING stays for Secrets Manager's retry.
 */
export async function endIfRetryCannotFix<T>(
  deps: RotationDeps,
  token: string,
  secret: FailingSecret,
  work: () => Promise<T>,
): Promise<T> {
  try {
    return await work();
  } catch (error) {
    const fix = fixFor(error, secret);
    if (fix === undefined) throw error;
    throw await endRotation(deps, secret, token, error, fix);
  }
}

/**
 * Ends `token`'s rotation after createSecret failed with `cause`, which `fix` answers: removes AWSPENDING from the
 * token's version (only there, and only while it is AWSPENDING and not AWSCURRENT), counts RotationsEnded, logs the
 * fix, and returns the error the step throws. The key the step made is already revoked (checkCreatedKey does it before
 * it throws); removing the label comes after, so a crash in between leaves a pending rotation that the retry or
 * `abort` still handles.
 */
async function endRotation(
  deps: RotationDeps,
  secret: FailingSecret,
  token: string,
  cause: unknown,
  fix: string,
): Promise<RotationEndedError> {
  const secretArn = secret.arn;
  // Read again, not the guard's description: an operator's abort (or a writer's put-secret-value with AWSPENDING,
  // which moves the label to a version of its own) may have taken the label off meanwhile. Only this version's goes.
  const pending = isRotationInProgress((await deps.store.describe(secretArn)).versionStages[token] ?? []);
  if (pending) {
    await deps.store.moveStage(secretArn, AWSPENDING, { fromVersionId: token }).catch(async (error: unknown) => {
      // The answer may have been lost after the label went: only a label still there is a failure (a transient one).
      if ((await deps.store.describe(secretArn)).versionStages[token]?.includes(AWSPENDING)) throw error;
    });
  }
  // The secret's own ARN by its name: shorter in the outcome tag (which sits on that secret) and in put-key.
  const named = (text: string) => text.replaceAll(secretArn, secret.name);
  const why = named(redact(problemOf(cause)));
  const todo = named(fix);
  deps.telemetry.metric("RotationsEnded");
  deps.telemetry.error("a retry cannot fix this failure: the rotation was ended", {
    reason: why,
    fix: todo,
    errorName: cause instanceof Error ? cause.name : undefined,
  });
  return new RotationEndedError(
    `rotation ended at createSecret: ${why}. ${todo}. AWSPENDING ${pending ? "was removed from" : "was already off"} ` +
      `version ${token}, so the next rotation starts afresh`,
    "createSecret",
    why,
    todo,
    { cause },
  );
}

/** What went wrong, without the fix an error's message may already end with. */
function problemOf(cause: unknown): string {
  return cause instanceof CurrentKeyUnusableError ? cause.problem : errorMessage(cause);
}
