import { describe, expect, it } from "vitest";
import { type VerdictInput, verdict } from "../../lambdas/core/verdict.js";

/** status's verdict on a secret whose old key's revocation waits for its consumers (cli/verdict.ts). */
const NOW = new Date("2026-11-28T20:00:00Z");
const versions = [
  { versionId: "v-current", stages: ["AWSCURRENT"], hasValue: true, keyId: "key_new" },
  { versionId: "v-previous", stages: ["AWSPREVIOUS"], hasValue: true, keyId: "key_old" },
];
const active = (lastUsedAt: string | null) => ({
  key: {
    id: "key_old",
    name: "Acumatica Integration",
    scopes: [],
    publishableKey: "pk",
    status: "active" as const,
    createdAt: "2026-11-01T00:00:00Z",
    lastUsedAt,
  },
});
const base: VerdictInput = { now: NOW, versions, revocations: [] };

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
  });
});
