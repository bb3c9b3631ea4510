import { describe, expect, it } from "vitest";
import { guardStep, isRotationInProgress, rotationInProgress, versionWithStage } from "../../lambdas/core/guard.js";
import type { SecretDescription } from "../../lambdas/core/ports.js";

/** DescribeSecret's answer for novala/acumatica with these versions' labels. */
function described(versionStages: Record<string, string[]>, rotationEnabled = true): SecretDescription {
  return {
    arn: "arn:aws:secretsmanager:us-east-1:123456789012:secret:novala/acumatica-AbCdEf",
    name: "novala/acumatica",
    rotationEnabled,
    versionStages,
  };
}

const ROTATING = { current: ["AWSCURRENT"], previous: ["AWSPREVIOUS"], token: ["AWSPENDING"] };

describe("guardStep: the check before every rotation step", () => {
  it("lets a step run on the version that is AWSPENDING", () => {
    expect(guardStep(described(ROTATING), "token")).toBe("pending");
  });

  it.each([
    ["AWSCURRENT alone (a retry after finishSecret)", ["AWSCURRENT"]],
    ["AWSCURRENT and still AWSPENDING (a finishSecret that died between its two moves)", ["AWSCURRENT", "AWSPENDING"]],
  ])("says the version is already current when it is %s", (_label, stages) => {
    expect(guardStep(described({ previous: ["AWSPREVIOUS"], token: stages }), "token")).toBe("already-current");
  });

  it("refuses a secret whose rotation is not enabled", () => {
    expect(() => guardStep(described(ROTATING, false), "token")).toThrow(
      "secret novala/acumatica does not have rotation enabled",
    );
  });

  it("refuses a token that is no labelled version of the secret (another secret's, or made up)", () => {
    expect(() => guardStep(described(ROTATING), "someone-elses-version")).toThrow(
      "token someone-elses-version is not a version of secret novala/acumatica that has a stage",
    );
  });

  it("refuses a version that is not AWSPENDING", () => {
    expect(() => guardStep(described(ROTATING), "previous")).toThrow(
      "version previous of secret novala/acumatica is not AWSPENDING",
    );
  });
});

describe("versionWithStage", () => {
  it("names the version that carries a label, and none when no version does", () => {
    const description = described({ current: ["AWSCURRENT"], previous: ["AWSPREVIOUS", "team-label"] });

    expect(versionWithStage(description, "AWSCURRENT")).toBe("current");
    expect(versionWithStage(description, "team-label")).toBe("previous");
    expect(versionWithStage(description, "AWSPENDING")).toBeUndefined();
  });
});

describe("rotationInProgress: AWSPENDING on a version that is not AWSCURRENT", () => {
  it("names the pending version while a rotation is under way, failed half-way or stuck", () => {
    expect(rotationInProgress(described(ROTATING))).toBe("token");
    expect(isRotationInProgress(["AWSPENDING"])).toBe(true);
    expect(isRotationInProgress(["AWSPENDING", "team-label"])).toBe(true);
  });

  it.each([
    ["no version is AWSPENDING", { current: ["AWSCURRENT"], previous: ["AWSPREVIOUS"] }],
    [
      "AWSPENDING is on AWSCURRENT's version (a finishSecret between its two moves)",
      { token: ["AWSCURRENT", "AWSPENDING"] },
    ],
  ])("names none when %s", (_label, versionStages) => {
    expect(rotationInProgress(described(versionStages))).toBeUndefined();
    expect(Object.values(versionStages).some(isRotationInProgress)).toBe(false);
  });
});
