/** The SecretStore port over AWS Secrets Manager. */
import {
  DescribeSecretCommand,
  GetSecretValueCommand,
  ListSecretVersionIdsCommand,
  PutSecretValueCommand,
  ResourceNotFoundException,
  type SecretsManagerClient,
  TagResourceCommand,
  UpdateSecretVersionStageCommand,
} from "@aws-sdk/client-secrets-manager";
import { marksFromTags, type RotationRecord, recordTags } from "../../contract/rotation-outcome.js";
import type {
  RotationScheduleState,
  SecretDescription,
  SecretStore,
  SecretVersion,
  StoredValue,
  ValueRef,
} from "../../core/ports.js";
import { AWSPENDING } from "../../core/ports.js";
import { AwsServiceError, awsFailure, awsFailureMessage } from "./errors.js";

const DESCRIBED_FOR_MS = 15 * 60 * 1000;

/**
 * The SecretStore over AWS Secrets Manager (or any endpoint speaking its API: moto, the embedded model). Reads always
 * name the stage, so an endpoint that answers a stale version for a plain read (moto) cannot mislead rotation.
 * Errors keep the service's exception name and message (which name ids and ARNs, never a value) and drop the raw
 * response the SDK attaches, which for GetSecretValue could hold the value.
 */
export class AwsSecretStore implements SecretStore {
  /** Secrets (by id and ARN) this store described, and when: see getValue. */
  private readonly described = new Map<string, number>();

  constructor(
    private readonly client: SecretsManagerClient,
    private readonly now: () => number = Date.now,
  ) {}

  async describe(secretId: string): Promise<SecretDescription> {
    const out = await this.call("DescribeSecret", secretId, () =>
      this.client.send(new DescribeSecretCommand({ SecretId: secretId })),
    );
    const description = describedSecret(secretId, out);
    for (const id of [secretId, description.arn]) this.described.set(id, this.now());
    return description;
  }

  /** Whether `secretId` was described within one Lambda lifetime (15 min): every step starts by describing it. */
  private recentlyDescribed(secretId: string): boolean {
    const at = this.described.get(secretId);
    return at !== undefined && this.now() - at < DESCRIBED_FOR_MS;
  }

  async getValue(secretId: string, ref: ValueRef): Promise<StoredValue | undefined> {
    try {
      const out = await this.client.send(new GetSecretValueCommand(valueRefInput(secretId, ref)));
      return storedValue(secretId, ref, out);
    } catch (error) {
      if (!(error instanceof ResourceNotFoundException)) throw storeError("GetSecretValue", secretId, error);
      // The same exception says "no such secret" and "no value at that stage/version": only the second is undefined.
      // A secret this step has just described exists (one scheduled for deletion answers InvalidRequestException;
      // only a force-delete within the step could slip by, and the step's next write then fails), so the question
      // costs a DescribeSecret only for a secret not seen yet.
      if (this.recentlyDescribed(secretId)) return undefined;
      await this.describe(secretId).catch((describeError: unknown) => {
        throw describeError instanceof SecretStoreError && describeError.is("ResourceNotFoundException")
          ? storeError("GetSecretValue", secretId, error)
          : describeError;
      });
      return undefined;
    }
  }

  async putPendingValue(secretId: string, versionId: string, value: string): Promise<void> {
    await this.call("PutSecretValue", secretId, () =>
      this.client.send(new PutSecretValueCommand(pendingValueInput(secretId, versionId, value))),
    );
  }

  async moveStage(
    secretId: string,
    stage: string,
    move: { toVersionId?: string; fromVersionId?: string },
  ): Promise<void> {
    await this.call("UpdateSecretVersionStage", secretId, () =>
      this.client.send(new UpdateSecretVersionStageCommand(stageMoveInput(secretId, stage, move))),
    );
  }

  async listVersions(secretId: string): Promise<SecretVersion[]> {
    const versions: SecretVersion[] = [];
    let nextToken: string | undefined;
    do {
      const out = await this.call("ListSecretVersionIds", secretId, () =>
        this.client.send(
          new ListSecretVersionIdsCommand({ SecretId: secretId, IncludeDeprecated: true, NextToken: nextToken }),
        ),
      );
      for (const version of out.Versions ?? []) {
        if (version.VersionId) versions.push(listedVersion({ ...version, VersionId: version.VersionId }));
      }
      nextToken = out.NextToken;
    } while (nextToken);
    return versions;
  }

  async record(secretId: string, record: RotationRecord): Promise<void> {
    await this.call("TagResource", secretId, () =>
      this.client.send(new TagResourceCommand(recordInput(secretId, record))),
    );
  }

  private async call<T>(operation: string, secretId: string, send: () => Promise<T>): Promise<T> {
    try {
      return await send();
    } catch (error) {
      throw storeError(operation, secretId, error);
    }
  }
}

/** One version of ListSecretVersionIds' answer. Pure: the AWS and the model adapters both use it. */
export function listedVersion(version: { VersionId: string; VersionStages?: string[]; CreatedDate?: Date }) {
  const createdDate = version.CreatedDate ? new Date(version.CreatedDate) : undefined;
  return {
    versionId: version.VersionId,
    stages: [...(version.VersionStages ?? [])],
    ...(createdDate && !Number.isNaN(createdDate.getTime()) && { createdDate }),
  };
}

