/** The Lambdas' environment: variable names, defaults and limits shared by the construct, the Lambdas and the CLI. */
import { createHash } from "node:crypto";
import { AllowedHosts, DEFAULT_ALLOWED_HOSTS } from "./allowed-hosts.js";
import { ConfigurationError } from "./errors.js";

/**
 * The environment variables of the two functions. With the defaults and limits, the metric namespace, the
 * schedule-group name, the event names and the host-pattern grammar below, they are the contract between the construct
 * that deploys the Lambdas (lib/: rotationEnvironment, revocationEnvironment), the Lambdas that read their
 * configuration (lambdas/contract/configuration.ts) and the operator CLI that finds a deployment from a secret (cli/).
 * Each side imports them from here, so they cannot drift apart.
 */
export const ENV = {
  allowedHosts: "NOVALA_ALLOWED_HOSTS",
  connectTimeout: "NOVALA_CONNECT_TIMEOUT_SECONDS",
  requestTimeout: "NOVALA_REQUEST_TIMEOUT_SECONDS",
  retryBudget: "NOVALA_RETRY_BUDGET_SECONDS",
  healthCheckDeadline: "HEALTH_CHECK_DEADLINE_SECONDS",
  gracePeriod: "REVOCATION_GRACE_SECONDS",
  scheduleGroup: "REVOCATION_SCHEDULE_GROUP",
  revocationFunctionArn: "REVOCATION_FUNCTION_ARN",
  schedulerRoleArn: "REVOCATION_SCHEDULER_ROLE_ARN",
  deadLetterQueueArn: "REVOCATION_DEAD_LETTER_QUEUE_ARN",
  eventBus: "ROTATION_EVENT_BUS",
  managerSecret: "MANAGER_SECRET_ARN",
  overdueCheckRule: "OVERDUE_CHECK_RULE",
  quietWindow: "REVOCATION_QUIET_WINDOW_SECONDS",
  hardLimit: "REVOCATION_HARD_LIMIT_SECONDS",
  atHardLimit: "REVOCATION_AT_HARD_LIMIT",
  rateBudget: "NOVALA_RATE_BUDGET_PER_SECOND",
  rotationConcurrency: "ROTATION_CONCURRENCY",
  serviceName: "POWERTOOLS_SERVICE_NAME",
  metricsNamespace: "POWERTOOLS_METRICS_NAMESPACE",
} as const;

/** A setting given in seconds: its variable, its default, and the range the Lambdas accept. */
export interface SecondsSetting {
  readonly variable: string;
  readonly defaultSeconds: number;
  readonly minSeconds: number;
  readonly maxSeconds: number;
}

/** 840 s leaves a 15-minute Lambda a minute for the work around a deadline or a retry budget. */
const MAX_WAIT_SECONDS = 840;

/** The settings given in seconds, with their defaults and the ranges the construct and the Lambdas accept. */
export const SECONDS = {
  connectTimeout: { variable: ENV.connectTimeout, defaultSeconds: 5, minSeconds: 0.1, maxSeconds: 60 },
  requestTimeout: { variable: ENV.requestTimeout, defaultSeconds: 10, minSeconds: 0.1, maxSeconds: 120 },
  retryBudget: { variable: ENV.retryBudget, defaultSeconds: 60, minSeconds: 0, maxSeconds: MAX_WAIT_SECONDS },
  healthCheckDeadline: {
    variable: ENV.healthCheckDeadline,
    defaultSeconds: 60,
    minSeconds: 0,
    maxSeconds: MAX_WAIT_SECONDS,
  },
  gracePeriod: { variable: ENV.gracePeriod, defaultSeconds: 86_400, minSeconds: 0, maxSeconds: 7 * 24 * 3600 },
  /** A retired key used by a consumer within this long is not revoked yet (docs/design.md, usage-aware revocation). */
  quietWindow: { variable: ENV.quietWindow, defaultSeconds: 3600, minSeconds: 60, maxSeconds: 86_400 },
  /** How long after its retirement a retired key may live at most, however much it is used; not below the grace. */
  hardLimit: {
    variable: ENV.hardLimit,
    defaultSeconds: 7 * 24 * 3600,
    minSeconds: 3600,
    maxSeconds: 30 * 24 * 3600,
  },
} as const satisfies Record<string, SecondsSetting>;

/** The longest grace period: 7 days. */
export const MAX_GRACE_SECONDS = SECONDS.gracePeriod.maxSeconds;

/** What the revocation does with a key consumers still use when its hard limit has come: revoke it, or keep it. */
export const AT_HARD_LIMIT = ["revoke", "keep"] as const;
export type AtHardLimit = (typeof AT_HARD_LIMIT)[number];
export const DEFAULT_AT_HARD_LIMIT: AtHardLimit = "revoke";

/** Why `value` is not an {@link AtHardLimit}, or undefined when it is one. */
export function atHardLimitProblem(value: string): string | undefined {
  return (AT_HARD_LIMIT as readonly string[]).includes(value)
    ? undefined
    : `must be ${AT_HARD_LIMIT.map((choice) => `"${choice}"`).join(" or ")}, got "${value}"`;
}

