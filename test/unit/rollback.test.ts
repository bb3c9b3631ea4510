import { describe, expect, it } from "vitest";
import { revocationScheduleName } from "../../lambdas/core/key-name.js";
import { AWSCURRENT, AWSPREVIOUS } from "../../lambdas/core/ports.js";
import { checkRollback, claimAndRevokeRetiredKey, rollBack } from "../../lambdas/core/rollback.js";
import { caught } from "../support/caught.js";
import { createWorld, secretValue, type World } from "../support/world.js";

function cancelIn(world: World) {
  return async (name: string) => {
    const found = world.schedulerModel
      .listSchedules({ GroupName: "novala-revocations" })
      .Schedules.some((schedule) => schedule.Name === name);
    if (found) world.schedulerModel.deleteSchedule({ Name: name, GroupName: "novala-revocations" });
    return found;
  };
}

describe("the operator rollback (lambdas/core/rollback.ts)", () => {
  it("restores AWSPREVIOUS, removes its revocation schedule and revokes the key rolled away from", async () => {
    const world = createWorld({ graceSeconds: 3600 });
    await world.rotate();
    const rotatedKeyId = world.valueAt(AWSCURRENT)?.keyId as string;

    const check = await checkRollback(world.deps, world.secretArn);
    if (check.outcome !== "ready") throw new Error(`refused: ${check.reason}`);
    const outcome = await rollBack(world.deps, check.plan, {
      cancelRevocation: cancelIn(world),
      events: world.deps.events,
      reason: "test",
    });

    expect(world.valueAt(AWSCURRENT)?.keyId).toBe(world.firstKey.id);
    expect(world.valueAt(AWSPREVIOUS)?.keyId).toBe(rotatedKeyId);
    expect(outcome.scheduleRemoved).toBe(true);
    expect(check.plan.restoredScheduleName).toBe(revocationScheduleName(world.secretArn, world.firstKey.id));
    expect(outcome.retirement).toEqual({ outcome: "revoked" });
    expect(world.novala.inspect(rotatedKeyId)?.status).toBe("revoked");
    expect(world.novala.inspect(world.firstKey.id)?.status).toBe("active");
  });

  it("refuses an AWSPREVIOUS that names another team's key with a secret key of its own: nothing changes", async () => {
    const world = createWorld({ graceSeconds: 3600, neighbours: true });
    await world.rotate();
    const victim = world.neighbours?.victimKey;
    if (!victim) throw new Error("no neighbours");
    // A writer of the secret puts a value that claims the victim's key id but carries the first key's secret key.
    world.secretsManager.putSecretValue({
      SecretId: world.secretArn,
      SecretString: secretValue(world.firstKey, { keyId: victim.id }),
      VersionStages: [AWSPREVIOUS],
    });
    const stagesBefore = world.stages();

    const check = await checkRollback(world.deps, world.secretArn);

    expect(check).toEqual({
      outcome: "refused",
      reason: `Novala does not accept the previous key ${victim.id}'s secret key (its secret key authenticates as key ${world.firstKey.id}, not ${victim.id})`,
    });
    expect(world.stages()).toEqual(stagesBefore);
    expect(world.novala.inspect(victim.id)?.status).toBe("active");
  });
});

describe("the previous key's pending schedule decides between a rollback and a revocation (concurrency suite)", () => {
  it("rollBack refuses, changing nothing, when the restored key has no pending schedule to remove", async () => {
    const world = createWorld({ graceSeconds: 3600 });
    await world.rotate();
    const check = await checkRollback(world.deps, world.secretArn);
    if (check.outcome !== "ready") throw new Error(`refused: ${check.reason}`);
    // Scheduler fired the previous key's revocation (and deleted the schedule) after the check: it may be revoking now.
    await cancelIn(world)(check.plan.restoredScheduleName);
    const stagesBefore = world.stages();

    const error = await caught(rollBack(world.deps, check.plan, { cancelRevocation: cancelIn(world), reason: "test" }));

    expect(error.name).toBe("PreconditionError");
    expect(error.message).toMatch(/has no pending revocation schedule .* to cancel\. .* Nothing was changed/);
    expect(world.stages()).toEqual(stagesBefore);
    expect(world.novala.inspect(check.plan.retired.keyId)?.status).toBe("active");
  });

  it("claimAndRevokeRetiredKey revokes nothing when the key's schedule was taken first (a rollback restoring it)", async () => {
    const world = createWorld({ graceSeconds: 3600 });
    await world.rotate();
    const previous = world.valueAt(AWSPREVIOUS)?.keyId as string;

    const outcome = await claimAndRevokeRetiredKey(
      world.deps,
      { secretId: world.secretArn, keyId: previous },
      async () => "lost",
    );

    expect(outcome).toBe("claimed-elsewhere");
    expect(world.novala.inspect(previous)?.status).toBe("active");
  });

  it("claimAndRevokeRetiredKey takes the schedule, then revokes as the revocation function does", async () => {
    const world = createWorld({ graceSeconds: 3600 });
    await world.rotate();
    const previous = world.valueAt(AWSPREVIOUS)?.keyId as string;
    const taken: string[] = [];

    const outcome = await claimAndRevokeRetiredKey(
      world.deps,
      { secretId: world.secretArn, keyId: previous },
      async () => {
        taken.push(previous);
        return "taken";
      },
    );

    expect(taken).toEqual([previous]);
    expect(outcome).toBe("revoked");
    expect(world.novala.inspect(previous)?.status).toBe("revoked");
  });
});
