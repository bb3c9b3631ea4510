/** The construct's props, their defaults, and the checks that reject a wrong prop with a message naming it. */
import { Duration, Stack, Token } from "aws-cdk-lib";
import type * as ec2 from "aws-cdk-lib/aws-ec2";
import type * as events from "aws-cdk-lib/aws-events";
import type * as iam from "aws-cdk-lib/aws-iam";
import type * as kms from "aws-cdk-lib/aws-kms";
import * as lambda from "aws-cdk-lib/aws-lambda";
import * as logs from "aws-cdk-lib/aws-logs";
import type * as secretsmanager from "aws-cdk-lib/aws-secretsmanager";
import type * as sns from "aws-cdk-lib/aws-sns";
import type { Construct } from "constructs";
import { DEFAULT_ALLOWED_HOSTS } from "../../lambdas/contract/allowed-hosts.js";
import {
  type AtHardLimit,
  atHardLimitProblem,
  DEFAULT_AT_HARD_LIMIT,
  DEFAULT_MAX_ROTATION_CONCURRENCY,
  DEFAULT_RATE_BUDGET_PER_SECOND,
  hardLimitBelowGraceProblem,
  parseAllowedHosts,
  SCHEDULE_GROUP_NAME,
  SECONDS,
  type SecondsSetting,
  secondsProblem,
} from "../../lambdas/contract/environment.js";
import { scheduleProblem } from "../../lambdas/contract/schedule.js";

/** The oldest Node.js major that the bundled code (undici 7, the pinned AWS SDK) runs on. */
const OLDEST_NODE_MAJOR = 20;

const MAX_LAMBDA_TIMEOUT = Duration.minutes(15);

/**
 * What a due revocation does with a retired key that consumers still use when its hard limit comes
 * (`atRevocationHardLimit`).
 */
export const AtRevocationHardLimit = {
  /** Revoke it anyway, and alarm: its consumers get 401 until they read the current key. */
  REVOKE: "revoke",
  /** Keep it active, schedule nothing more, and alarm: an operator revokes it once its consumers moved. */
  KEEP: "keep",
} as const satisfies Record<string, AtHardLimit>;
export type AtRevocationHardLimit = AtHardLimit;

/** Properties of a {@link NovalaKeyRotation}. */
export interface NovalaKeyRotationProps {
  /**
   * The secrets that hold a Novala key pair and that this construct rotates. Existing secrets
   * (`Secret.fromSecretNameV2`, `Secret.fromSecretCompleteArn`, `Secret.fromSecretPartialArn`) or a `Secret` created
   * in the same stack. A new secret must hold a key pair (the JSON of docs/design.md) before its first rotation:
   * put the first key in with `aws secretsmanager put-secret-value` right after the deploy.
   *
   * The rotation function may read and write only these secrets.
   */
  readonly secrets: secretsmanager.ISecret[];

  /**
   * When Secrets Manager rotates the secrets: `rate(N days)`, `rate(N hours)` or a six-field `cron(...)` expression
   * (UTC), as the `ScheduleExpression` of `AWS::SecretsManager::RotationSchedule`.
   *
   * @default "rate(30 days)"
   */
  readonly scheduleExpression?: string;

  /**
   * The rotation window: how long after the scheduled time Secrets Manager may start the rotation, in whole hours
   * (1 to 24). Required with a `cron()` expression, so that the window is a deliberate choice.
   *
   * @default - none with `rate()`: Secrets Manager picks the time within the interval
   */
  readonly rotationWindow?: Duration;

  /**
   * Whether Secrets Manager rotates the secrets as soon as this rotation schedule is created or changed by a deploy.
   * Off by default so that a `cdk deploy` never replaces a production key by surprise (consumers would then depend
   * on the grace period during a deploy nobody planned as a rotation); Secrets Manager then only tests the
   * configuration, and the first rotation happens on schedule or on `aws secretsmanager rotate-secret`.
   *
   * @default false
   */
  readonly rotateImmediatelyOnUpdate?: boolean;

