/** The one reader of the Lambdas' environment: every variable, checked, into typed configuration. */
import * as z from "zod/mini";
import { type AllowedHosts, DEFAULT_ALLOWED_HOSTS } from "./allowed-hosts.js";
import {
  type AtHardLimit,
  atHardLimitProblem,
  DEFAULT_AT_HARD_LIMIT,
  ENV,
  hardLimitBelowGraceProblem,
  METRICS_NAMESPACE,
  METRICS_SERVICE,
  parseAllowedHosts,
  SCHEDULE_GROUP_NAME,
  SECONDS,
  type SecondsSetting,
  secondsProblem,
} from "./environment.js";
import { ConfigurationError } from "./errors.js";
import { NO_MANAGER_SECRET, SECRET_ARN } from "./manager-secret.js";

/**
 * The Novala client's configuration, which both functions (and the command line) read. Every variable of the Lambdas
 * is read here and nowhere else, from the environment the caller passes (the handlers and adapters pass
 * `process.env`, the command line a deployed function's), with the contract's names, defaults and limits
 * (lambdas/contract/environment.ts). Read once per invocation, before any side effect; a bad value throws a
 * ConfigurationError that names the variable. The AWS SDK reads its own variables (region, credentials,
 * AWS_ENDPOINT_URL*) itself.
 */
export interface NovalaClientConfig {
  allowedHosts: AllowedHosts;
  /** Connect timeout of each Novala call. */
  connectTimeoutMs: number;
  /** Total timeout of one HTTP attempt. */
  requestTimeoutMs: number;
  /** How long one Novala operation may spend retrying 429, 5xx and network errors. */
  retryBudgetMs: number;
  /** How fast one execution environment may call Novala; none: calls are not paced (a local run, an old deployment). */
  rateBudget?: RateBudget;
}

/**
 * The rate budget of rotation (docs/design.md, "A rate budget for rotation"): Novala requests per second per tenant
 * that rotation may use, and how many rotations may run at once. Each execution environment paces its calls at
 * `perSecond ÷ concurrency`.
 */
export interface RateBudget {
  perSecond: number;
  concurrency: number;
}

/** The Powertools service name and metric namespace both functions log and publish under. */
export interface TelemetryConfig {
  serviceName: string;
  metricsNamespace: string;
}

/** Where revocation schedules go: the Scheduler group, the target, the role Scheduler assumes, the dead-letter queue. */
export interface RevocationTarget {
  scheduleGroup: string;
  functionArn: string;
  schedulerRoleArn: string;
  deadLetterQueueArn?: string;
}

/**
 * How a due revocation treats a retired key that consumers still use (docs/design.md, "Revocation that waits for
 * consumers"): a use within `quietWindowMs` postpones it, never beyond `hardLimitMs` after the key's retirement, where
 * `atHardLimit` decides.
 */
export interface UsageConfig {
  quietWindowMs: number;
  hardLimitMs: number;
  atHardLimit: AtHardLimit;
}

/**
 * The deployment's manager secret (MANAGER_SECRET_ARN): a value's `managerSecretId` must name it, and it is the secret
 * read (lambdas/core/context.ts). null: the deployment has none, so a value that names one is refused. Undefined (a
 * local run, a caller that builds its own configuration): the secret the value names is read.
 */
export interface ManagerConfig {
  managerSecretArn?: string | null;
}

/** The revocation function's configuration. */
export interface RevocationConfig extends NovalaClientConfig, ManagerConfig {
  usage: UsageConfig;
  /** Where a postponed revocation is scheduled: the same group, role and queue as finishSecret's, its own ARN. */
  revocation: RevocationTarget;
  /** Where Key Revocation Postponed goes (a bus name or ARN); none: no events. */
  eventBus?: string;
}

