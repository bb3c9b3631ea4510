import { randomBytes } from "node:crypto";
import {
  ConflictException,
  CreateScheduleGroupCommand,
  GetScheduleCommand,
  type SchedulerClient,
  SchedulerClient as SchedulerClientClass,
} from "@aws-sdk/client-scheduler";
import {
  CreateSecretCommand,
  DeleteSecretCommand,
  GetSecretValueCommand,
  ListSecretVersionIdsCommand,
  SecretsManagerClient,
} from "@aws-sdk/client-secrets-manager";
import type { InitializeMiddleware, MetadataBearer } from "@smithy/types";
import { driveSteps, startRotation } from "../cli/secrets-manager-driver.js";
import { TimedManagerSecretCache } from "../lambdas/adapters/aws/manager-cache.js";
import { AwsRevocationScheduler } from "../lambdas/adapters/aws/revocation-scheduler.js";
import { AwsSecretStore } from "../lambdas/adapters/aws/secret-store.js";
import { createNovalaKeyApi } from "../lambdas/adapters/novala/key-api.js";
import { readRotationConfig } from "../lambdas/contract/configuration.js";
import { rotationEnvironment } from "../lambdas/contract/environment.js";
import type { RevocationRequest } from "../lambdas/contract/revocation-request.js";
import type { RotationDeps } from "../lambdas/core/context.js";
import { errorMessage } from "../lambdas/core/errors.js";
import { revocationScheduleName } from "../lambdas/core/key-name.js";
import type { RevocationScheduler } from "../lambdas/core/ports.js";
import { systemClock } from "../lambdas/core/ports.js";
import { runDueRevocation } from "../lambdas/core/revocation-usage.js";
import { runRotationStep } from "../lambdas/core/rotation.js";
import { secretValueFor } from "../lambdas/core/secret-value.js";
import { MemoryRotationEvents } from "./memory-rotation-events.js";
import { ModelRevocationScheduler } from "./model-adapters.js";
import { startNovalaSimulator } from "./novala-simulator.js";
import { type LogLine, RecordingTelemetry } from "./recording-telemetry.js";
import { SchedulerModel } from "./scheduler-model.js";
import { startSecretsManagerServer } from "./secrets-manager-server.js";

/**
 * The local run: a whole rotation on this machine, shown step by step. Novala is the simulator on a free loopback
 * port; Secrets Manager is the embedded model (served over HTTP, so the real SDK client and the Lambdas' own adapter
 * are used) or any endpoint given (moto, or a real account); Scheduler is an embedded model, or the same endpoint.
 * The four steps run exactly as Secrets Manager drives them, then the revocation after a shortened grace period.
 */
export interface DemoOptions {
  /** A Secrets Manager (and Scheduler) endpoint instead of the embedded models, e.g. http://127.0.0.1:5000 (moto). */
  endpointUrl?: string;
  region?: string;
  /** Make the new key fail its health check (a probe answers 403), to show the rollback. */
  failHealthCheck?: boolean;
  /** Grace period before the old key is revoked. Default 3 s; 0 revokes in finishSecret. */
  graceSeconds?: number;
  /** Rotate a self-managed key instead of one managed by a separate manager secret. */
  selfManaged?: boolean;
  /** Novala's propagation delay for new keys. Default 1500 ms, so the health check's wait shows. */
  propagationDelayMs?: number;
  /** Leave the demo secrets in place at the end (for `status` and friends); default: delete them. */
  keep?: boolean;
  print: (line: string) => void;
}

const SCHEDULE_GROUP = "novala-revocations";
const DEMO_LAMBDA_ARN = "arn:aws:lambda:us-east-1:123456789012:function:novala-revocation-local";
const DEMO_ROLE_ARN = "arn:aws:iam::123456789012:role/novala-scheduler-local";

