/**
 * Answering incidents (issue 16, items 2 and 4): `leak`, `revoke` and `rollback` as an operator runs them, a child
 * process against moto and the Novala simulator, with the rotation function "deployed" (registered in moto with the
 * environment the construct writes) and the steps run here (--run-steps). Asserts what each prints, its exit code,
 * and what it leaves at Novala, in Secrets Manager and in the Scheduler group.
 */
import { GetScheduleCommand, ListSchedulesCommand } from "@aws-sdk/client-scheduler";
import { ListSecretVersionIdsCommand, PutSecretValueCommand } from "@aws-sdk/client-secrets-manager";
import { beforeEach, describe, expect, it } from "vitest";
import { LOCAL_ROTATION_LAMBDA_ARN } from "../../cli/secrets-manager-driver.js";
import { revocationScheduleName, revocationSchedulePrefix } from "../../lambdas/core/key-name.js";
import type { CreatedNovalaKey } from "../../lambdas/core/ports.js";
import { secretValueFor } from "../../lambdas/core/secret-value.js";
import { useMotoAndSimulator } from "../support/integration.js";
import {
  motoSuiteTitle,
  skipMoto,
  TEST_REVOCATION_FUNCTION_ARN,
  TEST_SCHEDULE_GROUP,
  TEST_SCHEDULER_ROLE_ARN,
} from "../support/moto.js";
import { type CliRun, expectNoKeyMaterial, runCli } from "../support/run-cli.js";
import { unwrapTables } from "../support/table.js";

/** The steps run here, with the registered rotation function's configuration. */
const HERE = ["--run-steps", "--lambda-arn", LOCAL_ROTATION_LAMBDA_ARN];
const HOUR = 3600;

