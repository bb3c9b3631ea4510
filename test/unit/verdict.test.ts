import { describe, expect, it } from "vitest";
import type { RotationOutcome } from "../../lambdas/contract/rotation-outcome.js";
import type { NovalaKey } from "../../lambdas/core/ports.js";
import {
  type CurrentKeyFacts,
  judgeCurrentKey,
  notReadVerdict,
  type ProblemKind,
  pendingRotation,
  rotationOverdue,
  SEVERITY,
  type VerdictInput,
  verdict,
} from "../../lambdas/core/verdict.js";

/** The verdict's rules (lambdas/core/verdict.ts), one by one, as status, the fleet view and the overdue check read them. */
const NOW = new Date("2026-11-28T20:00:00Z");
const HOUR = 3_600_000;
const ago = (ms: number) => new Date(NOW.getTime() - ms);

const versions = [
  { versionId: "v-current", stages: ["AWSCURRENT"], hasValue: true, keyId: "key_new" },
  { versionId: "v-previous", stages: ["AWSPREVIOUS"], hasValue: true, keyId: "key_old" },
];
const record = (id: string, status: NovalaKey["status"], lastUsedAt: string | null = null): { key: NovalaKey } => ({
  key: {
    id,
    name: "Acumatica Integration",
    scopes: [],
    publishableKey: "pk",
    status,
    createdAt: "2026-11-01",
    lastUsedAt,
  },
});
const active = (lastUsedAt: string | null) => record("key_old", "active", lastUsedAt);
const base: VerdictInput = { now: NOW, versions, revocations: [] };
/** A managed secret whose manager key answered, the current key's record as given. */
const alive: CurrentKeyFacts = {
  keyId: "key_new",
  managerSecretId: "novala/manager",
  credentialsKeyId: "key_manager",
  answer: record("key_new", "active"),
};
const kinds = (input: VerdictInput) => verdict(input).problems.map((problem) => problem.kind);
const outcome = (kind: RotationOutcome["kind"], step: string, token: string, reason?: string): RotationOutcome => ({
  kind,
  step,
  token,
  at: ago(10 * 60_000),
  ...(reason && { reason }),
});

describe("the current key, judged alike for every kind of secret", () => {
  it("a value that does not parse is unhealthy with the field-level reason, Novala or not", () => {
    const problem = judgeCurrentKey({ valueProblem: 'field "keyId" is missing' });
    expect(problem).toMatchObject({ kind: "current-value-invalid", reason: 'field "keyId" is missing' });
    expect(problem?.summary).toBe(
      `AWSCURRENT's value is unusable: field "keyId" is missing: consumers may fail to read it and rotations fail`,
    );
    expect(verdict({ ...base, currentKey: { valueProblem: "AWSCURRENT has no value" } }).health).toBe("unhealthy");
  });

  it("a self-managed key (the manager secret's own included) that answers 401 is unhealthy", () => {
    const problem = judgeCurrentKey({
      keyId: "key_self",
      credentialsKeyId: "key_self",
      answer: { unauthorized: true },
    });
    expect(problem).toMatchObject({ kind: "current-key-unauthorized", keyId: "key_self" });
    expect(problem?.summary).toMatch(/^current key key_self answers 401 at Novala .*consumers cannot use it/);
  });

  it("a managed secret whose manager key answers 401: rotations will fail, naming the manager as the secret does", () => {
    const problem = judgeCurrentKey({ ...alive, answer: { unauthorized: true } });
    expect(problem).toMatchObject({ kind: "manager-key-dead", keyId: "key_manager" });
    expect(problem?.summary).toBe(
      "rotations will fail: the manager key key_manager of manager secret novala/manager answers 401 at Novala " +
        "(revoked, or rotated outside this rotator); the current key was not checked",
    );
  });

  it("a manager secret that cannot act: rotations will fail, with why", () => {
    const problem = judgeCurrentKey({ ...alive, managerProblem: "manager secret novala/manager does not exist" });
    expect(problem).toMatchObject({ kind: "manager-secret-invalid" });
    expect(problem?.summary).toBe("rotations will fail: manager secret novala/manager does not exist");
  });

  it("revoked or unknown at Novala; an active record is healthy; no answer judges only the value", () => {
    expect(judgeCurrentKey({ ...alive, answer: record("key_new", "revoked") })?.kind).toBe("current-key-revoked");
    expect(judgeCurrentKey({ ...alive, answer: { missing: true } })?.kind).toBe("current-key-unknown");
    expect(judgeCurrentKey(alive)).toBeUndefined();
    const { answer: _none, ...unasked } = alive;
    expect(judgeCurrentKey(unasked)).toBeUndefined();
  });

  it("AWSCURRENT that could not be read leaves the verdict incomplete, not unhealthy", () => {
    const judged = verdict({ ...base, currentKey: { readProblem: "AccessDeniedException: not authorized" } });
    expect(judged).toMatchObject({ health: "unknown", state: "secret-not-read", healthy: false });
  });

  it("another refusal than 401 (a 403, a 500) is no verdict on the key: Novala's view is unknown", () => {
    const judged = verdict({ ...base, currentKey: { ...alive, answer: { error: "Novala GET answered 403: no" } } });
    expect(judged.problems).toEqual([
      expect.objectContaining({
        kind: "novala-unreachable",
        summary: "Novala's view unknown: Novala GET answered 403: no",
      }),
    ]);
    expect(judged.health).toBe("unknown");
  });
});

