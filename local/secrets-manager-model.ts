import { randomBytes, randomUUID } from "node:crypto";

/**
 * An embedded, in-process model of AWS Secrets Manager, limited to the operations rotation uses, that follows AWS's
 * documented rules (the API reference pages of each operation) rather than any emulator's habits. The local run and
 * the tests use it where no AWS account is at hand; test/integration/secrets-manager-contract.test.ts holds it to the
 * same contract as moto. It never invokes a Lambda: whoever drives the rotation calls the steps itself.
 *
 * Inputs and outputs have the shape of the JSON API (PascalCase), dates are Date objects (the HTTP face turns them
 * into epoch seconds). Errors carry AWS's exception name and never a secret value.
 */

export const AWSCURRENT = "AWSCURRENT";
export const AWSPENDING = "AWSPENDING";
export const AWSPREVIOUS = "AWSPREVIOUS";

/** Base of the model's errors; `name` is the AWS exception name that the JSON protocol puts in `__type`. */
export class SecretsManagerModelError extends Error {}

export class ResourceNotFoundException extends SecretsManagerModelError {
  override name = "ResourceNotFoundException";
}
export class InvalidParameterException extends SecretsManagerModelError {
  override name = "InvalidParameterException";
}
export class InvalidRequestException extends SecretsManagerModelError {
  override name = "InvalidRequestException";
}
export class ResourceExistsException extends SecretsManagerModelError {
  override name = "ResourceExistsException";
}
export class LimitExceededException extends SecretsManagerModelError {
  override name = "LimitExceededException";
}

export interface RotationRules {
  AutomaticallyAfterDays?: number;
  ScheduleExpression?: string;
  Duration?: string;
}

export interface SecretsManagerModelOptions {
  region?: string;
  accountId?: string;
  /** Injectable clock (only `now` is used). */
  clock?: { now(): Date };
}

interface Version {
  id: string;
  value?: string;
  stages: string[];
  created: Date;
}

interface Secret {
  arn: string;
  name: string;
  description?: string;
  created: Date;
  lastChanged: Date;
  versions: Map<string, Version>;
  rotationConfigured: boolean;
  rotationEnabled: boolean;
  rotationLambdaArn?: string;
  rotationRules?: RotationRules;
  lastRotated?: Date;
  /** The version the last RotateSecret created: when AWSCURRENT reaches it, the rotation succeeded. */
  rotationVersionId?: string;
  /** The secret's tags, in the order first written (TagResource keeps a key's place when it changes its value). */
  tags: Map<string, string>;
}

/** The limits AWS documents for the API's parameters. */
const TOKEN_MIN = 32;
const TOKEN_MAX = 64;
const MAX_SECRET_STRING_BYTES = 65_536;
const MAX_STAGES_PER_VERSION = 20;
const NAME_PATTERN = /^[A-Za-z0-9/_+=.@-]{1,512}$/;
const STAGE_PATTERN = /^.{1,256}$/s;
/** TagResource: "Maximum number of tags per secret: 50"; a key of 1-128 characters, a value of 0-256. */
const MAX_TAGS = 50;
const MAX_TAG_KEY = 128;
const MAX_TAG_VALUE = 256;

export class SecretsManagerModel {
  readonly region: string;
  readonly accountId: string;
  private readonly clock: { now(): Date };
  private readonly secrets = new Map<string, Secret>();

  constructor(options: SecretsManagerModelOptions = {}) {
    this.region = options.region ?? "us-east-1";
    this.accountId = options.accountId ?? "123456789012";
    this.clock = options.clock ?? { now: () => new Date() };
  }

  /** Forgets every secret (tests). */
  reset(): void {
    this.secrets.clear();
  }