/** The rotation function's configuration. */
export interface RotationConfig extends NovalaClientConfig, ManagerConfig {
  /** 0: finishSecret revokes the old key; otherwise a schedule does, this many seconds later. */
  graceSeconds: number;
  /**
   * Where revocation schedules go. Required when graceSeconds > 0; with grace 0 it is optional, and used only to see
   * whether a key's revocation is still scheduled from a time when the grace was longer.
   */
  revocation?: RevocationTarget;
  healthCheckDeadlineMs: number;
  /** Where Key Rotated and Key Rotation Rolled Back events go (a bus name or ARN); none: no events. */
  eventBus?: string;
  /** The usage rule of due revocations, which the revocation function applies (the CLI reads it from here). */
  usage: UsageConfig;
  /** The daily overdue check's rule, whose target input lists the deployment's secrets; none: the event's list. */
  overdueCheckRule?: string;
}

type Env = Record<string, string | undefined>;

/** The Novala client's configuration from `env` (both functions, and the command line's own calls). */
export function readNovalaClientConfig(env: Env): NovalaClientConfig {
  const rateBudget = readRateBudget(env);
  return {
    allowedHosts: readAllowedHosts(env),
    connectTimeoutMs: readSeconds(env, SECONDS.connectTimeout) * 1000,
    requestTimeoutMs: readSeconds(env, SECONDS.requestTimeout) * 1000,
    retryBudgetMs: readSeconds(env, SECONDS.retryBudget) * 1000,
    ...(rateBudget && { rateBudget }),
  };
}

/** The service name and namespace the construct sets (POWERTOOLS_*), or the contract's when they are unset. */
export function readTelemetryConfig(env: Env): TelemetryConfig {
  return {
    serviceName: optional(env, ENV.serviceName) ?? METRICS_SERVICE,
    metricsNamespace: optional(env, ENV.metricsNamespace) ?? METRICS_NAMESPACE,
  };
}

/**
 * The AWS SDK's own variables, which the SDK reads itself. The adapters keep their clients across invocations and make
 * new ones when these change (tests point one process at several endpoints).
 */
export const AWS_SDK_VARIABLES = [
  "AWS_REGION",
  "AWS_ENDPOINT_URL",
  "AWS_ENDPOINT_URL_SECRETS_MANAGER",
  "AWS_ENDPOINT_URL_SCHEDULER",
  "AWS_ENDPOINT_URL_EVENTBRIDGE",
] as const;

/** The values of {@link AWS_SDK_VARIABLES}, as the SDK will read them. */
export function readAwsSdkSettings(env: Env): Partial<Record<(typeof AWS_SDK_VARIABLES)[number], string>> {
  return Object.fromEntries(AWS_SDK_VARIABLES.flatMap((name) => (env[name] === undefined ? [] : [[name, env[name]]])));
}

/** How a due revocation treats a key still in use, from `env` (both functions carry it). */
export function readUsageConfig(env: Env): UsageConfig {
  const atHardLimit = optional(env, ENV.atHardLimit) ?? DEFAULT_AT_HARD_LIMIT;
  const problem = atHardLimitProblem(atHardLimit);
  if (problem) throw new ConfigurationError(`${ENV.atHardLimit} ${problem}`);
  return {
    quietWindowMs: readSeconds(env, SECONDS.quietWindow) * 1000,
    hardLimitMs: readSeconds(env, SECONDS.hardLimit) * 1000,
    atHardLimit: atHardLimit as AtHardLimit,
  };
}

/**
 * The revocation function's configuration. `ownArn` is the function's own ARN, from its invocation's context
 * (invokedFunctionArn): the target of the schedules it makes when it postpones a revocation. Outside Lambda (the local
 * run, tests) REVOCATION_FUNCTION_ARN stands in for it; the construct never sets that on this function.
 */
