import { CfnOutput, Duration, Stack, type StackProps } from "aws-cdk-lib";
import * as kms from "aws-cdk-lib/aws-kms";
import * as secretsmanager from "aws-cdk-lib/aws-secretsmanager";
import type { Construct, Node } from "constructs";
import { durationProblem, parseDurationMs } from "../lambdas/contract/duration.js";
import {
  type AtHardLimit,
  atHardLimitProblem,
  hardLimitBelowGraceProblem,
  parseAllowedHosts,
  SCHEDULE_GROUP_NAME,
  SECONDS,
  type SecondsSetting,
  secondsProblem,
} from "../lambdas/contract/environment.js";
import { isCron, scheduleProblem } from "../lambdas/contract/schedule.js";
import type { NovalaKeyRotationProps } from "./construct/props.js";
import { NovalaKeyRotation } from "./novala-key-rotation.js";

/** The construct's settings the app passes through unchanged (docs and defaults: {@link NovalaKeyRotationProps}). */
const PASSED_THROUGH = [
  "rotateManagerSecret",
  "scheduleExpression",
  "rotationWindow",
  "rotateImmediatelyOnUpdate",
  "gracePeriod",
  "revocationQuietWindow",
  "revocationHardLimit",
  "atRevocationHardLimit",
  "alertEmail",
  "allowedHosts",
  "healthCheckDeadline",
  "scheduleGroupName",
] as const satisfies readonly (keyof NovalaKeyRotationProps)[];

/** What the app deploys: secrets by name or ARN, and the construct's settings in plain values. */
export interface NovalaRotationStackProps
  extends StackProps,
    Pick<NovalaKeyRotationProps, (typeof PASSED_THROUGH)[number]> {
  /** Names or ARNs of the secrets to rotate. */
  readonly secrets: string[];
  /** Name or ARN of the manager secret. @default - none (self-managed keys) */
  readonly managerSecret?: string;
  /** ARN of the customer-managed KMS key of the secrets. @default - AWS-managed key */
  readonly kmsKeyArn?: string;
}

/** One {@link NovalaKeyRotation} over existing secrets, named or referenced by ARN. */
export class NovalaRotationStack extends Stack {
  public readonly rotation: NovalaKeyRotation;

  constructor(scope: Construct, id: string, props: NovalaRotationStackProps) {
    super(scope, id, {
      description: "Rotates Novala API keys held in AWS Secrets Manager",
      ...props,
    });
    const encryptionKey = props.kmsKeyArn ? kms.Key.fromKeyArn(this, "SecretsKey", props.kmsKeyArn) : undefined;
    const settings = Object.fromEntries(
      PASSED_THROUGH.filter((key) => props[key] !== undefined).map((key) => [key, props[key]]),
    ) as Pick<NovalaKeyRotationProps, (typeof PASSED_THROUGH)[number]>;
    const rotationProps: NovalaKeyRotationProps = {
      secrets: props.secrets.map((ref, index) => importSecret(this, `Secret${index}`, ref)),
      ...(props.managerSecret && { managerSecret: importSecret(this, "ManagerSecret", props.managerSecret) }),
      ...(encryptionKey && { encryptionKey }),
      ...settings,
    };
    this.rotation = new NovalaKeyRotation(this, "NovalaKeyRotation", rotationProps);

    // What operators and their tools look up (the CLI also finds them from a secret's rotation function).
    const outputs: Record<string, [string, string]> = {
      ScheduleGroupName: [this.rotation.scheduleGroup.scheduleGroupName, "Scheduler group of the revocation schedules"],
      RotationFunctionArn: [this.rotation.rotationFunction.functionArn, "The Secrets Manager rotation function"],
      RevocationFunctionArn: [this.rotation.revocationFunction.functionArn, "The function that revokes retired keys"],
      AlertTopicArn: [this.rotation.alertTopic.topicArn, "The SNS topic of every alert"],
      EventBusArn: [
        this.rotation.eventBus.eventBusArn,
        "Where Key Rotated, Key Rotation Rolled Back and Key Revocation Postponed events go: a consumer's rule goes here",
      ],
      EventBusName: [this.rotation.eventBus.eventBusName, "The name of that bus (a rule's EventBusName)"],
      ...(this.rotation.dashboard && {
        DashboardName: [this.rotation.dashboard.dashboardName, "The CloudWatch dashboard of the rotation"],
      }),
    };
    for (const [id, [value, description]] of Object.entries(outputs)) new CfnOutput(this, id, { value, description });
  }
}

