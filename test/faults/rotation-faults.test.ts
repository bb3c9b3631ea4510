/**
 * Fault injection over the in-memory world, for breadth: fast-check generates fault schedules (which port call fails,
 * loses its answer or kills the process) combined with Novala behaviour (propagation delay, health-check failures),
 * operator actions (rollback, manual put-secret-value), the configuration test and back-to-back rotations. After every
 * port call and at the end of every run the five invariants of issue 4 are checked (support/harness.ts), and the two of
 * issue 9: no key outside the rotated secret's lineage changes status (6), no key is minted beyond the lineage's first
 * key's scopes (7). The tenant also holds the manager key and two other teams' secrets; the adversary properties add a
 * writer of the rotated secret who forges values, plays label games and fires forged revocation events
 * (support/adversary.ts), its moves shrinking like faults. Issue 16 adds a consumer that keeps using its cached key
 * after a rotation, and invariant 8: no key a consumer used within the quiet window is revoked by a due revocation
 * before its hard limit, and no postponed key outlives its hard limit unalarmed.
 *
 * FAULT_RUNS sets the number of random schedules (default: a CI-sized run), FAULT_SEED replays a run: a failure prints
 * fast-check's seed, path and the shrunk (shortest) schedule; FAULT_SEED=<seed> FAULT_PATH=<path> replays exactly that
 * counterexample (npx vitest run test/faults -t "<test name>").
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  type Adversary,
  type AdversaryMove,
  adversaryArb,
  eventsOnlyAdversaryArb,
  type KeyRef,
  NO_ADVERSARY,
  type PutStage,
  type SecretKeyRef,
  type Twist,
} from "./support/adversary.js";
import {
  FAULT_KINDS,
  type Fault,
  type FaultKind,
  type RotationOutcome,
  runScenario,
  type Scenario,
} from "./support/harness.js";

const RUNS = Number(process.env.FAULT_RUNS ?? 1000);
const SEED = process.env.FAULT_SEED === undefined ? undefined : Number(process.env.FAULT_SEED);
/** Port calls one scenario makes at most, roughly: faults are placed among them. */
const MAX_CALL_INDEX = 90;
/** A consumer that never moves off its cached key until it answers 401 (100 days: longer than any scenario). */
const NEVER_MOVES = 100 * 24 * 3600_000;

const faultArb: fc.Arbitrary<Fault> = fc.record({
  at: fc.nat({ max: MAX_CALL_INDEX }),
  kind: fc.constantFrom<FaultKind>(...FAULT_KINDS),
  flavor: fc.nat({ max: 3 }),
});

const scenarioArb: fc.Arbitrary<Scenario> = fc.record({
  seed: fc.integer(),
  graceSeconds: fc.constantFrom<0 | 3600>(0, 3600),
  managed: fc.boolean(),
  configTest: fc.boolean(),
  // 0 twice as likely; 2 s is waited out within the 5 s deadline; an hour is "401 for ever".
  propagationMs: fc.constantFrom(0, 0, 0, 2_000, 2_000, 3_600_000),
  health: fc.constantFrom<Scenario["health"]>("none", "none", "none", "none", "none", "fewer-scopes", "probe-403"),
  // The operator's rollback (lambdas/core/rollback.ts) with --grace (true) or revoking at once, or one by hand.
  rollback: fc.oneof(
    { weight: 3, arbitrary: fc.constant(false) },
    { weight: 3, arbitrary: fc.constantFrom<Scenario["rollback"]>(true, "revoke-now", "by-hand") },
  ),
  manualPutBeforeStep: fc.oneof(
    { weight: 5, arbitrary: fc.constant(null) },
    { weight: 1, arbitrary: fc.integer({ min: 0, max: 3 }) },
  ),
  secondRotation: fc.boolean(),
  faults: fc.uniqueArray(faultArb, { selector: (fault) => fault.at, maxLength: 10 }),
  adversary: fc.constant(NO_ADVERSARY),
  // Scheduler gives up on a revocation in one scenario out of three (which of the first four schedules to fire).
  schedulerGivesUp: fc.oneof(
    { weight: 2, arbitrary: fc.constant<number[]>([]) },
    { weight: 1, arbitrary: fc.uniqueArray(fc.nat({ max: 3 }), { minLength: 1, maxLength: 2 }) },
  ),
  revocationsBetween: fc.boolean(),
  // Novala answers 409 (its key limit) to the first create or two in one scenario out of eight: the rotation ends.
  createRefused: fc.oneof(
    { weight: 7, arbitrary: fc.constant(0) },
    { weight: 1, arbitrary: fc.integer({ min: 1, max: 2 }) },
  ),
  // A consumer that keeps using the old key in one scenario out of three: for 0, 30 minutes, 2 hours after its
  // retirement, or (100 days) never until it is revoked.
  consumerLagMs: fc.oneof(
    { weight: 2, arbitrary: fc.constant(null) },
    { weight: 1, arbitrary: fc.constantFrom(0, 30 * 60_000, 2 * 3600_000, NEVER_MOVES) },
  ),
});

