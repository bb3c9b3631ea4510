import { randomUUID } from "node:crypto";
import { readRotationConfig } from "../../lambdas/contract/configuration.js";
import { type AtHardLimit, rotationEnvironment } from "../../lambdas/contract/environment.js";
import { parseRevocationRequest } from "../../lambdas/contract/revocation-request.js";
import { ROTATION_STEPS, type RotationStep } from "../../lambdas/contract/rotation-event.js";
import { managerCredentials, type RotationDeps, readKeySecret } from "../../lambdas/core/context.js";
import { replacementKeyName } from "../../lambdas/core/key-name.js";
import {
  AWSCURRENT,
  type AWSPENDING,
  type AWSPREVIOUS,
  type Clock,
  type CreatedNovalaKey,
  type KeyApi,
} from "../../lambdas/core/ports.js";
import type { ManagerCredentials } from "../../lambdas/core/possession.js";
import { type DueRevocationOutcome, runDueRevocation } from "../../lambdas/core/revocation-usage.js";
import { runRotationStep } from "../../lambdas/core/rotation.js";
import { MemoryRotationEvents } from "../../local/memory-rotation-events.js";
import { ModelRevocationScheduler, ModelSecretStore } from "../../local/model-adapters.js";
import { NovalaModel } from "../../local/novala-model.js";
import { RecordingTelemetry } from "../../local/recording-telemetry.js";
import { SchedulerModel } from "../../local/scheduler-model.js";
import { SecretsManagerModel } from "../../local/secrets-manager-model.js";
import { TEST_DEAD_LETTER_QUEUE_ARN, TEST_REVOCATION_FUNCTION_ARN, TEST_SCHEDULER_ROLE_ARN } from "./fake-aws.js";
import { ModelKeyApi } from "./memory-key-api.js";

/** A clock that time-travels: sleep() advances it at once, so backoffs and deadlines cost no real time. */
export class FakeClock implements Clock {
  constructor(private ms = Date.parse("2026-11-27T17:00:00Z")) {}
  now(): Date {
    return new Date(this.ms);
  }
  async sleep(ms: number): Promise<void> {
    this.ms += ms;
  }
  advance(ms: number): void {
    this.ms += ms;
  }
}

export const BASE_URL = "https://acme.novala.ai";
export const SCHEDULE_GROUP = "novala-revocations";
export const CONSUMER_SCOPES = ["leads.lead.read", "pipeline"];
/** Other teams' scopes differ from CONSUMER_SCOPES, so a key cloned from theirs would show. */
export const VICTIM_SCOPES = ["bookings.read", "leads.lead.read"];
export const BYSTANDER_SCOPES = ["bookings.read"];

export interface WorldOptions {
  graceSeconds?: number;
  healthCheckDeadlineSeconds?: number;
  /** A consumer key managed by a separate manager secret (default) or a self-managed key. */
  managed?: boolean;
  scopes?: string[];
  /** Extra fields in the secret value, which rotation must keep. */
  extraFields?: Record<string, unknown>;
  /** Other teams' secrets on the same tenant (see {@link Neighbours}); default none. */
  neighbours?: boolean;
  /** The usage rule of due revocations (defaults: the contract's, 1 h, 7 days, revoke). */
  quietWindowSeconds?: number;
  hardLimitSeconds?: number;
  atHardLimit?: AtHardLimit;
}

/**
 * What else lives on the tenant when `neighbours` is set: the manager secret and key (also for a self-managed world,
 * where the rotated secret does not use them), a second team's consumer secret ("victim") whose AWSCURRENT holds a key
 * the rotator made in an earlier rotation (its name carries the victim secret's lineage tag) and whose AWSPREVIOUS holds
 * the key that rotation revoked, and a third team's consumer secret ("bystander") holding a key made by hand.
 */
export interface Neighbours {
  managerKey: CreatedNovalaKey;
  managerSecretArn: string;
  victimSecretArn: string;
  /** Rotator-made, active, AWSCURRENT of the victim secret (version victimVersions.current). */
  victimKey: CreatedNovalaKey;
  /** Revoked, AWSPREVIOUS of the victim secret (version victimVersions.previous). */
  victimOldKey: CreatedNovalaKey;
  victimVersions: { current: string; previous: string };
  bystanderSecretArn: string;
  bystanderKey: CreatedNovalaKey;
  bystanderVersion: string;
}

