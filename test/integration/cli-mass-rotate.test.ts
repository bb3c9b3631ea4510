/**
 * Mass rotation (issue 12, item 3): `novala-rotation rotate --prefix …` as an operator runs it, a child process with
 * --run-steps against moto and the Novala simulator, the rotation function "deployed" (registered in moto) with the
 * environment the construct writes.
 */
import { describe, expect, it } from "vitest";
import { LOCAL_ROTATION_LAMBDA_ARN } from "../../cli/secrets-manager-driver.js";
import { useMotoAndSimulator } from "../support/integration.js";
import { motoSuiteTitle, skipMoto } from "../support/moto.js";
import { type CliRun, expectNoKeyMaterial, runCli } from "../support/run-cli.js";

describe.skipIf(skipMoto)(motoSuiteTitle("novala-rotation rotate --prefix: mass rotation"), () => {
  const world = useMotoAndSimulator({ POWERTOOLS_METRICS_DISABLED: "true", POWERTOOLS_LOG_LEVEL: "CRITICAL" });

  function cli(args: string[]): Promise<CliRun> {
    return runCli(args, { endpoint: world.moto.endpoint });
  }

  /** A manager secret outside the prefix and three consumers under it; only novala/fleet/billing probes deals. */
  async function givenFleet(): Promise<Record<string, string>> {
    await world.deployRotationFunction(0, { rotationConcurrency: 2 });
    const manager = world.novala.model.seedKey({ name: "Rotation manager", scopes: ["api_keys.manage"] });
    const managerArn = await world.createSecret("novala/manager", manager);
    const keyIds: Record<string, string> = {};
    for (const [name, scopes] of [
      ["acumatica", ["leads.lead.read"]],
      ["billing", ["leads.lead.read", "pipeline"]],
      ["crm", ["leads.lead.read"]],
    ] as const) {
      const key = world.novala.model.seedKey({ name: `Consumer ${name}`, scopes: [...scopes] });
      await world.createSecret(`novala/fleet/${name}`, key, { managerSecretId: managerArn });
      keyIds[`novala/fleet/${name}`] = key.id;
    }
    return keyIds;
  }

  it("rotates every secret under the prefix, says which rolled back (exit 1), and a re-run skips the rotated ones", async () => {
    const before = await givenFleet();
    // novala/fleet/billing's new key fails its health check: its pipeline probe is refused.
    world.novala.injectFault({ match: "GET /api/v1/pipeline/deals", kind: "status", status: 403, count: 10_000 });

    const first = await cli([
      "rotate",
      "--prefix",
      "novala/fleet/",
      "--run-steps",
      "--lambda-arn",
      LOCAL_ROTATION_LAMBDA_ARN,
      "--schedule",
      "rate(30 days)",
    ]);
    expectNoKeyMaterial(first, world.novala.model.issuedKeyMaterial());
    expect(first.code, first.stderr).toBe(1);
    // The deployment's ROTATION_CONCURRENCY is the default; progress goes to stderr, plain lines off a terminal.
    expect(first.stderr).toContain("3 secret(s) match --prefix novala/fleet/; at most 2 rotation(s) at a time");
    expect(first.stderr).toMatch(/\[3\/3\] novala\/fleet\/\w+: /);
    const rows = first.stdout.split("\n").filter((line) => line.includes("novala/"));
    expect(rows).toHaveLength(3); // the manager is not under the prefix
    expect(rows[0]).toMatch(/│ novala\/fleet\/acumatica │ succeeded +│ - +│/);
    expect(rows[1]).toMatch(/│ novala\/fleet\/billing +│ rolled back │ the new key key_\w+ .*failed its health check/);
    expect(rows[2]).toMatch(/│ novala\/fleet\/crm +│ succeeded +│/);
    expect(first.stdout).toContain("2 succeeded, 1 rolled back");
    expect((await world.valueAt("novala/fleet/acumatica", "AWSCURRENT")).keyId).not.toBe(
      before["novala/fleet/acumatica"],
    );
    expect((await world.valueAt("novala/fleet/billing", "AWSCURRENT")).keyId).toBe(before["novala/fleet/billing"]);
    expect(world.status(before["novala/fleet/crm"])).toBe("revoked");

    // Run again (the fault gone): the two that succeeded within the hour are skipped, billing rotates.
    world.novala.clearFaults();
    const again = await cli(["rotate", "--prefix", "novala/fleet/", "--run-steps", "--json"]);
    expectNoKeyMaterial(again, world.novala.model.issuedKeyMaterial());
    expect(again.code, again.stderr).toBe(0);
    const report = JSON.parse(again.stdout);
    expect(report).toMatchObject({ concurrency: 2, interrupted: false });
    expect(report.results).toEqual([
      expect.objectContaining({ secret: "novala/fleet/acumatica", outcome: "skipped" }),
      expect.objectContaining({ secret: "novala/fleet/billing", outcome: "succeeded" }),
      expect.objectContaining({ secret: "novala/fleet/crm", outcome: "skipped" }),
    ]);
    expect(report.results[0].reason).toMatch(/^rotated at .*, within --skip-rotated-within 1 h$/);
    expect((await world.valueAt("novala/fleet/billing", "AWSCURRENT")).keyId).not.toBe(before["novala/fleet/billing"]);
  });

  it("refuses a secret id together with a selection, and --all with --prefix (exit 2)", async () => {
    const [both, allAndPrefix, concurrencyAlone] = await Promise.all([
      cli(["rotate", "novala/fleet/crm", "--prefix", "novala/"]),
      cli(["rotate", "--all", "--prefix", "novala/"]),
      cli(["rotate", "novala/fleet/crm", "--concurrency", "3"]),
    ]);
    expect(both.code).toBe(2);
    expect(both.stderr).toContain("give either a secret id (novala/fleet/crm) or a selection (--prefix, --tag, --all)");
    expect(allAndPrefix.code).toBe(2);
    expect(allAndPrefix.stderr).toContain("--all selects every secret the rotation function rotates");
    expect(concurrencyAlone.code).toBe(2);
    expect(concurrencyAlone.stderr).toContain(
      "--concurrency applies to a selection (--prefix, --tag, --all), not to one secret",
    );
  });
});