  createSecret(input: { Name?: string; SecretString?: string; ClientRequestToken?: string; Description?: string }) {
    const name = input.Name;
    if (!name || !NAME_PATTERN.test(name)) {
      throw new InvalidParameterException(
        "Invalid name. Must be a valid name containing alphanumeric characters, or any of the following: -/_+=.@!",
      );
    }
    const existing = this.secrets.get(name);
    const token = input.ClientRequestToken === undefined ? undefined : checkToken(input.ClientRequestToken);
    if (existing) {
      // A retried CreateSecret with the same token and value is ignored (CreateSecret, ClientRequestToken).
      const version = token ? existing.versions.get(token) : undefined;
      if (version && input.SecretString !== undefined && version.value === input.SecretString) {
        return { ARN: existing.arn, Name: existing.name, VersionId: version.id };
      }
      throw new ResourceExistsException(`The operation failed because the secret ${name} already exists.`);
    }
    if (input.SecretString !== undefined) checkValue(input.SecretString);
    const now = this.clock.now();
    const secret: Secret = {
      arn: `arn:aws:secretsmanager:${this.region}:${this.accountId}:secret:${name}-${arnSuffix()}`,
      name,
      ...(input.Description !== undefined && { description: input.Description }),
      created: now,
      lastChanged: now,
      versions: new Map(),
      rotationConfigured: false,
      rotationEnabled: false,
      tags: new Map(),
    };
    this.secrets.set(name, secret);
    if (input.SecretString === undefined) return { ARN: secret.arn, Name: secret.name };
    const id = token ?? randomUUID();
    secret.versions.set(id, { id, value: input.SecretString, stages: [AWSCURRENT], created: now });
    return { ARN: secret.arn, Name: secret.name, VersionId: id };
  }

  putSecretValue(input: {
    SecretId?: string;
    SecretString?: string;
    SecretBinary?: unknown;
    ClientRequestToken?: string;
    VersionStages?: string[];
  }) {
    const secret = this.find(input.SecretId);
    if (input.SecretBinary !== undefined) {
      throw new InvalidParameterException("SecretBinary is not supported by this model; use SecretString.");
    }
    if (input.SecretString === undefined) {
      throw new InvalidParameterException("You must provide either SecretString or SecretBinary.");
    }
    checkValue(input.SecretString);
    const id = input.ClientRequestToken === undefined ? randomUUID() : checkToken(input.ClientRequestToken);
    const stages = checkStages(input.VersionStages ?? [AWSCURRENT]);
    const existing = secret.versions.get(id);
    if (existing?.value !== undefined) {
      // PutSecretValue, ClientRequestToken: same token and same value is ignored; a different value fails.
      if (existing.value === input.SecretString) return this.versionAnswer(secret, existing);
      throw new ResourceExistsException(
        `You can't use ClientRequestToken ${id} because that value is already in use for a version of secret ${secret.arn}.`,
      );
    }
    const now = this.clock.now();
    // A version that RotateSecret created without a value receives it and keeps its labels.
    const version: Version = existing ?? { id, stages: [], created: now };
    version.value = input.SecretString;
    if (secret.versions.size === 0 && !stages.includes(AWSCURRENT)) stages.push(AWSCURRENT);
    secret.versions.set(id, version);
    for (const stage of stages) this.attach(secret, stage, version);
    secret.lastChanged = now;
    return this.versionAnswer(secret, version);
  }

  getSecretValue(input: { SecretId?: string; VersionId?: string; VersionStage?: string }) {
    const secret = this.find(input.SecretId);
    let version: Version | undefined;
    if (input.VersionId !== undefined) {
      version = secret.versions.get(input.VersionId);
      if (!version) {
        throw new ResourceNotFoundException(
          `Secrets Manager can't find the specified secret value for VersionId: ${input.VersionId}`,
        );
      }
      if (input.VersionStage !== undefined && !version.stages.includes(input.VersionStage)) {
        // GetSecretValue: "If you include both this parameter and VersionStage, the two parameters must refer to the
        // same secret version." The error name is not documented; moto's (which the contract test pins) is used.
        throw new InvalidRequestException(
          "You provided a VersionStage that is not associated to the provided VersionId.",
        );
      }
    } else {
      const stage = input.VersionStage ?? AWSCURRENT;
      version = versionWithStage(secret, stage);
      if (!version) {
        throw new ResourceNotFoundException(
          `Secrets Manager can't find the specified secret value for staging label: ${stage}`,
        );
      }
    }
    if (version.value === undefined) {
      const what = input.VersionStage !== undefined || input.VersionId === undefined ? "staging label" : "VersionId";
      const ref = what === "VersionId" ? version.id : (input.VersionStage ?? AWSCURRENT);
      throw new ResourceNotFoundException(`Secrets Manager can't find the specified secret value for ${what}: ${ref}`);
    }
    return {
      ARN: secret.arn,
      Name: secret.name,
      VersionId: version.id,
      SecretString: version.value,
      VersionStages: [...version.stages],
      CreatedDate: version.created,
    };
  }