  /**
   * How long the old key stays live after a rotation before a one-time EventBridge Scheduler schedule revokes it.
   * Must exceed the longest time a consumer caches the secret. 0 revokes the old key at the end of the rotation.
   * From 0 to 7 days, in whole seconds.
   *
   * @default Duration.hours(24)
   */
  readonly gracePeriod?: Duration;

  /**
   * How recently a consumer must have used a retired key for its due revocation to wait: when the revocation falls
   * due (after `gracePeriod`), a key Novala saw used within this window by anyone but the rotator itself is not
   * revoked yet but checked again once the window after that use has passed (docs/design.md, "Revocation that waits
   * for consumers"). From 1 minute to 24 hours, in whole seconds.
   *
   * @default Duration.hours(1)
   */
  readonly revocationQuietWindow?: Duration;

  /**
   * The longest a retired key lives after its retirement, however much it is still used: at this limit the due
   * revocation does what `atRevocationHardLimit` says, and alarms. Counted from Secrets Manager's own version dates,
   * so no revocation event can lengthen it. From 1 hour to 30 days, in whole seconds, and not shorter than
   * `gracePeriod`.
   *
   * @default Duration.days(7)
   */
  readonly revocationHardLimit?: Duration;

  /**
   * What the due revocation does with a key still in use at `revocationHardLimit`: `"revoke"` it anyway, or `"keep"`
   * it active and schedule nothing more (an operator revokes it: `novala-rotation revoke`). Either way it logs an
   * error and counts `RevocationHardLimitReached`, which is alarmed.
   *
   * @default AtRevocationHardLimit.REVOKE
   */
  readonly atRevocationHardLimit?: AtRevocationHardLimit;

  /**
   * The name of the EventBridge Scheduler group that holds the one-time revocation schedules. The rotation function
   * finds it in its environment, and the `novala-rotation` CLI through the secret's rotation function; the stack
   * outputs it. Give each NovalaKeyRotation in one stack its own name.
   *
   * @default `<stack name>-revocations` (cut to 64 characters, with a hash, for a long stack name)
   */
  readonly scheduleGroupName?: string;

  /**
   * An existing event bus to publish on instead of the construct's own: `Key Rotated` after every successful
   * rotation, `Key Rotation Rolled Back` after every rollback and `Key Revocation Postponed` (source
   * `novala.key-rotation`; docs/events.md). The functions may put events on this bus only. The construct cannot set
   * another bus's policy: its owner must deny `novala.key-rotation` events to everyone but the two functions' roles
   * (docs/events.md shows the statement), or anyone allowed `events:PutEvents` on it can forge a `Key Rotated`.
   *
   * @default - a bus of the construct's own (named after the stack and the construct's path; the construct's
   *   `eventBus`), whose policy lets only the two functions' roles (and `eventPublishers`) put
   *   `novala.key-rotation` events
   */
  readonly eventBus?: events.IEventBus;

  /**
   * Roles besides the two functions' that may put `novala.key-rotation` events on the construct's own bus: the roles
   * operators run `novala-rotation rollback` with, which publishes `Key Rotation Rolled Back`. Give each by its full
   * ARN, path included (`iam.Role.fromRoleArn`): the bus's policy compares `aws:PrincipalArn`. Not with `eventBus`.
   *
   * @default - none: an operator's rollback reports its event as refused, and consumers see the restored key at
   *   their next read (the key rolled away from keeps working for the grace period)
   */
  readonly eventPublishers?: iam.IRole[];

  /**
   * Whether to create a CloudWatch dashboard of the rotation's metrics and alarms (docs/operations.md, "The
   * dashboard").
   *
   * @default true
   */
  readonly dashboard?: boolean;

