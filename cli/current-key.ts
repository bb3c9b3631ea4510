import { NovalaUnavailableError } from "../lambdas/adapters/novala/errors.js";
import type { AllowedHosts } from "../lambdas/contract/allowed-hosts.js";
import { shortSecretId } from "../lambdas/core/end-rotation.js";
import { errorMessage, isUnauthorized, SecretValueError } from "../lambdas/core/errors.js";
import type { ManagerCredentials } from "../lambdas/core/possession.js";
import type { CurrentKeyFacts } from "../lambdas/core/verdict.js";
import { isNotFound } from "./aws.js";
import type { Session, VersionRead } from "./session.js";

/**
 * What the command line learns about AWSCURRENT's key, for lambdas/core/verdict.ts to judge (`judgeCurrentKey`):
 * whether the value parses (no Novala needed), and, when asked, one GET of the key's record at Novala with the
 * credentials that would act for it (the manager key for a managed secret, its own key for a self-managed one). That
 * one call is the cheapest that tells every dead key apart: a record that says revoked, a 404 (unknown), or a 401,
 * which means the credentials' key itself is dead. It reads the record without using the current key of a managed
 * secret, so its lastUsedAt stays the consumers'.
 */
export interface CurrentKeyGathered {
  facts: CurrentKeyFacts;
  /** The credentials that asked, to ask about the other keys with. */
  credentials?: ManagerCredentials;
  /** Why Novala could not be asked at all (not a problem of the secret: the verdict is then incomplete). */
  cannotAsk?: string;
  /** Novala did not answer in time, or could not be reached. */
  unreachable?: string;
  /** Not asked: the tenant was found unreachable for an earlier secret of the run (`unreachable` says so). */
  skipped?: boolean;
}

/** What many gatherings in one run share: the manager secrets read, and the Novala origins found unreachable. */
export interface CurrentKeyShared {
  /** Manager credentials by manager secret and tenant origin (one read of a manager secret for all its consumers). */
  managers: Map<string, Promise<ManagerCredentials>>;
  /** Origins that did not answer: later secrets of the same tenant are not asked (one wait is enough). */
  unreachable: Map<string, string>;
}

export function newCurrentKeyShared(): CurrentKeyShared {
  return { managers: new Map(), unreachable: new Map() };
}

export interface CurrentKeyOptions {
  /** Ask Novala (status --check, rotate's pre-check); otherwise only the value is judged. */
  ask: boolean;
  /** When asking must be over (Date.now() based). Default: no deadline but the client's own timeouts. */
  deadline?: number;
  /** The rotation function's NOVALA_ALLOWED_HOSTS, when known: a value only this machine refuses is not broken. */
  deploymentHosts?: AllowedHosts;
  shared?: CurrentKeyShared;
}

/**
 * Gathers the facts about the current key of `secretArn`, whose labelled versions `versions` (readVersions) are.
 *
 * @example
 * const gathered = await gatherCurrentKey(session, arn, versions, { ask: true });
 * const problem = judgeCurrentKey(gathered.facts); // undefined: the key works
 */
