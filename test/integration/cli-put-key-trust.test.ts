/**
 * put-key guards the tenant's master key (issue 18, item 5) and the command line trusts only its deployment (issue 19,
 * item 4): child processes against moto and the Novala simulator. A key that holds api_keys.manage goes only into the
 * deployment's manager secret (MANAGER_SECRET_ARN of its rotation function) or a secret named self-managed with
 * --self-managed; a refusal changes nothing. A rotation function without the deployment's mark is refused.
 */
import { ListSecretsCommand } from "@aws-sdk/client-secrets-manager";
import { beforeEach, describe, expect, it } from "vitest";
import { LOCAL_ROTATION_LAMBDA_ARN } from "../../cli/secrets-manager-driver.js";
import { ENV, rotationEnvironment } from "../../lambdas/contract/environment.js";
import type { CreatedNovalaKey } from "../../lambdas/core/ports.js";
import { useMotoAndSimulator } from "../support/integration.js";
import {
  motoSuiteTitle,
  registerMotoFunction,
  skipMoto,
  TEST_REVOCATION_FUNCTION_ARN,
  TEST_SCHEDULE_GROUP,
  TEST_SCHEDULER_ROLE_ARN,
} from "../support/moto.js";
import { type CliRun, expectNoKeyMaterial, runCli } from "../support/run-cli.js";

const UNMARKED_FUNCTION = "arn:aws:lambda:us-east-1:123456789012:function:someone-elses-rotation";
/** The environment a function of someone else's chooses: another grace period, the same group. */
const ENVIRONMENT = {
  allowedHosts: ["127.0.0.1"],
  gracePeriodSeconds: 60,
  scheduleGroup: TEST_SCHEDULE_GROUP,
  revocationFunctionArn: TEST_REVOCATION_FUNCTION_ARN,
  schedulerRoleArn: TEST_SCHEDULER_ROLE_ARN,
};