/** Why a hard limit of `hardLimitSeconds` does not fit a grace period of `graceSeconds`, or undefined when it does. */
export function hardLimitBelowGraceProblem(hardLimitSeconds: number, graceSeconds: number): string | undefined {
  return hardLimitSeconds < graceSeconds
    ? `must not be shorter than the grace period (${graceSeconds} seconds), got ${hardLimitSeconds} seconds`
    : undefined;
}

/** Why `seconds` is outside what `setting` accepts, or undefined when it is inside. */
export function secondsProblem(setting: SecondsSetting, seconds: number): string | undefined {
  if (Number.isFinite(seconds) && seconds >= setting.minSeconds && seconds <= setting.maxSeconds) return undefined;
  return `must be from ${setting.minSeconds} to ${setting.maxSeconds} seconds`;
}

/** Powertools metrics: the namespace and the `service` dimension that both functions publish under. */
export const METRICS_NAMESPACE = "NovalaKeyRotation";
export const METRICS_SERVICE = "novala-rotation";

/** The EventBridge events the rotation function publishes (docs/events.md). */
export const ROTATION_EVENT_SOURCE = "novala.key-rotation";
export const KEY_ROTATED = "Key Rotated";
export const KEY_ROTATION_ROLLED_BACK = "Key Rotation Rolled Back";
/** The revocation function's event: a due revocation waits, because a consumer still uses the retired key. */
export const KEY_REVOCATION_POSTPONED = "Key Revocation Postponed";
/** The metric (and its alarm) of a retired key still in use when its hard limit came. */
export const HARD_LIMIT_METRIC = "RevocationHardLimitReached";

/**
 * The event of the daily overdue check (a scheduled rule's input to the rotation function), besides `secretIds`, and
 * the metric it publishes: how many of those secrets are overdue.
 */
export const OVERDUE_CHECK = "rotation-overdue";
export const OVERDUE_METRIC = "RotationsOverdue";

/** What EventBridge Scheduler accepts as a schedule-group name. */
export const SCHEDULE_GROUP_NAME = /^[0-9a-zA-Z-_.]{1,64}$/;

/**
 * The construct's default name of the revocation schedule group: `<stack name>-revocations`. A stack name too long
 * for Scheduler's 64 characters is cut and keeps a hash of the whole name, so two long names stay distinct.
 */
export function defaultScheduleGroupName(stackName: string): string {
  const suffix = "-revocations";
  const name = `${stackName}${suffix}`;
  if (name.length <= 64) return name;
  const hash = createHash("sha256").update(stackName).digest("hex").slice(0, 8);
  return `${stackName.slice(0, 64 - suffix.length - hash.length - 1)}-${hash}${suffix}`;
}

/**
 * The grammar of a host pattern: `host`, `*.domain`, either with `:port`; an IPv6 address bare or in brackets (with
 * `:port` only in brackets). What a pattern then matches is AllowedHosts' business.
 */
const HOST_PATTERN = /^(\*\.)?[A-Za-z0-9.-]+(:\d+)?$|^\[[0-9a-fA-F:]+\](:\d+)?$|^[0-9a-fA-F:]+$/;

/**
 * Parses a NOVALA_ALLOWED_HOSTS value (comma-separated patterns), as the Lambdas, the CLI and the construct all do.
 * Throws a ConfigurationError that quotes the first pattern it rejects.
 */
export function parseAllowedHosts(spec: string = DEFAULT_ALLOWED_HOSTS): AllowedHosts {
  const patterns = spec.split(",").map((part) => part.trim());
  if (patterns.every((pattern) => pattern === "")) {
    throw new ConfigurationError("lists no host pattern (example: *.novala.ai)");
  }
  for (const pattern of patterns) {
    if (!HOST_PATTERN.test(pattern)) {
      throw new ConfigurationError(`"${pattern}" is not a host pattern (examples: *.novala.ai, 127.0.0.1, [::1]:8443)`);
    }
  }
  return new AllowedHosts(spec);
}

/** The settings both functions share, as the construct holds them. A time left out is the Lambdas' default. */
export interface NovalaClientSettings {
  allowedHosts: string[];
  connectTimeoutSeconds?: number;
  requestTimeoutSeconds?: number;
  retryBudgetSeconds?: number;
  /** Novala requests per second per tenant that rotation may use (docs/design.md, "A rate budget for rotation"). */
  rateBudgetPerSecond?: number;
  /** How many rotations may run at once: each execution environment paces at rateBudgetPerSecond ÷ this. */
  rotationConcurrency?: number;
}

/** The default rate budget: 40 % of Novala's documented 50 requests/s per tenant, the rest left to production. */
export const DEFAULT_RATE_BUDGET_PER_SECOND = 20;
/** The default number of rotations at once when a construct rotates more secrets than this. */
export const DEFAULT_MAX_ROTATION_CONCURRENCY = 50;

/**
 * The deployment's manager secret, which both functions carry: its ARN (full, or partial when only its name is known),
 * or NO_MANAGER_SECRET when the deployment has none. Left out (a local run, a test): whatever a value names is read.
 */
export interface ManagerSettings {
  managerSecretArn?: string;
}

