/**
 * The revocation that waits for consumers (issue 16), on a simulated clock: the Novala simulator (real HTTP, the real
 * client) and the Secrets Manager and Scheduler models all read one clock that the bench moves a minute at a time, a
 * consumer calls Novala with the key it cached every 5 minutes, and every due schedule fires through the revocation
 * function's rule (runDueRevocation). Grace 1 h and quiet window 1 h, so that the point shows within hours.
 */
import { randomUUID } from "node:crypto";
import { LOCAL_ROTATION_LAMBDA_ARN } from "../cli/secrets-manager-driver.js";
import { createNovalaKeyApi } from "../lambdas/adapters/novala/key-api.js";
import { parseRevocationRequest } from "../lambdas/contract/revocation-request.js";
import { ROTATION_STEPS } from "../lambdas/contract/rotation-event.js";
import type { RotationDeps } from "../lambdas/core/context.js";
import type { Clock, CreatedNovalaKey } from "../lambdas/core/ports.js";
import { revokeRetiredKey } from "../lambdas/core/revocation.js";
import { runDueRevocation } from "../lambdas/core/revocation-usage.js";
import { runRotationStep } from "../lambdas/core/rotation.js";
import { MemoryRotationEvents } from "../local/memory-rotation-events.js";
import { ModelRevocationScheduler, ModelSecretStore } from "../local/model-adapters.js";
import { startNovalaSimulator } from "../local/novala-simulator.js";
import { SchedulerModel } from "../local/scheduler-model.js";
import { SecretsManagerModel } from "../local/secrets-manager-model.js";
import { GROUP, rotationConfig, secretJson, TARGET } from "./rotation.js";
import { progress, type Row, silentTelemetry } from "./support.js";

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
/** How often the consumer calls Novala; the clock moves a minute at a time and due schedules fire at each. */
const CONSUMER_EVERY = 5 * MINUTE;

/** What one consumer's life with a retired key looked like. */
interface ConsumerRun {
  /** Calls with its cached key answered 401 before it meant to move: it was cut off. */
  cutOffs: number;
  /** From the rotation to the revocation of the old key. */
  revokedAfterMs: number;
  /** From the consumer's last call with the old key to its revocation. */
  revokedAfterLastUseMs: number;
  postponements: number;
  /** Novala calls of each due check that postponed, and of the check that revoked. */
  postponedCheckCalls: number[];
  revokingCheckCalls: number;
}

/** A tenant on a simulated clock: one manager-managed secret, rotated by the rotation's own code. */
async function simulatedTenant() {
  let nowMs = Date.parse("2026-11-27T17:00:00Z");
  const clock: Clock = {
    now: () => new Date(nowMs),
    sleep: async (ms) => {
      nowMs += ms;
    },
  };
  const novala = await startNovalaSimulator({ now: () => nowMs, propagationDelayMs: 0 });
  const secrets = new SecretsManagerModel({ clock });
  const schedulerModel = new SchedulerModel({ clock, groups: [GROUP] });
  const config = rotationConfig({ REVOCATION_GRACE_SECONDS: "3600", REVOCATION_QUIET_WINDOW_SECONDS: "3600" });
  const keys = createNovalaKeyApi(config);
  const deps: RotationDeps = {
    store: new ModelSecretStore(secrets),
    keys,
    scheduler: new ModelRevocationScheduler(schedulerModel, TARGET),
    events: new MemoryRotationEvents(),
    telemetry: silentTelemetry,
    clock,
    config,
  };
  const manager = novala.model.seedKey({ name: "Rotation manager", scopes: ["api_keys.manage"] });
  const managerArn = String(
    secrets.createSecret({ Name: "novala/manager", SecretString: secretJson(novala.url, manager) }).ARN,
  );
  const first = novala.model.seedKey({ name: "Acumatica Integration", scopes: ["leads.lead.read"] });
  const arn = String(
    secrets.createSecret({ Name: "novala/acumatica", SecretString: secretJson(novala.url, first, managerArn) }).ARN,
  );

  const current = () =>
    JSON.parse(
      String(secrets.getSecretValue({ SecretId: arn, VersionStage: "AWSCURRENT" }).SecretString),
    ) as CreatedNovalaKey & { keyId: string };
  async function rotate(): Promise<void> {
    nowMs += 1000;
    const token = randomUUID();
    secrets.rotateSecret({ SecretId: arn, ClientRequestToken: token, RotationLambdaARN: LOCAL_ROTATION_LAMBDA_ARN });
    for (const step of ROTATION_STEPS) await runRotationStep(deps, step, arn, token);
  }

  /** A consumer's call: Novala records the key's use. Resolves its status. */
  async function consumerCall(secretKey: string): Promise<number> {
    const answer = await fetch(`${novala.url}/api/v1/leads?limit=1`, {
      headers: { authorization: `Bearer ${secretKey}` },
    });
    await answer.arrayBuffer();
    return answer.status;
  }

  /**
   * Rotates, then moves the clock in steps: the consumer calls with the old key until `lagMs` after the rotation (then
   * with the new one), and due schedules fire; until the old key is revoked (or 12 hours pass).
   */
  async function consumerAfterRotation(lagMs: number, rule: "due" | "fixed grace" = "due"): Promise<ConsumerRun> {
    const old = current();
    await rotate();
    const rotatedAt = nowMs;
    const fresh = current();
    const run: ConsumerRun = {
      cutOffs: 0,
      revokedAfterMs: Number.NaN,
      revokedAfterLastUseMs: Number.NaN,
      postponements: 0,
      postponedCheckCalls: [],
      revokingCheckCalls: 0,
    };
    let lastUse = rotatedAt;
    while (nowMs < rotatedAt + 12 * HOUR) {
      // A minute passes; the consumer calls every 5 minutes, and once a minute after the rotation.
      nowMs += MINUTE;
      const since = nowMs - rotatedAt;
      const onOld = since <= lagMs;
      if (since % CONSUMER_EVERY === 0 || since === MINUTE) {
        if (!onOld) await consumerCall(fresh.secretKey);
        else if ((await consumerCall(old.secretKey)) === 401) run.cutOffs += 1;
        else lastUse = nowMs;
      }
      for (const schedule of schedulerModel.due(clock.now())) {
        const before = novala.requestLog().length;
        const request = parseRevocationRequest(schedule.Target?.Input ?? "{}");
        // The baseline: the revocation before issue 16, at the end of the grace whatever the key's use.
        const done =
          rule === "due"
            ? await runDueRevocation(deps, request)
            : { keyId: request.keyId, outcome: await revokeRetiredKey(deps, request) };
        const calls = novala.requestLog().length - before;
        schedulerModel.completed({ Name: schedule.Name, GroupName: schedule.GroupName });
        if (done.keyId !== old.keyId) continue;
        if (done.outcome === "postponed") {
          run.postponements += 1;
          run.postponedCheckCalls.push(calls);
        } else if (done.outcome === "revoked") {
          run.revokingCheckCalls = calls;
          run.revokedAfterMs = nowMs - rotatedAt;
          run.revokedAfterLastUseMs = nowMs - lastUse;
        }
      }
      // Done once the old key is revoked and the consumer has moved (until then, each call it makes counts).
      if (novala.model.inspect(old.keyId)?.status === "revoked" && !onOld) break;
    }
    return run;
  }

  return {
    consumerAfterRotation,
    stop: async () => {
      await keys.close();
      await novala.stop();
    },
  };
}