  describeSecret(input: { SecretId?: string }) {
    const secret = this.find(input.SecretId);
    const versionIdsToStages: Record<string, string[]> = {};
    for (const version of secret.versions.values()) {
      // DescribeSecret, VersionIdsToStages: "the versions of the secret that have staging labels attached".
      if (version.stages.length > 0) versionIdsToStages[version.id] = [...version.stages];
    }
    const next = this.nextRotationDate(secret);
    return {
      ARN: secret.arn,
      Name: secret.name,
      ...(secret.description !== undefined && { Description: secret.description }),
      CreatedDate: secret.created,
      LastChangedDate: secret.lastChanged,
      ...(secret.rotationConfigured && {
        RotationEnabled: secret.rotationEnabled,
        ...(secret.rotationLambdaArn !== undefined && { RotationLambdaARN: secret.rotationLambdaArn }),
        ...(secret.rotationRules !== undefined && { RotationRules: { ...secret.rotationRules } }),
      }),
      ...(secret.lastRotated !== undefined && { LastRotatedDate: secret.lastRotated }),
      ...(next !== undefined && { NextRotationDate: next }),
      // DescribeSecret, Tags: "The list of tags attached to the secret"; absent when there are none.
      ...(secret.tags.size > 0 && { Tags: [...secret.tags].map(([Key, Value]) => ({ Key, Value })) }),
      VersionIdsToStages: versionIdsToStages,
    };
  }

  /**
   * TagResource: adds the tags or, for a key the secret already has, replaces its value ("If you specify a tag key
   * that is already associated with the secret, this operation overwrites the value"); one call writes all of them.
   */
  tagResource(input: { SecretId?: string; Tags?: { Key?: string; Value?: string }[] }) {
    const secret = this.find(input.SecretId);
    const tags = input.Tags ?? [];
    for (const tag of tags) {
      const key = tag.Key ?? "";
      if (key.length < 1 || key.length > MAX_TAG_KEY || (tag.Value ?? "").length > MAX_TAG_VALUE) {
        throw new InvalidParameterException(
          `A tag key must be 1-${MAX_TAG_KEY} characters and a value 0-${MAX_TAG_VALUE} characters.`,
        );
      }
    }
    const keys = new Set([...secret.tags.keys(), ...tags.map((tag) => tag.Key as string)]);
    if (keys.size > MAX_TAGS) throw new LimitExceededException(`A secret can have at most ${MAX_TAGS} tags.`);
    for (const tag of tags) secret.tags.set(tag.Key as string, tag.Value ?? "");
    return {};
  }

  /** UntagResource: removes the tags with these keys; a key the secret does not have is ignored. */
  untagResource(input: { SecretId?: string; TagKeys?: string[] }) {
    const secret = this.find(input.SecretId);
    for (const key of input.TagKeys ?? []) secret.tags.delete(key);
    return {};
  }

  listSecretVersionIds(input: { SecretId?: string; IncludeDeprecated?: boolean }) {
    const secret = this.find(input.SecretId);
    const versions = [...secret.versions.values()]
      .filter((version) => input.IncludeDeprecated === true || version.stages.length > 0)
      .map((version) => ({ VersionId: version.id, VersionStages: [...version.stages], CreatedDate: version.created }));
    return { ARN: secret.arn, Name: secret.name, Versions: versions };
  }

  /**
   * UpdateSecretVersionStage. A label sits on at most one version; moving one that another version carries requires
   * naming that version in RemoveFromVersionId; moving AWSCURRENT puts AWSPREVIOUS on the version it left.
   */
  updateSecretVersionStage(input: {
    SecretId?: string;
    VersionStage?: string;
    MoveToVersionId?: string;
    RemoveFromVersionId?: string;
  }) {
    const secret = this.find(input.SecretId);
    const stage = input.VersionStage;
    if (!stage || !STAGE_PATTERN.test(stage)) throw new InvalidParameterException("You must specify a VersionStage.");
    const { MoveToVersionId: moveTo, RemoveFromVersionId: removeFrom } = input;
    if (moveTo === undefined && removeFrom === undefined) {
      throw new InvalidParameterException("You must specify either MoveToVersionId or RemoveFromVersionId.");
    }
    const target = moveTo === undefined ? undefined : secret.versions.get(moveTo);
    if (moveTo !== undefined && !target) throw new InvalidParameterException(`Not a valid version: ${moveTo}`);
    const source = removeFrom === undefined ? undefined : secret.versions.get(removeFrom);
    if (removeFrom !== undefined && !source) throw new InvalidParameterException(`Not a valid version: ${removeFrom}`);
    const holder = versionWithStage(secret, stage);
    if (source && holder !== source) {
      throw new InvalidParameterException(`The staging label ${stage} is not attached to version ${source.id}.`);
    }
    if (target && holder && holder !== target && holder !== source) {
      throw new InvalidParameterException(
        `The parameter RemoveFromVersionId can't be empty. Staging label ${stage} is currently attached to version ${holder.id}, so you must explicitly reference that version in RemoveFromVersionId.`,
      );
    }
    if (stage === AWSCURRENT && !target) {
      throw new InvalidParameterException(
        `You can't remove the staging label ${AWSCURRENT} from version ${source?.id} without moving it to another version (MoveToVersionId).`,
      );
    }
    if (target && holder !== target && target.stages.length >= MAX_STAGES_PER_VERSION) {
      throw new LimitExceededException(`Version ${target.id} already has ${MAX_STAGES_PER_VERSION} staging labels.`);
    }
    if (source && source !== target) source.stages = source.stages.filter((label) => label !== stage);
    if (target && holder !== target) this.attach(secret, stage, target, source);
    secret.lastChanged = this.clock.now();
    return { ARN: secret.arn, Name: secret.name };
  }