/** How a due revocation treats a retired key that consumers still use: both functions hold them. */
export interface UsageSettings {
  revocationQuietWindowSeconds?: number;
  revocationHardLimitSeconds?: number;
  atRevocationHardLimit?: AtHardLimit;
}

/** Where a revocation schedule goes, as the construct holds it (besides the function: the revocation function's own). */
export interface ScheduleTargetSettings {
  scheduleGroup: string;
  schedulerRoleArn: string;
  deadLetterQueueArn?: string;
}

/**
 * The revocation function's settings: the shared ones, the usage rule, and where it reschedules itself (its own ARN
 * comes from its invocation's context: in its environment it would be a CloudFormation cycle).
 */
export interface RevocationSettings
  extends NovalaClientSettings,
    UsageSettings,
    ScheduleTargetSettings,
    ManagerSettings {
  /** The event bus that receives Key Revocation Postponed; none: no events. */
  eventBus?: string;
}

/** The rotation function's settings besides the shared ones. Strings may be CDK tokens. */
export interface RotationSettings extends NovalaClientSettings, UsageSettings, ManagerSettings {
  healthCheckDeadlineSeconds?: number;
  gracePeriodSeconds?: number;
  scheduleGroup: string;
  revocationFunctionArn: string;
  schedulerRoleArn: string;
  deadLetterQueueArn?: string;
  /** The event bus (name or ARN) that receives Key Rotated and Key Rotation Rolled Back; none: no events. */
  eventBus?: string;
  /** The daily overdue check's rule: its target's input lists the deployment's secrets. */
  overdueCheckRule?: string;
}

const seconds = (value: number | undefined, setting: SecondsSetting) => String(value ?? setting.defaultSeconds);

/** The part of both functions' environments that configures the Novala client. */
export function novalaClientEnvironment(settings: NovalaClientSettings): Record<string, string> {
  return {
    [ENV.allowedHosts]: settings.allowedHosts.join(","),
    [ENV.connectTimeout]: seconds(settings.connectTimeoutSeconds, SECONDS.connectTimeout),
    [ENV.requestTimeout]: seconds(settings.requestTimeoutSeconds, SECONDS.requestTimeout),
    [ENV.retryBudget]: seconds(settings.retryBudgetSeconds, SECONDS.retryBudget),
    [ENV.rateBudget]: String(settings.rateBudgetPerSecond ?? DEFAULT_RATE_BUDGET_PER_SECOND),
    [ENV.rotationConcurrency]: String(settings.rotationConcurrency ?? 1),
    [ENV.serviceName]: METRICS_SERVICE,
    [ENV.metricsNamespace]: METRICS_NAMESPACE,
  };
}

/** The manager secret's variable, which both functions carry. */
function managerEnvironment(settings: ManagerSettings): Record<string, string> {
  return settings.managerSecretArn === undefined ? {} : { [ENV.managerSecret]: settings.managerSecretArn };
}

/** The usage rule's variables, which both functions carry (the CLI reads a deployment from the rotation function's). */
export function usageEnvironment(settings: UsageSettings): Record<string, string> {
  return {
    [ENV.quietWindow]: seconds(settings.revocationQuietWindowSeconds, SECONDS.quietWindow),
    [ENV.hardLimit]: seconds(settings.revocationHardLimitSeconds, SECONDS.hardLimit),
    [ENV.atHardLimit]: settings.atRevocationHardLimit ?? DEFAULT_AT_HARD_LIMIT,
  };
}

/** The revocation function's environment. */
export function revocationEnvironment(settings: RevocationSettings): Record<string, string> {
  return {
    ...novalaClientEnvironment(settings),
    ...usageEnvironment(settings),
    [ENV.scheduleGroup]: settings.scheduleGroup,
    [ENV.schedulerRoleArn]: settings.schedulerRoleArn,
    ...(settings.deadLetterQueueArn && { [ENV.deadLetterQueueArn]: settings.deadLetterQueueArn }),
    ...(settings.eventBus && { [ENV.eventBus]: settings.eventBus }),
    ...managerEnvironment(settings),
  };
}

/** The rotation function's environment. */
export function rotationEnvironment(settings: RotationSettings): Record<string, string> {
  return {
    ...novalaClientEnvironment(settings),
    ...usageEnvironment(settings),
    [ENV.healthCheckDeadline]: seconds(settings.healthCheckDeadlineSeconds, SECONDS.healthCheckDeadline),
    [ENV.gracePeriod]: seconds(settings.gracePeriodSeconds, SECONDS.gracePeriod),
    [ENV.scheduleGroup]: settings.scheduleGroup,
    [ENV.revocationFunctionArn]: settings.revocationFunctionArn,
    [ENV.schedulerRoleArn]: settings.schedulerRoleArn,
    ...(settings.deadLetterQueueArn && { [ENV.deadLetterQueueArn]: settings.deadLetterQueueArn }),
    ...(settings.eventBus && { [ENV.eventBus]: settings.eventBus }),
    ...managerEnvironment(settings),
    ...(settings.overdueCheckRule && { [ENV.overdueCheckRule]: settings.overdueCheckRule }),
  };
}
