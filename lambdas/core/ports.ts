/** The small interfaces the core talks to; AWS, Novala and the in-memory models sit behind them, unknown to it. */
import type { MetricName } from "../contract/metrics.js";
import type { RevocationRequest } from "../contract/revocation-request.js";
import type { RotationOutcome } from "../contract/rotation-outcome.js";

/** Secrets Manager's staging labels: the current version, the one a rotation is making, the one before. */
export const AWSCURRENT = "AWSCURRENT";
export const AWSPENDING = "AWSPENDING";
export const AWSPREVIOUS = "AWSPREVIOUS";

/** What DescribeSecret tells the guard. */
export interface SecretDescription {
  arn: string;
  name: string;
  rotationEnabled: boolean;
  /** Versions that carry at least one staging label, as DescribeSecret's VersionIdsToStages. */
  versionStages: Record<string, string[]>;
  /** The rotation schedule and its last and next dates, as DescribeSecret gives them (the overdue check reads them). */
  schedule?: RotationScheduleState;
}

/** A secret's rotation schedule and dates, as DescribeSecret gives them. */
export interface RotationScheduleState {
  lastRotated?: Date;
  nextRotation?: Date;
  automaticallyAfterDays?: number;
  scheduleExpression?: string;
  /** The rotation window, as RotationRules.Duration: "3h". */
  window?: string;
}

/** A version's value, and which version it is. */
export interface StoredValue {
  versionId: string;
  value: string;
}

/** Which version to read: by staging label (optionally pinned to a version id), or by version id alone. */
export type ValueRef = { stage: string; versionId?: string } | { stage?: undefined; versionId: string };

/** Secrets Manager, reduced to what rotation needs. */
export interface SecretStore {
  describe(secretId: string): Promise<SecretDescription>;
  /**
   * The value of the version that carries `stage` (and is `versionId`, when given), or of version `versionId` whatever
   * its labels (an unlabelled, deprecated version). Names the stage or the version, never neither: moto can answer a
   * stale version for a plain read after a stage move. Resolves undefined when that version has no value yet (Secrets
   * Manager's ResourceNotFoundException), for example AWSPENDING right after RotateSecret.
   */
  getValue(secretId: string, ref: ValueRef): Promise<StoredValue | undefined>;
  /** PutSecretValue with ClientRequestToken = versionId and VersionStages = [AWSPENDING]. */
  putPendingValue(secretId: string, versionId: string, value: string): Promise<void>;
  /** UpdateSecretVersionStage. */
  moveStage(secretId: string, stage: string, move: { toVersionId?: string; fromVersionId?: string }): Promise<void>;
  /**
   * ListSecretVersionIds with IncludeDeprecated: every version id, labelled or not, with its labels and the date
   * Secrets Manager created it (set by the service: no writer of the secret can choose it; moto answers the time of
   * the call instead, see test/integration/secrets-manager-contract.test.ts).
   */
  listVersions(secretId: string): Promise<SecretVersion[]>;
}

/** One version as ListSecretVersionIds lists it. */
export interface SecretVersion {
  versionId: string;
  stages: string[];
  createdDate?: Date;
}

/** Novala's key object: metadata only, never the secret key. */
export interface NovalaKey {
  id: string;
  name: string;
  scopes: string[];
  publishableKey: string;
  status: "active" | "revoked";
  createdAt: string;
  /**
   * When the key last authenticated, as Novala reports it: null or absent when never (or when Novala does not say).
   * Any other text that is not a timestamp (the adapter turns a value that is not a string into "unknown") is read as
   * "used, time unknown" by the due revocation, never as "unused" (lambdas/core/revocation-usage.ts).
   */
  lastUsedAt?: string | null;
}

/** The create response: the only place the secret key ever appears. */
export interface CreatedNovalaKey extends NovalaKey {
  secretKey: string;
}

/** Which keys a list asks for: every condition given must hold; a name matches when it ends with any suffix. */
export interface KeyListFilter {
  status?: "active" | "revoked";
  nameSuffixes?: readonly string[];
}

/** Whether `key` passes `filter` (the client-side half of a filtered list). */
export function matchesKeyFilter(key: NovalaKey, filter: KeyListFilter | undefined): boolean {
  if (!filter) return true;
  if (filter.status !== undefined && key.status !== filter.status) return false;
  return filter.nameSuffixes === undefined || filter.nameSuffixes.some((suffix) => key.name.endsWith(suffix));
}

/** Where and with which key a call is made. */
export interface NovalaCredentials {
  baseUrl: string;
  /** A secret or publishable key, sent as the bearer token. */
  bearer: string;
}

