import { describe, expect, it } from "vitest";
import { ROTATION_STEPS } from "../../lambdas/contract/rotation-event.js";
import {
  HealthCheckFailedError,
  PreconditionError,
  RotationEndedError,
  RotationStateError,
  SecretValueError,
} from "../../lambdas/core/errors.js";
import { revocationScheduleName } from "../../lambdas/core/key-name.js";
import type { KeyApi, SecretStore } from "../../lambdas/core/ports.js";
import { revokeRetiredKey } from "../../lambdas/core/revocation.js";
import { runRotationStep } from "../../lambdas/core/rotation.js";
import { caught } from "../support/caught.js";
import { CONSUMER_SCOPES, Crash, crashPoint, createWorld, type World } from "../support/world.js";

/** The Novala key a stage holds, by id. */
function keyIdAt(world: World, stage: string) {
  return world.valueAt(stage)?.keyId as string | undefined;
}

function statusOf(world: World, keyId: string | undefined) {
  return keyId ? world.novala.inspect(keyId)?.status : undefined;
}

describe("a full rotation", () => {
  it("with grace 0 promotes a new key with the same scopes and revokes the old one (manager-managed)", async () => {
    const world = createWorld({ extraFields: { team: "integrations" } });
    const token = await world.rotate();

    const current = world.valueAt("AWSCURRENT");
    expect(current?.keyId).not.toBe(world.firstKey.id);
    expect(world.stageOf("AWSCURRENT")).toBe(token);
    expect(keyIdAt(world, "AWSPREVIOUS")).toBe(world.firstKey.id);
    expect(world.stageOf("AWSPENDING")).toBeUndefined();
    expect(current?.scopes).toEqual(CONSUMER_SCOPES);
    expect(current?.name).toBe("Acumatica Integration");
    expect(current?.team).toBe("integrations");
    expect(current?.managerSecretId).toBe(world.managerSecretArn);
    expect(String(current?.secretKey)).toMatch(/^sk_live_/);
    expect(statusOf(world, world.firstKey.id)).toBe("revoked");
    expect(statusOf(world, current?.keyId as string)).toBe("active");
    expect(world.novala.inspect(current?.keyId as string)?.name).toMatch(/^Acumatica Integration · rot [0-9a-f]{24}$/);
    expect(world.telemetry.count("RotationsSucceeded")).toBe(1);
    expect(world.telemetry.count("KeysRevoked")).toBe(1);
  });

  it("works for a self-managed key, which creates and revokes its own replacement", async () => {
    const world = createWorld({ managed: false });
    await world.rotate();
    const current = world.valueAt("AWSCURRENT");
    expect(current?.managerSecretId).toBeUndefined();
    expect(current?.scopes).toEqual([...CONSUMER_SCOPES, "api_keys.manage"]);
    expect(statusOf(world, world.firstKey.id)).toBe("revoked");
    // The new key can rotate itself in turn.
    await world.rotate();
    expect(statusOf(world, current?.keyId as string)).toBe("revoked");
    expect(world.activeRotatorKeys()).toHaveLength(1);
  });

  it("keeps the base name across rotations instead of stacking tags", async () => {
    const world = createWorld();
    await world.rotate();
    await world.rotate();
    const keyId = keyIdAt(world, "AWSCURRENT") as string;
    expect(world.novala.inspect(keyId)?.name).toMatch(/^Acumatica Integration · rot [0-9a-f]{24}$/);
  });

  it("with a grace period schedules the old key's revocation, which the revocation handler then performs", async () => {
    const world = createWorld({ graceSeconds: 3600 });
    const token = await world.rotate();
    expect(statusOf(world, world.firstKey.id)).toBe("active");
    const name = revocationScheduleName(world.secretArn, world.firstKey.id);
    const schedule = world.schedulerModel.getSchedule({ Name: name, GroupName: "novala-revocations" });
    expect(schedule.ScheduleExpression).toBe("at(2026-11-27T18:00:00)");
    expect(schedule.ScheduleExpressionTimezone).toBe("UTC");
    expect(schedule.ActionAfterCompletion).toBe("DELETE");
    expect(JSON.parse(schedule.Target?.Input ?? "{}")).toMatchObject({
      secretId: world.secretArn,
      keyId: world.firstKey.id,
      rotationToken: token,
    });
    expect(await world.fireDueRevocations()).toEqual([]);
    world.clock.advance(3600_000);
    expect(await world.fireDueRevocations()).toEqual(["revoked"]);
    expect(statusOf(world, world.firstKey.id)).toBe("revoked");
  });
});

