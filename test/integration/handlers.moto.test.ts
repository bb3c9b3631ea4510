import { CreateScheduleGroupCommand, GetScheduleCommand, ListSchedulesCommand } from "@aws-sdk/client-scheduler";
import {
  CreateSecretCommand,
  DescribeSecretCommand,
  GetSecretValueCommand,
  PutSecretValueCommand,
  UpdateSecretVersionStageCommand,
} from "@aws-sdk/client-secrets-manager";
import { beforeEach, describe, expect, it } from "vitest";
import { driveSteps, rotateLikeSecretsManager, startRotation } from "../../cli/secrets-manager-driver.js";
import { marksFromTags, outcomeFromTags } from "../../lambdas/contract/rotation-outcome.js";
import { revocationScheduleName } from "../../lambdas/core/key-name.js";
import type { CreatedNovalaKey } from "../../lambdas/core/ports.js";
import { secretValueFor } from "../../lambdas/core/secret-value.js";
import { handler as revocationHandler } from "../../lambdas/revocation/index.js";
import { handler as rotationHandler } from "../../lambdas/rotation/index.js";
import { caught as caughtError } from "../support/caught.js";
import { useMotoAndSimulator } from "../support/integration.js";
import {
  motoSuiteTitle,
  schedulerClientFor,
  skipMoto,
  TEST_DEAD_LETTER_QUEUE_ARN,
  TEST_REVOCATION_FUNCTION_ARN,
  TEST_SCHEDULE_GROUP,
  TEST_SCHEDULER_ROLE_ARN,
} from "../support/moto.js";
import { expectNoKeyMaterial, runCli } from "../support/run-cli.js";

/**
 * The Lambda handlers, invoked in-process with the exact events Secrets Manager sends, against moto_server (real
 * SDK clients, configured only through the environment as on Lambda) and the Novala simulator (the real undici
 * client). moto cannot run a Lambda: cli/secrets-manager-driver.ts stands in for Secrets Manager's rotation service.
 */
const GROUP = TEST_SCHEDULE_GROUP;
const FUNCTION_ARN = TEST_REVOCATION_FUNCTION_ARN;
const ROLE_ARN = TEST_SCHEDULER_ROLE_ARN;
const DLQ_ARN = TEST_DEAD_LETTER_QUEUE_ARN;

