import { randomUUID } from "node:crypto";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { CreateScheduleGroupCommand, GetScheduleCommand, type SchedulerClient } from "@aws-sdk/client-scheduler";
import {
  CreateSecretCommand,
  DescribeSecretCommand,
  GetSecretValueCommand,
  PutSecretValueCommand,
  type SecretsManagerClient,
  UpdateSecretVersionStageCommand,
} from "@aws-sdk/client-secrets-manager";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { driveSteps, LOCAL_ROTATION_LAMBDA_ARN, startRotation } from "../../cli/secrets-manager-driver.js";
import { defaultScheduleGroupName, rotationEnvironment } from "../../lambdas/contract/environment.js";
import type { RotationEvent } from "../../lambdas/contract/rotation-event.js";
import { replacementKeyName, revocationScheduleName } from "../../lambdas/core/key-name.js";
import type { CreatedNovalaKey } from "../../lambdas/core/ports.js";
import { lastFour } from "../../lambdas/core/redact.js";
import { secretValueFor } from "../../lambdas/core/secret-value.js";
import type { NovalaSimulator } from "../../local/novala-simulator.js";
import { useMotoAndSimulatorForSuite } from "../support/integration.js";
import {
  lambdaEnvironment,
  type Moto,
  motoSuiteTitle,
  registerMotoFunction,
  skipMoto,
  TEST_EVENT_BUS_ARN,
  TEST_REGION,
  TEST_REVOCATION_FUNCTION_ARN,
  TEST_SCHEDULER_ROLE_ARN,
} from "../support/moto.js";
import { type CliRun, expectNoKeyMaterial, KEY_SHAPE, runCli } from "../support/run-cli.js";
import { unwrapTables } from "../support/table.js";

/**
 * The `novala-rotation` command line, each command a real child process (`node bin/novala-rotation.js …`) against
 * moto_server and the Novala simulator: what it prints, its exit code, and that no key material is in either stream.
 * moto cannot run a Lambda, so for `rotate` this test stands in for Secrets Manager: it invokes the rotation handler
 * in-process for the token RotateSecret made, while the child follows the rotation to its end.
 */

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
/** The group a stack named NovalaKeyRotation makes, which the CLI must find from the secret alone. */
const GROUP = defaultScheduleGroupName("NovalaKeyRotation");
/** The rotation function, registered in moto with the environment the construct writes (deployedEnvironment). */
const ROTATION_LAMBDA = LOCAL_ROTATION_LAMBDA_ARN;
const REVOCATION_LAMBDA = TEST_REVOCATION_FUNCTION_ARN;
const SCHEDULER_ROLE = TEST_SCHEDULER_ROLE_ARN;
const EVENT_BUS = TEST_EVENT_BUS_ARN;

/** The rotation function's environment as the construct writes it (through the contract), for a grace period. */
function deployedEnvironment(graceSeconds: number): Record<string, string> {
  return rotationEnvironment({
    allowedHosts: ["127.0.0.1"],
    gracePeriodSeconds: graceSeconds,
    healthCheckDeadlineSeconds: 5,
    retryBudgetSeconds: 5,
    scheduleGroup: GROUP,
    revocationFunctionArn: REVOCATION_LAMBDA,
    schedulerRoleArn: SCHEDULER_ROLE,
    eventBus: EVENT_BUS,
  });
}

