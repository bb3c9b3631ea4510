import { AllowedHosts, DEFAULT_ALLOWED_HOSTS } from "./allowed-hosts.js";
import { ConfigurationError } from "./errors.js";

/**
 * Configuration of both Lambdas, from environment variables only (plus the AWS SDK's own: region, credentials,
 * AWS_ENDPOINT_URL*). Read once per invocation, before any side effect; a bad value throws a ConfigurationError that
 * names the variable.
 */
export interface NovalaClientConfig {
  allowedHosts: AllowedHosts;
  /** Connect timeout of each Novala call. */
  connectTimeoutMs: number;
  /** Total timeout of one HTTP attempt. */
  requestTimeoutMs: number;
  /** How long one Novala operation may spend retrying 429, 5xx and network errors. */
  retryBudgetMs: number;
}

export interface RevocationTarget {
  scheduleGroup: string;
  functionArn: string;
  schedulerRoleArn: string;
  deadLetterQueueArn?: string;
}

export interface RotationConfig extends NovalaClientConfig {
  /** 0: finishSecret revokes the old key; otherwise a schedule does, this many seconds later. */
  graceSeconds: number;
  /**
   * Where revocation schedules go. Required when graceSeconds > 0; with grace 0 it is optional, and used only to see
   * whether a key's revocation is still scheduled from a time when the grace was longer.
   */
  revocation?: RevocationTarget;
  healthCheckDeadlineMs: number;
}

type Env = Record<string, string | undefined>;

export const MAX_GRACE_SECONDS = 7 * 24 * 3600;

export function readNovalaClientConfig(env: Env = process.env): NovalaClientConfig {
  return {
    allowedHosts: readAllowedHosts(env),
    connectTimeoutMs: readSeconds(env, "NOVALA_CONNECT_TIMEOUT_SECONDS", 5, 0.1, 60) * 1000,
    requestTimeoutMs: readSeconds(env, "NOVALA_REQUEST_TIMEOUT_SECONDS", 10, 0.1, 120) * 1000,
    retryBudgetMs: readSeconds(env, "NOVALA_RETRY_BUDGET_SECONDS", 60, 0, 840) * 1000,
  };
}

export function readRotationConfig(env: Env = process.env): RotationConfig {
  const graceSeconds = readSeconds(env, "REVOCATION_GRACE_SECONDS", 86_400, 0, MAX_GRACE_SECONDS);
  const config: RotationConfig = {
    ...readNovalaClientConfig(env),
    graceSeconds,
    healthCheckDeadlineMs: readSeconds(env, "HEALTH_CHECK_DEADLINE_SECONDS", 60, 0, 840) * 1000,
  };
  const targetNamed = ["REVOCATION_SCHEDULE_GROUP", "REVOCATION_FUNCTION_ARN", "REVOCATION_SCHEDULER_ROLE_ARN"].every(
    (name) => optional(env, name) !== undefined,
  );
  if (graceSeconds > 0 || targetNamed) {
    const deadLetterQueueArn = optional(env, "REVOCATION_DEAD_LETTER_QUEUE_ARN");
    config.revocation = {
      scheduleGroup: requiredWithGrace(env, "REVOCATION_SCHEDULE_GROUP", /^[0-9a-zA-Z-_.]{1,64}$/),
      functionArn: requiredWithGrace(
        env,
        "REVOCATION_FUNCTION_ARN",
        /^arn:aws[a-z-]*:lambda:[a-z0-9-]+:\d{12}:function:/,
      ),
      schedulerRoleArn: requiredWithGrace(env, "REVOCATION_SCHEDULER_ROLE_ARN", /^arn:aws[a-z-]*:iam::\d{12}:role\//),
      ...(deadLetterQueueArn && {
        deadLetterQueueArn: checkPattern(
          "REVOCATION_DEAD_LETTER_QUEUE_ARN",
          deadLetterQueueArn,
          /^arn:aws[a-z-]*:sqs:/,
        ),
      }),
    };
  }
  return config;
}

function readAllowedHosts(env: Env): AllowedHosts {
  const spec = optional(env, "NOVALA_ALLOWED_HOSTS") ?? DEFAULT_ALLOWED_HOSTS;
  for (const pattern of spec.split(",").map((part) => part.trim())) {
    if (!/^(\*\.)?[A-Za-z0-9.-]+(:\d+)?$|^\[[0-9a-fA-F:]+\](:\d+)?$|^[0-9a-fA-F:]+$/.test(pattern)) {
      throw new ConfigurationError(
        `NOVALA_ALLOWED_HOSTS: "${pattern}" is not a host pattern (examples: *.novala.ai, 127.0.0.1, [::1]:8443)`,
      );
    }
  }
  return new AllowedHosts(spec);
}

function readSeconds(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = optional(env, name);
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (!/^\d+(\.\d+)?$/.test(raw) || !Number.isFinite(value) || value < min || value > max) {
    throw new ConfigurationError(`${name} must be a number of seconds from ${min} to ${max}, got "${raw}"`);
  }
  return value;
}

function requiredWithGrace(env: Env, name: string, pattern: RegExp): string {
  const value = optional(env, name);
  if (value === undefined) {
    throw new ConfigurationError(`${name} is required when REVOCATION_GRACE_SECONDS is above 0`);
  }
  return checkPattern(name, value, pattern);
}

function checkPattern(name: string, value: string, pattern: RegExp): string {
  if (!pattern.test(value)) throw new ConfigurationError(`${name} is malformed: "${value}"`);
  return value;
}

function optional(env: Env, name: string): string | undefined {
  const value = env[name]?.trim();
  return value ? value : undefined;
}
