import { buildRevocationScheduleInput, schedulerError } from "../lambdas/adapters/aws/revocation-scheduler.js";
import {
  describedSecret,
  listedVersion,
  pendingValueInput,
  stageMoveInput,
  storedValue,
  storeError,
  valueRefInput,
} from "../lambdas/adapters/aws/secret-store.js";
import type { RevocationTarget } from "../lambdas/contract/configuration.js";
import type { RevocationRequest } from "../lambdas/contract/revocation-request.js";
import { isScheduleOrPostponement } from "../lambdas/core/key-name.js";
import type {
  RevocationScheduler,
  SecretDescription,
  SecretStore,
  SecretVersion,
  StoredValue,
  ValueRef,
} from "../lambdas/core/ports.js";
import {
  ConflictException as ScheduleConflict,
  ResourceNotFoundException as ScheduleNotFound,
  type SchedulerModel,
} from "./scheduler-model.js";
import { ResourceNotFoundException as SecretNotFound, type SecretsManagerModel } from "./secrets-manager-model.js";

/**
 * The ports over the in-process models, without HTTP: for unit tests and the local run's fastest mode. They call the
 * same operations with the same parameters as the AWS adapters and reuse their answer checks, error translation and
 * schedule builder, so the two differ only in transport.
 */
export class ModelSecretStore implements SecretStore {
  constructor(private readonly model: SecretsManagerModel) {}

  async describe(secretId: string): Promise<SecretDescription> {
    return describedSecret(
      secretId,
      this.run("DescribeSecret", secretId, () => this.model.describeSecret({ SecretId: secretId })),
    );
  }

  async getValue(secretId: string, ref: ValueRef): Promise<StoredValue | undefined> {
    let out: ReturnType<SecretsManagerModel["getSecretValue"]>;
    try {
      out = this.model.getSecretValue(valueRefInput(secretId, ref));
    } catch (error) {
      if (!(error instanceof SecretNotFound)) throw storeError("GetSecretValue", secretId, error);
      // As the AWS adapter: undefined only when the secret exists and the version has no value.
      this.run("GetSecretValue", secretId, () => this.model.describeSecret({ SecretId: secretId }));
      return undefined;
    }
    return storedValue(secretId, ref, out);
  }

  async putPendingValue(secretId: string, versionId: string, value: string): Promise<void> {
    this.run("PutSecretValue", secretId, () =>
      this.model.putSecretValue(pendingValueInput(secretId, versionId, value)),
    );
  }

  async moveStage(
    secretId: string,
    stage: string,
    move: { toVersionId?: string; fromVersionId?: string },
  ): Promise<void> {
    this.run("UpdateSecretVersionStage", secretId, () =>
      this.model.updateSecretVersionStage(stageMoveInput(secretId, stage, move)),
    );
  }

  async listVersions(secretId: string): Promise<SecretVersion[]> {
    const out = this.run("ListSecretVersionIds", secretId, () =>
      this.model.listSecretVersionIds({ SecretId: secretId, IncludeDeprecated: true }),
    );
    return out.Versions.map((version) => listedVersion(version));
  }

  private run<T>(operation: string, secretId: string, call: () => T): T {
    try {
      return call();
    } catch (error) {
      throw storeError(operation, secretId, error);
    }
  }
}

export class ModelRevocationScheduler implements RevocationScheduler {
  constructor(
    private readonly model: SchedulerModel,
    private readonly target: RevocationTarget,
  ) {}

  async ensureScheduled(name: string, at: Date, request: RevocationRequest): Promise<"created" | "exists"> {
    try {
      this.model.createSchedule(buildRevocationScheduleInput(this.target, name, at, request));
      return "created";
    } catch (error) {
      if (error instanceof ScheduleConflict) return "exists";
      throw schedulerError("CreateSchedule", this.target.scheduleGroup, name, error);
    }
  }

  async isScheduled(name: string): Promise<boolean> {
    try {
      const listed = this.model.listSchedules({ GroupName: this.target.scheduleGroup, NamePrefix: name }).Schedules;
      return listed.some((schedule) => isScheduleOrPostponement(schedule.Name ?? "", name));
    } catch (error) {
      if (error instanceof ScheduleNotFound) return false;
      throw schedulerError("ListSchedules", this.target.scheduleGroup, name, error);
    }
  }
}
