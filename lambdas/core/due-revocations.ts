/**
 * Running a secret's due revocations by hand (`novala-rotation revoke-due`): the dead-letter recovery, and the local run
 * on an endpoint whose Scheduler never fires (moto). What is due is decided here; each due revocation then goes through
 * runDueRevocation (revocation-usage.ts), exactly as the revocation function runs it when its schedule fires.
 */
import { parseRevocationRequest, type RevocationRequest } from "../contract/revocation-request.js";
import { errorMessage } from "./errors.js";
import { isScheduleOrPostponement, revocationScheduleName, revocationSchedulePrefix } from "./key-name.js";
import type { SecretVersion } from "./ports.js";
import { proveRetiredHolding } from "./revocation.js";
import { type DueRevocationDeps, retiredNoEarlierThan } from "./revocation-usage.js";

/** A schedule in the revocation group, as listed: its name, when it fires, and its input as Scheduler holds it. */
export interface ListedSchedule {
  name: string;
  /** When it fires (its at() time); undefined when that cannot be read. */
  fireAt?: Date;
  /** The target's Input, the revocation function's event. */
  input?: string;
}

/** The retired key AWSPREVIOUS holds, when it holds one that neither AWSCURRENT nor AWSPENDING holds. */
export interface PreviousKey {
  keyId: string;
  versionId: string;
}

/**
 * One thing to do for the secret, in order:
 * - `run`: a schedule whose time has come (or passed): run its due revocation with its input, then delete it (Scheduler
 *   deletes a schedule once it has fired);
 * - `superseded`: a schedule whose key has a later postponement scheduled: it has fired already, delete it, run nothing;
 * - `not-due`: a schedule whose time has not come: left to Scheduler (`revoke` revokes at once);
 * - `unreadable`: a schedule of the secret whose input the revocation function would refuse, or that names another
 *   secret: left alone (the function refuses it when it fires);
 * - `lost`: AWSPREVIOUS's key with no schedule at all (Scheduler gave up and deleted it: the dead-letter case, or a
 *   finishSecret that failed after the promotion), due at `dueAt` (its retirement plus the grace period; now when
 *   Secrets Manager gives no dates). With grace 0 it is revoked at once, as finishSecret would have.
 */
export type DueStep =
  | { kind: "run"; schedule: string; request: RevocationRequest; fireAt?: Date }
  | { kind: "superseded"; schedule: string; keyId: string; by: string }
  | { kind: "not-due"; schedule: string; keyId: string; fireAt: Date }
  | { kind: "unreadable"; schedule: string; reason: string }
  | { kind: "lost"; keyId: string; versionId: string; dueAt: Date; immediate: boolean };

export interface DuePlanInput {
  now: Date;
  secretArn: string;
  /** The schedules in the deployment's revocation group whose names carry this secret's prefix. */
  schedules: ListedSchedule[];
  previous?: PreviousKey;
  /** Every version with its dates (ListSecretVersionIds): the previous key's retirement is read from them. */
  versions: SecretVersion[];
  graceSeconds: number;
}

/**
 * What revoke-due does for one secret. Only schedules named for this secret (revocationScheduleName) and whose input
 * names this secret and the key of their name are acted on; of one key's schedules only the latest postponement runs.
 */