/**
 * Everything a rotation touches, in memory: Secrets Manager, Scheduler and Novala models behind the same ports the
 * Lambdas use, with a secret holding a first key pair. Tests drive steps the way Secrets Manager does.
 */
export function createWorld(options: WorldOptions = {}) {
  const clock = new FakeClock();
  const novala = new NovalaModel({ now: () => clock.now().getTime() });
  const secretsManager = new SecretsManagerModel({ clock });
  const schedulerModel = new SchedulerModel({ clock, groups: [SCHEDULE_GROUP] });
  const keys = new ModelKeyApi(novala);
  const telemetry = new RecordingTelemetry();
  const graceSeconds = options.graceSeconds ?? 0;
  const config = readRotationConfig(
    rotationEnvironment({
      allowedHosts: ["*.novala.ai"],
      gracePeriodSeconds: graceSeconds,
      scheduleGroup: SCHEDULE_GROUP,
      revocationFunctionArn: TEST_REVOCATION_FUNCTION_ARN,
      schedulerRoleArn: TEST_SCHEDULER_ROLE_ARN,
      deadLetterQueueArn: TEST_DEAD_LETTER_QUEUE_ARN,
      healthCheckDeadlineSeconds: options.healthCheckDeadlineSeconds ?? 30,
      ...(options.quietWindowSeconds !== undefined && { revocationQuietWindowSeconds: options.quietWindowSeconds }),
      ...(options.hardLimitSeconds !== undefined && { revocationHardLimitSeconds: options.hardLimitSeconds }),
      ...(options.atHardLimit && { atRevocationHardLimit: options.atHardLimit }),
    }),
  );
  const scheduler = new ModelRevocationScheduler(
    schedulerModel,
    config.revocation ?? {
      scheduleGroup: SCHEDULE_GROUP,
      functionArn: TEST_REVOCATION_FUNCTION_ARN,
      schedulerRoleArn: TEST_SCHEDULER_ROLE_ARN,
    },
  );
  const events = new MemoryRotationEvents();
  const deps: RotationDeps = {
    store: new ModelSecretStore(secretsManager),
    keys,
    scheduler,
    events,
    telemetry,
    clock,
    config,
  };

  const managed = options.managed ?? true;
  const scopes = options.scopes ?? CONSUMER_SCOPES;
  const firstKey = novala.seedKey({
    name: "Acumatica Integration",
    scopes: managed ? scopes : [...scopes, "api_keys.manage"],
  });
  let managerKey: CreatedNovalaKey | undefined;
  let managerSecretArn: string | undefined;
  if (managed) {
    managerKey = novala.seedKey({ name: "Rotation manager", scopes: ["api_keys.manage"] });
    managerSecretArn = secretsManager.createSecret({
      Name: "novala/manager",
      SecretString: secretValue(managerKey),
    }).ARN;
  }
  const secretArn = secretsManager.createSecret({
    Name: "novala/acumatica",
    SecretString: secretValue(firstKey, {
      ...options.extraFields,
      ...(managerSecretArn && { managerSecretId: managerSecretArn }),
    }),
  }).ARN;
  const neighbours = options.neighbours
    ? seedNeighbours(
        novala,
        secretsManager,
        managerKey && managerSecretArn ? { managerKey, managerSecretArn } : undefined,
      )
    : undefined;

  /** RotateSecret: enables rotation and makes the AWSPENDING version. */
  function startRotation(token: string = randomUUID(), rotateImmediately = true): string {
    secretsManager.rotateSecret({
      SecretId: secretArn,
      ClientRequestToken: token,
      RotationLambdaARN: "arn:aws:lambda:us-east-1:123456789012:function:novala-rotation",
      RotationRules: { AutomaticallyAfterDays: 30 },
      RotateImmediately: rotateImmediately,
    });
    return token;
  }

  function step(name: RotationStep, token: string): Promise<void> {
    return runRotationStep(deps, name, secretArn, token);
  }

  /** A whole rotation, as Secrets Manager runs it; throws what the first failing step throws. */
  async function rotate(token = startRotation()): Promise<string> {
    for (const name of ROTATION_STEPS) await step(name, token);
    return token;
  }

  function valueAt(stage: string): Record<string, unknown> | undefined {
    try {
      return JSON.parse(secretsManager.getSecretValue({ SecretId: secretArn, VersionStage: stage }).SecretString ?? "");
    } catch {
      return undefined;
    }
  }

  function stages(): Record<string, string[]> {
    return secretsManager.describeSecret({ SecretId: secretArn }).VersionIdsToStages ?? {};
  }

  /**
   * Fires every revocation schedule that is due, as EventBridge Scheduler would, through the revocation function's
   * rule (runDueRevocation); a postponement made while firing fires later, when it is due. The outcomes, by kind.
   */
  async function fireDueRevocations(): Promise<DueRevocationOutcome["outcome"][]> {
    return (await fireDueRevocationsWithFacts()).map((done) => done.outcome);
  }

  /** As fireDueRevocations, with what each check found and the schedule that fired it. */
  async function fireDueRevocationsWithFacts(): Promise<(DueRevocationOutcome & { firedBy: string })[]> {
    const outcomes = [];
    for (const schedule of schedulerModel.due(clock.now())) {
      const request = parseRevocationRequest(schedule.Target?.Input ?? "{}");
      outcomes.push({ ...(await runDueRevocation(deps, request)), firedBy: schedule.Name });
      schedulerModel.completed({ Name: schedule.Name, GroupName: schedule.GroupName });
    }
    return outcomes;
  }

  /**
   * Puts a value for `key` into the rotated secret, as a writer of the secret would (PutSecretValue), at `stages`
   * (default AWSCURRENT), keeping the manager secret it names; `extra` adds or overrides fields. Returns the version id.
   */
  function putKey(key: CreatedNovalaKey, stages: string[] = [AWSCURRENT], extra: Record<string, unknown> = {}): string {
    return secretsManager.putSecretValue({
      SecretId: secretArn,
      SecretString: secretValue(key, { ...(managerSecretArn && { managerSecretId: managerSecretArn }), ...extra }),
      VersionStages: stages,
    }).VersionId as string;
  }

  /** AWSCURRENT's value as the steps read and validate it. */
  async function current() {
    const value = await readKeySecret(deps, secretArn, AWSCURRENT);
    if (!value) throw new Error(`the world's secret has no ${AWSCURRENT} value`);
    return value;
  }

  /** The credentials the steps act with: the manager key's, or for a self-managed secret its current key's. */
  async function manager(): Promise<ManagerCredentials> {
    return managerCredentials(deps, secretArn, await current());
  }

  /**
   * A key as the rotator mints it for version `versionId` of the secret (its name carries that version's lineage tag),
   * with the first key's scopes; `propagate`: it answers 401 until Novala's propagation delay has passed.
   */
  function mintedFor(versionId: string, propagate = false): CreatedNovalaKey {
    return novala.seedKey({
      name: replacementKeyName("Acumatica Integration", secretArn, versionId),
      scopes: firstKey.scopes,
      propagate,
    });
  }

  /** A fake of the KeyApi port: the world's Novala, with the answers of `overrides` instead of its own. */
  function keysWith(overrides: Partial<KeyApi>): KeyApi {
    return Object.assign(Object.create(keys), overrides);
  }

  /** Keys the rotator created (they carry a rotation tag) that are active at Novala. */
  function activeRotatorKeys() {
    return novala.keys().filter((key) => key.status === "active" && / · rot [0-9a-f]{24}$/.test(key.name));
  }

  return {
    clock,
    novala,
    secretsManager,
    schedulerModel,
    keys,
    events,
    telemetry,
    deps,
    config,
    secretArn,
    managerSecretArn,
    firstKey,
    managerKey,
    neighbours,
    startRotation,
    step,
    rotate,
    valueAt,
    stages,
    fireDueRevocations,
    fireDueRevocationsWithFacts,
    activeRotatorKeys,
    putKey,
    current,
    manager,
    keysWith,
    mintedFor,
    stageOf: (stage: typeof AWSCURRENT | typeof AWSPENDING | typeof AWSPREVIOUS) =>
      Object.entries(stages()).find(([, labels]) => labels.includes(stage))?.[0],
  };
}

