/**
 * The in-memory fault harness: a world (test/support/world.ts) whose ports are wrapped so that any call can fail, lose
 * its answer, or kill the process, and so that the invariants of issue 4 are checked between EVERY two port calls; and
 * a driver that replays what Secrets Manager and EventBridge Scheduler do (step retries, whole-rotation retries, the
 * configuration test, revocation schedules firing) plus what operators do (rollback, manual put-secret-value).
 *
 * Modelling choices (documented here, referenced by the report):
 * - Faults are addressed by the global index of a port call in one scenario (0 = the first call any Lambda makes),
 *   so a schedule is a short list of (index, kind) pairs that fast-check can shrink.
 * - "error": the call fails and nothing happens (Secrets Manager/Scheduler throttling or 500, Novala 429/5xx after the
 *   adapter's retry budget = NovalaUnavailableError; for a create, either that or a 5xx after sending with no key made).
 * - "lost": the call takes effect, then its answer is lost (Secrets Manager/Scheduler: a timeout after the write; Novala
 *   create: CreateOutcomeUnknownError with the key created; other Novala calls: NovalaUnavailableError after the
 *   operation happened).
 * - "crash-before" / "crash-after": the process dies just before / just after the call took effect; every later call of
 *   that invocation throws (no cleanup code runs), and Secrets Manager's retry is a fresh invocation.
 * - A manual put-secret-value during a rotation (between two step invocations): the operator stores a key made by
 *   hand as AWSCURRENT; Secrets Manager then abandons the rotation (CloudTrail RotationAbandoned): it removes
 *   AWSPENDING from the rotation's version and invokes no further step for that token. The rotation's replacement key,
 *   if any, is then held by no staging label; the Lambda is never told, so only the RotationAbandoned alarm of the
 *   design's alert path surfaces it until the next rotation, whose createSecret revokes it. Invariant 2 counts such a key
 *   as "abandoned (alarmed)" until then, requires it revoked after a next rotation, and accepts nothing else.
 * - An operator rollback (update-secret-version-stage AWSCURRENT back to AWSPREVIOUS) happens between finishSecret and
 *   the revocation schedule firing, with a grace period above 0 (with grace 0 the old key is already revoked at finish,
 *   and rolling back to it would be the operator's own outage).
 */

import { SecretStoreError } from "../../../lambdas/adapters/aws/secret-store.js";
import {
  CreateOutcomeUnknownError,
  HealthCheckFailedError,
  NovalaHttpError,
  NovalaUnavailableError,
} from "../../../lambdas/core/errors.js";
import { carriesRotationTag, rotationTag } from "../../../lambdas/core/key-name.js";
import type { KeyApi, RevocationRequest, RevocationScheduler, SecretStore } from "../../../lambdas/core/ports.js";
import { AWSCURRENT, AWSPENDING, AWSPREVIOUS } from "../../../lambdas/core/ports.js";
import { revokeRetiredKey } from "../../../lambdas/core/revocation.js";
import { ROTATION_STEPS, type RotationStep, runRotationStep } from "../../../lambdas/core/rotation.js";
import { createWorld, type World } from "../../support/world.js";

export type FaultKind = "error" | "lost" | "crash-before" | "crash-after";
export const FAULT_KINDS: readonly FaultKind[] = ["error", "lost", "crash-before", "crash-after"];

export interface Fault {
  /** Global index of the port call it hits. */
  at: number;
  kind: FaultKind;
  /** Picks the error's flavour (throttling vs 500, 429 vs 503, create not-sent vs 5xx-after-send). */
  flavor: number;
}

/** Health-check failures: the new key gets fewer scopes, or a probe answers 403. "401 for ever" is a propagation delay
 * longer than the health check's deadline (5 s here). */
export type HealthFault = "none" | "fewer-scopes" | "probe-403";

export interface Scenario {
  /** Seeds Math.random (the health check's jitter) so that a run is reproducible call by call. */
  seed: number;
  graceSeconds: 0 | 3600;
  managed: boolean;
  /** Secrets Manager's configuration test (RotateImmediately=false) before the first rotation. */
  configTest: boolean;
  /** Novala's propagation delay of new keys (ms). */
  propagationMs: number;
  health: HealthFault;
  /** An operator rollback between finishSecret of the first rotation and its revocation (grace > 0 only). */
  rollback: boolean;
  /** A manual put-secret-value before step n (0-3) of the first rotation's first round; null: none. */
  manualPutBeforeStep: number | null;
  /** A second rotation right after the first (back to back: before the first one's revocation fires). */
  secondRotation: boolean;
  faults: Fault[];
}

