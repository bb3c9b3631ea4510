import { performance } from "node:perf_hooks";
import { Agent, request } from "undici";
import { createNovalaKeyApi } from "../lambdas/adapters/novala/key-api.js";
import { RatePacer } from "../lambdas/adapters/novala/rate-budget.js";
import { DEFAULT_MAX_ROTATION_CONCURRENCY, DEFAULT_RATE_BUDGET_PER_SECOND } from "../lambdas/contract/environment.js";
import { modelDeps, rotateInModel, startFleetTenant } from "./rotation.js";
import { ms, progress, QUICK, type Row } from "./support.js";

const TENANT_LIMIT = 50;
const PRODUCTION_RATE = TENANT_LIMIT / 2;

interface MassResult {
  n: number;
  succeeded: number;
  wallMs: number;
  rotationServed: number;
  rotationLimited: number;
  productionSent: number;
  productionLimited: number;
}

async function runMass(n: number, budget: { perSecond: number; concurrency: number } | undefined): Promise<MassResult> {
  const { novala, model, schedulerModel, config, secrets: queue } = await startFleetTenant(n, "novala/mass");
  const production = novala.model.seedKey({ name: "Production integration", scopes: ["pipeline"] });
  novala.setSwitches({ rateLimitPerSecond: TENANT_LIMIT });
  novala.clearRequestLog();

  // Production: open loop at 25/s, one attempt each (a 429 is what the integration would see).
  const agent = new Agent({ connections: 64 });
  let productionSent = 0;
  let productionLimited = 0;
  const inFlight = new Set<Promise<void>>();
  const timer = setInterval(() => {
    productionSent++;
    const call = request(`${novala.url}/api/v1/api-keys/self`, {
      dispatcher: agent,
      headers: { authorization: `Bearer ${production.secretKey}` },
    })
      .then(async (answer) => {
        if (answer.statusCode === 429) productionLimited++;
        await answer.body.dump();
      })
      .catch(() => {})
      .finally(() => inFlight.delete(call));
    inFlight.add(call);
  }, 1000 / PRODUCTION_RATE);

  let succeeded = 0;
  const started = performance.now();
  const rotateOne = async (arn: string, pacer: RatePacer | undefined) => {
    const keys = createNovalaKeyApi(config, pacer ? { pacer } : {});
    const deps = modelDeps(model, keys, config, schedulerModel);
    try {
      await rotateInModel(model, deps, arn);
      succeeded++;
    } catch {
      // counted as not succeeded
    } finally {
      await keys.close();
    }
  };
  if (budget) {
    // `concurrency` environments, each taking the next secret when its rotation ends, each with its own pacer.
    await Promise.all(
      Array.from({ length: Math.min(budget.concurrency, n) }, async () => {
        const pacer = new RatePacer(budget.perSecond / budget.concurrency);
        for (let arn = queue.shift(); arn !== undefined; arn = queue.shift()) await rotateOne(arn, pacer);
      }),
    );
  } else {
    await Promise.all(queue.map((arn) => rotateOne(arn, undefined)));
  }
  const wallMs = performance.now() - started;
  clearInterval(timer);
  await Promise.all(inFlight);
  await agent.close();
  const log = novala.requestLog();
  await novala.stop();
  const limited = log.filter((entry) => entry.rateLimited).length;
  return {
    n,
    succeeded,
    wallMs,
    rotationServed: log.length - limited - (productionSent - productionLimited),
    rotationLimited: limited - productionLimited,
    productionSent,
    productionLimited,
  };
}

export async function benchMassRotation(): Promise<{ rows: Row[]; notes: string[] }> {
  const n = QUICK ? 100 : 1000;
  const budget = { perSecond: DEFAULT_RATE_BUDGET_PER_SECOND, concurrency: DEFAULT_MAX_ROTATION_CONCURRENCY };
  progress(`mass rotation of ${n} secrets with production at 25/s, without the budget (baseline) …`);
  const before = await runMass(n, undefined);
  progress(`mass rotation of ${n} secrets with production at 25/s, budget ${budget.perSecond}/s …`);
  const after = await runMass(n, budget);
  const pct = (r: MassResult) => (100 * r.productionLimited) / r.productionSent;
  const perServed = (r: MassResult) => r.rotationLimited / r.rotationServed;
  const perRotation = (r: MassResult) => r.rotationServed / r.n;
  const leftToRotation = TENANT_LIMIT - PRODUCTION_RATE;
  const bound = (r: MassResult, rate: number) => (r.rotationServed / rate) * 1000;
  const label = `N = ${n}, production 25/s of 50/s`;
  return {
    rows: [
      {
        figure: `production requests answered 429 (${label})`,
        target: "≤ 1 %",
        baseline: `no budget: ${pct(before).toFixed(1)} % of ${before.productionSent}`,
        measured: `${pct(after).toFixed(2)} % of ${after.productionSent}`,
        pass: pct(after) <= 1,
      },
      {
        figure: `429s to rotation calls per served rotation call (${label})`,
        target: "≤ 0.2",
        baseline: `no budget: ${perServed(before).toFixed(2)}`,
        measured: perServed(after).toFixed(3),
        pass: perServed(after) <= 0.2,
      },
      {
        figure: `Novala calls per rotation (${label})`,
        target: "≤ 7.2",
        baseline: `no budget: ${perRotation(before).toFixed(2)}`,
        measured: perRotation(after).toFixed(2),
        pass: perRotation(after) <= 7.2,
      },
      {
        figure: `mass rotation wall time (${label}, budget ${budget.perSecond}/s)`,
        target: `≤ 1.25 × calls ÷ ${leftToRotation}/s left`,
        baseline: `no budget: ${ms(before.wallMs)} = ${(before.wallMs / bound(before, leftToRotation)).toFixed(2)} ×`,
        measured: `${ms(after.wallMs)} = ${(after.wallMs / bound(after, leftToRotation)).toFixed(2)} × (${(after.wallMs / bound(after, budget.perSecond)).toFixed(2)} × calls ÷ budget)`,
        pass: after.wallMs <= 1.25 * bound(after, leftToRotation),
      },
    ],
    notes: [
      `baseline (no budget): ${before.succeeded}/${n} succeeded, ${before.rotationServed} rotation calls served, ${before.rotationLimited} answered 429, production ${before.productionLimited}/${before.productionSent} answered 429`,
      `budget ${budget.perSecond}/s over ${budget.concurrency} environments: ${after.succeeded}/${n} succeeded, ${after.rotationServed} rotation calls served, ${after.rotationLimited} answered 429, production ${after.productionLimited}/${after.productionSent} answered 429`,
    ],
  };
}