describe.skipIf(skipMoto)(motoSuiteTitle("novala-rotation command line"), () => {
  let moto: Moto;
  let novala: NovalaSimulator;
  let secrets: SecretsManagerClient;
  let scheduler: SchedulerClient;
  const servers = useMotoAndSimulatorForSuite();
  let managerArn: string;
  let consumerArn: string;
  let consumerKey: CreatedNovalaKey;
  let handler: (event: RotationEvent) => Promise<void>;
  const savedEnv = { ...process.env };

  /** Runs the command line (or with `entry` another one of bin/); `--endpoint-url` unless `local` (the demo makes its own). */
  function cli(args: string[], options: { input?: string; local?: boolean; entry?: string } = {}): Promise<CliRun> {
    const { local, ...rest } = options;
    return runCli(args, { ...rest, ...(!local && { endpoint: moto.endpoint }) });
  }

  /** Nothing the simulator ever issued, nor anything shaped like a key, appears in what a command printed. */

  function secretJson(key: CreatedNovalaKey, extra: Record<string, unknown> = {}): string {
    return secretValueFor(novala.url, key, extra);
  }

  async function createSecret(name: string, value: string): Promise<string> {
    const created = await secrets.send(new CreateSecretCommand({ Name: name, SecretString: value }));
    return created.ARN as string;
  }

  async function stages(secretId: string): Promise<Record<string, string[]>> {
    const described = await secrets.send(new DescribeSecretCommand({ SecretId: secretId }));
    return described.VersionIdsToStages ?? {};
  }

  async function valueAt(secretId: string, stage: string): Promise<Record<string, unknown>> {
    const out = await secrets.send(new GetSecretValueCommand({ SecretId: secretId, VersionStage: stage }));
    return JSON.parse(out.SecretString ?? "{}") as Record<string, unknown>;
  }

  /** The token of the rotation a child started: the version that is AWSPENDING and not AWSCURRENT. */
  async function pendingToken(secretId: string, child: Promise<CliRun>): Promise<string> {
    let exited = false;
    void child.then(() => {
      exited = true;
    });
    const deadline = Date.now() + 30_000;
    while (!exited && Date.now() < deadline) {
      const found = Object.entries(await stages(secretId)).find(
        ([, labels]) => labels.includes("AWSPENDING") && !labels.includes("AWSCURRENT"),
      );
      if (found) return found[0];
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const run = await Promise.race([child, Promise.resolve(undefined)]);
    throw new Error(`no rotation started for ${secretId}: ${run ? run.stderr : "timed out"}`);
  }

  /** The grace period of the "deployed" function: its configuration in moto and the handler run in this process. */
  async function setGrace(seconds: number): Promise<void> {
    Object.assign(process.env, deployedEnvironment(seconds));
    await registerMotoFunction(moto.endpoint, ROTATION_LAMBDA, deployedEnvironment(seconds));
  }

  beforeAll(async () => {
    ({ moto, novala, secrets, scheduler } = servers);
    await scheduler.send(new CreateScheduleGroupCommand({ Name: GROUP }));

    // The rotation handler runs in this process, configured like the deployed Lambda but pointed at moto; the same
    // environment is registered in moto as the rotation function's, where the CLI finds it.
    Object.assign(
      process.env,
      lambdaEnvironment(moto.endpoint, {
        ...deployedEnvironment(0),
        POWERTOOLS_LOG_LEVEL: "CRITICAL",
        POWERTOOLS_METRICS_DISABLED: "true",
        AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true",
      }),
    );
    await setGrace(0);
    handler = (await import("../../lambdas/rotation/index.js")).handler;

    const manager = novala.model.seedKey({ name: "Rotation manager", scopes: ["api_keys.manage"] });
    managerArn = await createSecret("novala/manager", secretJson(manager));
    consumerKey = novala.model.seedKey({ name: "Acumatica Integration", scopes: ["leads.lead.read", "pipeline"] });
    consumerArn = await createSecret(
      "novala/acumatica",
      secretJson(consumerKey, { managerSecretId: managerArn, team: "integrations" }),
    );
  });

  afterAll(() => {
    for (const name of Object.keys(process.env)) if (!(name in savedEnv)) delete process.env[name];
    Object.assign(process.env, savedEnv);
  });

  it("lists every command in --help, and each command has its own --help", async () => {
    const [root, rotateHelp] = await Promise.all([cli(["--help"], { local: true }), cli(["rotate", "--help"])]);
    expect(root.code).toBe(0);
    for (const command of ["status", "put-key", "rotate", "leak", "revoke", "abort", "rollback", "reconcile"]) {
      expect(root.stdout).toContain(command);
    }
    // The demo is its own entry (npm run demo): the operator command line does not carry the simulator.
    expect(root.stdout).not.toMatch(/^\s+demo\b/m);
    expect(rotateHelp.code).toBe(0);
    expect(rotateHelp.stdout).toContain("--no-wait");
    expect(rotateHelp.stdout).toContain("--endpoint-url");
  });

  it("reports errors as one line on stderr with a non-zero exit code, and a usage error with 2", async () => {
    const [missing, usage] = await Promise.all([cli(["status", "novala/missing"]), cli(["rotate"])]);
    expect(missing.code).toBe(1);
    expect(missing.stderr.trim().split("\n")).toHaveLength(1);
    expect(missing.stderr).toMatch(/^novala-rotation: .*ResourceNotFoundException/);
    expect(missing.stderr).not.toMatch(/\n\s+at /);
    expect(missing.stdout).toBe("");
    expect(usage.code).toBe(2);
    expect(usage.stderr).toContain("missing required argument");
  });

  it("put-key introspects a pair from stdin and creates the secret, echoing only the last four characters", async () => {
    const key = novala.model.seedKey({ name: "Billing export", scopes: ["leads.lead.read"] });
    const run = await cli(
      ["put-key", "novala/billing", "--create", "--base-url", novala.url, "--manager-secret", "novala/manager"],
      { input: `${key.publishableKey}\n${key.secretKey}\n` },
    );
    expectNoKeyMaterial(run, novala.model.issuedKeyMaterial());
    expect(run.stderr).toBe("");
    expect(run.code).toBe(0);
    expect(run.stdout).toContain(`Stored key ${key.id} "Billing export"`);
    expect(run.stdout).toContain(`pk_live_${lastFour(key.publishableKey)}`);
    expect(run.stdout).toContain(`sk_live_${lastFour(key.secretKey)}`);
    const stored = await valueAt("novala/billing", "AWSCURRENT");
    expect(stored).toEqual({
      baseUrl: novala.url,
      keyId: key.id,
      name: "Billing export",
      scopes: ["leads.lead.read"],
      publishableKey: key.publishableKey,
      secretKey: key.secretKey,
      createdAt: key.createdAt,
      managerSecretId: "novala/manager",
    });
  });

  it("put-key refuses to overwrite a secret whose key still works, unless --force", async () => {
    const other = novala.model.seedKey({ name: "Another key", scopes: ["pipeline"] });
    const run = await cli(["put-key", "novala/acumatica", "--json"], {
      input: JSON.stringify({ publishableKey: other.publishableKey, secretKey: other.secretKey }),
    });
    expectNoKeyMaterial(run, novala.model.issuedKeyMaterial());
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(`already holds key ${consumerKey.id}, which still works at Novala; add --force`);
    expect((await valueAt("novala/acumatica", "AWSCURRENT")).keyId).toBe(consumerKey.id);

    const billing = await valueAt("novala/billing", "AWSCURRENT");
    const forced = await cli(["put-key", "novala/billing", "--force"], {
      input: `${other.secretKey} ${other.publishableKey}`,
    });
    expectNoKeyMaterial(forced, novala.model.issuedKeyMaterial());
    expect(forced.code).toBe(0);
    expect(forced.stdout).toContain(`the key it held before, ${billing.keyId}, is still active at Novala`);
    const stored = await valueAt("novala/billing", "AWSCURRENT");
    expect(stored).toMatchObject({ keyId: other.id, scopes: ["pipeline"], managerSecretId: "novala/manager" });
  });

  it("status shows versions, key metadata and rotation settings, and with --check Novala's view", async () => {
    const [text, json] = await Promise.all([
      cli(["status", "novala/acumatica", "--check"]),
      cli(["status", consumerArn, "--json"]),
    ]);
    for (const run of [text, json]) {
      expectNoKeyMaterial(run, novala.model.issuedKeyMaterial());
      expect(run.code).toBe(0);
      expect(run.stderr).toBe("");
    }
    expect(text.stdout).toContain("Secret novala/acumatica");
    expect(text.stdout).toMatch(/Rotation\s+not enabled/);
    expect(text.stdout).toMatch(new RegExp(`AWSCURRENT\\s+│ ${consumerKey.id} │ Acumatica Integration`));
    expect(text.stdout).toContain("leads.lead.read, pipeline");
    expect(text.stdout).toMatch(/│ active │ \d{4}-\d\d-\d\d [\d:]+Z │/);
    // No rotation function yet, and no --schedule-group: the rest of the status stands, the revocations are unknown.
    expect(text.stdout).toMatch(
      /Scheduled revocations\n {2}! could not list them: secret novala\/acumatica has no rotation function, so where its revocations are scheduled is unknown: give --schedule-group/,
    );
    const report = JSON.parse(json.stdout);
    expect(report.arn).toBe(consumerArn);
    expect(report.scheduleGroup).toBeNull();
    expect(report.revocationsError).toMatch(/has no rotation function/);
    expect(report.rotation.enabled).toBe(false);
    expect(report.versions).toEqual([
      expect.objectContaining({
        stages: ["AWSCURRENT"],
        keyId: consumerKey.id,
        name: "Acumatica Integration",
        scopes: ["leads.lead.read", "pipeline"],
        keyCreatedAt: consumerKey.createdAt,
        managerSecretId: managerArn,
      }),
    ]);
    expect(report.revocations).toEqual([]);
  });

  it("rotate follows a rotation driven by the rotation handler until AWSCURRENT moves (exit 0)", async () => {
    await setGrace(0);
    const child = cli(["rotate", "novala/acumatica", "--lambda-arn", ROTATION_LAMBDA, "--schedule", "rate(30 days)"]);
    const token = await pendingToken(consumerArn, child);
    await driveSteps(secrets, handler, consumerArn, token);
    const run = await child;
    expectNoKeyMaterial(run, novala.model.issuedKeyMaterial());
    expect(run.stderr).toBe("");
    expect(run.code).toBe(0);
    const current = await valueAt(consumerArn, "AWSCURRENT");
    expect(current.keyId).not.toBe(consumerKey.id);
    expect(current.team).toBe("integrations");
    expect(run.stdout).toContain(
      `RotateSecret      rotation of novala/acumatica started: version ${token} is AWSPENDING`,
    );
    expect(run.stdout).toContain(`createSecret      new key ${current.keyId} stored in AWSPENDING`);
    expect(run.stdout).toContain("testSecret        the new key passed its health check");
    expect(run.stdout).toContain(`AWSCURRENT moved to version ${token} (key ${current.keyId})`);
    expect(run.stdout).toContain("Rotation succeeded");
    expect(novala.model.inspect(consumerKey.id)?.status).toBe("revoked");
  });

  it("rotate exits non-zero with the reason when the new key fails its health check", async () => {
    await setGrace(0);
    const before = await valueAt(consumerArn, "AWSCURRENT");
    novala.injectFault({ match: "GET /api/v1/pipeline/deals", kind: "status", status: 403, count: 1000 });
    try {
      const child = cli(["rotate", "novala/acumatica", "--json"]);
      const token = await pendingToken(consumerArn, child);
      await expect(driveSteps(secrets, handler, consumerArn, token)).rejects.toThrow(/health/i);
      const run = await child;
      expectNoKeyMaterial(run, novala.model.issuedKeyMaterial());
      expect(run.code).toBe(1);
      expect(run.stderr.trim().split("\n")).toHaveLength(1);
      expect(run.stderr).toMatch(
        /rotation of novala\/acumatica failed: the new key key_\w+ \(Novala: revoked\) failed/,
      );
      expect(run.stderr).toContain("health check");
      expect(run.stderr).toContain(`AWSCURRENT still holds ${before.keyId}`);
      const report = JSON.parse(run.stdout);
      expect(report).toMatchObject({ outcome: "failed", token, previousKeyId: before.keyId });
      expect((await valueAt(consumerArn, "AWSCURRENT")).keyId).toBe(before.keyId);
    } finally {
      novala.clearFaults();
    }
  });

  it("rollback --revoke-now restores AWSPREVIOUS, revokes the key rolled away from and removes the restored key's schedule", async () => {
    // A rotation with a grace period: the old key stays active and a schedule will revoke it.
    await setGrace(3600);
    const before = await valueAt(consumerArn, "AWSCURRENT");
    const token = await startRotation(secrets, consumerArn);
    await driveSteps(secrets, handler, consumerArn, token);
    const rotated = await valueAt(consumerArn, "AWSCURRENT");
    const scheduleName = revocationScheduleName(consumerArn, String(before.keyId));
    await expect(
      scheduler.send(new GetScheduleCommand({ GroupName: GROUP, Name: scheduleName })),
    ).resolves.toBeTruthy();

    const status = await cli(["status", "novala/acumatica", "--check"]);
    expectNoKeyMaterial(status, novala.model.issuedKeyMaterial());
    expect(status.stdout).toMatch(new RegExp(`${before.keyId} │ \\d{4}-\\d\\d-\\d\\d [\\d:]+Z │ ENABLED │ active`));

    const run = await cli(["rollback", "novala/acumatica", "--revoke-now", "--yes"]);
    expectNoKeyMaterial(run, novala.model.issuedKeyMaterial());
    expect(run.stderr).toBe("");
    expect(run.code).toBe(0);
    expect(run.stdout).toContain(`AWSCURRENT is version`);
    expect(run.stdout).toContain(`removed schedule ${GROUP}/${scheduleName}`);
    expect(run.stdout).toContain(`${rotated.keyId}: revoked at Novala (--revoke-now)`);
    expect((await valueAt(consumerArn, "AWSCURRENT")).keyId).toBe(before.keyId);
    expect((await valueAt(consumerArn, "AWSPREVIOUS")).keyId).toBe(rotated.keyId);
    expect(novala.model.inspect(String(rotated.keyId))?.status).toBe("revoked");
    expect(novala.model.inspect(String(before.keyId))?.status).toBe("active");
    await expect(
      scheduler.send(new GetScheduleCommand({ GroupName: GROUP, Name: scheduleName })),
    ).rejects.toMatchObject({ name: "ResourceNotFoundException" });
  });

  it("rollback refuses, with the reason, when the previous key is already revoked", async () => {
    const previous = await valueAt(consumerArn, "AWSPREVIOUS");
    const current = await valueAt(consumerArn, "AWSCURRENT");
    const run = await cli(["rollback", "novala/acumatica"]);
    expectNoKeyMaterial(run, novala.model.issuedKeyMaterial());
    expect(run.code).toBe(1);
    expect(run.stderr).toBe(
      `novala-rotation: refusing to roll back novala/acumatica: the previous key ${previous.keyId} is already revoked at Novala\n`,
    );
    expect((await valueAt(consumerArn, "AWSCURRENT")).keyId).toBe(current.keyId);
  });

  it("rollback --grace schedules the revocation of the key rolled away from, like finishSecret", async () => {
    await setGrace(3600);
    const before = await valueAt(consumerArn, "AWSCURRENT");
    const token = await startRotation(secrets, consumerArn);
    await driveSteps(secrets, handler, consumerArn, token);
    const rotated = await valueAt(consumerArn, "AWSCURRENT");

    const run = await cli(["rollback", "novala/acumatica", "--grace", "10m", "--json"]);
    expectNoKeyMaterial(run, novala.model.issuedKeyMaterial());
    expect(run.code).toBe(0);
    const report = JSON.parse(run.stdout);
    const name = revocationScheduleName(consumerArn, String(rotated.keyId));
    expect(report).toMatchObject({
      restoredKeyId: before.keyId,
      retiredKeyId: rotated.keyId,
      scheduleRemoved: revocationScheduleName(consumerArn, String(before.keyId)),
      retirement: { outcome: "scheduled", schedule: name },
    });
    const schedule = await scheduler.send(new GetScheduleCommand({ GroupName: GROUP, Name: name }));
    expect(schedule.Target).toMatchObject({ Arn: REVOCATION_LAMBDA, RoleArn: SCHEDULER_ROLE });
    expect(JSON.parse(schedule.Target?.Input ?? "{}")).toMatchObject({ secretId: consumerArn, keyId: rotated.keyId });
    expect((await valueAt(consumerArn, "AWSCURRENT")).keyId).toBe(before.keyId);
    expect(novala.model.inspect(String(rotated.keyId))?.status).toBe("active");
  });

  it("reconcile lists stranded keys as a table (dry run) and revokes them with --revoke", async () => {
    // A rotation that created its replacement and lost its version's labels (abandoned): its keys carry its tag.
    const abandoned = randomUUID();
    await secrets.send(
      new PutSecretValueCommand({
        SecretId: consumerArn,
        ClientRequestToken: abandoned,
        SecretString: JSON.stringify(await valueAt(consumerArn, "AWSCURRENT")),
        VersionStages: ["ABANDONED_IN_TEST"],
      }),
    );
    await secrets.send(
      new UpdateSecretVersionStageCommand({
        SecretId: consumerArn,
        VersionStage: "ABANDONED_IN_TEST",
        RemoveFromVersionId: abandoned,
      }),
    );
    const tagged = replacementKeyName("Acumatica Integration", consumerArn, abandoned);
    const stranded = novala.model.seedKey({
      name: tagged,
      scopes: ["leads.lead.read"],
      createdAt: "2026-01-01T00:00:00Z",
    });
    const young = novala.model.seedKey({ name: tagged, scopes: ["pipeline"] });
    const held = String((await valueAt(consumerArn, "AWSCURRENT")).keyId);

    const dryRun = await cli(["reconcile", "--manager-secret", "novala/manager"]);
    expectNoKeyMaterial(dryRun, novala.model.issuedKeyMaterial());
    expect(dryRun.code).toBe(0);
    expect(unwrapTables(dryRun.stdout)).toMatch(new RegExp(`│ ${stranded.id} │ ${tagged} │.*│ would revoke │`));
    expect(dryRun.stdout).not.toContain(young.id);
    expect(dryRun.stdout).toContain("1 unheld key(s) younger than 1 h left alone");
    expect(novala.model.inspect(stranded.id)?.status).toBe("active");

    const revoke = await cli(["reconcile", "--manager-secret", managerArn, "--revoke", "--json"]);
    expectNoKeyMaterial(revoke, novala.model.issuedKeyMaterial());
    expect(revoke.code).toBe(0);
    const report = JSON.parse(revoke.stdout);
    expect(report.stranded).toEqual([expect.objectContaining({ keyId: stranded.id, action: "revoked" })]);
    expect(report.secretsConsidered).toEqual(expect.arrayContaining(["novala/manager", "novala/acumatica"]));
    expect(novala.model.inspect(stranded.id)?.status).toBe("revoked");
    expect(novala.model.inspect(young.id)?.status).toBe("active");
    expect(novala.model.inspect(held)?.status).toBe("active");
  });

  it("finds the deployment from the secret: rotate, status, reconcile and rollback with no location flags", async () => {
    // 1. rotate: the function from the secret, the revocation schedule in the group its configuration names.
    await setGrace(3600);
    const keyA = String((await valueAt(consumerArn, "AWSCURRENT")).keyId);
    const child = cli(["rotate", "novala/acumatica", "--json"]);
    await driveSteps(secrets, handler, consumerArn, await pendingToken(consumerArn, child));
    const rotated = await child;
    expectNoKeyMaterial(rotated, novala.model.issuedKeyMaterial());
    expect(rotated.code, rotated.stderr).toBe(0);
    const keyB = String((await valueAt(consumerArn, "AWSCURRENT")).keyId);
    expect(JSON.parse(rotated.stdout).revocation).toMatchObject({
      schedule: revocationScheduleName(consumerArn, keyA),
    });

    // 2. status lists that pending revocation, in the group the rotation function names.
    const [text, json] = await Promise.all([
      cli(["status", "novala/acumatica"]),
      cli(["status", "novala/acumatica", "--json"]),
    ]);
    expect(text.stdout).toContain(`Scheduled revocations (schedule group ${GROUP})`);
    expect(text.stdout).toMatch(new RegExp(`${keyA} │ \\d{4}-\\d\\d-\\d\\d [\\d:]+Z │ ENABLED`));
    expect(text.stdout).toMatch(/Grace period\s+1 h/);
    const status = JSON.parse(json.stdout);
    expect(status).toMatchObject({
      scheduleGroup: GROUP,
      gracePeriodSeconds: 3600,
      eventBus: EVENT_BUS,
      rotation: { lambdaArn: ROTATION_LAMBDA },
    });
    expect(status.revocations).toEqual(expect.arrayContaining([expect.objectContaining({ keyId: keyA })]));

    // 3. Another rotation: key A loses its last label while its revocation is still scheduled (its grace period).
    await driveSteps(secrets, handler, consumerArn, await startRotation(secrets, consumerArn));
    expect(Object.values(await stages(consumerArn)).flat()).toHaveLength(2);
    expect([await valueAt(consumerArn, "AWSCURRENT"), await valueAt(consumerArn, "AWSPREVIOUS")]).not.toContainEqual(
      expect.objectContaining({ keyId: keyA }),
    );
    expect(novala.model.inspect(keyA)?.status).toBe("active");

    // reconcile looks in the discovered group, so key A is not stranded; in a wrong group it would look stranded.
    const found = await cli(["reconcile", "--manager-secret", "novala/manager", "--min-age", "0s", "--json"]);
    expect(found.code, found.stderr).toBe(0);
    const report = JSON.parse(found.stdout);
    expect(report.scheduleGroups).toEqual([GROUP]);
    expect(report.stranded.map((key: { keyId: string }) => key.keyId)).not.toContain(keyA);
    const elsewhere = await cli([
      "reconcile",
      "--manager-secret",
      "novala/manager",
      "--min-age",
      "0s",
      "--schedule-group",
      "some-other-group",
      // Key A was used in its health check: only with no grace for recent use does it look stranded.
      "--grace",
      "0s",
      "--json",
    ]);
    expect(JSON.parse(elsewhere.stdout).stranded.map((key: { keyId: string }) => key.keyId)).toContain(keyA);

    // 4. rollback removes the restored key's schedule from the discovered group and tells consumers.
    const back = await cli(["rollback", "novala/acumatica", "--json"]);
    expectNoKeyMaterial(back, novala.model.issuedKeyMaterial());
    expect(back.code, back.stderr).toBe(0);
    expect(JSON.parse(back.stdout)).toMatchObject({
      restoredKeyId: keyB,
      scheduleRemoved: revocationScheduleName(consumerArn, keyB),
      event: { published: true, eventBus: EVENT_BUS },
    });
    await expect(
      scheduler.send(new GetScheduleCommand({ GroupName: GROUP, Name: revocationScheduleName(consumerArn, keyB) })),
    ).rejects.toMatchObject({ name: "ResourceNotFoundException" });
  });

  it("says clearly when a secret has no rotation function and no location flag, and lets flags override", async () => {
    const run = await cli(["rollback", "novala/billing"]);
    expect(run.code).toBe(2);
    expect(run.stderr).toBe(
      "novala-rotation: secret novala/billing has no rotation function, so where its revocations are scheduled is " +
        "unknown: give --schedule-group (or REVOCATION_SCHEDULE_GROUP)\n",
    );
    const flagged = await cli(["status", "novala/acumatica", "--schedule-group", "some-other-group", "--json"]);
    expect(JSON.parse(flagged.stdout)).toMatchObject({ scheduleGroup: "some-other-group", gracePeriodSeconds: 3600 });
  });

  it.skipIf(!existsSync(`${ROOT}local/demo.ts`))("demo runs a whole rotation against moto and exits 0", async () => {
    const run = await cli(["--endpoint-url", moto.endpoint, "--region", TEST_REGION, "--grace-seconds", "0"], {
      local: true,
      entry: "bin/novala-demo.js",
    });
    expect(run.stdout).not.toMatch(KEY_SHAPE);
    expect(run.stderr).not.toMatch(KEY_SHAPE);
    expect(run.code, run.stderr).toBe(0);
  });
});
