import { describe, expect, it } from "vitest";
import { revocationScheduleName } from "../../lambdas/core/key-name.js";
import { AWSCURRENT, AWSPREVIOUS } from "../../lambdas/core/ports.js";
import { checkRollback, rollBack } from "../../lambdas/core/rollback.js";
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
