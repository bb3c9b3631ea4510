import { randomBytes, randomUUID } from "node:crypto";
import {
  ConflictException,
  CreateScheduleCommand,
  CreateScheduleGroupCommand,
  type SchedulerClient,
} from "@aws-sdk/client-scheduler";
import {
  CreateSecretCommand,
  PutSecretValueCommand,
  type SecretsManagerClient,
  TagResourceCommand,
  UpdateSecretVersionStageCommand,
} from "@aws-sdk/client-secrets-manager";
import { LOCAL_ROTATION_LAMBDA_ARN, startRotation } from "../../cli/secrets-manager-driver.js";
import { rotationEnvironment } from "../../lambdas/contract/environment.js";
import type { RotationOutcome } from "../../lambdas/contract/rotation-outcome.js";
import { outcomeTags } from "../../lambdas/contract/rotation-outcome.js";
import { revocationScheduleName } from "../../lambdas/core/key-name.js";
import type { CreatedNovalaKey } from "../../lambdas/core/ports.js";
import { secretValueFor } from "../../lambdas/core/secret-value.js";
import type { ProblemKind, WarningKind } from "../../lambdas/core/verdict.js";
import type { NovalaSimulator } from "../../local/novala-simulator.js";
import { TEST_REVOCATION_FUNCTION_ARN, TEST_SCHEDULE_GROUP, TEST_SCHEDULER_ROLE_ARN } from "./fake-aws.js";
import { registerMotoFunction } from "./moto.js";

/**
 * A fleet of secrets in moto and the Novala simulator, one per verdict state `status` can reach there, and any number of
 * healthy ones: what the fleet view's test and its benchmark (bench/fleet-status.ts) read. Each secret's name says the
 * state `status --check` should find as its worst (the map returned). Two states moto cannot reach: a previous key past
 * its hard limit (moto dates every version at the time ListSecretVersionIds is called, so none is ever an hour old),
 * and a rotation overdue by its schedule unless `shiftClock` moves moto's clock back while the secret is rotated.
 */
export interface FleetServers {
  motoEndpoint: string;
  secrets: SecretsManagerClient;
  scheduler: SchedulerClient;
  /** The tenant of every secret but one. */
  novala: NovalaSimulator;
  /** A second tenant, which never answers a key read: its secret's verdict is unknown. */
  hangingNovala: NovalaSimulator;
}

export type FleetState = ProblemKind | WarningKind | "healthy";

export interface FleetOptions {
  /** Every secret's name starts with this. */
  prefix: string;
  /** How many healthy consumer secrets besides the one secret per state. */
  healthy: number;
  /** Moves moto's clock back by `ms` (0: back to the real time); given, the fleet also has a rotation overdue. */
  shiftClock?: (ms: number) => Promise<void>;
  /** A name the secret's value gives its key (default "Fleet consumer"): text that reaches the terminal. */
  keyName?: string;
}

const DAY_MS = 86_400_000;