/** The combined scenarios with an adversary, and fewer faults (its moves shift the call indexes anyway). */
function withAdversary(adversary: fc.Arbitrary<Adversary>): fc.Arbitrary<Scenario> {
  return fc
    .tuple(scenarioArb, adversary, fc.uniqueArray(faultArb, { selector: (fault) => fault.at, maxLength: 4 }))
    .map(([scenario, chosen, faults]) => ({ ...scenario, faults, adversary: chosen }));
}

/** Runs a property and, when it fails, prints the seed and the shrunk schedule before failing the test. */
async function check(name: string, arbitrary: fc.Arbitrary<Scenario>, runs: number) {
  const started = Date.now();
  const outcomes = new Map<string, number>();
  let abandonedKeys = 0;
  const lost = { scenarios: 0, schedulesGivenUp: 0, reconciled: 0 };
  const usage = { consumers: 0, postponements: 0, hardLimitRevocations: 0, consumerCalls: 0, consumerCutOff: 0 };
  const operator = { rolledBack: 0, aborted: 0 };
  const adversary = {
    schedules: 0,
    disturbed: 0,
    fired: 0,
    rejected: 0,
    keyClaimsRefused: 0,
    revocationsRefused: 0,
    eventsMalformed: 0,
    foreignKeysChanged: 0,
  };
  const details = await fc.check(
    fc.asyncProperty(arbitrary, async (scenario) => {
      const summary = await runScenario(scenario);
      const label = `${summary.first}${summary.second ? `+${summary.second}` : ""}`;
      outcomes.set(label, (outcomes.get(label) ?? 0) + 1);
      abandonedKeys += summary.abandonedKeys.length;
      if (summary.schedulerGaveUp > 0) lost.scenarios += 1;
      lost.schedulesGivenUp += summary.schedulerGaveUp;
      lost.reconciled += summary.reconciled;
      operator.rolledBack += summary.rolledBack;
      if (scenario.consumerLagMs !== null && scenario.consumerLagMs !== undefined) usage.consumers += 1;
      usage.postponements += summary.usage.postponements;
      usage.hardLimitRevocations += summary.usage.hardLimitRevocations;
      usage.consumerCalls += summary.usage.consumerCalls;
      usage.consumerCutOff += summary.usage.consumerCutOff;
      operator.aborted += summary.aborted;
      const moves = summary.adversary;
      if (moves.planned > 0) adversary.schedules += 1;
      if (moves.disturbed) adversary.disturbed += 1;
      adversary.fired += moves.fired;
      adversary.rejected += moves.rejected;
      adversary.keyClaimsRefused += moves.keyClaimsRefused;
      adversary.revocationsRefused += moves.revocationsRefused;
      adversary.eventsMalformed += moves.eventsMalformed;
      adversary.foreignKeysChanged += moves.foreignKeysChanged;
    }),
    {
      numRuns: runs,
      ...(SEED !== undefined && { seed: SEED }),
      ...(SEED !== undefined && process.env.FAULT_PATH && { path: process.env.FAULT_PATH }),
    },
  );
  if (details.failed) {
    const report = [
      `fault property "${name}" failed after ${details.numRuns} runs`,
      `  reproduce with: FAULT_SEED=${details.seed} FAULT_PATH=${details.counterexamplePath} (and the same test name)`,
      `  shrunk schedule (${details.numShrinks} shrinks): ${JSON.stringify(details.counterexample?.[0])}`,
      `  error: ${details.errorInstance instanceof Error ? details.errorInstance.message : String(details.errorInstance)}`,
    ].join("\n");
    console.error(report);
    throw new Error(report);
  }
  console.info(
    `fault property "${name}": ${details.numRuns} schedules in ${Date.now() - started} ms (seed ${details.seed}); outcomes ${JSON.stringify(Object.fromEntries(outcomes))}; keys stranded by abandoned rotations (alarmed): ${abandonedKeys}; Scheduler gave up on ${lost.schedulesGivenUp} revocation(s) in ${lost.scenarios} schedules; reconcile revoked ${lost.reconciled} stranded key(s); operator rollbacks ${operator.rolledBack}, aborts ${operator.aborted} (lambdas/core); stranded at the end: 0`,
  );
  if (usage.consumers > 0) {
    console.info(
      `  consumers: ${usage.consumers} schedules with a consumer (${usage.consumerCalls} calls), ${usage.postponements} revocations postponed, ${usage.hardLimitRevocations} revoked at the hard limit (alarmed), consumer cut off ${usage.consumerCutOff} time(s) (each checked by invariant 8)`,
    );
  }
  if (adversary.schedules > 0) {
    console.info(
      `  adversary: ${adversary.schedules} schedules with moves (${adversary.disturbed} disturbed the rotations), ${adversary.fired} moves fired, ${adversary.rejected} rejected by Secrets Manager; refusals: ${adversary.keyClaimsRefused} KeyClaimsRefused, ${adversary.revocationsRefused} RevocationsRefused, ${adversary.eventsMalformed} malformed events rejected; keys outside the lineage revoked or changed: ${adversary.foreignKeysChanged}`,
    );
  }
  return { ...adversary, lost, outcomes, usage };
}