export type World = ReturnType<typeof createWorld>;

function seedNeighbours(
  novala: NovalaModel,
  secretsManager: SecretsManagerModel,
  manager: { managerKey: CreatedNovalaKey; managerSecretArn: string } | undefined,
): Neighbours {
  const managerKey = manager?.managerKey ?? novala.seedKey({ name: "Rotation manager", scopes: ["api_keys.manage"] });
  const managerSecretArn =
    manager?.managerSecretArn ??
    secretsManager.createSecret({ Name: "novala/manager", SecretString: secretValue(managerKey) }).ARN;
  const managed = { managerSecretId: managerSecretArn };

  const victimOldKey = novala.seedKey({ name: "Victim Integration", scopes: VICTIM_SCOPES });
  const victimFirst = secretsManager.createSecret({
    Name: "novala/victim",
    SecretString: secretValue(victimOldKey, managed),
  });
  // An earlier rotation of the victim secret: its key carries the victim's lineage tag; the old key is revoked.
  const victimVersion = randomUUID();
  const victimKey = novala.seedKey({
    name: replacementKeyName("Victim Integration", victimFirst.ARN, victimVersion),
    scopes: VICTIM_SCOPES,
  });
  secretsManager.putSecretValue({
    SecretId: victimFirst.ARN,
    ClientRequestToken: victimVersion,
    SecretString: secretValue(victimKey, { ...managed, name: "Victim Integration" }),
  });
  novala.forceRevoke(victimOldKey.id);

  const bystanderKey = novala.seedKey({ name: "Bystander Integration", scopes: BYSTANDER_SCOPES });
  const bystander = secretsManager.createSecret({
    Name: "novala/bystander",
    SecretString: secretValue(bystanderKey, managed),
  });
  return {
    managerKey,
    managerSecretArn,
    victimSecretArn: victimFirst.ARN,
    victimKey,
    victimOldKey: { ...victimOldKey, status: "revoked" },
    victimVersions: { current: victimVersion, previous: victimFirst.VersionId as string },
    bystanderSecretArn: bystander.ARN,
    bystanderKey,
    bystanderVersion: bystander.VersionId as string,
  };
}

