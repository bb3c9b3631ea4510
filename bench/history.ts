/**
 * Novala calls of one clean rotation in a tenant whose history holds 10,000 revoked keys (issue 12), next to the same
 * rotation in an empty tenant and in the same tenant when it ignores the key list's filter (the cost before the
 * filter, which a tenant lacking it still pays). Novala over HTTP (the simulator), Secrets Manager in process.
 */
import { randomUUID } from "node:crypto";
import { LOCAL_ROTATION_LAMBDA_ARN } from "../cli/secrets-manager-driver.js";
import { createNovalaKeyApi } from "../lambdas/adapters/novala/key-api.js";
import { ROTATION_STEPS } from "../lambdas/contract/rotation-event.js";
import { runRotationStep } from "../lambdas/core/rotation.js";
import { startNovalaSimulator } from "../local/novala-simulator.js";
import { SecretsManagerModel } from "../local/secrets-manager-model.js";
import { modelDeps, rotationConfig, secretJson } from "./rotation.js";
import { progress, type Row } from "./support.js";

const HISTORY = 10_000;

/** Novala requests (attempts) of one clean rotation of a manager-managed secret with two read scopes. */
async function cleanRotationCalls(revokedKeys: number, listFilters: boolean): Promise<number> {
  const novala = await startNovalaSimulator({ propagationDelayMs: 0 });
  novala.model.setListFilters(listFilters);
  for (let i = 0; i < revokedKeys; i++) {
    novala.model.seedKey({ name: `Retired integration ${i}`, scopes: ["pipeline"], status: "revoked" });
  }
  const model = new SecretsManagerModel();
  const config = rotationConfig();
  const manager = novala.model.seedKey({ name: "Rotation manager", scopes: ["api_keys.manage"] });
  const managerArn = String(
    model.createSecret({ Name: "novala/manager", SecretString: secretJson(novala.url, manager) }).ARN,
  );
  const consumer = novala.model.seedKey({ name: "Consumer", scopes: ["leads.lead.read", "pipeline"] });
  const arn = String(
    model.createSecret({ Name: "novala/history", SecretString: secretJson(novala.url, consumer, managerArn) }).ARN,
  );
  let calls = 0;
  const keys = createNovalaKeyApi(config, { onAttempt: () => calls++ });
  const deps = modelDeps(model, keys, config);
  try {
    const token = randomUUID();
    model.rotateSecret({ SecretId: arn, ClientRequestToken: token, RotationLambdaARN: LOCAL_ROTATION_LAMBDA_ARN });
    for (const step of ROTATION_STEPS) await runRotationStep(deps, step, arn, token);
    return calls;
  } finally {
    await keys.close();
    await novala.stop();
  }
}

export async function benchHistory(): Promise<{ rows: Row[] }> {
  progress(`clean rotation in a tenant with ${HISTORY} revoked keys`);
  const empty = await cleanRotationCalls(0, true);
  const unfiltered = await cleanRotationCalls(HISTORY, false);
  const measured = await cleanRotationCalls(HISTORY, true);
  return {
    rows: [
      {
        figure: `Novala calls per clean rotation, tenant with ${HISTORY.toLocaleString("en")} revoked keys`,
        target: "as an empty tenant (issue: ≤ 7)",
        baseline: `empty tenant: ${empty}; filter ignored by the tenant: ${unfiltered}`,
        measured: `${measured}`,
        pass: measured <= empty,
      },
    ],
  };
}