describe.skipIf(skipMoto)(motoSuiteTitle("novala-rotation leak, revoke and rollback: answering incidents"), () => {
  const world = useMotoAndSimulator({ POWERTOOLS_METRICS_DISABLED: "true", POWERTOOLS_LOG_LEVEL: "CRITICAL" });
  let manager: CreatedNovalaKey;
  let managerArn: string;
  let consumer: CreatedNovalaKey;
  let arn: string;

  beforeEach(async () => {
    manager = world.novala.model.seedKey({ name: "Rotation manager", scopes: ["api_keys.manage"] });
    managerArn = await world.createSecret("novala/manager", manager);
    consumer = world.novala.model.seedKey({ name: "Acumatica Integration", scopes: ["leads.lead.read", "pipeline"] });
    arn = await world.createSecret("novala/acumatica", consumer, { managerSecretId: managerArn });
    await deploy(HOUR);
  });

  function deploy(graceSeconds: number): Promise<void> {
    return world.deployRotationFunction(graceSeconds, { rotationConcurrency: 2 });
  }

  async function cli(args: string[]): Promise<CliRun> {
    const run = await runCli(args, { endpoint: world.moto.endpoint });
    expectNoKeyMaterial(run, world.novala.model.issuedKeyMaterial());
    return run;
  }

  async function keyIdAt(secretId: string, stage: string): Promise<string> {
    return String((await world.valueAt(secretId, stage)).keyId);
  }

  /** A rotation as `rotate` runs it, leaving the old key in its grace period (its revocation scheduled). */
  async function rotateWithGrace(secretId = "novala/acumatica"): Promise<void> {
    const run = await cli(["rotate", secretId, ...HERE, "--schedule", "rate(30 days)"]);
    expect(run.code, run.stderr).toBe(0);
  }

  /** The names of the pending revocation schedules of a secret. */
  async function schedulesOf(secretArn: string): Promise<string[]> {
    const listed = await world.scheduler.send(
      new ListSchedulesCommand({ GroupName: TEST_SCHEDULE_GROUP, NamePrefix: revocationSchedulePrefix(secretArn) }),
    );
    return (listed.Schedules ?? []).map((schedule) => schedule.Name as string).sort();
  }

  /** Whether Novala accepts the secret key AWSCURRENT holds, as a consumer that re-read the secret would use it. */
  async function currentKeyWorks(secretId: string): Promise<boolean> {
    const current = await world.valueAt(secretId, "AWSCURRENT");
    const answer = await fetch(`${world.novala.url}/api/v1/api-keys/self`, {
      headers: { authorization: `Bearer ${String(current.secretKey)}` },
    });
    return answer.status === 200;
  }

  async function versionsOf(secretId: string): Promise<string> {
    const listed = await world.secrets.send(
      new ListSecretVersionIdsCommand({ SecretId: secretId, IncludeDeprecated: true }),
    );
    return JSON.stringify(
      (listed.Versions ?? []).map((version) => [version.VersionId, [...(version.VersionStages ?? [])].sort()]).sort(),
    );
  }

  const deletes = () => world.keyWrites().filter((write) => write.startsWith("DELETE"));

  describe("leak", () => {
    it("one secret: revokes the old key right after the promotion (and the one still in its grace), nothing left pending; table and --json", async () => {
      // An earlier rotation: the original key waits out its grace period (a schedule), and may be the one that leaked.
      await rotateWithGrace();
      const earlier = consumer.id;
      const old = await keyIdAt(arn, "AWSCURRENT");
      expect(await schedulesOf(arn)).toEqual([revocationScheduleName(arn, earlier)]);
      const writesBefore = world.keyWrites().length;

      const run = await cli(["leak", "novala/acumatica", "--yes", ...HERE]);
      expect(run.code, run.stderr).toBe(0);
      const fresh = await keyIdAt(arn, "AWSCURRENT");
      expect(fresh).not.toBe(old);
      expect(await keyIdAt(arn, "AWSPREVIOUS")).toBe(old);
      // At Novala: the replacement created, then the old key and the earlier one revoked; nothing else.
      expect(world.keyWrites().slice(writesBefore)).toEqual([
        "POST /api/v1/api-keys",
        `DELETE /api/v1/api-keys/${old}`,
        `DELETE /api/v1/api-keys/${earlier}`,
      ]);
      expect(world.status(old)).toBe("revoked");
      expect(world.status(earlier)).toBe("revoked");
      expect(world.status(fresh)).toBe("active");
      expect(world.status(manager.id)).toBe("active");
      expect(await currentKeyWorks(arn)).toBe(true);
      // finishSecret scheduled the old key's revocation (grace 1 h); the leak response removed it and the earlier one.
      expect(await schedulesOf(arn)).toEqual([]);
      const rows = run.stdout.split("\n").filter((line) => line.includes("novala/acumatica"));
      expect(rows).toHaveLength(2);
      expect(rows[0]).toMatch(new RegExp(`│ novala/acumatica │ ${old} +│ ${fresh} │ revoked +│`));
      expect(rows[1]).toMatch(new RegExp(`│ novala/acumatica │ ${earlier} \\(earlier\\) │ ${fresh} │ revoked +│`));
      expect(run.stdout).toContain("1 revoked");
      expect(run.stderr).toMatch(/\[1\/1\] novala\/acumatica: revoked/);

      const status = await cli(["status", "novala/acumatica", "--json"]);
      expect(JSON.parse(status.stdout).revocations).toEqual([]);

      // Again, as --json: it never skips a secret that has just rotated.
      const again = await cli(["leak", "novala/acumatica", "--yes", "--json", ...HERE]);
      expect(again.code, again.stderr).toBe(0);
      const newest = await keyIdAt(arn, "AWSCURRENT");
      expect(JSON.parse(again.stdout)).toEqual({
        selection: "novala/acumatica",
        concurrency: 1,
        interrupted: false,
        results: [
          expect.objectContaining({
            secret: "novala/acumatica",
            outcome: "revoked",
            oldKeyId: fresh,
            newKeyId: newest,
            schedulesRemoved: [revocationScheduleName(arn, fresh)],
            schedulesLeft: [],
            earlier: [],
          }),
        ],
      });
      expect(world.status(fresh)).toBe("revoked");
      expect(await currentKeyWorks(arn)).toBe(true);
    });

    it("a selection of 3 with one failing rotation: that one reported with its reason (exit 1), the others revoked; the manager goes last", async () => {
      const fleet: Record<string, CreatedNovalaKey> = {};
      for (const [name, scopes] of [
        ["acumatica", ["leads.lead.read"]],
        ["billing", ["leads.lead.read", "pipeline"]],
        ["crm", ["leads.lead.read"]],
      ] as const) {
        fleet[name] = world.novala.model.seedKey({ name: `Consumer ${name}`, scopes: [...scopes] });
        await world.createSecret(`novala/fleet/${name}`, fleet[name] as CreatedNovalaKey, {
          managerSecretId: managerArn,
        });
      }
      // Rotation set up on every secret (moto enables it only with a schedule), with no grace: no key left pending.
      await deploy(0);
      for (const selection of [["--prefix", "novala/fleet/"], ["novala/manager"], ["novala/acumatica"]]) {
        const setUp = await cli(["rotate", ...selection, ...HERE, "--schedule", "rate(30 days)"]);
        expect(setUp.code, setUp.stderr).toBe(0);
      }
      await deploy(HOUR);
      for (const name of Object.keys(fleet)) {
        fleet[name] = { ...(fleet[name] as CreatedNovalaKey), id: await keyIdAt(`novala/fleet/${name}`, "AWSCURRENT") };
      }
      const managerKey = await keyIdAt(managerArn, "AWSCURRENT");
      // novala/fleet/billing's new key fails its health check: its pipeline probe is refused.
      world.novala.injectFault({ match: "GET /api/v1/pipeline/deals", kind: "status", status: 403, count: 10_000 });

      const run = await cli(["leak", "--prefix", "novala/fleet/", "--yes", ...HERE]);
      expect(run.code, run.stderr).toBe(1);
      expect(run.stderr).toContain("3 secret(s) match --prefix novala/fleet/; at most 2 at a time");
      const rows = unwrapTables(run.stdout)
        .split("\n")
        .filter((line) => line.includes("novala/"));
      expect(rows).toHaveLength(3);
      expect(rows[0]).toMatch(
        new RegExp(`│ novala/fleet/acumatica │ ${fleet.acumatica?.id} +│ key_\\w+ +│ revoked +│`),
      );
      expect(rows[1]).toMatch(
        new RegExp(
          `│ novala/fleet/billing +│ ${fleet.billing?.id} +│ key_\\w+ +│ rotation failed │ the new key key_\\w+ .*failed its health check.*AWSCURRENT still holds ${fleet.billing?.id}\\..*; its old key is not revoked`,
        ),
      );
      expect(rows[2]).toMatch(new RegExp(`│ novala/fleet/crm +│ ${fleet.crm?.id} +│ key_\\w+ +│ revoked +│`));
      expect(run.stdout).toContain("2 revoked, 1 rotation failed");
      expect(run.stdout).toContain("Not every old key is revoked.");
      expect(world.status(fleet.acumatica?.id)).toBe("revoked");
      expect(world.status(fleet.crm?.id)).toBe("revoked");
      expect(world.status(fleet.billing?.id)).toBe("active");
      expect(await keyIdAt("novala/fleet/billing", "AWSCURRENT")).toBe(fleet.billing?.id);
      expect(await currentKeyWorks("novala/fleet/crm")).toBe(true);

      // The whole tenant, the manager included: it is rotated after the secrets it manages, its old key revoked last.
      world.novala.clearFaults();
      const tenant = await cli(["leak", "--prefix", "novala/", "--yes", "--json", ...HERE]);
      expect(tenant.code, tenant.stderr).toBe(0);
      expect(tenant.stderr).toContain("manager secret(s) last: novala/manager");
      const report = JSON.parse(tenant.stdout);
      expect(report.results.map((row: { secret: string; outcome: string }) => [row.secret, row.outcome])).toEqual([
        ["novala/acumatica", "revoked"],
        ["novala/fleet/acumatica", "revoked"],
        ["novala/fleet/billing", "revoked"],
        ["novala/fleet/crm", "revoked"],
        ["novala/manager", "revoked"],
      ]);
      expect(world.status(managerKey)).toBe("revoked");
      expect(world.status(fleet.billing?.id)).toBe("revoked");
      expect(await currentKeyWorks("novala/manager")).toBe(true);
    });

    it("without a terminal and without --yes: refused (exit 2), nothing changed", async () => {
      await rotateWithGrace();
      const versions = await versionsOf(arn);
      const writes = world.keyWrites().length;
      const schedules = await schedulesOf(arn);

      const [one, many] = await Promise.all([
        cli(["leak", "novala/acumatica", ...HERE]),
        cli(["leak", "--prefix", "novala/", ...HERE]),
      ]);
      for (const run of [one, many]) {
        expect(run.code).toBe(2);
        expect(run.stdout).toBe("");
        expect(run.stderr.trim().split("\n")).toHaveLength(1);
        expect(run.stderr).toContain("without confirmation: there is no terminal to ask on. Add --yes to confirm");
        expect(run.stderr).toContain("consumers still holding an old key get 401 from Novala");
      }
      expect(one.stderr).toContain("refusing to rotate novala/acumatica now and revoke its old key");
      expect(many.stderr).toContain("refusing to rotate 2 secrets (--prefix novala/) now");
      expect(await versionsOf(arn)).toBe(versions);
      expect(world.keyWrites()).toHaveLength(writes);
      expect(await schedulesOf(arn)).toEqual(schedules);
      expect(world.status(consumer.id)).toBe("active");
    });
  });

  describe("revoke", () => {
    it("revokes the key AWSPREVIOUS holds and removes its schedule; a second time it was already revoked", async () => {
      await rotateWithGrace();
      const current = await keyIdAt(arn, "AWSCURRENT");
      const name = revocationScheduleName(arn, consumer.id);
      expect(await schedulesOf(arn)).toEqual([name]);
      // A postponed check of the same key (<name>-p<n>) goes with it; a longer key id's schedule (same prefix) stays.
      const later = new Date(Date.now() + HOUR * 1000);
      await world.createRevocationSchedule(`${name}-p1`, { secretId: arn, keyId: consumer.id }, later);
      const longer = revocationScheduleName(arn, `${consumer.id}0`);
      await world.createRevocationSchedule(longer, { secretId: arn, keyId: `${consumer.id}0` }, later);

      const refused = await cli(["revoke", "novala/acumatica"]);
      expect(refused.code).toBe(2);
      expect(refused.stderr).toContain(
        `refusing to revoke key ${consumer.id} of novala/acumatica at Novala now without confirmation`,
      );
      expect(world.status(consumer.id)).toBe("active");

      const run = await cli(["revoke", "novala/acumatica", "--yes"]);
      expect(run.code, run.stderr).toBe(0);
      expect(run.stdout).toContain(`Revoked key ${consumer.id} (AWSPREVIOUS) of novala/acumatica at Novala.`);
      expect(run.stdout).toContain(
        `removed schedule ${TEST_SCHEDULE_GROUP}/${name}, which would have revoked it later`,
      );
      expect(run.stdout).toContain(
        `removed schedule ${TEST_SCHEDULE_GROUP}/${name}-p1, which would have revoked it later`,
      );
      expect(run.stdout).toContain(`AWSCURRENT holds key ${current}, untouched`);
      expect(world.status(consumer.id)).toBe("revoked");
      expect(world.status(current)).toBe("active");
      expect(await schedulesOf(arn)).toEqual([longer]);
      expect(deletes()).toEqual([`DELETE /api/v1/api-keys/${consumer.id}`]);

      const again = await cli(["revoke", "novala/acumatica", "--yes", "--json"]);
      expect(again.code, again.stderr).toBe(0);
      expect(JSON.parse(again.stdout)).toEqual({
        secretId: "novala/acumatica",
        arn,
        keyId: consumer.id,
        heldAs: "AWSPREVIOUS",
        currentKeyId: current,
        scheduleGroup: TEST_SCHEDULE_GROUP,
        outcome: "already-revoked",
        schedulesRemoved: [],
        schedulesLeft: [],
      });
    });

    it("refuses AWSCURRENT's key, AWSPENDING's key, the manager key and another team's key (exit 1), revoking nothing", async () => {
      await rotateWithGrace();
      const current = await keyIdAt(arn, "AWSCURRENT");
      const other = world.novala.model.seedKey({ name: "Other team", scopes: ["leads.lead.read"] });
      await world.createSecret("novala/other-team", other, { managerSecretId: managerArn });
      // A stored AWSPENDING (a rotation under way), and a version claiming the other team's key with a secret key
      // that authenticates as this secret's current key: neither proves anything.
      const pending = world.novala.model.seedKey({ name: "Acumatica Integration", scopes: ["leads.lead.read"] });
      await world.secrets.send(
        new PutSecretValueCommand({
          SecretId: arn,
          SecretString: secretValueFor(world.novala.url, pending, { managerSecretId: managerArn }),
          VersionStages: ["AWSPENDING"],
        }),
      );
      const currentSecretKey = String((await world.valueAt(arn, "AWSCURRENT")).secretKey);
      await world.secrets.send(
        new PutSecretValueCommand({
          SecretId: arn,
          SecretString: secretValueFor(
            world.novala.url,
            { ...other, secretKey: currentSecretKey },
            { managerSecretId: managerArn },
          ),
          VersionStages: ["planted"],
        }),
      );
      const writes = world.keyWrites().length;
      const schedules = await schedulesOf(arn);

      const cases: [string, string][] = [
        [current, "refused to revoke a key that the secret still holds (AWSCURRENT)"],
        [pending.id, "refused to revoke a key that the secret still holds (AWSPENDING)"],
        [manager.id, "refused to revoke a key that no retired version of the secret holds"],
        [other.id, `its secret key authenticates as key ${current}, not ${other.id}`],
      ];
      const runs = await Promise.all(
        cases.map(([keyId]) => cli(["revoke", "novala/acumatica", "--key-id", keyId, "--yes"])),
      );
      for (const [index, [keyId, reason]] of cases.entries()) {
        const run = runs[index] as CliRun;
        expect(run.code, run.stderr).toBe(1);
        expect(run.stdout).toBe("");
        expect(run.stderr.trim().split("\n")).toHaveLength(1);
        expect(run.stderr).toMatch(
          new RegExp(
            `^novala-rotation: key ${keyId} of novala/acumatica was not revoked \\(the revocation rule refused it\\): `,
          ),
        );
        expect(run.stderr).toContain(reason);
      }
      const json = await cli(["revoke", "novala/acumatica", "--key-id", manager.id, "--yes", "--json"]);
      expect(json.code).toBe(1);
      expect(JSON.parse(json.stdout)).toMatchObject({ keyId: manager.id, heldAs: null, outcome: "refused" });
      expect(world.keyWrites()).toHaveLength(writes);
      for (const keyId of [current, pending.id, manager.id, other.id]) expect(world.status(keyId)).toBe("active");
      expect(await schedulesOf(arn)).toEqual(schedules);
    });
  });

  describe("rollback", () => {
    it("by default gives the key rolled away from the deployment's grace period: a schedule, the key still active", async () => {
      await rotateWithGrace();
      const previous = consumer.id;
      const rotated = await keyIdAt(arn, "AWSCURRENT");

      const run = await cli(["rollback", "novala/acumatica"]);
      expect(run.code, run.stderr).toBe(0);
      const name = revocationScheduleName(arn, rotated);
      expect(run.stdout).toMatch(
        new RegExp(
          `${rotated} will be revoked at \\d{4}-\\d\\d-\\d\\d [\\d:]+Z \\(the deployment's grace period 1 h, schedule ` +
            `${TEST_SCHEDULE_GROUP}/${name}\\); consumers that moved to it keep working until then`,
        ),
      );
      expect(run.stdout).toContain(`to revoke it earlier: novala-rotation revoke novala/acumatica --key-id ${rotated}`);
      expect(await keyIdAt(arn, "AWSCURRENT")).toBe(previous);
      expect(world.status(rotated)).toBe("active");
      expect(deletes()).toEqual([]);
      const schedule = await world.scheduler.send(
        new GetScheduleCommand({ GroupName: TEST_SCHEDULE_GROUP, Name: name }),
      );
      expect(schedule.Target).toMatchObject({ Arn: TEST_REVOCATION_FUNCTION_ARN, RoleArn: TEST_SCHEDULER_ROLE_ARN });
      expect(JSON.parse(schedule.Target?.Input ?? "{}")).toMatchObject({ secretId: arn, keyId: rotated });
      const at = Date.parse(`${/^at\((.+)\)$/.exec(schedule.ScheduleExpression ?? "")?.[1]}Z`);
      expect(at - Date.now()).toBeGreaterThan((HOUR - 120) * 1000);
      expect(at - Date.now()).toBeLessThanOrEqual(HOUR * 1000 + 1000);
      // The restored key's own revocation schedule (from the rotation) is gone: only the retired key's is left.
      expect(await schedulesOf(arn)).toEqual([name]);
    });

    it("--revoke-now asks (refused without a terminal or --yes); with --yes revokes at once; a deployment grace of 0 says so", async () => {
      await rotateWithGrace();
      const rotated = await keyIdAt(arn, "AWSCURRENT");

      const refused = await cli(["rollback", "novala/acumatica", "--revoke-now"]);
      expect(refused.code).toBe(2);
      expect(refused.stderr).toContain(
        `refusing to roll novala/acumatica back to key ${consumer.id} and revoke key ${rotated} at once without confirmation`,
      );
      expect(refused.stderr).toContain(`consumers that already moved to ${rotated} get 401 from Novala`);
      expect(await keyIdAt(arn, "AWSCURRENT")).toBe(rotated);
      expect(await schedulesOf(arn)).toEqual([revocationScheduleName(arn, consumer.id)]);

      const both = await cli(["rollback", "novala/acumatica", "--revoke-now", "--grace", "10m"]);
      expect(both.code).toBe(2);
      expect(both.stderr).toContain("cannot be used with option '--grace <duration>'");

      const run = await cli(["rollback", "novala/acumatica", "--revoke-now", "--yes", "--json"]);
      expect(run.code, run.stderr).toBe(0);
      expect(JSON.parse(run.stdout)).toMatchObject({
        restoredKeyId: consumer.id,
        retiredKeyId: rotated,
        retirement: { keyId: rotated, outcome: "revoked", because: "--revoke-now" },
      });
      expect(world.status(rotated)).toBe("revoked");
      expect(await keyIdAt(arn, "AWSCURRENT")).toBe(consumer.id);
      expect(await schedulesOf(arn)).toEqual([]);

      // A deployment whose grace period is 0 (now) revokes at once, as its rotations do, and says why.
      await rotateWithGrace();
      const second = await keyIdAt(arn, "AWSCURRENT");
      await deploy(0);
      const zero = await cli(["rollback", "novala/acumatica"]);
      expect(zero.code, zero.stderr).toBe(0);
      expect(zero.stdout).toContain(
        `${second}: revoked at Novala (at once, because the deployment's grace period is 0)`,
      );
      expect(world.status(second)).toBe("revoked");
    });
  });
});
