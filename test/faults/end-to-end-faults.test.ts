/**
 * Faults end to end, for realism: the Lambda handlers invoked in-process with Secrets Manager's exact events (and in a
 * child process that is SIGKILLed at a crash point), their real adapters — the AWS SDK clients against moto_server
 * (Secrets Manager and Scheduler) and the undici Novala client against the Novala simulator on loopback — and the
 * simulator's faults: creates held while the process dies, lost answers, 429/5xx storms, resets, slow answers; plus an
 * operator rollback and the configuration test. Secrets Manager's lost answers and throttling use the embedded
 * Secrets Manager over HTTP (moto cannot inject faults). Skipped without moto_server unless REQUIRE_MOTO=1.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { once } from "node:events";
import { fileURLToPath } from "node:url";
import { CreateScheduleGroupCommand, GetScheduleCommand } from "@aws-sdk/client-scheduler";
import {
  CreateSecretCommand,
  DescribeSecretCommand,
  GetSecretValueCommand,
  type SecretsManagerClient,
  UpdateSecretVersionStageCommand,
} from "@aws-sdk/client-secrets-manager";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { driveSteps, startRotation } from "../../cli/secrets-manager-driver.js";
import { ROTATION_STEPS, type RotationStep } from "../../lambdas/contract/rotation-event.js";
import { carriesRotationTag, revocationScheduleName } from "../../lambdas/core/key-name.js";
import type { CreatedNovalaKey } from "../../lambdas/core/ports.js";
import { secretValueFor as secretJson } from "../../lambdas/core/secret-value.js";
import { handler as revocationHandler } from "../../lambdas/revocation/index.js";
import { handler as rotationHandler } from "../../lambdas/rotation/index.js";
import { type NovalaSimulator, startNovalaSimulator } from "../../local/novala-simulator.js";
import type { SecretsManagerModel } from "../../local/secrets-manager-model.js";
import { type SecretsManagerServer, startSecretsManagerServer } from "../../local/secrets-manager-server.js";
import { recordChildOutput } from "../support/child-output.js";
import { useMotoAndSimulator } from "../support/integration.js";
import { lambdaEnvironment, motoSuiteTitle, secretsManagerClientFor, skipMoto } from "../support/moto.js";

const RUN_STEP = fileURLToPath(new URL("./support/run-step.ts", import.meta.url));
const SCHEDULE_GROUP = "novala-revocations";
const ROTATION_LAMBDA_ARN = "arn:aws:lambda:us-east-1:123456789012:function:novala-rotation";

/** Everything the handlers printed (Powertools logs and metrics) and every error they threw, for the leak scan. */
const captured: string[] = [];
const originalWrite = process.stdout.write.bind(process.stdout);
const savedEnv = { ...process.env };

/** The handlers' environment here: long enough deadlines for a child process to be killed mid-call. */
const HANDLER_ENVIRONMENT = {
  REVOCATION_SCHEDULE_GROUP: SCHEDULE_GROUP,
  HEALTH_CHECK_DEADLINE_SECONDS: "5",
  NOVALA_RETRY_BUDGET_SECONDS: "20",
  NOVALA_REQUEST_TIMEOUT_SECONDS: "1",
  NOVALA_CONNECT_TIMEOUT_SECONDS: "1",
  // Every log line reaches the leak scan.
  POWERTOOLS_LOG_LEVEL: "INFO",
};

function configure(endpoint: string) {
  Object.assign(process.env, lambdaEnvironment(endpoint, HANDLER_ENVIRONMENT));
}

interface Setup {
  sim: NovalaSimulator;
  sm: SecretsManagerClient;
  secretArn: string;
  oldKey: CreatedNovalaKey;
  errors: string[];
  /** The embedded model, read directly by the checks so that they do not consume the injected faults. */
  model?: SecretsManagerModel;
}

