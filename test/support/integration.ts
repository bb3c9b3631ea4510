import {
  ConflictException,
  CreateScheduleCommand,
  CreateScheduleGroupCommand,
  type SchedulerClient,
} from "@aws-sdk/client-scheduler";
import {
  CreateSecretCommand,
  DescribeSecretCommand,
  GetSecretValueCommand,
  type SecretsManagerClient,
} from "@aws-sdk/client-secrets-manager";
import { afterAll, afterEach, beforeAll, beforeEach } from "vitest";
import { LOCAL_ROTATION_LAMBDA_ARN } from "../../cli/secrets-manager-driver.js";
import { rotationEnvironment } from "../../lambdas/contract/environment.js";
import type { RevocationRequest } from "../../lambdas/contract/revocation-request.js";
import type { CreatedNovalaKey } from "../../lambdas/core/ports.js";
import { secretValueFor } from "../../lambdas/core/secret-value.js";
import { type NovalaSimulator, startNovalaSimulator } from "../../local/novala-simulator.js";
import {
  lambdaEnvironment,
  type Moto,
  registerMotoFunction,
  schedulerClientFor,
  secretsManagerClientFor,
  startMoto,
  TEST_REVOCATION_FUNCTION_ARN,
  TEST_SCHEDULE_GROUP,
  TEST_SCHEDULER_ROLE_ARN,
} from "./moto.js";

/**
 * One moto_server and one Novala simulator for a suite, with the Lambdas' environment pointed at both: moto is
 * started once and reset before each test, the simulator is new for each test. Call from a `describe` body.
 */
export interface Integration {
  moto: Moto;
  novala: NovalaSimulator;
  secrets: SecretsManagerClient;
  scheduler: SchedulerClient;
  /** Sets process.env as the construct would for the Lambdas, plus `overrides` (undefined deletes a variable). */
  setEnvironment(overrides?: Record<string, string | undefined>): void;
  /**
   * The rotation function "deployed" with a grace period, configured as the construct writes it (short deadlines):
   * registered in moto as LOCAL_ROTATION_LAMBDA_ARN, where the command line finds it, and set as this process's
   * environment for the handler. A grace period needs the schedule group: it is made.
   */
  deployRotationFunction(
    graceSeconds: number,
    options?: {
      allowedHosts?: string[];
      rotationConcurrency?: number;
      /** Variables added to the construct's (a setting the contract does not write yet, a usage rule). */
      extraEnvironment?: Record<string, string>;
    },
  ): Promise<void>;
  /** A one-time revocation schedule in the test group, as finishSecret (or a postponed check) makes one, due at `due`. */
  createRevocationSchedule(
    name: string,
    request: Pick<RevocationRequest, "secretId" | "keyId">,
    due: Date,
  ): Promise<void>;
  /** CreateSecret holding `key` at the simulator; resolves the ARN. */
  createSecret(name: string, key: CreatedNovalaKey, extra?: Record<string, unknown>): Promise<string>;
  /** The parsed value at `stage` (always naming the stage: moto can answer a stale version otherwise). */
  valueAt(secretId: string, stage: string): Promise<Record<string, unknown>>;
  stagesOf(secretId: string): Promise<Record<string, string[]>>;
  /** Novala's status of a key: active, revoked, or undefined when unknown. */
  status(keyId: unknown): "active" | "revoked" | undefined;
  /** Every create (POST) and revoke (DELETE) that reached the simulator, as "METHOD /path". */
  keyWrites(): string[];
}