/** PutSecretValue's input for a pending value. Pure: the AWS and the model adapters both use it. */
export function pendingValueInput(secretId: string, versionId: string, value: string) {
  return { SecretId: secretId, ClientRequestToken: versionId, SecretString: value, VersionStages: [AWSPENDING] };
}

/** TagResource's input for a rotation record: one call, the outcome and the marks together. Pure: both adapters use it. */
export function recordInput(secretId: string, record: RotationRecord) {
  return { SecretId: secretId, Tags: recordTags(record) };
}

/** GetSecretValue's input: the stage, the version, or both; never neither. Pure: both adapters use it. */
export function valueRefInput(secretId: string, ref: ValueRef) {
  return {
    SecretId: secretId,
    ...(ref.stage !== undefined && { VersionStage: ref.stage }),
    ...(ref.versionId !== undefined && { VersionId: ref.versionId }),
  };
}

/** UpdateSecretVersionStage's input. Pure: the AWS and the model adapters both use it. */
export function stageMoveInput(
  secretId: string,
  stage: string,
  move: { toVersionId?: string; fromVersionId?: string },
) {
  return {
    SecretId: secretId,
    VersionStage: stage,
    ...(move.toVersionId !== undefined && { MoveToVersionId: move.toVersionId }),
    ...(move.fromVersionId !== undefined && { RemoveFromVersionId: move.fromVersionId }),
  };
}

/**
 * DescribeSecret's answer as the guard wants it: versions without labels left out (moto lists them with []), and the
 * rotation's marks from the tags.
 */
export function describedSecret(
  secretId: string,
  out: {
    ARN?: string;
    Name?: string;
    RotationEnabled?: boolean;
    VersionIdsToStages?: Record<string, string[]>;
    LastRotatedDate?: Date;
    NextRotationDate?: Date;
    RotationRules?: { AutomaticallyAfterDays?: number; ScheduleExpression?: string; Duration?: string };
    Tags?: { Key?: string; Value?: string }[];
  },
): SecretDescription {
  if (!out.ARN || !out.Name)
    throw invalidAnswer("DescribeSecret", `DescribeSecret ${secretId}: the answer has no ARN or Name`);
  const versionStages: Record<string, string[]> = {};
  for (const [versionId, stages] of Object.entries(out.VersionIdsToStages ?? {})) {
    if (stages.length > 0) versionStages[versionId] = [...stages];
  }
  const rules = out.RotationRules;
  const schedule: RotationScheduleState = {
    ...(out.LastRotatedDate && { lastRotated: new Date(out.LastRotatedDate) }),
    ...(out.NextRotationDate && { nextRotation: new Date(out.NextRotationDate) }),
    ...(rules?.AutomaticallyAfterDays && { automaticallyAfterDays: rules.AutomaticallyAfterDays }),
    ...(rules?.ScheduleExpression && { scheduleExpression: rules.ScheduleExpression }),
    ...(rules?.Duration && { window: rules.Duration }),
  };
  return {
    arn: out.ARN,
    name: out.Name,
    rotationEnabled: out.RotationEnabled === true,
    versionStages,
    schedule,
    marks: marksFromTags(out.Tags),
  };
}

/** GetSecretValue's answer, checked: a binary secret or an answer without a version id is an error, not a value. */
export function storedValue(
  secretId: string,
  ref: ValueRef,
  out: { VersionId?: string; SecretString?: string; VersionStages?: string[] },
): StoredValue {
  const asked = ref.stage ?? `version ${ref.versionId}`;
  if (out.VersionId === undefined || out.SecretString === undefined) {
    throw invalidAnswer(
      "GetSecretValue",
      `GetSecretValue ${secretId} ${asked}: the version has no SecretString (binary secrets are not supported)`,
    );
  }
  if (ref.versionId !== undefined && out.VersionId !== ref.versionId) {
    throw invalidAnswer(
      "GetSecretValue",
      `GetSecretValue ${secretId} ${asked}: asked for version ${ref.versionId}, got ${out.VersionId}`,
    );
  }
  if (ref.stage !== undefined && out.VersionStages && !out.VersionStages.includes(ref.stage)) {
    throw invalidAnswer(
      "GetSecretValue",
      `GetSecretValue ${secretId}: version ${out.VersionId} answered for ${ref.stage} does not carry that label`,
    );
  }
  return { versionId: out.VersionId, value: out.SecretString };
}

/** A Secrets Manager call failed: the operation and the service's exception name as fields, no raw response. */
export class SecretStoreError extends AwsServiceError {
  override name = "SecretStoreError";
}

/**
 * Translates any error of a Secrets Manager call into a SecretStoreError with the service's exception name and
 * message, prefixed with the operation and secret id. Shared with the model adapter so both fail alike.
 */
export function storeError(operation: string, secretId: string, error: unknown): SecretStoreError {
  if (error instanceof SecretStoreError) return error;
  const failure = awsFailure(operation, error);
  return new SecretStoreError(failure, awsFailureMessage(secretId, failure));
}

function invalidAnswer(operation: string, message: string): SecretStoreError {
  return new SecretStoreError({ operation }, message);
}