async function makeSecrets(sim: NovalaSimulator, sm: SecretsManagerClient): Promise<Omit<Setup, "errors">> {
  const suffix = randomUUID().slice(0, 8);
  const manager = sim.model.seedKey({ name: "Rotation manager", scopes: ["api_keys.manage"] });
  const oldKey = sim.model.seedKey({ name: "Acumatica Integration", scopes: ["leads.lead.read", "pipeline"] });
  const managerArn = (
    await sm.send(
      new CreateSecretCommand({ Name: `novala/${suffix}/manager`, SecretString: secretJson(sim.url, manager) }),
    )
  ).ARN as string;
  const secretArn = (
    await sm.send(
      new CreateSecretCommand({
        Name: `novala/${suffix}/acumatica`,
        SecretString: secretJson(sim.url, oldKey, { managerSecretId: managerArn }),
      }),
    )
  ).ARN as string;
  return { sim, sm, secretArn, oldKey };
}

/** Secrets Manager's exact event. */
function event(step: RotationStep, secretId: string, token: string) {
  return { Step: step, SecretId: secretId, ClientRequestToken: token, RotationToken: randomUUID() };
}

async function invoke(s: Setup, step: RotationStep, token: string): Promise<Error | undefined> {
  try {
    await rotationHandler(event(step, s.secretArn, token));
    return undefined;
  } catch (error) {
    s.errors.push(String((error as Error).message));
    return error as Error;
  }
}

async function currentValue(s: Setup): Promise<{ keyId: string; secretKey: string }> {
  if (s.model) {
    return JSON.parse(
      s.model.getSecretValue({ SecretId: s.secretArn, VersionStage: "AWSCURRENT" }).SecretString ?? "{}",
    );
  }
  const out = await s.sm.send(new GetSecretValueCommand({ SecretId: s.secretArn, VersionStage: "AWSCURRENT" }));
  return JSON.parse(out.SecretString ?? "{}");
}

/** Invariant 1 at this moment: the key in AWSCURRENT authenticates at Novala and is not revoked. */
async function expectCurrentWorks(s: Setup, where: string): Promise<void> {
  const current = await currentValue(s);
  expect(s.sim.model.inspect(current.keyId)?.status, `AWSCURRENT key status ${where}`).toBe("active");
  expect(s.sim.model.authenticate(current.secretKey).ok, `AWSCURRENT key authenticates ${where}`).toBe(true);
}

/** Secrets Manager's retries: each step up to `attempts` times, invariant 1 checked after every invocation. */
async function drive(s: Setup, token: string, steps: readonly RotationStep[] = ROTATION_STEPS, attempts = 4) {
  for (const step of steps) {
    let error: Error | undefined;
    for (let attempt = 1; attempt <= attempts; attempt++) {
      error = await invoke(s, step, token);
      await expectCurrentWorks(s, `after ${step} attempt ${attempt}`);
      if (!error) break;
    }
    if (error) throw error;
  }
}

function activeRotatorKeys(s: Setup): string[] {
  return s.sim.model
    .keys()
    .filter((key) => key.status === "active" && carriesRotationTag(key.name))
    .map((key) => key.id);
}

async function pendingOnAnotherVersion(s: Setup): Promise<boolean> {
  const stages = s.model
    ? (s.model.describeSecret({ SecretId: s.secretArn }).VersionIdsToStages ?? {})
    : ((await s.sm.send(new DescribeSecretCommand({ SecretId: s.secretArn }))).VersionIdsToStages ?? {});
  return Object.values(stages).some((labels) => labels.includes("AWSPENDING") && !labels.includes("AWSCURRENT"));
}

/** Invariants 2-5 after a rotation that must have succeeded with grace 0. */
async function expectRotatedCleanly(s: Setup): Promise<string> {
  const current = await currentValue(s);
  expect(current.keyId).not.toBe(s.oldKey.id);
  expect(s.sim.model.inspect(s.oldKey.id)?.status).toBe("revoked");
  expect(activeRotatorKeys(s)).toEqual([current.keyId]);
  expect(await pendingOnAnotherVersion(s)).toBe(false);
  expectNoLeaks(s);
  return current.keyId;
}

/** Invariant 4: no key material in what the handlers printed or threw. */
function expectNoLeaks(s: Setup): void {
  const text = [...captured, ...s.errors].join("\n");
  for (const material of s.sim.model.issuedKeyMaterial()) {
    expect(text.includes(material), `key material …${material.slice(-4)} leaked`).toBe(false);
  }
}

