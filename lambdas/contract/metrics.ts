/**
 * Every metric the two functions publish (Powertools Metrics as EMF, namespace `NovalaKeyRotation`, dimension
 * `service=novala-rotation`), with what one data point means. The Telemetry port accepts only these names, and the
 * construct's alarms and dashboard name only these: a metric renamed here is renamed everywhere, or fails to compile.
 */
export const METRICS = {
  RotationsSucceeded: "finishSecret promoted a new key",
  RotationsFailed: "a rotation step threw (Secrets Manager retries it)",
  RotationsRolledBack: "testSecret found the new key unhealthy and rolled it back",
  RotationsEnded: "createSecret met a failure a retry cannot fix and ended the rotation",
  KeysRevoked: "a retired key was revoked (finishSecret with grace 0, or a due revocation)",
  RevocationsScheduled: "a retired key's one-time revocation schedule was created",
  RevocationsPostponed: "a due revocation waits: a consumer used the retired key within the quiet window",
  RevocationsRefused: "a revocation event named a key the secret still holds or cannot prove",
  RevocationsFailed: "revoking a retired key failed",
  RevocationHardLimitReached: "a retired key still in use reached its hard limit (revoked, or kept by configuration)",
  KeyClaimsRefused: "a secret's value claimed a key (or a manager secret) it could not prove is its own",
  RotationEventsFailed: "a Key Rotated, Rolled Back or Revocation Postponed event could not be published",
  HealthCheckLatency: "how long testSecret's health check of a new key took (ms)",
  RotationsOverdue: "the daily overdue check: how many of the deployment's secrets are overdue",
  OldestRotationAgeDays: "the daily overdue check: days since the oldest last rotation among the deployment's secrets",
  NovalaRateLimited: "Novala answered 429 (the tenant's rate limit)",
  RateBudgetWait: "how long one Novala operation waited for the rate budget or a 429's hold-off (ms)",
} as const;

/** A metric the functions publish: one of {@link METRICS}. */
export type MetricName = keyof typeof METRICS;

/** The names of {@link METRICS}. */
export const METRIC_NAMES = Object.keys(METRICS) as MetricName[];