/**
 * A secret by full ARN (ends in Secrets Manager's `-XXXXXX` suffix), partial ARN, or name. Names that end in a dash
 * and six characters are ambiguous to Secrets Manager too; give those by full ARN.
 */
export function importSecret(scope: Construct, id: string, ref: string): secretsmanager.ISecret {
  if (ref.startsWith("arn:")) {
    return /:secret:.+-[A-Za-z0-9]{6}$/.test(ref)
      ? secretsmanager.Secret.fromSecretCompleteArn(scope, id, ref)
      : secretsmanager.Secret.fromSecretPartialArn(scope, id, ref);
  }
  return secretsmanager.Secret.fromSecretNameV2(scope, id, ref);
}

/**
 * The context keys the app reads, with how to set each (for the messages): the one table of them. A key set in the
 * context that is not here is refused ({@link unknownContextKeys}), so a key added here is known there at once.
 */
const CONTEXT_KEYS = {
  secrets: "-c secrets=novala/acumatica,novala/billing",
  alertEmail: "-c alertEmail=oncall@example.com",
  managerSecret: "-c managerSecret=novala/manager",
  rotateManagerSecret: "-c rotateManagerSecret=true",
  kmsKeyArn: "-c kmsKeyArn=arn:aws:kms:…",
  schedule: '-c schedule="rate(30 days)"',
  rotationWindow: "-c rotationWindow=2h",
  rotateImmediatelyOnUpdate: "-c rotateImmediatelyOnUpdate=false",
  gracePeriod: "-c gracePeriod=24h",
  revocationQuietWindow: "-c revocationQuietWindow=1h",
  revocationHardLimit: "-c revocationHardLimit=7d",
  atRevocationHardLimit: "-c atRevocationHardLimit=revoke",
  healthCheckDeadline: "-c healthCheckDeadline=60s",
  allowedHosts: '-c allowedHosts="*.novala.ai"',
  scheduleGroupName: "-c scheduleGroupName=novala-revocations",
  // Read by bin/app.ts: where the stack goes, and its name.
  account: "-c account=123456789012",
  region: "-c region=eu-west-1",
  stackName: "-c stackName=NovalaKeyRotation",
} as const;

/**
 * What is wrong with the app's context, all at once: the keys that must be set and the values that are wrong, each
 * named by its context key. bin/app.ts prints the message (no stack trace) and exits 1.
 */
export class ContextError extends Error {
  override name = "ContextError";
  constructor(
    readonly missing: string[],
    readonly invalid: string[],
  ) {
    super(
      [
        'novala-key-rotation: the deployment needs its CDK context (cdk.json "context", or -c key=value):',
        ...(missing.length > 0 ? ["  Set:", ...missing.map((line) => `    ${line}`)] : []),
        ...(invalid.length > 0 ? ["  Fix:", ...invalid.map((line) => `    ${line}`)] : []),
        "  Every key and its default: docs/deploy.md.",
      ].join("\n"),
    );
  }

  /** Only required keys are missing: nothing set is wrong (what `cdk bootstrap` in a fresh clone meets). */
  get onlyMissing(): boolean {
    return this.missing.length > 0 && this.invalid.length === 0;
  }
}

/**
 * Whether the CDK CLI runs the app only to find its stacks' names and environments: it sets `aws:cdk:bundling-stacks`
 * to `[]` for every command that deploys or compares nothing (`cdk bootstrap`, `destroy`, `list`, `gc`), and to the
 * stacks it will use for `synth`, `diff`, `deploy`, `watch` and `import`. Outside the CLI (no such key) it is false.
 */
export function onlyLocatesStacks(node: Node): boolean {
  const bundling: unknown = node.tryGetContext("aws:cdk:bundling-stacks");
  return Array.isArray(bundling) && bundling.length === 0;
}

/**
 * The context keys set that the app does not know, each with the closest known key: every plain key (letters and
 * digits, the app's namespace: `graceperiod`, `secret`), and a key spelled with `-` or `_` that is a known key's near
 * miss (`grace-period`). The CDK's own keys are never in the app's namespace: feature flags (`@aws-cdk/core:…`),
 * `aws:cdk:…`, its lookups (`availability-zones:…`, in cdk.context.json) and the CLI's settings (`cli-telemetry`,
 * `acknowledged-issue-numbers`).
 */
