import { randomUUID } from "node:crypto";
import { performance } from "node:perf_hooks";
import { CreateSecretCommand, SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { LOCAL_ROTATION_LAMBDA_ARN, startRotation } from "../cli/secrets-manager-driver.js";
import { AwsSecretStore } from "../lambdas/adapters/aws/secret-store.js";
import { createNovalaKeyApi, type NovalaKeyApi } from "../lambdas/adapters/novala/key-api.js";
import { type RotationConfig, readRotationConfig } from "../lambdas/contract/configuration.js";
import { ROTATION_STEPS } from "../lambdas/contract/rotation-event.js";
import type { RotationDeps } from "../lambdas/core/context.js";
import { revocationScheduleName } from "../lambdas/core/key-name.js";
import type { CreatedNovalaKey, KeyApi, RevocationScheduler } from "../lambdas/core/ports.js";
import { systemClock } from "../lambdas/core/ports.js";
import { runRotationStep } from "../lambdas/core/rotation.js";
import { secretValueFor } from "../lambdas/core/secret-value.js";
import { MemoryRotationEvents } from "../local/memory-rotation-events.js";
import { ModelRevocationScheduler, ModelSecretStore } from "../local/model-adapters.js";
import { startNovalaSimulator } from "../local/novala-simulator.js";
import { SchedulerModel } from "../local/scheduler-model.js";
import { SecretsManagerModel } from "../local/secrets-manager-model.js";
import { startSecretsManagerServer } from "../local/secrets-manager-server.js";
import { mb, median, ms, progress, QUICK, type Row, sampleMemory, silentTelemetry, sleep } from "./support.js";

export const GROUP = "novala-revocations";
export const TARGET = {
  scheduleGroup: GROUP,
  functionArn: "arn:aws:lambda:us-east-1:123456789012:function:novala-revocation",
  schedulerRoleArn: "arn:aws:iam::123456789012:role/novala-scheduler",
};

export function rotationConfig(extra: Record<string, string> = {}): RotationConfig {
  return readRotationConfig({
    NOVALA_ALLOWED_HOSTS: "127.0.0.1",
    REVOCATION_GRACE_SECONDS: "86400",
    REVOCATION_SCHEDULE_GROUP: GROUP,
    REVOCATION_FUNCTION_ARN: TARGET.functionArn,
    REVOCATION_SCHEDULER_ROLE_ARN: TARGET.schedulerRoleArn,
    ...extra,
  });
}

export function secretJson(baseUrl: string, key: CreatedNovalaKey, managerSecretId?: string): string {
  return secretValueFor(baseUrl, key, managerSecretId ? { managerSecretId } : {});
}

/** The rotation's ports over the in-memory Secrets Manager and Scheduler models, with silent telemetry. */
export function modelDeps(
  model: SecretsManagerModel,
  keys: KeyApi,
  config: RotationConfig,
  schedulerModel = new SchedulerModel({ groups: [GROUP] }),
): RotationDeps {
  return {
    store: new ModelSecretStore(model),
    keys,
    scheduler: new ModelRevocationScheduler(schedulerModel, TARGET),
    events: new MemoryRotationEvents(),
    telemetry: silentTelemetry,
    clock: systemClock,
    config,
  };
}

/** The Scheduler port with L ms added to each call (each method is one Scheduler API call), counting calls. */
function slowScheduler(inner: RevocationScheduler, latencyMs: number, counter: { calls: number }): RevocationScheduler {
  return {
    ensureScheduled: async (...args) => {
      counter.calls++;
      await sleep(latencyMs);
      return inner.ensureScheduled(...args);
    },
    isScheduled: async (name) => {
      counter.calls++;
      await sleep(latencyMs);
      return inner.isScheduled(name);
    },
  };
}

const SM_OPERATIONS = [
  "DescribeSecret",
  "GetSecretValue",
  "ListSecretVersionIds",
  "PutSecretValue",
  "UpdateSecretVersionStage",
];

/**
 * Overhead of one rotation: the four steps (as Secrets Manager invokes them after RotateSecret) against the simulator
 * and the embedded Secrets Manager over HTTP, each with L ms added to every answer, and the Scheduler model with L ms
 * per call. Every call of a rotation is sequential, so the critical path is every call; overhead = time of the four
 * steps ÷ (calls × L). Baseline: the same rotation with L = 0.
 */
export async function benchOverhead(): Promise<{ rows: Row[]; notes: string[] }> {
  const latencyMs = 20;
  const rounds = QUICK ? 3 : 7;
  const measure = async (latency: number) => {
    const novala = await startNovalaSimulator({ latencyMs: latency, propagationDelayMs: 0 });
    const server = await startSecretsManagerServer(undefined, { latencyMs: latency });
    const client = new SecretsManagerClient({
      region: "us-east-1",
      endpoint: server.url,
      credentials: { accessKeyId: "local", secretAccessKey: "local" },
    });
    const config = rotationConfig();
    let novalaCalls = 0;
    const keys = createNovalaKeyApi(config, { onAttempt: () => novalaCalls++ });
    const schedulerCalls = { calls: 0 };
    const deps: RotationDeps = {
      store: new AwsSecretStore(client),
      keys,
      scheduler: slowScheduler(
        new ModelRevocationScheduler(new SchedulerModel({ groups: [GROUP] }), TARGET),
        latency,
        schedulerCalls,
      ),
      events: new MemoryRotationEvents(),
      telemetry: silentTelemetry,
      clock: systemClock,
      config,
    };
    const results: { ms: number; calls: number; novala: number; aws: number; scheduler: number }[] = [];
    try {
      const manager = novala.model.seedKey({ name: "Rotation manager", scopes: ["api_keys.manage"] });
      const managerArn = String(
        (
          await client.send(
            new CreateSecretCommand({ Name: "novala/manager", SecretString: secretJson(novala.url, manager) }),
          )
        ).ARN,
      );
      for (let round = 0; round <= rounds; round++) {
        const consumer = novala.model.seedKey({ name: `Consumer ${round}`, scopes: ["leads.lead.read", "pipeline"] });
        const created = await client.send(
          new CreateSecretCommand({
            Name: `novala/overhead-${round}`,
            SecretString: secretJson(novala.url, consumer, managerArn),
          }),
        );
        const arn = String(created.ARN);
        const token = await startRotation(client, arn);
        const awsBefore = SM_OPERATIONS.reduce((sum, op) => sum + server.calls(op), 0);
        const novalaBefore = novalaCalls;
        const schedulerBefore = schedulerCalls.calls;
        const started = performance.now();
        for (const step of ROTATION_STEPS) await runRotationStep(deps, step, arn, token);
        const elapsed = performance.now() - started;
        const aws = SM_OPERATIONS.reduce((sum, op) => sum + server.calls(op), 0) - awsBefore;
        const novalaCount = novalaCalls - novalaBefore;
        const scheduler = schedulerCalls.calls - schedulerBefore;
        // Round 0 warms the connections and the JIT; it is not counted.
        if (round > 0)
          results.push({ ms: elapsed, calls: aws + novalaCount + scheduler, novala: novalaCount, aws, scheduler });
      }
    } finally {
      await keys.close();
      client.destroy();
      await novala.stop();
      await server.stop();
    }
    return results;
  };
  progress(`rotation overhead: ${rounds} rotations with L = 0 and L = ${latencyMs} ms …`);
  // What a ${latencyMs} ms setTimeout really waits on this machine: the injected latency itself overshoots.
  const timerSamples: number[] = [];
  for (let i = 0; i < 20; i++) {
    const at = performance.now();
    await sleep(latencyMs);
    timerSamples.push(performance.now() - at);
  }
  const realLatency = median(timerSamples);
  const bare = await measure(0);
  const slow = await measure(latencyMs);
  const ratios = slow.map((result) => result.ms / (result.calls * latencyMs));
  const ratio = median(ratios);
  const sample = slow[0];
  const bareMs = median(bare.map((result) => result.ms));
  return {
    rows: [
      {
        figure: `rotation overhead (4 steps, L = ${latencyMs} ms, median of ${rounds})`,
        target: "≤ 1.10 × calls × L",
        baseline: `L = 0: ${ms(bareMs)} (${(bareMs / (sample?.calls ?? 1)).toFixed(2)} ms per call)`,
        measured: `${ratio.toFixed(3)} (${ms(median(slow.map((r) => r.ms)))} for ${sample?.calls} calls)`,
        pass: ratio <= 1.1,
      },
    ],
    notes: [
      `calls on the critical path of one rotation: ${sample?.novala} Novala, ${sample?.aws} Secrets Manager, ${sample?.scheduler} Scheduler (all sequential); ratios ${ratios.map((r) => r.toFixed(3)).join(", ")}`,
      `a ${latencyMs} ms setTimeout waits ${realLatency.toFixed(2)} ms here (median of 20): against the latency really injected the ratio is ${(median(slow.map((r) => r.ms / (r.calls * realLatency)))).toFixed(3)}; the rest is the client side of each call (L = 0: ${(bareMs / (sample?.calls ?? 1)).toFixed(2)} ms per call, SDK or undici, JSON, SigV4, loopback HTTP)`,
    ],
  };
}

/**
 * The health check under propagation delay: createSecret makes a key that answers 401 for D s; testSecret must return
 * within D + 1 s. Baseline: D = 0.
 */
export async function benchHealthCheck(): Promise<{ rows: Row[] }> {
  const delays = QUICK ? [0, 2] : [0, 2, 10];
  const rows: Row[] = [];
  let baselineMs = 0;
  for (const delaySeconds of delays) {
    progress(`health check with propagation delay ${delaySeconds} s …`);
    const novala = await startNovalaSimulator({ propagationDelayMs: delaySeconds * 1000 });
    const model = new SecretsManagerModel();
    const config = rotationConfig();
    const keys = createNovalaKeyApi(config);
    const deps = modelDeps(model, keys, config);
    try {
      const manager = novala.model.seedKey({ name: "Rotation manager", scopes: ["api_keys.manage"] });
      const managerArn = String(
        model.createSecret({ Name: "novala/manager", SecretString: secretJson(novala.url, manager) }).ARN,
      );
      const consumer = novala.model.seedKey({ name: "Consumer", scopes: ["leads.lead.read", "pipeline"] });
      const arn = String(
        model.createSecret({ Name: "novala/consumer", SecretString: secretJson(novala.url, consumer, managerArn) }).ARN,
      );
      const token = randomUUID();
      model.rotateSecret({ SecretId: arn, ClientRequestToken: token, RotationLambdaARN: LOCAL_ROTATION_LAMBDA_ARN });
      await runRotationStep(deps, "createSecret", arn, token);
      await runRotationStep(deps, "setSecret", arn, token);
      const started = performance.now();
      await runRotationStep(deps, "testSecret", arn, token);
      const elapsed = performance.now() - started;
      if (delaySeconds === 0) baselineMs = elapsed;
      rows.push({
        figure: `health check, propagation delay D = ${delaySeconds} s`,
        target: `≤ D + 1 s = ${delaySeconds + 1} s`,
        baseline: `D = 0: ${ms(baselineMs)}`,
        measured: `${ms(elapsed)} (D + ${ms(elapsed - delaySeconds * 1000)})`,
        pass: elapsed <= (delaySeconds + 1) * 1000,
      });
    } finally {
      await keys.close();
      await novala.stop();
    }
  }
  return { rows };
}

export interface FleetResult {
  n: number;
  succeeded: number;
  failures: string[];
  stranded: number;
  wallMs: number;
  novalaCalls: number;
  listCalls: number;
  rateLimited: number;
  boundMs: number;
  peakRssBytes: number;
  baseRssBytes: number;
}

/** RotateSecret on the model, then the four steps as Secrets Manager invokes them: one whole rotation. */
export async function rotateInModel(model: SecretsManagerModel, deps: RotationDeps, arn: string): Promise<void> {
  const token = randomUUID();
  model.rotateSecret({ SecretId: arn, ClientRequestToken: token, RotationLambdaARN: LOCAL_ROTATION_LAMBDA_ARN });
  for (const step of ROTATION_STEPS) await runRotationStep(deps, step, arn, token);
}

/**
 * One tenant for a fleet bench: the simulator (no propagation delay), the Secrets Manager and Scheduler models, a
 * manager secret, and `n` consumer secrets named `<prefix>-<i>` managed by it.
 */
export async function startFleetTenant(n: number, prefix: string) {
  const novala = await startNovalaSimulator({ propagationDelayMs: 0 });
  const model = new SecretsManagerModel();
  const schedulerModel = new SchedulerModel({ groups: [GROUP] });
  const config = rotationConfig();
  const manager = novala.model.seedKey({ name: "Rotation manager", scopes: ["api_keys.manage"] });
  const managerArn = String(
    model.createSecret({ Name: "novala/manager", SecretString: secretJson(novala.url, manager) }).ARN,
  );
  const secrets: string[] = [];
  for (let i = 0; i < n; i++) {
    const consumer = novala.model.seedKey({ name: `Consumer ${i}`, scopes: ["leads.lead.read", "pipeline"] });
    secrets.push(
      String(
        model.createSecret({ Name: `${prefix}-${i}`, SecretString: secretJson(novala.url, consumer, managerArn) }).ARN,
      ),
    );
  }
  return { novala, model, schedulerModel, config, manager, managerArn, secrets };
}

/**
 * Fleet rotation: N secrets of one tenant (one manager key) rotated at once, each rotation with its own dependencies
 * as its own Lambda would have (its own Novala client, connection pool and retry state), against the simulator's
 * rate limit of 50 requests/s. Secrets Manager and Scheduler are the in-process models (their calls are not what is
 * measured). Bound = Novala calls that were served (429s excluded) ÷ 50/s.
 */
export async function runFleet(n: number, ratePerSecond = 50): Promise<FleetResult> {
  const { novala, model, schedulerModel, config, manager, secrets } = await startFleetTenant(n, "novala/fleet");
  novala.clearRequestLog();
  novala.setSwitches({ rateLimitPerSecond: ratePerSecond });
  const clients: NovalaKeyApi[] = [];
  const failures: string[] = [];
  let succeeded = 0;
  const baseRssBytes = process.memoryUsage().rss;
  const memory = sampleMemory();
  const started = performance.now();
  await Promise.all(
    secrets.map(async (arn) => {
      // One Lambda: its own clients, built when it starts.
      const keys = createNovalaKeyApi(config);
      clients.push(keys);
      const deps = modelDeps(model, keys, config, schedulerModel);
      try {
        await rotateInModel(model, deps, arn);
        succeeded++;
      } catch (error) {
        failures.push(`${(error as Error).name}: ${(error as Error).message}`);
      }
    }),
  );
  const wallMs = performance.now() - started;
  const peakRssBytes = memory.stop();
  await Promise.all(clients.map((client) => client.close()));

  const log = novala.requestLog();
  const served = log.filter((entry) => !entry.rateLimited);
  const listCalls = served.filter((entry) => entry.route === "GET /api/v1/api-keys").length;
  // A key is stranded when it is active, and neither a secret's AWSCURRENT nor a pending revocation holds it.
  const held = new Set<string>([manager.id]);
  const scheduler = new ModelRevocationScheduler(schedulerModel, TARGET);
  const current = new Map<string, string>();
  for (const arn of secrets) {
    const value = JSON.parse(String(model.getSecretValue({ SecretId: arn, VersionStage: "AWSCURRENT" }).SecretString));
    held.add(value.keyId);
    current.set(arn, value.keyId);
    // A failed step leaves AWSPENDING holding its key: Secrets Manager's retry resumes it, so it is not stranded.
    try {
      const pending = model.getSecretValue({ SecretId: arn, VersionStage: "AWSPENDING" });
      held.add(JSON.parse(String(pending.SecretString)).keyId);
    } catch {
      // no pending version
    }
  }
  let stranded = 0;
  for (const key of novala.model.keys()) {
    if (key.status !== "active" || held.has(key.id)) continue;
    const scheduled = await Promise.all(
      secrets.map((arn) => scheduler.isScheduled(revocationScheduleName(arn, key.id))),
    );
    if (!scheduled.some(Boolean)) stranded++;
  }
  await novala.stop();
  return {
    n,
    succeeded,
    failures,
    stranded,
    wallMs,
    novalaCalls: served.length,
    listCalls,
    rateLimited: log.length - served.length,
    boundMs: (served.length / ratePerSecond) * 1000,
    peakRssBytes,
    baseRssBytes,
  };
}

export async function benchFleet(): Promise<{ rows: Row[]; notes: string[] }> {
  const sizes = QUICK ? [20, 50] : [50, 200, 500];
  const rows: Row[] = [];
  const notes: string[] = [
    "| N | succeeded | stranded | wall | bound | wall ÷ bound | Novala calls (served) | of which list pages | 429s | peak RSS (Δ) |",
    "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
  ];
  for (const n of sizes) {
    progress(`fleet rotation of ${n} secrets …`);
    const result = await runFleet(n);
    const ratio = result.wallMs / result.boundMs;
    const ok = result.succeeded === n && result.stranded === 0 && ratio <= 1.25;
    rows.push({
      figure: `fleet rotation, N = ${n} (one tenant, 50 req/s)`,
      target: "100 % ok, 0 stranded, ≤ 1.25 × bound",
      baseline: `bound ${ms(result.boundMs)} (${result.novalaCalls} calls ÷ 50/s)`,
      measured: `${((100 * result.succeeded) / n).toFixed(0)} % ok, ${result.stranded} stranded, ${ms(result.wallMs)} = ${ratio.toFixed(2)} × bound`,
      pass: ok,
    });
    notes.push(
      `| ${n} | ${result.succeeded} | ${result.stranded} | ${ms(result.wallMs)} | ${ms(result.boundMs)} | ${ratio.toFixed(2)} | ${result.novalaCalls} (${(result.novalaCalls / n).toFixed(1)} per rotation) | ${result.listCalls} (${((100 * result.listCalls) / result.novalaCalls).toFixed(0)} %) | ${result.rateLimited} | ${mb(result.peakRssBytes)} (+${mb(result.peakRssBytes - result.baseRssBytes)}) |`,
    );
    const distinct = [...new Set(result.failures)].slice(0, 3);
    if (distinct.length > 0) notes.push(`N = ${n} failures (${result.failures.length}): ${distinct.join(" | ")}`);
  }
  return { rows, notes };
}