export class Crash extends Error {
  override name = "Crash";
}

export class InvariantViolation extends Error {
  override name = "InvariantViolation";
}

/** Bounded replay of Secrets Manager: attempts per step in one round, and rounds (whole-rotation retries). */
export const STEP_ATTEMPTS = 3;
export const ROTATION_ROUNDS = 6;
/** EventBridge Scheduler's retries of the revocation Lambda (its policy allows 10). */
export const REVOCATION_ATTEMPTS = 10;

type Port = "store" | "keys" | "scheduler";

export interface CallRecord {
  index: number;
  /** The step (or "revocation") whose invocation made the call. */
  during: string;
  call: string;
  fault?: FaultKind;
}

export type RotationOutcome = "succeeded" | "rolled-back" | "abandoned" | "gave-up";

/** One scenario's world, wrapped. */
export class FaultHarness {
  readonly world: World;
  /** Every port call made, in order (for the failure report). */
  readonly calls: CallRecord[] = [];
  /** Every error message a Lambda invocation threw (scanned for key material). */
  readonly thrown: string[] = [];
  /** Number of CreateSchedule calls that took effect, per key id. */
  readonly schedulesCreated = new Map<string, number>();
  /** Keys an operator rolled back from: allowed to stay live while AWSPREVIOUS holds them (the refusal is alarmed). */
  readonly rolledBackFrom = new Set<string>();
  /** Tokens of rotations Secrets Manager abandoned (manual put-secret-value). */
  readonly abandonedTokens = new Set<string>();
  private readonly faults: Map<number, Fault>;
  private index = 0;
  private during = "setup";
  private readonly scenario: Scenario;
  private readonly firstKeyId: string;
  private readonly healthBase: KeyApi;
  private readonly firstSecretKey: string;

  constructor(scenario: Scenario) {
    this.scenario = scenario;
    this.world = createWorld({
      graceSeconds: scenario.graceSeconds,
      managed: scenario.managed,
      healthCheckDeadlineSeconds: 5,
    });
    this.world.novala.setPropagationDelayMs(scenario.propagationMs);
    this.faults = new Map(scenario.faults.map((fault) => [fault.at, fault]));
    this.firstKeyId = this.world.firstKey.id;
    this.firstSecretKey = this.world.firstKey.secretKey;
    this.healthBase = this.healthFaulty(this.world.deps.keys);
    const model = this.world.schedulerModel;
    const create = model.createSchedule.bind(model);
    model.createSchedule = (input) => {
      const out = create(input);
      const keyId = (JSON.parse(input.Target?.Input ?? "{}") as RevocationRequest).keyId;
      this.schedulesCreated.set(keyId, (this.schedulesCreated.get(keyId) ?? 0) + 1);
      return out;
    };
  }

  /** Health-check faults that are properties of Novala (not transient): the new key's scopes or probes. */
  private healthFaulty(keys: KeyApi): KeyApi {
    const health = this.scenario.health;
    const firstSecret = () => this.firstSecretKey;
    return new Proxy(keys, {
      get(target, property) {
        const value = Reflect.get(target, property, target) as unknown;
        if (typeof value !== "function") return value;
        if (property === "create" && health === "fewer-scopes") {
          // The answer claims the scopes asked for; the key really made has fewer, which only testSecret can find.
          return async (manager: never, request: { name: string; scopes: string[] }) => ({
            ...(await keys.create(manager, { ...request, scopes: request.scopes.slice(1) })),
            scopes: request.scopes,
          });
        }
        if (property === "probe" && health === "probe-403") {
          return async (caller: { bearer: string }, scope: string) => {
            if (caller.bearer !== firstSecret() && scope === "pipeline") {
              throw new NovalaHttpError(403, "GET /api/v1/pipeline/deals", "Forbidden");
            }
            return keys.probe(caller as never, scope);
          };
        }
        return (value as (...args: unknown[]) => unknown).bind(target);
      },
    });
  }