describe("fault schedules over the in-memory world (fast-check)", () => {
  it("hold the seven invariants under random combined faults", async () => {
    const stats = await check("combined", scenarioArb, RUNS);
    // The property modelled what it claims: Scheduler gave up on revocations, and reconcile cleaned up after it.
    expect(stats.lost.schedulesGivenUp).toBeGreaterThan(0);
    expect(stats.lost.reconciled).toBeGreaterThan(0);
    // And creates refused for good ended rotations (issue 16, item 5).
    expect([...stats.outcomes.keys()].some((label) => label.includes("ended"))).toBe(true);
  });

  it("invariant 8 with a consumer in every schedule: postponed while used, never cut off before the hard limit", async () => {
    const withConsumer = scenarioArb.chain((scenario) =>
      fc
        .constantFrom(30 * 60_000, 2 * 3600_000, NEVER_MOVES)
        .map((consumerLagMs) => ({ ...scenario, graceSeconds: 3600 as const, consumerLagMs })),
    );
    const stats = await check("consumers", withConsumer, Math.max(50, Math.floor(RUNS / 3)));
    // The property exercised what it claims: revocations waited, and some met the hard limit.
    expect(stats.usage.postponements).toBeGreaterThan(0);
    expect(stats.usage.hardLimitRevocations).toBeGreaterThan(0);
  });

  it("hold them when every fault is a process death (crash points only, dense)", async () => {
    const crashOnly = scenarioArb.chain((scenario) =>
      fc
        .uniqueArray(
          fc.record({
            at: fc.nat({ max: 60 }),
            kind: fc.constantFrom<FaultKind>("crash-before", "crash-after"),
            flavor: fc.constant(0),
          }),
          { selector: (fault) => fault.at, minLength: 1, maxLength: 6 },
        )
        .map((faults) => ({ ...scenario, manualPutBeforeStep: null, faults })),
    );
    await check("crash points", crashOnly, Math.max(50, Math.floor(RUNS / 3)));
  });
});

describe("an adversary holding write access to the rotated secret (fast-check, issue 9)", () => {
  it("never gets a key outside its lineage revoked, nor a key beyond its first key's scopes minted", async () => {
    const stats = await check("adversary", withAdversary(adversaryArb), RUNS);
    // The property ran what it claims: moves fired, forged values were refused, not just ignored.
    expect(stats.fired).toBeGreaterThan(RUNS);
    expect(stats.keyClaimsRefused).toBeGreaterThan(0);
    expect(stats.revocationsRefused).toBeGreaterThan(0);
    expect(stats.foreignKeysChanged).toBe(0);
  });

  it("forged revocation events and chosen tokens alone change nothing: all seven invariants and outcomes hold", async () => {
    const stats = await check(
      "forged events and tokens",
      withAdversary(eventsOnlyAdversaryArb),
      Math.max(50, RUNS / 2),
    );
    expect(stats.revocationsRefused).toBeGreaterThan(0);
    expect(stats.foreignKeysChanged).toBe(0);
  });
});