  /**
   * The deployment's manager secret: it holds the Novala manager key (scope `api_keys.manage`) that creates and
   * revokes the rotated secrets' keys. A rotated secret's value names it in `managerSecretId` (its name, or its
   * partial or full ARN); a value that names any other secret is refused as a claim (`KeyClaimsRefused`, alarmed)
   * and that secret is never read: the manager is the deployment's, not the consumer's. One per construct: a manager
   * key can mint and revoke every key of its tenant, so each tenant's manager gets its own construct (its own roles,
   * bus and alarms). Both functions read it; the rotation function writes it only when it rotates it too
   * (`rotateManagerSecret`, or the manager secret listed in `secrets`).
   *
   * @default - no manager secret: every rotated secret is self-managed (its own key holds `api_keys.manage`), and a
   *   value that names a manager secret is refused
   */
  readonly managerSecret?: secretsmanager.ISecret;

  /**
   * Rotate the manager secret too, on the same schedule: it is a self-managed secret (its key holds
   * `api_keys.manage` and creates its own replacement), so the rotation function gets the same rights on it as on
   * the listed secrets (PutSecretValue, UpdateSecretVersionStage, ListSecretVersionIds) and it gets a rotation schedule.
   * The same as listing it in `secrets` as well. Needs `managerSecret`.
   *
   * @default false: the manager secret is only read
   */
  readonly rotateManagerSecret?: boolean;

  /**
   * The hosts that the functions may send keys to (`NOVALA_ALLOWED_HOSTS`): exact host names or `*.domain`
   * wildcards, optionally with `:port`. Every secret's `baseUrl` must match one of them.
   *
   * @default ["*.novala.ai"]
   */
  readonly allowedHosts?: string[];

  /**
   * How long testSecret keeps retrying the health check of a new key (Novala may answer 401 while the key
   * propagates) before it rolls the rotation back. From 0 to 840 seconds.
   *
   * @default Duration.seconds(60)
   */
  readonly healthCheckDeadline?: Duration;

  /**
   * How long one Novala operation may spend retrying 429, 5xx and network errors (`NOVALA_RETRY_BUDGET_SECONDS`).
   * From 0 to 840 seconds.
   *
   * @default Duration.seconds(60)
   */
  readonly novalaRetryBudget?: Duration;

  /**
   * The connect timeout of each Novala call (`NOVALA_CONNECT_TIMEOUT_SECONDS`).
   *
   * @default Duration.seconds(5)
   */
  readonly novalaConnectTimeout?: Duration;

  /**
   * The total timeout of one Novala HTTP attempt (`NOVALA_REQUEST_TIMEOUT_SECONDS`).
   *
   * @default Duration.seconds(10)
   */
  readonly novalaRequestTimeout?: Duration;

  /**
   * The Novala requests per second per tenant that rotation may use (`NOVALA_RATE_BUDGET_PER_SECOND`): the rest of
   * the tenant's limit (50/s, documented) stays with the integrations in production. Each execution environment of
   * both functions paces its calls at `novalaRateBudget ÷ rotationConcurrency` and holds all of its calls back after a
   * 429 for its `Retry-After`. See docs/design.md, "A rate budget for rotation".
   *
   * @default 20 (40 % of the tenant limit)
   */
  readonly novalaRateBudget?: number;

  /**
   * How many rotations may run at once (`ROTATION_CONCURRENCY`): the rate budget is divided among this many execution
   * environments, and `novala-rotation rotate` over many secrets starts no more than this many at a time. When given,
   * it is also the rotation function's reserved concurrency (at least 10, AWS's advice for rotation functions): then
   * more than this many secrets due at the same moment get throttled steps, which Secrets Manager does not queue, so
   * spread their schedules. When not given, nothing is reserved and more secrets due at once than this may exceed the
   * budget (each backs off on 429).
   *
   * @default - the number of rotated secrets, at most 50
   */
  readonly rotationConcurrency?: number;

  /**
   * The topic that receives every alert: rotation failures and abandoned rotations, function errors, refused or
   * failed revocations, and messages in the revocation dead-letter queue.
   *
   * @default - a new topic, encrypted with a new customer-managed KMS key that CloudWatch and EventBridge may use
   */
  readonly alertTopic?: sns.ITopic;

