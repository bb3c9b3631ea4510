import { describe, expect, it } from "vitest";
import { readNovalaClientConfig, readRotationConfig } from "../../lambdas/core/config.js";
import { ConfigurationError } from "../../lambdas/core/errors.js";

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
});