  /** The ports of one Lambda invocation (one process): faults apply, and a crash kills only this invocation. */
  process() {
    let dead = false;
    const wrap = <T extends object>(target: T, port: Port): T =>
      new Proxy(target, {
        get: (object, property) => {
          const value = Reflect.get(object, property, object) as unknown;
          if (typeof value !== "function") return value;
          return async (...args: unknown[]) => {
            if (dead) throw new Crash("the process is dead");
            const index = this.index++;
            const call = `${port}.${String(property)}`;
            const fault = this.faults.get(index);
            this.calls.push({ index, during: this.during, call, ...(fault && { fault: fault.kind }) });
            const perform = () => (value as (...a: unknown[]) => Promise<unknown>).apply(object, args);
            try {
              if (!fault) return await perform();
              switch (fault.kind) {
                case "crash-before":
                  dead = true;
                  throw new Crash(`crash before ${call} (#${index})`);
                case "crash-after":
                  dead = true;
                  await perform().catch(() => undefined);
                  throw new Crash(`crash after ${call} (#${index})`);
                case "error":
                  throw this.errorFor(port, String(property), fault, false);
                case "lost":
                  await perform().catch(() => undefined);
                  throw this.errorFor(port, String(property), fault, true);
              }
            } finally {
              this.checkBetweenCalls(`after call #${index} ${call}${fault ? ` (${fault.kind})` : ""}`);
            }
          };
        },
      });
    return {
      ...this.world.deps,
      store: wrap<SecretStore>(this.world.deps.store, "store"),
      keys: wrap<KeyApi>(this.healthBase, "keys"),
      scheduler: wrap<RevocationScheduler>(this.world.deps.scheduler, "scheduler"),
    };
  }

  private errorFor(port: Port, method: string, fault: Fault, performed: boolean): Error {
    if (port === "store") {
      if (performed) return new SecretStoreError("TimeoutError", `${method}: the answer was lost (simulated)`);
      return fault.flavor % 2 === 0
        ? new SecretStoreError("ThrottlingException", `${method}: Rate exceeded (simulated)`, method, 400)
        : new SecretStoreError("InternalServiceError", `${method}: internal error (simulated)`, method, 500);
    }
    if (port === "scheduler") {
      const error = new Error(
        performed
          ? "CreateSchedule: the answer was lost (simulated)"
          : "CreateSchedule: ThrottlingException (simulated)",
      );
      error.name = performed
        ? "TimeoutError"
        : fault.flavor % 2 === 0
          ? "ThrottlingException"
          : "InternalServerException";
      return error;
    }
    if (method === "create") {
      if (performed) return new CreateOutcomeUnknownError("Novala create: the answer was lost (simulated; created)");
      return fault.flavor % 2 === 0
        ? new NovalaUnavailableError("POST /api/v1/api-keys", "answered 429 (simulated, retry budget spent)", 429)
        : new CreateOutcomeUnknownError("Novala create answered 503 (simulated; no key was created)");
    }
    const status = [429, 500, 502, 503][fault.flavor % 4];
    return new NovalaUnavailableError(
      method,
      `answered ${status} (simulated${performed ? ", after it took effect" : ""})`,
      status,
    );
  }

  // ---- invariants ----

  private fail(message: string): never {
    throw new InvariantViolation(`${message}\n  calls: ${this.describeCalls()}`);
  }

  describeCalls(): string {
    return this.calls
      .slice(-40)
      .map((call) => `#${call.index} ${call.call}${call.fault ? `!${call.fault}` : ""}`)
      .join(", ");
  }

  private currentValue() {
    const out = this.world.secretsManager.getSecretValue({ SecretId: this.world.secretArn, VersionStage: AWSCURRENT });
    return {
      versionId: out.VersionId,
      ...(JSON.parse(out.SecretString ?? "{}") as { keyId: string; secretKey: string }),
    };
  }

  private valueOf(stage: string): { keyId?: string } | undefined {
    try {
      return JSON.parse(
        this.world.secretsManager.getSecretValue({ SecretId: this.world.secretArn, VersionStage: stage })
          .SecretString ?? "{}",
      );
    } catch {
      return undefined;
    }
  }