describe("the guard", () => {
  it("refuses a secret without rotation enabled", async () => {
    const world = createWorld();
    await expect(runRotationStep(world.deps, "createSecret", world.secretArn, "x".repeat(36))).rejects.toThrow(
      /does not have rotation enabled/,
    );
  });

  it("refuses a token that is not a version, and a version that is not AWSPENDING", async () => {
    const world = createWorld();
    const token = await world.rotate();
    await expect(world.step("createSecret", "f".repeat(36))).rejects.toThrow(RotationStateError);
    const previous = world.stageOf("AWSPREVIOUS") as string;
    await expect(world.step("testSecret", previous)).rejects.toThrow(/is not AWSPENDING/);
    expect(token).toBeTruthy();
  });

  it("makes every step after finishSecret a no-op that calls Novala no more", async () => {
    const world = createWorld();
    const token = await world.rotate();
    const before = world.keys.calls();
    for (const step of ["createSecret", "setSecret", "testSecret"] as const) await world.step(step, token);
    expect(world.keys.calls()).toEqual(before);
  });
});

describe("a step that cannot run in the secret's state", () => {
  /** The world's store, answering that AWSCURRENT has no value (a secret whose current value went missing). */
  function withoutCurrentValue(world: World): SecretStore {
    const store = world.deps.store;
    return Object.assign(Object.create(store), {
      getValue: (secretId: string, ref: Parameters<SecretStore["getValue"]>[1]) =>
        ref.stage === "AWSCURRENT" ? Promise.resolve(undefined) : store.getValue(secretId, ref),
    });
  }

  it("throws PreconditionError when AWSCURRENT has no value; AWSPENDING stays for the retry, Novala is not called", async () => {
    const world = createWorld();
    const token = world.startRotation();
    const before = world.keys.calls();
    const deps = { ...world.deps, store: withoutCurrentValue(world) };
    for (const step of ["createSecret", "testSecret"] as const) {
      const error = await caught(runRotationStep(deps, step, world.secretArn, token));
      expect(error).toBeInstanceOf(PreconditionError);
      expect(error.message).toBe(
        step === "createSecret"
          ? `secret ${world.secretArn} has no AWSCURRENT value`
          : `version ${token} has no value to test; createSecret did not run`,
      );
    }
    expect(world.stageOf("AWSPENDING")).toBe(token);
    expect(world.keys.calls()).toEqual(before);
    expect(world.telemetry.count("RotationsEnded")).toBe(0);
  });

  it("throws PreconditionError when finishSecret runs for a version createSecret never filled", async () => {
    const world = createWorld();
    const token = world.startRotation();
    const error = await caught(world.step("finishSecret", token));
    expect(error).toBeInstanceOf(PreconditionError);
    expect(error.message).toBe(`version ${token} has no value to promote; createSecret did not run`);
    expect(world.stageOf("AWSPENDING")).toBe(token);
  });

  it("fails a revocation whose secret has no AWSCURRENT value (counted; Scheduler retries), revoking nothing", async () => {
    const world = createWorld({ graceSeconds: 3600 });
    await world.rotate();
    const deps = { ...world.deps, store: withoutCurrentValue(world) };
    const error = await caught(revokeRetiredKey(deps, { secretId: world.secretArn, keyId: world.firstKey.id }));
    expect(error).toBeInstanceOf(PreconditionError);
    expect(error.message).toBe(`secret ${world.secretArn} has no AWSCURRENT value`);
    expect(world.telemetry.count("RevocationsFailed")).toBe(1);
    expect(world.novala.inspect(world.firstKey.id)?.status).toBe("active");
  });
});