/** The Novala key-management contract (docs/novala-key-api.md). Every call lives in one adapter. */
export interface KeyApi {
  /** GET /api/v1/api-keys/self: the calling key (for a publishable key, the pair it belongs to). */
  self(caller: NovalaCredentials): Promise<NovalaKey>;
  /** GET /api/v1/api-keys/{id}; undefined on 404. */
  get(manager: NovalaCredentials, keyId: string): Promise<NovalaKey | undefined>;
  /**
   * POST /api/v1/api-keys. Not idempotent: when the outcome is unknown (timeout, reset or 5xx after sending) it throws
   * CreateOutcomeUnknownError instead of retrying, and the caller reconciles by the key's name tag.
   */
  create(manager: NovalaCredentials, request: { name: string; scopes: string[] }): Promise<CreatedNovalaKey>;
  /**
   * The tenant's keys across all pages: every key, or only those matching `filter`. The filter is asked of Novala
   * (docs/novala-key-api.md) so that a rotation reads a few keys, not the tenant's history; a tenant that ignores it
   * is filtered here, so the answer is the same either way. A match is never proof: callers check the lineage tag.
   */
  list(manager: NovalaCredentials, filter?: KeyListFilter): Promise<NovalaKey[]>;
  /** DELETE /api/v1/api-keys/{id}; 404 means unknown or already revoked, which a revoker treats as done. */
  revoke(manager: NovalaCredentials, keyId: string): Promise<"revoked" | "already-revoked">;
  /**
   * Calls the read endpoint that proves `scope` works for `caller`. Resolves "no-probe" for a scope that has no read
   * endpoint (for example api_keys.manage); throws KeyUnauthorizedError or NovalaHttpError for any answer but 200.
   */
  probe(caller: NovalaCredentials, scope: string): Promise<"ok" | "no-probe">;
}

/** EventBridge Scheduler, reduced to one-time revocation schedules. */
export interface RevocationScheduler {
  /**
   * Creates the one-time schedule `name` that fires at `at` with `request` as input. Resolves "exists" when a schedule
   * of that name is already there (a retried finishSecret), which is never replaced.
   */
  ensureScheduled(name: string, at: Date, request: RevocationRequest): Promise<"created" | "exists">;
  /**
   * Whether the schedule `name`, or one of its postponements (`name-p1`, `name-p2`, …: lambdas/core/key-name.ts), is
   * still there (it has not fired yet: fired schedules delete themselves).
   */
  isScheduled(name: string): Promise<boolean>;
}

/** A Key Rotated event (docs/events.md): ids only, never key material. */
export interface KeyRotated {
  secretArn: string;
  /** The key AWSCURRENT holds now, and its version. */
  newKeyId: string;
  newVersionId: string;
  /** The key it replaced (now AWSPREVIOUS, revoked after the grace period), and its version. */
  oldKeyId?: string;
  oldVersionId?: string;
}

/** A Key Rotation Rolled Back event: which key AWSCURRENT holds after the rollback, which key was given up, why. */
export interface KeyRotationRolledBack {
  secretArn: string;
  currentKeyId: string;
  currentVersionId: string;
  rolledBackKeyId: string;
  rolledBackVersionId: string;
  reason: string;
}

/**
 * A Key Revocation Postponed event: a due revocation waits because a consumer still used the retired key within the
 * quiet window. Ids and times only.
 */
export interface KeyRevocationPostponed {
  secretArn: string;
  keyId: string;
  /** Novala's last use of the key (ISO 8601), or "unknown" when Novala's answer was not a timestamp. */
  lastUsedAt: string;
  /** When the revocation is checked again (ISO 8601). */
  nextCheckAt: string;
  /** When the key is revoked (or kept, by configuration) whatever its use (ISO 8601). */
  hardLimitAt: string;
  /** How many times this key's revocation has been postponed, this one included. */
  postponements: number;
}

/** Tells the secret's consumers that its key changed (EventBridge in AWS), so they can refresh a cached key at once. */
export interface RotationEvents {
  keyRotated(event: KeyRotated): Promise<void>;
  rotationRolledBack(event: KeyRotationRolledBack): Promise<void>;
  /** The revocation function's: consumers of the retired key still use it (they should refresh the secret). */
  keyRevocationPostponed(event: KeyRevocationPostponed): Promise<void>;
}

/**
 * Where the last outcome is kept so that an operator can read it without the function's logs (in AWS: tags on the
 * secret itself). Writing it is best effort: a rotation never fails because its outcome could not be recorded.
 */
export interface RotationOutcomes {
  record(secretId: string, outcome: RotationOutcome): Promise<void>;
}

/** A metric's unit: a count, a time, or a plain number (OldestRotationAgeDays: CloudWatch has no unit for days). */
export type MetricUnit = "Count" | "Milliseconds" | "None";

/** Structured logs and metrics. Fields carry ids only; key material never reaches a Telemetry. */
export interface Telemetry {
  debug(message: string, fields?: Record<string, unknown>): void;
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
  metric(name: MetricName, value?: number, unit?: MetricUnit): void;
}

/** Time, injected: the system's in the Lambdas, a manual one in tests and benchmarks. */
export interface Clock {
  now(): Date;
  sleep(ms: number): Promise<void>;
}

/** The system clock and setTimeout. */
export const systemClock: Clock = {
  now: () => new Date(),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
};