export function unknownContextKeys(node: Node): string[] {
  const known = Object.keys(CONTEXT_KEYS) as (keyof typeof CONTEXT_KEYS)[];
  const problems: string[] = [];
  for (const key of Object.keys(node.getAllContext() as Record<string, unknown>)) {
    if ((known as string[]).includes(key) || !/^[A-Za-z][\w-]*$/.test(key)) continue;
    const closest = closestKey(key, known);
    if (closest) {
      problems.push(`${key}: is not a context key of this app: did you mean ${closest}? (${CONTEXT_KEYS[closest]})`);
    } else if (/^[A-Za-z][A-Za-z0-9]*$/.test(key)) {
      problems.push(`${key}: is not a context key of this app (the keys: ${known.join(", ")})`);
    }
  }
  return problems;
}

/** The known key `key` is a misspelling of: the same but for case, `-` and `_`, or at most two edits away. */
function closestKey<Key extends string>(key: string, known: readonly Key[]): Key | undefined {
  const plain = (text: string) => text.toLowerCase().replace(/[-_]/g, "");
  let best: { key: Key; distance: number } | undefined;
  for (const candidate of known) {
    const distance = editDistance(plain(key), plain(candidate));
    if (distance < (best?.distance ?? Number.POSITIVE_INFINITY)) best = { key: candidate, distance };
  }
  return best && best.distance <= Math.min(2, Math.floor(plain(key).length / 3)) ? best.key : undefined;
}

/** Levenshtein distance: the fewest insertions, deletions and substitutions that turn `a` into `b`. */
function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, index) => index);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      row[j] = Math.min(
        (previous[j] as number) + 1,
        (row[j - 1] as number) + 1,
        (previous[j - 1] as number) + (a[i - 1] === b[j - 1] ? 0 : 1),
      );
    }
    previous = row;
  }
  return previous[b.length] as number;
}

/**
 * Reads the stack's settings from CDK context (`cdk.json` "context", or `-c key=value`). Nothing has a silent example
 * value: `secrets` and `alertEmail` must be set (`alertEmail=none` to subscribe the alert topic another way). Every
 * problem is collected and thrown as one {@link ContextError} naming the context keys; a key the app does not know is
 * one of them, with the known key it is closest to ({@link unknownContextKeys}).
 *
 * | key | value |
 * | --- | --- |
 * | `secrets` | names or ARNs, each once: a JSON array, or one string separated by commas (required) |
 * | `alertEmail` | an e-mail address, or `none` (required) |
 * | `managerSecret` | name or ARN of the manager secret |
 * | `rotateManagerSecret` | `true`: rotate the manager secret too (self-managed), on the same schedule |
 * | `kmsKeyArn` | the secrets' customer-managed KMS key |
 * | `schedule` | `rate(N days)`, `rate(N hours)` or `cron(...)` with one of day-of-month and day-of-week `?` |
 * | `rotationWindow` | a duration in whole hours such as `4h` (required with cron) |
 * | `rotateImmediatelyOnUpdate` | `true` or `false` |
 * | `gracePeriod` | a duration with its unit: `0s`, `90m`, `24h`, `7d` |
 * | `revocationQuietWindow` | a duration with its unit, `1m` to `24h`: a use this recent postpones a due revocation |
 * | `revocationHardLimit` | a duration with its unit, `1h` to `30d`, not below `gracePeriod`: a retired key's longest life |
 * | `atRevocationHardLimit` | `revoke` or `keep`: what happens to a key still in use at its hard limit |
 * | `healthCheckDeadline` | a duration with its unit |
 * | `allowedHosts` | host patterns: a JSON array or one string separated by commas |
 * | `scheduleGroupName` | the revocation schedule group (default `<stack name>-revocations`) |
 */