export function secretValue(key: CreatedNovalaKey, extra: Record<string, unknown> = {}): string {
  return JSON.stringify({
    baseUrl: BASE_URL,
    keyId: key.id,
    name: key.name,
    scopes: key.scopes.filter((scope) => scope !== "api_keys.manage" || key.name === "Rotation manager"),
    publishableKey: key.publishableKey,
    secretKey: key.secretKey,
    createdAt: key.createdAt,
    ...extra,
  });
}

/**
 * A process that dies around a side effect: the `nth` call (1-based) of `port.method` throws Crash "before" the real
 * call (nothing done) or "after" it (done, answer lost), and from then on every call of every port throws too, so no
 * cleanup code can run — as when Lambda's process is killed. Secrets Manager's retry then runs with the clean deps.
 */
export class Crash extends Error {
  override name = "Crash";
}

type Port = "store" | "keys" | "scheduler";

export function crashPoint(deps: RotationDeps, port: Port, method: string, when: "before" | "after", nth = 1) {
  let calls = 0;
  let dead = false;
  const wrap = <T extends object>(target: T, name: Port): T =>
    new Proxy(target, {
      get(object, property) {
        const value = Reflect.get(object, property, object);
        if (typeof value !== "function") return value;
        return async (...args: unknown[]) => {
          if (dead) throw new Crash("the process is dead");
          if (name !== port || property !== method || ++calls !== nth) return value.apply(object, args);
          dead = true;
          if (when === "before") throw new Crash(`crash before ${port}.${method}`);
          await value.apply(object, args);
          throw new Crash(`crash after ${port}.${method}`);
        };
      },
    });
  const faulty: RotationDeps = {
    ...deps,
    store: wrap(deps.store, "store"),
    keys: wrap(deps.keys, "keys"),
    scheduler: wrap(deps.scheduler, "scheduler"),
  };
  return { deps: faulty, fired: () => dead };
}
