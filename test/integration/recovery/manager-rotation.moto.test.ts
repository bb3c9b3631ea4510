/**
 * Rotating the manager key (issue 13, item 5), against moto and the Novala simulator: the manager secret is a
 * self-managed secret, so the rotation function rotates it like any other (its key creates its own replacement with
 * api_keys.manage), and the consumers' next rotation uses the new manager key. The deployment side (rights and
 * schedule) is asserted on the template in test/infra/deploy-context.test.ts.
 */
import { describe, expect, it } from "vitest";
import { rotateLikeSecretsManager } from "../../../cli/secrets-manager-driver.js";
import { handler as rotationHandler } from "../../../lambdas/rotation/index.js";
import { useMotoAndSimulator } from "../../support/integration.js";
import { motoSuiteTitle, skipMoto } from "../../support/moto.js";

describe.skipIf(skipMoto)(motoSuiteTitle("rotating the manager secret"), () => {
  const env = useMotoAndSimulator({ POWERTOOLS_LOG_LEVEL: "CRITICAL" });

  it("rotates the manager key itself, revokes the old one, and consumers then rotate with the new one", async () => {
    const model = env.novala.model;
    const manager = model.seedKey({ name: "Rotation manager", scopes: ["api_keys.manage"] });
    const managerArn = await env.createSecret("novala/manager", manager);
    const consumer = model.seedKey({ name: "Acumatica Integration", scopes: ["leads.lead.read"] });
    const consumerArn = await env.createSecret("novala/acumatica", consumer, { managerSecretId: managerArn });

    await rotateLikeSecretsManager(env.secrets, rotationHandler, managerArn);
    const newManager = await env.valueAt(managerArn, "AWSCURRENT");
    expect(newManager.keyId).not.toBe(manager.id);
    expect(model.inspect(String(newManager.keyId))).toMatchObject({ status: "active", scopes: ["api_keys.manage"] });
    expect(newManager.managerSecretId).toBeUndefined();
    // Grace 0 here: the old manager key is revoked at the end of the rotation (with a grace, by its schedule).
    expect(env.status(manager.id)).toBe("revoked");
    expect((await env.valueAt(managerArn, "AWSPREVIOUS")).keyId).toBe(manager.id);

    // The consumer's rotation works only with the new manager key (the old one is revoked).
    await rotateLikeSecretsManager(env.secrets, rotationHandler, consumerArn);
    const rotated = await env.valueAt(consumerArn, "AWSCURRENT");
    expect(rotated.keyId).not.toBe(consumer.id);
    expect(env.status(consumer.id)).toBe("revoked");
    expect(model.inspect(String(rotated.keyId))).toMatchObject({ status: "active", scopes: ["leads.lead.read"] });
    expect(env.status(newManager.keyId)).toBe("active");
  });
});