/** The clean scenarios whose every port call is a crash point in the exhaustive test. */
const BASE: Scenario = {
  seed: 1,
  graceSeconds: 0,
  managed: true,
  configTest: false,
  propagationMs: 0,
  health: "none",
  rollback: false,
  manualPutBeforeStep: null,
  secondRotation: false,
  faults: [],
  adversary: NO_ADVERSARY,
};
const CONFIGURATIONS: Array<[string, Partial<Scenario>]> = [
  ["grace 0, manager key", {}],
  ["grace 3600, manager key, back to back", { graceSeconds: 3600, secondRotation: true }],
  ["grace 0, self-managed, propagation 2 s", { managed: false, propagationMs: 2_000 }],
  ["grace 3600, health check fails (rollback)", { graceSeconds: 3600, health: "probe-403" }],
  ["grace 3600, 401 for ever (rollback)", { graceSeconds: 3600, propagationMs: 3_600_000 }],
  ["configuration test, grace 3600", { configTest: true, graceSeconds: 3600 }],
  [
    "grace 3600, the first create answered 409 (ended), then the next rotation",
    { graceSeconds: 3600, createRefused: 1, secondRotation: true },
  ],
];

describe("a failure a retry cannot fix (issue 16, item 5)", () => {
  it.each([
    ["manager key", true],
    ["self-managed", false],
  ] as const)(
    "a Novala that answers 409 to a create (%s): the rotation ends, the next one needs no abort",
    async (_label, managed) => {
      const summary = await runScenario({
        ...BASE,
        managed,
        graceSeconds: 3600,
        createRefused: 1,
        secondRotation: true,
      });
      expect(summary.first).toBe("ended");
      expect(summary.second).toBe("succeeded");
      expect(summary.aborted).toBe(0);
    },
  );

  it("two refused creates in a row end two rotations; nothing is left behind", async () => {
    const summary = await runScenario({ ...BASE, createRefused: 2, secondRotation: true });
    expect([summary.first, summary.second]).toEqual(["ended", "ended"]);
    expect(summary.aborted).toBe(0);
  });
});

describe("regressions the fault suite found", () => {
  it("a rollback by hand, then the next rotation: the key rolled back from is retired, not stranded", async () => {
    // Found by the combined property (shrunk: grace 3600, rollback, no faults, then a second rotation): the key the
    // operator rolled back from stayed AWSPREVIOUS with no schedule, and the next promotion pushed it off every label.
    const summary = await runScenario({ ...BASE, graceSeconds: 3600, rollback: "by-hand", secondRotation: true });
    expect(summary.first).toBe("succeeded");
    expect(summary.second).toBe("succeeded");
  });

  it("Scheduler gives up on the original, untagged key's revocation after the next rotation moved it off every label: reconcile revokes it", async () => {
    // Issue 13: the first key carries no rotation tag; once its version is unlabelled and its schedule deleted,
    // nothing but reconcile (proving it by possession) can ever revoke it.
    const summary = await runScenario({
      ...BASE,
      graceSeconds: 3600,
      secondRotation: true,
      schedulerGivesUp: [0],
    });
    expect(summary.second).toBe("succeeded");
    expect(summary.schedulerGaveUp).toBe(1);
    expect(summary.givenUpKeys).toHaveLength(1);
    expect(summary.reconciled).toBe(1);
  });

  it("Scheduler gives up while the key is still AWSPREVIOUS: the next rotation schedules its revocation anew", async () => {
    const summary = await runScenario({
      ...BASE,
      graceSeconds: 3600,
      secondRotation: true,
      revocationsBetween: true,
      schedulerGivesUp: [0],
    });
    expect(summary.second).toBe("succeeded");
    expect(summary.schedulerGaveUp).toBe(1);
    // Retired by the second rotation's finishSecret, not left for reconcile.
    expect(summary.givenUpKeys).toEqual([]);
    expect(summary.reconciled).toBe(0);
  });

  it("Scheduler gives up on both keys' revocations, self-managed: reconcile revokes the one off every label", async () => {
    const summary = await runScenario({
      ...BASE,
      managed: false,
      graceSeconds: 3600,
      secondRotation: true,
      schedulerGivesUp: [0, 1],
    });
    expect(summary.schedulerGaveUp).toBe(2);
    expect(summary.reconciled).toBe(1);
  });

  it.each([
    ["with --grace", true],
    ["revoking at once", "revoke-now"],
  ] as const)(
    "novala-rotation rollback (the core's) %s, then the next rotation: nothing stranded",
    async (_label, mode) => {
      const summary = await runScenario({ ...BASE, graceSeconds: 3600, rollback: mode, secondRotation: true });
      expect(summary.rolledBack).toBe(1);
      expect(summary.second).toBe("succeeded");
    },
  );

  it("a rollback by hand: retires the rolled-back-from key even when finishSecret dies right after retiring it", async () => {
    const clean = await runScenario({ ...BASE, graceSeconds: 3600, rollback: "by-hand", secondRotation: true });
    const finishCalls = clean.calls.filter((call) => call.during === "finishSecret");
    const retire = finishCalls.filter((call) => call.call === "scheduler.ensureScheduled");
    expect(retire.length).toBeGreaterThanOrEqual(3);
    for (const call of retire) {
      for (const kind of ["crash-before", "crash-after", "lost", "error"] as const) {
        await runScenario({
          ...BASE,
          graceSeconds: 3600,
          rollback: "by-hand",
          secondRotation: true,
          faults: [{ at: call.index, kind, flavor: 0 }],
        });
      }
    }
  });
});

