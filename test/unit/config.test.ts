import { describe, expect, it } from "vitest";
import {
  readNovalaClientConfig,
  readRevocationConfig,
  readRotationConfig,
  readTelemetryConfig,
} from "../../lambdas/contract/configuration.js";
import { ConfigurationError } from "../../lambdas/contract/errors.js";

const target = {
  REVOCATION_SCHEDULE_GROUP: "novala-revocations",
  REVOCATION_FUNCTION_ARN: "arn:aws:lambda:eu-west-1:123456789012:function:revoke",
  REVOCATION_SCHEDULER_ROLE_ARN: "arn:aws:iam::123456789012:role/scheduler",
};

function refusal(read: () => unknown): string {
  try {
    read();
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigurationError);
    return (error as Error).message;
  }
  return "accepted";
}

describe("the Lambdas' configuration", () => {
  it("reads the defaults and given seconds", () => {
    expect(readNovalaClientConfig({})).toMatchObject({ connectTimeoutMs: 5000, requestTimeoutMs: 10_000 });
    expect(readNovalaClientConfig({ NOVALA_CONNECT_TIMEOUT_SECONDS: " 0.5 " }).connectTimeoutMs).toBe(500);
    expect(readRotationConfig({ ...target, REVOCATION_GRACE_SECONDS: "3600" })).toMatchObject({
      graceSeconds: 3600,
      revocation: { scheduleGroup: "novala-revocations" },
    });
    expect(readRotationConfig({ REVOCATION_GRACE_SECONDS: "0" }).revocation).toBeUndefined();
  });

  it("names the variable whose seconds are not a number in range", () => {
    for (const raw of ["-1", "1e3", "ten", "121"])
      expect(refusal(() => readNovalaClientConfig({ NOVALA_REQUEST_TIMEOUT_SECONDS: raw }))).toBe(
        `NOVALA_REQUEST_TIMEOUT_SECONDS must be a number of seconds from 0.1 to 120, got "${raw}"`,
      );
  });

  it("reads the rate budget and the telemetry names, and names a budget or a concurrency that is not a positive number", () => {
    expect(readNovalaClientConfig({}).rateBudget).toBeUndefined();
    expect(
      readNovalaClientConfig({ NOVALA_RATE_BUDGET_PER_SECOND: "2.5", ROTATION_CONCURRENCY: " 5 " }).rateBudget,
    ).toEqual({
      perSecond: 2.5,
      concurrency: 5,
    });
    expect(readNovalaClientConfig({ NOVALA_RATE_BUDGET_PER_SECOND: "20" }).rateBudget).toEqual({
      perSecond: 20,
      concurrency: 1,
    });
    for (const raw of ["fast", "0", "-1", "1e3"]) {
      expect(refusal(() => readNovalaClientConfig({ NOVALA_RATE_BUDGET_PER_SECOND: raw }))).toBe(
        `NOVALA_RATE_BUDGET_PER_SECOND must be a positive number of requests per second, got "${raw}"`,
      );
    }
    for (const raw of ["many", "0", "2.5"]) {
      expect(
        refusal(() => readNovalaClientConfig({ NOVALA_RATE_BUDGET_PER_SECOND: "20", ROTATION_CONCURRENCY: raw })),
      ).toBe(`ROTATION_CONCURRENCY must be a positive whole number, got "${raw}"`);
    }
    expect(readTelemetryConfig({})).toEqual({ serviceName: "novala-rotation", metricsNamespace: "NovalaKeyRotation" });
    expect(readTelemetryConfig({ POWERTOOLS_SERVICE_NAME: "svc", POWERTOOLS_METRICS_NAMESPACE: "Ns" })).toEqual({
      serviceName: "svc",
      metricsNamespace: "Ns",
    });
  });

  it("names a missing or malformed revocation target and event bus", () => {
    expect(refusal(() => readRotationConfig({ REVOCATION_GRACE_SECONDS: "60" }))).toBe(
      "REVOCATION_SCHEDULE_GROUP is required when REVOCATION_GRACE_SECONDS is above 0",
    );
    expect(refusal(() => readRotationConfig({ ...target, REVOCATION_FUNCTION_ARN: "revoke" }))).toBe(
      'REVOCATION_FUNCTION_ARN is malformed: "revoke"',
    );
    expect(refusal(() => readRotationConfig({ ...target, REVOCATION_DEAD_LETTER_QUEUE_ARN: "queue" }))).toBe(
      'REVOCATION_DEAD_LETTER_QUEUE_ARN is malformed: "queue"',
    );
    expect(refusal(() => readRotationConfig({ ROTATION_EVENT_BUS: "bus with spaces" }))).toBe(
      'ROTATION_EVENT_BUS is malformed: "bus with spaces"',
    );
    expect(refusal(() => readNovalaClientConfig({ NOVALA_ALLOWED_HOSTS: "http://x" }))).toMatch(
      /^NOVALA_ALLOWED_HOSTS: "http:\/\/x" is not a host pattern/,
    );
  });

  it("reads the usage rule's defaults and given values, naming a bad one", () => {
    expect(readRotationConfig({ REVOCATION_GRACE_SECONDS: "0" }).usage).toEqual({
      quietWindowMs: 3_600_000,
      hardLimitMs: 604_800_000,
      atHardLimit: "revoke",
    });
    expect(
      readRotationConfig({
        REVOCATION_GRACE_SECONDS: "0",
        REVOCATION_QUIET_WINDOW_SECONDS: "60",
        REVOCATION_HARD_LIMIT_SECONDS: "3600",
        REVOCATION_AT_HARD_LIMIT: "keep",
      }).usage,
    ).toEqual({ quietWindowMs: 60_000, hardLimitMs: 3_600_000, atHardLimit: "keep" });
    expect(refusal(() => readRotationConfig({ REVOCATION_QUIET_WINDOW_SECONDS: "59" }))).toBe(
      'REVOCATION_QUIET_WINDOW_SECONDS must be a number of seconds from 60 to 86400, got "59"',
    );
    expect(refusal(() => readRotationConfig({ REVOCATION_HARD_LIMIT_SECONDS: "2592001" }))).toBe(
      'REVOCATION_HARD_LIMIT_SECONDS must be a number of seconds from 3600 to 2592000, got "2592001"',
    );
    expect(refusal(() => readRotationConfig({ REVOCATION_AT_HARD_LIMIT: "later" }))).toBe(
      'REVOCATION_AT_HARD_LIMIT must be "revoke" or "keep", got "later"',
    );
    expect(
      refusal(() =>
        readRotationConfig({ ...target, REVOCATION_GRACE_SECONDS: "7200", REVOCATION_HARD_LIMIT_SECONDS: "3600" }),
      ),
    ).toBe("REVOCATION_HARD_LIMIT_SECONDS must not be shorter than the grace period (7200 seconds), got 3600 seconds");
  });

  it("gives the revocation function its target: its own ARN from the context (unqualified), the rest from the environment", () => {
    const env = {
      REVOCATION_SCHEDULE_GROUP: target.REVOCATION_SCHEDULE_GROUP,
      REVOCATION_SCHEDULER_ROLE_ARN: target.REVOCATION_SCHEDULER_ROLE_ARN,
    };
    expect(readRevocationConfig(env, `${target.REVOCATION_FUNCTION_ARN}:prod`)).toMatchObject({
      revocation: {
        scheduleGroup: "novala-revocations",
        functionArn: target.REVOCATION_FUNCTION_ARN,
        schedulerRoleArn: target.REVOCATION_SCHEDULER_ROLE_ARN,
      },
      usage: { quietWindowMs: 3_600_000 },
    });
    // Outside Lambda (the local run, tests) the variable stands in for the context.
    expect(readRevocationConfig(target).revocation.functionArn).toBe(target.REVOCATION_FUNCTION_ARN);
    expect(refusal(() => readRevocationConfig(env))).toMatch(/^the revocation function's own ARN is unknown/);
    expect(refusal(() => readRevocationConfig({ ...env, REVOCATION_SCHEDULE_GROUP: "" }, "arn"))).toBe(
      "REVOCATION_SCHEDULE_GROUP is required by the revocation function (it reschedules a revocation that a consumer still needs)",
    );
    expect(refusal(() => readRevocationConfig(env, "arn:aws:lambda:eu-west-1:1:function:x"))).toBe(
      'REVOCATION_FUNCTION_ARN is malformed: "arn:aws:lambda:eu-west-1:1:function:x"',
    );
  });
});