  /**
   * An e-mail address to subscribe to the alert topic (the recipient must confirm the subscription).
   *
   * @default - no subscription
   */
  readonly alertEmail?: string;

  /**
   * The VPC to run both functions in. They need egress to the Novala hosts (a NAT gateway or an egress proxy) and a
   * path to Secrets Manager and EventBridge Scheduler (interface VPC endpoints `secretsmanager` and `scheduler`, or
   * the same NAT); CloudWatch Logs is written by the Lambda service and needs no endpoint.
   *
   * @default - not in a VPC: the functions reach Novala and AWS over the Lambda service's network
   */
  readonly vpc?: ec2.IVpc;

  /**
   * Where in `vpc` to place the functions' network interfaces. Only with `vpc`.
   *
   * @default - the VPC's private subnets with egress
   */
  readonly vpcSubnets?: ec2.SubnetSelection;

  /**
   * The security groups of the functions. Only with `vpc`. They must allow outbound HTTPS (443) to Novala and to the
   * VPC endpoints.
   *
   * @default - a new security group per function that allows all outbound traffic
   */
  readonly securityGroups?: ec2.ISecurityGroup[];

  /**
   * The customer-managed KMS key that encrypts the rotated secrets (and the manager secret), when it is not already
   * known from the `ISecret`s (`Secret.fromSecretAttributes({ encryptionKey })`). The rotation function may decrypt
   * and generate data keys with it, only through Secrets Manager (`kms:ViaService`).
   *
   * @default - the keys of the `ISecret`s that carry one; none for secrets under the AWS-managed `aws/secretsmanager`
   */
  readonly encryptionKey?: kms.IKey;

  /**
   * How long the functions' logs are kept.
   *
   * @default logs.RetentionDays.ONE_YEAR
   */
  readonly logRetention?: logs.RetentionDays;

  /**
   * The memory of each function, in MiB.
   *
   * @default 256
   */
  readonly memorySize?: number;

  /**
   * The timeout of each function. It must cover the health-check deadline plus the retry budget of the Novala call
   * that follows it (the rollback's revoke), so it may not be shorter than `healthCheckDeadline + novalaRetryBudget`.
   *
   * @default Duration.minutes(5)
   */
  readonly timeout?: Duration;

  /**
   * The Lambda runtime of both functions: a Node.js runtime, `nodejs20.x` or later. The code is the same pre-bundled
   * ES module on every one of them (built with the package, with its own undici and AWS SDK).
   *
   * @default lambda.Runtime.NODEJS_24_X
   */
  readonly runtime?: lambda.Runtime;
}

export interface Settings {
  /** The secrets rotated: `secrets`, and the manager secret with `rotateManagerSecret`. */
  secrets: secretsmanager.ISecret[];
  scheduleExpression: string;
  rotationWindow?: Duration;
  rotateImmediatelyOnUpdate: boolean;
  gracePeriod: Duration;
  revocationQuietWindow: Duration;
  revocationHardLimit: Duration;
  atRevocationHardLimit: AtHardLimit;
  allowedHosts: string[];
  healthCheckDeadline: Duration;
  retryBudget: Duration;
  connectTimeout: Duration;
  requestTimeout: Duration;
  dashboard: boolean;
  logRetention: logs.RetentionDays;
  memorySize: number;
  timeout: Duration;
  runtime: lambda.Runtime;
  rateBudgetPerSecond: number;
  rotationConcurrency: number;
  /** The rotation function's reserved concurrency: only when `rotationConcurrency` is given. */
  reservedConcurrency?: number;
}

/**
 * A prop the construct rejects, with the construct's path and the prop's name. aws-cdk-lib 2.276 exports its own
 * `ValidationError` only as an internal class (`@internal`; its first parameter is a branded string that only the
 * CDK's private modules can make), so the construct throws this instead, naming the path as that one does.
 */
