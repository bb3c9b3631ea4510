/**
 * An operator's day with a fleet (issue 18, items 3 and 4): `rotate` refuses what can only get stuck and tells the
 * truth about what is left, a mass rotation stops on its breaker, `--dry-run` starts nothing, `abort` takes the same
 * selections with progress and a bounded time, and Ctrl-C says what it stopped. Each command is a child process against
 * moto and the Novala simulator, the rotation function "deployed" (registered in moto) and the steps run here.
 */
import { spawn } from "node:child_process";
import { DeleteScheduleGroupCommand } from "@aws-sdk/client-scheduler";
import { PutSecretValueCommand } from "@aws-sdk/client-secrets-manager";
import { beforeEach, describe, expect, it } from "vitest";
import { LOCAL_ROTATION_LAMBDA_ARN } from "../../cli/secrets-manager-driver.js";
import type { CreatedNovalaKey } from "../../lambdas/core/ports.js";
import { recordChildOutput } from "../support/child-output.js";
import { useMotoAndSimulator } from "../support/integration.js";
import { motoSuiteTitle, skipMoto, TEST_SCHEDULE_GROUP } from "../support/moto.js";
import { type CliRun, cliEnvironment, expectNoKeyMaterial, runCli } from "../support/run-cli.js";

const HERE = ["--run-steps", "--lambda-arn", LOCAL_ROTATION_LAMBDA_ARN];
const FIRST = [...HERE, "--schedule", "rate(30 days)"];
const FLEET_SIZE = 12;

