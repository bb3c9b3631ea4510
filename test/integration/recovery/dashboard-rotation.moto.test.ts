/**
 * A key rotated by hand in Novala's dashboard (issue 13, item 6), against moto and the Novala simulator: the team makes
 * a new pair in the dashboard and the old one dies 24 hours later. A self-managed secret still holding the old key
 * then fails its rotation: its key's /self answers 401, and so does Novala's record asked with that same key. The
 * error must say what happened and the command that fixes it, and `put-key` with the new pair must report the old
 * key's real status.
 */
import { describe, expect, it } from "vitest";
import { rotateLikeSecretsManager } from "../../../cli/secrets-manager-driver.js";
import { handler as rotationHandler } from "../../../lambdas/rotation/index.js";
import { useMotoAndSimulator } from "../../support/integration.js";
import { motoSuiteTitle, skipMoto } from "../../support/moto.js";
import { expectNoKeyMaterial, runCli } from "../../support/run-cli.js";

const SCOPES = ["leads.lead.read", "api_keys.manage"];

describe.skipIf(skipMoto)(motoSuiteTitle("a key rotated in Novala's dashboard"), () => {
  const env = useMotoAndSimulator({ POWERTOOLS_LOG_LEVEL: "CRITICAL" });

  it("a self-managed secret fails with what happened and the put-key command; put-key says the old key is revoked", async () => {
    const model = env.novala.model;
    const old = model.seedKey({ name: "Acumatica Integration", scopes: SCOPES });
    const arn = await env.createSecret("novala/self", old);
    // The dashboard rotation: a new pair with the same scopes; a day later the old key is revoked.
    const fresh = model.seedKey({ name: "Acumatica Integration", scopes: SCOPES });
    model.forceRevoke(old.id);

    const failed = rotateLikeSecretsManager(env.secrets, rotationHandler, arn);
    await expect(failed).rejects.toThrow(
      new RegExp(
        `the current key ${old.id} of self-managed secret .*novala/self.* answers 401 at Novala: it was revoked or ` +
          "rotated outside this rotator \\(for example in Novala's dashboard\\)\\. Put the pair that works in with " +
          "`novala-rotation put-key .*novala/self.*` and rotate again",
      ),
    );
    // A retry cannot fix it: the rotation was ended (AWSPENDING removed), so put-key and a new rotation need no abort.
    await expect(failed).rejects.toHaveProperty("name", "RotationEndedError");
    // Nothing was minted, AWSCURRENT is untouched.
    expect(env.keyWrites()).toEqual([]);
    expect((await env.valueAt(arn, "AWSCURRENT")).keyId).toBe(old.id);
    expect(Object.values(await env.stagesOf(arn)).flat()).not.toContain("AWSPENDING");

    const put = await runCli(["put-key", "novala/self", "--self-managed"], {
      endpoint: env.moto.endpoint,
      input: `${fresh.publishableKey} ${fresh.secretKey}`,
    });
    expectNoKeyMaterial(put, env.novala.model.issuedKeyMaterial());
    expect(put.stderr).toBe("");
    expect(put.code).toBe(0);
    expect(put.stdout).toContain(`the key it held before, ${old.id}, is already revoked at Novala.`);
    expect(put.stdout).not.toContain("is not revoked");
    expect((await env.valueAt(arn, "AWSCURRENT")).keyId).toBe(fresh.id);

    // The command the error named fixed it: the next rotation succeeds.
    await rotateLikeSecretsManager(env.secrets, rotationHandler, arn);
    const rotated = await env.valueAt(arn, "AWSCURRENT");
    expect(rotated.keyId).not.toBe(fresh.id);
    expect(env.status(rotated.keyId)).toBe("active");
  });

  it("put-key --force over a key that still works says it is still active (managed secret, asked via the manager)", async () => {
    const model = env.novala.model;
    const manager = model.seedKey({ name: "Rotation manager", scopes: ["api_keys.manage"] });
    const managerArn = await env.createSecret("novala/manager", manager);
    const old = model.seedKey({ name: "Billing", scopes: ["bookings.read"] });
    await env.createSecret("novala/billing", old, { managerSecretId: managerArn });
    const fresh = model.seedKey({ name: "Billing", scopes: ["bookings.read"] });

    const forced = await runCli(["put-key", "novala/billing", "--force", "--json"], {
      endpoint: env.moto.endpoint,
      input: `${fresh.publishableKey} ${fresh.secretKey}`,
    });
    expectNoKeyMaterial(forced, env.novala.model.issuedKeyMaterial());
    expect(forced.code).toBe(0);
    expect(JSON.parse(forced.stdout)).toMatchObject({ replacedKeyId: old.id, replacedKeyStatus: "active" });

    // Revoked in the dashboard: its own key answers 401, the manager reads Novala's record.
    const next = model.seedKey({ name: "Billing", scopes: ["bookings.read"] });
    model.forceRevoke(fresh.id);
    const put = await runCli(["put-key", "novala/billing"], {
      endpoint: env.moto.endpoint,
      input: `${next.publishableKey} ${next.secretKey}`,
    });
    expectNoKeyMaterial(put, env.novala.model.issuedKeyMaterial());
    expect(put.code).toBe(0);
    expect(put.stdout).toContain(`the key it held before, ${fresh.id}, is already revoked at Novala.`);
  });
});
