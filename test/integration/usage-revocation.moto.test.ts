import { CreateScheduleGroupCommand, GetScheduleCommand, ListSchedulesCommand } from "@aws-sdk/client-scheduler";
import { CreateSecretCommand } from "@aws-sdk/client-secrets-manager";
import { afterEach, describe, expect, it, vi } from "vitest";
import { rotateLikeSecretsManager } from "../../cli/secrets-manager-driver.js";
import { postponedScheduleName, revocationScheduleName } from "../../lambdas/core/key-name.js";
import { secretValueFor } from "../../lambdas/core/secret-value.js";
import { handler as revocationHandler } from "../../lambdas/revocation/index.js";
import { handler as rotationHandler } from "../../lambdas/rotation/index.js";
import { atTime } from "../../local/scheduler-model.js";
import { useMotoAndSimulator } from "../support/integration.js";
import {
  motoSuiteTitle,
  skipMoto,
  TEST_DEAD_LETTER_QUEUE_ARN,
  TEST_REVOCATION_FUNCTION_ARN,
  TEST_SCHEDULE_GROUP,
  TEST_SCHEDULER_ROLE_ARN,
} from "../support/moto.js";
import { expectNoKeyMaterial, runCli } from "../support/run-cli.js";

/**
 * The revocation handler's due path against moto (Secrets Manager, Scheduler) and the Novala simulator: a consumer
 * that still uses the retired key gets the revocation postponed (a schedule with the next name appears in moto's
 * Scheduler), and once it stopped the postponed check revokes. Time is the process's clock, moved with vitest's fake
 * Date (the simulator, in this process, stamps lastUsedAt with it; moto's own clock is not moved).
 */
const GROUP = TEST_SCHEDULE_GROUP;
const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
/** How the revocation function is invoked: Lambda's context names the function (its own ARN, with a qualifier). */
const CONTEXT = { invokedFunctionArn: `${TEST_REVOCATION_FUNCTION_ARN}:$LATEST` };