describe("process death at every point between two side effects (exhaustive)", () => {
  it.each(CONFIGURATIONS)("%s", async (_label, overrides) => {
    // The trace of a clean run: every port call of every invocation, revocations included.
    const trace = (await runScenario({ ...BASE, ...overrides })).calls;
    const points = new Set<string>();
    for (const call of trace) {
      for (const kind of ["crash-before", "crash-after"] as const) {
        await runScenario({ ...BASE, ...overrides, faults: [{ at: call.index, kind, flavor: 0 }] }).catch(
          (error: unknown) => {
            throw new Error(`${kind} ${call.during}: ${call.call} (#${call.index}): ${(error as Error).message}`);
          },
        );
      }
      points.add(`${call.during}: ${call.call}`);
    }
    expect(trace.length).toBeGreaterThan(5);
    // The creating mark is a crash point of its own, before the create: a crash after it (between the mark and the
    // create) and one after the create (between the create and the store) are both among those just run.
    const order = [...points];
    if (order.includes("createSecret: keys.create")) {
      expect(order.indexOf("createSecret: store.record")).toBeGreaterThanOrEqual(0);
      expect(order.indexOf("createSecret: store.record")).toBeLessThan(order.indexOf("createSecret: keys.create"));
      expect(order.indexOf("createSecret: keys.create")).toBeLessThan(
        order.indexOf("createSecret: store.putPendingValue"),
      );
    }
    console.info(`crash points (${_label}): ${trace.length} calls × before/after; ${[...points].join(" | ")}`);
  });
});

/** One adversary move at hook `at` (0: before anything runs; 1: before the first rotation's createSecret). */
function oneMove(move: AdversaryMove, at = 0): Adversary {
  return { tokens: [null, null], moves: [{ at, move }] };
}
const put = (keyId: KeyRef, secretKey: SecretKeyRef, stage: PutStage = "AWSCURRENT", twist: Twist = "none") =>
  ({ kind: "put", stage, keyId, secretKey, twist }) as const;

