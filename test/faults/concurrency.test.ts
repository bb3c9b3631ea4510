/**
 * Races (issue 19, item 7): two or three actors at once over the in-memory world, every port call a scheduling point
 * that fast-check's `fc.scheduler()` orders (support/concurrency.ts: the actors, the setups, and WHEN each invariant
 * applies). fast-check shrinks a failing scenario (fewer actors, simpler setup); its scheduler does not shrink the order
 * it chose, so the failure's schedule is then shrunk here by delta debugging (shrinkSchedule) and printed as a short
 * script of actor names that a ScriptedScheduler replays exactly: a regression test replays it by name.
 *
 * RACE_RUNS sets the number of interleavings (default 1000; `npm run test:faults` runs 10,000). A failure prints
 * fast-check's seed and path: FAULT_SEED=<seed> FAULT_PATH=<path> RACE_RUNS=<runs> replays that run (npx vitest run
 * test/faults/concurrency.test.ts -t "every interleaving"), and the shrunk schedule, which `replay()` below replays.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ROTATION_STEPS, type RotationStep } from "../../lambdas/core/rotation.js";
import {
  type ActorSpec,
  actorCount,
  actorNames,
  brokenCheck,
  compressSchedule,
  describeActors,
  expandSchedule,
  RaceFound,
  type RaceScenario,
  runRace,
  ScriptedScheduler,
  shrinkSchedule,
} from "./support/concurrency.js";

const RUNS = Number(process.env.RACE_RUNS ?? 1000);
const SEED = process.env.FAULT_SEED === undefined ? undefined : Number(process.env.FAULT_SEED);

const stepArb = fc.constantFrom<RotationStep>(...ROTATION_STEPS);
const optionalStep = fc.option(stepArb, { nil: undefined, freq: 2 });

const actorArb: fc.Arbitrary<ActorSpec> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({ retry: optionalStep, failFirst: optionalStep }).map(({ retry, failFirst }) => ({
      kind: "rotation" as const,
      ...(retry && { retry }),
      ...(failFirst && failFirst !== "setSecret" && { failFirst }),
    })),
  },
  { weight: 2, arbitrary: fc.constant<ActorSpec>({ kind: "revocation" }) },
  { weight: 1, arbitrary: fc.constant<ActorSpec>({ kind: "overdue" }) },
  { weight: 2, arbitrary: fc.boolean().map((force): ActorSpec => ({ kind: "abort", force })) },
  { weight: 2, arbitrary: fc.boolean().map((revokeNow): ActorSpec => ({ kind: "rollback", revokeNow })) },
  { weight: 2, arbitrary: fc.constant<ActorSpec>({ kind: "revoke" }) },
  { weight: 2, arbitrary: fc.constant<ActorSpec>({ kind: "reconcile" }) },
);

/** Two or three actors (a rotation's retry counts as one): trailing ones beyond three are dropped. */
const actorsArb = fc.array(actorArb, { minLength: 2, maxLength: 3 }).map((actors) => {
  const kept = [...actors];
  while (actorCount(kept) > 3) kept.pop();
  return actorCount(kept) >= 2 ? kept : [...kept, { kind: "overdue" } as const];
});

const scenarioArb: fc.Arbitrary<RaceScenario> = fc.record({
  seed: fc.integer(),
  managed: fc.boolean(),
  graceSeconds: fc.constantFrom<0 | 3600>(3600, 3600, 0),
  setup: fc.constantFrom<RaceScenario["setup"]>("rotated", "rotated", "stuck", "fresh"),
  actors: actorsArb,
});

/** The kind of actor for the coverage figures: a rotation's options matter, an operator's flags too. */
function actorKinds(actors: readonly ActorSpec[]): string[] {
  return describeActors(actors)
    .split(" ∥ ")
    .map((actor) => actor.replace(/\(.*\)$/, (options) => (options.includes("retry") ? "+retry" : "")));
}