describe.skipIf(skipMoto)(
  motoSuiteTitle("put-key guards the master key; the command line trusts only its deployment"),
  () => {
    const world = useMotoAndSimulator({ POWERTOOLS_METRICS_DISABLED: "true", POWERTOOLS_LOG_LEVEL: "CRITICAL" });
    let manager: CreatedNovalaKey;
    let managerArn: string;
    let consumer: CreatedNovalaKey;
    let consumerArn: string;

    beforeEach(async () => {
      manager = world.novala.model.seedKey({ name: "Rotation manager", scopes: ["api_keys.manage"] });
      managerArn = await world.createSecret("novala/manager", manager);
      consumer = world.novala.model.seedKey({ name: "Acumatica Integration", scopes: ["leads.lead.read"] });
      consumerArn = await world.createSecret("novala/acumatica", consumer, { managerSecretId: managerArn });
      // The deployment names novala/manager as its manager secret.
      await world.deployRotationFunction(0, { extraEnvironment: { [ENV.managerSecret]: managerArn } });
    });

    async function cli(args: string[], input?: string): Promise<CliRun> {
      const run = await runCli(args, { endpoint: world.moto.endpoint, ...(input !== undefined && { input }) });
      expectNoKeyMaterial(run, world.novala.model.issuedKeyMaterial());
      return run;
    }

    const pairOf = (key: CreatedNovalaKey) => `${key.publishableKey}\n${key.secretKey}\n`;

    async function currentKeyId(secretId: string): Promise<string> {
      return String((await world.valueAt(secretId, "AWSCURRENT")).keyId);
    }

    describe("put-key and api_keys.manage", () => {
      it("refuses a manage-scoped key, and the manager pair itself, into a consumer secret; nothing changes", async () => {
        const master = world.novala.model.seedKey({
          name: "Another master",
          scopes: ["api_keys.manage", "leads.lead.read"],
        });
        for (const pair of [master, manager]) {
          const run = await cli(
            ["put-key", "novala/acumatica", "--force", "--lambda-arn", LOCAL_ROTATION_LAMBDA_ARN],
            pairOf(pair),
          );
          expect(run.code).toBe(1);
          expect(run.stderr).toContain(
            `refusing to store the pair in novala/acumatica: key ${pair.id} holds api_keys.manage, the tenant's master key: ` +
              "it is never stored in a consumer secret",
          );
          expect(run.stderr).toContain(`Store it in the deployment's manager secret (${managerArn})`);
          expect(await currentKeyId(consumerArn)).toBe(consumer.id);
        }
      });

      it("refuses it into a new secret that names no manager unless --self-managed says so; the deployment's manager secret takes it", async () => {
        const master = world.novala.model.seedKey({ name: "New master", scopes: ["api_keys.manage"] });
        const refused = await cli(
          [
            "put-key",
            "novala/other",
            "--create",
            "--base-url",
            world.novala.url,
            "--lambda-arn",
            LOCAL_ROTATION_LAMBDA_ARN,
          ],
          pairOf(master),
        );
        expect(refused.code).toBe(1);
        expect(refused.stderr).toMatch(
          /it is stored only in the deployment's manager secret \(.*novala\/manager.*\), or in a secret that rotates itself, named so with --self-managed/,
        );
        const listed = await world.secrets.send(new ListSecretsCommand({}));
        expect(listed.SecretList?.map((secret) => secret.Name)).not.toContain("novala/other");

        const selfManaged = await cli(
          ["put-key", "novala/other", "--create", "--base-url", world.novala.url, "--self-managed", "--json"],
          pairOf(master),
        );
        expect(selfManaged.code, selfManaged.stderr).toBe(0);
        expect(JSON.parse(selfManaged.stdout)).toMatchObject({
          outcome: "created",
          keyId: master.id,
          managerSecretId: null,
        });

        // The deployment's manager secret (found with --lambda-arn: no function rotates it) takes a manager pair.
        const replacement = world.novala.model.seedKey({ name: "Rotation manager 2", scopes: ["api_keys.manage"] });
        const stored = await cli(
          ["put-key", "novala/manager", "--force", "--lambda-arn", LOCAL_ROTATION_LAMBDA_ARN, "--json"],
          pairOf(replacement),
        );
        expect(stored.code, stored.stderr).toBe(0);
        expect(JSON.parse(stored.stdout)).toMatchObject({
          outcome: "updated",
          keyId: replacement.id,
          deploymentManager: true,
        });
        expect(await currentKeyId(managerArn)).toBe(replacement.id);
      });

      it("the deployment's manager secret takes only a manage-scoped key; a consumer names only the deployment's manager", async () => {
        const plain = world.novala.model.seedKey({ name: "Plain", scopes: ["leads.lead.read"] });
        const intoManager = await cli(
          ["put-key", "novala/manager", "--force", "--lambda-arn", LOCAL_ROTATION_LAMBDA_ARN],
          pairOf(plain),
        );
        expect(intoManager.code).toBe(1);
        expect(intoManager.stderr).toContain("its key must hold api_keys.manage");
        expect(await currentKeyId(managerArn)).toBe(manager.id);

        const rogue = world.novala.model.seedKey({ name: "Rogue manager", scopes: ["api_keys.manage"] });
        const rogueArn = await world.createSecret("novala/rogue-manager", rogue);
        const other = await cli(
          [
            "put-key",
            "novala/acumatica",
            "--force",
            "--manager-secret",
            rogueArn,
            "--lambda-arn",
            LOCAL_ROTATION_LAMBDA_ARN,
          ],
          pairOf(world.novala.model.seedKey({ name: "Acumatica 2", scopes: ["leads.lead.read"] })),
        );
        expect(other.code).toBe(1);
        expect(other.stderr).toContain(`manager secret ${rogueArn} is not the deployment's manager secret`);
        expect(await currentKeyId(consumerArn)).toBe(consumer.id);
      });

      it("refuses a key whose name at Novala holds control characters", async () => {
        const evil = world.novala.model.seedKey({ name: "Acumatica\u001b[2J healthy", scopes: ["leads.lead.read"] });
        const run = await cli(["put-key", "novala/acumatica", "--force"], pairOf(evil));
        expect(run.code).toBe(1);
        expect(run.stderr).toContain(
          `key ${evil.id}: its name at Novala holds control characters; rename it there first`,
        );
        expect(run.stderr).not.toContain("\u001b");
        expect(await currentKeyId(consumerArn)).toBe(consumer.id);
      });

      it("--wait waits out Novala's propagation instead of failing 'too new to work yet'", async () => {
        world.novala.model.setPropagationDelayMs(6000);
        const fresh = world.novala.model.seedKey({ name: "Acumatica 3", scopes: ["leads.lead.read"], propagate: true });
        const impatient = await cli(["put-key", "novala/acumatica", "--force"], pairOf(fresh));
        expect(impatient.code).toBe(1);
        expect(impatient.stderr).toContain("too new to work yet (add --wait to wait for Novala to accept it)");

        const patient = await cli(["put-key", "novala/acumatica", "--force", "--wait"], pairOf(fresh));
        expect(patient.code, patient.stderr).toBe(0);
        expect(patient.stderr).toContain("waiting for it to propagate (at most 2 min)");
        expect(await currentKeyId(consumerArn)).toBe(fresh.id);
      });
    });

    describe("the trust check", () => {
      beforeEach(async () => {
        // A function no stack deployed (no aws:cloudformation:stack-id tag), with an environment of its own choosing.
        await registerMotoFunction(
          world.moto.endpoint,
          UNMARKED_FUNCTION,
          rotationEnvironment({
            allowedHosts: ["127.0.0.1"],
            gracePeriodSeconds: 60,
            scheduleGroup: TEST_SCHEDULE_GROUP,
            revocationFunctionArn: TEST_REVOCATION_FUNCTION_ARN,
            schedulerRoleArn: TEST_SCHEDULER_ROLE_ARN,
          }),
          {},
        );
      });

      it("refuses to act through a rotation function without the deployment's mark, and says why; nothing changes", async () => {
        const versions = Object.keys(await world.stagesOf(consumerArn));
        const rotate = await cli(["rotate", "novala/acumatica", "--lambda-arn", UNMARKED_FUNCTION, "--run-steps"]);
        expect(rotate.code).toBe(1);
        expect(rotate.stderr).toContain(
          `refusing rotation function ${UNMARKED_FUNCTION}: it carries no deployment mark (no aws:cloudformation:stack-id tag`,
        );
        expect(rotate.stderr).toContain("name its stack with --stack <name>");
        expect(Object.keys(await world.stagesOf(consumerArn))).toEqual(versions);
        expect(world.keyWrites()).toEqual([]);

        const due = await cli(["revoke-due", "novala/acumatica", "--lambda-arn", UNMARKED_FUNCTION]);
        expect(due.code).toBe(1);
        expect(due.stdout + due.stderr).toContain(`refusing rotation function ${UNMARKED_FUNCTION}`);
      });

      it("refuses a function a stack deployed that does not carry the rotation function's mark of that stack", async () => {
        // CloudFormation's tags alone: a stack made it, but not as a novala-rotation deployment's rotation function.
        const other = "arn:aws:lambda:us-east-1:123456789012:function:other-stacks-function";
        await registerMotoFunction(world.moto.endpoint, other, rotationEnvironment(ENVIRONMENT), {
          "aws:cloudformation:stack-id": "arn:aws:cloudformation:us-east-1:123456789012:stack/other/0f4a2b30",
          "aws:cloudformation:stack-name": "other",
          "novala-rotation:deployment": "novala-test/NovalaKeyRotation",
          "novala-rotation:function": "rotation",
        });
        const run = await cli(["rotate", "novala/acumatica", "--lambda-arn", other, "--run-steps"]);
        expect(run.code).toBe(1);
        expect(run.stderr).toContain(
          `refusing rotation function ${other}: stack other deployed it, but it does not carry the rotation function's mark of that stack`,
        );
        expect(world.keyWrites()).toEqual([]);
      });

      it("refuses a marked function of another stack than --stack names, and one the named stack does not list", async () => {
        const wrongStack = await cli([
          "rotate",
          "novala/acumatica",
          "--run-steps",
          "--lambda-arn",
          LOCAL_ROTATION_LAMBDA_ARN,
          "--stack",
          "other-stack",
        ]);
        expect(wrongStack.code).toBe(1);
        expect(wrongStack.stderr).toContain(
          `refusing rotation function ${LOCAL_ROTATION_LAMBDA_ARN}: it belongs to stack novala-test, not to the expected stack other-stack`,
        );
        const unlisted = await cli([
          "rotate",
          "novala/acumatica",
          "--lambda-arn",
          UNMARKED_FUNCTION,
          "--stack",
          "novala-test",
        ]);
        expect(unlisted.code).toBe(1);
        expect(unlisted.stderr).toMatch(
          /cannot list the resources of stack novala-test|does not list it among its resources/,
        );
        expect(world.keyWrites()).toEqual([]);
      });

      it("acts through the deployment's function when --stack names its stack", async () => {
        const run = await cli([
          "rotate",
          "novala/acumatica",
          "--run-steps",
          "--lambda-arn",
          LOCAL_ROTATION_LAMBDA_ARN,
          "--stack",
          "novala-test",
          "--schedule",
          "rate(30 days)",
        ]);
        expect(run.code, run.stderr).toBe(0);
        expect(await currentKeyId(consumerArn)).not.toBe(consumer.id);
      });
    });
  },
);