  /** Invariants 1 and 5 (first half), at any moment a consumer could read the secret. */
  checkBetweenCalls(where: string): void {
    const current = this.currentValue();
    const status = this.world.novala.inspect(current.keyId)?.status;
    if (status !== "active") this.fail(`invariant 1: AWSCURRENT holds ${current.keyId}, which is ${status} (${where})`);
    if (!this.world.novala.authenticate(current.secretKey).ok) {
      this.fail(`invariant 1: the key in AWSCURRENT (${current.keyId}) does not authenticate at Novala (${where})`);
    }
    const liveByTag = new Map<string, string[]>();
    for (const key of this.world.novala.keys()) {
      if (key.status !== "active" || !carriesRotationTag(key.name)) continue;
      const tag = key.name.slice(-24);
      liveByTag.set(tag, [...(liveByTag.get(tag) ?? []), key.id]);
    }
    for (const [tag, ids] of liveByTag) {
      if (ids.length > 1) this.fail(`invariant 5: two live replacement keys for token tag ${tag}: ${ids} (${where})`);
    }
  }

  /** Enabled revocation schedules, by key id. */
  pendingRevocations(): Map<string, number> {
    const pending = new Map<string, number>();
    for (const summary of this.world.schedulerModel.listSchedules({ GroupName: "novala-revocations" }).Schedules) {
      const schedule = this.world.schedulerModel.getSchedule({ Name: summary.Name, GroupName: summary.GroupName });
      if (schedule.State !== "ENABLED") continue;
      const keyId = (JSON.parse(schedule.Target?.Input ?? "{}") as RevocationRequest).keyId;
      pending.set(keyId, (pending.get(keyId) ?? 0) + 1);
    }
    return pending;
  }

  /**
   * Invariant 2 when a rotation ends, and invariant 5's second half. Every active key the rotator created (it carries a
   * rotation tag) is held by AWSCURRENT, by AWSPENDING of a rotation still in progress, or has a revocation schedule
   * still pending. The last is slightly wider than "AWSPREVIOUS with its revocation pending": with rotations back to
   * back inside the grace period, a retired key leaves AWSPREVIOUS while its schedule (its grace) still runs. Keys of
   * a rotation Secrets Manager abandoned are reported apart (see the module comment).
   */
  checkNoStrandedKeys(where: string, inProgressToken?: string): { abandonedKeys: string[] } {
    const current = this.valueOf(AWSCURRENT)?.keyId;
    const pendingKey = inProgressToken ? this.valueOf(AWSPENDING)?.keyId : undefined;
    const previous = this.valueOf(AWSPREVIOUS)?.keyId;
    const revocations = this.pendingRevocations();
    const abandonedTags = new Set([...this.abandonedTokens].map((token) => rotationTag(this.world.secretArn, token)));
    const inProgressTag = inProgressToken ? rotationTag(this.world.secretArn, inProgressToken) : undefined;
    const abandonedKeys: string[] = [];
    for (const key of this.world.novala.keys()) {
      if (key.status !== "active" || !carriesRotationTag(key.name)) continue;
      const tag = key.name.slice(-24);
      if (key.id === current || (pendingKey && key.id === pendingKey) || revocations.has(key.id)) continue;
      // A crash between create and PutSecretValue in a rotation still in progress: the retry will revoke it.
      if (inProgressTag === tag) continue;
      // An operator rolled back from it: AWSPREVIOUS holds it, the refused revocation was alarmed, and the next
      // rotation's finishSecret retires it before it loses that label.
      if (this.rolledBackFrom.has(key.id) && key.id === previous) continue;
      if (abandonedTags.has(tag)) {
        abandonedKeys.push(key.id);
        continue;
      }
      this.fail(
        `invariant 2: active key ${key.id} (tag ${tag}) is stranded ${where}: AWSCURRENT=${current} AWSPREVIOUS=${previous} pending=${pendingKey} schedules=[${[...revocations.keys()]}]`,
      );
    }
    for (const [keyId, count] of this.schedulesCreated) {
      if (count > 1) this.fail(`invariant 5: ${count} revocation schedules were created for key ${keyId} (${where})`);
    }
    return { abandonedKeys };
  }

