/** The due revocation: revoked unless a consumer still uses the key, then postponed, never beyond a hard limit. */
import type { AllowedHosts } from "../contract/allowed-hosts.js";
import type { UsageConfig } from "../contract/configuration.js";
import { KEY_REVOCATION_POSTPONED } from "../contract/environment.js";
import { MAX_POSTPONEMENTS, type RevocationRequest } from "../contract/revocation-request.js";
import type { RotationDeps } from "./context.js";
import { postponedScheduleName, revocationScheduleName } from "./key-name.js";
import type { RotationEvents, SecretVersion } from "./ports.js";
import { keyClaimOf } from "./possession.js";
import { type ProvenRetiredKey, proveRetiredHolding, type RevocationDeps, revokeProvenKey } from "./revocation.js";
import { publishing } from "./rotation-events.js";

/**
 * How far Novala's clock (which stamps lastUsedAt) and the rotator's (which stamps rotatorUsedAt) may disagree. Both
 * run on NTP-disciplined hosts, normally within a second; 30 s also covers a lastUsedAt Novala records when a request
 * arrives, while the rotator's stamp is taken when the answer is back. A consumer's use within 30 s after the rotator's
 * own passes for the rotator's: a consumer that still relies on the key uses it again later, and that use counts.
 */
export const CLOCK_SKEW_MS = 30_000;
/** A postponed check comes no sooner than this after the one that postponed it (and the hard limit is met this early). */
export const MIN_CHECK_DELAY_MS = 60_000;
/** Added to lastUsedAt + the quiet window, so that the next check finds the window over even with Novala's clock ahead. */
export const CHECK_MARGIN_MS = 2 * CLOCK_SKEW_MS;

/** What a due revocation reads and acts with: a revocation's, the scheduler, the clock, the events, the usage rule. */
export type DueRevocationDeps = RevocationDeps &
  Pick<RotationDeps, "scheduler" | "clock"> & {
    events: Pick<RotationEvents, "keyRevocationPostponed">;
    config: { allowedHosts: AllowedHosts; usage: UsageConfig };
  };

/** What a due check found, whatever it did: ids and times, never key material. */
export interface DueRevocationFacts {
  keyId: string;
  /** The secret's ARN, once the secret was read. */
  secretArn?: string;
  /** Novala's lastUsedAt as it answered it ("unknown" when that is not a timestamp); undefined: never used. */
  lastUsedAt?: string;
  /** The key's last use by the rotator itself, as far as known (the event's claim, clamped to now, or this check's). */
  rotatorUsedAt?: Date;
  /** The latest the key lives, when a consumer's use made it matter: hard limit after its retirement. */
  hardLimitAt?: Date;
  /** How many times its revocation has been postponed (this check's postponement included). */
  postponements: number;
}

/**
 * What a due check did. `revoked`: revoked now (quiet, never used, or at its hard limit with `atHardLimit` "revoke":
 * then `hardLimitReached`). `already-revoked`: Novala reports it revoked or unknown. `refused`: the event named a key the
 * secret does not prove it holds as a retired key (logged, RevocationsRefused). `postponed`: a consumer used it within
 * the quiet window; checked again at `nextCheckAt` by schedule `schedule`. `kept`: in use at its hard limit with
 * `atHardLimit` "keep": left active, nothing scheduled, alarmed (RevocationHardLimitReached).
 */
export type DueRevocationOutcome =
  | ({ outcome: "revoked" | "already-revoked"; hardLimitReached: boolean } & DueRevocationFacts)
  | ({ outcome: "refused"; reason: string } & DueRevocationFacts)
  | ({ outcome: "postponed"; nextCheckAt: Date; hardLimitAt: Date; schedule: string } & DueRevocationFacts)
  | ({ outcome: "kept"; hardLimitAt: Date } & DueRevocationFacts);

/** Novala's lastUsedAt, read: never used, used at a time, or not a timestamp (a use whose time is unknown). */
export type LastUse = { kind: "never" } | { kind: "at"; ms: number; text: string } | { kind: "unknown"; text: string };

/** An ISO 8601 time with a zone, as Novala's contract gives lastUsedAt (docs/novala-key-api.md). */
const TIMESTAMP = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})$/;

