/** put-key's rules (lambdas/core/onboarding.ts) and what a key's name may hold (lambdas/core/key-name-rule.ts). */
import { describe, expect, it } from "vitest";
import { parseAllowedHosts } from "../../lambdas/contract/environment.js";
import { keyNameProblem, MAX_KEY_NAME_LENGTH } from "../../lambdas/core/key-name-rule.js";
import { keyPairProblem, namesSecret, onboardingDecision } from "../../lambdas/core/onboarding.js";
import { parseKeySecret, secretValueFor } from "../../lambdas/core/secret-value.js";

const MANAGER = "arn:aws:secretsmanager:us-east-1:123456789012:secret:novala/manager-AbCdEf";
const master = { id: "key_m1", scopes: ["api_keys.manage"] };
const consumer = { id: "key_c1", scopes: ["leads.lead.read"] };

describe("onboardingDecision", () => {
  const base = { secretName: "novala/acumatica", isDeploymentManager: false, selfManagedFlag: false };

  it("never stores a manage-scoped key in a consumer secret, even when the deployment is unknown", () => {
    const decision = onboardingDecision(master, { ...base, managerSecretId: MANAGER });
    expect(decision).toEqual({
      accepted: false,
      refusal: expect.stringContaining("never stored in a consumer secret"),
    });
  });

  it("stores a manage-scoped key only in the deployment's manager secret, or a secret named self-managed", () => {
    expect(onboardingDecision(master, base)).toMatchObject({
      accepted: false,
      refusal: expect.stringContaining("--lambda-arn"),
    });
    expect(onboardingDecision(master, { ...base, deploymentManagers: [MANAGER] })).toMatchObject({
      accepted: false,
      refusal: expect.stringContaining(`the deployment's manager secret (${MANAGER})`),
    });
    expect(onboardingDecision(master, { ...base, isDeploymentManager: true, deploymentManagers: [MANAGER] })).toEqual({
      accepted: true,
      warnings: [],
    });
    expect(onboardingDecision(master, { ...base, selfManagedFlag: true })).toEqual({ accepted: true, warnings: [] });
  });

  it("the deployment's manager secret takes only a manage-scoped key, and names no manager", () => {
    const manager = { ...base, secretName: "novala/manager", isDeploymentManager: true, deploymentManagers: [MANAGER] };
    expect(onboardingDecision(consumer, manager)).toMatchObject({ accepted: false });
    expect(onboardingDecision(master, { ...manager, managerSecretId: "novala/other" })).toMatchObject({
      accepted: false,
    });
  });

  it("a consumer names only the deployment's manager; a self-managed key without the scope is warned about", () => {
    const named = { ...base, managerSecretId: "novala/rogue", deploymentManagers: [MANAGER] };
    expect(onboardingDecision(consumer, { ...named, managerIsTheDeployments: false })).toMatchObject({
      accepted: false,
      refusal: expect.stringContaining("manager secret novala/rogue is not the deployment's manager secret"),
    });
    expect(onboardingDecision(consumer, { ...named, managerIsTheDeployments: true })).toEqual({
      accepted: true,
      warnings: [],
    });
    expect(onboardingDecision(consumer, base)).toEqual({
      accepted: true,
      warnings: [expect.stringContaining("cannot rotate itself")],
    });
  });
});

describe("namesSecret", () => {
  it("a name, a partial ARN and the full ARN name the same secret; another account's does not", () => {
    expect(namesSecret("novala/manager", MANAGER)).toBe(true);
    expect(namesSecret("arn:aws:secretsmanager:us-east-1:123456789012:secret:novala/manager", MANAGER)).toBe(true);
    expect(namesSecret(MANAGER, MANAGER)).toBe(true);
    expect(namesSecret("arn:aws:secretsmanager:us-east-1:999999999999:secret:novala/manager", MANAGER)).toBe(false);
    expect(namesSecret(`${MANAGER.slice(0, -6)}XyZ123`, MANAGER)).toBe(false);
    expect(namesSecret("novala/manager-2", MANAGER)).toBe(false);
  });
});

describe("keyPairProblem and keyNameProblem", () => {
  it("refuses a pair by its shape, never echoing it", () => {
    expect(keyPairProblem({ publishableKey: "pk_live_a1", secretKey: "sk_test_b2" })).toContain("mix live and test");
    expect(keyPairProblem({ publishableKey: "xx_live_a1", secretKey: "sk_live_b2" })).toContain("pk_live_");
    expect(keyPairProblem({ publishableKey: "pk_live_a1", secretKey: "sk_live_b2" })).toBeUndefined();
  });

  it("refuses control characters, bidirectional overrides and a name the rotation tag would push past Novala's limit", () => {
    expect(keyNameProblem("Acumatica\u001b[2J")).toBe("holds control characters");
    expect(keyNameProblem("Acumatica\u202eevil")).toBe("holds control characters");
    expect(keyNameProblem("Acumatica\u0085")).toBe("holds control characters");
    expect(keyNameProblem("x".repeat(MAX_KEY_NAME_LENGTH + 1))).toMatch(/characters long: at most 225/);
    expect(keyNameProblem("x".repeat(MAX_KEY_NAME_LENGTH))).toBeUndefined();
    expect(keyNameProblem("Acumatica Integration · rot 0123456789abcdef01234567")).toBeUndefined();
    expect(keyNameProblem("   ")).toBe("is empty");
  });

  it("the core refuses a secret value whose name holds control characters (SecretValueError names the field)", () => {
    const value = secretValueFor("https://acme.novala.ai", {
      id: "key_a1",
      name: "Acumatica\u001b]0;healthy\u0007",
      scopes: ["leads.lead.read"],
      publishableKey: "pk_live_a1",
      secretKey: "sk_live_b2",
      createdAt: "2026-01-01T00:00:00Z",
    });
    expect(() => parseKeySecret(value, "secret novala/x AWSCURRENT", parseAllowedHosts("*.novala.ai"))).toThrow(
      'secret novala/x AWSCURRENT: field "name" holds control characters',
    );
  });
});
