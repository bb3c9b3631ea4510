import { CloudFormationClient } from "@aws-sdk/client-cloudformation";
import { EventBridgeClient } from "@aws-sdk/client-eventbridge";
import { LambdaClient } from "@aws-sdk/client-lambda";
import {
  DeleteScheduleCommand,
  GetScheduleCommand,
  type GetScheduleCommandOutput,
  GetScheduleGroupCommand,
  paginateListSchedules,
  SchedulerClient,
} from "@aws-sdk/client-scheduler";
import {
  DescribeSecretCommand,
  type DescribeSecretCommandOutput,
  GetSecretValueCommand,
  paginateListSecretVersionIds,
  SecretsManagerClient,
} from "@aws-sdk/client-secrets-manager";
import { AwsServiceError, awsServiceError } from "../lambdas/adapters/aws/errors.js";
import { AwsSecretStore, storeError } from "../lambdas/adapters/aws/secret-store.js";
import type { RevocationRequest } from "../lambdas/contract/revocation-request.js";
import { isScheduleOrPostponement } from "../lambdas/core/key-name.js";
import { CliError, EXIT } from "./errors.js";

/**
 * AWS for the command line: clients built from --profile/--region/--endpoint-url on top of the SDK's default chain
 * (environment, shared config, SSO, instance roles), the Lambdas' own SecretStore over them, and the few reads and
 * Scheduler calls the commands make beyond the SecretStore port.
 */
export interface AwsOptions {
  /** Applied by useProfile (cli/profile.ts) before the command runs (the process's environment), not per client. */
  profile?: string;
  region?: string;
  endpointUrl?: string;
  /** --stack: the stack whose rotation function the command may act through (cli/deployment.ts, verifyDeployment). */
  stack?: string;
}

export interface Aws {
  secrets: SecretsManagerClient;
  scheduler: SchedulerClient;
  /** Reads the rotation function's configuration (cli/deployment.ts). */
  lambda: LambdaClient;
  /** Publishes rollback's Key Rotation Rolled Back event. */
  events: EventBridgeClient;
  /** Lists the expected stack's resources (verifyDeployment), when the function carries no stack tag. */
  cloudformation: CloudFormationClient;
  store: AwsSecretStore;
  /** The stack named by --stack (or NOVALA_ROTATION_STACK): the only one whose rotation function is trusted. */
  expectedStack?: string;
  destroy(): void;
}

export function createAws(options: AwsOptions): Aws {
  if (options.endpointUrl !== undefined) checkEndpoint(options.endpointUrl);
  const config = {
    ...(options.region && { region: options.region }),
    ...(options.endpointUrl && { endpoint: options.endpointUrl }),
  };
  const secrets = new SecretsManagerClient(config);
  const scheduler = new SchedulerClient(config);
  const lambda = new LambdaClient(config);
  const events = new EventBridgeClient(config);
  const cloudformation = new CloudFormationClient(config);
  const expectedStack = options.stack ?? (process.env.NOVALA_ROTATION_STACK?.trim() || undefined);
  return {
    secrets,
    scheduler,
    lambda,
    events,
    cloudformation,
    store: new AwsSecretStore(secrets),
    ...(expectedStack && { expectedStack }),
    destroy() {
      for (const client of [secrets, scheduler, lambda, events, cloudformation]) client.destroy();
    },
  };
}

function checkEndpoint(url: string): void {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new CliError(`--endpoint-url: "${url}" is not a URL`, EXIT.usage);
  }
  if (parsed.protocol !== "http:" && parsed.protocol !== "https:") {
    throw new CliError(`--endpoint-url: expected an http or https URL, got ${parsed.protocol}`, EXIT.usage);
  }
}

/** DescribeSecret, with the service's error reduced to one line naming the secret. */
export async function describeSecret(aws: Aws, secretId: string): Promise<DescribeSecretCommandOutput> {
  try {
    const out = await aws.secrets.send(new DescribeSecretCommand({ SecretId: secretId }));
    if (!out.ARN || !out.Name) throw new CliError(`DescribeSecret ${secretId}: the answer has no ARN or Name`);
    return out;
  } catch (error) {
    if (error instanceof CliError) throw error;
    throw storeError("DescribeSecret", secretId, error);
  }
}

