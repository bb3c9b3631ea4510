/**
 * Issue 16, item 5: a createSecret failure that a retry cannot fix ends the rotation (what it made revoked, AWSPENDING
 * removed, the outcome "ended" recorded, RotationsEnded counted, an error naming the fix), so that the next RotateSecret
 * starts cleanly; a transient failure keeps AWSPENDING for Secrets Manager's retry. In memory: the Secrets Manager model
 * refuses a RotateSecret while another version is AWSPENDING, as AWS does (moto does not).
 */
import { describe, expect, it } from "vitest";
import { SecretStoreError } from "../../lambdas/adapters/aws/secret-store.js";
import {
  CreateOutcomeUnknownError,
  NovalaHttpError,
  NovalaUnavailableError,
  novalaRefusal,
} from "../../lambdas/adapters/novala/errors.js";
import {
  marksFromTags,
  outcomeFromTags,
  type RotationRecord,
  tagSafe,
} from "../../lambdas/contract/rotation-outcome.js";
import { fixFor } from "../../lambdas/core/end-rotation.js";
import {
  CreateAnswerRefusedError,
  CurrentKeyUnusableError,
  KeyClaimRefusedError,
  RotationEndedError,
  RotationStateError,
  SecretValueError,
} from "../../lambdas/core/errors.js";
import { MAX_REASON_LENGTH } from "../../lambdas/core/outcome.js";
import type { KeyApi, SecretStore } from "../../lambdas/core/ports.js";
import { runRotationStep } from "../../lambdas/core/rotation.js";
import { verdict } from "../../lambdas/core/verdict.js";
import { Crash, crashPoint, createWorld, type World } from "../support/world.js";

const CREATE = "POST /api/v1/api-keys";

/** The world's key API, except that the next `count` creates are answered `status` (and make no key). */
function createAnswered(world: World, status: number, count = Number.POSITIVE_INFINITY): KeyApi {
  let left = count;
  return Object.assign(Object.create(world.keys), {
    create: async (manager: never, request: { name: string; scopes: string[] }) => {
      if (left-- > 0) throw novalaRefusal(status, CREATE, status === 409 ? "key limit reached" : "refused");
      return world.keys.create(manager, request);
    },
  });
}

/** The world's key API, except that create answers with more scopes than asked; `made` collects what it made. */
function createWithOtherScopes(world: World, made: string[]): KeyApi {
  return Object.assign(Object.create(world.keys), {
    create: async (manager: never, request: { name: string; scopes: string[] }) => {
      const created = await world.keys.create(manager, request);
      made.push(created.id);
      return { ...created, scopes: [...created.scopes, "bookings.read"] };
    },
  });
}

/** RotateSecret, then createSecret with `keys`: the token and what the step threw. */
async function createSecretWith(world: World, keys: KeyApi = world.keys) {
  const token = world.startRotation();
  const error = await runRotationStep({ ...world.deps, keys }, "createSecret", world.secretArn, token).catch(
    (caught: unknown) => caught as Error,
  );
  return { token, error: error as Error | undefined };
}

/** Ended: the error says so and names the fix; no label, no live new key, AWSCURRENT and its key untouched. */
function expectEnded(world: World, token: string, error: unknown, fix: RegExp) {
  expect(error).toBeInstanceOf(RotationEndedError);
  const message = (error as Error).message;
  expect(message).toMatch(/^rotation ended at createSecret: /);
  expect(message).toMatch(fix);
  expect(message).toContain(`AWSPENDING was removed from version ${token}`);
  expect(world.stages()[token]).toBeUndefined();
  expect(world.stageOf("AWSPENDING")).toBeUndefined();
  expect(world.valueAt("AWSCURRENT")?.keyId).toBe(world.firstKey.id);
  expect(world.novala.inspect(world.firstKey.id)?.status).toBe("active");
  expect(world.activeRotatorKeys()).toEqual([]);
  expect(world.telemetry.count("RotationsEnded")).toBe(1);
}