describe("a rotation under way, stuck, or ended", () => {
  const pending = [
    ...versions,
    { versionId: "v-pending", stages: ["AWSPENDING"], hasValue: false, createdDate: ago(5 * 60_000) },
  ];

  it("AWSPENDING recently made: in progress, waiting for the next step", () => {
    expect(pendingRotation(pending, undefined, NOW)).toMatchObject({ state: "in-progress", step: "createSecret" });
    expect(kinds({ ...base, versions: pending })).toEqual(["rotation-in-progress"]);
    const afterCreate = outcome("in-progress", "createSecret", "v-pending");
    expect(pendingRotation(pending, afterCreate, NOW)).toMatchObject({ state: "in-progress", step: "setSecret" });
  });

  it("stuck: a step recorded as failing, or nothing moved for over an hour (the value unread: no step named)", () => {
    const failed = outcome("failed", "createSecret", "v-pending", "NovalaUnavailableError: 503");
    const judged = verdict({ ...base, versions: pending, lastOutcome: failed });
    expect(judged.problems).toEqual([
      expect.objectContaining({
        kind: "rotation-stuck",
        token: "v-pending",
        step: "createSecret",
        reason: failed.reason,
      }),
    ]);
    const old = pending.map((v) => (v.versionId === "v-pending" ? { ...v, createdDate: ago(2 * HOUR) } : v));
    expect(pendingRotation(old, undefined, NOW)).toMatchObject({ state: "stuck", step: "createSecret" });
    const lastStep = outcome("in-progress", "createSecret", "v-pending");
    const quiet = verdict({ ...base, versions: pending, lastOutcome: { ...lastStep, at: ago(2 * HOUR) } });
    expect(quiet.problems[0]?.summary).toMatch(/ at setSecret \(no step has succeeded for over 1 h\)$/);
    const unread = old.map(({ hasValue: _unread, ...v }) => v);
    const stuck = verdict({ ...base, versions: unread }).problems[0];
    expect(stuck?.kind).toBe("rotation-stuck");
    expect(stuck?.step).toBeUndefined();
    expect(stuck?.summary).toBe("rotation stuck since 2026-11-28 18:00:00Z (begun over 1 h ago, not finished)");
  });

  it.each([
    ["ended", "createSecret", "last-rotation-ended", /^last rotation ended .* at createSecret: why. The fix$/],
    ["failed", "testSecret", "last-rotation-failed", /^last rotation failed .* at testSecret: why. The fix$/],
    ["rolled-back", "testSecret", "last-rotation-rolled-back", /^last rotation rolled back .*: why. The fix$/],
  ] as const)("the last rotation %s (not promoted): %s", (kind, step, expected, summary) => {
    const judged = verdict({ ...base, lastOutcome: outcome(kind, step, "v-other", "why. The fix") });
    expect(judged.problems).toEqual([expect.objectContaining({ kind: expected, token: "v-other", step })]);
    expect(judged.problems[0]?.summary).toMatch(summary);
  });

  it("a failure after the promotion still counts; an outcome on the current version otherwise does not", () => {
    expect(kinds({ ...base, lastOutcome: outcome("failed", "finishSecret", "v-current", "x") })).toEqual([
      "last-rotation-failed",
    ]);
    expect(kinds({ ...base, lastOutcome: outcome("rolled-back", "testSecret", "v-current") })).toEqual([]);
    expect(kinds({ ...base, lastOutcome: outcome("succeeded", "finishSecret", "v-current") })).toEqual([]);
  });

  it("AWSPENDING removed after a step without a promotion: the last rotation did not finish", () => {
    const judged = verdict({ ...base, lastOutcome: outcome("in-progress", "setSecret", "v-gone") });
    expect(judged.problems[0]).toMatchObject({ kind: "last-rotation-failed", token: "v-gone" });
    expect(judged.problems[0]?.summary).toMatch(/AWSPENDING was removed after setSecret/);
  });
});