  /** Invariant 4: no key material Novala ever issued in any log line, metric or thrown error message. */
  checkNoLeaks(): void {
    const haystacks = [this.world.telemetry.text(), ...this.thrown];
    for (const material of this.world.novala.issuedKeyMaterial()) {
      for (const text of haystacks) {
        if (text.includes(material)) {
          this.fail(
            `invariant 4: key material …${material.slice(-4)} appears in: ${text.replace(material, "<KEY>").slice(0, 300)}`,
          );
        }
      }
    }
  }

  // ---- Secrets Manager, Scheduler and operators ----

  /** One Lambda invocation of `step`. */
  async invoke(step: RotationStep, token: string): Promise<Error | undefined> {
    this.during = step;
    try {
      await runRotationStep(this.process(), step, this.world.secretArn, token);
      return undefined;
    } catch (error) {
      if (error instanceof InvariantViolation) throw error;
      this.thrown.push(error instanceof Error ? `${error.name}: ${error.message}` : String(error));
      return error instanceof Error ? error : new Error(String(error));
    }
  }

  private stagesOf(token: string): string[] {
    return this.world.stages()[token] ?? [];
  }

  /**
   * A rotation as Secrets Manager runs it: RotateSecret, then the steps, each retried up to STEP_ATTEMPTS times; a
   * rotation whose step keeps failing is reattempted as a whole (same token) while AWSPENDING still sits on its
   * version, up to ROTATION_ROUNDS rounds.
   */
  async rotate(options: { onBeforeStep?: (step: number, round: number, token: string) => boolean } = {}) {
    const token = this.world.startRotation();
    this.checkBetweenCalls("after RotateSecret");
    for (let round = 1; round <= ROTATION_ROUNDS; round++) {
      let failed = false;
      for (const [index, step] of ROTATION_STEPS.entries()) {
        if (options.onBeforeStep?.(index, round, token)) {
          this.abandonedTokens.add(token);
          return { token, outcome: "abandoned" as RotationOutcome };
        }
        let error: Error | undefined;
        for (let attempt = 1; attempt <= STEP_ATTEMPTS; attempt++) {
          error = await this.invoke(step, token);
          if (!error) break;
        }
        if (error) {
          failed = true;
          break;
        }
      }
      if (!failed) return { token, outcome: "succeeded" as RotationOutcome };
      const stages = this.stagesOf(token);
      if (!stages.includes(AWSPENDING) && !stages.includes(AWSCURRENT)) {
        return { token, outcome: "rolled-back" as RotationOutcome };
      }
    }
    return { token, outcome: "gave-up" as RotationOutcome };
  }

  /** The configuration test: RotateSecret with RotateImmediately=false runs testSecret, then removes AWSPENDING. */
  async configurationTest(): Promise<void> {
    const token = this.world.startRotation(undefined, false);
    this.checkBetweenCalls("after RotateSecret (RotateImmediately=false)");
    for (let attempt = 1; attempt <= STEP_ATTEMPTS; attempt++) {
      const error = await this.invoke("testSecret", token);
      if (!error) break;
      if (error instanceof HealthCheckFailedError) break;
    }
    if (this.stagesOf(token).includes(AWSPENDING)) {
      this.world.secretsManager.updateSecretVersionStage({
        SecretId: this.world.secretArn,
        VersionStage: AWSPENDING,
        RemoveFromVersionId: token,
      });
    }
    this.checkBetweenCalls("after the configuration test");
  }

  /** A manual put-secret-value: a key made by hand becomes AWSCURRENT; Secrets Manager abandons the rotation. */
  manualPut(token: string): void {
    const current = JSON.parse(
      this.world.secretsManager.getSecretValue({ SecretId: this.world.secretArn }).SecretString ?? "{}",
    ) as Record<string, unknown>;
    const manual = this.world.novala.seedKey({
      name: "Acumatica Integration (manual)",
      scopes: this.world.novala.inspect(current.keyId as string)?.scopes ?? [],
    });
    this.world.secretsManager.putSecretValue({
      SecretId: this.world.secretArn,
      SecretString: JSON.stringify({
        ...current,
        keyId: manual.id,
        publishableKey: manual.publishableKey,
        secretKey: manual.secretKey,
        createdAt: manual.createdAt,
      }),
    });
    if (this.stagesOf(token).includes(AWSPENDING)) {
      this.world.secretsManager.updateSecretVersionStage({
        SecretId: this.world.secretArn,
        VersionStage: AWSPENDING,
        RemoveFromVersionId: token,
      });
    }
    this.checkBetweenCalls("after a manual put-secret-value");
  }