/** Novala's lastUsedAt, read: absent or null is never used; anything but a timestamp is a use at an unknown time. */
export function readLastUse(lastUsedAt: string | null | undefined): LastUse {
  if (lastUsedAt === null || lastUsedAt === undefined) return { kind: "never" };
  const ms = TIMESTAMP.test(lastUsedAt) ? Date.parse(lastUsedAt) : Number.NaN;
  return Number.isFinite(ms) ? { kind: "at", ms, text: lastUsedAt } : { kind: "unknown", text: lastUsedAt };
}

/**
 * Whether Novala's last use of a key was a consumer's within the quiet window: later than the rotator's own last use
 * of it (`rotatorUsedAtMs`, when known) plus the clock-skew allowance, and within `quietWindowMs` of `nowMs`. A use
 * whose time is unknown counts as a consumer's: it is never read as "unused".
 */
export function isConsumerUse(
  use: LastUse,
  rotatorUsedAtMs: number | undefined,
  nowMs: number,
  quietWindowMs: number,
): boolean {
  if (use.kind === "never") return false;
  if (use.kind === "unknown") return true;
  if (rotatorUsedAtMs !== undefined && use.ms <= rotatorUsedAtMs + CLOCK_SKEW_MS) return false;
  return use.ms > nowMs - quietWindowMs;
}

/**
 * A lower bound of when the key that version `holderVersionId` holds was retired, from Secrets Manager's own version
 * dates (no writer of the secret can set them): the first version created after the holder that `replacedIt` accepts
 * (it stored another key: a rotation that ended before storing anything, or a version holding the same key, did not
 * replace it) was created before the promotion that retired the key; with none (a rollback's retired key is the newest
 * version), the holder's own creation. A key retired, restored and retired again is bounded from its first retirement;
 * a rotation that stored a key and was rolled back before the one that promoted makes the bound that attempt's start
 * (earlier, never later: docs/design.md). Undefined when the dates are missing.
 */
export function retiredNoEarlierThan(
  versions: SecretVersion[],
  holderVersionId: string,
  replacedIt: (version: SecretVersion) => boolean = () => true,
): Date | undefined {
  const created = versions.find((version) => version.versionId === holderVersionId)?.createdDate?.getTime();
  if (created === undefined) return undefined;
  const later = laterVersions(versions, holderVersionId, created)
    .filter(replacedIt)
    .map((version) => version.createdDate?.getTime() as number);
  return new Date(later.length > 0 ? Math.min(...later) : created);
}

/** The versions created after the holder (a version dated the same instant counts as after it), oldest first. */
function laterVersions(versions: SecretVersion[], holderVersionId: string, created: number): SecretVersion[] {
  return versions
    .filter((version) => version.versionId !== holderVersionId)
    .filter((version) => version.createdDate !== undefined && version.createdDate.getTime() >= created)
    .sort((a, b) => (a.createdDate?.getTime() ?? 0) - (b.createdDate?.getTime() ?? 0));
}

/** How many later versions the search for the key's replacement reads at most (oldest first; then it bounds early). */
const MAX_REPLACEMENTS_READ = 10;

/**
 * {@link retiredNoEarlierThan} over the secret's versions, reading the values of the versions created after the holder
 * (oldest first, at most {@link MAX_REPLACEMENTS_READ}) until one holds another key than `keyId`.
 */
async function retiredAtOf(
  deps: Pick<DueRevocationDeps, "store">,
  secretArn: string,
  holderVersionId: string,
  keyId: string,
): Promise<Date | undefined> {
  const versions = await deps.store.listVersions(secretArn);
  const created = versions.find((version) => version.versionId === holderVersionId)?.createdDate?.getTime();
  if (created === undefined) return undefined;
  const candidates = laterVersions(versions, holderVersionId, created);
  const replacements = new Set<string>();
  for (const [read, version] of candidates.entries()) {
    if (read >= MAX_REPLACEMENTS_READ) {
      // Not read: counted as a replacement, which can only make the bound earlier.
      replacements.add(version.versionId);
      break;
    }
    const claim = keyClaimOf((await deps.store.getValue(secretArn, { versionId: version.versionId }))?.value);
    if (claim && claim.keyId !== keyId) {
      replacements.add(version.versionId);
      break;
    }
  }
  return retiredNoEarlierThan(versions, holderVersionId, (version) => replacements.has(version.versionId));
}

