/**
 * Novala calls of one clean rotation in a tenant whose history holds 10,000 revoked keys (issues 12 and 20), in a
 * tenant that honours the key list's filter and in one that ignores it (NovalaModel.setListFilters(false): every key
 * answered, one page per 100), next to the same rotation in an empty tenant; and the key-list pages each read. Novala
 * over HTTP (the simulator), Secrets Manager in process.
 */
import { randomUUID } from "node:crypto";
import { LOCAL_ROTATION_LAMBDA_ARN } from "../cli/secrets-manager-driver.js";
import { createNovalaKeyApi } from "../lambdas/adapters/novala/key-api.js";
import { ROTATION_STEPS } from "../lambdas/contract/rotation-event.js";
import { startNovalaSimulator } from "../local/novala-simulator.js";
import { SecretsManagerModel } from "../local/secrets-manager-model.js";
import { modelDeps, rotationConfig, runStepAsLambda, secretJson } from "./rotation.js";
import { progress, QUICK, type Row } from "./support.js";

const HISTORY = QUICK ? 3_000 : 10_000;
const LIST_ROUTE = "GET /api/v1/api-keys";

/** Novala requests (attempts) and list pages of one clean rotation of a manager-managed secret with two read scopes. */
async function cleanRotation(revokedKeys: number, listFilters: boolean): Promise<{ calls: number; pages: number }> {
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
    novala.clearRequestLog();
    const token = randomUUID();
    model.rotateSecret({ SecretId: arn, ClientRequestToken: token, RotationLambdaARN: LOCAL_ROTATION_LAMBDA_ARN });
    for (const step of ROTATION_STEPS) await runStepAsLambda(deps, step, arn, token);
    const pages = novala.requestLog().filter((entry) => entry.route === LIST_ROUTE).length;
    return { calls, pages };
  } finally {
    await keys.close();
    await novala.stop();
  }
}

export async function benchHistory(): Promise<{ rows: Row[] }> {
  const history = HISTORY.toLocaleString("en");
  progress(`clean rotation in a tenant with ${history} revoked keys, filter honoured and ignored`);
  const empty = await cleanRotation(0, true);
  const ignored = await cleanRotation(HISTORY, false);
  const honoured = await cleanRotation(HISTORY, true);
  return {
    rows: [
      {
        figure: `Novala calls per clean rotation, tenant with ${history} revoked keys that ignores the filter`,
        target: "≤ 7",
        baseline: `empty tenant: ${empty.calls}`,
        measured: `${ignored.calls}`,
        pass: ignored.calls <= 7,
      },
      {
        figure: `Novala calls per clean rotation, tenant with ${history} revoked keys that honours the filter`,
        target: "≤ 7",
        baseline: `empty tenant: ${empty.calls}`,
        measured: `${honoured.calls}`,
        pass: honoured.calls <= 7,
      },
      {
        figure: "key-list pages read by a clean rotation (empty tenant; history, filter honoured; ignored)",
        target: "0",
        baseline: "—",
        measured: `${empty.pages}; ${honoured.pages}; ${ignored.pages}`,
        pass: empty.pages + honoured.pages + ignored.pages === 0,
      },
    ],
  };
}
