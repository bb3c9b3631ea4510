import fc from "fast-check";
import { it } from "vitest";
import { ROTATION_STEPS, type RotationStep } from "../../lambdas/core/rotation.js";
import { type ActorSpec, actorCount, brokenCheck, compressSchedule, describeActors, RaceFound, type RaceScenario, runRace, shrinkSchedule } from "./support/concurrency.js";

const stepArb = fc.constantFrom<RotationStep>(...ROTATION_STEPS);
const optionalStep = fc.option(stepArb, { nil: undefined, freq: 2 });
const actorArb: fc.Arbitrary<ActorSpec> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ retry: optionalStep, failFirst: optionalStep }).map(({ retry, failFirst }) => ({ kind: "rotation" as const, ...(retry && { retry }), ...(failFirst && failFirst !== "setSecret" && { failFirst }) })) },
  { weight: 2, arbitrary: fc.constant<ActorSpec>({ kind: "revocation" }) },
  { weight: 1, arbitrary: fc.constant<ActorSpec>({ kind: "overdue" }) },
  { weight: 2, arbitrary: fc.boolean().map((force): ActorSpec => ({ kind: "abort", force })) },
  { weight: 2, arbitrary: fc.boolean().map((revokeNow): ActorSpec => ({ kind: "rollback", revokeNow })) },
  { weight: 2, arbitrary: fc.constant<ActorSpec>({ kind: "revoke" }) },
  { weight: 2, arbitrary: fc.constant<ActorSpec>({ kind: "reconcile" }) },
);
const EXCLUDE = (process.env.EXCLUDE ?? "").split(",").filter(Boolean);
const actorsArb = fc.array(actorArb, { minLength: 2, maxLength: 3 }).map((a) => { const k = [...a]; while (actorCount(k) > 3) k.pop(); return k; });
const scenarioArb: fc.Arbitrary<RaceScenario> = fc.record({
  seed: fc.integer(), managed: fc.boolean(), graceSeconds: fc.constantFrom<0 | 3600>(3600, 3600, 0),
  setup: fc.constantFrom<RaceScenario["setup"]>("rotated", "rotated", "stuck", "fresh"), actors: actorsArb,
});
it("explore", async () => {
  const found = new Map<string, { n: number; example: string }>();
  const samples = fc.sample(fc.tuple(scenarioArb, fc.scheduler()), { numRuns: Number(process.env.N ?? 2000), seed: 42 });
  for (const [scenario, s] of samples) {
    const d = describeActors(scenario.actors);
    if (EXCLUDE.some((e) => d.includes(e))) continue;
    try { await runRace(scenario, s); } catch (error) {
      if (!(error instanceof RaceFound)) throw error;
      const kinds = describeActors(scenario.actors).replace(/\(.*?\)/g, (m) => m.includes("retry") ? `(${m.match(/retry \w+/)?.[0]})` : "");
      const key = `${brokenCheck(error.violation)} | ${kinds} | ${scenario.setup} g${scenario.graceSeconds}`;
      const entry = found.get(key);
      if (entry) entry.n++;
      else {
        const shrunk = await shrinkSchedule(scenario, error.schedule, brokenCheck(error.violation), 300);
        found.set(key, { n: 1, example: `${JSON.stringify(scenario)}\n      schedule: ${shrunk ? compressSchedule(shrunk) : "?"}\n      ${error.violation.message.split("\n")[0]}` });
      }
    }
  }
  for (const [key, { n, example }] of [...found].sort()) console.log(`${n}× ${key}\n    ${example}`);
}, 600_000);