export function readRevocationConfig(env: Env, ownArn?: string): RevocationConfig {
  const eventBus = optional(env, ENV.eventBus);
  const deadLetterQueueArn = optional(env, ENV.deadLetterQueueArn);
  const functionArn = ownArn ?? optional(env, ENV.revocationFunctionArn);
  if (functionArn === undefined) {
    throw new ConfigurationError(
      `the revocation function's own ARN is unknown: invoke it as a Lambda (its context names it) or set ${ENV.revocationFunctionArn}`,
    );
  }
  return {
    ...readNovalaClientConfig(env),
    usage: readUsageConfig(env),
    revocation: {
      scheduleGroup: requiredByRevocation(env, ENV.scheduleGroup, SCHEDULE_GROUP_NAME),
      functionArn: unqualifiedFunctionArn(checkPattern(ENV.revocationFunctionArn, functionArn, FUNCTION_ARN)),
      schedulerRoleArn: requiredByRevocation(env, ENV.schedulerRoleArn, ROLE_ARN),
      ...(deadLetterQueueArn && {
        deadLetterQueueArn: checkPattern(ENV.deadLetterQueueArn, deadLetterQueueArn, QUEUE_ARN),
      }),
    },
    ...(eventBus && { eventBus: checkPattern(ENV.eventBus, eventBus, EVENT_BUS) }),
    ...readManagerConfig(env),
  };
}

/** The deployment's manager secret (MANAGER_SECRET_ARN) from `env`: both functions carry it. */
export function readManagerConfig(env: Env): ManagerConfig {
  const value = optional(env, ENV.managerSecret);
  if (value === undefined) return {};
  if (value === NO_MANAGER_SECRET) return { managerSecretArn: null };
  return { managerSecretArn: checkPattern(ENV.managerSecret, value, SECRET_ARN) };
}

/** The rotation function's configuration from `env`: its own, or a deployed function's that the command line reads. */
export function readRotationConfig(env: Env): RotationConfig {
  const graceSeconds = readSeconds(env, SECONDS.gracePeriod);
  const eventBus = optional(env, ENV.eventBus);
  const overdueCheckRule = optional(env, ENV.overdueCheckRule);
  const usage = readUsageConfig(env);
  const belowGrace = hardLimitBelowGraceProblem(usage.hardLimitMs / 1000, graceSeconds);
  if (belowGrace) throw new ConfigurationError(`${ENV.hardLimit} ${belowGrace}`);
  const config: RotationConfig = {
    ...readNovalaClientConfig(env),
    graceSeconds,
    healthCheckDeadlineMs: readSeconds(env, SECONDS.healthCheckDeadline) * 1000,
    ...(eventBus && { eventBus: checkPattern(ENV.eventBus, eventBus, EVENT_BUS) }),
    usage,
    ...readManagerConfig(env),
    ...(overdueCheckRule && { overdueCheckRule: checkPattern(ENV.overdueCheckRule, overdueCheckRule, RULE_NAME) }),
  };
  const targetNamed = [ENV.scheduleGroup, ENV.revocationFunctionArn, ENV.schedulerRoleArn].every(
    (name) => optional(env, name) !== undefined,
  );
  if (graceSeconds > 0 || targetNamed) {
    const deadLetterQueueArn = optional(env, ENV.deadLetterQueueArn);
    config.revocation = {
      scheduleGroup: requiredWithGrace(env, ENV.scheduleGroup, SCHEDULE_GROUP_NAME),
      functionArn: requiredWithGrace(env, ENV.revocationFunctionArn, FUNCTION_ARN),
      schedulerRoleArn: requiredWithGrace(env, ENV.schedulerRoleArn, ROLE_ARN),
      ...(deadLetterQueueArn && {
        deadLetterQueueArn: checkPattern(ENV.deadLetterQueueArn, deadLetterQueueArn, QUEUE_ARN),
      }),
    };
  }
  return config;
}

const FUNCTION_ARN = /^arn:aws[a-z-]*:lambda:[a-z0-9-]+:\d{12}:function:/;
const ROLE_ARN = /^arn:aws[a-z-]*:iam::\d{12}:role\//;
const QUEUE_ARN = /^arn:aws[a-z-]*:sqs:/;