describe("createSecret", () => {
  it("does nothing when the pending version already has a value", async () => {
    const world = createWorld();
    const token = world.startRotation();
    await world.step("createSecret", token);
    const pending = keyIdAt(world, "AWSPENDING");
    await world.step("createSecret", token);
    expect(keyIdAt(world, "AWSPENDING")).toBe(pending);
    expect(world.keys.calls().create).toBe(1);
  });

  it("takes the scopes from Novala, logging a stored list that disagrees", async () => {
    const world = createWorld();
    const stored = JSON.parse(world.secretsManager.getSecretValue({ SecretId: world.secretArn }).SecretString ?? "");
    world.secretsManager.putSecretValue({
      SecretId: world.secretArn,
      SecretString: JSON.stringify({ ...stored, scopes: ["pipeline"] }),
    });
    await world.rotate();
    expect(world.valueAt("AWSCURRENT")?.scopes).toEqual(CONSUMER_SCOPES);
    expect(world.telemetry.lines.some((line) => line.level === "warn" && /disagree/.test(line.message))).toBe(true);
  });

  it("revokes a key an earlier attempt created but never stored, before creating the replacement", async () => {
    const world = createWorld();
    const token = world.startRotation();
    const crashing = crashPoint(world.deps, "store", "putPendingValue", "before");
    await expect(runRotationStep(crashing.deps, "createSecret", world.secretArn, token)).rejects.toThrow(Crash);
    expect(world.activeRotatorKeys()).toHaveLength(1);
    const orphan = world.activeRotatorKeys()[0]?.id;

    await world.step("createSecret", token);
    expect(statusOf(world, orphan)).toBe("revoked");
    expect(world.activeRotatorKeys().map((key) => key.id)).toEqual([keyIdAt(world, "AWSPENDING")]);
  });

  it("reconciles a create whose answer was lost instead of retrying it blindly", async () => {
    const world = createWorld();
    world.keys.injectFailure({ operation: "create", kind: "outcome-unknown" });
    await world.rotate();
    expect(world.activeRotatorKeys()).toHaveLength(1);
    expect(world.activeRotatorKeys()[0]?.id).toBe(keyIdAt(world, "AWSCURRENT"));
    expect(world.keys.calls().create).toBe(2);
  });

  it("revokes its new key when another attempt stored a different one first", async () => {
    const world = createWorld();
    const token = world.startRotation();
    const store: SecretStore = {
      ...world.deps.store,
      describe: (id) => world.deps.store.describe(id),
      getValue: (id, ref) => world.deps.store.getValue(id, ref),
      moveStage: (id, stage, move) => world.deps.store.moveStage(id, stage, move),
      listVersions: (id) => world.deps.store.listVersions(id),
      putPendingValue: async (id, version, value) => {
        // A concurrent attempt wins the race and stores its own key first.
        await world.step("createSecret", token);
        return world.deps.store.putPendingValue(id, version, value);
      },
    };
    await expect(runRotationStep({ ...world.deps, store }, "createSecret", world.secretArn, token)).rejects.toThrow();
    expect(world.activeRotatorKeys().map((key) => key.id)).toEqual([keyIdAt(world, "AWSPENDING")]);
  });

  it("fails with a clear error when the manager key lacks api_keys.manage, before any key exists", async () => {
    const world = createWorld();
    const weak = world.novala.seedKey({ name: "Rotation manager", scopes: ["pipeline"] });
    world.secretsManager.putSecretValue({
      SecretId: world.managerSecretArn as string,
      SecretString: JSON.stringify({
        ...JSON.parse(world.secretsManager.getSecretValue({ SecretId: world.managerSecretArn }).SecretString ?? ""),
        keyId: weak.id,
        secretKey: weak.secretKey,
        publishableKey: weak.publishableKey,
      }),
    });
    await expect(world.rotate()).rejects.toThrow(/403/);
    expect(world.activeRotatorKeys()).toHaveLength(0);
  });
});