export function useMotoAndSimulator(baseEnvironment: Record<string, string> = {}): Integration {
  const savedEnv = { ...process.env };
  const it = {} as Integration;
  useMoto(it);
  beforeEach(async () => {
    await it.moto.reset();
    it.novala = await startNovalaSimulator();
    it.setEnvironment();
  });
  afterEach(async () => {
    await it.novala?.stop();
    process.env = { ...savedEnv };
  });

  it.setEnvironment = (overrides = {}) => {
    process.env = {
      ...savedEnv,
      ...lambdaEnvironment(it.moto.endpoint, {
        HEALTH_CHECK_DEADLINE_SECONDS: "2",
        NOVALA_RETRY_BUDGET_SECONDS: "2",
        POWERTOOLS_LOG_LEVEL: "ERROR",
        ...baseEnvironment,
      }),
    };
    for (const [name, value] of Object.entries(overrides)) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  };
  it.deployRotationFunction = async (graceSeconds, options = {}) => {
    const environment = rotationEnvironment({
      allowedHosts: options.allowedHosts ?? ["127.0.0.1"],
      gracePeriodSeconds: graceSeconds,
      healthCheckDeadlineSeconds: 2,
      retryBudgetSeconds: 2,
      ...(options.rotationConcurrency !== undefined && { rotationConcurrency: options.rotationConcurrency }),
      scheduleGroup: TEST_SCHEDULE_GROUP,
      revocationFunctionArn: TEST_REVOCATION_FUNCTION_ARN,
      schedulerRoleArn: TEST_SCHEDULER_ROLE_ARN,
    });
    Object.assign(environment, options.extraEnvironment);
    it.setEnvironment(environment);
    await registerMotoFunction(it.moto.endpoint, LOCAL_ROTATION_LAMBDA_ARN, environment);
    if (graceSeconds > 0) {
      await it.scheduler.send(new CreateScheduleGroupCommand({ Name: TEST_SCHEDULE_GROUP })).catch((error) => {
        if (!(error instanceof ConflictException)) throw error;
      });
    }
  };
  it.createRevocationSchedule = async (name, request, due) => {
    await it.scheduler.send(
      new CreateScheduleCommand({
        GroupName: TEST_SCHEDULE_GROUP,
        Name: name,
        ScheduleExpression: `at(${due.toISOString().slice(0, 19)})`,
        FlexibleTimeWindow: { Mode: "OFF" },
        Target: {
          Arn: TEST_REVOCATION_FUNCTION_ARN,
          RoleArn: TEST_SCHEDULER_ROLE_ARN,
          Input: JSON.stringify({ ...request, revokeAfter: due.toISOString() }),
        },
      }),
    );
  };
  it.createSecret = async (name, key, extra = {}) => {
    const created = await it.secrets.send(
      new CreateSecretCommand({ Name: name, SecretString: secretValueFor(it.novala.url, key, extra) }),
    );
    return created.ARN as string;
  };
  it.valueAt = async (secretId, stage) => {
    const answer = await it.secrets.send(new GetSecretValueCommand({ SecretId: secretId, VersionStage: stage }));
    return JSON.parse(answer.SecretString ?? "{}") as Record<string, unknown>;
  };
  it.stagesOf = async (secretId) =>
    (await it.secrets.send(new DescribeSecretCommand({ SecretId: secretId }))).VersionIdsToStages ?? {};
  it.status = (keyId) => it.novala.model.inspect(String(keyId))?.status;
  it.keyWrites = () =>
    it.novala
      .requestLog()
      .filter((entry) => entry.method === "POST" || entry.method === "DELETE")
      .map((entry) => `${entry.method} ${entry.path}`);
  return it;
}

/** The servers of a suite that keeps one state across its tests. */
export interface SuiteServers {
  moto: Moto;
  novala: NovalaSimulator;
  secrets: SecretsManagerClient;
  scheduler: SchedulerClient;
}

/**
 * One moto_server and one Novala simulator for a whole suite, neither reset between tests (the suite builds a state
 * step by step: a deployed stack, a secret rotated by one test and inspected by the next), with Secrets Manager and
 * Scheduler clients. Call from a `describe` body before the suite's own `beforeAll`, which then seeds them.
 */
export function useMotoAndSimulatorForSuite(): SuiteServers {
  const servers = {} as SuiteServers;
  useMoto(servers);
  beforeAll(async () => {
    servers.novala = await startNovalaSimulator();
  });
  afterAll(async () => {
    await servers.novala?.stop();
  });
  return servers;
}

/** moto_server for the suite, with its Secrets Manager and Scheduler clients, into `servers`. */
function useMoto(servers: Pick<SuiteServers, "moto" | "secrets" | "scheduler">): void {
  beforeAll(async () => {
    servers.moto = await startMoto();
    servers.secrets = secretsManagerClientFor(servers.moto.endpoint);
    servers.scheduler = schedulerClientFor(servers.moto.endpoint);
  });
  afterAll(async () => {
    servers.secrets?.destroy();
    servers.scheduler?.destroy();
    await servers.moto?.stop();
  });
}
