/**
 * A lost revocation (issue 13, item 2), as an operator meets it, against moto and the Novala simulator: two rotations
 * back to back inside the grace period push the original key (which carries no rotation tag) off every label while
 * its revocation schedule is still pending; Novala is then unreachable for as long as EventBridge Scheduler retries the
 * revocation function, so Scheduler gives up and deletes the schedule. The key stays active, held only by an
 * unlabelled version. `novala-rotation reconcile` must find it (proven by possession), and `--revoke` revoke it.
 */
import { randomUUID } from "node:crypto";
import {
  CreateScheduleGroupCommand,
  DeleteScheduleCommand,
  GetScheduleCommand,
  type SchedulerClient,
} from "@aws-sdk/client-scheduler";
import { PutSecretValueCommand, UpdateSecretVersionStageCommand } from "@aws-sdk/client-secrets-manager";
import { beforeAll, beforeEach, describe, expect, it } from "vitest";
import { rotateLikeSecretsManager } from "../../../cli/secrets-manager-driver.js";
import { revocationScheduleName } from "../../../lambdas/core/key-name.js";
import type { CreatedNovalaKey } from "../../../lambdas/core/ports.js";
import { secretValueFor } from "../../../lambdas/core/secret-value.js";
import { handler as revocationHandler } from "../../../lambdas/revocation/index.js";
import { handler as rotationHandler } from "../../../lambdas/rotation/index.js";
import { useMotoAndSimulator } from "../../support/integration.js";
import { motoSuiteTitle, schedulerClientFor, skipMoto, TEST_SCHEDULE_GROUP } from "../../support/moto.js";
import { type CliRun, expectNoKeyMaterial, runCli } from "../../support/run-cli.js";

/** EventBridge Scheduler's retry policy of the revocation target (the construct's: 10 attempts). */
const SCHEDULER_ATTEMPTS = 10;