/** Whether an error is an AWS call's ResourceNotFoundException, as storeError and awsServiceError report it. */
export function isNotFound(error: unknown): boolean {
  return error instanceof AwsServiceError && error.is("ResourceNotFoundException");
}

export interface LabelledVersion {
  versionId: string;
  stages: string[];
  createdDate?: Date;
}

/** The versions that carry at least one staging label (moto also lists unlabelled ones): AWSCURRENT first. */
export async function labelledVersions(aws: Aws, secretArn: string): Promise<LabelledVersion[]> {
  const versions: LabelledVersion[] = [];
  try {
    for await (const page of paginateListSecretVersionIds({ client: aws.secrets }, { SecretId: secretArn })) {
      for (const version of page.Versions ?? []) {
        const stages = version.VersionStages ?? [];
        if (!version.VersionId || stages.length === 0) continue;
        versions.push({
          versionId: version.VersionId,
          stages: [...stages],
          ...(version.CreatedDate && { createdDate: version.CreatedDate }),
        });
      }
    }
  } catch (error) {
    throw storeError("ListSecretVersionIds", secretArn, error);
  }
  return versions.sort((a, b) => stageRank(a.stages) - stageRank(b.stages));
}

const STAGE_ORDER = ["AWSCURRENT", "AWSPENDING", "AWSPREVIOUS"];

function stageRank(stages: string[]): number {
  const ranks = stages.map((stage) => STAGE_ORDER.indexOf(stage)).filter((rank) => rank >= 0);
  return ranks.length > 0 ? Math.min(...ranks) : STAGE_ORDER.length;
}

/**
 * The value of a version by id alone, which also reads a version that lost its labels (a rotation rolled back by
 * testSecret). Undefined when it cannot be read.
 */
export async function versionValue(aws: Aws, secretArn: string, versionId: string): Promise<string | undefined> {
  try {
    const out = await aws.secrets.send(new GetSecretValueCommand({ SecretId: secretArn, VersionId: versionId }));
    return out.SecretString;
  } catch {
    return undefined;
  }
}

/** A revocation schedule as the commands show it. */
export interface RevocationSchedule {
  name: string;
  group: string;
  keyId?: string;
  secretId?: string;
  revokeAfter?: string;
  /** A postponed revocation's count, the last use that postponed it and its hard limit (the input's, shown only). */
  postponements?: number;
  lastUsedAt?: string;
  hardLimitAt?: string;
  expression?: string;
  state?: string;
  /** The target (revocation function, role, dead-letter queue), so rollback can schedule alike. */
  target?: GetScheduleCommandOutput["Target"];
}

/**
 * The schedules in `group` (whose names start with `prefix`, when given), each read with GetSchedule for its input.
 * A group that does not exist holds no schedules.
 */
export async function revocationSchedules(aws: Aws, group: string, prefix?: string): Promise<RevocationSchedule[]> {
  const names: string[] = [];
  try {
    for await (const page of paginateListSchedules(
      { client: aws.scheduler },
      { GroupName: group, ...(prefix && { NamePrefix: prefix }) },
    )) {
      for (const schedule of page.Schedules ?? []) if (schedule.Name) names.push(schedule.Name);
    }
  } catch (error) {
    const failure = awsServiceError("ListSchedules", group, error);
    if (isNotFound(failure)) return [];
    throw failure;
  }
  const schedules: RevocationSchedule[] = [];
  for (const name of names) {
    const schedule = await getRevocationSchedule(aws, group, name);
    if (schedule) schedules.push(schedule);
  }
  return schedules;
}

/**
 * What is wrong when the revocation schedule group does not exist (moto's CloudFormation does not create an
 * AWS::Scheduler::ScheduleGroup; on AWS someone deleted it), with the command that fixes it: every rotation then
 * fails at finishSecret, when it schedules the old key's revocation. Undefined when the group exists, or when it
 * cannot be asked (GetScheduleGroup is an extra right the operator may not hold).
 */