describe("a rotation Secrets Manager abandoned", () => {
  /** Someone puts a value in the middle of a rotation: Secrets Manager removes AWSPENDING and calls no more steps. */
  async function abandonAfterCreate(world: World) {
    const token = world.startRotation();
    await world.step("createSecret", token);
    const orphan = keyIdAt(world, "AWSPENDING") as string;
    const current = world.secretsManager.getSecretValue({ SecretId: world.secretArn }).SecretString ?? "";
    world.secretsManager.putSecretValue({
      SecretId: world.secretArn,
      SecretString: current.replace("}", ',"note":"x"}'),
    });
    world.secretsManager.updateSecretVersionStage({
      SecretId: world.secretArn,
      VersionStage: "AWSPENDING",
      RemoveFromVersionId: token,
    });
    return orphan;
  }

  it("leaves a key the next rotation revokes", async () => {
    const world = createWorld();
    const orphan = await abandonAfterCreate(world);
    expect(statusOf(world, orphan)).toBe("active");
    await world.rotate();
    expect(statusOf(world, orphan)).toBe("revoked");
    expect(world.activeRotatorKeys().map((key) => key.id)).toEqual([keyIdAt(world, "AWSCURRENT")]);
    expect(world.telemetry.lines.some((line) => /abandoned rotation/.test(line.message))).toBe(true);
  });

  it("does not cut short the grace period of a retired key whose version lost its labels", async () => {
    const world = createWorld({ graceSeconds: 3600 });
    await world.rotate();
    const first = keyIdAt(world, "AWSCURRENT") as string;
    await world.rotate();
    await world.rotate();
    // `first` was retired by the second rotation; the third pushed its version off AWSPREVIOUS.
    expect(world.stages()[world.stageOf("AWSCURRENT") as string]).toEqual(["AWSCURRENT"]);
    expect(statusOf(world, first)).toBe("active");
    world.clock.advance(3600_000);
    await world.fireDueRevocations();
    expect(statusOf(world, first)).toBe("revoked");
  });
});