describe.skipIf(skipMoto)(
  motoSuiteTitle("the revocation that waits for consumers, against moto and the simulator"),
  () => {
    const fx = useMotoAndSimulator({
      REVOCATION_SCHEDULE_GROUP: GROUP,
      REVOCATION_FUNCTION_ARN: TEST_REVOCATION_FUNCTION_ARN,
      REVOCATION_SCHEDULER_ROLE_ARN: TEST_SCHEDULER_ROLE_ARN,
      REVOCATION_DEAD_LETTER_QUEUE_ARN: TEST_DEAD_LETTER_QUEUE_ARN,
      REVOCATION_GRACE_SECONDS: "3600",
      POWERTOOLS_LOG_LEVEL: "ERROR",
    });
    afterEach(() => vi.useRealTimers());

    /** A manager-managed secret rotated with grace 1 h: its first (untagged) key retired and scheduled. */
    async function rotated() {
      await fx.scheduler.send(new CreateScheduleGroupCommand({ Name: GROUP }));
      const consumer = fx.novala.model.seedKey({ name: "Acumatica Integration", scopes: ["leads.lead.read"] });
      const manager = fx.novala.model.seedKey({ name: "Rotation manager", scopes: ["api_keys.manage"] });
      const managerSecretId = (
        await fx.secrets.send(
          new CreateSecretCommand({ Name: "novala/manager", SecretString: secretValueFor(fx.novala.url, manager) }),
        )
      ).ARN as string;
      const secretArn = await fx.createSecret("novala/acumatica", consumer, { managerSecretId });
      await rotateLikeSecretsManager(fx.secrets, rotationHandler, secretArn);
      return { consumer, secretArn };
    }

    async function schedule(name: string) {
      const found = await fx.scheduler.send(new GetScheduleCommand({ GroupName: GROUP, Name: name }));
      return { at: atTime({ ScheduleExpression: found.ScheduleExpression ?? "" }), target: found.Target };
    }

    /** A consumer's request with the old key, at the process's (faked) time: the simulator records the use. */
    async function consumerCalls(secretKey: string) {
      const answer = await fetch(`${fx.novala.url}/api/v1/leads?limit=1`, {
        headers: { authorization: `Bearer ${secretKey}` },
      });
      expect(answer.status).toBe(200);
    }

    it("postpones while a consumer uses the old key (a schedule with the next name), then revokes once it stopped", async () => {
      const { consumer, secretArn } = await rotated();
      const base = revocationScheduleName(secretArn, consumer.id);
      const first = await schedule(base);
      const input = JSON.parse(first.target?.Input ?? "{}");
      expect(input).toMatchObject({ keyId: consumer.id, rotatorUsedAt: expect.any(String) });

      const start = Date.now();
      vi.useFakeTimers({ toFake: ["Date"], now: start + 30 * MINUTE, shouldAdvanceTime: true });
      await consumerCalls(consumer.secretKey);
      const usedAt = Date.parse(String(fx.novala.model.inspect(consumer.id)?.lastUsedAt));

      // The schedule fires at the end of the grace period: the consumer's use is 30 minutes old.
      vi.setSystemTime(start + HOUR + 5000);
      fx.novala.clearRequestLog();
      expect(await revocationHandler(input, CONTEXT)).toEqual({ outcome: "postponed" });
      expect(fx.status(consumer.id)).toBe("active");
      // One read of the key's record by the manager, and (the first key carries no lineage tag) its /self proof.
      expect(fx.novala.requestLog().map((entry) => entry.route)).toEqual([
        "GET /api/v1/api-keys/{id}",
        "GET /api/v1/api-keys/self",
      ]);
      const next = postponedScheduleName(base, 1);
      const names = (await fx.scheduler.send(new ListSchedulesCommand({ GroupName: GROUP }))).Schedules?.map(
        (listed) => listed.Name,
      );
      // moto never fires a schedule, so the first one is still listed beside its postponement.
      expect(names?.sort()).toEqual([base, next].sort());
      const postponed = await schedule(next);
      // Lambda's context named a qualified ARN; Scheduler's role may invoke the unqualified function only.
      expect(postponed.target?.Arn).toBe(TEST_REVOCATION_FUNCTION_ARN);
      expect(postponed.target?.RoleArn).toBe(TEST_SCHEDULER_ROLE_ARN);
      expect(postponed.target?.DeadLetterConfig?.Arn).toBe(TEST_DEAD_LETTER_QUEUE_ARN);
      // After the quiet window that the use opened, and a minute's margin (at() rounds up to the second).
      expect(postponed.at).toBe(Math.ceil((usedAt + HOUR + MINUTE) / 1000) * 1000);
      const nextInput = JSON.parse(postponed.target?.Input ?? "{}");
      expect(nextInput).toMatchObject({ secretId: secretArn, keyId: consumer.id, postponements: 1 });

      // status says so in its verdict, healthy: how often, the last use, the next check, the hard limit.
      const status = await runCli(["status", "novala/acumatica", "--schedule-group", GROUP, "--json"], {
        endpoint: fx.moto.endpoint,
      });
      expectNoKeyMaterial(status, fx.novala.model.issuedKeyMaterial());
      const report = JSON.parse(status.stdout);
      expect(report.verdict).toMatchObject({ healthy: true, problems: [] });
      expect(report.verdict.notes).toEqual([
        expect.stringMatching(
          new RegExp(
            `^revocation of ${consumer.id} postponed 1 time: a consumer still uses it \\(last used .+\\), next check .+, hard limit .+$`,
          ),
        ),
      ]);
      expect(report.revocations).toContainEqual(
        expect.objectContaining({
          schedule: next,
          keyId: consumer.id,
          postponements: 1,
          hardLimitAt: expect.any(String),
        }),
      );

      // The consumer moved to the new key: the postponed check sees only the rotator's own proof, and revokes.
      vi.setSystemTime((postponed.at as number) + 1000);
      expect(await revocationHandler(nextInput, CONTEXT)).toEqual({ outcome: "revoked" });
      expect(fx.status(consumer.id)).toBe("revoked");
    });

    it("revokes at the end of the grace when nobody but the rotator used the old key", async () => {
      const { consumer, secretArn } = await rotated();
      const input = JSON.parse((await schedule(revocationScheduleName(secretArn, consumer.id))).target?.Input ?? "{}");
      vi.useFakeTimers({ toFake: ["Date"], now: Date.now() + HOUR + 5000, shouldAdvanceTime: true });
      expect(await revocationHandler(input, CONTEXT)).toEqual({ outcome: "revoked" });
      expect(fx.status(consumer.id)).toBe("revoked");
    });

    it("refuses to start without its target, naming the variable, before any call", async () => {
      fx.setEnvironment({ REVOCATION_SCHEDULER_ROLE_ARN: undefined });
      fx.novala.clearRequestLog();
      await expect(revocationHandler({ secretId: "novala/acumatica", keyId: "key_abc" }, CONTEXT)).rejects.toThrow(
        /REVOCATION_SCHEDULER_ROLE_ARN is required by the revocation function/,
      );
      expect(fx.novala.requestLog()).toEqual([]);
    });
  },
);