describe("the rotation schedule", () => {
  it("overdue once the next rotation and its window have passed (a day by default, Duration when set)", () => {
    expect(rotationOverdue({ nextRotation: ago(23 * HOUR) }, NOW)).toBeUndefined();
    expect(rotationOverdue({ nextRotation: ago(25 * HOUR) }, NOW)).toMatch(/has not happened/);
    expect(rotationOverdue({ nextRotation: ago(4 * HOUR), window: "3h" }, NOW)).toMatch(/has not happened/);
    expect(rotationOverdue({ lastRotated: ago(32 * 24 * HOUR), automaticallyAfterDays: 30 }, NOW)).toMatch(
      /longer ago/,
    );
    expect(rotationOverdue({ lastRotated: ago(90 * 24 * HOUR), scheduleExpression: "cron(0 4 ? * MON *)" }, NOW)).toBe(
      undefined,
    );
    const late = verdict({ ...base, rotation: { enabled: true, schedule: { nextRotation: ago(48 * HOUR) } } });
    expect(late.problems).toEqual([
      expect.objectContaining({
        kind: "rotation-overdue",
        summary: expect.stringMatching(/^rotation overdue: the rotation due by/),
      }),
    ]);
  });

  it("rotation not enabled is a warning: shown, still healthy (exit 0), and no schedule is judged", () => {
    const judged = verdict({ ...base, rotation: { enabled: false, schedule: { nextRotation: ago(48 * HOUR) } } });
    expect(judged).toMatchObject({ health: "warning", healthy: true, state: "rotation-not-enabled", problems: [] });
    expect(judged.warnings).toEqual([
      expect.objectContaining({
        kind: "rotation-not-enabled",
        summary: expect.stringMatching(/^rotation is not enabled/),
      }),
    ]);
    // A problem outranks the warning, which stays listed.
    const both = verdict({ ...base, rotation: { enabled: false }, currentKey: { valueProblem: "x" } });
    expect(both).toMatchObject({ health: "unhealthy", state: "current-value-invalid" });
    expect(both.warnings.map((warning) => warning.kind)).toEqual(["rotation-not-enabled"]);
  });
});