async function waitFor(condition: () => boolean, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Runs `step` in a child Lambda process and SIGKILLs it once `crashPoint` holds (the simulator holds a request). */
async function killChildAt(s: Setup, step: RotationStep, token: string, crashPoint: () => boolean, what: string) {
  const child: ChildProcess = spawn(
    process.execPath,
    ["--import", "tsx", RUN_STEP, JSON.stringify(event(step, s.secretArn, token))],
    { env: { ...process.env }, stdio: ["ignore", "pipe", "pipe"] },
  );
  let printed = "";
  for (const stream of [child.stdout, child.stderr]) {
    stream?.on("data", (chunk: Buffer) => {
      captured.push(chunk.toString("utf8"));
      printed += chunk.toString("utf8");
    });
  }
  child.once("close", () => recordChildOutput(`run-step ${step}`, printed));
  const exited = once(child, "exit");
  try {
    await waitFor(() => crashPoint() || child.exitCode !== null, what, 30_000);
    expect(child.exitCode, `the child ended before ${what}`).toBeNull();
    child.kill("SIGKILL");
    const [code, signal] = await exited;
    expect({ code, signal }).toEqual({ code: null, signal: "SIGKILL" });
  } finally {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  }
}

function heldRequest(sim: NovalaSimulator, route: string): () => boolean {
  return () => sim.requestLog().some((entry) => entry.route === route && entry.outcome === "hang");
}

describe.skipIf(skipMoto)(motoSuiteTitle("faults end to end: handlers, moto_server and the Novala simulator"), () => {
  const fx = useMotoAndSimulator(HANDLER_ENVIRONMENT);
  let s: Setup;

  beforeAll(() => {
    process.stdout.write = ((chunk: unknown, ...rest: unknown[]) => {
      captured.push(typeof chunk === "string" ? chunk : Buffer.from(chunk as Uint8Array).toString("utf8"));
      return (originalWrite as (...args: unknown[]) => boolean)(chunk, ...rest);
    }) as typeof process.stdout.write;
  });

  afterAll(() => {
    process.stdout.write = originalWrite;
  });

  beforeEach(async () => {
    s = { ...(await makeSecrets(fx.novala, fx.secrets)), errors: [] };
  });

  it("a child process killed while Novala holds its create (the key exists): the retry revokes the orphan", async () => {
    s.sim.injectFault({ match: "POST /api/v1/api-keys", kind: "hang", ms: 60_000, perform: true });
    const token = await startRotation(fx.secrets, s.secretArn);
    await killChildAt(s, "createSecret", token, heldRequest(s.sim, "POST /api/v1/api-keys"), "the held create");
    const orphans = activeRotatorKeys(s);
    expect(orphans).toHaveLength(1);
    await expectCurrentWorks(s, "after the kill");

    await drive(s, token);
    const current = await expectRotatedCleanly(s);
    expect(current).not.toBe(orphans[0]);
    expect(s.sim.model.inspect(orphans[0] as string)?.status).toBe("revoked");
  });

  it("a child process killed in finishSecret after the promotion, while Novala holds the old key's revocation", async () => {
    const token = await startRotation(fx.secrets, s.secretArn);
    await drive(s, token, ["createSecret", "setSecret", "testSecret"]);
    s.sim.injectFault({ match: "DELETE /api/v1/api-keys/{id}", kind: "hang", ms: 60_000 });
    await killChildAt(s, "finishSecret", token, heldRequest(s.sim, "DELETE /api/v1/api-keys/{id}"), "the held revoke");
    // Promoted, the old key not yet revoked: consumers still work with either.
    await expectCurrentWorks(s, "after the kill");
    expect((await currentValue(s)).keyId).not.toBe(s.oldKey.id);
    expect(s.sim.model.inspect(s.oldKey.id)?.status).toBe("active");

    await drive(s, token, ["finishSecret"]);
    await expectRotatedCleanly(s);
  });

  it("a Novala that answers 409 to every create (its key limit): ended at once; after the limit, the next rotation runs", async () => {
    s.sim.injectFault({
      match: "POST /api/v1/api-keys",
      kind: "status",
      status: 409,
      message: "key limit reached",
      count: 100,
    });
    const token = await startRotation(fx.secrets, s.secretArn);
    // One invocation ends it: nothing for Secrets Manager to retry, no abort for an operator to run.
    const ended = await invoke(s, "createSecret", token);
    expect(ended?.name).toBe("RotationEndedError");
    expect(ended?.message).toMatch(
      /answered 409: key limit reached\. Revoke unused keys or raise the tenant's key limit/,
    );
    await expectCurrentWorks(s, "after the ending");
    expect(await pendingOnAnotherVersion(s)).toBe(false);
    expect(activeRotatorKeys(s)).toEqual([]);
    expect(s.sim.model.inspect(s.oldKey.id)?.status).toBe("active");

    s.sim.clearFaults();
    await drive(s, await startRotation(fx.secrets, s.secretArn));
    await expectRotatedCleanly(s);
  });

  it("lost answers: a create that happened, a revoke that happened, a health probe — reconciled, no double key", async () => {
    s.sim.injectFault({ match: "POST /api/v1/api-keys", kind: "lose-answer" });
    s.sim.injectFault({ match: "DELETE /api/v1/api-keys/{id}", kind: "lose-answer" });
    s.sim.injectFault({ match: "GET /api/v1/api-keys/self", kind: "lose-answer", count: 2 });
    s.sim.injectFault({ match: "POST /api/v1/api-keys", kind: "hang", ms: 3_000, perform: true });
    const token = await startRotation(fx.secrets, s.secretArn);
    await drive(s, token);
    await expectRotatedCleanly(s);
    const creates = s.sim.requestLog().filter((entry) => entry.route === "POST /api/v1/api-keys");
    expect(creates.filter((entry) => entry.outcome === "lost" || entry.outcome === "hang")).toHaveLength(2);
    // Two tagged keys were made by lost creates and revoked; one survives.
    expect(s.sim.model.keys().filter((key) => carriesRotationTag(key.name))).toHaveLength(3);
  });

  it("a 429 storm (with and without Retry-After), 5xx, resets and slow answers: the rotation still completes", async () => {
    s.sim.setSwitches({ rateLimitPerSecond: 4, retryAfterHeader: false });
    s.sim.injectFault({ match: "* *", kind: "status", status: 429, retryAfterSeconds: 1, count: 2 });
    s.sim.injectFault({ match: "POST /api/v1/api-keys", kind: "status", status: 429, count: 3 });
    // No fault on the key list (GET /api/v1/api-keys): a clean rotation reads none (docs/design.md, "The marks").
    s.sim.injectFault({ match: "GET /api/v1/api-keys/*", kind: "status", status: 503, count: 2 });
    s.sim.injectFault({ match: "GET /api/v1/api-keys/self", kind: "reset", count: 2 });
    s.sim.injectFault({ match: "GET /api/v1/pipeline/deals", kind: "hang", ms: 2_500 });
    s.sim.injectFault({ match: "DELETE /api/v1/api-keys/{id}", kind: "status", status: 500 });
    const token = await startRotation(fx.secrets, s.secretArn);
    await drive(s, token);
    await expectRotatedCleanly(s);
    const log = s.sim.requestLog();
    expect(log.filter((entry) => entry.status === 429).length).toBeGreaterThanOrEqual(5);
    expect(s.sim.pendingFaults()).toEqual([]);
  });

  it("an operator rollback between finish and revocation: refused; the next rotation retires the rolled-back key", async () => {
    fx.setEnvironment({ REVOCATION_GRACE_SECONDS: "60" });
    await fx.scheduler.send(new CreateScheduleGroupCommand({ Name: SCHEDULE_GROUP }));
    const first = await startRotation(fx.secrets, s.secretArn);
    await drive(s, first);
    const rotatedKey = (await currentValue(s)).keyId;
    expect(s.sim.model.inspect(s.oldKey.id)?.status).toBe("active");
    const schedule = await fx.scheduler.send(
      new GetScheduleCommand({ Name: revocationScheduleName(s.secretArn, s.oldKey.id), GroupName: SCHEDULE_GROUP }),
    );

    const stages =
      (await fx.secrets.send(new DescribeSecretCommand({ SecretId: s.secretArn }))).VersionIdsToStages ?? {};
    const previous = Object.entries(stages).find(([, labels]) => labels.includes("AWSPREVIOUS"))?.[0] as string;
    await fx.secrets.send(
      new UpdateSecretVersionStageCommand({
        SecretId: s.secretArn,
        VersionStage: "AWSCURRENT",
        MoveToVersionId: previous,
        RemoveFromVersionId: first,
      }),
    );
    await expectCurrentWorks(s, "after the rollback");
    // The schedule fires: Scheduler invokes the revocation Lambda with the schedule's Input.
    const outcome = await revocationHandler(JSON.parse(schedule.Target?.Input ?? "{}"));
    expect(outcome).toEqual({ outcome: "refused" });
    await expectCurrentWorks(s, "after the refused revocation");

    const second = await startRotation(fx.secrets, s.secretArn);
    await drive(s, second);
    await expectCurrentWorks(s, "after the second rotation");
    // The key rolled back from would otherwise lose its last label with no revocation pending.
    const retired = await fx.scheduler.send(
      new GetScheduleCommand({ Name: revocationScheduleName(s.secretArn, rotatedKey), GroupName: SCHEDULE_GROUP }),
    );
    expect(JSON.parse(retired.Target?.Input ?? "{}")).toMatchObject({ keyId: rotatedKey });
    expectNoLeaks(s);
  });

  it("the configuration test (RotateImmediately=false) checks the current key and changes nothing", async () => {
    s.sim.injectFault({ match: "GET /api/v1/api-keys/self", kind: "status", status: 503 });
    const token = await startRotation(fx.secrets, s.secretArn, { rotateImmediately: false });
    await driveSteps(fx.secrets, (e) => rotationHandler({ ...e, RotationToken: randomUUID() }), s.secretArn, token, {
      rotateImmediately: false,
    });
    expect((await currentValue(s)).keyId).toBe(s.oldKey.id);
    expect(s.sim.model.inspect(s.oldKey.id)?.status).toBe("active");
    expect(await pendingOnAnotherVersion(s)).toBe(false);
    expect(activeRotatorKeys(s)).toEqual([]);
    expectNoLeaks(s);
  });
});

describe("faults end to end: Secrets Manager's lost answers and throttling (embedded Secrets Manager over HTTP)", () => {
  let server: SecretsManagerServer;
  let s: Setup;

  beforeEach(async () => {
    server = await startSecretsManagerServer();
    configure(server.url);
    const sim = await startNovalaSimulator();
    const sm = secretsManagerClientFor(server.url);
    s = { ...(await makeSecrets(sim, sm)), errors: [], model: server.model };
  });

  afterEach(async () => {
    await s?.sim.stop();
    await server?.stop();
  });

  afterAll(() => {
    process.env = savedEnv;
  });

  it("PutSecretValue and the promotion applied but unanswered, throttling and 500s: eventually rotated", async () => {
    // More failures in a row than the SDK's own three attempts, so that steps fail and Secrets Manager retries them.
    server.injectFault("PutSecretValue", "lose-answer", 4);
    server.injectFault("DescribeSecret", "throttling", 4);
    server.injectFault("GetSecretValue", "internal-error", 4);
    const token = randomUUID();
    server.model.rotateSecret({
      SecretId: s.secretArn,
      ClientRequestToken: token,
      RotationLambdaARN: ROTATION_LAMBDA_ARN,
      RotateImmediately: true,
    });
    await drive(s, token, ["createSecret", "setSecret", "testSecret"], 6);
    server.injectFault("UpdateSecretVersionStage", "lose-answer", 4);
    await drive(s, token, ["finishSecret"], 6);
    await expectRotatedCleanly(s);
    expect(server.faultsApplied("UpdateSecretVersionStage")).toBeGreaterThanOrEqual(1);
    expect(server.faultsApplied("PutSecretValue")).toBeGreaterThanOrEqual(1);
  });
});
