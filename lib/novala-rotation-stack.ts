import { CfnOutput, Duration, Stack, type StackProps } from "aws-cdk-lib";
import * as kms from "aws-cdk-lib/aws-kms";
import * as secretsmanager from "aws-cdk-lib/aws-secretsmanager";
import type { Construct, Node } from "constructs";
import { NovalaKeyRotation, type NovalaKeyRotationProps } from "./novala-key-rotation.js";

/** What the app deploys: secrets by name or ARN, and the construct's settings in plain values. */
export interface NovalaRotationStackProps extends StackProps {
  /** Names or ARNs of the secrets to rotate. */
  readonly secrets: string[];
  /** Name or ARN of the manager secret. @default - none (self-managed keys) */
  readonly managerSecret?: string;
  /** ARN of the customer-managed KMS key of the secrets. @default - AWS-managed key */
  readonly kmsKeyArn?: string;
  /** @default "rate(30 days)" */
  readonly scheduleExpression?: string;
  /** @default - none (required with cron()) */
  readonly rotationWindow?: Duration;
  /** @default false */
  readonly rotateImmediatelyOnUpdate?: boolean;
  /** @default Duration.hours(24) */
  readonly gracePeriod?: Duration;
  /** @default - no e-mail subscription */
  readonly alertEmail?: string;
  /** @default ["*.novala.ai"] */
  readonly allowedHosts?: string[];
  /** @default Duration.seconds(60) */
  readonly healthCheckDeadline?: Duration;
  /** @default `<stack name>-revocations` */
  readonly scheduleGroupName?: string;
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
    const rotationProps: NovalaKeyRotationProps = {
      secrets: props.secrets.map((ref, index) => importSecret(this, `Secret${index}`, ref)),
      ...(props.managerSecret && { managerSecret: importSecret(this, "ManagerSecret", props.managerSecret) }),
      ...(encryptionKey && { encryptionKey }),
      ...(props.scheduleExpression && { scheduleExpression: props.scheduleExpression }),
      ...(props.rotationWindow && { rotationWindow: props.rotationWindow }),
      ...(props.rotateImmediatelyOnUpdate !== undefined && {
        rotateImmediatelyOnUpdate: props.rotateImmediatelyOnUpdate,
      }),
      ...(props.gracePeriod && { gracePeriod: props.gracePeriod }),
      ...(props.alertEmail && { alertEmail: props.alertEmail }),
      ...(props.allowedHosts && { allowedHosts: props.allowedHosts }),
      ...(props.healthCheckDeadline && { healthCheckDeadline: props.healthCheckDeadline }),
      ...(props.scheduleGroupName && { scheduleGroupName: props.scheduleGroupName }),
    };
    this.rotation = new NovalaKeyRotation(this, "NovalaKeyRotation", rotationProps);

    // What operators and their tools look up (the CLI also finds them from a secret's rotation function).
    const outputs: Record<string, [string, string]> = {
      ScheduleGroupName: [this.rotation.scheduleGroup.scheduleGroupName, "Scheduler group of the revocation schedules"],
      RotationFunctionArn: [this.rotation.rotationFunction.functionArn, "The Secrets Manager rotation function"],
      RevocationFunctionArn: [this.rotation.revocationFunction.functionArn, "The function that revokes retired keys"],
      AlertTopicArn: [this.rotation.alertTopic.topicArn, "The SNS topic of every alert"],
      EventBusArn: [this.rotation.eventBus.eventBusArn, "Where Key Rotated and Key Rotation Rolled Back events go"],
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
 * Reads the stack's settings from CDK context (`cdk.json` "context", or `-c key=value`):
 *
 * | key | value |
 * | --- | --- |
 * | `secrets` | names or ARNs: a JSON array, or one string separated by commas (required) |
 * | `managerSecret` | name or ARN of the manager secret |
 * | `kmsKeyArn` | the secrets' customer-managed KMS key |
 * | `schedule` | `rate(...)` or `cron(...)` |
 * | `rotationWindow` | a duration such as `4h` (whole hours) |
 * | `rotateImmediatelyOnUpdate` | `true` or `false` |
 * | `gracePeriod` | a duration: `0`, `90m`, `24h`, `7d`, `3600s` (or a number of seconds) |
 * | `healthCheckDeadline` | a duration |
 * | `alertEmail` | an e-mail address |
 * | `allowedHosts` | host patterns: a JSON array or one string separated by commas |
 * | `scheduleGroupName` | the revocation schedule group (default `<stack name>-revocations`) |
 */
export function stackPropsFromContext(node: Node): NovalaRotationStackProps {
  const get = (key: string): unknown => node.tryGetContext(key);
  const secrets = list(get("secrets"), "secrets");
  if (!secrets || secrets.length === 0) {
    throw new Error(
      'context "secrets" is required: the names or ARNs of the secrets to rotate (cdk.json or -c secrets=novala/acme)',
    );
  }
  const text = (key: string) => {
    const value = get(key);
    if (value === undefined || value === null || value === "") return undefined;
    if (typeof value !== "string") throw new Error(`context "${key}" must be a string, got ${JSON.stringify(value)}`);
    return value.trim();
  };
  const duration = (key: string) => {
    const value = get(key);
    return value === undefined || value === null || value === "" ? undefined : parseDuration(key, value);
  };
  const flag = get("rotateImmediatelyOnUpdate");
  const rotationWindow = duration("rotationWindow");
  const gracePeriod = duration("gracePeriod");
  const healthCheckDeadline = duration("healthCheckDeadline");
  const allowedHosts = list(get("allowedHosts"), "allowedHosts");
  const managerSecret = text("managerSecret");
  const kmsKeyArn = text("kmsKeyArn");
  const scheduleExpression = text("schedule");
  const alertEmail = text("alertEmail");
  const scheduleGroupName = text("scheduleGroupName");
  return {
    secrets,
    ...(managerSecret && { managerSecret }),
    ...(kmsKeyArn && { kmsKeyArn }),
    ...(scheduleExpression && { scheduleExpression }),
    ...(rotationWindow && { rotationWindow }),
    ...(flag !== undefined && { rotateImmediatelyOnUpdate: flag === true || flag === "true" }),
    ...(gracePeriod && { gracePeriod }),
    ...(healthCheckDeadline && { healthCheckDeadline }),
    ...(alertEmail && { alertEmail }),
    ...(allowedHosts && { allowedHosts }),
    ...(scheduleGroupName && { scheduleGroupName }),
  };
}

function list(value: unknown, key: string): string[] | undefined {
  if (value === undefined || value === null || value === "") return undefined;
  let items: unknown = value;
  if (typeof value === "string") items = value.trim().startsWith("[") ? JSON.parse(value) : value.split(",");
  if (!Array.isArray(items) || items.some((item) => typeof item !== "string")) {
    throw new Error(`context "${key}" must be a list of strings, got ${JSON.stringify(value)}`);
  }
  return (items as string[]).map((item) => item.trim()).filter((item) => item.length > 0);
}

/** `0`, `3600`, `3600s`, `90m`, `24h`, `7d` (number without a unit: seconds). */
export function parseDuration(key: string, value: unknown): Duration {
  const match = /^(\d+)\s*([smhd]?)$/.exec(String(value).trim());
  if (!match)
    throw new Error(`context "${key}" must be a duration such as 0, 90m, 24h or 7d, got ${JSON.stringify(value)}`);
  const amount = Number(match[1]);
  switch (match[2]) {
    case "m":
      return Duration.minutes(amount);
    case "h":
      return Duration.hours(amount);
    case "d":
      return Duration.days(amount);
    default:
      return Duration.seconds(amount);
  }
}