/** Deploys the rotation function in moto (with a schedule group) and seeds the fleet; resolves name → expected state. */
export async function seedFleet(servers: FleetServers, options: FleetOptions): Promise<Map<string, FleetState>> {
  const { secrets, scheduler, novala } = servers;
  const { prefix } = options;
  const expected = new Map<string, FleetState>();
  const environment = rotationEnvironment({
    allowedHosts: ["127.0.0.1"],
    gracePeriodSeconds: 3600,
    scheduleGroup: TEST_SCHEDULE_GROUP,
    revocationFunctionArn: TEST_REVOCATION_FUNCTION_ARN,
    schedulerRoleArn: TEST_SCHEDULER_ROLE_ARN,
  });
  await registerMotoFunction(servers.motoEndpoint, LOCAL_ROTATION_LAMBDA_ARN, environment);
  await scheduler.send(new CreateScheduleGroupCommand({ Name: TEST_SCHEDULE_GROUP })).catch((error) => {
    if (!(error instanceof ConflictException)) throw error;
  });

  const create = async (name: string, value: string) =>
    (await secrets.send(new CreateSecretCommand({ Name: `${prefix}${name}`, SecretString: value }))).ARN as string;
  const seed = (scopes: string[], at = novala) =>
    at.model.seedKey({ name: options.keyName ?? "Fleet consumer", scopes });
  /** Rotation enabled without a rotation: RotateSecret's configuration test, then AWSPENDING removed. */
  const enableRotation = async (arn: string) => {
    const token = await startRotation(secrets, arn, { rotateImmediately: false });
    await secrets.send(
      new UpdateSecretVersionStageCommand({ SecretId: arn, VersionStage: "AWSPENDING", RemoveFromVersionId: token }),
    );
  };
  const tagOutcome = (arn: string, outcome: RotationOutcome) =>
    secrets.send(new TagResourceCommand({ SecretId: arn, Tags: outcomeTags(outcome) }));
  const consumerOf = async (name: string, manager: string, key: CreatedNovalaKey = seed(["leads.lead.read"])) => {
    const arn = await create(name, secretValueFor(novala.url, key, { managerSecretId: manager }));
    await enableRotation(arn);
    return arn;
  };
  const expect = (name: string, state: FleetState) => expected.set(`${prefix}${name}`, state);

  const manager = await create("manager", secretValueFor(novala.url, seed(["api_keys.manage"])));
  await enableRotation(manager);
  expect("manager", "healthy");

  for (let i = 1; i <= options.healthy; i++) {
    const name = `healthy-${String(i).padStart(4, "0")}`;
    await consumerOf(name, manager);
    expect(name, "healthy");
  }

  // Never rotated: a warning, healthy.
  await create(
    "rotation-not-enabled",
    secretValueFor(novala.url, seed(["leads.lead.read"]), { managerSecretId: manager }),
  );
  expect("rotation-not-enabled", "rotation-not-enabled");

  // A value that does not parse: no keyId.
  const { keyId: _dropped, ...noKeyId } = JSON.parse(secretValueFor(novala.url, seed(["leads.lead.read"])));
  await enableRotation(await create("current-value-invalid", JSON.stringify({ ...noKeyId, managerSecretId: manager })));
  expect("current-value-invalid", "current-value-invalid");

  const revokedKey = seed(["leads.lead.read"]);
  await consumerOf("current-key-revoked", manager, revokedKey);
  novala.model.forceRevoke(revokedKey.id);
  expect("current-key-revoked", "current-key-revoked");

  // A key id Novala never issued (its pair is made up: no real key material).
  const fake = `${randomBytes(12).toString("hex")}`;
  await consumerOf("current-key-unknown", manager, {
    ...seed(["leads.lead.read"]),
    id: `key_${fake}`,
    publishableKey: `pk_test_${fake}`,
    secretKey: `sk_test_${fake}`,
  });
  expect("current-key-unknown", "current-key-unknown");

  // A self-managed secret whose key was revoked in Novala's dashboard: its own key answers 401.
  const selfKey = seed(["api_keys.manage"]);
  await enableRotation(await create("current-key-unauthorized", secretValueFor(novala.url, selfKey)));
  novala.model.forceRevoke(selfKey.id);
  expect("current-key-unauthorized", "current-key-unauthorized");

  await consumerOf("manager-secret-invalid", `${prefix}no-such-manager`);
  expect("manager-secret-invalid", "manager-secret-invalid");

  // A second manager, revoked: it reads as its own dead key, and its consumer's rotations will fail.
  const deadManagerKey = seed(["api_keys.manage"]);
  const deadManager = await create("manager-revoked", secretValueFor(novala.url, deadManagerKey));
  await enableRotation(deadManager);
  await consumerOf("manager-key-dead", deadManager);
  novala.model.forceRevoke(deadManagerKey.id);
  expect("manager-revoked", "current-key-unauthorized");
  expect("manager-key-dead", "manager-key-dead");

  // AWSPENDING on a version that has no value yet: recorded as failing (stuck), or not (in progress).
  const now = new Date();
  const stuck = await consumerOf("rotation-stuck", manager);
  const stuckToken = await startRotation(secrets, stuck);
  await tagOutcome(stuck, {
    kind: "failed",
    step: "createSecret",
    token: stuckToken,
    at: now,
    reason: "NovalaUnavailableError: Novala GET /api/v1/api-keys/self failed: answered 503",
  });
  expect("rotation-stuck", "rotation-stuck");
  await startRotation(secrets, await consumerOf("rotation-in-progress", manager));
  expect("rotation-in-progress", "rotation-in-progress");

  // How the last rotation ended, recorded on a token that is not AWSCURRENT.
  const ended: [FleetState, RotationOutcome["kind"], string, string][] = [
    [
      "last-rotation-ended",
      "ended",
      "createSecret",
      "NovalaHttpError: key limit. Revoke unused keys then rotate again",
    ],
    ["last-rotation-failed", "failed", "testSecret", "NovalaUnavailableError: answered 503"],
    ["last-rotation-rolled-back", "rolled-back", "testSecret", "RotationRolledBackError: health check failed"],
  ];
  for (const [state, kind, step, reason] of ended) {
    await tagOutcome(await consumerOf(state, manager), { kind, step, token: randomUUID(), at: now, reason });
    expect(state, state);
  }

  // A retired key still active with nothing to revoke it (--check): a rotation moved AWSCURRENT, no schedule was made.
  const unscheduled = await consumerOf("previous-key-unscheduled", manager);
  const replacement = seed(["leads.lead.read"]);
  const next = randomUUID();
  await secrets.send(
    new PutSecretValueCommand({
      SecretId: unscheduled,
      ClientRequestToken: next,
      SecretString: secretValueFor(novala.url, replacement, { managerSecretId: manager }),
      VersionStages: ["AWSCURRENT"],
    }),
  );
  expect("previous-key-unscheduled", "previous-key-unscheduled");

  // A revocation schedule an hour past its time: Scheduler has not run it.
  const overdueKey = seed(["leads.lead.read"]);
  const revocationLate = await consumerOf("revocation-overdue", manager);
  await scheduler.send(
    new CreateScheduleCommand({
      GroupName: TEST_SCHEDULE_GROUP,
      Name: revocationScheduleName(revocationLate, overdueKey.id),
      ScheduleExpression: `at(${new Date(Date.now() - 3_600_000).toISOString().slice(0, 19)})`,
      FlexibleTimeWindow: { Mode: "OFF" },
      Target: {
        Arn: TEST_REVOCATION_FUNCTION_ARN,
        RoleArn: TEST_SCHEDULER_ROLE_ARN,
        Input: JSON.stringify({
          secretId: revocationLate,
          keyId: overdueKey.id,
          revokeAfter: new Date(Date.now() - 3_600_000).toISOString(),
        }),
      },
    }),
  );
  expect("revocation-overdue", "revocation-overdue");

  // The tenant that does not answer: --check gives up on it within --check-timeout.
  servers.hangingNovala.injectFault({
    match: "GET /api/v1/api-keys/{id}",
    kind: "hang",
    ms: 600_000,
    count: 1_000_000,
  });
  const farManager = await create(
    "far-manager",
    secretValueFor(servers.hangingNovala.url, seed(["api_keys.manage"], servers.hangingNovala)),
  );
  const farKey = seed(["leads.lead.read"], servers.hangingNovala);
  await enableRotation(
    await create(
      "novala-unreachable",
      secretValueFor(servers.hangingNovala.url, farKey, { managerSecretId: farManager }),
    ),
  );
  await enableRotation(farManager);
  expect("far-manager", "novala-unreachable");
  expect("novala-unreachable", "novala-unreachable");

  if (options.shiftClock) {
    // Rotated 40 days ago on a 30-day schedule: NextRotationDate and its window have passed.
    await options.shiftClock(40 * DAY_MS);
    try {
      await consumerOf("rotation-overdue", manager);
    } finally {
      await options.shiftClock(0);
    }
    expect("rotation-overdue", "rotation-overdue");
  }
  return expected;
}