describe("testSecret", () => {
  async function createdPending(world: World) {
    const token = world.startRotation();
    await world.step("createSecret", token);
    await world.step("setSecret", token);
    return { token, keyId: keyIdAt(world, "AWSPENDING") as string };
  }

  function expectRolledBack(world: World, token: string, keyId: string) {
    expect(statusOf(world, keyId)).toBe("revoked");
    expect(world.stages()[token]).toBeUndefined();
    expect(world.stageOf("AWSPENDING")).toBeUndefined();
    expect(keyIdAt(world, "AWSCURRENT")).toBe(world.firstKey.id);
    expect(statusOf(world, world.firstKey.id)).toBe("active");
    expect(world.telemetry.count("RotationsRolledBack")).toBe(1);
  }

  it("waits out Novala's propagation delay within the deadline", async () => {
    const world = createWorld({ healthCheckDeadlineSeconds: 30 });
    world.novala.setPropagationDelayMs(10_000);
    const token = world.startRotation();
    await world.step("createSecret", token);
    const started = world.clock.now().getTime();
    await world.step("testSecret", token);
    const waited = world.clock.now().getTime() - started;
    expect(waited).toBeGreaterThanOrEqual(10_000);
    expect(waited).toBeLessThan(11_000);
  });

  it("rolls back a key that still answers 401 at the deadline", async () => {
    const world = createWorld({ healthCheckDeadlineSeconds: 5 });
    world.novala.setPropagationDelayMs(3_600_000);
    const { token, keyId } = await createdPending(world);
    await expect(world.step("testSecret", token)).rejects.toThrow(/401 after .* deadline/);
    expectRolledBack(world, token, keyId);
  });

  it("rolls back a key created with fewer scopes than the current key", async () => {
    const world = createWorld();
    const keys: KeyApi = Object.assign(Object.create(world.keys), {
      // The answer claims the scopes asked for; the key Novala really made has fewer, which testSecret finds.
      create: async (manager: never, request: { name: string; scopes: string[] }) => ({
        ...(await world.keys.create(manager, { ...request, scopes: request.scopes.slice(1) })),
        scopes: request.scopes,
      }),
    });
    const token = world.startRotation();
    await runRotationStep({ ...world.deps, keys }, "createSecret", world.secretArn, token);
    const keyId = keyIdAt(world, "AWSPENDING") as string;
    await expect(world.step("testSecret", token)).rejects.toThrow(/missing: \[leads.lead.read\]/);
    expectRolledBack(world, token, keyId);
  });

  it("rolls back when a scope probe answers 403", async () => {
    const world = createWorld();
    const { token, keyId } = await createdPending(world);
    const keys: KeyApi = Object.assign(Object.create(world.keys), {
      probe: async (caller: never, scope: string) => {
        if (scope === "pipeline") {
          const { NovalaHttpError } = await import("../../lambdas/adapters/novala/errors.js");
          throw new NovalaHttpError(403, "GET /api/v1/pipeline/deals", "Forbidden");
        }
        return world.keys.probe(caller, scope);
      },
    });
    await expect(runRotationStep({ ...world.deps, keys }, "testSecret", world.secretArn, token)).rejects.toThrow(
      HealthCheckFailedError,
    );
    expectRolledBack(world, token, keyId);
  });

  it("finishes a rollback that died after revoking, without waiting out the deadline", async () => {
    const world = createWorld({ healthCheckDeadlineSeconds: 60 });
    world.novala.setPropagationDelayMs(3_600_000);
    const { token, keyId } = await createdPending(world);
    const crashing = crashPoint(world.deps, "store", "moveStage", "before");
    await expect(runRotationStep(crashing.deps, "testSecret", world.secretArn, token)).rejects.toThrow(Crash);
    expect(statusOf(world, keyId)).toBe("revoked");
    expect(world.stageOf("AWSPENDING")).toBe(token);

    const started = world.clock.now().getTime();
    await expect(world.step("testSecret", token)).rejects.toThrow(/is revoked at Novala/);
    expect(world.clock.now().getTime() - started).toBeLessThan(1_000);
    expect(world.stageOf("AWSPENDING")).toBeUndefined();
  });

  it("does not roll back when Novala is unavailable: Secrets Manager retries the step", async () => {
    const world = createWorld();
    const { token, keyId } = await createdPending(world);
    world.keys.injectFailure({ operation: "self", kind: "unavailable" });
    await expect(world.step("testSecret", token)).rejects.toThrow(/Novala/);
    expect(statusOf(world, keyId)).toBe("active");
    expect(world.stageOf("AWSPENDING")).toBe(token);
    await world.step("testSecret", token);
  });

  it("only throws for Secrets Manager's configuration test: the current key is never revoked", async () => {
    const world = createWorld({ healthCheckDeadlineSeconds: 1 });
    const token = world.startRotation(undefined, false);
    expect(keyIdAt(world, "AWSPENDING")).toBe(world.firstKey.id);
    await world.step("testSecret", token);
    // Now make the check fail: the current key loses a scope's access.
    const keys: KeyApi = Object.assign(Object.create(world.keys), {
      self: async (caller: { bearer: string }) => ({
        ...(await world.keys.self(caller as never)),
        scopes: ["pipeline"],
      }),
    });
    await expect(runRotationStep({ ...world.deps, keys }, "testSecret", world.secretArn, token)).rejects.toThrow(
      /health check of the current key/,
    );
    expect(statusOf(world, world.firstKey.id)).toBe("active");
    expect(world.keys.calls().revoke).toBe(0);
  });
});

describe("finishSecret", () => {
  it("retried after dying past the promotion, still revokes the old key", async () => {
    const world = createWorld();
    const token = world.startRotation();
    for (const step of ["createSecret", "setSecret", "testSecret"] as const) await world.step(step, token);
    const crashing = crashPoint(world.deps, "keys", "revoke", "before");
    await expect(runRotationStep(crashing.deps, "finishSecret", world.secretArn, token)).rejects.toThrow(Crash);
    expect(world.stageOf("AWSCURRENT")).toBe(token);
    expect(statusOf(world, world.firstKey.id)).toBe("active");

    await world.step("finishSecret", token);
    expect(statusOf(world, world.firstKey.id)).toBe("revoked");
  });

  it("retried after the schedule was made, does not make a second one", async () => {
    const world = createWorld({ graceSeconds: 600 });
    const token = await world.rotate();
    world.clock.advance(60_000);
    await world.step("finishSecret", token);
    const schedules = world.schedulerModel.listSchedules({ GroupName: "novala-revocations" }).Schedules;
    expect(schedules).toHaveLength(1);
    expect(world.telemetry.count("RevocationsScheduled")).toBe(1);
  });

  it("never retires the key AWSCURRENT holds (configuration test promoted)", async () => {
    const world = createWorld();
    const token = world.startRotation(undefined, false);
    await world.step("testSecret", token);
    await world.step("finishSecret", token);
    expect(statusOf(world, world.firstKey.id)).toBe("active");
  });
});

