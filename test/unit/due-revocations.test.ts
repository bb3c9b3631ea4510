/** What revoke-due runs for a secret (lambdas/core/due-revocations.ts), decided from its schedules and versions. */
import { describe, expect, it } from "vitest";
import { type DuePlanInput, planDueRevocations } from "../../lambdas/core/due-revocations.js";
import { postponedScheduleName, revocationScheduleName } from "../../lambdas/core/key-name.js";

const ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:novala/acumatica-AbCdEf";
const OTHER = "arn:aws:secretsmanager:us-east-1:123456789012:secret:novala/billing-GhIjKl";
const NOW = new Date("2026-06-01T12:00:00Z");
const V_PREVIOUS = "11111111-1111-4111-8111-111111111111";
const V_CURRENT = "22222222-2222-4222-8222-222222222222";

function schedule(keyId: string, minutesFromNow: number, extra: Record<string, unknown> = {}, secretId = ARN) {
  const base = revocationScheduleName(ARN, keyId);
  const postponements = typeof extra.postponements === "number" ? extra.postponements : 0;
  return {
    name: postponements > 0 ? postponedScheduleName(base, postponements) : base,
    fireAt: new Date(NOW.getTime() + minutesFromNow * 60_000),
    input: JSON.stringify({ secretId, keyId, ...extra }),
  };
}

function plan(overrides: Partial<DuePlanInput>) {
  return planDueRevocations({
    now: NOW,
    secretArn: ARN,
    schedules: [],
    versions: [],
    graceSeconds: 3600,
    ...overrides,
  });
}

describe("planDueRevocations", () => {
  it("runs a schedule whose time has passed with its own input, and leaves one not due to Scheduler", () => {
    const due = schedule("key_due1", -5, { versionId: V_PREVIOUS });
    const later = schedule("key_later1", 30);
    expect(plan({ schedules: [due, later] })).toEqual([
      {
        kind: "run",
        schedule: due.name,
        request: { secretId: ARN, keyId: "key_due1", versionId: V_PREVIOUS },
        fireAt: due.fireAt,
      },
      { kind: "not-due", schedule: later.name, keyId: "key_later1", fireAt: later.fireAt },
    ]);
  });

  it("of one key's schedules only the latest postponement runs; the ones it replaced are superseded", () => {
    const fired = schedule("key_a1", -120);
    const next = schedule("key_a1", -1, { postponements: 1 });
    const steps = plan({ schedules: [fired, next] });
    expect(steps).toContainEqual({ kind: "superseded", schedule: fired.name, keyId: "key_a1", by: next.name });
    expect(steps).toContainEqual(expect.objectContaining({ kind: "run", schedule: next.name }));
  });

  it("leaves alone a schedule whose input the revocation function would refuse, or that names another secret or key", () => {
    const broken = { name: `${revocationScheduleName(ARN, "key_b1")}`, input: "{not json" };
    const foreign = schedule("key_c1", -5, {}, OTHER);
    const renamed = { ...schedule("key_d1", -5), name: revocationScheduleName(ARN, "key_e1") };
    const steps = plan({ schedules: [broken, foreign, renamed] });
    expect(steps.map((step) => step.kind)).toEqual(["unreadable", "unreadable", "unreadable"]);
    expect(steps[1]).toMatchObject({ reason: expect.stringContaining(`names key key_c1 of ${OTHER}`) });
  });

  it("ignores schedules of other secrets in the group", () => {
    const ofAnother = { ...schedule("key_f1", -5), name: revocationScheduleName(OTHER, "key_f1") };
    expect(plan({ schedules: [ofAnother] })).toEqual([]);
  });

  it("AWSPREVIOUS's key with no schedule is lost: due at its retirement plus the grace period, at once with grace 0", () => {
    const versions = [
      { versionId: V_PREVIOUS, stages: ["AWSPREVIOUS"], createdDate: new Date("2026-05-01T00:00:00Z") },
      { versionId: V_CURRENT, stages: ["AWSCURRENT"], createdDate: new Date("2026-06-01T11:30:00Z") },
    ];
    const previous = { keyId: "key_old1", versionId: V_PREVIOUS };
    expect(plan({ previous, versions })).toEqual([
      { kind: "lost", ...previous, dueAt: new Date("2026-06-01T12:30:00Z"), immediate: false },
    ]);
    expect(plan({ previous, versions, graceSeconds: 0 })).toEqual([
      { kind: "lost", ...previous, dueAt: new Date("2026-06-01T11:30:00Z"), immediate: true },
    ]);
    // Without dates, it is due now; with a schedule of its own, it is not lost.
    expect(plan({ previous })).toEqual([{ kind: "lost", ...previous, dueAt: NOW, immediate: false }]);
    expect(plan({ previous, versions, schedules: [schedule("key_old1", 30)] })).toEqual([
      expect.objectContaining({ kind: "not-due", keyId: "key_old1" }),
    ]);
  });
});