export function planDueRevocations(input: DuePlanInput): DueStep[] {
  const prefix = `${revocationSchedulePrefix(input.secretArn)}-`;
  const steps: DueStep[] = [];
  const readable: { schedule: ListedSchedule; request: RevocationRequest; postponements: number }[] = [];
  for (const schedule of input.schedules) {
    if (!schedule.name.startsWith(prefix)) continue;
    let request: RevocationRequest;
    try {
      request = parseRevocationRequest(schedule.input ?? "");
    } catch (error) {
      steps.push({ kind: "unreadable", schedule: schedule.name, reason: errorMessage(error) });
      continue;
    }
    const own = revocationScheduleName(input.secretArn, request.keyId);
    if (request.secretId !== input.secretArn || !isScheduleOrPostponement(schedule.name, own)) {
      steps.push({
        kind: "unreadable",
        schedule: schedule.name,
        reason: `its input names key ${request.keyId} of ${request.secretId}, not a key this schedule's name is for`,
      });
      continue;
    }
    readable.push({ schedule, request, postponements: request.postponements ?? 0 });
  }
  const latest = new Map<string, (typeof readable)[number]>();
  for (const entry of readable) {
    const seen = latest.get(entry.request.keyId);
    if (!seen || entry.postponements > seen.postponements) latest.set(entry.request.keyId, entry);
  }
  for (const entry of readable) {
    const { schedule, request } = entry;
    const newest = latest.get(request.keyId);
    if (newest && newest !== entry) {
      steps.push({ kind: "superseded", schedule: schedule.name, keyId: request.keyId, by: newest.schedule.name });
      continue;
    }
    const fireAt = schedule.fireAt ?? parseTime(request.revokeAfter);
    if (fireAt && fireAt.getTime() > input.now.getTime()) {
      steps.push({ kind: "not-due", schedule: schedule.name, keyId: request.keyId, fireAt });
      continue;
    }
    steps.push({ kind: "run", schedule: schedule.name, request, ...(fireAt && { fireAt }) });
  }
  const previous = input.previous;
  if (
    previous &&
    !latest.has(previous.keyId) &&
    !steps.some((step) => "keyId" in step && step.keyId === previous.keyId)
  ) {
    const retiredAt = retiredNoEarlierThan(input.versions, previous.versionId);
    const dueAt = retiredAt ? new Date(retiredAt.getTime() + input.graceSeconds * 1000) : input.now;
    steps.push({ kind: "lost", ...previous, dueAt, immediate: input.graceSeconds === 0 });
  }
  return steps;
}

/** What putting back a lost schedule that is not due yet did. */
export type RestoredRevocation =
  | { outcome: "created" | "exists"; schedule: string; revokeAfter: Date }
  | { outcome: "already-revoked"; reason: string }
  | { outcome: "refused"; reason: string };

/**
 * Puts back the revocation schedule of a retired key whose schedule was lost before it fell due (finishSecret failed
 * after the promotion, or someone deleted it): proven first exactly as the revocation proves it (a key the secret no
 * longer proves is refused, a key Novala reports gone needs nothing), then scheduled under its own name at `dueAt`
 * through the RevocationScheduler port, as finishSecret schedules it. When it fires, the revocation proves it again.
 */
export async function restoreLostRevocation(
  deps: DueRevocationDeps,
  secretArn: string,
  lost: PreviousKey & { dueAt: Date },
): Promise<RestoredRevocation> {
  const proven = await proveRetiredHolding(deps, { secretId: secretArn, keyId: lost.keyId, versionId: lost.versionId });
  if (proven.outcome !== "proven") return proven;
  const schedule = revocationScheduleName(proven.secretArn, lost.keyId);
  const revokeAfter = lost.dueAt;
  const outcome = await deps.scheduler.ensureScheduled(schedule, revokeAfter, {
    secretId: proven.secretArn,
    keyId: lost.keyId,
    versionId: proven.versionId,
    revokeAfter: revokeAfter.toISOString(),
    // A proof by the secret key used the key just now: that use is the rotator's own.
    ...(proven.by === "secret-key" && { rotatorUsedAt: deps.clock.now().toISOString() }),
  });
  if (outcome === "created") deps.telemetry.metric("RevocationsScheduled");
  deps.telemetry.info("restored the retired key's lost revocation schedule", {
    keyId: lost.keyId,
    schedule,
    revokeAfter: revokeAfter.toISOString(),
    outcome,
  });
  return { outcome, schedule, revokeAfter };
}

function parseTime(text: string | undefined): Date | undefined {
  if (!text) return undefined;
  const ms = Date.parse(text);
  return Number.isFinite(ms) ? new Date(ms) : undefined;
}