export function stackPropsFromContext(node: Node): NovalaRotationStackProps {
  const get = (key: keyof typeof CONTEXT_KEYS): unknown => {
    const value: unknown = node.tryGetContext(key);
    return value === undefined || value === null || (typeof value === "string" && value.trim() === "")
      ? undefined
      : value;
  };
  const missing: string[] = [];
  const invalid: string[] = unknownContextKeys(node);
  const problem = (key: keyof typeof CONTEXT_KEYS, message: string) => {
    invalid.push(`${key}: ${message} (example: ${CONTEXT_KEYS[key]})`);
  };
  const text = (key: keyof typeof CONTEXT_KEYS): string | undefined => {
    const value = get(key);
    if (value === undefined) return undefined;
    if (typeof value !== "string") {
      problem(key, `must be a string, got ${JSON.stringify(value)}`);
      return undefined;
    }
    return value.trim();
  };
  const list = (key: "secrets" | "allowedHosts"): string[] | undefined => {
    const value = get(key);
    if (value === undefined) return undefined;
    let items: unknown = value;
    if (typeof value === "string") {
      try {
        items = value.trim().startsWith("[") ? JSON.parse(value) : value.split(",");
      } catch {
        items = undefined;
      }
    }
    if (!Array.isArray(items) || items.some((item) => typeof item !== "string")) {
      problem(key, `must be a list of strings, got ${JSON.stringify(value)}`);
      return undefined;
    }
    return (items as string[]).map((item) => item.trim()).filter((item) => item.length > 0);
  };
  const duration = (
    key: "gracePeriod" | "rotationWindow" | "healthCheckDeadline" | "revocationQuietWindow" | "revocationHardLimit",
  ): Duration | undefined => {
    const value = get(key);
    if (value === undefined) return undefined;
    const why = durationProblem(String(value));
    if (why) {
      problem(key, why);
      return undefined;
    }
    return Duration.millis(parseDurationMs(String(value)));
  };
  const flag = (key: "rotateImmediatelyOnUpdate" | "rotateManagerSecret"): boolean | undefined => {
    const value = get(key);
    if (value === undefined) return undefined;
    if (value === true || value === "true") return true;
    if (value === false || value === "false") return false;
    problem(key, `must be true or false, got ${JSON.stringify(value)}`);
    return undefined;
  };

  const secrets = list("secrets");
  if (!secrets || secrets.length === 0) {
    if (!invalid.some((line) => line.startsWith("secrets:"))) {
      missing.push(`${CONTEXT_KEYS.secrets}   the names or ARNs of the secrets to rotate (required)`);
    }
  } else {
    const twice = secrets.filter((secret, index) => secrets.indexOf(secret) !== index);
    if (twice.length > 0) problem("secrets", `lists ${[...new Set(twice)].join(", ")} more than once`);
  }
  const alertEmail = text("alertEmail");
  if (alertEmail === undefined && !invalid.some((line) => line.startsWith("alertEmail:"))) {
    missing.push(
      `${CONTEXT_KEYS.alertEmail}   who receives the alerts (required; alertEmail=none to subscribe the AlertTopicArn output yourself)`,
    );
  } else if (alertEmail !== undefined && alertEmail !== "none" && !EMAIL.test(alertEmail)) {
    problem("alertEmail", `must be an e-mail address or none, got "${alertEmail}"`);
  }
  const managerSecret = text("managerSecret");
  const rotateManagerSecret = flag("rotateManagerSecret");
  if (rotateManagerSecret && !managerSecret) problem("rotateManagerSecret", "needs managerSecret");
  if (managerSecret && secrets?.includes(managerSecret) && rotateManagerSecret) {
    problem("secrets", `lists the manager secret ${managerSecret}, which rotateManagerSecret=true already rotates`);
  }
  const scheduleExpression = text("schedule");
  if (scheduleExpression !== undefined) {
    const why = scheduleProblem(scheduleExpression);
    if (why) problem("schedule", why);
  }
  const rotationWindow = duration("rotationWindow");
  if (rotationWindow) {
    const hours = rotationWindow.toMilliseconds() / 3_600_000;
    if (!Number.isInteger(hours) || hours < 1 || hours > 24) {
      problem("rotationWindow", `must be whole hours from 1h to 24h, got ${String(get("rotationWindow"))}`);
    }
  } else if (scheduleExpression && isCron(scheduleExpression) && get("rotationWindow") === undefined) {
    problem("rotationWindow", `is required with a cron() schedule ("${scheduleExpression}")`);
  }
  const gracePeriod = duration("gracePeriod");
  if (gracePeriod) {
    const ms = gracePeriod.toMilliseconds();
    if (ms % 1000 !== 0 || secondsProblem(SECONDS.gracePeriod, ms / 1000)) {
      problem("gracePeriod", `must be whole seconds from 0s to 7d, got ${String(get("gracePeriod"))}`);
    }
  }
  /** A duration in whole seconds within `setting`'s range, as the Lambdas read it. */
  const seconds = (key: "revocationQuietWindow" | "revocationHardLimit", setting: SecondsSetting) => {
    const value = duration(key);
    if (!value) return undefined;
    const ms = value.toMilliseconds();
    if (ms % 1000 !== 0 || secondsProblem(setting, ms / 1000)) {
      const range = `${Duration.seconds(setting.minSeconds).toHumanString()} to ${Duration.seconds(setting.maxSeconds).toHumanString()}`;
      problem(key, `must be whole seconds from ${range}, got ${String(get(key))}`);
      return undefined;
    }
    return value;
  };
  const revocationQuietWindow = seconds("revocationQuietWindow", SECONDS.quietWindow);
  const revocationHardLimit = seconds("revocationHardLimit", SECONDS.hardLimit);
  const grace = gracePeriod?.toSeconds() ?? SECONDS.gracePeriod.defaultSeconds;
  const hardLimit = revocationHardLimit?.toSeconds() ?? SECONDS.hardLimit.defaultSeconds;
  if (hardLimitBelowGraceProblem(hardLimit, grace)) {
    problem(
      "revocationHardLimit",
      `(${hardLimit} s${revocationHardLimit ? "" : ", the default"}) must not be shorter than gracePeriod (${grace} s)`,
    );
  }
  const atRevocationHardLimit = text("atRevocationHardLimit");
  const atProblem = atRevocationHardLimit === undefined ? undefined : atHardLimitProblem(atRevocationHardLimit);
  if (atProblem) problem("atRevocationHardLimit", atProblem);
  const healthCheckDeadline = duration("healthCheckDeadline");
  if (healthCheckDeadline) {
    const seconds = healthCheckDeadline.toMilliseconds() / 1000;
    const setting = SECONDS.healthCheckDeadline;
    if (secondsProblem(setting, seconds)) {
      problem(
        "healthCheckDeadline",
        `must be from 0s to ${setting.maxSeconds}s, got ${String(get("healthCheckDeadline"))}`,
      );
    }
  }
  const allowedHosts = list("allowedHosts");
  for (const host of allowedHosts ?? []) {
    try {
      parseAllowedHosts(host);
    } catch (error) {
      problem("allowedHosts", (error as Error).message);
    }
  }
  const rotateImmediatelyOnUpdate = flag("rotateImmediatelyOnUpdate");
  const kmsKeyArn = text("kmsKeyArn");
  const scheduleGroupName = text("scheduleGroupName");
  if (scheduleGroupName !== undefined && !SCHEDULE_GROUP_NAME.test(scheduleGroupName)) {
    problem("scheduleGroupName", `must be 1 to 64 letters, digits, "-", "_" or ".", got "${scheduleGroupName}"`);
  }
  if (missing.length > 0 || invalid.length > 0) throw new ContextError(missing, invalid);
  return {
    secrets: secrets as string[],
    ...(managerSecret && { managerSecret }),
    ...(rotateManagerSecret && { rotateManagerSecret }),
    ...(kmsKeyArn && { kmsKeyArn }),
    ...(scheduleExpression && { scheduleExpression }),
    ...(rotationWindow && { rotationWindow }),
    ...(rotateImmediatelyOnUpdate !== undefined && { rotateImmediatelyOnUpdate }),
    ...(gracePeriod && { gracePeriod }),
    ...(revocationQuietWindow && { revocationQuietWindow }),
    ...(revocationHardLimit && { revocationHardLimit }),
    ...(atRevocationHardLimit && !atProblem && { atRevocationHardLimit: atRevocationHardLimit as AtHardLimit }),
    ...(healthCheckDeadline && { healthCheckDeadline }),
    ...(alertEmail && alertEmail !== "none" && { alertEmail }),
    ...(allowedHosts && { allowedHosts }),
    ...(scheduleGroupName && { scheduleGroupName }),
  };
}

const EMAIL = /^[^@\s]+@[^@\s]+\.[^@\s]+$/;