describe("the verdict on a revocation that waits for consumers", () => {
  it("a postponed revocation is healthy, and says so: how often, the last use, the next check, the hard limit", () => {
    const judged = verdict({
      ...base,
      revocations: [
        {
          name: "revoke-abc-key_old-p3",
          keyId: "key_old",
          time: "2026-11-28T21:01:00.000Z",
          postponements: 3,
          lastUsedAt: "2026-11-28T19:59:00Z",
          hardLimitAt: "2026-12-04T17:00:00.000Z",
        },
      ],
    });
    expect(judged.healthy).toBe(true);
    expect(judged.health).toBe("healthy");
    expect(judged.notes).toEqual([
      "revocation of key_old postponed 3 times: a consumer still uses it (last used 2026-11-28 19:59:00Z), next check " +
        "2026-11-28 21:01:00Z, hard limit 2026-12-04 17:00:00Z",
    ]);
  });

  it("the schedule a postponement superseded does not read as overdue (an endpoint that never fires keeps it)", () => {
    const fired = { name: "revoke-abc-key_old", keyId: "key_old", time: "2026-11-28T18:00:00.000Z" };
    const postponed = { ...fired, name: `${fired.name}-p1`, time: "2026-11-28T21:01:00.000Z", postponements: 1 };
    expect(verdict({ ...base, revocations: [fired, postponed] }).problems).toEqual([]);
    // Without the postponement, the same schedule is overdue.
    expect(verdict({ ...base, revocations: [fired] }).problems.map((problem) => problem.kind)).toEqual([
      "revocation-overdue",
    ]);
    // Within five minutes of its time it is not overdue yet.
    expect(kinds({ ...base, revocations: [{ ...fired, time: ago(4 * 60_000).toISOString() }] })).toEqual([]);
  });

  it("a previous key still active past its hard limit with nothing scheduled (kept) reads unhealthy", () => {
    const judged = verdict({
      ...base,
      novala: new Map([["key_old", active("2026-11-28T19:50:00Z")]]),
      previousHardLimitAt: new Date("2026-11-28T17:00:00Z"),
    });
    expect(judged.healthy).toBe(false);
    expect(judged.problems).toEqual([
      expect.objectContaining({
        kind: "previous-key-kept-past-hard-limit",
        keyId: "key_old",
        summary:
          "previous key key_old is still active past its hard limit (2026-11-28 17:00:00Z), last used " +
          "2026-11-28 19:50:00Z: kept (at hard limit: keep) or its revocation was lost; make its consumers read the " +
          "current key, then revoke it",
      }),
    ]);
    // Before its hard limit, the same key is the plain "no revocation scheduled" problem.
    expect(
      verdict({ ...base, novala: new Map([["key_old", active(null)]]), previousHardLimitAt: new Date("2026-12-01") })
        .problems[0]?.kind,
    ).toBe("previous-key-unscheduled");
    // A schedule for it, or a revoked previous key: nothing wrong.
    const scheduled = [{ name: "revoke-abc-key_old", keyId: "key_old", time: "2026-11-29T00:00:00Z" }];
    expect(kinds({ ...base, novala: new Map([["key_old", active(null)]]), revocations: scheduled })).toEqual([]);
    expect(kinds({ ...base, novala: new Map([["key_old", record("key_old", "revoked")]]) })).toEqual([]);
  });
});

describe("severity: worst first, and what the verdict's one word is", () => {
  it("every finding is reported in SEVERITY's order, whatever order the rules found them in", () => {
    const judged = verdict({
      now: NOW,
      versions: [
        ...versions,
        { versionId: "v-pending", stages: ["AWSPENDING"], hasValue: false, createdDate: ago(5 * 60_000) },
      ],
      rotation: { enabled: false },
      currentKey: { ...alive, answer: record("key_new", "revoked") },
      revocations: [{ name: "revoke-abc-key_x", keyId: "key_x", time: ago(HOUR).toISOString() }],
      novala: new Map([["key_old", active(null)]]),
      novalaUnreachable: "no answer in time",
    });
    expect(judged.problems.map((problem) => problem.kind)).toEqual([
      "current-key-revoked",
      "revocation-overdue",
      "previous-key-unscheduled",
      "rotation-in-progress",
      "novala-unreachable",
    ]);
    expect(judged.state).toBe("current-key-revoked");
    const order = judged.problems.map((problem) => SEVERITY.indexOf(problem.kind));
    expect(order).toEqual([...order].sort((a, b) => a - b));
  });

  it("SEVERITY puts a key consumers cannot use first, then a rotation that cannot run, then one that did not finish", () => {
    const at = (kind: ProblemKind) => SEVERITY.indexOf(kind);
    expect(at("current-value-invalid")).toBe(0);
    expect(at("current-key-unauthorized")).toBeLessThan(at("manager-key-dead"));
    expect(at("manager-key-dead")).toBeLessThan(at("rotation-stuck"));
    expect(at("rotation-stuck")).toBeLessThan(at("last-rotation-ended"));
    expect(at("last-rotation-ended")).toBeLessThan(at("last-rotation-failed"));
    expect(at("revocation-overdue")).toBeLessThan(at("rotation-in-progress"));
    expect(at("novala-unreachable")).toBeLessThan(SEVERITY.indexOf("rotation-not-enabled"));
  });

  it("healthy, warning, unknown (only Novala's view or the secret missing), unhealthy", () => {
    expect(verdict(base)).toMatchObject({ health: "healthy", healthy: true, state: "healthy" });
    expect(verdict({ ...base, novalaUnreachable: "no answer in time" })).toMatchObject({
      health: "unknown",
      state: "novala-unreachable",
    });
    expect(notReadVerdict("could not be read: AccessDenied")).toMatchObject({
      health: "unknown",
      state: "secret-not-read",
      problems: [{ kind: "secret-not-read", summary: "could not be read: AccessDenied" }],
    });
    expect(verdict({ ...base, novalaUnreachable: "x", currentKey: { valueProblem: "y" } }).health).toBe("unhealthy");
  });
});