/** When a postponed check falls due: after the quiet window that the last use opened, never after the hard limit. */
export function nextCheckTime(use: LastUse, nowMs: number, hardLimitAtMs: number, quietWindowMs: number): Date {
  const lastUseMs = use.kind === "at" ? Math.min(use.ms, nowMs) : nowMs;
  const quietFrom = lastUseMs + quietWindowMs + CHECK_MARGIN_MS;
  return new Date(Math.min(Math.max(quietFrom, nowMs + MIN_CHECK_DELAY_MS), hardLimitAtMs));
}

/**
 * The revocation a schedule fires at the end of the grace period (or a postponement's). It proves exactly as the
 * immediate revocation does before any act: re-read the secret, find the retired version that holds the key, one read
 * of Novala's record with the manager's credentials (which does not touch the key's lastUsedAt), and the key's secret
 * key only when its name lacks that version's lineage tag. Then it reads the record's lastUsedAt:
 * - never used, or last used by the rotator itself (up to the event's `rotatorUsedAt` plus {@link CLOCK_SKEW_MS}), or
 *   longer ago than the quiet window: revoked;
 * - used by a consumer within the window, or at a time Novala does not give as a timestamp (warned): postponed to a
 *   new one-time schedule (`<schedule>-p<n>`), counted (RevocationsPostponed), announced (Key Revocation Postponed),
 *   logged — unless the hard limit has come (a minute early rather than late): then revoked anyway or kept, as
 *   configured, logged at error level and counted (RevocationHardLimitReached, alarmed).
 * The hard limit is counted from Secrets Manager's version dates, never from the event, so no event, forged or replayed,
 * lengthens a key's life. Without those dates it does not postpone (and warns). docs/design.md, "Revocation that waits
 * for consumers", has the reasoning; every rule of it lives in this module.
 */
export async function runDueRevocation(
  deps: DueRevocationDeps,
  request: RevocationRequest,
): Promise<DueRevocationOutcome> {
  try {
    return await checkDueRevocation(deps, request);
  } catch (error) {
    deps.telemetry.metric("RevocationsFailed");
    throw error;
  }
}

async function checkDueRevocation(deps: DueRevocationDeps, request: RevocationRequest): Promise<DueRevocationOutcome> {
  const facts: DueRevocationFacts = { keyId: request.keyId, postponements: request.postponements ?? 0 };
  // The event's watermark is a claim: never later than now (a forged future one can only make a use look like the
  // rotator's, which revokes earlier: the power any invoker of this function has anyway).
  const claimedWatermark = request.rotatorUsedAt === undefined ? undefined : Date.parse(request.rotatorUsedAt);
  const watermark = claimedWatermark === undefined ? undefined : Math.min(claimedWatermark, deps.clock.now().getTime());
  if (watermark !== undefined) facts.rotatorUsedAt = new Date(watermark);

  const proven = await proveRetiredHolding(deps, request);
  if (proven.outcome === "refused") return { ...facts, outcome: "refused", reason: proven.reason };
  if (proven.outcome === "already-revoked") return { ...facts, outcome: "already-revoked", hardLimitReached: false };
  facts.secretArn = proven.secretArn;
  const use = readLastUse(proven.record.lastUsedAt);
  if (use.kind !== "never") facts.lastUsedAt = use.kind === "at" ? use.text : "unknown";
  // Proving by the secret key used the key once more: that use is the rotator's, and the next check must know it.
  if (proven.by === "secret-key") facts.rotatorUsedAt = deps.clock.now();
  const now = deps.clock.now().getTime();
  const { usage } = deps.config;
  const keyId = request.keyId;

  if (use.kind === "unknown") {
    deps.telemetry.warn("Novala's lastUsedAt of the retired key is not a timestamp: read as a use, not as unused", {
      keyId,
      lastUsedAt: JSON.stringify(use.text).slice(0, 64),
    });
  }
  if (!isConsumerUse(use, watermark, now, usage.quietWindowMs)) {
    const why = use.kind === "never" ? "never used" : `last used ${use.text}, by the rotator or before the window`;
    const outcome = await revokeProvenKey(deps, proven.manager, keyId, { reason: why });
    return { ...facts, outcome, hardLimitReached: false };
  }

  const retiredAt = await retiredAtOf(deps, proven.secretArn, proven.versionId, keyId);
  if (!retiredAt) {
    deps.telemetry.warn(
      "a consumer still uses the retired key, but Secrets Manager gave no version dates to bound it",
      {
        keyId,
        lastUsedAt: facts.lastUsedAt,
      },
    );
    const outcome = await revokeProvenKey(deps, proven.manager, keyId, { reason: "no hard limit can be computed" });
    return { ...facts, outcome, hardLimitReached: false };
  }
  const hardLimitAt = new Date(retiredAt.getTime() + usage.hardLimitMs);
  facts.hardLimitAt = hardLimitAt;
  if (now + MIN_CHECK_DELAY_MS >= hardLimitAt.getTime()) return atHardLimit(deps, proven, facts, hardLimitAt);
  return postpone(deps, request, proven, use, { ...facts, hardLimitAt }, now);
}