const hm = (ms: number) =>
  Number.isFinite(ms)
    ? `${Math.floor(ms / HOUR)} h ${String(Math.round((ms % HOUR) / MINUTE)).padStart(2, "0")} min`
    : "never";

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? "" : "s"}`;

export async function benchUsageRevocation(): Promise<{ rows: Row[]; notes: string[] }> {
  progress("usage-aware revocation (simulated clock)");
  const tenant = await simulatedTenant();
  try {
    // The first key carries no lineage tag: its checks prove it by its secret key (one more call).
    const untagged = await tenant.consumerAfterRotation(3 * HOUR);
    // The key the first rotation minted, retired by the second: its tag proves it.
    const tagged = await tenant.consumerAfterRotation(3 * HOUR);
    const quick = await tenant.consumerAfterRotation(MINUTE);
    const fixedGrace = await tenant.consumerAfterRotation(3 * HOUR, "fixed grace");
    const perCheck = (run: ConsumerRun) =>
      run.postponedCheckCalls.length === 0 ? "—" : `${Math.max(...run.postponedCheckCalls)}`;
    const rows: Row[] = [
      {
        figure: "consumer on the old key for 3 h after a rotation (grace 1 h, window 1 h): cut off",
        target: "never",
        baseline: `fixed grace (same consumer): ${fixedGrace.cutOffs} times, revoked ${hm(fixedGrace.revokedAfterMs)} after`,
        measured:
          `${tagged.cutOffs} times; revoked ${hm(tagged.revokedAfterMs)} after the rotation, ` +
          `${hm(tagged.revokedAfterLastUseMs)} after its last use (${plural(tagged.postponements, "postponement")})`,
        pass: tagged.cutOffs === 0 && untagged.cutOffs === 0,
      },
      {
        figure: "consumer that moved within a minute: old key revoked after the rotation",
        target: "≤ grace + one quiet window (2 h)",
        baseline: "fixed grace: 1 h 00 min",
        measured: `${hm(quick.revokedAfterMs)} (${plural(quick.postponements, "postponement")}: its call 1 min in)`,
        pass: quick.revokedAfterMs <= 2 * HOUR,
      },
      {
        figure: "Novala calls per postponed check (a key the rotator minted)",
        target: "1 (plus the revoke)",
        baseline: `untagged first key: ${perCheck(untagged)}`,
        measured: `${perCheck(tagged)}; the revoking check: ${tagged.revokingCheckCalls}`,
        pass: perCheck(tagged) === "1",
      },
    ];
    const notes = [
      `first (untagged) key, consumer on it 3 h: ${untagged.cutOffs} cut-offs, revoked ${hm(untagged.revokedAfterMs)} after the rotation, ${untagged.postponements} postponements at ${untagged.postponedCheckCalls.join(", ")} Novala calls each (GET the record, then /self with its secret key), the revoking check ${untagged.revokingCheckCalls}`,
      `minted (tagged) key, consumer on it 3 h: postponements at ${tagged.postponedCheckCalls.join(", ")} Novala call(s) each (GET the record), the revoking check ${tagged.revokingCheckCalls} (GET and DELETE)`,
    ];
    return { rows, notes };
  } finally {
    await tenant.stop();
  }
}
