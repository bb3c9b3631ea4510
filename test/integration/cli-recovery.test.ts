/**
 * Recovering from what goes wrong (issue 13, items 1, 3, 7 and 8), each through `novala-rotation` as an operator runs
 * it — a child process against moto and the Novala simulator — asserting what it prints, its exit code and the state
 * it leaves in Secrets Manager and at Novala. Where Secrets Manager would invoke the rotation function, this process
 * invokes the real handler (lambdas/rotation/index.ts), configured like the deployed function; the same configuration
 * is registered in moto, where the CLI finds it.
 */
import { randomUUID } from "node:crypto";
import { DeleteScheduleCommand } from "@aws-sdk/client-scheduler";
import {
  DescribeSecretCommand,
  ListSecretVersionIdsCommand,
  PutSecretValueCommand,
} from "@aws-sdk/client-secrets-manager";
import { beforeAll, beforeEach, describe, expect, it } from "vitest";
import { LOCAL_ROTATION_LAMBDA_ARN, startRotation } from "../../cli/secrets-manager-driver.js";
import type { RotationEvent } from "../../lambdas/contract/rotation-event.js";
import { replacementKeyName, revocationScheduleName } from "../../lambdas/core/key-name.js";
import type { CreatedNovalaKey } from "../../lambdas/core/ports.js";
import { secretValueFor } from "../../lambdas/core/secret-value.js";
import { useMotoAndSimulator } from "../support/integration.js";
import { motoSuiteTitle, skipMoto, TEST_SCHEDULE_GROUP } from "../support/moto.js";
import { type CliRun, expectNoKeyMaterial, KEY_SHAPE, runCli } from "../support/run-cli.js";

/** A secret's first rotation, run on this machine: it names the (registered) function and sets a schedule. */
const FIRST_ROTATION_HERE = ["--run-steps", "--lambda-arn", LOCAL_ROTATION_LAMBDA_ARN, "--schedule", "rate(30 days)"];