async function atHardLimit(
  deps: DueRevocationDeps,
  proven: ProvenRetiredKey,
  facts: DueRevocationFacts,
  hardLimitAt: Date,
): Promise<DueRevocationOutcome> {
  const { keyId } = facts;
  const keep = deps.config.usage.atHardLimit === "keep";
  deps.telemetry.metric("RevocationHardLimitReached");
  const fields = {
    keyId,
    secretId: proven.secretArn,
    lastUsedAt: facts.lastUsedAt,
    hardLimitAt: hardLimitAt.toISOString(),
    postponements: facts.postponements,
  };
  if (keep) {
    deps.telemetry.error(
      "a consumer still uses the retired key at its hard limit: kept active (at hard limit: keep), nothing more is " +
        "scheduled; revoke it once its consumers read the current key (novala-rotation revoke)",
      fields,
    );
    return { ...facts, outcome: "kept", hardLimitAt };
  }
  deps.telemetry.error(
    "a consumer still uses the retired key at its hard limit: revoking it anyway (at hard limit: revoke); its " +
      "consumers now get 401 until they read the current key",
    fields,
  );
  const outcome = await revokeProvenKey(deps, proven.manager, keyId, { reason: "hard limit" });
  return { ...facts, outcome, hardLimitReached: true };
}

async function postpone(
  deps: DueRevocationDeps,
  request: RevocationRequest,
  proven: ProvenRetiredKey,
  use: LastUse,
  facts: DueRevocationFacts & { hardLimitAt: Date },
  now: number,
): Promise<DueRevocationOutcome> {
  const { keyId, hardLimitAt } = facts;
  const nextCheckAt = nextCheckTime(use, now, hardLimitAt.getTime(), deps.config.usage.quietWindowMs);
  // A real chain stays far below the cap (a check a minute at most, for 30 days at most); only a forged count meets it,
  // and the count it writes stays one the next check accepts.
  const postponements = Math.min(facts.postponements + 1, MAX_POSTPONEMENTS);
  const schedule = postponedScheduleName(revocationScheduleName(proven.secretArn, keyId), postponements);
  const lastUsedAt = facts.lastUsedAt ?? "unknown";
  const created = await deps.scheduler.ensureScheduled(schedule, nextCheckAt, {
    secretId: proven.secretArn,
    keyId,
    versionId: proven.versionId,
    ...(request.rotationToken && { rotationToken: request.rotationToken }),
    revokeAfter: nextCheckAt.toISOString(),
    ...(facts.rotatorUsedAt && { rotatorUsedAt: facts.rotatorUsedAt.toISOString() }),
    postponements,
    lastUsedAt,
    hardLimitAt: hardLimitAt.toISOString(),
  });
  if (created === "created") deps.telemetry.metric("RevocationsPostponed");
  const event = {
    secretArn: proven.secretArn,
    keyId,
    lastUsedAt,
    nextCheckAt: nextCheckAt.toISOString(),
    hardLimitAt: hardLimitAt.toISOString(),
    postponements,
  };
  await publishing(
    deps,
    KEY_REVOCATION_POSTPONED,
    () => deps.events.keyRevocationPostponed(event),
    "the postponement itself",
  );
  deps.telemetry.info("a consumer still uses the retired key: its revocation is postponed", {
    ...event,
    schedule,
    outcome: created,
  });
  return { ...facts, outcome: "postponed", postponements, nextCheckAt, schedule };
}