/** The next RotateSecret is accepted (no abort) and the rotation goes through. */
async function expectNextRotationClean(world: World) {
  const token = await world.rotate();
  expect(world.stageOf("AWSCURRENT")).toBe(token);
  expect(world.novala.inspect(world.firstKey.id)?.status).toBe("revoked");
  expect(world.activeRotatorKeys().map((key) => key.id)).toEqual([world.valueAt("AWSCURRENT")?.keyId]);
}

function putCurrent(world: World, secretId: string, value: string) {
  world.secretsManager.putSecretValue({ SecretId: secretId, SecretString: value });
}

describe("a failure a retry cannot fix ends the rotation", () => {
  it.each([
    [409, /answered 409: key limit reached\. Revoke unused keys or raise the tenant's key limit at Novala/],
    [
      401,
      /answered 401: .*Put a key that works and holds api_keys\.manage in with `novala-rotation put-key novala\/manager --self-managed`/,
    ],
    [
      403,
      /answered 403: .*Put a key that works and holds api_keys\.manage in with `novala-rotation put-key novala\/manager --self-managed`/,
    ],
    [400, /answered 400: .*Check the secret's name and scopes against Novala's rules/],
    [422, /answered 422: .*Check the secret's name and scopes/],
  ])(
    "a create Novala answers %i: nothing made, AWSPENDING removed, the next RotateSecret starts cleanly",
    async (status, fix) => {
      const world = createWorld();
      const { token, error } = await createSecretWith(world, createAnswered(world, status));
      expectEnded(world, token, error, fix);
      expect(error?.cause).toBeInstanceOf(NovalaHttpError);
      expect(world.keys.calls().revoke).toBe(0);
      await expectNextRotationClean(world);
    },
  );

  it("a self-managed secret's create answered 403 names put-key of the secret itself", async () => {
    const world = createWorld({ managed: false });
    const { token, error } = await createSecretWith(world, createAnswered(world, 403));
    expectEnded(world, token, error, /`novala-rotation put-key novala\/acumatica --self-managed`/);
  });

  it("a create answer with other scopes than asked: the key it made is revoked first, then AWSPENDING removed", async () => {
    const world = createWorld();
    const made: string[] = [];
    const { token, error } = await createSecretWith(world, createWithOtherScopes(world, made));
    expectEnded(
      world,
      token,
      error,
      /scopes \[.*bookings\.read\] instead of .*the new key was revoked\. Check the tenant's Novala host/,
    );
    expect(error?.cause).toBeInstanceOf(CreateAnswerRefusedError);
    expect(made).toHaveLength(1);
    expect(world.novala.inspect(made[0] as string)?.status).toBe("revoked");
    expect(world.telemetry.count("KeyClaimsRefused")).toBe(1);
    await expectNextRotationClean(world);
  });

  it("an AWSCURRENT value that cannot be parsed names put-key; once a valid pair is back, the next rotation runs", async () => {
    const world = createWorld();
    const good = world.secretsManager.getSecretValue({ SecretId: world.secretArn }).SecretString ?? "";
    putCurrent(world, world.secretArn, "{not json");
    const { token, error } = await createSecretWith(world);
    expect(error?.cause).toBeInstanceOf(SecretValueError);
    expect(Object.values(world.keys.calls()).every((count) => count === 0)).toBe(true);
    // (AWSCURRENT now holds the bad value; the pair that works is what put-key would put back.)
    expect(error).toBeInstanceOf(RotationEndedError);
    expect(error?.message).toMatch(
      /is not JSON\. Put a valid pair in with `novala-rotation put-key novala\/acumatica`/,
    );
    expect(world.stages()[token]).toBeUndefined();
    putCurrent(world, world.secretArn, good);
    await expectNextRotationClean(world);
  });

  it("a manager secret whose value cannot be parsed names put-key of the manager secret", async () => {
    const world = createWorld();
    putCurrent(world, world.managerSecretArn as string, '{"keyId": 1}');
    const { token, error } = await createSecretWith(world);
    expectEnded(
      world,
      token,
      error,
      /Put a valid pair in with `novala-rotation put-key novala\/manager --self-managed`/,
    );
    expect(error?.cause).toBeInstanceOf(SecretValueError);
  });

  it("a current key revoked at Novala (rotated outside the rotator) names put-key", async () => {
    const world = createWorld();
    world.novala.forceRevoke(world.firstKey.id);
    const { token, error } = await createSecretWith(world);
    expect(error).toBeInstanceOf(RotationEndedError);
    expect(error?.cause).toBeInstanceOf(CurrentKeyUnusableError);
    expect(error?.message).toMatch(
      /the current key key_\w+ is revoked at Novala: .*\. Put the pair that works in with `novala-rotation put-key novala\/acumatica` and rotate again\. AWSPENDING was removed/,
    );
    expect(world.stages()[token]).toBeUndefined();
    expect(world.keys.calls().create).toBe(0);
  });
});

describe("a transient failure keeps AWSPENDING for Secrets Manager's retry", () => {
  const transient: [string, (world: World) => Partial<typeof world.deps>][] = [
    [
      "Novala unavailable for the create (503 past the retry budget)",
      (world) => {
        world.keys.injectFailure({ operation: "create", kind: "unavailable" });
        return {};
      },
    ],
    ["a create answered 408", (world) => ({ keys: createAnswered(world, 408, 1) })],
    [
      "a create whose answer is lost on every attempt",
      (world) => {
        world.keys.injectFailure({ operation: "create", kind: "outcome-unknown", count: 3 });
        return {};
      },
    ],
    [
      "a Secrets Manager error (the creating mark's TagResource throttled)",
      (world) => {
        let failed = false;
        const store: SecretStore = Object.assign(Object.create(world.deps.store), {
          record: async (id: string, record: RotationRecord) => {
            if (failed || !record.marks?.creating) return world.deps.store.record(id, record);
            failed = true;
            throw new SecretStoreError(
              { operation: "TagResource", awsErrorName: "ThrottlingException", httpStatusCode: 400 },
              "Rate exceeded",
            );
          },
        });
        return { store };
      },
    ],
  ];

  it.each(transient)("%s: the step throws it as it is, the retry goes on", async (_label, fault) => {
    const world = createWorld();
    const deps = { ...world.deps, ...fault(world) };
    const token = world.startRotation();
    const error = await runRotationStep(deps, "createSecret", world.secretArn, token).catch((caught: Error) => caught);
    expect(error).toBeInstanceOf(Error);
    expect(error).not.toBeInstanceOf(RotationEndedError);
    expect(world.stageOf("AWSPENDING")).toBe(token);
    expect(world.telemetry.count("RotationsEnded")).toBe(0);
    // Meanwhile Secrets Manager refuses another rotation: this one is still under way.
    expect(() => world.startRotation()).toThrow(/A previous rotation isn't complete/);
    // Secrets Manager's retry (same token) finishes it, leaving one live new key.
    await world.rotate(token);
    expect(world.stageOf("AWSCURRENT")).toBe(token);
    expect(world.activeRotatorKeys().map((key) => key.id)).toEqual([world.valueAt("AWSCURRENT")?.keyId]);
  });
});

describe("crash safety of ending", () => {
  it("a crash between revoking the key it made and removing AWSPENDING: the retry ends it again, or goes on", async () => {
    for (const novalaNowRight of [false, true]) {
      const world = createWorld();
      const made: string[] = [];
      const lying = { ...world.deps, keys: createWithOtherScopes(world, made) };
      const token = world.startRotation();
      // The ending's moveStage is the first of the step (its re-read DescribeSecret comes before it).
      const crashing = crashPoint(lying, "store", "moveStage", "before");
      await expect(runRotationStep(crashing.deps, "createSecret", world.secretArn, token)).rejects.toThrow(Crash);
      expect(world.novala.inspect(made[0] as string)?.status).toBe("revoked");
      expect(world.stageOf("AWSPENDING")).toBe(token);
      if (novalaNowRight) {
        await world.rotate(token);
        expect(world.stageOf("AWSCURRENT")).toBe(token);
      } else {
        const retried = await runRotationStep(lying, "createSecret", world.secretArn, token).catch((e: Error) => e);
        expectEnded(world, token, retried, /the new key was revoked/);
        expect(made.map((id) => world.novala.inspect(id)?.status)).toEqual(["revoked", "revoked"]);
      }
    }
  });

  it("a crash after removing AWSPENDING: the rotation is over; a stale retry is refused, the next one starts", async () => {
    const world = createWorld();
    const keys = createAnswered(world, 409);
    const token = world.startRotation();
    const crashing = crashPoint({ ...world.deps, keys }, "store", "moveStage", "after");
    await expect(runRotationStep(crashing.deps, "createSecret", world.secretArn, token)).rejects.toThrow(Crash);
    expect(world.stages()[token]).toBeUndefined();
    await expect(world.step("createSecret", token)).rejects.toThrow(RotationStateError);
    await expectNextRotationClean(world);
  });

  it("the label's removal took effect but its answer was lost: still ended, not a transient failure", async () => {
    const world = createWorld();
    const store: SecretStore = Object.assign(Object.create(world.deps.store), {
      moveStage: async (...args: Parameters<SecretStore["moveStage"]>) => {
        await world.deps.store.moveStage(...args);
        throw new SecretStoreError({ operation: "UpdateSecretVersionStage", awsErrorName: "TimeoutError" }, "lost");
      },
    });
    const token = world.startRotation();
    const deps = { ...world.deps, store, keys: createAnswered(world, 409) };
    const error = await runRotationStep(deps, "createSecret", world.secretArn, token).catch((caught: Error) => caught);
    expectEnded(world, token, error, /Revoke unused keys/);
  });

  it("leaves AWSPENDING alone when it is no longer on the rotation's version (an operator's abort came first)", async () => {
    const world = createWorld();
    const token = world.startRotation();
    const keys = Object.assign(Object.create(world.keys), {
      create: async () => {
        world.secretsManager.updateSecretVersionStage({
          SecretId: world.secretArn,
          VersionStage: "AWSPENDING",
          RemoveFromVersionId: token,
        });
        throw novalaRefusal(409, CREATE, "key limit reached");
      },
    });
    const error = await runRotationStep({ ...world.deps, keys }, "createSecret", world.secretArn, token).catch(
      (caught: Error) => caught,
    );
    expect(error).toBeInstanceOf(RotationEndedError);
    expect((error as Error).message).toContain(`AWSPENDING was already off version ${token}`);
    expect(world.stages()[token]).toBeUndefined();
  });
});

describe("the outcome of an ended rotation", () => {
  it("is recorded as 'ended' with a short reason that closes with the whole fix, and no key material", async () => {
    for (const [managed, status] of [
      [true, 409],
      [true, 403],
      [false, 400],
    ] as const) {
      const world = createWorld({ managed });
      const token = world.startRotation();
      const deps = { ...world.deps, keys: createAnswered(world, status) };
      await expect(runRotationStep(deps, "createSecret", world.secretArn, token)).rejects.toThrow(RotationEndedError);
      const tags = world.secretsManager.describeSecret({ SecretId: world.secretArn }).Tags;
      const outcome = outcomeFromTags(tags);
      // The creating mark stays: the next createSecret revokes what attempts of the ended token left.
      expect(marksFromTags(tags).creating).toBe(token);
      expect(outcome).toMatchObject({ kind: "ended", step: "createSecret", token });
      const reason = outcome?.reason ?? "";
      expect(reason.length).toBeLessThanOrEqual(MAX_REASON_LENGTH);
      expect(reason).toMatch(new RegExp(`^NovalaHttpError: Novala POST /api/v1/api-keys answered ${status}`));
      const fix = fixFor(novalaRefusal(status, CREATE, ""), {
        arn: world.secretArn,
        name: "novala/acumatica",
        currentRead: true,
        ...(world.managerSecretArn && { managerSecretId: world.managerSecretArn }),
      });
      // As the tag holds it: characters a tag value may not carry are spaces.
      expect(reason.endsWith(`. ${tagSafe(fix ?? "")}`), reason).toBe(true);
      for (const material of world.novala.issuedKeyMaterial()) expect(reason).not.toContain(material);
    }
  });
});

describe("status's verdict on an ended rotation", () => {
  it("says the last rotation ended, where, and the reason with its fix", () => {
    const at = new Date("2026-11-27T17:00:00Z");
    const reason =
      "NovalaHttpError: Novala POST /api/v1/api-keys answered 409: key limit. Revoke unused keys or raise the tenant s key limit at Novala then rotate again";
    const judged = verdict({
      now: new Date(at.getTime() + 60_000),
      versions: [{ versionId: "v1", stages: ["AWSCURRENT"], hasValue: true, keyId: "key_1" }],
      lastOutcome: { kind: "ended", step: "createSecret", token: "t2", at, reason },
      revocations: [],
    });
    expect(judged.healthy).toBe(false);
    expect(judged.problems).toEqual([
      expect.objectContaining({ kind: "last-rotation-ended", token: "t2", step: "createSecret", reason }),
    ]);
    expect(judged.problems[0]?.summary).toMatch(
      /^last rotation ended .* at createSecret: NovalaHttpError: .*rotate again$/,
    );
  });
});

describe("which failures a retry cannot fix", () => {
  const secret = { arn: "arn:aws:secretsmanager:us-east-1:123456789012:secret:novala/x-AbCdEf", name: "novala/x" };
  const read = { ...secret, currentRead: true, managerSecretId: "novala/manager" };
  it.each([
    ["a 400", novalaRefusal(400, CREATE, "bad name"), true],
    ["a 401", novalaRefusal(401, CREATE, "Unauthorized"), true],
    ["a 403", novalaRefusal(403, CREATE, "Forbidden"), true],
    ["a 404", novalaRefusal(404, CREATE, "Not Found"), true],
    ["a 409", novalaRefusal(409, CREATE, "key limit"), true],
    ["a 408", novalaRefusal(408, CREATE, "Request Timeout"), false],
    ["a 429 answered as a refusal", novalaRefusal(429, CREATE, "Too Many Requests"), false],
    ["a malformed 200 answer", new NovalaHttpError(200, "GET /api/v1/api-keys", "the answer's data is missing"), false],
    ["Novala unavailable (503)", new NovalaUnavailableError(CREATE, "answered 503", 503), false],
    ["Novala unavailable (429)", new NovalaUnavailableError(CREATE, "answered 429", 429), false],
    ["a create whose outcome is unknown", new CreateOutcomeUnknownError("lost"), false],
    ["a Secrets Manager error", new SecretStoreError({ operation: "GetSecretValue", awsErrorName: "X" }, "x"), false],
    ["the guard's refusal", new RotationStateError("not AWSPENDING"), false],
    ["a value that cannot be parsed", new SecretValueError('field "keyId" is missing'), true],
    ["a current key that no longer works", new CurrentKeyUnusableError("revoked", "Put-key it"), true],
    ["a claim Novala does not prove", new KeyClaimRefusedError("claims the manager key"), true],
    ["a create answer that describes another key", new CreateAnswerRefusedError("other scopes"), true],
  ])("%s: %s", (_label, error, permanent) => {
    expect(fixFor(error, read) !== undefined).toBe(permanent);
  });

  it("names the secret whose value is broken: the rotated one before AWSCURRENT was read, the manager's after", () => {
    const broken = new SecretValueError("x");
    expect(fixFor(broken, { ...secret, currentRead: false })).toContain("put-key novala/x`");
    expect(fixFor(broken, read)).toContain("put-key novala/manager --self-managed`");
  });

  it("names a manager secret by its name when its ARN is in the rotated secret's account and region, else in full", () => {
    const refused = novalaRefusal(403, CREATE, "Forbidden");
    const sameAccount = "arn:aws:secretsmanager:us-east-1:123456789012:secret:novala/manager-Xy12Zw";
    const otherAccount = "arn:aws:secretsmanager:us-east-1:210987654321:secret:novala/manager-Xy12Zw";
    expect(fixFor(refused, { ...read, managerSecretId: sameAccount })).toContain(
      "put-key novala/manager --self-managed`",
    );
    expect(fixFor(refused, { ...read, managerSecretId: otherAccount })).toContain(
      `put-key ${otherAccount} --self-managed\``,
    );
  });
});