export async function runDemo(options: DemoOptions): Promise<{ ok: boolean; secretArn: string }> {
  const print = options.print;
  const started = Date.now();
  const elapsed = () => `${String(Date.now() - started).padStart(6)} ms`;
  const graceSeconds = options.graceSeconds ?? 3;
  const region = options.region ?? process.env.AWS_REGION ?? "us-east-1";
  const propagationDelayMs = options.propagationDelayMs ?? 1500;

  const novala = await startNovalaSimulator({ propagationDelayMs });
  const embedded = options.endpointUrl ? undefined : await startSecretsManagerServer();
  const endpoint = options.endpointUrl ?? embedded?.url;
  // The embedded model ignores credentials; an explicit endpoint uses the default chain unless none is set.
  const credentials =
    embedded || !process.env.AWS_ACCESS_KEY_ID ? { accessKeyId: "local", secretAccessKey: "local" } : undefined;
  const secrets = new SecretsManagerClient({ region, endpoint, ...(credentials && { credentials }) });
  const schedulerClient = options.endpointUrl
    ? new SchedulerClientClass({ region, endpoint, ...(credentials && { credentials }) })
    : undefined;
  const awsCalls = countCalls(secrets, schedulerClient);
  const novalaCalls = new Map<string, number>();

  const config = readRotationConfig(
    rotationEnvironment({
      allowedHosts: ["127.0.0.1"],
      gracePeriodSeconds: graceSeconds,
      scheduleGroup: SCHEDULE_GROUP,
      revocationFunctionArn: DEMO_LAMBDA_ARN,
      schedulerRoleArn: DEMO_ROLE_ARN,
      healthCheckDeadlineSeconds: 10,
      retryBudgetSeconds: 10,
    }),
  );
  const schedulerModel = new SchedulerModel({ groups: [SCHEDULE_GROUP] });
  const scheduler: RevocationScheduler =
    schedulerClient && config.revocation
      ? new AwsRevocationScheduler(schedulerClient, config.revocation)
      : new ModelRevocationScheduler(
          schedulerModel,
          config.revocation ?? {
            scheduleGroup: SCHEDULE_GROUP,
            functionArn: DEMO_LAMBDA_ARN,
            schedulerRoleArn: DEMO_ROLE_ARN,
          },
        );
  const keys = createNovalaKeyApi(config, {
    onAttempt: (attempt) => novalaCalls.set(attempt.operation, (novalaCalls.get(attempt.operation) ?? 0) + 1),
  });
  const telemetry = new RecordingTelemetry((line) => print(formatLine(line)));
  // What consumers would receive from EventBridge, shown as it is published.
  const events = new MemoryRotationEvents("default", (entry) =>
    print(`${" ".repeat(10)}  event "${entry.DetailType}" ${entry.Detail}`),
  );
  const deps: RotationDeps = {
    store: new AwsSecretStore(secrets),
    keys,
    scheduler,
    events,
    telemetry,
    clock: systemClock,
    config,
    // As a warm rotation function: the manager secret read once per window, not once per step.
    managerCache: new TimedManagerSecretCache(),
  };

  const suffix = randomBytes(3).toString("hex");
  const secretName = `novala/demo-${suffix}/acumatica`;
  const managerName = `novala/demo-${suffix}/manager`;
  let secretArn = "";
  let managerArn: string | undefined;
  let ok = false;
  try {
    print("Novala key rotation — local run");
    print(`  Novala              simulator at ${novala.url} (new keys answer 401 for ${propagationDelayMs} ms)`);
    print(`  Secrets Manager     ${embedded ? `embedded model at ${embedded.url}` : `endpoint ${endpoint}`}`);
    print(`  Scheduler           ${schedulerClient ? `endpoint ${endpoint}` : "embedded model"}`);
    print(`  grace period        ${graceSeconds} s${options.failHealthCheck ? "   (health check set to fail)" : ""}`);
    print("");

    // Set-up: the keys Novala's dashboard would have issued, and the secrets a platform team would have made.
    const consumer = novala.model.seedKey({
      name: "Acumatica Integration",
      scopes: options.selfManaged
        ? ["leads.lead.read", "pipeline", "api_keys.manage"]
        : ["leads.lead.read", "pipeline"],
    });
    if (!options.selfManaged) {
      const manager = novala.model.seedKey({ name: "Rotation manager", scopes: ["api_keys.manage"] });
      managerArn = await createSecret(secrets, managerName, secretValueFor(novala.url, manager));
      print(`setup   manager secret ${managerName} holds ${manager.id} (api_keys.manage)`);
    }
    secretArn = await createSecret(
      secrets,
      secretName,
      secretValueFor(novala.url, consumer, managerArn ? { managerSecretId: managerArn } : {}),
    );
    print(`setup   secret ${secretName} holds ${consumer.id} (${consumer.scopes.join(", ")}) as AWSCURRENT`);
    if (schedulerClient) await ensureScheduleGroup(schedulerClient);
    if (options.failHealthCheck) {
      novala.injectFault({ match: "GET /api/v1/pipeline/deals", kind: "status", status: 403, count: 1000 });
    }
    print("");

    const beforeRotation = snapshot(awsCalls, novalaCalls);
    const token = await startRotation(secrets, secretArn);
    print(`${elapsed()}  RotateSecret      token ${token}: AWSPENDING version made, rotation enabled`);
    try {
      await driveSteps(
        secrets,
        (event) => runRotationStep(deps, event.Step, event.SecretId, event.ClientRequestToken),
        secretArn,
        token,
        { onStep: (step) => print(`${elapsed()}  ${step}`) },
      );
      ok = !options.failHealthCheck;
    } catch (error) {
      print(`${elapsed()}  the rotation failed: ${errorMessage(error)}`);
      print(`${" ".repeat(11)}Secrets Manager records RotationFailed; AWSCURRENT still holds ${consumer.id}.`);
      ok = Boolean(options.failHealthCheck);
    }

    const rotationCalls = since(beforeRotation, snapshot(awsCalls, novalaCalls));
    const current = await readStage(secrets, secretArn, "AWSCURRENT");
    let revocationCalls: ReturnType<typeof since> | undefined;
    if (current.keyId !== consumer.id && graceSeconds > 0) {
      print(
        `${elapsed()}  waiting out the grace period (${graceSeconds} s); consumers still holding ${consumer.id} keep working`,
      );
      const before = await novalaStatus(keys, novala.url, consumer);
      print(`${" ".repeat(11)}old key ${consumer.id} during the grace period: ${before}`);
      const request = await dueRevocation(schedulerClient, schedulerModel, secretArn, consumer.id, graceSeconds);
      print(`${elapsed()}  revocation        the schedule fires the revocation Lambda for ${request.keyId}`);
      const beforeRevocation = snapshot(awsCalls, novalaCalls);
      // What the revocation Lambda runs: it reads the old key's last use and revokes it, since only the rotator's own
      // proofs (and the check above, within the clock-skew allowance of them) used it.
      const done = await runDueRevocation(deps, request);
      revocationCalls = since(beforeRevocation, snapshot(awsCalls, novalaCalls));
      print(`${" ".repeat(11)}outcome: ${done.outcome}${done.lastUsedAt ? ` (last used ${done.lastUsedAt})` : ""}`);
    }
    const after = await novalaStatus(keys, novala.url, consumer);
    print(`${" ".repeat(11)}old key ${consumer.id} now: ${after}`);
    if (current.keyId !== consumer.id) {
      const fresh = await novalaStatus(keys, novala.url, {
        publishableKey: String(current.publishableKey),
        id: String(current.keyId),
      });
      print(`${" ".repeat(11)}new key ${current.keyId}: ${fresh}`);
    }

    print("");
    print(`Versions of ${secretName}:`);
    for (const line of await versionTable(secrets, secretArn)) print(`  ${line}`);
    print("");
    print("Novala keys:");
    for (const key of novala.model.keys()) print(`  ${key.id}  ${key.status.padEnd(7)}  ${key.name}`);
    print("");
    print(
      "Calls the rotation made (RotateSecret to finishSecret; CreateSchedule is the embedded model's when no endpoint):",
    );
    for (const [service, counts] of Object.entries(rotationCalls))
      print(`  ${service.padEnd(16)} ${formatCounts(counts)}`);
    if (revocationCalls) {
      print("Calls the revocation made:");
      for (const [service, counts] of Object.entries(revocationCalls))
        print(`  ${service.padEnd(16)} ${formatCounts(counts)}`);
    }
    print(`Done in ${Date.now() - started} ms: ${ok ? "as expected" : "NOT as expected"}.`);
    if (options.keep && options.endpointUrl) {
      // The demo's rotation function is not registered at the endpoint, so the CLI is told where the schedules are.
      print(
        `Kept. See it: novala-rotation status ${secretName} --endpoint-url ${endpoint} --schedule-group ${SCHEDULE_GROUP}`,
      );
    }
    return { ok, secretArn };
  } finally {
    if (!options.keep && options.endpointUrl) {
      for (const id of [secretArn, managerArn]) {
        if (id)
          await secrets
            .send(new DeleteSecretCommand({ SecretId: id, ForceDeleteWithoutRecovery: true }))
            .catch(() => {});
      }
    }
    await keys.close();
    secrets.destroy();
    schedulerClient?.destroy();
    await novala.stop();
    await embedded?.stop();
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function createSecret(client: SecretsManagerClient, name: string, value: string): Promise<string> {
  const created = await client.send(new CreateSecretCommand({ Name: name, SecretString: value }));
  if (!created.ARN) throw new Error(`CreateSecret ${name} answered no ARN`);
  return created.ARN;
}

async function ensureScheduleGroup(client: SchedulerClient): Promise<void> {
  await client.send(new CreateScheduleGroupCommand({ Name: SCHEDULE_GROUP })).catch((error: unknown) => {
    if (!(error instanceof ConflictException)) throw error;
  });
}

async function readStage(client: SecretsManagerClient, secretId: string, stage: string) {
  const answer = await client.send(new GetSecretValueCommand({ SecretId: secretId, VersionStage: stage }));
  return JSON.parse(answer.SecretString ?? "{}") as Record<string, unknown>;
}

/**
 * Waits until the revocation schedule is due (at() has whole seconds, rounded up), then resolves its Input: from the
 * endpoint's Scheduler (which never fires it, having no Lambda to call), or the embedded model.
 */
async function dueRevocation(
  client: SchedulerClient | undefined,
  model: SchedulerModel,
  secretArn: string,
  keyId: string,
  graceSeconds: number,
): Promise<RevocationRequest> {
  const name = revocationScheduleName(secretArn, keyId);
  const deadline = Date.now() + (graceSeconds + 5) * 1000;
  await sleep(graceSeconds * 1000);
  let schedule: { Target?: { Input?: string } } | undefined = client
    ? await client.send(new GetScheduleCommand({ Name: name, GroupName: SCHEDULE_GROUP }))
    : undefined;
  while (!client && !schedule && Date.now() < deadline) {
    schedule = model.due().find((candidate) => candidate.Name === name);
    if (!schedule) await sleep(100);
  }
  if (!schedule?.Target?.Input) throw new Error(`revocation schedule ${name} did not come due`);
  if (!client) model.completed({ Name: name, GroupName: SCHEDULE_GROUP });
  return JSON.parse(schedule.Target.Input) as RevocationRequest;
}

/** Whether a key still authenticates, asked the way a consumer would: with the key itself. */
async function novalaStatus(
  keys: ReturnType<typeof createNovalaKeyApi>,
  baseUrl: string,
  key: { publishableKey: string; id: string },
): Promise<string> {
  try {
    await keys.self({ baseUrl, bearer: key.publishableKey });
    return "authenticates (200)";
  } catch (error) {
    return `rejected (${errorMessage(error)})`;
  }
}

async function versionTable(client: SecretsManagerClient, secretId: string): Promise<string[]> {
  const listed = await client.send(new ListSecretVersionIdsCommand({ SecretId: secretId, IncludeDeprecated: true }));
  const lines: string[] = [];
  for (const version of listed.Versions ?? []) {
    const stages = version.VersionStages ?? [];
    let keyId = "(no value)";
    if (stages.length > 0 && version.VersionId) {
      const value = await client
        .send(new GetSecretValueCommand({ SecretId: secretId, VersionId: version.VersionId, VersionStage: stages[0] }))
        .catch(() => undefined);
      if (value?.SecretString) keyId = String(JSON.parse(value.SecretString).keyId);
    } else if (stages.length === 0) {
      keyId = "(deprecated: no label)";
    }
    lines.push(`${version.VersionId}  ${(stages.join(", ") || "-").padEnd(24)}  ${keyId}`);
  }
  return lines;
}

function formatLine(line: LogLine): string {
  const fields = Object.entries(line.fields ?? {})
    .map(([name, value]) => `${name}=${Array.isArray(value) ? value.join(",") : String(value)}`)
    .join(" ");
  const marker = line.level === "error" ? "!" : line.level === "warn" ? "~" : " ";
  return `${" ".repeat(10)}${marker} ${line.message}${fields ? `  (${fields})` : ""}`;
}

function countCalls(secrets: SecretsManagerClient, scheduler: SchedulerClient | undefined) {
  const counts = { secrets: new Map<string, number>(), scheduler: new Map<string, number>() };
  const counter =
    (into: Map<string, number>): InitializeMiddleware<object, MetadataBearer> =>
    (next, context) =>
    async (args) => {
      const name = String(context.commandName ?? "unknown").replace(/Command$/, "");
      into.set(name, (into.get(name) ?? 0) + 1);
      return next(args);
    };
  secrets.middlewareStack.add(counter(counts.secrets), { step: "initialize", name: "demoCallCounter" });
  scheduler?.middlewareStack.add(counter(counts.scheduler), { step: "initialize", name: "demoCallCounter" });
  return counts;
}

type Counts = Map<string, number>;

function snapshot(aws: { secrets: Counts; scheduler: Counts }, novala: Counts) {
  return { "Secrets Manager": new Map(aws.secrets), Scheduler: new Map(aws.scheduler), Novala: new Map(novala) };
}

/** What was counted between two snapshots; services without calls are left out. */
function since(before: ReturnType<typeof snapshot>, after: ReturnType<typeof snapshot>): Record<string, Counts> {
  const result: Record<string, Counts> = {};
  for (const service of Object.keys(after) as (keyof typeof after)[]) {
    const delta = new Map<string, number>();
    for (const [name, count] of after[service]) {
      const made = count - (before[service].get(name) ?? 0);
      if (made > 0) delta.set(name, made);
    }
    if (delta.size > 0) result[service] = delta;
  }
  return result;
}

function formatCounts(counts: Map<string, number>): string {
  const total = [...counts.values()].reduce((sum, count) => sum + count, 0);
  return `${total} (${[...counts].map(([name, count]) => `${name} ${count}`).join(", ")})`;
}
