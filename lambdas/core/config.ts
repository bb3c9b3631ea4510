/** Both Lambdas' configuration, read and checked from environment variables. */
import * as z from "zod/mini";
import {
  ENV,
  parseAllowedHosts,
  SCHEDULE_GROUP_NAME,
  SECONDS,
  type SecondsSetting,
  secondsProblem,
} from "../contract/environment.js";
import { type AllowedHosts, DEFAULT_ALLOWED_HOSTS } from "./allowed-hosts.js";
import { ConfigurationError } from "./errors.js";

/**
 * Configuration of both Lambdas, from environment variables only (plus the AWS SDK's own: region, credentials,
 * AWS_ENDPOINT_URL*), whose names, defaults and limits are the contract's (lambdas/contract/environment.ts). Read once
 * per invocation, before any side effect; a bad value throws a ConfigurationError that names the variable.
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
  /** Where Key Rotated and Key Rotation Rolled Back events go (a bus name or ARN); none: no events. */
  eventBus?: string;
}

type Env = Record<string, string | undefined>;

export function readNovalaClientConfig(env: Env = process.env): NovalaClientConfig {
  return {
    allowedHosts: readAllowedHosts(env),
    connectTimeoutMs: readSeconds(env, SECONDS.connectTimeout) * 1000,
    requestTimeoutMs: readSeconds(env, SECONDS.requestTimeout) * 1000,
    retryBudgetMs: readSeconds(env, SECONDS.retryBudget) * 1000,
  };
}

export function readRotationConfig(env: Env = process.env): RotationConfig {
  const graceSeconds = readSeconds(env, SECONDS.gracePeriod);
  const eventBus = optional(env, ENV.eventBus);
  const config: RotationConfig = {
    ...readNovalaClientConfig(env),
    graceSeconds,
    healthCheckDeadlineMs: readSeconds(env, SECONDS.healthCheckDeadline) * 1000,
    ...(eventBus && { eventBus: checkPattern(ENV.eventBus, eventBus, EVENT_BUS) }),
  };
  const targetNamed = [ENV.scheduleGroup, ENV.revocationFunctionArn, ENV.schedulerRoleArn].every(
    (name) => optional(env, name) !== undefined,
  );
  if (graceSeconds > 0 || targetNamed) {
    const deadLetterQueueArn = optional(env, ENV.deadLetterQueueArn);
    config.revocation = {
      scheduleGroup: requiredWithGrace(env, ENV.scheduleGroup, SCHEDULE_GROUP_NAME),
      functionArn: requiredWithGrace(
        env,
        ENV.revocationFunctionArn,
        /^arn:aws[a-z-]*:lambda:[a-z0-9-]+:\d{12}:function:/,
      ),
      schedulerRoleArn: requiredWithGrace(env, ENV.schedulerRoleArn, /^arn:aws[a-z-]*:iam::\d{12}:role\//),
      ...(deadLetterQueueArn && {
        deadLetterQueueArn: checkPattern(ENV.deadLetterQueueArn, deadLetterQueueArn, /^arn:aws[a-z-]*:sqs:/),
      }),
    };
  }
  return config;
}

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