describe("the revocation handler's logic", () => {
  it("refuses to revoke the key AWSCURRENT holds after an operator rolled back, and counts it", async () => {
    const world = createWorld({ graceSeconds: 60 });
    const token = await world.rotate();
    const previous = world.stageOf("AWSPREVIOUS") as string;
    world.secretsManager.updateSecretVersionStage({
      SecretId: world.secretArn,
      VersionStage: "AWSCURRENT",
      MoveToVersionId: previous,
      RemoveFromVersionId: token,
    });
    world.clock.advance(60_000);
    expect(await world.fireDueRevocations()).toEqual(["refused"]);
    expect(statusOf(world, world.firstKey.id)).toBe("active");
    expect(world.telemetry.count("RevocationsRefused")).toBe(1);
    expect(world.telemetry.lines.some((line) => line.level === "error" && /refused/.test(line.message))).toBe(true);
  });

  it("refuses to revoke the key AWSPENDING holds", async () => {
    const world = createWorld();
    const token = world.startRotation();
    await world.step("createSecret", token);
    const pending = keyIdAt(world, "AWSPENDING") as string;
    expect(await revokeRetiredKey(world.deps, { secretId: world.secretArn, keyId: pending })).toBe("refused");
    expect(statusOf(world, pending)).toBe("active");
  });

  it("treats a retired key Novala already reports revoked as done, without a DELETE", async () => {
    const world = createWorld();
    await world.rotate();
    const deletes = world.telemetry.count("KeysRevoked");
    expect(await revokeRetiredKey(world.deps, { secretId: world.secretArn, keyId: world.firstKey.id })).toBe(
      "already-revoked",
    );
    expect(world.telemetry.count("KeysRevoked")).toBe(deletes);
  });

  it("refuses a key id that no retired version of the secret holds, and counts it", async () => {
    const world = createWorld();
    await world.rotate();
    expect(await revokeRetiredKey(world.deps, { secretId: world.secretArn, keyId: "key_unknown" })).toBe("refused");
    expect(world.telemetry.count("RevocationsRefused")).toBe(1);
  });

  it("counts a failed revocation and throws, so Scheduler retries", async () => {
    const world = createWorld({ graceSeconds: 3600 });
    await world.rotate();
    world.keys.injectFailure({ operation: "revoke", kind: "unavailable" });
    await expect(
      revokeRetiredKey(world.deps, { secretId: world.secretArn, keyId: world.firstKey.id }),
    ).rejects.toThrow();
    expect(world.telemetry.count("RevocationsFailed")).toBe(1);
    expect(world.novala.inspect(world.firstKey.id)?.status).toBe("active");
  });
});

describe("bad secret values end the rotation naming the field and the fix, and no request leaves", () => {
  const cases: [string, (value: Record<string, unknown>) => unknown, RegExp][] = [
    ["not JSON", () => "{not json", /is not JSON/],
    ["a missing field", ({ keyId, ...rest }) => rest, /field "keyId" is missing/],
    [
      "a wrong secret key prefix",
      (value) => ({ ...value, secretKey: `rk_live_${"a".repeat(24)}` }),
      /field "secretKey" must start with sk_live_ or sk_test_/,
    ],
    ["a wrong publishable key prefix", (value) => ({ ...value, publishableKey: "pub_123" }), /field "publishableKey"/],
    [
      "a baseUrl outside the allow-list",
      (value) => ({ ...value, baseUrl: "https://evil.example.com" }),
      /field "baseUrl"/,
    ],
    ["plain http to Novala", (value) => ({ ...value, baseUrl: "http://acme.novala.ai" }), /field "baseUrl"/],
    ["scopes that are not a list", (value) => ({ ...value, scopes: "pipeline" }), /field "scopes" must be a array/],
  ];

  it.each(cases)("%s", async (_label, corrupt, message) => {
    const world = createWorld();
    const original = JSON.parse(world.secretsManager.getSecretValue({ SecretId: world.secretArn }).SecretString ?? "");
    const bad = corrupt(original);
    world.secretsManager.putSecretValue({
      SecretId: world.secretArn,
      SecretString: typeof bad === "string" ? bad : JSON.stringify(bad),
    });
    const token = world.startRotation();
    const error = await world.step("createSecret", token).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(RotationEndedError);
    expect((error as Error).cause).toBeInstanceOf(SecretValueError);
    expect((error as Error).message).toMatch(message);
    expect((error as Error).message).toContain("`novala-rotation put-key novala/acumatica`");
    expect((error as Error).message).not.toContain(original.secretKey);
    expect(Object.values(world.keys.calls()).every((count) => count === 0)).toBe(true);
    // A retry cannot fix a value: the rotation ended, so the next RotateSecret is not refused.
    expect(world.stageOf("AWSPENDING")).toBeUndefined();
    expect(world.telemetry.count("RotationsEnded")).toBe(1);
  });
});