  /**
   * RotateSecret: enables rotation and creates the new version carrying only AWSPENDING. With RotateImmediately=false
   * (Secrets Manager's configuration test of testSecret) the pending version holds a copy of the current value;
   * otherwise it has no value until createSecret puts one. Refuses while AWSPENDING sits on a version that is not
   * AWSCURRENT ("A previous rotation isn't complete").
   */
  rotateSecret(input: {
    SecretId?: string;
    ClientRequestToken?: string;
    RotationLambdaARN?: string;
    RotationRules?: RotationRules;
    RotateImmediately?: boolean;
  }) {
    const secret = this.find(input.SecretId);
    const lambdaArn = input.RotationLambdaARN ?? secret.rotationLambdaArn;
    if (!lambdaArn) {
      throw new InvalidRequestException(
        "You tried to enable rotation on a secret that doesn't already have a Lambda function ARN configured and you didn't include such an ARN as a parameter in this call.",
      );
    }
    if (!/^arn:aws[a-z-]*:lambda:[a-z0-9-]+:\d{12}:function:[A-Za-z0-9-_]+(:[A-Za-z0-9-_$]+)?$/.test(lambdaArn)) {
      throw new InvalidParameterException("RotationLambdaARN is not a valid Lambda function ARN.");
    }
    const rules = input.RotationRules === undefined ? undefined : checkRotationRules(input.RotationRules);
    const token = input.ClientRequestToken === undefined ? randomUUID() : checkToken(input.ClientRequestToken);
    const current = versionWithStage(secret, AWSCURRENT);
    if (!current) {
      throw new InvalidRequestException(`Secret ${secret.arn} has no AWSCURRENT version to rotate.`);
    }
    const pending = versionWithStage(secret, AWSPENDING);
    if (pending && pending !== current) {
      throw new InvalidRequestException("A previous rotation isn't complete. That rotation will be reattempted.");
    }
    if (secret.versions.has(token)) {
      throw new ResourceExistsException(
        `You can't use ClientRequestToken ${token} because that value is already in use for a version of secret ${secret.arn}.`,
      );
    }
    const now = this.clock.now();
    secret.rotationConfigured = true;
    secret.rotationEnabled = true;
    secret.rotationLambdaArn = lambdaArn;
    if (rules) secret.rotationRules = rules;
    if (pending) pending.stages = pending.stages.filter((label) => label !== AWSPENDING);
    const version: Version = { id: token, stages: [AWSPENDING], created: now };
    if (input.RotateImmediately === false) version.value = current.value;
    else secret.rotationVersionId = token;
    secret.versions.set(token, version);
    secret.lastChanged = now;
    return { ARN: secret.arn, Name: secret.name, VersionId: token };
  }

  /**
   * CancelRotateSecret: turns rotation off. As AWS documents, a partly made AWSPENDING version keeps its label; the
   * caller removes it with UpdateSecretVersionStage.
   */
  cancelRotateSecret(input: { SecretId?: string }) {
    const secret = this.find(input.SecretId);
    if (!secret.rotationLambdaArn) {
      throw new InvalidRequestException(
        "You tried to enable rotation on a secret that doesn't already have a Lambda function ARN configured and you didn't include such an ARN as a parameter in this call.",
      );
    }
    secret.rotationEnabled = false;
    secret.rotationVersionId = undefined;
    const pending = versionWithStage(secret, AWSPENDING);
    return { ARN: secret.arn, Name: secret.name, ...(pending && { VersionId: pending.id }) };
  }

