/**
 * The in-memory fault harness: a world (test/support/world.ts) whose ports are wrapped so that any call can fail, lose
 * its answer, or kill the process, and so that the invariants of issues 4 and 9 are checked between EVERY two port
 * calls; and a driver that replays what Secrets Manager and EventBridge Scheduler do (step retries, whole-rotation
 * retries, the configuration test, revocation schedules firing), what operators do (rollback, manual
 * put-secret-value), and what an adversary holding write access to the rotated secret does (support/adversary.ts).
 *
 * The invariants: (1) AWSCURRENT holds an active key that authenticates; (2) no key of the secret's lineage (the
 * keys the rotator made, the original untagged first key, keys put in by hand) is left live with nothing to revoke it; (3) a rotation ends rotated (old key revoked or scheduled, after its grace) or
 * untouched; (4) no key material in any log, metric or error; (5) never two live replacement keys for one tag, never
 * two revocation schedules for one key; (6) no key outside the secret's lineage (its first key, keys an operator put
 * in, keys the rotator minted for it, found by its lineage tags) ever changes status — the manager key and the other
 * teams' keys on the tenant stay active; (7) every key minted belongs to the lineage and holds no scope beyond the
 * first key's (never api_keys.manage for a consumer of a manager); (8) no key a consumer used within the quiet window
 * is revoked by a due revocation before its hard limit (only at it, alarmed: RevocationHardLimitReached), and no key
 * whose revocation was postponed outlives its hard limit unalarmed (explicit revocations now are outside it: grace 0,
 * the operator's rollback without grace, reconcile, the adversary's forged events).
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
 * - An operator rollback (`novala-rotation rollback`: the core's rule, lambdas/core/rollback.ts, with the restored
 *   key's schedule removed and the key rolled away from revoked at once or after --grace) happens between finishSecret
 *   and the revocation schedule firing, with a grace period above 0 (with grace 0 the old key is already revoked at
 *   finish, and rolling back to it would be the operator's own outage). Like reconcile and abort, an operator's run is
 *   not a fault point, but the invariants are checked after each of its calls.
 * - A createSecret failure a retry cannot fix (a forged value the adversary wrote, a create Novala refuses for good:
 *   Scenario.createRefused) ends the rotation itself: AWSPENDING removed, the key it made revoked (issue 16, item 5),
 *   so the next rotation starts without an abort. Until that change, such a rotation kept AWSPENDING and this harness
 *   had the operator abort it; it still does for a rotation the adversary made fail in another way (given up, or
 *   refused past createSecret), with lambdas/core/abort.ts, before the next rotation, under the same checks.
 * - The adversary's moves run at hooks: before every step invocation (each attempt), before each revocation schedule
 *   fires, at the start, after the first rotation, before the graces run out and at the end. Its writes take effect
 *   at once and Secrets Manager goes on driving the rotation in progress (it need not notice), the worst case.
 * - Invariant 1 holds for what the rotator or an operator put into AWSCURRENT. While AWSCURRENT sits on a version whose
 *   value the adversary wrote, or that it labelled AWSCURRENT, it holds what the adversary chose (a forged value that
 *   names another key, a malformed one): that is the adversary's own outage, and its rotations then fail or are
 *   refused, which is the defence. The check resumes when a promotion or an operator moves AWSCURRENT on.
 * - Once the adversary "disturbed" the scenario (wrote into its secret, moved a label, started a rotation, or had one
 *   of its own retired keys revoked early by a forged event), the outcome checks (invariants 2 and 3, the configuration
 *   test's, the rollback's) no longer apply: it may strand or keep its own keys. Invariants 1 (scoped), 4, 5, 6 and 7
 *   still hold after every call. Forged events that were refused and tokens it chose disturb nothing: then every check
 *   applies, and a KeyClaimsRefused without a forged value fails the run (a false alarm).
 * - A consumer of the secret (Scenario.consumerLagMs) caches AWSCURRENT's key and calls Novala with it every
 *   CONSUMER_STEP_MS of simulated time while revocation schedules fire (the clock then moves in those steps); it moves to
 *   the current key `consumerLagMs` after its cached key was retired (Infinity: never, until the key answers 401).
 *   Due revocations run the revocation function's rule (runDueRevocation), postponements fire like any schedule, and at
 *   the end the scenario waits until no revocation is pending (at most the hard limit and two hours more).
 * - EventBridge Scheduler giving up (Scenario.schedulerGivesUp): every attempt of a schedule fails (Novala unreachable
 *   from the revocation function), then Scheduler deletes the schedule (the dead-letter queue is alarmed) with the key
 *   still active. On AWSPREVIOUS the next rotation's finishSecret retires it again; off every label only the operator's
 *   reconcile (the core rule, lambdas/core/stranded.ts) can, which every scenario runs at the end, and invariant 2 then
 *   requires nothing of the lineage left live and unaccounted for. A key left on AWSPREVIOUS with no schedule at the end
 *   gets one more rotation, which must retire it.
 */

import { SecretStoreError } from "../../../lambdas/adapters/aws/secret-store.js";
import {
  CreateOutcomeUnknownError,
  NovalaHttpError,
  NovalaUnavailableError,
  novalaRefusal,
} from "../../../lambdas/adapters/novala/errors.js";
import { parseRevocationRequest, type RevocationRequest } from "../../../lambdas/contract/revocation-request.js";
import { ROTATION_STEPS, type RotationStep } from "../../../lambdas/contract/rotation-event.js";
import { abortRotation } from "../../../lambdas/core/abort.js";
import { HealthCheckFailedError, RotationEndedError } from "../../../lambdas/core/errors.js";
import { isScheduleOrPostponement, rotationTag } from "../../../lambdas/core/key-name.js";
import type { KeyApi, RevocationScheduler, SecretStore } from "../../../lambdas/core/ports.js";
import { AWSCURRENT, AWSPENDING, AWSPREVIOUS } from "../../../lambdas/core/ports.js";
import { CLOCK_SKEW_MS, MIN_CHECK_DELAY_MS, runDueRevocation } from "../../../lambdas/core/revocation-usage.js";
import { checkRollback, type RollbackOutcome, rollBack } from "../../../lambdas/core/rollback.js";
import { runRotationStep } from "../../../lambdas/core/rotation.js";
import { createWorld, SCHEDULE_GROUP, type World } from "../../support/world.js";
import { type Adversary, AdversaryActor, type AdversaryStage, type AdversaryStats } from "./adversary.js";
import { InvariantViolation, WorldInvariants } from "./invariants.js";
import { pendingRevocations, reconcileTenant } from "./operators.js";