describe("a crash around every side effect, then Secrets Manager's retries", () => {
  const MUTATIONS: Record<string, string[]> = {
    store: ["putPendingValue", "moveStage"],
    keys: ["create", "revoke"],
    scheduler: ["ensureScheduled"],
  };

  /** The side effects of a clean rotation, in order, as [port, method, nth occurrence]. */
  async function sideEffects(graceSeconds: number) {
    const world = createWorld({ graceSeconds });
    const trace: ["store" | "keys" | "scheduler", string, number][] = [];
    const seen = new Map<string, number>();
    const record = <T extends object>(target: T, port: "store" | "keys" | "scheduler"): T =>
      new Proxy(target, {
        get(object, property) {
          const value = Reflect.get(object, property, object);
          if (typeof value !== "function") return value;
          return (...args: unknown[]) => {
            if (MUTATIONS[port]?.includes(String(property))) {
              const id = `${port}.${String(property)}`;
              seen.set(id, (seen.get(id) ?? 0) + 1);
              trace.push([port, String(property), seen.get(id) ?? 1]);
            }
            return value.apply(object, args);
          };
        },
      });
    const deps = { ...world.deps, store: record(world.deps.store, "store"), keys: record(world.deps.keys, "keys") };
    const traced = { ...deps, scheduler: record(world.deps.scheduler, "scheduler") };
    const token = world.startRotation();
    for (const step of ROTATION_STEPS) await runRotationStep(traced, step, world.secretArn, token);
    return trace;
  }

  for (const graceSeconds of [0, 600]) {
    it(`grace ${graceSeconds}: every crash point ends rotated, with one live new key and the old one retired`, async () => {
      const trace = await sideEffects(graceSeconds);
      expect(trace.length).toBeGreaterThanOrEqual(graceSeconds === 0 ? 4 : 4);
      for (const [port, method, nth] of trace) {
        for (const when of ["before", "after"] as const) {
          const world = createWorld({ graceSeconds });
          const crashing = crashPoint(world.deps, port, method, when, nth);
          const token = world.startRotation();
          for (const step of ROTATION_STEPS) {
            // Secrets Manager retries a failed step; the first attempt may die, the retry runs clean.
            await runRotationStep(crashing.deps, step, world.secretArn, token).catch(async (error: unknown) => {
              if (!(error instanceof Crash)) throw error;
              await world.step(step, token);
            });
          }
          const where = `${when} ${port}.${method} #${nth}`;
          expect(crashing.fired(), where).toBe(true);
          const newKey = keyIdAt(world, "AWSCURRENT") as string;
          expect(world.stageOf("AWSCURRENT"), where).toBe(token);
          expect(world.stageOf("AWSPENDING"), where).toBeUndefined();
          expect(statusOf(world, newKey), where).toBe("active");
          expect(
            world.activeRotatorKeys().map((key) => key.id),
            where,
          ).toEqual([newKey]);
          if (graceSeconds > 0) {
            expect(
              world.schedulerModel.listSchedules({ GroupName: "novala-revocations" }).Schedules,
              where,
            ).toHaveLength(1);
            world.clock.advance(graceSeconds * 1000);
            await world.fireDueRevocations();
          }
          expect(statusOf(world, world.firstKey.id), where).toBe("revoked");
        }
      }
    });
  }
});