export class NovalaKeyRotationPropsError extends Error {
  override name = "NovalaKeyRotationPropsError";
  constructor(
    /** The construct's path in the tree, e.g. "MyStack/NovalaKeys". */
    readonly constructPath: string,
    /** The prop that is wrong. */
    readonly prop: string,
    problem: string,
  ) {
    super(`NovalaKeyRotation: ${prop} ${problem} (construct ${constructPath})`);
  }
}

/** Applies the defaults and rejects wrong props with a message that names the prop and `scope`'s path. */
export function validate(scope: Construct, props: NovalaKeyRotationProps): Settings {
  const fail = (prop: string, message: string): never => {
    throw new NovalaKeyRotationPropsError(scope.node.path, prop, message);
  };
  if (!props.secrets || props.secrets.length === 0) fail("secrets", "must list at least one secret to rotate");
  // The same secret twice would get two rotation schedules (and two rotations racing for it).
  const identity = (secret: secretsmanager.ISecret) =>
    JSON.stringify(Stack.of(secret).resolve(secret.secretFullArn ?? secret.secretArn));
  const seen = new Map<string, number>();
  props.secrets.forEach((secret, index) => {
    const earlier = seen.get(identity(secret));
    if (earlier !== undefined) fail("secrets", `lists the same secret twice (entries ${earlier} and ${index})`);
    seen.set(identity(secret), index);
  });
  if (props.rotateManagerSecret && !props.managerSecret) fail("rotateManagerSecret", "needs managerSecret");
  const secrets =
    props.rotateManagerSecret && props.managerSecret && !seen.has(identity(props.managerSecret))
      ? [...props.secrets, props.managerSecret]
      : props.secrets;

  const scheduleExpression = props.scheduleExpression?.trim() ?? "rate(30 days)";
  const isCron = scheduleExpression.startsWith("cron(");
  if (!Token.isUnresolved(scheduleExpression)) {
    const problem = scheduleProblem(scheduleExpression);
    if (problem) fail("scheduleExpression", problem);
  }
  const rotationWindow = props.rotationWindow;
  if (isCron && !rotationWindow) {
    fail(
      "rotationWindow",
      `is required with a cron() scheduleExpression ("${scheduleExpression}"), e.g. Duration.hours(2)`,
    );
  }
  if (rotationWindow && !rotationWindow.isUnresolved()) {
    const minutes = rotationWindow.toMinutes();
    if (minutes % 60 !== 0 || minutes < 60 || minutes > 24 * 60) {
      fail("rotationWindow", `must be whole hours from 1 to 24, got ${rotationWindow.toHumanString()}`);
    }
  }

  // Bounds and defaults are the contract's, which the functions enforce when they read their environment.
  const gracePeriod = props.gracePeriod ?? Duration.seconds(SECONDS.gracePeriod.defaultSeconds);
  if (!gracePeriod.isUnresolved()) {
    const ms = gracePeriod.toMilliseconds();
    if (ms % 1000 !== 0 || secondsProblem(SECONDS.gracePeriod, ms / 1000)) {
      const max = Duration.seconds(SECONDS.gracePeriod.maxSeconds).toHumanString();
      fail("gracePeriod", `must be whole seconds from 0 to ${max}, got ${gracePeriod.toHumanString()}`);
    }
  }

  const wholeSeconds = (prop: string, value: Duration, setting: SecondsSetting) => {
    if (value.isUnresolved()) return value;
    const ms = value.toMilliseconds();
    if (ms % 1000 !== 0 || secondsProblem(setting, ms / 1000)) {
      const min = Duration.seconds(setting.minSeconds).toHumanString();
      const max = Duration.seconds(setting.maxSeconds).toHumanString();
      fail(prop, `must be whole seconds from ${min} to ${max}, got ${value.toHumanString()}`);
    }
    return value;
  };
  const revocationQuietWindow = wholeSeconds(
    "revocationQuietWindow",
    props.revocationQuietWindow ?? Duration.seconds(SECONDS.quietWindow.defaultSeconds),
    SECONDS.quietWindow,
  );
  const revocationHardLimit = wholeSeconds(
    "revocationHardLimit",
    props.revocationHardLimit ?? Duration.seconds(SECONDS.hardLimit.defaultSeconds),
    SECONDS.hardLimit,
  );
  if (!revocationHardLimit.isUnresolved() && !gracePeriod.isUnresolved()) {
    const belowGrace = hardLimitBelowGraceProblem(revocationHardLimit.toSeconds(), gracePeriod.toSeconds());
    if (belowGrace) {
      fail(
        "revocationHardLimit",
        `(${revocationHardLimit.toHumanString()}) must not be shorter than gracePeriod (${gracePeriod.toHumanString()})`,
      );
    }
  }
  const atRevocationHardLimit = props.atRevocationHardLimit ?? DEFAULT_AT_HARD_LIMIT;
  const atProblem = atHardLimitProblem(atRevocationHardLimit);
  if (atProblem) fail("atRevocationHardLimit", atProblem);

  // The Lambdas' own parser: a pattern one accepts, the other accepts too.
  const allowedHosts = props.allowedHosts ?? [DEFAULT_ALLOWED_HOSTS];
  if (allowedHosts.length === 0) fail("allowedHosts", "must list at least one host pattern");
  for (const host of allowedHosts) {
    if (Token.isUnresolved(host)) continue;
    if (host.includes(",")) fail("allowedHosts", `entry "${host}" holds several patterns: give one per entry`);
    try {
      parseAllowedHosts(host);
    } catch (error) {
      fail("allowedHosts", `entry ${(error as Error).message}`);
    }
  }

  const checked = (prop: string, value: Duration, setting: SecondsSetting) => {
    if (secondsProblem(setting, seconds(value))) {
      fail(prop, `must be from ${setting.minSeconds} to ${setting.maxSeconds} seconds, got ${value.toHumanString()}`);
    }
    return value;
  };
  const orDefault = (value: Duration | undefined, setting: SecondsSetting) =>
    value ?? Duration.seconds(setting.defaultSeconds);
  const healthCheckDeadline = checked(
    "healthCheckDeadline",
    orDefault(props.healthCheckDeadline, SECONDS.healthCheckDeadline),
    SECONDS.healthCheckDeadline,
  );
  const retryBudget = checked(
    "novalaRetryBudget",
    orDefault(props.novalaRetryBudget, SECONDS.retryBudget),
    SECONDS.retryBudget,
  );
  const connectTimeout = checked(
    "novalaConnectTimeout",
    orDefault(props.novalaConnectTimeout, SECONDS.connectTimeout),
    SECONDS.connectTimeout,
  );
  const requestTimeout = checked(
    "novalaRequestTimeout",
    orDefault(props.novalaRequestTimeout, SECONDS.requestTimeout),
    SECONDS.requestTimeout,
  );
  if (props.scheduleGroupName !== undefined && !Token.isUnresolved(props.scheduleGroupName)) {
    if (!SCHEDULE_GROUP_NAME.test(props.scheduleGroupName)) {
      fail("scheduleGroupName", `must be 1 to 64 letters, digits, "-", "_" or ".", got "${props.scheduleGroupName}"`);
    }
  }

  const timeout = props.timeout ?? Duration.minutes(5);
  const timeoutSeconds = timeout.toSeconds();
  if (timeoutSeconds > MAX_LAMBDA_TIMEOUT.toSeconds()) {
    fail("timeout", `must be at most 15 minutes (Lambda's limit), got ${timeout.toHumanString()}`);
  }
  if (timeoutSeconds < seconds(healthCheckDeadline)) {
    fail(
      "timeout",
      `(${timeout.toHumanString()}) is shorter than healthCheckDeadline (${healthCheckDeadline.toHumanString()})`,
    );
  }
  const needed = seconds(healthCheckDeadline) + seconds(retryBudget);
  if (timeoutSeconds < needed) {
    fail(
      "timeout",
      `(${timeout.toHumanString()}) must cover healthCheckDeadline plus novalaRetryBudget (${needed} seconds): ` +
        "a failed health check is followed by the rollback's revoke, with its own retries",
    );
  }

  const memorySize = props.memorySize ?? 256;
  if (!Number.isInteger(memorySize) || memorySize < 128 || memorySize > 10_240) {
    fail("memorySize", `must be a whole number of MiB from 128 to 10240, got ${memorySize}`);
  }
  if (props.alertEmail !== undefined && !Token.isUnresolved(props.alertEmail)) {
    if (!/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(props.alertEmail)) {
      fail("alertEmail", `must be an e-mail address, got "${props.alertEmail}"`);
    }
  }
  if (props.eventBus && props.eventPublishers) {
    fail("eventPublishers", "applies to the construct's own event bus only: leave eventBus out, or leave this out");
  }
  if (!props.vpc && (props.vpcSubnets || props.securityGroups)) {
    fail(props.vpcSubnets ? "vpcSubnets" : "securityGroups", "needs vpc");
  }
  const runtime = props.runtime ?? lambda.Runtime.NODEJS_24_X;
  const nodeMajor = /^nodejs(\d+)\.x$/.exec(runtime.name)?.[1];
  if (runtime.family !== lambda.RuntimeFamily.NODEJS || !nodeMajor || Number(nodeMajor) < OLDEST_NODE_MAJOR) {
    fail("runtime", `must be a Node.js runtime, nodejs${OLDEST_NODE_MAJOR}.x or later, got "${runtime.name}"`);
  }

  const rateBudgetPerSecond = props.novalaRateBudget ?? DEFAULT_RATE_BUDGET_PER_SECOND;
  if (!Number.isFinite(rateBudgetPerSecond) || rateBudgetPerSecond <= 0 || rateBudgetPerSecond > 10_000) {
    fail(
      "novalaRateBudget",
      `must be a number of requests per second above 0 (at most 10000), got ${rateBudgetPerSecond}`,
    );
  }
  const given = props.rotationConcurrency;
  if (given !== undefined && (!Number.isInteger(given) || given < 10 || given > 1000)) {
    fail(
      "rotationConcurrency",
      `must be a whole number from 10 to 1000 (below 10 Secrets Manager's invocations get throttled), got ${given}`,
    );
  }
  const rotationConcurrency = given ?? Math.min(secrets.length, DEFAULT_MAX_ROTATION_CONCURRENCY);

  return {
    rateBudgetPerSecond,
    rotationConcurrency,
    ...(given !== undefined && { reservedConcurrency: given }),
    secrets,
    scheduleExpression,
    ...(rotationWindow && { rotationWindow }),
    rotateImmediatelyOnUpdate: props.rotateImmediatelyOnUpdate ?? false,
    gracePeriod,
    revocationQuietWindow,
    revocationHardLimit,
    atRevocationHardLimit,
    allowedHosts,
    healthCheckDeadline,
    retryBudget,
    connectTimeout,
    requestTimeout,
    dashboard: props.dashboard ?? true,
    logRetention: props.logRetention ?? logs.RetentionDays.ONE_YEAR,
    memorySize,
    timeout,
    runtime,
  };
}

/** A duration in seconds, fractions kept: the form the contract's variables take. */
export function seconds(duration: Duration): number {
  return duration.toMilliseconds() / 1000;
}

/** Schedule-group names already taken in each stack: two constructs in one stack must not share a group. */
const scheduleGroupNames = new WeakMap<Stack, Set<string>>();

export function claimScheduleGroupName(scope: Construct, name: string): string {
  const stack = Stack.of(scope);
  const taken = scheduleGroupNames.get(stack) ?? new Set<string>();
  if (!Token.isUnresolved(name) && taken.has(name)) {
    throw new NovalaKeyRotationPropsError(
      scope.node.path,
      "scheduleGroupName",
      `"${name}" is already used by another NovalaKeyRotation in stack ${stack.stackName}: give each its own ` +
        "scheduleGroupName",
    );
  }
  taken.add(name);
  scheduleGroupNames.set(stack, taken);
  return name;
}