describe.skipIf(skipMoto)(motoSuiteTitle("rotation and revocation handlers against moto and the simulator"), () => {
  const fx = useMotoAndSimulator({
    REVOCATION_SCHEDULE_GROUP: GROUP,
    REVOCATION_FUNCTION_ARN: FUNCTION_ARN,
    REVOCATION_SCHEDULER_ROLE_ARN: ROLE_ARN,
    REVOCATION_DEAD_LETTER_QUEUE_ARN: DLQ_ARN,
    POWERTOOLS_LOG_LEVEL: "WARN",
  });
  beforeEach(() => fx.setEnvironment({ REVOCATION_GRACE_SECONDS: "0" }));
  const setEnvironment = (overrides: Record<string, string | undefined>) => fx.setEnvironment(overrides);
  const valueAt = (secretId: string, stage: string) => fx.valueAt(secretId, stage);
  const stagesOf = (secretId: string) => fx.stagesOf(secretId);
  const status = (keyId: unknown) => fx.status(keyId);

  function secretJson(key: CreatedNovalaKey, extra: Record<string, unknown> = {}) {
    return secretValueFor(fx.novala.url, key, extra);
  }

  async function createSecret(name: string, value: string): Promise<string> {
    const created = await fx.secrets.send(new CreateSecretCommand({ Name: name, SecretString: value }));
    return created.ARN as string;
  }

  /** A manager-managed consumer secret (or a self-managed one) holding a first key pair. */
  async function givenSecret(options: { selfManaged?: boolean; extra?: Record<string, unknown> } = {}) {
    const consumer = fx.novala.model.seedKey({
      name: "Acumatica Integration",
      scopes: options.selfManaged
        ? ["leads.lead.read", "pipeline", "api_keys.manage"]
        : ["leads.lead.read", "pipeline"],
    });
    let managerSecretId: string | undefined;
    if (!options.selfManaged) {
      const manager = fx.novala.model.seedKey({ name: "Rotation manager", scopes: ["api_keys.manage"] });
      managerSecretId = await createSecret("novala/manager", secretJson(manager));
    }
    const secretArn = await createSecret(
      "novala/acumatica",
      secretJson(consumer, { ...options.extra, ...(managerSecretId && { managerSecretId }) }),
    );
    return { consumer, secretArn, managerSecretId };
  }

  it("rotates a manager-managed key with grace 0: new key current, old key revoked, extra fields kept", async () => {
    const { consumer, secretArn, managerSecretId } = await givenSecret({ extra: { owner: "team-crm" } });
    const token = await rotateLikeSecretsManager(fx.secrets, rotationHandler, secretArn);

    const current = await valueAt(secretArn, "AWSCURRENT");
    expect(current.keyId).not.toBe(consumer.id);
    expect(current.owner).toBe("team-crm");
    expect(current.managerSecretId).toBe(managerSecretId);
    expect(current.scopes).toEqual(["leads.lead.read", "pipeline"]);
    expect((await stagesOf(secretArn))[token]).toEqual(["AWSCURRENT"]);
    expect((await valueAt(secretArn, "AWSPREVIOUS")).keyId).toBe(consumer.id);
    expect(status(consumer.id)).toBe("revoked");
    expect(status(current.keyId)).toBe("active");
  });

  it("writes the rotation's marks as tags on the secret and clears them; a clean rotation reads no key list", async () => {
    const { secretArn } = await givenSecret();
    const marks = async () =>
      marksFromTags((await fx.secrets.send(new DescribeSecretCommand({ SecretId: secretArn }))).Tags);
    await rotateLikeSecretsManager(fx.secrets, rotationHandler, secretArn);
    expect(await marks()).toEqual({ creating: "", tested: "" });
    // Step by step, as Secrets Manager invokes them, on a second rotation.
    const seen: Record<string, unknown> = {};
    const second = await startRotation(fx.secrets, secretArn);
    for (const step of ["createSecret", "setSecret", "testSecret", "finishSecret"] as const) {
      await rotationHandler({ Step: step, SecretId: secretArn, ClientRequestToken: second });
      seen[step] = await marks();
    }

    expect(seen).toEqual({
      createSecret: { creating: second, tested: "" },
      setSecret: { creating: second, tested: "" },
      testSecret: { creating: second, tested: second },
      finishSecret: { creating: "", tested: "" },
    });
    expect(fx.novala.requestLog().filter((entry) => entry.route === "GET /api/v1/api-keys")).toEqual([]);
  });

  it("rotates a self-managed key, which creates and revokes its own replacement", async () => {
    const { consumer, secretArn } = await givenSecret({ selfManaged: true });
    await rotateLikeSecretsManager(fx.secrets, rotationHandler, secretArn);
    const current = await valueAt(secretArn, "AWSCURRENT");
    expect(current.scopes).toEqual(["leads.lead.read", "pipeline", "api_keys.manage"]);
    expect(status(consumer.id)).toBe("revoked");
    const manageCalls = fx.novala.requestLog().filter((entry) => entry.route === "POST /api/v1/api-keys");
    expect(manageCalls).toHaveLength(1);
  });

  it("with a grace period creates the one-time schedule, and the revocation handler fed its Input revokes the key", async () => {
    setEnvironment({ REVOCATION_GRACE_SECONDS: "3600" });
    const scheduler = schedulerClientFor(fx.moto.endpoint);
    await scheduler.send(new CreateScheduleGroupCommand({ Name: GROUP }));
    const { consumer, secretArn } = await givenSecret();
    const before = Date.now();
    const token = await rotateLikeSecretsManager(fx.secrets, rotationHandler, secretArn);
    expect(status(consumer.id)).toBe("active");

    const schedule = await scheduler.send(
      new GetScheduleCommand({ Name: revocationScheduleName(secretArn, consumer.id), GroupName: GROUP }),
    );
    const at = Date.parse(`${/^at\((.+)\)$/.exec(schedule.ScheduleExpression ?? "")?.[1]}Z`);
    expect(at).toBeGreaterThanOrEqual(before + 3600_000 - 1000);
    expect(at).toBeLessThanOrEqual(Date.now() + 3600_000 + 1000);
    expect(schedule.ScheduleExpressionTimezone).toBe("UTC");
    expect(schedule.ActionAfterCompletion).toBe("DELETE");
    expect(schedule.FlexibleTimeWindow).toEqual({ Mode: "OFF" });
    expect(schedule.Target?.Arn).toBe(FUNCTION_ARN);
    expect(schedule.Target?.RoleArn).toBe(ROLE_ARN);
    expect(schedule.Target?.DeadLetterConfig?.Arn).toBe(DLQ_ARN);
    expect(schedule.Target?.RetryPolicy?.MaximumRetryAttempts).toBeGreaterThan(0);
    const input = JSON.parse(schedule.Target?.Input ?? "{}");
    expect(input).toMatchObject({ secretId: secretArn, keyId: consumer.id, rotationToken: token });

    // A retried finishSecret finds the schedule and makes no second one.
    await rotationHandler({ Step: "finishSecret", SecretId: secretArn, ClientRequestToken: token });
    const listed = await scheduler.send(new ListSchedulesCommand({ GroupName: GROUP }));
    expect(listed.Schedules).toHaveLength(1);

    // EventBridge Scheduler invokes the revocation function with the schedule's Input as the event.
    expect(await revocationHandler(input)).toEqual({ outcome: "revoked" });
    expect(status(consumer.id)).toBe("revoked");
    expect(await revocationHandler(input)).toEqual({ outcome: "already-revoked" });
    scheduler.destroy();
  });

  it("rolls back after a failed health check: pending key revoked, AWSPENDING removed, AWSCURRENT untouched", async () => {
    const { consumer, secretArn } = await givenSecret();
    fx.novala.injectFault({ match: "GET /api/v1/leads", kind: "status", status: 403, count: 100 });
    const token = await startRotation(fx.secrets, secretArn);
    await expect(driveSteps(fx.secrets, rotationHandler, secretArn, token)).rejects.toThrow(
      /probe of scope leads.lead.read was refused: Novala GET \S+ answered 403: .*; rolled back/,
    );
    const stages = await stagesOf(secretArn);
    expect(Object.values(stages).flat()).not.toContain("AWSPENDING");
    expect((await valueAt(secretArn, "AWSCURRENT")).keyId).toBe(consumer.id);
    expect(status(consumer.id)).toBe("active");
    const created = fx.novala.model.keys().filter((key) => key.name.includes("· rot "));
    expect(created.map((key) => key.status)).toEqual(["revoked"]);
  });

  it("passes Secrets Manager's configuration test (RotateImmediately=false) without creating or revoking a key", async () => {
    const { consumer, secretArn } = await givenSecret();
    await rotateLikeSecretsManager(fx.secrets, rotationHandler, secretArn, { rotateImmediately: false });
    expect((await valueAt(secretArn, "AWSCURRENT")).keyId).toBe(consumer.id);
    expect(Object.values(await stagesOf(secretArn)).flat()).not.toContain("AWSPENDING");
    expect(fx.novala.model.keys().filter((key) => key.status === "revoked")).toHaveLength(0);
    expect(fx.novala.requestLog().some((entry) => entry.method !== "GET")).toBe(false);
  });

  it("a failing configuration test only throws: the current key is never revoked", async () => {
    const { consumer, secretArn } = await givenSecret();
    fx.novala.injectFault({ match: "GET /api/v1/pipeline/deals", kind: "status", status: 403, count: 100 });
    await expect(
      rotateLikeSecretsManager(fx.secrets, rotationHandler, secretArn, { rotateImmediately: false }),
    ).rejects.toThrow(/health check of the current key/);
    expect(status(consumer.id)).toBe("active");
    expect((await valueAt(secretArn, "AWSCURRENT")).keyId).toBe(consumer.id);
  });

  it("the revocation handler refuses a key AWSCURRENT holds after an operator rolled back", async () => {
    const { consumer, secretArn } = await givenSecret();
    const token = await rotateLikeSecretsManager(fx.secrets, rotationHandler, secretArn);
    // Grace 0 revoked the old key; roll back to a fresh copy to model an operator restoring a working key.
    const previous = Object.entries(await stagesOf(secretArn)).find(([, stages]) =>
      stages.includes("AWSPREVIOUS"),
    )?.[0];
    await fx.secrets.send(
      new UpdateSecretVersionStageCommand({
        SecretId: secretArn,
        VersionStage: "AWSCURRENT",
        MoveToVersionId: previous,
        RemoveFromVersionId: token,
      }),
    );
    const outcome = await revocationHandler({ secretId: secretArn, keyId: consumer.id });
    expect(outcome).toEqual({ outcome: "refused" });
  });

  describe("bad secret values end the rotation at createSecret naming the field and the fix, and no request leaves", () => {
    const cases: [string, (value: Record<string, unknown>) => string, RegExp][] = [
      ["not JSON", () => "not json at all", /is not JSON/],
      ["a missing field", ({ secretKey, ...rest }) => JSON.stringify(rest), /field "secretKey" is missing/],
      ["wrong key prefixes", (value) => JSON.stringify({ ...value, secretKey: "xk_live_abc123" }), /field "secretKey"/],
      [
        "a baseUrl outside the allow-list",
        (value) => JSON.stringify({ ...value, baseUrl: "https://acme.example.com" }),
        /field "baseUrl"/,
      ],
    ];
    it.each(cases)("%s", async (_label, corrupt, message) => {
      const { consumer, secretArn } = await givenSecret({ selfManaged: true });
      const value = await valueAt(secretArn, "AWSCURRENT");
      await fx.secrets.send(new PutSecretValueCommand({ SecretId: secretArn, SecretString: corrupt(value) }));
      fx.novala.clearRequestLog();
      const token = await startRotation(fx.secrets, secretArn);
      const error = await rotationHandler({
        Step: "createSecret",
        SecretId: secretArn,
        ClientRequestToken: token,
      }).catch((caught: Error) => caught);
      expect(error).toBeInstanceOf(Error);
      expect((error as Error).message).toMatch(message);
      expect((error as Error).message).toMatch(
        /^rotation ended at createSecret: .*novala-rotation put-key novala\/acumatica/,
      );
      expect((error as Error).message).not.toContain(consumer.secretKey);
      expect(fx.novala.requestLog()).toEqual([]);
      expect((await stagesOf(secretArn))[token] ?? []).toEqual([]);
    });
  });

  describe("a createSecret failure a retry cannot fix ends the rotation; a transient one keeps AWSPENDING", () => {
    const CREATE = "POST /api/v1/api-keys";

    async function lastOutcome(secretId: string) {
      return outcomeFromTags((await fx.secrets.send(new DescribeSecretCommand({ SecretId: secretId }))).Tags);
    }

    async function createSecretStep(secretArn: string, token: string): Promise<Error | undefined> {
      return rotationHandler({ Step: "createSecret", SecretId: secretArn, ClientRequestToken: token }).then(
        () => undefined,
        (caught: Error) => caught,
      );
    }

    /** Ended: the error names the fix, the version lost AWSPENDING, AWSCURRENT and its key are untouched, the outcome says so. */
    async function expectEnded(
      secretArn: string,
      consumerId: string,
      token: string,
      error: Error | undefined,
      fix: RegExp,
    ) {
      expect(error?.message).toMatch(/^rotation ended at createSecret: /);
      expect(error?.message).toMatch(fix);
      expect((await stagesOf(secretArn))[token] ?? []).toEqual([]);
      expect(Object.values(await stagesOf(secretArn)).flat()).not.toContain("AWSPENDING");
      expect((await valueAt(secretArn, "AWSCURRENT")).keyId).toBe(consumerId);
      expect(status(consumerId)).toBe("active");
      const rotatorKeys = fx.novala.model.keys().filter((key) => key.name.includes(" · rot "));
      expect(rotatorKeys.filter((key) => key.status === "active")).toEqual([]);
      const outcome = await lastOutcome(secretArn);
      expect(outcome).toMatchObject({ kind: "ended", step: "createSecret", token });
      expect(outcome?.reason).toMatch(fix);
    }

    /** No abort needed: Novala answers again, and a new RotateSecret goes through. */
    async function expectNextRotationClean(secretArn: string, consumerId: string) {
      fx.novala.clearFaults();
      const next = await rotateLikeSecretsManager(fx.secrets, rotationHandler, secretArn);
      expect((await stagesOf(secretArn))[next]).toEqual(["AWSCURRENT"]);
      expect(status(consumerId)).toBe("revoked");
      expect((await lastOutcome(secretArn))?.kind).toBe("succeeded");
    }

    it.each([
      [409, /answered 409: .*Revoke unused keys or raise the tenant.s key limit at Novala/],
      [
        401,
        /answered 401: .*Put a key that works and holds api_keys\.manage in with .?novala-rotation put-key novala\/manager\W/,
      ],
      [
        403,
        /answered 403: .*Put a key that works and holds api_keys\.manage in with .?novala-rotation put-key novala\/manager\W/,
      ],
      [400, /answered 400: .*Check the secret.s name and scopes against Novala.s rules/],
    ])("a create Novala answers %i", async (answer, fix) => {
      const { consumer, secretArn } = await givenSecret();
      fx.novala.injectFault({ match: CREATE, kind: "status", status: answer, count: 100 });
      const token = await startRotation(fx.secrets, secretArn);
      const error = await createSecretStep(secretArn, token);
      await expectEnded(secretArn, consumer.id, token, error, fix);
      expect(fx.keyWrites()).toEqual([CREATE]);
      await expectNextRotationClean(secretArn, consumer.id);
    });

    it("a create answer with other scopes than asked: the key it made is revoked, then the rotation ended", async () => {
      const { consumer, secretArn } = await givenSecret();
      const model = fx.novala.model;
      const create = model.create.bind(model);
      model.create = (bearer, body) => {
        const created = create(bearer, body);
        return created.ok ? { ...created, value: { ...created.value, scopes: ["bookings.read"] } } : created;
      };
      const token = await startRotation(fx.secrets, secretArn);
      const error = await createSecretStep(secretArn, token);
      model.create = create;
      await expectEnded(
        secretArn,
        consumer.id,
        token,
        error,
        /scopes .?bookings\.read.? instead of .*the new key was revoked/,
      );
      const made = model.keys().filter((key) => key.name.includes(" · rot "));
      expect(made.map((key) => key.status)).toEqual(["revoked"]);
      await expectNextRotationClean(secretArn, consumer.id);
    });

    it("an AWSCURRENT value that cannot be parsed, and what status says about it", async () => {
      const { consumer, secretArn } = await givenSecret();
      const good = await valueAt(secretArn, "AWSCURRENT");
      await fx.secrets.send(new PutSecretValueCommand({ SecretId: secretArn, SecretString: "not json at all" }));
      const token = await startRotation(fx.secrets, secretArn);
      const error = await createSecretStep(secretArn, token);
      expect(error?.message).toMatch(
        /is not JSON\. Put a valid pair in with .?novala-rotation put-key novala\/acumatica/,
      );
      expect((await stagesOf(secretArn))[token] ?? []).toEqual([]);
      expect(fx.novala.requestLog()).toEqual([]);

      const shown = await runCli(["status", "novala/acumatica"], { endpoint: fx.moto.endpoint });
      expectNoKeyMaterial(shown, fx.novala.model.issuedKeyMaterial());
      expect(shown.code).toBe(4);
      // The value itself is the worst news; the rotation it ended follows, with the same fix.
      expect(shown.stdout.split("\n").slice(0, 2)).toEqual([
        "Verdict  AWSCURRENT's value is unusable: the secret value is not JSON: consumers may fail to read it and rotations fail",
        expect.stringMatching(
          /^ {9}also: last rotation ended \d{4}-\d\d-\d\d [\d:]+Z at createSecret: SecretValueError: .* is not JSON\. Put a valid pair in with novala-rotation put-key novala\/acumatica then rotate again$/,
        ),
      ]);

      await fx.secrets.send(new PutSecretValueCommand({ SecretId: secretArn, SecretString: JSON.stringify(good) }));
      await expectNextRotationClean(secretArn, consumer.id);
    });

    it.each([
      [
        "every /self answering 503 past the retry budget",
        { match: "GET /api/v1/api-keys/self", status: 503 },
        /NovalaUnavailableError|gave up/,
      ],
      [
        "a create answered 503 (its outcome unknown) on every attempt",
        { match: CREATE, status: 503 },
        /may have taken effect/,
      ],
    ])("%s: AWSPENDING stays, and Secrets Manager's retry finishes the rotation", async (_label, fault, thrown) => {
      const { consumer, secretArn } = await givenSecret();
      fx.novala.injectFault({ ...fault, kind: "status", count: 10_000 });
      const token = await startRotation(fx.secrets, secretArn);
      const error = await createSecretStep(secretArn, token);
      expect(error?.message).toMatch(thrown);
      expect(error?.message).not.toMatch(/rotation ended/);
      expect((await stagesOf(secretArn))[token]).toEqual(["AWSPENDING"]);
      expect((await lastOutcome(secretArn))?.kind).toBe("failed");
      fx.novala.clearFaults();
      await driveSteps(fx.secrets, rotationHandler, secretArn, token);
      expect((await stagesOf(secretArn))[token]).toEqual(["AWSCURRENT"]);
      expect(status(consumer.id)).toBe("revoked");
    });

    it("a create answer lost after the key was made: AWSPENDING stays, the retry revokes that key and finishes", async () => {
      const { consumer, secretArn } = await givenSecret();
      fx.novala.injectFault({ match: CREATE, kind: "lose-answer", count: 3 });
      const token = await startRotation(fx.secrets, secretArn);
      const error = await createSecretStep(secretArn, token);
      expect(error?.name).toBe("CreateOutcomeUnknownError");
      expect((await stagesOf(secretArn))[token]).toEqual(["AWSPENDING"]);
      await driveSteps(fx.secrets, rotationHandler, secretArn, token);
      const current = await valueAt(secretArn, "AWSCURRENT");
      const live = fx.novala.model.keys().filter((key) => key.status === "active" && key.name.includes(" · rot "));
      expect(live.map((key) => key.id)).toEqual([current.keyId]);
      expect(status(consumer.id)).toBe("revoked");
    });
  });

  it("missing configuration fails naming the variable, before any side effect", async () => {
    const { secretArn } = await givenSecret();
    const token = await startRotation(fx.secrets, secretArn);
    setEnvironment({ REVOCATION_GRACE_SECONDS: "600", REVOCATION_SCHEDULE_GROUP: undefined });
    fx.novala.clearRequestLog();
    await expect(
      rotationHandler({ Step: "createSecret", SecretId: secretArn, ClientRequestToken: token }),
    ).rejects.toThrow(/REVOCATION_SCHEDULE_GROUP is required when REVOCATION_GRACE_SECONDS is above 0/);
    setEnvironment({ REVOCATION_GRACE_SECONDS: "ten" });
    await expect(
      rotationHandler({ Step: "createSecret", SecretId: secretArn, ClientRequestToken: token }),
    ).rejects.toThrow(/REVOCATION_GRACE_SECONDS must be a number of seconds/);
    expect(fx.novala.requestLog()).toEqual([]);
    await expect(
      fx.secrets.send(new GetSecretValueCommand({ SecretId: secretArn, VersionId: token, VersionStage: "AWSPENDING" })),
    ).rejects.toThrow();
  });

  it("rejects an event without a Step, naming the field; refuses a revocation event without a keyId", async () => {
    const malformed = await caughtError(
      rotationHandler({ SecretId: "x", ClientRequestToken: "y" } as unknown as Parameters<typeof rotationHandler>[0]),
    );
    expect(malformed.name).toBe("InvalidEventError");
    expect(malformed.message).toMatch(/field "Step"/);
    // Whoever invoked the revocation function sent it: refused, counted, not retried.
    expect(await revocationHandler({ secretId: "x" })).toEqual({ outcome: "refused" });
    expect(fx.novala.requestLog()).toEqual([]);
  });
});