describe("each attack of issue 9, once (the adversary's moves one by one)", () => {
  const cases: Array<{
    name: string;
    scenario: Partial<Scenario>;
    expect: { first?: RotationOutcome; keyClaimsRefused?: boolean; revocationsRefused?: boolean; malformed?: number };
  }> = [
    {
      name: "AWSCURRENT claims the manager key with the team's own secret key: refused, nothing minted or revoked",
      scenario: { adversary: oneMove(put("manager", "own-current")) },
      expect: { first: "refused", keyClaimsRefused: true },
    },
    {
      name: "AWSCURRENT claims another team's key: refused (its scopes are not cloned, it is not retired)",
      scenario: { adversary: oneMove(put("victim", "own-current")) },
      expect: { first: "refused", keyClaimsRefused: true },
    },
    {
      name: "a self-managed secret claims the manager key: refused",
      scenario: { managed: false, adversary: oneMove(put("manager", "own-current")) },
      expect: { first: "refused", keyClaimsRefused: true },
    },
    {
      name: "RotateSecret with the victim secret's current version id as token: an ordinary rotation",
      scenario: { secondRotation: true, adversary: { tokens: ["victim-current", "victim-previous"], moves: [] } },
      expect: { first: "succeeded", keyClaimsRefused: false },
    },
    {
      name: "AWSPREVIOUS names the victim's rotator-made key: the next rotation succeeds and refuses to retire it",
      scenario: { adversary: oneMove(put("victim", "none", "AWSPREVIOUS")) },
      expect: { first: "succeeded", keyClaimsRefused: true },
    },
    {
      name: "AWSPREVIOUS names the manager key, grace 3600: no revocation is scheduled for it",
      scenario: { graceSeconds: 3600, adversary: oneMove(put("manager", "garbage", "AWSPREVIOUS")) },
      expect: { first: "succeeded", keyClaimsRefused: true },
    },
    {
      name: "a retired version offers the victim's publishable key as proof (self answers for it): refused",
      scenario: {
        adversary: oneMove({
          kind: "claim-and-revoke",
          stage: "AWSPREVIOUS",
          keyId: "victim",
          secretKey: "victim-publishable",
          versionId: "own-forged",
        }),
      },
      expect: { first: "succeeded", keyClaimsRefused: true, revocationsRefused: true },
    },
    {
      name: "a self-managed secret's retired version offers the manager's publishable key: refused",
      scenario: {
        managed: false,
        adversary: oneMove({
          kind: "claim-and-revoke",
          stage: "unlabelled",
          keyId: "manager",
          secretKey: "manager-publishable",
          versionId: "own-forged",
        }),
      },
      expect: { first: "succeeded", revocationsRefused: true },
    },
    {
      name: "the pending value names the victim's key: the rollback does not revoke it",
      scenario: { adversary: oneMove(put("victim", "own-current", "pending-token"), 1) },
      expect: { first: "refused", keyClaimsRefused: true },
    },
    {
      name: "scopes claiming api_keys.manage: the replacement gets the first key's scopes from Novala",
      scenario: { adversary: oneMove(put("own-current", "own-current", "AWSCURRENT", "manage-scope")) },
      expect: { first: "succeeded", keyClaimsRefused: false },
    },
    {
      name: "a name carrying the victim secret's lineage tag: the replacement carries this secret's",
      scenario: { adversary: oneMove(put("own-current", "own-current", "AWSCURRENT", "victim-name")) },
      expect: { first: "succeeded", keyClaimsRefused: false },
    },
    {
      name: "forged events: the victim's live key, the manager key, path tricks",
      scenario: {
        adversary: {
          tokens: [null, null],
          moves: (
            [
              ["victim", "victim", "victim-previous"],
              ["victim", "manager", "none"],
              ["manager", "manager", "none"],
              ["own", "victim", "victim-current"],
              ["own", "dotdot", "none"],
              ["own", "path", "none"],
              ["own", "encoded", "none"],
              ["traversal", "own-current", "malformed"],
            ] as const
          ).map(([secretId, keyId, versionId]) => ({
            at: 0,
            move: { kind: "revoke-event", secretId, keyId, versionId } as const,
          })),
        },
      },
      expect: { first: "succeeded", revocationsRefused: true, malformed: 4 },
    },
  ];

  it.each(cases)("$name", async ({ scenario, expect: expected }) => {
    const summary = await runScenario({ ...BASE, ...scenario });
    expect(summary.adversary.foreignKeysChanged).toBe(0);
    if (expected.first) expect(summary.first).toBe(expected.first);
    if (expected.keyClaimsRefused !== undefined) {
      expect(summary.adversary.keyClaimsRefused > 0).toBe(expected.keyClaimsRefused);
    }
    if (expected.revocationsRefused !== undefined) {
      expect(summary.adversary.revocationsRefused > 0).toBe(expected.revocationsRefused);
    }
    if (expected.malformed !== undefined) expect(summary.adversary.eventsMalformed).toBe(expected.malformed);
  });
});