  /** update-secret-version-stage: AWSCURRENT back to the AWSPREVIOUS version. */
  operatorRollback(): boolean {
    const current = this.world.stageOf(AWSCURRENT);
    const previous = this.world.stageOf(AWSPREVIOUS);
    if (!current || !previous) return false;
    const from = this.keyAt(AWSCURRENT);
    if (from) this.rolledBackFrom.add(from);
    this.world.secretsManager.updateSecretVersionStage({
      SecretId: this.world.secretArn,
      VersionStage: AWSCURRENT,
      MoveToVersionId: previous,
      RemoveFromVersionId: current,
    });
    this.checkBetweenCalls("after an operator rollback");
    return true;
  }

  /** Advances the clock and fires due revocation schedules, each retried as Scheduler's retry policy allows. */
  async fireRevocations(advanceMs: number): Promise<string[]> {
    this.world.clock.advance(advanceMs);
    const outcomes: string[] = [];
    for (const schedule of this.world.schedulerModel.due(this.world.clock.now())) {
      const input = JSON.parse(schedule.Target?.Input ?? "{}") as RevocationRequest;
      for (let attempt = 1; attempt <= REVOCATION_ATTEMPTS; attempt++) {
        this.during = "revocation";
        try {
          const outcome = await revokeRetiredKey(this.process(), input);
          outcomes.push(outcome);
          // A refused revocation leaves the key to a later retirement, which may schedule it anew.
          if (outcome === "refused") this.schedulesCreated.set(input.keyId, 0);
          break;
        } catch (error) {
          if (error instanceof InvariantViolation) throw error;
          this.thrown.push(error instanceof Error ? `${error.name}: ${error.message}` : String(error));
          if (attempt === REVOCATION_ATTEMPTS) outcomes.push("dead-letter");
        }
      }
      this.world.schedulerModel.completed({ Name: schedule.Name, GroupName: schedule.GroupName });
      this.checkBetweenCalls(`after revocation schedule ${schedule.Name} fired`);
    }
    return outcomes;
  }

  get firstKey(): string {
    return this.firstKeyId;
  }

  /** Key id at a stage, read directly from the model. */
  keyAt(stage: string): string | undefined {
    return this.valueOf(stage)?.keyId;
  }

  statusOf(keyId: string | undefined): string | undefined {
    return keyId ? this.world.novala.inspect(keyId)?.status : undefined;
  }
}

/** A small seeded PRNG (mulberry32) for Math.random during a run. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Runs one scenario end to end and checks the five invariants; throws InvariantViolation (with the call trail) on the
 * first breach. Returns a summary for statistics.
 */
export async function runScenario(scenario: Scenario) {
  const random = Math.random;
  Math.random = seededRandom(scenario.seed);
  try {
    return await runScenarioInner(scenario);
  } finally {
    Math.random = random;
  }
}