describe.skipIf(skipMoto)(motoSuiteTitle("novala-rotation: rotate's truth, the breaker, --dry-run, abort"), () => {
  const world = useMotoAndSimulator({ POWERTOOLS_METRICS_DISABLED: "true", POWERTOOLS_LOG_LEVEL: "CRITICAL" });
  let manager: CreatedNovalaKey;
  let managerArn: string;

  beforeEach(async () => {
    manager = world.novala.model.seedKey({ name: "Rotation manager", scopes: ["api_keys.manage"] });
    managerArn = await world.createSecret("novala/manager", manager);
  });

  async function cli(args: string[]): Promise<CliRun> {
    const run = await runCli(args, { endpoint: world.moto.endpoint });
    expectNoKeyMaterial(run, world.novala.model.issuedKeyMaterial());
    return run;
  }

  async function consumerSecret(name: string, scopes = ["leads.lead.read"]): Promise<CreatedNovalaKey> {
    const key = world.novala.model.seedKey({ name: `Consumer ${name}`, scopes });
    await world.createSecret(name, key, { managerSecretId: managerArn });
    return key;
  }

  /** FLEET_SIZE consumer secrets under novala/fleet/. */
  async function fleet(): Promise<string[]> {
    const names = Array.from({ length: FLEET_SIZE }, (_, i) => `novala/fleet/s${String(i).padStart(2, "0")}`);
    for (const name of names) await consumerSecret(name);
    return names;
  }

  /** The secrets that hold a rotation in progress (AWSPENDING on a version that is not AWSCURRENT). */
  async function stuck(names: string[]): Promise<string[]> {
    const pending: string[] = [];
    for (const name of names) {
      const stages = Object.values(await world.stagesOf(name));
      if (stages.some((labels) => labels.includes("AWSPENDING") && !labels.includes("AWSCURRENT"))) pending.push(name);
    }
    return pending;
  }

  const creates = () => world.keyWrites().filter((write) => write.startsWith("POST")).length;

  describe("rotate checks the current key before RotateSecret, and refuses with the fix; nothing changed", () => {
    beforeEach(() => world.deployRotationFunction(0));

    async function expectRefusal(secret: string, fix: RegExp): Promise<void> {
      const versionsBefore = Object.keys(await world.stagesOf(secret));
      const run = await cli(["rotate", secret, ...FIRST]);
      expect(run.code).toBe(1);
      expect(run.stderr).toMatch(new RegExp(`refusing to rotate ${secret.replace("/", "\\/")}: `));
      expect(run.stderr).toMatch(fix);
      expect(run.stderr).toContain("Nothing was changed");
      expect(Object.keys(await world.stagesOf(secret))).toEqual(versionsBefore);
      expect(creates()).toBe(0);
    }

    it("a self-managed secret whose key Novala has revoked", async () => {
      const key = world.novala.model.seedKey({ name: "Self", scopes: ["leads.lead.read", "api_keys.manage"] });
      await world.createSecret("novala/self", key);
      world.novala.model.revoke(key.secretKey, key.id);
      await expectRefusal(
        "novala/self",
        /answers 401 at Novala.*Put the pair that works in with `novala-rotation put-key novala\/self --self-managed`/,
      );
    });

    it("a consumer whose manager key is dead names the manager secret in the fix", async () => {
      await consumerSecret("novala/acumatica");
      world.novala.model.revoke(manager.secretKey, manager.id);
      await expectRefusal(
        "novala/acumatica",
        /the manager key key_\w+ of manager secret .*novala\/manager.* answers 401 at Novala.*`novala-rotation put-key .*novala\/manager --self-managed`/,
      );
    });

    it("a value that does not parse names the field", async () => {
      const key = await consumerSecret("novala/acumatica");
      const broken = { keyId: key.id, baseUrl: world.novala.url, name: "x", managerSecretId: managerArn };
      await world.secrets.send(
        new PutSecretValueCommand({ SecretId: "novala/acumatica", SecretString: JSON.stringify(broken) }),
      );
      await expectRefusal("novala/acumatica", /field "scopes" is missing.*`novala-rotation put-key novala\/acumatica`/);
    });
  });

  it("finishSecret failing after the promotion: exit 1, what happened, and what is left to do with the commands", async () => {
    await world.deployRotationFunction(3600);
    const old = await consumerSecret("novala/acumatica");
    // The revocation schedule group is gone: finishSecret promotes, then cannot schedule the old key's revocation.
    await world.scheduler.send(new DeleteScheduleGroupCommand({ Name: TEST_SCHEDULE_GROUP }));

    const run = await cli(["rotate", "novala/acumatica", ...FIRST]);
    expect(run.code).toBe(1);
    const current = String((await world.valueAt("novala/acumatica", "AWSCURRENT")).keyId);
    expect(current).not.toBe(old.id);
    expect(run.stdout).toContain("rotation failed   finishSecret failed after the promotion: CreateSchedule");
    expect(run.stdout).toContain(
      `left to do: old key ${old.id} is still active at Novala and no revocation is scheduled for it in group ${TEST_SCHEDULE_GROUP}: ` +
        "run `novala-rotation revoke-due novala/acumatica`",
    );
    expect(run.stdout).toContain("or `novala-rotation revoke novala/acumatica` to revoke it now");
    expect(run.stdout).not.toContain("Rotation succeeded");
    expect(run.stderr).toContain(
      `rotation of novala/acumatica promoted key ${current}, then failed: finishSecret failed`,
    );
    expect(world.status(old.id)).toBe("active");
  });

  it("the breaker: Novala down, 12 secrets: stops at once, names those in flight, a table, exit 1, nothing started", async () => {
    await world.deployRotationFunction(0, { rotationConcurrency: 3 });
    const names = await fleet();
    await world.novala.stop();

    const run = await cli(["rotate", "--prefix", "novala/fleet/", ...FIRST]);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/stopped: Novala is unreachable \(the check of novala\/fleet\/s\d\d could not ask it\)/);
    expect(run.stderr).toMatch(/in flight, followed to their end: novala\/fleet\/s\d\d|nothing is in flight/);
    const rows = run.stdout.split("\n").filter((line) => line.startsWith("│ novala/fleet/"));
    expect(rows).toHaveLength(FLEET_SIZE);
    const notStarted = rows.filter((row) => row.includes("│ not started │"));
    expect(notStarted.length).toBeGreaterThanOrEqual(FLEET_SIZE - 3);
    expect(notStarted[0]).toContain("the run stopped: Novala is unreachable");
    expect(rows.filter((row) => row.includes("│ refused ")).length).toBe(FLEET_SIZE - notStarted.length);
    expect(run.stdout).toMatch(/Stopped: Novala is unreachable .*In flight then, followed to their end: /);
    // The check refused before RotateSecret: no rotation is left stuck.
    expect(await stuck(names)).toEqual([]);
  });

  it("the breaker: Novala failing every create: stops after 3 failures in a row; only those in flight are stuck; abort --prefix ends them", async () => {
    await world.deployRotationFunction(0, { rotationConcurrency: 2 });
    const names = await fleet();
    world.novala.injectFault({ match: "POST /api/v1/api-keys", kind: "status", status: 503, count: 10_000 });

    const run = await cli(["rotate", "--prefix", "novala/fleet/", ...FIRST, "--json"]);
    expect(run.code).toBe(1);
    const report = JSON.parse(run.stdout);
    expect(report.stopped.reason).toMatch(/^3 rotations failed in a row \(--stop-after-failures 3; the last: /);
    const failed = report.results.filter((row: { outcome: string }) => row.outcome === "failed");
    const notStarted = report.results.filter((row: { outcome: string }) => row.outcome === "not started");
    expect(failed.length).toBeGreaterThanOrEqual(3);
    expect(failed.length).toBeLessThanOrEqual(3 + 1); // the third failure, and at most one more in flight (concurrency 2)
    expect(notStarted.length).toBe(FLEET_SIZE - failed.length);
    expect(failed.every((row: { pendingLeft?: boolean }) => row.pendingLeft)).toBe(true);
    const left = await stuck(names);
    expect(left.sort()).toEqual(failed.map((row: { secret: string }) => row.secret).sort());

    // abort takes the same selection: progress on stderr, a table of what it ended, nothing stuck after it.
    world.novala.clearFaults();
    const aborted = await cli(["abort", "--prefix", "novala/fleet/", "--force"]);
    expect(aborted.code, aborted.stderr).toBe(0);
    expect(aborted.stderr).toContain(
      `${FLEET_SIZE} secret(s) match --prefix novala/fleet/; ending the rotations stuck`,
    );
    expect(aborted.stderr).toMatch(new RegExp(`\\[${FLEET_SIZE}/${FLEET_SIZE}\\] novala/fleet/s\\d\\d: `));
    for (const secret of left) expect(aborted.stdout).toMatch(new RegExp(`│ ${secret} +│ [0-9a-f-]+ │ aborted `));
    expect(aborted.stdout).toContain(`${left.length} aborted, ${FLEET_SIZE - left.length} nothing to abort`);
    expect(await stuck(names)).toEqual([]);
  });

  it("abort on a dead Novala: bounded by --timeout, ends the rotations, says what is unchecked and the next step (exit 1)", async () => {
    await world.deployRotationFunction(0);
    const names = await fleet();
    world.novala.injectFault({ match: "POST /api/v1/api-keys", kind: "status", status: 503, count: 10_000 });
    await cli(["rotate", "--prefix", "novala/fleet/s0", ...FIRST, "--stop-after-failures", "0", "--concurrency", "5"]);
    const left = await stuck(names);
    expect(left.length).toBeGreaterThan(0);
    await world.novala.stop();

    const started = Date.now();
    const run = await cli([
      "abort",
      "--prefix",
      "novala/fleet/",
      "--force",
      "--timeout",
      "3s",
      "--concurrency",
      "10",
      "--json",
    ]);
    expect(Date.now() - started).toBeLessThan(30_000);
    expect(run.code).toBe(1);
    const failed = JSON.parse(run.stdout).results.filter((row: { outcome: string }) => row.outcome === "failed");
    expect(failed.map((row: { secret: string }) => row.secret).sort()).toEqual([...left].sort());
    for (const row of failed) {
      expect(row.reason).toMatch(
        new RegExp(
          `^Novala could not be reached or kept failing .*AWSPENDING was removed \\(the rotation is ended\\), but the keys minted for it were not checked\\. Run \`novala-rotation abort ${row.secret} --token ${row.token}\` to sweep them once Novala answers`,
        ),
      );
    }
    expect(run.stderr).toMatch(/waiting for Novala to revoke the keys minted for rotation .* \(gives up after 3 s/);
    // The rotations are ended (AWSPENDING goes first, so no step can promote a key the abort revokes).
    expect(await stuck(names)).toEqual([]);
  });

  it("--dry-run lists what it would rotate, follow, skip or refuse, and why; it starts nothing", async () => {
    await world.deployRotationFunction(0);
    await consumerSecret("novala/fleet/fresh");
    await consumerSecret("novala/fleet/rotated");
    const broken = await consumerSecret("novala/fleet/broken");
    expect((await cli(["rotate", "novala/fleet/rotated", ...FIRST])).code).toBe(0);
    await world.secrets.send(
      new PutSecretValueCommand({
        SecretId: "novala/fleet/broken",
        SecretString: JSON.stringify({ keyId: broken.id, baseUrl: world.novala.url, managerSecretId: managerArn }),
      }),
    );
    const writes = world.keyWrites().length;
    const before = await Promise.all(
      ["novala/fleet/fresh", "novala/fleet/rotated", "novala/fleet/broken"].map((name) => world.stagesOf(name)),
    );

    const run = await cli(["rotate", "--prefix", "novala/fleet/", "--dry-run", ...HERE, "--json"]);
    expect(run.code, run.stderr).toBe(0);
    const report = JSON.parse(run.stdout);
    expect(report.dryRun).toBe(true);
    const row = (name: string) =>
      report.results.find((entry: { secret: string }) => entry.secret === `novala/fleet/${name}`);
    expect(row("fresh")).toMatchObject({ outcome: "would rotate" });
    expect(row("rotated")).toMatchObject({
      outcome: "would skip",
      reason: expect.stringMatching(/^rotated at .*within --skip-rotated-within 1 h$/),
    });
    expect(row("broken")).toMatchObject({
      outcome: "would refuse",
      reason: expect.stringMatching(/field "name" is missing.*put-key novala\/fleet\/broken/),
    });
    const text = await cli(["rotate", "--prefix", "novala/fleet/", "--dry-run", ...HERE]);
    expect(text.stdout).toContain("1 would refuse, 1 would rotate, 1 would skip (dry run: nothing was started)");
    expect(world.keyWrites().length).toBe(writes);
    const after = await Promise.all(
      ["novala/fleet/fresh", "novala/fleet/rotated", "novala/fleet/broken"].map((name) => world.stagesOf(name)),
    );
    expect(after).toEqual(before);
  });

  it("Ctrl-C: the first stops starting and names what is in flight; with --run-steps the second says nothing runs on", async () => {
    await world.deployRotationFunction(0, { rotationConcurrency: 2 });
    await fleet();
    // Slow answers keep the first rotations in flight while Ctrl-C is pressed.
    world.novala.setSwitches({ latencyMs: 400 });
    const child = spawn(
      process.execPath,
      [
        "bin/novala-rotation.js",
        "rotate",
        "--prefix",
        "novala/fleet/",
        ...FIRST,
        "--endpoint-url",
        world.moto.endpoint,
      ],
      { env: cliEnvironment() },
    );
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    let interrupts = 0;
    child.stderr.on("data", (chunk: Buffer) => {
      stderr += chunk.toString();
      if (interrupts === 0 && stderr.includes("at most 2 rotation(s) at a time")) {
        interrupts = 1;
        setTimeout(() => child.kill("SIGINT"), 300);
      } else if (interrupts === 1 && stderr.includes("interrupted:")) {
        interrupts = 2;
        setTimeout(() => child.kill("SIGINT"), 100);
      }
    });
    const code = await new Promise<number | null>((resolve) => child.once("close", resolve));
    recordChildOutput("rotate --prefix (Ctrl-C) stdout", stdout);
    recordChildOutput("rotate --prefix (Ctrl-C) stderr", stderr);
    expect(code).toBe(1);
    expect(stderr).toMatch(
      /interrupted: \d+ secret\(s\) not started\. Still in flight, followed to their end: novala\/fleet\/s0\d/,
    );
    expect(stderr).toMatch(
      /stopped novala\/fleet\/s0\d.* mid-way: their steps ran in this process, so nothing runs on once it exits; each keeps AWSPENDING/,
    );
    expect(stdout).toContain("│ not started │");
    expect(stdout).toMatch(/interrupted: run the same command again to go on/);
  });

  it("no MaxListenersExceededWarning with more rotations in flight than an EventTarget's default limit", async () => {
    await world.deployRotationFunction(0, { rotationConcurrency: FLEET_SIZE });
    await fleet();
    const run = await cli(["rotate", "--prefix", "novala/fleet/", ...FIRST]);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stderr).not.toMatch(/MaxListenersExceededWarning|Warning:|warning:/);
  });
});
