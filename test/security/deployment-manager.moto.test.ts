import { PutSecretValueCommand } from "@aws-sdk/client-secrets-manager";
import { describe, expect, it } from "vitest";
import { rotateLikeSecretsManager } from "../../cli/secrets-manager-driver.js";
import { ENV } from "../../lambdas/contract/environment.js";
import { secretValueFor } from "../../lambdas/core/secret-value.js";
import { handler as rotationHandler } from "../../lambdas/rotation/index.js";
import { emfMetricsOf } from "../support/emf-metrics.js";
import { useMotoAndSimulator } from "../support/integration.js";
import { motoSuiteTitle, skipMoto } from "../support/moto.js";

/**
 * The manager is the deployment's (docs/security.md, T20): the rotation handler, configured as the construct configures
 * it (MANAGER_SECRET_ARN), against moto and the Novala simulator. A team that may write only its own secret names
 * another secret that holds a working manager pair (its own, or one it found): the claim is refused and counted before
 * that secret is read, and nothing is minted or revoked.
 */
describe.skipIf(skipMoto)(
  motoSuiteTitle("a consumer value naming a manager secret that is not the deployment's"),
  () => {
    const env = useMotoAndSimulator();

    async function givenTenant() {
      const manager = env.novala.model.seedKey({ name: "Rotation manager", scopes: ["api_keys.manage"] });
      const managerArn = await env.createSecret("novala/manager", manager);
      // Another secret on the same tenant holding a working manager pair, which the deployment does not name.
      const rogue = env.novala.model.seedKey({ name: "Team's own manager", scopes: ["api_keys.manage"] });
      const rogueArn = await env.createSecret("novala/team-manager", rogue);
      const teamKey = env.novala.model.seedKey({ name: "Acumatica Integration", scopes: ["leads.lead.read"] });
      const teamArn = await env.createSecret("novala/acumatica", teamKey, { managerSecretId: managerArn });
      env.setEnvironment({ [ENV.managerSecret]: managerArn });
      return { manager, managerArn, rogue, rogueArn, teamKey, teamArn, keysBefore: env.novala.model.keys().length };
    }

    it("is refused and counted; the other secret's pair is never used, nothing is minted or revoked", async () => {
      const t = await givenTenant();
      await env.secrets.send(
        new PutSecretValueCommand({
          SecretId: t.teamArn,
          SecretString: secretValueFor(env.novala.url, t.teamKey, { managerSecretId: t.rogueArn }),
        }),
      );
      const writesBefore = env.keyWrites().length;

      const { error, emf } = await emfMetricsOf(() =>
        rotateLikeSecretsManager(env.secrets, rotationHandler, t.teamArn),
      );

      expect(String(error)).toMatch(/names manager secret ".*novala\/team-manager.*", which is not this deployment's/);
      expect(emf.map((line) => line.KeyClaimsRefused).filter(Boolean)).toEqual([1]);
      expect(env.keyWrites().slice(writesBefore)).toEqual([]);
      expect(env.novala.model.keys()).toHaveLength(t.keysBefore);
      // The rogue pair never authenticated: the rotator did not read it, let alone call Novala with it.
      expect(env.novala.model.inspect(t.rogue.id)).toMatchObject({ status: "active", lastUsedAt: null });
      for (const key of [t.manager, t.rogue, t.teamKey]) expect(env.status(key.id)).toBe("active");
      // The rotation ended: the team's value is unchanged and AWSPENDING is gone, so the next rotation starts afresh.
      expect((await env.valueAt(t.teamArn, "AWSCURRENT")).keyId).toBe(t.teamKey.id);
      expect(Object.values(await env.stagesOf(t.teamArn)).flat()).not.toContain("AWSPENDING");
    });

    it("rotates a value that names the deployment's manager by name: the deployment's ARN is what is read", async () => {
      const t = await givenTenant();
      await env.secrets.send(
        new PutSecretValueCommand({
          SecretId: t.teamArn,
          SecretString: secretValueFor(env.novala.url, t.teamKey, { managerSecretId: "novala/manager" }),
        }),
      );

      const { error, emf } = await emfMetricsOf(() =>
        rotateLikeSecretsManager(env.secrets, rotationHandler, t.teamArn),
      );

      expect(error).toBeUndefined();
      expect(emf.map((line) => line.RotationsSucceeded).filter(Boolean)).toEqual([1]);
      expect(env.status(t.teamKey.id)).toBe("revoked");
      expect(env.status((await env.valueAt(t.teamArn, "AWSCURRENT")).keyId)).toBe("active");
      expect(env.novala.model.inspect(t.rogue.id)?.lastUsedAt).toBeNull();
    });
  },
);