/**
 * A function ARN without its version or alias: the scheduler role may invoke the unqualified function only, and a
 * revocation invoked through a qualifier must still reschedule one Scheduler can deliver.
 */
export function unqualifiedFunctionArn(arn: string): string {
  return arn.split(":").slice(0, 7).join(":");
}

/** An EventBridge rule's name. */
const RULE_NAME = /^[.\-_A-Za-z0-9]{1,64}$/;

/** An event bus name, or the ARN of one (PutEvents takes either). */
const EVENT_BUS = /^(arn:aws[a-z-]*:events:[a-z0-9-]+:\d{12}:event-bus\/)?[A-Za-z0-9._\-/]{1,256}$/;

/** A number of seconds, as a variable holds it: digits, maybe a fraction, within the setting's range. */
function secondsSchema(setting: SecondsSetting) {
  return z
    .pipe(z.string().check(z.regex(/^\d+(\.\d+)?$/)), z.transform(Number))
    .check(z.refine((value) => secondsProblem(setting, value) === undefined));
}

function readAllowedHosts(env: Env): AllowedHosts {
  try {
    return parseAllowedHosts(optional(env, ENV.allowedHosts) ?? DEFAULT_ALLOWED_HOSTS);
  } catch (error) {
    throw new ConfigurationError(`${ENV.allowedHosts}: ${(error as Error).message}`);
  }
}

/** NOVALA_RATE_BUDGET_PER_SECOND and ROTATION_CONCURRENCY (1 when unset); no budget when the first is unset. */
function readRateBudget(env: Env): RateBudget | undefined {
  const perSecond = optional(env, ENV.rateBudget);
  if (perSecond === undefined) return undefined;
  const concurrency = optional(env, ENV.rotationConcurrency) ?? "1";
  return {
    perSecond: parseVariable(
      z.pipe(z.string().check(z.regex(/^\d+(\.\d+)?$/)), z.transform(Number)).check(z.positive()),
      perSecond,
      `${ENV.rateBudget} must be a positive number of requests per second, got "${perSecond}"`,
    ),
    concurrency: parseVariable(
      z.pipe(z.string().check(z.regex(/^\d+$/)), z.transform(Number)).check(z.positive()),
      concurrency,
      `${ENV.rotationConcurrency} must be a positive whole number, got "${concurrency}"`,
    ),
  };
}

function readSeconds(env: Env, setting: SecondsSetting): number {
  const raw = optional(env, setting.variable);
  if (raw === undefined) return setting.defaultSeconds;
  return parseVariable(
    secondsSchema(setting),
    raw,
    `${setting.variable} must be a number of seconds from ${setting.minSeconds} to ${setting.maxSeconds}, got "${raw}"`,
  );
}

function requiredWithGrace(env: Env, name: string, pattern: RegExp): string {
  const value = optional(env, name);
  if (value === undefined) {
    throw new ConfigurationError(`${name} is required when ${ENV.gracePeriod} is above 0`);
  }
  return checkPattern(name, value, pattern);
}

function requiredByRevocation(env: Env, name: string, pattern: RegExp): string {
  const value = optional(env, name);
  if (value === undefined) {
    throw new ConfigurationError(
      `${name} is required by the revocation function (it reschedules a revocation that a consumer still needs)`,
    );
  }
  return checkPattern(name, value, pattern);
}

function checkPattern(name: string, value: string, pattern: RegExp): string {
  return parseVariable(z.string().check(z.regex(pattern)), value, `${name} is malformed: "${value}"`);
}

/** `raw` through `schema`, or a ConfigurationError saying `problem` (which names the variable). */
function parseVariable<T>(schema: z.ZodMiniType<T, string>, raw: string, problem: string): T {
  const result = schema.safeParse(raw);
  if (!result.success) throw new ConfigurationError(problem);
  return result.data;
}

function optional(env: Env, name: string): string | undefined {
  const value = env[name]?.trim();
  return value ? value : undefined;
}