export async function gatherCurrentKey(
  session: Session,
  secretArn: string,
  versions: VersionRead[],
  options: CurrentKeyOptions,
): Promise<CurrentKeyGathered> {
  const current = versions.find((version) => version.stages.includes("AWSCURRENT"));
  const keyId = current?.meta.keyId;
  const facts: CurrentKeyFacts = {
    ...(keyId && { keyId }),
    // Named as the value names it (a name where the ARN is this account's and region's); never acted on from here.
    ...(current?.meta.managerSecretId && { managerSecretId: shortSecretId(current.meta.managerSecretId, secretArn) }),
  };
  if (!current) return { facts: { ...facts, valueProblem: "the secret has no AWSCURRENT version" } };
  if (current.unreadable) return { facts: { ...facts, readProblem: current.problem ?? "?" } };
  if (current.problem === "no value yet") return { facts: { ...facts, valueProblem: "AWSCURRENT has no value" } };
  if (current.hostNotAllowed && current.meta.baseUrl && options.deploymentHosts?.isAllowed(current.meta.baseUrl)) {
    // The rotation function would use it: only this machine's NOVALA_ALLOWED_HOSTS keeps the command from asking.
    return {
      facts,
      ...(options.ask && {
        cannotAsk:
          `this machine's NOVALA_ALLOWED_HOSTS (${session.config.allowedHosts.spec}) does not allow the secret's ` +
          `baseUrl, which its rotation function allows (${options.deploymentHosts.spec}): set NOVALA_ALLOWED_HOSTS alike`,
      }),
    };
  }
  if (current.problem !== undefined || !current.parsed) {
    return { facts: { ...facts, valueProblem: withoutLabel(current.problem ?? "it does not parse") } };
  }
  if (!options.ask) return { facts };

  let credentials: ManagerCredentials;
  try {
    credentials = await managerFor(session, secretArn, current, options.shared);
  } catch (error) {
    if (error instanceof SecretValueError) return { facts: { ...facts, managerProblem: errorMessage(error) } };
    if (isNotFound(error)) {
      return { facts: { ...facts, managerProblem: `manager secret ${facts.managerSecretId} does not exist` } };
    }
    return { facts, cannotAsk: `cannot read the manager secret: ${errorMessage(error)}` };
  }
  facts.credentialsKeyId = credentials.keyId;
  const origin = new URL(credentials.baseUrl).origin;
  const known = options.shared?.unreachable.get(origin);
  if (known) {
    const why = `not asked: the tenant did not answer for an earlier secret of this run (${known})`;
    return { facts, credentials, unreachable: why, skipped: true };
  }
  const asked = await askNovala(() => session.keys.get(credentials, keyId as string), options.deadline);
  if ("unreachable" in asked) {
    options.shared?.unreachable.set(origin, asked.unreachable);
    return { facts, credentials, unreachable: asked.unreachable };
  }
  facts.answer = "answer" in asked ? (asked.answer ? { key: asked.answer } : { missing: true }) : asked;
  return { facts, credentials };
}

/** The credentials that act for the secret, read once per manager secret and tenant in a run. */
function managerFor(
  session: Session,
  secretArn: string,
  current: VersionRead,
  shared: CurrentKeyShared | undefined,
): Promise<ManagerCredentials> {
  const parsed = current.parsed as NonNullable<VersionRead["parsed"]>;
  const managerSecretId = parsed.secret.managerSecretId;
  if (!shared || !managerSecretId) return session.managerCredentials(secretArn, parsed);
  const cacheKey = `${managerSecretId} ${new URL(parsed.secret.baseUrl).origin}`;
  let credentials = shared.managers.get(cacheKey);
  if (!credentials) {
    credentials = session.managerCredentials(secretArn, parsed);
    shared.managers.set(cacheKey, credentials);
    // A failure is asked again by the next consumer: its message names the secret it was read for.
    credentials.catch(() => shared.managers.delete(cacheKey));
  }
  return credentials;
}

/** parseKeySecret's message without its "secret <name> AWSCURRENT: " label: the verdict names the secret already. */
function withoutLabel(problem: string): string {
  return problem.replace(/^secret \S+ AWSCURRENT: /, "");
}

export type Asked<T> = { answer: T } | { unauthorized: true } | { unreachable: string } | { error: string };

/**
 * One Novala call within `deadline`: its answer; `unauthorized` for a 401 (the credentials' key is dead);
 * `unreachable` when it cannot connect, keeps failing, or outlasts the deadline; any other refusal as `error`.
 */
export async function askNovala<T>(call: () => Promise<T>, deadline?: number): Promise<Asked<T>> {
  const remaining = deadline === undefined ? undefined : deadline - Date.now();
  if (remaining !== undefined && remaining <= 0) return { unreachable: "no time left" };
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<"timeout">((resolve) => {
    if (remaining !== undefined) timer = setTimeout(() => resolve("timeout"), remaining);
  });
  try {
    const answer = await Promise.race([call(), timedOut]);
    if (answer === "timeout") return { unreachable: "no answer in time" };
    return { answer };
  } catch (error) {
    if (isUnauthorized(error)) return { unauthorized: true };
    if (error instanceof NovalaUnavailableError) return { unreachable: errorMessage(error) };
    return { error: errorMessage(error) };
  } finally {
    clearTimeout(timer);
  }
}