export { InvariantViolation };

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
  /**
   * An operator rollback (`novala-rotation rollback`, lambdas/core/rollback.ts) between finishSecret of the first
   * rotation and its revocation (grace > 0 only): true, with `--grace` the scenario's grace (the key rolled away from is
   * scheduled like finishSecret's); "revoke-now", without (it is revoked at once); "by-hand", a bare
   * update-secret-version-stage (the restored key's revocation is then refused, and the key rolled away from waits on
   * AWSPREVIOUS for the next rotation).
   */
  rollback: boolean | "revoke-now" | "by-hand";
  /** A manual put-secret-value before step n (0-3) of the first rotation's first round; null: none. */
  manualPutBeforeStep: number | null;
  /** A second rotation right after the first (back to back: before the first one's revocation fires). */
  secondRotation: boolean;
  faults: Fault[];
  /** The writer of the rotated secret and forger of revocation events (support/adversary.ts); NO_ADVERSARY: none. */
  adversary: Adversary;
  /**
   * The revocation schedules (by firing order: 0 is the first to fire) that EventBridge Scheduler gives up on: Novala
   * is unreachable from the revocation function for every attempt, so Scheduler deletes the schedule with the key still
   * active. Default none.
   */
  schedulerGivesUp?: number[];
  /** The first rotation's grace runs out (its schedules fire) before the second rotation starts. Default: back to back. */
  revocationsBetween?: boolean;
  /**
   * Novala answers 409 (the tenant's key limit) to the first N creates that reach it: a failure a retry cannot fix, so
   * the rotation ends (AWSPENDING removed) and the next one starts without an abort. Default 0.
   */
  createRefused?: number;
  /**
   * A consumer of the secret keeps calling Novala with the key it cached for this long after that key's retirement
   * (Infinity: until the key answers 401); undefined or null: no consumer (and the clock jumps). Default none.
   */
  consumerLagMs?: number | null;
}

/** How often the consumer calls Novala, and the clock's step while schedules fire when there is a consumer. */
export const CONSUMER_STEP_MS = 10 * 60_000;
/** The fault world's hard limit: above the grace (1 h), short enough to be met within a scenario. */
export const FAULT_HARD_LIMIT_SECONDS = 4 * 3600;
/**
 * How much earlier than the retirement the harness sees the hard limit may start: the rule counts from the first
 * version created after the key's (at RotateSecret, before the health check's waits), and meets it a minute early.
 */
const HARD_LIMIT_TOLERANCE_MS = 5 * 60_000;

export class Crash extends Error {
  override name = "Crash";
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

/**
 * "refused": the rotation did not complete and a claim was refused on the way (KeyClaimsRefused); "ended": createSecret
 * met a failure a retry cannot fix and ended it (RotationEndedError).
 */
export type RotationOutcome = "succeeded" | "rolled-back" | "abandoned" | "gave-up" | "refused" | "ended";

/** One scenario's world, wrapped. */
export class FaultHarness implements AdversaryStage {
  readonly world: World;
  /** Every port call made, in order (for the failure report). */
  readonly calls: CallRecord[] = [];
  /** Every error message a Lambda invocation threw (scanned for key material). */
  readonly thrown: string[] = [];
  /** Number of CreateSchedule calls that took effect, per key id. */
  get schedulesCreated(): Map<string, number> {
    return this.invariants.schedulesCreated;
  }
  /** The invariants' definitions (support/invariants.ts); this harness says when each applies. */
  readonly invariants: WorldInvariants;
  /** Keys an operator rolled back from: allowed to stay live while AWSPREVIOUS holds them (the refusal is alarmed). */
  readonly rolledBackFrom = new Set<string>();
  /** Tokens of rotations Secrets Manager abandoned (manual put-secret-value). */
  readonly abandonedTokens = new Set<string>();
  /** Keys whose revocation schedule Scheduler gave up on (deleted after its retries failed), the key left active. */
  readonly givenUp = new Set<string>();
  /** Revocation schedules fired so far (the index schedulerGivesUp refers to). */
  private fired = 0;
  /** When each key was seen to leave AWSCURRENT (its retirement, as a consumer sees it). */
  private readonly retiredAt = new Map<string, number>();
  private lastCurrentKey: string | undefined;
  /** The consumer's cached key, and its last call with each key (by key id), on the simulated clock. */
  private consumerKey: { keyId: string; secretKey: string } | undefined;
  private readonly consumerUses = new Map<string, number>();
  /** Keys a due revocation postponed, and those it logged at their hard limit (the alarm's metric counted). */
  private readonly postponedKeys = new Set<string>();
  private readonly hardLimitReached = new Set<string>();
  /** What the consumers and the due revocations did, for the property's report. */
  readonly usage = { postponements: 0, hardLimitRevocations: 0, consumerCalls: 0, consumerCutOff: 0 };
  /** Keys AWSCURRENT held when an operator put a key in by hand: Secrets Manager moved them to AWSPREVIOUS. */
  private readonly manualPutFrom = new Set<string>();
  /** Stranded keys the operator's reconcile (the core rule, lambdas/core/stranded.ts) revoked. */
  reconciled = 0;
  /** Rotations the operator ended with abort (lambdas/core/abort.ts), and rollbacks it ran (lambdas/core/rollback.ts). */
  aborted = 0;
  rolledBack = 0;
  private schedulerHealthy = false;

  /** From now on Scheduler gives up on nothing (the scenario's give-ups are over). */
  schedulerRecovered(): void {
    this.schedulerHealthy = true;
  }
  private readonly faults: Map<number, Fault>;
  private index = 0;
  private during = "setup";
  private readonly scenario: Scenario;
  private readonly firstKeyId: string;
  private readonly healthBase: KeyApi;
  private readonly firstSecretKey: string;
  readonly actor: AdversaryActor;
  /** Tokens of the rotations in progress (an adversary's extra rotation nests inside the scenario's). */
  private readonly activeTokens: string[] = [];