  /** Resolves a secret by name or full ARN. */
  private find(secretId: string | undefined): Secret {
    if (!secretId) throw new InvalidParameterException("You must specify a SecretId.");
    const byName = this.secrets.get(secretId);
    if (byName) return byName;
    for (const secret of this.secrets.values()) if (secret.arn === secretId) return secret;
    throw new ResourceNotFoundException("Secrets Manager can't find the specified secret.");
  }

  /** Puts `stage` on `version`, taking it off whichever version had it; AWSCURRENT leaves AWSPREVIOUS behind. */
  private attach(secret: Secret, stage: string, version: Version, previousHolder?: Version): void {
    const holder = versionWithStage(secret, stage) ?? previousHolder;
    if (holder === version && version.stages.includes(stage)) return;
    if (holder) holder.stages = holder.stages.filter((label) => label !== stage);
    version.stages.push(stage);
    if (stage === AWSCURRENT && holder && holder !== version) {
      const previous = versionWithStage(secret, AWSPREVIOUS);
      if (previous) previous.stages = previous.stages.filter((label) => label !== AWSPREVIOUS);
      holder.stages.push(AWSPREVIOUS);
      if (secret.rotationVersionId === version.id) {
        secret.lastRotated = this.clock.now();
        secret.rotationVersionId = undefined;
      }
    }
    if (stage === AWSCURRENT) version.stages = version.stages.filter((label) => label !== AWSPREVIOUS);
  }

  private versionAnswer(secret: Secret, version: Version) {
    return { ARN: secret.arn, Name: secret.name, VersionId: version.id, VersionStages: [...version.stages] };
  }

  private nextRotationDate(secret: Secret): Date | undefined {
    if (!secret.rotationEnabled || !secret.rotationRules) return undefined;
    const days = secret.rotationRules.AutomaticallyAfterDays ?? rateDays(secret.rotationRules.ScheduleExpression);
    if (days === undefined) return undefined;
    const base = secret.lastRotated ?? secret.created;
    return new Date(base.getTime() + days * 86_400_000);
  }
}

function versionWithStage(secret: Secret, stage: string): Version | undefined {
  for (const version of secret.versions.values()) if (version.stages.includes(stage)) return version;
  return undefined;
}

function checkToken(token: string): string {
  if (token.length < TOKEN_MIN || token.length > TOKEN_MAX) {
    throw new InvalidParameterException(`ClientRequestToken must be ${TOKEN_MIN}-${TOKEN_MAX} characters long.`);
  }
  return token;
}

/** Checks a value's size; the message states the limit, never the value. */
function checkValue(value: string): void {
  if (Buffer.byteLength(value, "utf8") > MAX_SECRET_STRING_BYTES) {
    throw new InvalidParameterException(`SecretString must be at most ${MAX_SECRET_STRING_BYTES} bytes.`);
  }
}

function checkStages(stages: string[]): string[] {
  if (stages.length > MAX_STAGES_PER_VERSION || stages.some((stage) => !STAGE_PATTERN.test(stage))) {
    throw new InvalidParameterException(
      `VersionStages must hold 1-${MAX_STAGES_PER_VERSION} labels of 1-256 characters.`,
    );
  }
  return [...new Set(stages)];
}

function checkRotationRules(rules: RotationRules): RotationRules {
  const { AutomaticallyAfterDays: days, ScheduleExpression: expression, Duration: duration } = rules;
  if (days !== undefined && expression !== undefined) {
    throw new InvalidParameterException("You can't specify both AutomaticallyAfterDays and ScheduleExpression.");
  }
  if (days !== undefined && (!Number.isInteger(days) || days < 1 || days > 1000)) {
    throw new InvalidParameterException("RotationRules.AutomaticallyAfterDays must be within 1-1000.");
  }
  if (expression !== undefined && !/^(rate\(\d+ (hours?|days?)\)|cron\(.+\))$/.test(expression)) {
    throw new InvalidParameterException("RotationRules.ScheduleExpression must be a rate() or cron() expression.");
  }
  if (duration !== undefined && !/^\d+h$/.test(duration)) {
    throw new InvalidParameterException("RotationRules.Duration must be a number of hours, for example 3h.");
  }
  return { ...rules };
}

function rateDays(expression: string | undefined): number | undefined {
  const match = expression && /^rate\((\d+) (hours?|days?)\)$/.exec(expression);
  if (!match) return undefined;
  const amount = Number(match[1]);
  return match[2]?.startsWith("hour") ? amount / 24 : amount;
}

/** The six random letters AWS appends to a secret's ARN. */
function arnSuffix(): string {
  const letters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
  return [...randomBytes(6)].map((byte) => letters[byte % letters.length]).join("");
}