/** Replays `schedule` (compressSchedule's text) over `scenario`; resolves the run's summary, throws its violation. */
function replay(scenario: RaceScenario, schedule: string) {
  return runRace(scenario, new ScriptedScheduler(expandSchedule(schedule), actorNames(scenario)));
}

describe("races: two or three actors at once, every port call interleaved (fc.scheduler)", () => {
  it(
    "hold the invariants in every interleaving",
    async () => {
      const started = Date.now();
      const combinations = new Map<string, number>();
      const pairs = new Set<string>();
      const endings = new Map<string, number>();
      let releases = 0;
      let settledAborts = 0;
      let reconciled = 0;
      const details = await fc.check(
        fc.asyncProperty(scenarioArb, fc.scheduler(), async (scenario, scheduler) => {
          const summary = await runRace(scenario, scheduler);
          const kinds = actorKinds(scenario.actors).sort();
          const combination = kinds.join(" ∥ ");
          combinations.set(combination, (combinations.get(combination) ?? 0) + 1);
          for (const a of kinds) for (const b of kinds) if (a < b || a === b) pairs.add(`${a} ∥ ${b}`);
          for (const [actor, ending] of Object.entries(summary.outcomes)) {
            const key = `${actor.replace(/\d+$/, "")}: ${ending.replace(/\d+ revoked/, "n revoked").replace(/: .*/, "")}`;
            endings.set(key, (endings.get(key) ?? 0) + 1);
          }
          releases += summary.schedule.length;
          settledAborts += summary.settledAborts;
          reconciled += summary.reconciled.length;
        }),
        {
          numRuns: RUNS,
          ...(SEED !== undefined && { seed: SEED }),
          ...(SEED !== undefined && process.env.FAULT_PATH && { path: process.env.FAULT_PATH }),
        },
      );
      if (details.failed) {
        const [scenario] = details.counterexample ?? [];
        const error = details.errorInstance;
        const lines = [
          `race found after ${details.numRuns} interleavings (${details.numShrinks} shrinks of the scenario)`,
          `  replay the run with: FAULT_SEED=${details.seed} FAULT_PATH=${details.counterexamplePath} RACE_RUNS=${RUNS}`,
          `  scenario: ${JSON.stringify(scenario)}`,
          `  actors: ${scenario ? describeActors(scenario.actors) : "?"}`,
        ];
        if (scenario && error instanceof RaceFound) {
          const shrunk = await shrinkSchedule(scenario, error.schedule, brokenCheck(error.violation));
          lines.push(
            shrunk === undefined
              ? `  the schedule (${error.schedule.length} releases) did not replay: ${compressSchedule(error.schedule)}`
              : `  shrunk schedule (${shrunk.length} of ${error.schedule.length} releases; then actors in order): "${compressSchedule(shrunk)}"`,
          );
          if (shrunk !== undefined) {
            const again = await replay(scenario, compressSchedule(shrunk)).catch((e: unknown) => e as Error);
            if (again instanceof RaceFound) lines.push(`  error: ${again.violation.message}`);
          }
        }
        lines.push(`  first error: ${error instanceof Error ? error.message : String(error)}`);
        const report = lines.join("\n");
        console.error(report);
        throw new Error(report);
      }
      const endingText = [...endings.entries()]
        .sort()
        .map(([ending, count]) => `${ending} ×${count}`)
        .join("; ");
      console.info(
        `races: ${details.numRuns} interleavings in ${Date.now() - started} ms (seed ${details.seed}), ${releases} calls released; ` +
          `${combinations.size} actor combinations, ${pairs.size} actor pairs covered; races found: 0; ` +
          `stuck rotations aborted once the actors finished: ${settledAborts}; final reconcile revoked ${reconciled} key(s)`,
      );
      console.info(`  how the actors ended: ${endingText}`);
      expect(details.numRuns).toBe(RUNS);
    },
    Math.max(60_000, RUNS * 200),
  );
});