describe.skipIf(skipMoto)(motoSuiteTitle("a revocation Scheduler gave up on (reconcile finds the key)"), () => {
  const env = useMotoAndSimulator({ REVOCATION_GRACE_SECONDS: "3600", POWERTOOLS_LOG_LEVEL: "CRITICAL" });
  let scheduler: SchedulerClient;

  beforeAll(() => {
    scheduler = schedulerClientFor(env.moto.endpoint);
    return () => scheduler.destroy();
  });
  beforeEach(async () => {
    await scheduler.send(new CreateScheduleGroupCommand({ Name: TEST_SCHEDULE_GROUP }));
  });

  function reconcile(...args: string[]): Promise<CliRun> {
    return runCli(
      ["reconcile", "--manager-secret", "novala/manager", "--schedule-group", TEST_SCHEDULE_GROUP, ...args],
      { endpoint: env.moto.endpoint },
    );
  }

  /** Scheduler fires the schedule while Novala is down, retries as its policy allows, then deletes the schedule. */
  async function schedulerGivesUp(name: string): Promise<void> {
    const schedule = await scheduler.send(new GetScheduleCommand({ GroupName: TEST_SCHEDULE_GROUP, Name: name }));
    const event = JSON.parse(schedule.Target?.Input ?? "{}") as unknown;
    env.novala.injectFault({ match: "* *", kind: "status", status: 503, count: 10_000 });
    env.setEnvironment({ NOVALA_RETRY_BUDGET_SECONDS: "0" });
    for (let attempt = 1; attempt <= SCHEDULER_ATTEMPTS; attempt++) {
      await expect(revocationHandler(event)).rejects.toThrow(/503|unavailable/i);
    }
    env.setEnvironment();
    env.novala.clearFaults();
    await scheduler.send(new DeleteScheduleCommand({ GroupName: TEST_SCHEDULE_GROUP, Name: name }));
  }

  it("lists the original, untagged key held by an unlabelled version, and --revoke revokes it once proven", async () => {
    const model = env.novala.model;
    const manager = model.seedKey({ name: "Rotation manager", scopes: ["api_keys.manage"] });
    const managerArn = await env.createSecret("novala/manager", manager);
    // Onboarded months ago (older than reconcile's --min-age).
    const first = model.seedKey({
      name: "Acumatica Integration",
      scopes: ["leads.lead.read", "pipeline"],
      createdAt: "2026-01-01T00:00:00Z",
    });
    const arn = await env.createSecret("novala/acumatica", first, { managerSecretId: managerArn });

    // Two rotations back to back: the first key's schedule is pending when the second moves it off AWSPREVIOUS.
    await rotateLikeSecretsManager(env.secrets, rotationHandler, arn);
    const second = String((await env.valueAt(arn, "AWSCURRENT")).keyId);
    await rotateLikeSecretsManager(env.secrets, rotationHandler, arn);
    const third = String((await env.valueAt(arn, "AWSCURRENT")).keyId);
    const firstSchedule = revocationScheduleName(arn, first.id);
    // finishSecret left the pending schedule to run ("exists"), and scheduled the second key's.
    await expect(
      scheduler.send(new GetScheduleCommand({ GroupName: TEST_SCHEDULE_GROUP, Name: firstSchedule })),
    ).resolves.toBeDefined();

    await schedulerGivesUp(firstSchedule);
    expect(env.status(first.id)).toBe("active");
    const firstVersions = Object.entries(await env.stagesOf(arn)).filter(([, stages]) => stages.length > 0);
    expect(firstVersions).toHaveLength(2); // AWSCURRENT (third key) and AWSPREVIOUS (second key)

    // The rotations proved the first key with its secret key, which Novala counts as a use: within the 7-day grace.
    const dryRun = await reconcile();
    expectNoKeyMaterial(dryRun, env.novala.model.issuedKeyMaterial());
    expect(dryRun.code).toBe(0);
    expect(dryRun.stdout).toMatch(new RegExp(`│ ${first.id} │ Acumatica Integration │.*within the grace \\(7 d\\)`));

    const withoutGrace = await reconcile("--grace", "0s");
    expectNoKeyMaterial(withoutGrace, env.novala.model.issuedKeyMaterial());
    expect(withoutGrace.code).toBe(0);
    expect(withoutGrace.stdout).toMatch(
      new RegExp(`│ ${first.id} │ Acumatica Integration │ held by unlabelled version .* │ would revoke once proven │`),
    );
    expect(withoutGrace.stdout).toContain("1 stranded key(s). Add --revoke to revoke them.");
    expect(env.status(first.id)).toBe("active");

    const revoke = await reconcile("--revoke", "--grace", "0s", "--json");
    expectNoKeyMaterial(revoke, env.novala.model.issuedKeyMaterial());
    expect(revoke.code).toBe(0);
    expect(JSON.parse(revoke.stdout).stranded).toEqual([
      expect.objectContaining({ keyId: first.id, secret: "novala/acumatica", action: "revoked" }),
    ]);
    expect(env.status(first.id)).toBe("revoked");
    // Everything still held or scheduled stays: the manager key, AWSCURRENT's, AWSPREVIOUS's (its schedule pending).
    expect([env.status(manager.id), env.status(third), env.status(second)]).toEqual(["active", "active", "active"]);
    // A second run finds nothing more.
    const again = await reconcile("--revoke", "--grace", "0s");
    expect(again.code).toBe(0);
    expect(again.stdout).toContain("No stranded keys.");
  });

  it("--revoke leaves alone a key an unlabelled version names but cannot prove (another team's key)", async () => {
    const model = env.novala.model;
    const manager = model.seedKey({ name: "Rotation manager", scopes: ["api_keys.manage"] });
    const managerArn = await env.createSecret("novala/manager", manager);
    const own = model.seedKey({ name: "Acumatica Integration", scopes: ["leads.lead.read"] });
    const arn = await env.createSecret("novala/acumatica", own, { managerSecretId: managerArn });
    // Another team's key, held by a secret this run cannot see; a writer of our secret names it in a version it then
    // unlabels, with a secret key of its own.
    const victim = model.seedKey({ name: "Billing", scopes: ["bookings.read"], createdAt: "2026-01-01T00:00:00Z" });
    const forged = secretValueFor(env.novala.url, { ...victim, secretKey: own.secretKey } as CreatedNovalaKey, {
      managerSecretId: managerArn,
    });
    const versionId = randomUUID();
    await env.secrets.send(
      new PutSecretValueCommand({
        SecretId: arn,
        ClientRequestToken: versionId,
        SecretString: forged,
        VersionStages: ["FORGED"],
      }),
    );
    await env.secrets.send(
      new UpdateSecretVersionStageCommand({ SecretId: arn, VersionStage: "FORGED", RemoveFromVersionId: versionId }),
    );

    const run = await reconcile("--revoke", "--grace", "0s", "--json");
    expectNoKeyMaterial(run, env.novala.model.issuedKeyMaterial());
    expect(run.code).toBe(0);
    expect(JSON.parse(run.stdout).stranded).toEqual([
      expect.objectContaining({
        keyId: victim.id,
        action: expect.stringMatching(/^left alone: not proven \(its secret key authenticates as key /),
      }),
    ]);
    expect(env.status(victim.id)).toBe("active");
    expect(env.status(own.id)).toBe("active");
  });
});