async function runScenarioInner(scenario: Scenario) {
  const h = new FaultHarness(scenario);
  const graceMs = scenario.graceSeconds * 1000;
  h.checkBetweenCalls("at the start");
  if (scenario.configTest) {
    await h.configurationTest();
    if (h.keyAt(AWSCURRENT) !== h.firstKey || h.statusOf(h.firstKey) !== "active") {
      throw new InvariantViolation("the configuration test changed AWSCURRENT or revoked its key");
    }
    if (h.world.stageOf(AWSPENDING)) throw new InvariantViolation("AWSPENDING left after the configuration test");
  }
  const healthBroken = scenario.health !== "none" || scenario.propagationMs > 5_000;

  const first = await h.rotate({
    onBeforeStep: (step, round, token) => {
      if (scenario.manualPutBeforeStep !== step || round !== 1) return false;
      h.manualPut(token);
      return true;
    },
  });
  const originalKey = h.firstKey;
  const afterFirst = h.keyAt(AWSCURRENT);
  h.checkNoStrandedKeys(
    `after the first rotation (${first.outcome})`,
    first.outcome === "gave-up" ? first.token : undefined,
  );
  checkEventuallyClean(h, first.outcome, originalKey, healthBroken, scenario);

  if (first.outcome === "succeeded" && scenario.rollback && scenario.graceSeconds > 0) {
    h.operatorRollback();
    const outcomes = await h.fireRevocations(graceMs + 1000);
    if (!outcomes.includes("refused")) {
      throw new InvariantViolation(`the revocation after a rollback was not refused: ${outcomes}`);
    }
    if (h.statusOf(originalKey) !== "active") throw new InvariantViolation("the rolled-back-to key was revoked");
  }

  let second: Awaited<ReturnType<FaultHarness["rotate"]>> | undefined;
  if (scenario.secondRotation) {
    const before = h.keyAt(AWSCURRENT) as string;
    second = await h.rotate();
    const { abandonedKeys: leftAfterSecond } = h.checkNoStrandedKeys(
      `after the second rotation (${second.outcome})`,
      second.outcome === "gave-up" ? second.token : undefined,
    );
    // The next rotation's createSecret revokes what an abandoned rotation left behind.
    if (second.outcome !== "gave-up" && leftAfterSecond.length > 0) {
      throw new InvariantViolation(
        `invariant 2: the next rotation left the abandoned rotation's key(s) ${leftAfterSecond.join(", ")} active`,
      );
    }
    checkEventuallyClean(h, second.outcome, before, healthBroken, scenario);
  }

  // Let every grace period run out and the schedules fire.
  await h.fireRevocations(graceMs + 1000);
  const inProgress =
    second?.outcome === "gave-up" ? second.token : first.outcome === "gave-up" ? first.token : undefined;
  const { abandonedKeys } = h.checkNoStrandedKeys("at the end, after every revocation fired", inProgress);
  if (h.world.schedulerModel.due(h.world.clock.now()).length > 0)
    throw new InvariantViolation("a schedule did not fire");
  // After the graces: a retired key is revoked unless AWSCURRENT holds it again (rollback).
  const current = h.keyAt(AWSCURRENT);
  if (first.outcome === "succeeded" && afterFirst !== originalKey && current !== originalKey) {
    if (h.statusOf(originalKey) !== "revoked") {
      throw new InvariantViolation(
        `invariant 3: the old key ${originalKey} is still ${h.statusOf(originalKey)} after its grace`,
      );
    }
  }
  h.checkNoLeaks();
  return { first: first.outcome, second: second?.outcome, abandonedKeys, calls: h.calls };
}

/** Invariant 3 after a rotation ended: rotated (new key current, old key revoked or scheduled) or untouched. */
function checkEventuallyClean(
  h: FaultHarness,
  outcome: RotationOutcome,
  oldKey: string,
  healthBroken: boolean,
  scenario: Scenario,
): void {
  const current = h.keyAt(AWSCURRENT) as string;
  const pendingVersion = h.world.stageOf(AWSPENDING);
  const fail = (message: string) => {
    throw new InvariantViolation(`invariant 3 (${outcome}): ${message}\n  calls: ${h.describeCalls()}`);
  };
  if (outcome === "gave-up") fail("Secrets Manager's bounded retries did not end the rotation");
  if (outcome === "succeeded") {
    if (current === oldKey) fail("the rotation succeeded but AWSCURRENT still holds the old key");
    if (pendingVersion && h.world.stageOf(AWSCURRENT) !== pendingVersion) fail("AWSPENDING left on a version");
    const revoked = h.statusOf(oldKey) === "revoked";
    const scheduled = h.pendingRevocations().has(oldKey);
    if (!revoked && !scheduled) fail(`the old key ${oldKey} is neither revoked nor scheduled for revocation`);
    if (scenario.graceSeconds > 0 && revoked) fail(`the old key ${oldKey} was revoked before its grace period`);
    if (healthBroken) fail("a rotation whose new key cannot pass the health check succeeded");
    return;
  }
  if (outcome === "abandoned") {
    if (pendingVersion) fail("AWSPENDING left after Secrets Manager abandoned the rotation");
    return;
  }
  // rolled back: untouched
  if (current !== oldKey) fail(`AWSCURRENT holds ${current}, not the old key ${oldKey}`);
  if (h.statusOf(oldKey) !== "active") fail(`the old key ${oldKey} is ${h.statusOf(oldKey)}`);
  if (pendingVersion) fail("AWSPENDING left on a version after the rollback");
  if (!healthBroken) fail("a rotation with a healthy new key was rolled back");
}