export async function missingScheduleGroup(aws: Aws, group: string): Promise<string | undefined> {
  try {
    await aws.scheduler.send(new GetScheduleGroupCommand({ Name: group }));
    return undefined;
  } catch (error) {
    if (!isNotFound(awsServiceError("GetScheduleGroup", group, error))) return undefined;
    return (
      `schedule group ${group} does not exist, so no revocation can be scheduled and rotations fail at ` +
      `finishSecret: create it with aws scheduler create-schedule-group --name ${group}`
    );
  }
}

/** GetSchedule, read as a revocation schedule; undefined when there is no such schedule. */
export async function getRevocationSchedule(
  aws: Aws,
  group: string,
  name: string,
): Promise<RevocationSchedule | undefined> {
  let out: GetScheduleCommandOutput;
  try {
    out = await aws.scheduler.send(new GetScheduleCommand({ GroupName: group, Name: name }));
  } catch (error) {
    const failure = awsServiceError("GetSchedule", `${group}/${name}`, error);
    if (isNotFound(failure)) return undefined;
    throw failure;
  }
  const input = parseInput(out.Target?.Input);
  return {
    name,
    group,
    ...(input?.keyId && { keyId: input.keyId }),
    ...(input?.secretId && { secretId: input.secretId }),
    ...(input?.revokeAfter && { revokeAfter: input.revokeAfter }),
    ...(input?.postponements !== undefined && { postponements: input.postponements }),
    ...(input?.lastUsedAt && { lastUsedAt: input.lastUsedAt }),
    ...(input?.hardLimitAt && { hardLimitAt: input.hardLimitAt }),
    ...(out.ScheduleExpression && { expression: out.ScheduleExpression }),
    ...(out.State && { state: out.State }),
    ...(out.Target && { target: out.Target }),
  };
}

/** DeleteSchedule; resolves false when it was not there. */
export async function deleteSchedule(aws: Aws, group: string, name: string): Promise<boolean> {
  try {
    await aws.scheduler.send(new DeleteScheduleCommand({ GroupName: group, Name: name }));
    return true;
  } catch (error) {
    const failure = awsServiceError("DeleteSchedule", `${group}/${name}`, error);
    if (isNotFound(failure)) return false;
    throw failure;
  }
}

/**
 * Deletes the revocation schedule `name` and its postponements (`name-p1`, …: lambdas/core/key-name.ts); resolves
 * whether there was any.
 */
export async function deleteRevocationSchedules(aws: Aws, group: string, name: string): Promise<boolean> {
  const own = (await revocationSchedules(aws, group, name)).filter((schedule) =>
    isScheduleOrPostponement(schedule.name, name),
  );
  let deleted = false;
  for (const schedule of own) deleted = (await deleteSchedule(aws, group, schedule.name)) || deleted;
  return deleted;
}

/** When a one-time schedule fires: its input's revokeAfter, else the time in its at() expression. */
export function scheduleTime(schedule: RevocationSchedule): string | undefined {
  if (schedule.revokeAfter) return schedule.revokeAfter;
  const at = schedule.expression?.match(/^at\((.+)\)$/)?.[1];
  return at ? `${at}Z` : undefined;
}

function parseInput(input: string | undefined): Partial<RevocationRequest> | undefined {
  if (!input) return undefined;
  try {
    const parsed: unknown = JSON.parse(input);
    if (typeof parsed !== "object" || parsed === null) return undefined;
    const out: Partial<RevocationRequest> = {};
    for (const field of ["secretId", "keyId", "rotationToken", "revokeAfter", "lastUsedAt", "hardLimitAt"] as const) {
      const value = (parsed as Record<string, unknown>)[field];
      if (typeof value === "string") out[field] = value;
    }
    const postponements = (parsed as Record<string, unknown>).postponements;
    if (Number.isSafeInteger(postponements)) out.postponements = postponements as number;
    return out;
  } catch {
    return undefined;
  }
}
