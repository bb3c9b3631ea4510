/**
 * `npx tsx bench/breaker.ts [secrets]`: a mass rotation meeting a Novala outage, as an operator sees it. moto_server
 * (Secrets Manager, Scheduler, the rotation function's configuration) and the Novala simulator on loopback, a fleet of
 * consumer secrets (default 20) under novala/fleet/, the rotation function "deployed" with ROTATION_CONCURRENCY 4. Two
 * runs of `novala-rotation rotate --prefix novala/fleet/ --run-steps`, their output printed whole:
 *
 * 1. Novala down (the simulator stopped): the check before RotateSecret cannot reach it, the breaker stops the run at
 *    the first such answer; nothing is started, so nothing is left stuck.
 * 2. Novala answering 503 to every create: rotations start and fail (AWSPENDING stays, Secrets Manager would retry), the
 *    breaker stops after 3 failures in a row; only the rotations in flight are stuck, and `abort --prefix` ends them.
 *
 * Not part of `npm run bench` (it needs moto_server); figures only, exit 0.
 */
import { CreateScheduleGroupCommand } from "@aws-sdk/client-scheduler";
import { CreateSecretCommand, DescribeSecretCommand, type SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { LOCAL_ROTATION_LAMBDA_ARN } from "../cli/secrets-manager-driver.js";
import { rotationEnvironment } from "../lambdas/contract/environment.js";
import { secretValueFor } from "../lambdas/core/secret-value.js";
import { type NovalaSimulator, startNovalaSimulator } from "../local/novala-simulator.js";
import {
  registerMotoFunction,
  schedulerClientFor,
  secretsManagerClientFor,
  startMoto,
  TEST_REVOCATION_FUNCTION_ARN,
  TEST_SCHEDULE_GROUP,
  TEST_SCHEDULER_ROLE_ARN,
} from "../test/support/moto.js";
import { runCli } from "../test/support/run-cli.js";

process.removeAllListeners("warning");
const SECRETS = Number(process.argv[2] ?? 20);

const moto = await startMoto();
const secrets = secretsManagerClientFor(moto.endpoint);
try {
  await registerMotoFunction(
    moto.endpoint,
    LOCAL_ROTATION_LAMBDA_ARN,
    rotationEnvironment({
      allowedHosts: ["127.0.0.1"],
      gracePeriodSeconds: 3600,
      retryBudgetSeconds: 2,
      rotationConcurrency: 4,
      scheduleGroup: TEST_SCHEDULE_GROUP,
      revocationFunctionArn: TEST_REVOCATION_FUNCTION_ARN,
      schedulerRoleArn: TEST_SCHEDULER_ROLE_ARN,
    }),
  );
  await schedulerClientFor(moto.endpoint).send(new CreateScheduleGroupCommand({ Name: TEST_SCHEDULE_GROUP }));

  const down = await fleetOn(secrets, "novala/fleet/");
  await down.novala.stop();
  await scenario(`1. ${SECRETS} secrets, Novala down`, down.names, ["rotate", "--prefix", "novala/fleet/"]);

  const failing = await fleetOn(secrets, "novala/second/");
  failing.novala.injectFault({ match: "POST /api/v1/api-keys", kind: "status", status: 503, count: 100_000 });
  await scenario(`2. ${SECRETS} secrets, Novala answering 503 to every create`, failing.names, [
    "rotate",
    "--prefix",
    "novala/second/",
  ]);
  failing.novala.clearFaults();
  await scenario("   then: abort --prefix novala/second/ --force (Novala answering again)", failing.names, [
    "abort",
    "--prefix",
    "novala/second/",
    "--force",
  ]);
  await failing.novala.stop();
} finally {
  secrets.destroy();
  await moto.stop();
}

/** A simulator and SECRETS consumer secrets under `prefix`, with their manager. */
async function fleetOn(
  client: SecretsManagerClient,
  prefix: string,
): Promise<{ novala: NovalaSimulator; names: string[] }> {
  const novala = await startNovalaSimulator();
  const manager = novala.model.seedKey({ name: "Rotation manager", scopes: ["api_keys.manage"] });
  const managerArn = (
    await client.send(
      new CreateSecretCommand({
        // Outside the prefix: the selection is the consumers.
        Name: `novala/managers/${prefix.split("/")[1]}`,
        SecretString: secretValueFor(novala.url, manager),
      }),
    )
  ).ARN as string;
  const names: string[] = [];
  for (let i = 0; i < SECRETS; i++) {
    const name = `${prefix}s${String(i).padStart(2, "0")}`;
    const key = novala.model.seedKey({ name: `Consumer ${i}`, scopes: ["leads.lead.read"] });
    await client.send(
      new CreateSecretCommand({
        Name: name,
        SecretString: secretValueFor(novala.url, key, { managerSecretId: managerArn }),
      }),
    );
    names.push(name);
  }
  return { novala, names };
}

async function scenario(title: string, names: string[], args: string[]): Promise<void> {
  const started = Date.now();
  // moto cannot run the function: the rotations run here, with its configuration.
  const here =
    args[0] === "rotate"
      ? ["--run-steps", "--lambda-arn", LOCAL_ROTATION_LAMBDA_ARN, "--schedule", "rate(30 days)"]
      : [];
  const run = await runCli([...args, ...here], { endpoint: moto.endpoint });
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  let stuck = 0;
  for (const name of names) {
    const stages = Object.values(
      (await secrets.send(new DescribeSecretCommand({ SecretId: name }))).VersionIdsToStages ?? {},
    );
    if (stages.some((labels) => labels.includes("AWSPENDING") && !labels.includes("AWSCURRENT"))) stuck++;
  }
  console.log(`\n## ${title}\n`);
  console.log(
    `$ novala-rotation ${args.join(" ")}${args[0] === "rotate" ? " --run-steps" : ""}   (exit ${run.code}, ${seconds} s)\n`,
  );
  console.log("stderr:");
  console.log(run.stderr.trimEnd());
  console.log("\nstdout:");
  console.log(run.stdout.trimEnd());
  console.log(
    `\nrotations stuck afterwards (AWSPENDING on a version that is not AWSCURRENT): ${stuck} of ${names.length}`,
  );
}
