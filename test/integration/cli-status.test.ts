/**
 * `novala-rotation status` that never lies, and its fleet view (issue 18, items 1 and 2), each through the command
 * line as an operator runs it — a child process against moto and the Novala simulator — asserting the verdict it
 * prints, its exit code, and that nothing it prints carries key material or a control character from outside.
 */
import { TagResourceCommand } from "@aws-sdk/client-secrets-manager";
import { afterEach, describe, expect, it } from "vitest";
import { startRotation } from "../../cli/secrets-manager-driver.js";
import { OUTCOME_TAG, REASON_TAG } from "../../lambdas/contract/rotation-outcome.js";
import { SEVERITY } from "../../lambdas/core/verdict.js";
import { type NovalaSimulator, startNovalaSimulator } from "../../local/novala-simulator.js";
import { type FleetState, seedFleet } from "../support/fleet.js";
import { useMotoAndSimulator } from "../support/integration.js";
import { motoSuiteTitle, skipMoto } from "../support/moto.js";
import { type CliRun, expectNoKeyMaterial, runCli } from "../support/run-cli.js";

/** What a consumer or Novala could write to clear the operator's screen and draw a verdict of its own. */
const ATTACK = "\u001b[2J\u001b[Hhealthy";

describe.skipIf(skipMoto)(
  motoSuiteTitle("novala-rotation status: a verdict that never lies, and the fleet view"),
  () => {
    const world = useMotoAndSimulator({ POWERTOOLS_LOG_LEVEL: "CRITICAL" });
    let hanging: NovalaSimulator | undefined;

    afterEach(async () => {
      await hanging?.stop();
      hanging = undefined;
    });

    async function cli(args: string[]): Promise<CliRun> {
      const run = await runCli(args, { endpoint: world.moto.endpoint });
      expectNoKeyMaterial(run, world.novala.model.issuedKeyMaterial());
      return run;
    }

    const firstLine = (run: CliRun) => run.stdout.split("\n")[0];

    it("a self-managed secret whose key Novala revoked: unhealthy (exit 4), and the fix", async () => {
      const key = world.novala.model.seedKey({ name: "Self-managed", scopes: ["api_keys.manage", "pipeline"] });
      await world.createSecret("novala/self", key);
      world.novala.model.forceRevoke(key.id);
      const [text, json] = await Promise.all([
        cli(["status", "novala/self", "--check"]),
        cli(["status", "novala/self", "--check", "--json"]),
      ]);
      expect(text.code).toBe(4);
      expect(firstLine(text)).toBe(
        `Verdict  current key ${key.id} answers 401 at Novala (revoked, rotated outside this rotator, or not propagated ` +
          "yet): consumers cannot use it, and it cannot rotate itself",
      );
      expect(text.stdout).toContain("put a working key pair in: novala-rotation put-key novala/self");
      expect(text.stdout).toMatch(/│ AWSCURRENT │ key_\w+ +│ Self-managed │ .* │ 401 +│/);
      expect(json.code).toBe(4);
      expect(JSON.parse(json.stdout).verdict).toMatchObject({
        health: "unhealthy",
        state: "current-key-unauthorized",
        problems: [expect.objectContaining({ kind: "current-key-unauthorized", keyId: key.id })],
      });
    });

    it("the manager secret revoked: it is unhealthy, and its consumers' rotations will fail", async () => {
      const manager = world.novala.model.seedKey({ name: "Rotation manager", scopes: ["api_keys.manage"] });
      const consumer = world.novala.model.seedKey({ name: "Acumatica Integration", scopes: ["pipeline"] });
      const managerArn = await world.createSecret("novala/manager", manager);
      await world.createSecret("novala/acumatica", consumer, { managerSecretId: managerArn });
      world.novala.model.forceRevoke(manager.id);

      const [ofConsumer, ofManager] = await Promise.all([
        cli(["status", "novala/acumatica", "--check"]),
        cli(["status", "novala/manager", "--check"]),
      ]);
      expect(ofConsumer.code).toBe(4);
      expect(firstLine(ofConsumer)).toBe(
        `Verdict  rotations will fail: the manager key ${manager.id} of manager secret novala/manager answers 401 at ` +
          "Novala (revoked, or rotated outside this rotator); the current key was not checked",
      );
      // The fix names the deployment's manager, never a command on the id the consumer's value wrote.
      expect(ofConsumer.stdout).toContain("put a working manager pair into the deployment's manager secret");
      expect(ofConsumer.stdout).not.toContain("put-key novala/manager");
      expect(ofManager.code).toBe(4);
      expect(firstLine(ofManager)).toMatch(new RegExp(`^Verdict  current key ${manager.id} answers 401 at Novala`));
    });

    it("a value that does not parse: unhealthy, naming the field, without --check and without asking Novala", async () => {
      const key = world.novala.model.seedKey({ name: "Acumatica Integration", scopes: ["pipeline"] });
      await world.createSecret("novala/broken", key, { keyId: undefined, scopes: "pipeline" });
      world.novala.clearRequestLog();
      const [text, json] = await Promise.all([
        cli(["status", "novala/broken"]),
        cli(["status", "novala/broken", "--json"]),
      ]);
      expect(text.code).toBe(4);
      expect(firstLine(text)).toBe(
        `Verdict  AWSCURRENT's value is unusable: field "keyId" is missing; field "scopes" must be a array: consumers ` +
          "may fail to read it and rotations fail",
      );
      expect(text.stdout).toContain("put a working key pair in: novala-rotation put-key novala/broken");
      expect(JSON.parse(json.stdout).verdict.problems[0]).toMatchObject({
        kind: "current-value-invalid",
        reason: 'field "keyId" is missing; field "scopes" must be a array',
      });
      expect(world.novala.requestLog()).toEqual([]);
    });

    it("rotation not enabled is a warning: shown under a healthy verdict, exit 0", async () => {
      const manager = world.novala.model.seedKey({ name: "Rotation manager", scopes: ["api_keys.manage"] });
      const consumer = world.novala.model.seedKey({ name: "Acumatica Integration", scopes: ["pipeline"] });
      const managerArn = await world.createSecret("novala/manager", manager);
      await world.createSecret("novala/acumatica", consumer, { managerSecretId: managerArn });
      const [text, json] = await Promise.all([
        cli(["status", "novala/acumatica", "--check"]),
        cli(["status", "novala/acumatica", "--check", "--json"]),
      ]);
      expect(text.code).toBe(0);
      expect(text.stdout.split("\n").slice(0, 2)).toEqual([
        "Verdict  healthy",
        "         warning: rotation is not enabled: nothing rotates this secret (rotate --lambda-arn … --schedule … sets it up)",
      ]);
      expect(json.code).toBe(0);
      expect(JSON.parse(json.stdout).verdict).toMatchObject({
        health: "warning",
        healthy: true,
        problems: [],
        warnings: [expect.objectContaining({ kind: "rotation-not-enabled" })],
      });
    });

    it("the fleet view: one of each state, worst first, a summary, the worst exit code, --json; and its selections", async () => {
      hanging = await startNovalaSimulator();
      const expected = await seedFleet(
        {
          motoEndpoint: world.moto.endpoint,
          secrets: world.secrets,
          scheduler: world.scheduler,
          novala: world.novala,
          hangingNovala: hanging,
        },
        { prefix: "fleet/", healthy: 12 },
      );
      const select = ["status", "--prefix", "fleet/", "--check", "--check-timeout", "2s"];
      const [text, json] = await Promise.all([cli(select), cli([...select, "--json"])]);

      expect(json.code).toBe(4);
      const report = JSON.parse(json.stdout);
      expect(report.secrets).toHaveLength(expected.size);
      const states = new Map<string, FleetState>(
        report.secrets.map((entry: { secret: string; verdict: { state: FleetState } }) => [
          entry.secret,
          entry.verdict.state,
        ]),
      );
      expect(states).toEqual(expected);
      // Worst first: unhealthy by severity, then unknown, the warning, the healthy ones.
      const order = report.secrets.map((entry: { verdict: { state: FleetState } }) => entry.verdict.state);
      const rank = (state: FleetState) => (state === "healthy" ? SEVERITY.length : SEVERITY.indexOf(state));
      expect(order).toEqual([...order].sort((a: FleetState, b: FleetState) => rank(a) - rank(b)));
      expect(report.summary).toMatchObject({
        total: expected.size,
        unhealthy: 14,
        unknown: 2,
        warning: 1,
        healthy: 13,
      });
      // Each entry carries what single status's verdict does, and the row's figures.
      expect(
        report.secrets.find((entry: { secret: string }) => entry.secret === "fleet/revocation-overdue"),
      ).toMatchObject({
        verdict: { health: "unhealthy", problems: [expect.objectContaining({ kind: "revocation-overdue" })] },
        pendingRevocations: { count: 1, postponed: 0 },
        currentKey: { keyId: expect.stringMatching(/^key_/), ageSeconds: expect.any(Number) },
        lastRotated: expect.any(String),
        nextRotation: expect.any(String),
      });

      expect(text.code).toBe(4);
      expect(text.stderr).toBe("");
      const rows = text.stdout.split("\n").filter((line) => /^│ fleet\//.test(line));
      expect(rows[0]).toMatch(
        /^│ fleet\/current-value-invalid +│ AWSCURRENT's value is unusable: field "keyId" is missing/,
      );
      expect(rows.at(-1)).toMatch(/^│ fleet\/manager +│ healthy/);
      expect(text.stdout).toMatch(
        new RegExp(
          `\\n${expected.size} secrets: 14 unhealthy, 2 unknown, 1 warning, 13 healthy \\(1 current-value-invalid, ` +
            "1 current-key-revoked, 1 current-key-unknown, 2 current-key-unauthorized, 1 manager-secret-invalid, " +
            "1 manager-key-dead, 1 rotation-stuck, 1 last-rotation-ended, 1 last-rotation-failed, " +
            "1 last-rotation-rolled-back, 1 revocation-overdue, 1 previous-key-unscheduled, 1 rotation-in-progress, " +
            "2 novala-unreachable, 1 rotation-not-enabled\\)\\n",
        ),
      );
      // Every table line fits the width off a terminal; the long reasons wrap.
      for (const line of text.stdout.split("\n").filter((row) => /^[│┌├└]/.test(row))) {
        expect(line.length).toBeLessThanOrEqual(200);
      }

      // Without --check Novala is not asked: the dead keys do not show, the rest does.
      const unchecked = await cli(["status", "--prefix", "fleet/", "--json"]);
      const uncheckedStates = JSON.parse(unchecked.stdout).secrets.map(
        (entry: { verdict: { state: string } }) => entry.verdict.state,
      );
      expect(uncheckedStates).not.toContain("current-key-revoked");
      expect(uncheckedStates).toContain("current-value-invalid");
      expect(unchecked.code).toBe(4);

      // --tag (repeatable: all of them) and --all select as rotate does.
      await world.secrets.send(
        new TagResourceCommand({ SecretId: "fleet/healthy-0001", Tags: [{ Key: "team", Value: "a" }] }),
      );
      await world.secrets.send(
        new TagResourceCommand({ SecretId: "fleet/rotation-stuck", Tags: [{ Key: "team", Value: "a" }] }),
      );
      const tagged = await cli(["status", "--tag", "team=a", "--json"]);
      expect(tagged.code).toBe(4);
      expect(JSON.parse(tagged.stdout).secrets.map((entry: { secret: string }) => entry.secret)).toEqual([
        "fleet/rotation-stuck",
        "fleet/healthy-0001",
      ]);
      const all = await cli(["status", "--all", "--json"]);
      // Every secret with a rotation function: all but the one never rotated.
      expect(JSON.parse(all.stdout).secrets).toHaveLength(expected.size - 1);
      const healthyOnly = await cli(["status", "--prefix", "fleet/healthy-", "--check"]);
      expect(healthyOnly.code).toBe(0);
      expect(healthyOnly.stdout.trimEnd().split("\n").at(-2)).toBe("12 secrets: 12 healthy");

      const both = await cli(["status", "fleet/manager", "--prefix", "fleet/"]);
      expect(both.code).toBe(2);
      expect(both.stderr).toContain("give either a secret id (fleet/manager) or a selection");
      const concurrencyAlone = await cli(["status", "fleet/manager", "--concurrency", "3"]);
      expect(concurrencyAlone.code).toBe(2);
    });

    it("a key name and an outcome reason that carry escape sequences print without a control character", async () => {
      const key = world.novala.model.seedKey({ name: "Acumatica Integration", scopes: ["pipeline"] });
      const arn = await world.createSecret("novala/hostile", key, { name: `Acumatica ${ATTACK}` });
      // A pending rotation whose recorded failure carries the same text (anyone who may tag the secret can write it).
      const token = await startRotation(world.secrets, arn);
      await world.secrets.send(
        new TagResourceCommand({
          SecretId: arn,
          Tags: [
            { Key: OUTCOME_TAG, Value: `failed createSecret ${new Date().toISOString()} ${token}` },
            { Key: REASON_TAG, Value: `boom ${ATTACK}` },
          ],
        }),
      );
      const [single, fleet, json] = await Promise.all([
        cli(["status", "novala/hostile"]),
        cli(["status", "--prefix", "novala/hostile"]),
        cli(["status", "novala/hostile", "--json"]),
      ]);
      for (const run of [single, fleet]) {
        expect(run.code).toBe(4);
        // biome-ignore lint/suspicious/noControlCharactersInRegex: no control character but newline and tab.
        expect(`${run.stdout}${run.stderr}`).not.toMatch(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/);
      }
      // The core refuses a name with control characters (lambdas/core/key-name-rule.ts): the worst finding; the stuck
      // rotation, whose reason carries the same text, follows.
      expect(firstLine(single)).toMatch(
        /^Verdict {2}AWSCURRENT's value is unusable: field "name" holds control characters: /,
      );
      expect(single.stdout).toMatch(/rotation stuck since .* at createSecret \(last failed .*\): boom healthy/);
      expect(single.stdout).toContain("│ Acumatica healthy │");
      expect(fleet.stdout).toMatch(/│ novala\/hostile │ AWSCURRENT's value is unusable: field "name" holds control/);
      // --json keeps the text exact, escaped as JSON escapes it.
      const report = JSON.parse(json.stdout);
      expect(report.versions.find((version: { stages: string[] }) => version.stages.includes("AWSCURRENT")).name).toBe(
        `Acumatica ${ATTACK}`,
      );
      expect(report.lastOutcome.reason).toBe(`boom ${ATTACK}`);
    });
  },
);