describe.skipIf(skipMoto)(motoSuiteTitle("novala-rotation: recovering from what goes wrong"), () => {
  const world = useMotoAndSimulator({ POWERTOOLS_METRICS_DISABLED: "true", POWERTOOLS_LOG_LEVEL: "CRITICAL" });
  let handler: (event: RotationEvent) => Promise<void>;
  let manager: CreatedNovalaKey;
  let consumer: CreatedNovalaKey;
  let managerArn: string;
  let arn: string;

  beforeAll(async () => {
    handler = (await import("../../lambdas/rotation/index.js")).handler;
  });

  beforeEach(async () => {
    manager = world.novala.model.seedKey({ name: "Rotation manager", scopes: ["api_keys.manage"] });
    consumer = world.novala.model.seedKey({ name: "Acumatica Integration", scopes: ["leads.lead.read", "pipeline"] });
    managerArn = await world.createSecret("novala/manager", manager);
    arn = await world.createSecret("novala/acumatica", consumer, { managerSecretId: managerArn });
    await deploy(0);
  });

  /** The rotation function, "deployed" with `graceSeconds`: registered in moto and the handler's environment here. */
  function deploy(graceSeconds: number, allowedHosts?: string[]): Promise<void> {
    return world.deployRotationFunction(graceSeconds, { ...(allowedHosts && { allowedHosts }) });
  }

  function cli(args: string[], input?: string): Promise<CliRun> {
    return runCli(args, { endpoint: world.moto.endpoint, ...(input !== undefined && { input }) });
  }

  function step(Step: RotationEvent["Step"], token: string): Promise<void> {
    return handler({ Step, SecretId: arn, ClientRequestToken: token });
  }

  async function versionCount(): Promise<number> {
    const listed = await world.secrets.send(
      new ListSecretVersionIdsCommand({ SecretId: arn, IncludeDeprecated: true }),
    );
    return listed.Versions?.length ?? 0;
  }

  /** Novala down through createSecret: every /self answers 503, so the step gives up (NovalaUnavailableError). */
  function novalaDown(): void {
    world.novala.injectFault({ match: "GET /api/v1/api-keys/self", kind: "status", status: 503, count: 10_000 });
  }

  describe("item 1: a stuck rotation", () => {
    it("status says stuck (step, reason), rotate follows it, abort ends it and revokes only the key minted for it", async () => {
      const currentVersion = Object.entries(await world.stagesOf(arn)).find(([, s]) => s.includes("AWSCURRENT"))?.[0];
      const token = await startRotation(world.secrets, arn);
      novalaDown();
      await expect(step("createSecret", token)).rejects.toThrow(/NovalaUnavailableError|gave up/);
      // An earlier attempt created a key whose answer was lost: it carries this rotation's lineage tag.
      const orphan = world.novala.model.seedKey({
        name: replacementKeyName("Acumatica Integration", arn, token),
        scopes: ["leads.lead.read", "pipeline"],
      });

      // status: the verdict first, the step and the reason the rotation function recorded; exit 4.
      const [text, json] = await Promise.all([
        cli(["status", "novala/acumatica"]),
        cli(["status", "novala/acumatica", "--json"]),
      ]);
      expectNoKeyMaterial(text, world.novala.model.issuedKeyMaterial());
      expect(text.code).toBe(4);
      expect(text.stdout.split("\n")[0]).toMatch(
        /^Verdict {2}rotation stuck since \d{4}-\d\d-\d\d [\d:]+Z at createSecret \(last failed .*\): NovalaUnavailableError: /,
      );
      expect(text.stdout).toContain(`novala-rotation abort novala/acumatica`);
      expect(text.stdout).toMatch(/Last outcome\s+failed at createSecret/);
      const report = JSON.parse(json.stdout);
      expect(json.code).toBe(4);
      expect(report.verdict).toMatchObject({
        healthy: false,
        state: "rotation-stuck",
        problems: [expect.objectContaining({ kind: "rotation-stuck", token, step: "createSecret" })],
      });
      expect(report.lastOutcome).toMatchObject({ kind: "failed", step: "createSecret", token });

      // rotate: follows the rotation under way instead of starting another (which Secrets Manager refuses, and which
      // moto would let abandon this one); --timeout ends the wait with exit 3.
      const versionsBefore = await versionCount();
      const rotate = await cli(["rotate", "novala/acumatica", "--timeout", "2s", "--interval", "200ms", "--json"]);
      expectNoKeyMaterial(rotate, world.novala.model.issuedKeyMaterial());
      expect(rotate.code).toBe(3);
      expect(JSON.parse(rotate.stdout)).toMatchObject({ token, followed: true, outcome: "timed-out" });
      expect(await versionCount()).toBe(versionsBefore);
      expect((await world.stagesOf(arn))[token]).toEqual(["AWSPENDING"]);

      // abort: the orphan is revoked (lineage tag), AWSPENDING removed, AWSCURRENT and its key untouched.
      world.novala.clearFaults();
      const abort = await cli(["abort", "novala/acumatica"]);
      expectNoKeyMaterial(abort, world.novala.model.issuedKeyMaterial());
      expect(abort.stderr).toBe("");
      expect(abort.code).toBe(0);
      expect(abort.stdout).toContain(`Aborted rotation ${token} of novala/acumatica.`);
      expect(abort.stdout).toContain("the version held no value: createSecret had not stored a key");
      expect(abort.stdout).toContain(
        `key minted for this rotation, never stored, ${orphan.id} revoked (its name carries this rotation's lineage tag)`,
      );
      expect(abort.stdout).toContain(`AWSPENDING removed from version ${token}`);
      expect(abort.stdout).toContain(`AWSCURRENT untouched: version ${currentVersion}, key ${consumer.id}`);
      expect(world.status(orphan.id)).toBe("revoked");
      expect(world.status(consumer.id)).toBe("active");
      expect(world.status(manager.id)).toBe("active");
      const stages = await world.stagesOf(arn);
      expect(stages[token] ?? []).toEqual([]);
      expect(stages[currentVersion as string]).toEqual(["AWSCURRENT"]);

      // Nothing left to abort; status now reports the failed rotation until one succeeds.
      const again = await cli(["abort", "novala/acumatica"]);
      expect(again.code).toBe(1);
      expect(again.stderr).toMatch(/nothing to abort: secret novala\/acumatica has no rotation in progress/);
      const after = await cli(["status", "novala/acumatica"]);
      expect(after.code).toBe(4);
      expect(after.stdout.split("\n")[0]).toMatch(/^Verdict {2}last rotation failed .* at createSecret: /);

      // And a new rotation goes through (run here: moto cannot run the function).
      const next = await cli(["rotate", "novala/acumatica", "--run-steps"]);
      expect(next.code, next.stderr).toBe(0);
      const healthy = await cli(["status", "novala/acumatica", "--check"]);
      expect(healthy.code, healthy.stdout).toBe(0);
      expect(healthy.stdout.split("\n")[0]).toBe("Verdict  healthy");
    });

    it("abort revokes a stored pending key only when proven, and refuses a rotation that looks in progress", async () => {
      const token = await startRotation(world.secrets, arn);
      await step("createSecret", token);
      const pendingKeyId = String((await world.valueAt(arn, "AWSPENDING")).keyId);

      // createSecret just succeeded: a step may still be running, so abort wants --force.
      const early = await cli(["abort", "novala/acumatica"]);
      expect(early.code).toBe(1);
      expect(early.stderr).toMatch(/refusing to abort rotation .* it looks in progress .*waiting for setSecret/);
      expect((await world.stagesOf(arn))[token]).toEqual(["AWSPENDING"]);
      expect(world.status(pendingKeyId)).toBe("active");

      // testSecret cannot reach Novala (every /self answers 503): the rotation is stuck at testSecret. (A broken manager
      // secret no longer stops it: testSecret reads the manager secret only to roll back or to ask about a 401.)
      novalaDown();
      await expect(step("testSecret", token)).rejects.toThrow(/NovalaUnavailableError|gave up/);
      world.novala.clearFaults();
      const status = await cli(["status", "novala/acumatica", "--json"]);
      expect(status.code).toBe(4);
      expect(JSON.parse(status.stdout).verdict.problems[0]).toMatchObject({
        kind: "rotation-stuck",
        step: "testSecret",
      });

      const abort = await cli(["abort", "novala/acumatica", "--json"]);
      expectNoKeyMaterial(abort, world.novala.model.issuedKeyMaterial());
      expect(abort.code, abort.stderr).toBe(0);
      expect(JSON.parse(abort.stdout)).toMatchObject({
        token,
        pendingValue: true,
        pendingKeyId,
        revoked: [{ keyId: pendingKeyId, by: "secret-key", outcome: "revoked" }],
        leftAlone: [],
        pendingRemoved: true,
        currentKeyId: consumer.id,
      });
      expect(world.status(pendingKeyId)).toBe("revoked");
      expect(world.status(consumer.id)).toBe("active");
      expect((await world.valueAt(arn, "AWSCURRENT")).keyId).toBe(consumer.id);
    });

    it("abort never revokes the manager key or AWSCURRENT's key, whatever the pending value names", async () => {
      // A forged pending value (anyone who may write the secret can put one) naming the manager key.
      const forged = randomUUID();
      await world.secrets.send(
        new PutSecretValueCommand({
          SecretId: arn,
          ClientRequestToken: forged,
          SecretString: secretValueFor(world.novala.url, { ...manager, secretKey: consumer.secretKey }),
          VersionStages: ["AWSPENDING"],
        }),
      );
      const abort = await cli(["abort", "novala/acumatica", "--force", "--json"]);
      expectNoKeyMaterial(abort, world.novala.model.issuedKeyMaterial());
      expect(abort.code, abort.stderr).toBe(0);
      expect(JSON.parse(abort.stdout)).toMatchObject({
        token: forged,
        revoked: [],
        leftAlone: [{ keyId: manager.id, reason: "the manager key" }],
        pendingRemoved: true,
      });
      expect(world.status(manager.id)).toBe("active");
      expect(world.status(consumer.id)).toBe("active");
      expect(world.keyWrites().filter((write) => write.startsWith("DELETE"))).toEqual([]);
    });
  });

  describe("item 3: status tells the truth", () => {
    it("after a rollback: the verdict says when and why, exit 4", async () => {
      world.novala.injectFault({ match: "GET /api/v1/pipeline/deals", kind: "status", status: 403, count: 1000 });
      const token = await startRotation(world.secrets, arn);
      await step("createSecret", token);
      await expect(step("testSecret", token)).rejects.toThrow(/rolled back/);
      const [text, json] = await Promise.all([
        cli(["status", "novala/acumatica"]),
        cli(["status", "novala/acumatica", "--json"]),
      ]);
      expectNoKeyMaterial(text, world.novala.model.issuedKeyMaterial());
      expect(text.code).toBe(4);
      expect(text.stdout.split("\n")[0]).toMatch(
        /^Verdict {2}last rotation rolled back \d{4}-\d\d-\d\d [\d:]+Z: RotationRolledBackError: health check of key key_\w+ failed/,
      );
      expect(JSON.parse(json.stdout).lastOutcome).toMatchObject({ kind: "rolled-back", step: "testSecret", token });
      // The reason is kept as a tag on the secret, with no key material.
      const tags = (await world.secrets.send(new DescribeSecretCommand({ SecretId: arn }))).Tags ?? [];
      for (const tag of tags) expect(tag.Value ?? "").not.toMatch(KEY_SHAPE);
      expect(tags.find((tag) => tag.Key === "novala-rotation:last-reason")?.Value).toMatch(/health check/);
    });

    it("healthy after a rotation; then an overdue revocation, a previous key live with no schedule, a revoked current key", async () => {
      await deploy(3600);
      const rotated = await cli(["rotate", "novala/acumatica", ...FIRST_ROTATION_HERE]);
      expect(rotated.code, rotated.stderr).toBe(0);
      const newKeyId = String((await world.valueAt(arn, "AWSCURRENT")).keyId);
      const healthy = await cli(["status", "novala/acumatica", "--check"]);
      expect(healthy.code, healthy.stdout).toBe(0);
      expect(healthy.stdout.split("\n")[0]).toBe("Verdict  healthy");

      // The old key's schedule is still there an hour after its time: Scheduler did not run it, or it keeps failing.
      const name = revocationScheduleName(arn, consumer.id);
      await world.scheduler.send(new DeleteScheduleCommand({ GroupName: TEST_SCHEDULE_GROUP, Name: name }));
      await world.createRevocationSchedule(
        name,
        { secretId: arn, keyId: consumer.id },
        new Date(Date.now() - 3_600_000),
      );
      const overdue = await cli(["status", "novala/acumatica"]);
      expect(overdue.code).toBe(4);
      expect(overdue.stdout.split("\n")[0]).toMatch(
        new RegExp(`^Verdict {2}revocation of ${consumer.id} overdue: schedule ${name} was due`),
      );

      // Scheduler gave up and deleted the schedule: the previous key is live and nothing will revoke it.
      await world.scheduler.send(new DeleteScheduleCommand({ GroupName: TEST_SCHEDULE_GROUP, Name: name }));
      const unscheduled = await cli(["status", "novala/acumatica", "--check", "--json"]);
      expect(unscheduled.code).toBe(4);
      expect(JSON.parse(unscheduled.stdout).verdict.problems).toEqual([
        expect.objectContaining({ kind: "previous-key-unscheduled", keyId: consumer.id }),
      ]);

      // The current key revoked in Novala's dashboard: the worst news comes first.
      world.novala.model.forceRevoke(newKeyId);
      const revoked = await cli(["status", "novala/acumatica", "--check"]);
      expectNoKeyMaterial(revoked, world.novala.model.issuedKeyMaterial());
      expect(revoked.code).toBe(4);
      expect(revoked.stdout.split("\n")[0]).toBe(
        `Verdict  current key ${newKeyId} is revoked at Novala: consumers cannot use it`,
      );
      expect(revoked.stdout).toContain(`also: previous key ${consumer.id} is still active at Novala`);
    });

    it("--check gives up within --check-timeout when Novala does not answer, and exits 5", async () => {
      world.novala.injectFault({ match: "GET /api/v1/api-keys/self", kind: "hang", ms: 120_000, count: 10_000 });
      world.novala.injectFault({ match: "GET /api/v1/api-keys/{id}", kind: "hang", ms: 120_000, count: 10_000 });
      const started = Date.now();
      const run = await cli(["status", "novala/acumatica", "--check", "--check-timeout", "2s"]);
      const elapsedMs = Date.now() - started;
      expectNoKeyMaterial(run, world.novala.model.issuedKeyMaterial());
      expect(run.code).toBe(5);
      expect(elapsedMs).toBeLessThan(6000);
      expect(run.stdout.split("\n")[0]).toMatch(/^Verdict {2}Novala's view unknown: .*\(--check-timeout 2 s\)/);
      expect(run.stderr).toMatch(/Novala could not be asked: .*--check-timeout 2 s/);
    });
  });

  describe("item 7: rotate --run-steps", () => {
    it("runs the steps here with the deployed function's configuration, and logs the promotion's versions", async () => {
      const before = Object.entries(await world.stagesOf(arn)).find(([, s]) => s.includes("AWSCURRENT"))?.[0];
      const run = await cli(["rotate", "novala/acumatica", ...FIRST_ROTATION_HERE, "--debug"]);
      expectNoKeyMaterial(run, world.novala.model.issuedKeyMaterial());
      expect(run.code, run.stderr).toBe(0);
      const after = Object.entries(await world.stagesOf(arn)).find(([, s]) => s.includes("AWSCURRENT"))?.[0];
      expect(after).not.toBe(before);
      for (const name of ["createSecret", "setSecret", "testSecret", "finishSecret"]) {
        expect(run.stdout).toMatch(new RegExp(`${name} +running here \\(configuration of rotation function`));
      }
      expect(run.stdout).toContain("Rotation succeeded");
      const current = await world.valueAt(arn, "AWSCURRENT");
      expect(current.keyId).not.toBe(consumer.id);
      expect(world.status(consumer.id)).toBe("revoked");
      // item 8: the promotion's log line names the new version and the one it replaced.
      const promoted = run.stderr.split("\n").find((line) => line.includes("promoted the new key to AWSCURRENT"));
      expect(JSON.parse(promoted?.replace(/^.*AWSCURRENT /, "") ?? "{}")).toEqual({
        keyId: current.keyId,
        newVersionId: after,
        previousVersionId: before,
      });
      const status = await cli(["status", "novala/acumatica", "--json"]);
      expect(JSON.parse(status.stdout).lastOutcome).toMatchObject({ kind: "succeeded", token: after });
    });

    it("sends keys only to hosts the deployed function allows, even when this machine allows more", async () => {
      await deploy(0, ["*.novala.ai"]);
      // rotate's check of the current key sends it only where the deployed function would: refused, nothing started.
      const checked = await cli(["rotate", "novala/acumatica", ...FIRST_ROTATION_HERE]);
      expectNoKeyMaterial(checked, world.novala.model.issuedKeyMaterial());
      expect(checked.code).toBe(1);
      expect(checked.stderr).toMatch(
        /refusing to rotate novala\/acumatica: field "baseUrl" of AWSCURRENT names a host outside the rotation function's NOVALA_ALLOWED_HOSTS \(\*\.novala\.ai\)\. Allow its host in NOVALA_ALLOWED_HOSTS \(allowedHosts\), or put the right pair in with `novala-rotation put-key novala\/acumatica`\. Nothing was changed/,
      );
      expect(Object.keys(await world.stagesOf(arn))).toHaveLength(1);
      expect(world.novala.requestLog()).toEqual([]);
      // Started anyway, the steps run here still send nothing: the rotation ends at createSecret.
      const run = await cli(["rotate", "novala/acumatica", ...FIRST_ROTATION_HERE, "--skip-check"]);
      expectNoKeyMaterial(run, world.novala.model.issuedKeyMaterial());
      expect(run.code).toBe(1);
      // A retry cannot fix it: the rotation ended (no abort needed), and the reason names both ways out.
      expect(run.stderr).toMatch(
        /rotation of novala\/acumatica failed: the rotation ended at createSecret: secret novala\/acumatica AWSCURRENT: field "baseUrl" names a host outside NOVALA_ALLOWED_HOSTS \(\*\.novala\.ai\).*\. Allow its host in NOVALA_ALLOWED_HOSTS \(allowedHosts\), or put the right pair in with `novala-rotation put-key novala\/acumatica`/,
      );
      expect(run.stderr).not.toContain("novala-rotation abort");
      expect(Object.values(await world.stagesOf(arn)).flat()).not.toContain("AWSPENDING");
      expect(world.novala.requestLog()).toEqual([]);
      expect((await world.valueAt(arn, "AWSCURRENT")).keyId).toBe(consumer.id);
    });
  });

  describe("item 8: the small ones", () => {
    it("exits quietly when the reader of its output goes away (| head)", async () => {
      for (const args of [["--help"], ["status", "novala/acumatica"]]) {
        const run = await runCli(args, { endpoint: world.moto.endpoint, closeStdout: true });
        expect(run.stderr).not.toMatch(/EPIPE|\n\s+at /);
        expect(run.code).toBe(0);
      }
    });

    it("rotate --help shows the --timeout default as a duration", async () => {
      const help = await runCli(["rotate", "--help"]);
      expect(help.code).toBe(0);
      expect(help.stdout).not.toContain("900000");
      expect(help.stdout).toMatch(
        /--timeout <duration> +stop following after this long \(exit 3\)\s+\(default:\s+15m\)/,
      );
    });
  });
});