  constructor(scenario: Scenario) {
    this.scenario = scenario;
    this.world = createWorld({
      graceSeconds: scenario.graceSeconds,
      managed: scenario.managed,
      healthCheckDeadlineSeconds: 5,
      neighbours: true,
      hardLimitSeconds: FAULT_HARD_LIMIT_SECONDS,
    });
    this.invariants = new WorldInvariants(this.world, () => this.describeCalls());
    this.actor = new AdversaryActor(this, scenario.adversary);
    this.world.novala.setPropagationDelayMs(scenario.propagationMs);
    this.faults = new Map(scenario.faults.map((fault) => [fault.at, fault]));
    this.firstKeyId = this.world.firstKey.id;
    this.firstSecretKey = this.world.firstKey.secretKey;
    this.healthBase = this.healthFaulty(this.world.deps.keys);
  }

  /**
   * Faults that are properties of Novala (not transient): the new key's scopes or probes (health), and creates refused
   * for good (createRefused).
   */
  private healthFaulty(keys: KeyApi): KeyApi {
    const health = this.scenario.health;
    const firstSecret = () => this.firstSecretKey;
    let refusals = this.scenario.createRefused ?? 0;
    return new Proxy(keys, {
      get(target, property) {
        const value = Reflect.get(target, property, target) as unknown;
        if (typeof value !== "function") return value;
        if (property === "create" && refusals > 0) {
          return async () => {
            refusals -= 1;
            throw novalaRefusal(409, "POST /api/v1/api-keys", "key limit reached (simulated)");
          };
        }
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
  process(options: { faults: boolean } = { faults: true }) {
    let dead = false;
    const wrap = <T extends object>(target: T, port: Port): T =>
      new Proxy(target, {
        get: (object, property) => {
          const value = Reflect.get(object, property, object) as unknown;
          if (typeof value !== "function") return value;
          return async (...args: unknown[]) => {
            if (dead) throw new Crash("the process is dead");
            const call = `${port}.${String(property)}`;
            if (!options.faults) {
              // An operator's run: no fault point (the indices stay those of the Lambdas' calls), checks all the same.
              try {
                return await (value as (...a: unknown[]) => Promise<unknown>).apply(object, args);
              } finally {
                this.checkBetweenCalls(`after ${call} (${this.during})`);
              }
            }
            const index = this.index++;
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
      if (performed) {
        const lost = { operation: method, awsErrorName: "TimeoutError" };
        return new SecretStoreError(lost, `${method}: the answer was lost (simulated)`);
      }
      return fault.flavor % 2 === 0
        ? new SecretStoreError(
            { operation: method, awsErrorName: "ThrottlingException", httpStatusCode: 400 },
            `${method}: Rate exceeded (simulated)`,
          )
        : new SecretStoreError(
            { operation: method, awsErrorName: "InternalServiceError", httpStatusCode: 500 },
            `${method}: internal error (simulated)`,
          );
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
    return this.invariants.fail(message);
  }

  describeCalls(): string {
    return this.calls
      .slice(-40)
      .map((call) => `#${call.index} ${call.call}${call.fault ? `!${call.fault}` : ""}`)
      .join(", ");
  }

  private currentValue() {
    return this.invariants.currentValue();
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

  /**
   * Invariants 1, 5 (first half), 6 and 7, at any moment a consumer could read the secret. Invariant 1 is about what the
   * rotator (or an operator) put into AWSCURRENT: while AWSCURRENT sits on a version whose value the adversary wrote, or
   * that the adversary labelled AWSCURRENT, it holds whatever the adversary chose, and a broken value is the adversary's
   * own outage (its rotations then fail or are refused). It applies again once a promotion moves AWSCURRENT on.
   */
  checkBetweenCalls(where: string): void {
    const current = this.currentValue();
    if (current.keyId !== this.lastCurrentKey) {
      if (this.lastCurrentKey && !this.retiredAt.has(this.lastCurrentKey)) {
        this.retiredAt.set(this.lastCurrentKey, this.world.clock.now().getTime());
      }
      this.lastCurrentKey = current.keyId;
    }
    if (!this.actor.ownsCurrent(current.versionId)) this.invariants.checkCurrentKeyWorks(where, current);
    this.invariants.checkOneLiveKeyPerTag(where);
    this.invariants.checkLineage(where);
  }

  /** Invariants 6 and 7 (support/invariants.ts). */
  checkLineage(where: string): void {
    this.invariants.checkLineage(where);
  }

  /** Keys outside the lineage whose status is not what it was at the start (0 unless invariant 6 broke). */
  foreignKeysChanged(): number {
    return this.invariants.foreignKeysChanged();
  }

  /** Enabled revocation schedules, by key id. */
  pendingRevocations(): Map<string, number> {
    return pendingRevocations(this.world);
  }

  /**
   * Invariant 2 when a rotation ends, and invariant 5's second half. Every active key of the lineage — each key the
   * rotator created (it carries a rotation tag), the original, untagged first key and the keys an operator put in by
   * hand — is held by AWSCURRENT, by AWSPENDING of a rotation still in progress, or has a revocation schedule still
   * pending. The last is slightly wider than "AWSPREVIOUS with its revocation pending": with rotations back to back
   * inside the grace period, a retired key leaves AWSPREVIOUS while its schedule (its grace) still runs. AWSPREVIOUS
   * without a schedule is allowed only for a key the next rotation retires before it loses that label
   * (retireOutgoingPreviousKey) and that got there without a schedule: rolled back from, pushed there by a manual
   * put-secret-value, or whose schedule Scheduler gave up on (alarmed: the dead-letter queue). Keys of a rotation
   * Secrets Manager abandoned are reported apart (see the module comment), and so are keys whose schedule Scheduler
   * gave up on once they had left every label: the operator's reconcile must find them (runScenario checks it does).
   */
  checkNoStrandedKeys(where: string, inProgressToken?: string): { abandonedKeys: string[]; givenUpKeys: string[] } {
    this.invariants.checkOneSchedulePerKey(where);
    // The adversary can strand its own keys (moving labels off them, overwriting the values that name them): they
    // are of its lineage and scopes (invariants 6 and 7), and the next rotation's createSecret revokes what it can prove.
    if (this.actor.disturbed) return { abandonedKeys: [], givenUpKeys: [] };
    const current = this.valueOf(AWSCURRENT)?.keyId;
    const pendingKey = inProgressToken ? this.valueOf(AWSPENDING)?.keyId : undefined;
    const previous = this.valueOf(AWSPREVIOUS)?.keyId;
    const revocations = this.pendingRevocations();
    const abandonedTags = new Set([...this.abandonedTokens].map((token) => rotationTag(this.world.secretArn, token)));
    const inProgressTag = inProgressToken ? rotationTag(this.world.secretArn, inProgressToken) : undefined;
    const abandonedKeys: string[] = [];
    const givenUpKeys: string[] = [];
    for (const { key, tag } of this.invariants.activeLineageKeys()) {
      if (key.id === current || (pendingKey && key.id === pendingKey) || revocations.has(key.id)) continue;
      // A crash between create and PutSecretValue in a rotation still in progress: the retry will revoke it.
      if (tag && inProgressTag === tag) continue;
      // On AWSPREVIOUS without a schedule, for a reason that was alarmed or chosen: the next rotation's finishSecret
      // retires it before it loses that label.
      const unscheduledPrevious =
        this.rolledBackFrom.has(key.id) || this.givenUp.has(key.id) || this.manualPutFrom.has(key.id);
      if (key.id === previous && unscheduledPrevious) continue;
      if (tag && abandonedTags.has(tag)) {
        abandonedKeys.push(key.id);
        continue;
      }
      if (this.givenUp.has(key.id) && key.id !== previous) {
        givenUpKeys.push(key.id);
        continue;
      }
      this.fail(
        `invariant 2: active key ${key.id} (${tag ? `tag ${tag}` : "untagged"}) is stranded ${where}: AWSCURRENT=${current} AWSPREVIOUS=${previous} pending=${pendingKey} schedules=[${[...revocations.keys()]}] given up=[${[...this.givenUp]}]`,
      );
    }
    return { abandonedKeys, givenUpKeys };
  }

  /** Invariant 4: no key material Novala ever issued in any log line, metric or thrown error message. */
  checkNoLeaks(): void {
    this.invariants.checkNoLeaks(this.thrown);
  }

  // ---- Secrets Manager, Scheduler and operators ----

  /** One Lambda invocation of `step` (after the adversary's moves placed before it). */
  async invoke(step: RotationStep, token: string): Promise<Error | undefined> {
    await this.actor.hook(`before ${step}`);
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

  private hasValue(token: string): boolean {
    try {
      this.world.secretsManager.getSecretValue({ SecretId: this.world.secretArn, VersionId: token });
      return true;
    } catch {
      return false;
    }
  }

  /**
   * A rotation as Secrets Manager runs it: RotateSecret, then the steps, each retried up to STEP_ATTEMPTS times; a
   * rotation whose step keeps failing is reattempted as a whole (same token) while AWSPENDING still sits on its
   * version, up to ROTATION_ROUNDS rounds.
   */
  async rotate(
    options: { index?: 0 | 1; onBeforeStep?: (step: number, round: number, token: string) => boolean } = {},
  ) {
    await this.clearStalePending();
    this.aSecondPasses();
    // The adversary may start the rotation itself, with a token of its choosing; Secrets Manager rejects one in use.
    const chosen = options.index === undefined ? undefined : this.actor.tokenFor(options.index);
    let token: string;
    try {
      token = this.world.startRotation(chosen);
    } catch (error) {
      if (chosen === undefined) throw error;
      this.actor.stats.rejected += 1;
      token = this.world.startRotation();
    }
    return this.drive(token, options.onBeforeStep);
  }

  /** Secrets Manager's invocations of one rotation's steps, with its retries; the outcome. */
  private async drive(token: string, onBeforeStep?: (step: number, round: number, token: string) => boolean) {
    this.activeTokens.push(token);
    try {
      const refusedBefore = this.world.telemetry.count("KeyClaimsRefused");
      const outcome = await this.driveSteps(token, onBeforeStep);
      const refused = this.world.telemetry.count("KeyClaimsRefused") > refusedBefore;
      return {
        token,
        outcome: (refused && outcome !== "succeeded" && outcome !== "abandoned"
          ? "refused"
          : outcome) as RotationOutcome,
      };
    } finally {
      this.activeTokens.pop();
    }
  }

  private async driveSteps(
    token: string,
    onBeforeStep?: (step: number, round: number, token: string) => boolean,
  ): Promise<RotationOutcome> {
    this.checkBetweenCalls("after RotateSecret");
    for (let round = 1; round <= ROTATION_ROUNDS; round++) {
      let failed = false;
      for (const [index, step] of ROTATION_STEPS.entries()) {
        if (onBeforeStep?.(index, round, token)) {
          this.abandonedTokens.add(token);
          return "abandoned";
        }
        let error: Error | undefined;
        for (let attempt = 1; attempt <= STEP_ATTEMPTS; attempt++) {
          error = await this.invoke(step, token);
          // Ended: Secrets Manager's further attempts of this token would only be refused by the guard.
          if (error instanceof RotationEndedError) return "ended";
          if (!error) break;
        }
        if (error) {
          failed = true;
          break;
        }
      }
      if (!failed) return "succeeded";
      const stages = this.stagesOf(token);
      // AWSPENDING gone: rolled back by testSecret (its version holds the key it revoked), or ended by createSecret
      // (nothing was stored), also when the ending's last answer was lost or its process died.
      if (!stages.includes(AWSPENDING) && !stages.includes(AWSCURRENT)) {
        return this.hasValue(token) ? "rolled-back" : "ended";
      }
    }
    return "gave-up";
  }

  /**
   * After the adversary made a rotation fail in a way that does not end it (given up, or refused past createSecret),
   * AWSPENDING stays on its version and Secrets Manager would refuse every later RotateSecret: the operator answers
   * the alarm with `novala-rotation abort` (lambdas/core/abort.ts), which revokes only what that rotation minted.
   * When abort refuses (AWSCURRENT holds a value
   * the adversary wrote, which names no usable manager), the operator removes the label by hand. Never needed without
   * the adversary (a rotation that gives up breaks invariant 3 before).
   */
  private async clearStalePending(): Promise<void> {
    const pending = this.world.stageOf(AWSPENDING);
    if (!pending || pending === this.world.stageOf(AWSCURRENT) || !this.actor.disturbed) return;
    this.during = "operator abort";
    try {
      await abortRotation(this.process({ faults: false }), this.world.secretArn, pending);
      this.aborted += 1;
    } catch (error) {
      if (error instanceof InvariantViolation) throw error;
      this.thrown.push(error instanceof Error ? `${error.name}: ${error.message}` : String(error));
    }
    if (this.stagesOf(pending).includes(AWSPENDING)) {
      this.world.secretsManager.updateSecretVersionStage({
        SecretId: this.world.secretArn,
        VersionStage: AWSPENDING,
        RemoveFromVersionId: pending,
      });
    }
    this.checkBetweenCalls("after the operator ended a stale rotation");
  }

  // ---- the adversary's stage (support/adversary.ts) ----

  /** A hook where the adversary's moves placed at the next index run. */
  adversaryHook(where: string): Promise<void> {
    return this.actor.hook(where);
  }

  get disturbed(): boolean {
    return this.actor.disturbed;
  }

  activeToken(): string | undefined {
    return this.activeTokens.at(-1);
  }

  check(where: string): void {
    this.checkBetweenCalls(where);
  }

  async revocation(request: RevocationRequest): Promise<string> {
    this.during = "forged revocation";
    try {
      // An invoker of the revocation function reaches its due path, as a schedule does.
      return (await runDueRevocation(this.process(), request)).outcome;
    } catch (error) {
      if (error instanceof InvariantViolation) throw error;
      this.thrown.push(error instanceof Error ? `${error.name}: ${error.message}` : String(error));
      return "error";
    }
  }

  async rotation(token: string | undefined): Promise<string> {
    let started: string;
    try {
      started = this.world.startRotation(token);
    } catch (error) {
      if (!/Exception$/.test((error as Error).name)) throw error;
      return "rejected";
    }
    return (await this.drive(started)).outcome;
  }

  /** The configuration test: RotateSecret with RotateImmediately=false runs testSecret, then removes AWSPENDING. */
  async configurationTest(): Promise<void> {
    await this.clearStalePending();
    this.aSecondPasses();
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
    this.aSecondPasses();
    const current = JSON.parse(
      this.world.secretsManager.getSecretValue({ SecretId: this.world.secretArn }).SecretString ?? "{}",
    ) as Record<string, unknown>;
    // The operator makes a key like the team's first (not like whatever AWSCURRENT claims: the adversary may forge it).
    const manual = this.world.novala.seedKey({
      name: "Acumatica Integration (manual)",
      scopes: this.world.firstKey.scopes,
    });
    this.invariants.addManualKey(manual.id);
    if (typeof current.keyId === "string") this.manualPutFrom.add(current.keyId);
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

  /**
   * `novala-rotation rollback` (with `--grace` the scenario's grace, unless "revoke-now"): the core's check and rollback
   * over the world's ports. Resolves the outcome, or the reason it refused.
   */
  async operatorRollback(mode: true | "revoke-now"): Promise<RollbackOutcome | string> {
    this.during = "operator rollback";
    this.rolledBack += 1;
    const ports = this.process({ faults: false });
    const check = await checkRollback(ports, this.world.secretArn);
    if (check.outcome === "refused") return check.reason;
    this.rolledBackFrom.add(check.plan.retired.keyId);
    const outcome = await rollBack(ports, check.plan, {
      cancelRevocation: async (name) => {
        const group = SCHEDULE_GROUP;
        const own = this.world.schedulerModel
          .listSchedules({ GroupName: group, NamePrefix: name })
          .Schedules.filter((schedule) => isScheduleOrPostponement(schedule.Name ?? "", name));
        for (const schedule of own) this.world.schedulerModel.deleteSchedule({ Name: schedule.Name, GroupName: group });
        if (own.length > 0) this.schedulesCreated.set(check.plan.restored.keyId, 0);
        return own.length > 0;
      },
      events: ports.events,
      reason: "rolled back by an operator (fault suite)",
      ...(mode === true && { grace: { ms: this.scenario.graceSeconds * 1000, scheduler: ports.scheduler } }),
    });
    this.checkBetweenCalls("after an operator rollback");
    return outcome;
  }

  /**
   * A second passes before Secrets Manager or an operator makes a version, so that versions made one after the other
   * have distinct dates, as in AWS (the clock otherwise moves only with sleeps and schedules).
   */
  private aSecondPasses(): void {
    this.world.clock.advance(1000);
  }

  /** A rollback by hand: update-secret-version-stage AWSCURRENT back to the AWSPREVIOUS version. */
  rollbackByHand(): void {
    const current = this.world.stageOf(AWSCURRENT);
    const previous = this.world.stageOf(AWSPREVIOUS);
    if (!current || !previous) return;
    const from = this.keyAt(AWSCURRENT);
    if (from) this.rolledBackFrom.add(from);
    this.world.secretsManager.updateSecretVersionStage({
      SecretId: this.world.secretArn,
      VersionStage: AWSCURRENT,
      MoveToVersionId: previous,
      RemoveFromVersionId: current,
    });
    this.checkBetweenCalls("after a rollback by hand");
  }

  /**
   * Advances the clock and fires due revocation schedules, each retried as Scheduler's retry policy allows. With a
   * consumer the clock moves in CONSUMER_STEP_MS steps, the consumer calling Novala at each.
   */
  async fireRevocations(advanceMs: number): Promise<string[]> {
    const consumer = this.scenario.consumerLagMs !== undefined && this.scenario.consumerLagMs !== null;
    const outcomes: string[] = [];
    for (let left = advanceMs; left > 0; ) {
      const step = consumer ? Math.min(left, CONSUMER_STEP_MS) : left;
      left -= step;
      this.world.clock.advance(step);
      this.consumerCalls();
      outcomes.push(...(await this.fireDue()));
      this.checkHardLimits(`after the schedules due at ${this.world.clock.now().toISOString()} fired`);
    }
    return outcomes;
  }

  /**
   * Until no revocation is pending (postponements included), the consumer calling meanwhile; bounded by the hard limit
   * and two hours more, after which invariant 8 has had its say on every key.
   */
  async drainRevocations(): Promise<void> {
    const limit = this.world.clock.now().getTime() + (FAULT_HARD_LIMIT_SECONDS + 2 * 3600) * 1000;
    while (this.pendingRevocations().size > 0 && this.world.clock.now().getTime() < limit) {
      await this.fireRevocations(CONSUMER_STEP_MS);
    }
  }

  /** The consumer's call with its cached key; it moves to the current key `consumerLagMs` after the retirement. */
  private consumerCalls(): void {
    const lag = this.scenario.consumerLagMs;
    if (lag === undefined || lag === null) return;
    const now = this.world.clock.now().getTime();
    const current = this.currentValue();
    const cached = this.consumerKey;
    const retired = cached ? this.retiredAt.get(cached.keyId) : undefined;
    if (!cached || (cached.keyId !== current.keyId && retired !== undefined && now - retired >= lag)) {
      this.consumerKey = { keyId: current.keyId, secretKey: current.secretKey };
    }
    const key = this.consumerKey as { keyId: string; secretKey: string };
    let used = this.world.novala.useKey(key.secretKey);
    if (!used.ok && key.keyId !== current.keyId) {
      // Its cached key answers 401: cut off (an outage, which invariant 8 allows only at the hard limit), it re-reads.
      this.usage.consumerCutOff += 1;
      this.consumerKey = { keyId: current.keyId, secretKey: current.secretKey };
      used = this.world.novala.useKey(current.secretKey);
    }
    if (used.ok) {
      this.usage.consumerCalls += 1;
      this.consumerUses.set(used.value.key.id, now);
    }
  }

  /** Every schedule due now, fired through the revocation function's rule, with Scheduler's retries. */
  private async fireDue(): Promise<string[]> {
    const outcomes: string[] = [];
    for (const schedule of this.world.schedulerModel.due(this.world.clock.now())) {
      await this.actor.hook("before a revocation schedule fires");
      const givesUp = !this.schedulerHealthy && (this.scenario.schedulerGivesUp?.includes(this.fired) ?? false);
      this.fired += 1;
      let input: RevocationRequest;
      try {
        input = parseRevocationRequest(schedule.Target?.Input ?? "{}");
      } catch {
        // The handler refuses a malformed event (the rule's own schedules are never malformed).
        outcomes.push("refused");
        this.world.schedulerModel.completed({ Name: schedule.Name, GroupName: schedule.GroupName });
        continue;
      }
      for (let attempt = 1; attempt <= REVOCATION_ATTEMPTS; attempt++) {
        this.during = "revocation";
        const active = new Set(this.activeKeys());
        const linesBefore = this.world.telemetry.lines.length;
        try {
          const ports = this.process();
          const done = await runDueRevocation(givesUp ? { ...ports, keys: novalaUnreachable() } : ports, input);
          outcomes.push(done.outcome);
          if (done.outcome === "postponed") {
            this.usage.postponements += 1;
            this.postponedKeys.add(done.keyId);
          }
          if (done.outcome === "kept" || (done.outcome === "revoked" && done.hardLimitReached)) {
            this.hardLimitReached.add(done.keyId);
            if (done.outcome === "revoked") this.usage.hardLimitRevocations += 1;
          }
          // A refused revocation leaves the key to a later retirement, which may schedule it anew.
          if (done.outcome === "refused") this.schedulesCreated.set(input.keyId, 0);
          this.checkRevocationUsage(active, `after revocation schedule ${schedule.Name} fired`);
          break;
        } catch (error) {
          if (error instanceof InvariantViolation) throw error;
          this.thrown.push(error instanceof Error ? `${error.name}: ${error.message}` : String(error));
          // A process that died after acting returned no outcome: the hard limit's alarm is the error line (and the
          // RevocationHardLimitReached metric) it wrote before revoking or keeping, which a crash cannot take back.
          if (this.loggedHardLimit(input.keyId, linesBefore)) this.hardLimitReached.add(input.keyId);
          this.checkRevocationUsage(active, `after a failed attempt of revocation schedule ${schedule.Name}`);
          if (attempt === REVOCATION_ATTEMPTS) {
            // Scheduler gives up: the event goes to the dead-letter queue (alarmed) and the schedule is deleted.
            outcomes.push("dead-letter");
            if (this.statusOf(input.keyId) === "active") this.givenUp.add(input.keyId);
            this.schedulesCreated.set(input.keyId, 0);
          }
        }
      }
      this.world.schedulerModel.completed({ Name: schedule.Name, GroupName: schedule.GroupName });
      this.checkBetweenCalls(`after revocation schedule ${schedule.Name} fired`);
    }
    return outcomes;
  }

  /** Whether the due revocation logged reaching `keyId`'s hard limit since line `from` of the world's telemetry. */
  private loggedHardLimit(keyId: string, from: number): boolean {
    return this.world.telemetry.lines
      .slice(from)
      .some((line) => line.level === "error" && line.fields?.keyId === keyId && line.message.includes("hard limit"));
  }

  private activeKeys(): string[] {
    return this.world.novala
      .keys()
      .filter((key) => key.status === "active")
      .map((key) => key.id);
  }

  /**
   * Invariant 8, first half, after a due revocation: a key it revoked that the consumer used within the quiet window
   * (after its retirement: the rotator's own proof at the retirement passes for its own use) was revoked at its hard
   * limit, logged and counted. The adversary's writes and forged events are outside it (they are the invoker's power).
   */
  private checkRevocationUsage(activeBefore: Set<string>, where: string): void {
    if (this.actor.disturbed) return;
    const now = this.world.clock.now().getTime();
    const { quietWindowMs, hardLimitMs } = this.world.config.usage;
    for (const keyId of activeBefore) {
      if (this.statusOf(keyId) !== "revoked") continue;
      const lastUse = this.consumerUses.get(keyId);
      const retired = this.retiredAt.get(keyId);
      if (lastUse === undefined || retired === undefined) continue;
      if (lastUse <= now - quietWindowMs || lastUse <= retired + CLOCK_SKEW_MS) continue;
      const used = `the consumer used it ${Math.round((now - lastUse) / 60_000)} min before (quiet window ${quietWindowMs / 60_000} min)`;
      if (!this.hardLimitReached.has(keyId)) {
        this.fail(
          `invariant 8: key ${keyId} was revoked by a due revocation though ${used}, before its hard limit (${where})`,
        );
      }
      if (now < retired + hardLimitMs - HARD_LIMIT_TOLERANCE_MS) {
        this.fail(
          `invariant 8: key ${keyId} was revoked at its "hard limit" ${Math.round((retired + hardLimitMs - now) / 60_000)} min before the hard limit counted from its retirement; ${used} (${where})`,
        );
      }
    }
  }

  /**
   * Invariant 8, second half: a key whose revocation was postponed is revoked by its hard limit (a step of the clock and
   * a minute late at most), or was logged at it (kept, or revoked), or Scheduler gave up on it (the dead-letter alarm).
   */
  private checkHardLimits(where: string): void {
    if (this.actor.disturbed) return;
    const now = this.world.clock.now().getTime();
    const current = this.keyAt(AWSCURRENT);
    for (const keyId of this.postponedKeys) {
      const retired = this.retiredAt.get(keyId);
      if (retired === undefined || keyId === current || this.statusOf(keyId) !== "active") continue;
      if (this.hardLimitReached.has(keyId) || this.givenUp.has(keyId)) continue;
      if (now > retired + this.world.config.usage.hardLimitMs + CONSUMER_STEP_MS + MIN_CHECK_DELAY_MS) {
        this.fail(`invariant 8: key ${keyId}, postponed, outlived its hard limit with no alarm (${where})`);
      }
    }
  }

  get firstKey(): string {
    return this.firstKeyId;
  }

  /**
   * The operator's `reconcile --revoke --grace 0s` after the dead-letter alarm: the same rule the CLI runs
   * (lambdas/core/stranded.ts) over every secret on the tenant, with the tenant's manager key, Novala reachable again.
   * Its calls are not fault points (it is a later, separate run) but the invariants are checked after it.
   */
  async reconcile(): Promise<{ revoked: string[] }> {
    const pending = new Set(this.pendingRevocations().keys());
    const revoked = await reconcileTenant(this.world, this.world.deps, () => pending, { minAgeMs: 0, graceMs: 0 });
    this.reconciled += revoked.length;
    this.checkBetweenCalls("after the operator's reconcile --revoke");
    return { revoked };
  }

  /** Key id at a stage, read directly from the model. */
  keyAt(stage: string): string | undefined {
    return this.valueOf(stage)?.keyId;
  }

  statusOf(keyId: string | undefined): string | undefined {
    return keyId ? this.world.novala.inspect(keyId)?.status : undefined;
  }
}

/** Novala as the revocation function sees it while Scheduler retries in vain: every call fails after its retries. */
function novalaUnreachable(): KeyApi {
  return new Proxy({} as KeyApi, {
    get: (_target, property) => async () => {
      throw new NovalaUnavailableError(String(property), "connection refused (simulated: Novala unreachable)", 0);
    },
  });
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
 * Runs one scenario end to end and checks the seven invariants; throws InvariantViolation (with the call trail) on the
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

/**
 * The scenario's checks of outcomes (invariants 2 and 3, the configuration test, the rollback's refusal) apply while the
 * adversary has not disturbed it (AdversaryActor.disturbed): forged events it fired were refused, tokens it chose were
 * just tokens. Once it wrote into its secret or revoked one of its own keys, the rotations may fail, be refused or
 * leave its own keys behind; invariants 1 (scoped), 4, 5, 6 and 7 still hold after every call.
 */
async function runScenarioInner(scenario: Scenario) {
  const h = new FaultHarness(scenario);
  const graceMs = scenario.graceSeconds * 1000;
  h.checkBetweenCalls("at the start");
  await h.adversaryHook("at the start");
  if (scenario.configTest) {
    await h.configurationTest();
    if (!h.disturbed && (h.keyAt(AWSCURRENT) !== h.firstKey || h.statusOf(h.firstKey) !== "active")) {
      throw new InvariantViolation("the configuration test changed AWSCURRENT or revoked its key");
    }
    if (!h.disturbed && h.world.stageOf(AWSPENDING)) {
      throw new InvariantViolation("AWSPENDING left after the configuration test");
    }
  }
  const healthBroken = scenario.health !== "none" || scenario.propagationMs > 5_000;

  const originalKey = h.keyAt(AWSCURRENT) as string;
  const first = await h.rotate({
    index: 0,
    onBeforeStep: (step, round, token) => {
      if (scenario.manualPutBeforeStep !== step || round !== 1) return false;
      h.manualPut(token);
      return true;
    },
  });
  const afterFirst = h.keyAt(AWSCURRENT);
  h.checkNoStrandedKeys(
    `after the first rotation (${first.outcome})`,
    first.outcome === "gave-up" ? first.token : undefined,
  );
  if (!h.disturbed) checkEventuallyClean(h, first.outcome, originalKey, healthBroken, scenario);

  if (first.outcome === "succeeded" && scenario.rollback === "by-hand" && scenario.graceSeconds > 0 && !h.disturbed) {
    h.rollbackByHand();
    const outcomes = await h.fireRevocations(graceMs + 1000);
    // (Unless the adversary's moves placed just before the schedule fired disturbed it.)
    if (!h.disturbed && !outcomes.includes("refused")) {
      throw new InvariantViolation(`the revocation after a rollback by hand was not refused: ${outcomes}`);
    }
    if (!h.disturbed && h.statusOf(originalKey) !== "active") {
      throw new InvariantViolation("the rolled-back-to key was revoked");
    }
  } else if (
    first.outcome === "succeeded" &&
    scenario.rollback &&
    scenario.rollback !== "by-hand" &&
    scenario.graceSeconds > 0 &&
    !h.disturbed
  ) {
    const rolledBackFrom = h.keyAt(AWSCURRENT) as string;
    const rollback = await h.operatorRollback(scenario.rollback);
    if (typeof rollback === "string") throw new InvariantViolation(`the operator rollback was refused: ${rollback}`);
    if (h.keyAt(AWSCURRENT) !== originalKey || !rollback.scheduleRemoved) {
      throw new InvariantViolation("the rollback did not restore the old key or left its revocation schedule");
    }
    const retirement = rollback.retirement.outcome;
    if (retirement !== (scenario.rollback === true ? "scheduled" : "revoked")) {
      throw new InvariantViolation(`the rollback did not retire the key rolled away from: ${retirement}`);
    }
    await h.fireRevocations(graceMs + 1000);
    // (Unless the adversary's moves placed just before the schedule fired disturbed it.)
    if (!h.disturbed && h.statusOf(originalKey) !== "active") {
      throw new InvariantViolation("the rolled-back-to key was revoked");
    }
    // (Or Scheduler gave up on its revocation: alarmed, and left to the next rotation or reconcile, checked below; or
    // the consumer still uses it, and its revocation is postponed: invariant 8 bounds it.)
    if (
      !h.disturbed &&
      h.statusOf(rolledBackFrom) !== "revoked" &&
      !h.givenUp.has(rolledBackFrom) &&
      !h.pendingRevocations().has(rolledBackFrom)
    ) {
      throw new InvariantViolation(`the key rolled away from (${rolledBackFrom}) is still active after its grace`);
    }
  }
  await h.adversaryHook("after the first rotation");
  if (scenario.revocationsBetween) {
    await h.fireRevocations(graceMs + 1000);
    h.checkNoStrandedKeys("after the first rotation's revocations fired");
  }

  let second: Awaited<ReturnType<FaultHarness["rotate"]>> | undefined;
  if (scenario.secondRotation) {
    const before = h.keyAt(AWSCURRENT) as string;
    second = await h.rotate({ index: 1 });
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
    if (!h.disturbed) checkEventuallyClean(h, second.outcome, before, healthBroken, scenario);
  }

  // Let every grace period run out and the schedules fire, and wait out what consumers still use (postponed).
  await h.adversaryHook("before the graces run out");
  await h.fireRevocations(graceMs + 1000);
  await h.drainRevocations();
  await h.adversaryHook("at the end");
  const inProgress =
    second?.outcome === "gave-up" ? second.token : first.outcome === "gave-up" ? first.token : undefined;
  const { abandonedKeys, givenUpKeys } = h.checkNoStrandedKeys("at the end, after every revocation fired", inProgress);
  if (h.world.schedulerModel.due(h.world.clock.now()).length > 0)
    throw new InvariantViolation("a schedule did not fire");
  // The operator answers the dead-letter (or RotationAbandoned) alarm with reconcile --revoke; run in every scenario,
  // the adversary's too, since it must never revoke what it should not (invariants 1, 6 and 7 are checked after it).
  await h.reconcile();
  if (!h.disturbed) {
    const { abandonedKeys: left, givenUpKeys: stillGivenUp } = h.checkNoStrandedKeys("after reconcile", inProgress);
    if (left.length + stillGivenUp.length > 0) {
      throw new InvariantViolation(
        `invariant 2: reconcile left stranded key(s) active: ${[...left, ...stillGivenUp].join(", ")} (found before: ${[...abandonedKeys, ...givenUpKeys].join(", ")})`,
      );
    }
    await retireUnscheduledPrevious(h, graceMs);
  }
  // After the graces: a retired key is revoked unless AWSCURRENT holds it again (rollback).
  const current = h.keyAt(AWSCURRENT);
  if (!h.disturbed && first.outcome === "succeeded" && afterFirst !== originalKey && current !== originalKey) {
    if (h.statusOf(originalKey) !== "revoked") {
      throw new InvariantViolation(
        `invariant 3: the old key ${originalKey} is still ${h.statusOf(originalKey)} after its grace`,
      );
    }
  }
  h.checkLineage("at the end");
  // Refusals are alarms (KeyClaimsRefused): without a forged value there must be none, or they would be false alarms.
  const keyClaimsRefused = h.world.telemetry.count("KeyClaimsRefused");
  if (!h.disturbed && keyClaimsRefused > 0) {
    throw new InvariantViolation(`${keyClaimsRefused} claim(s) refused in a schedule without forged values`);
  }
  h.checkNoLeaks();
  return {
    first: first.outcome,
    second: second?.outcome,
    abandonedKeys,
    givenUpKeys,
    schedulerGaveUp: h.givenUp.size,
    reconciled: h.reconciled,
    aborted: h.aborted,
    rolledBack: h.rolledBack,
    usage: h.usage,
    calls: h.calls,
    adversary: {
      ...h.actor.stats,
      planned: scenario.adversary.moves.length + scenario.adversary.tokens.filter((token) => token !== null).length,
      disturbed: h.disturbed,
      keyClaimsRefused,
      revocationsRefused: h.world.telemetry.count("RevocationsRefused"),
      foreignKeysChanged: h.foreignKeysChanged(),
    } satisfies AdversaryStats & Record<string, unknown>,
  };
}

/**
 * A key left on AWSPREVIOUS with no revocation schedule (its schedule given up by Scheduler, rolled back from, or pushed
 * there by a manual put) is revoked by nothing until the next rotation: run that rotation and its grace, with
 * Scheduler healthy again, and require the key revoked. Skipped when the rotation itself does not succeed (a fault
 * placed in it).
 */
async function retireUnscheduledPrevious(h: FaultHarness, graceMs: number): Promise<void> {
  const previous = h.keyAt(AWSPREVIOUS);
  if (!previous || previous === h.keyAt(AWSCURRENT) || h.statusOf(previous) !== "active") return;
  if (h.pendingRevocations().has(previous)) return;
  h.schedulerRecovered();
  const next = await h.rotate();
  await h.fireRevocations(graceMs + 1000);
  await h.drainRevocations();
  // (The adversary's moves placed at later hooks may run during this rotation: then its outcome is the adversary's.)
  if (h.disturbed) return;
  if (next.outcome === "succeeded" && h.statusOf(previous) !== "revoked" && h.keyAt(AWSCURRENT) !== previous) {
    throw new InvariantViolation(
      `invariant 2: key ${previous} sat on AWSPREVIOUS with no schedule, and the next rotation did not retire it\n  calls: ${h.describeCalls()}`,
    );
  }
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
  if (outcome === "refused") fail("a claim was refused though nothing was forged");
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
  if (outcome === "ended") {
    // Only a create Novala refused for good ends a rotation without an adversary; it leaves the secret untouched.
    if (!scenario.createRefused) fail("a rotation ended though Novala refused nothing for good");
    if (current !== oldKey) fail(`AWSCURRENT holds ${current}, not the old key ${oldKey}`);
    if (h.statusOf(oldKey) !== "active") fail(`the old key ${oldKey} is ${h.statusOf(oldKey)}`);
    if (pendingVersion) fail("AWSPENDING left on a version after the rotation ended");
    return;
  }
  // rolled back: untouched
  if (current !== oldKey) fail(`AWSCURRENT holds ${current}, not the old key ${oldKey}`);
  if (h.statusOf(oldKey) !== "active") fail(`the old key ${oldKey} is ${h.statusOf(oldKey)}`);
  if (pendingVersion) fail("AWSPENDING left on a version after the rollback");
  if (!healthBroken) fail("a rotation with a healthy new key was rolled back");
}
