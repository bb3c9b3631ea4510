import { createHash, randomUUID } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import {
  CloudFormationClient,
  DescribeStacksCommand,
  ListStackResourcesCommand,
  type StackResourceSummary,
} from "@aws-sdk/client-cloudformation";
import { DescribeEventBusCommand, EventBridgeClient } from "@aws-sdk/client-eventbridge";
import { GetFunctionCommand, LambdaClient, ListFunctionsCommand, ListTagsCommand } from "@aws-sdk/client-lambda";
import { GetObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { CreateScheduleGroupCommand, GetScheduleCommand } from "@aws-sdk/client-scheduler";
import {
  CreateSecretCommand,
  DescribeSecretCommand,
  GetSecretValueCommand,
  PutSecretValueCommand,
  RotateSecretCommand,
  UpdateSecretVersionStageCommand,
} from "@aws-sdk/client-secrets-manager";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startRotation } from "../../cli/secrets-manager-driver.js";
import { replacementKeyName, revocationScheduleName } from "../../lambdas/core/key-name.js";
import type { CreatedNovalaKey } from "../../lambdas/core/ports.js";
import { secretValueFor } from "../../lambdas/core/secret-value.js";
import { useMotoAndSimulatorForSuite } from "../support/integration.js";
import { type BundleRun, invokeBundle } from "../support/invoke-bundle.js";
import { motoSuiteTitle, skipMoto, TEST_ACCOUNT_ID, TEST_CREDENTIALS, TEST_REGION } from "../support/moto.js";
import { type CliRun, KEY_SHAPE, runProcess } from "../support/run-cli.js";
import { unzip } from "../support/unzip.js";

/**
 * `npm run test:deploy`: the stack as a platform team deploys it, into an emulated account. moto_server stands in for
 * AWS; the project's own CDK CLI runs `cdk bootstrap` and `cdk deploy` against it (assets published to moto's S3, the
 * change set executed by moto's CloudFormation). The first key is put into the secret before the deploy, as the
 * docs/deploy.md says. Then, playing the Lambda service (moto cannot run Lambda code without Docker), the test takes each
 * deployed function's code and configuration back out of moto (GetFunction) and runs a whole rotation (the four steps
 * with Secrets Manager's events) and the later revocation (with the schedule's Input) with that code and that
 * environment under Node 24, against moto and the Novala simulator; then the command line against the deployed
 * stack; then `cdk destroy`.
 *
 * Outside the default `npm test` (a minute of CDK CLI and child processes); CI runs it after `npm run synth`.
 */
const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const STACK = "NovalaKeyRotationDeployTest";
const CONSUMER_SECRET = "novala/acumatica";
const MANAGER_SECRET = "novala/manager";
/**
 * A function moto does not know. moto "runs" a rotation function it knows by promoting the empty AWSPENDING version
 * at once (it cannot run the code); naming one it does not know makes it stop after creating the AWSPENDING version,
 * which is where Secrets Manager invokes createSecret. The test then invokes the deployed code, as Lambda would.
 */
const FUNCTION_MOTO_CANNOT_RUN = "arn:aws:lambda:us-east-1:123456789012:function:moto-cannot-run-lambda-code";

/**
 * Resource types of the template that moto 5's CloudFormation does not create (it logs "No Moto CloudFormation
 * support for …" and reports the stack complete), and what this test does about each. A type missing from this list
 * fails the test, so that a new gap is a decision, not a surprise.
 */
const NOT_CREATED_BY_MOTO: Record<string, string> = {
  "AWS::Scheduler::ScheduleGroup": "created through the Scheduler API with the template's Name",
  "AWS::SecretsManager::RotationSchedule":
    "applied with RotateSecret (the template's function, rules and RotateImmediately); Secrets Manager's " +
    "configuration test (testSecret) is run with the deployed code",
  "AWS::CloudWatch::Alarm": "not exercised: the functions publish no metrics to moto's CloudWatch",
  "AWS::SNS::TopicPolicy": "not exercised: moto does not evaluate resource policies",
  "AWS::SQS::QueuePolicy": "not exercised: moto does not evaluate resource policies",
  "AWS::SNS::Subscription": "not exercised: an e-mail subscription",
  "AWS::CDK::Metadata": "CDK's version report, nothing to deploy",
};

/**
 * What moto's CloudFormation leaves out of resources it does create, and where the template tests check it instead. A
 * difference here that moto stops making fails the test, so that it is checked against moto from then on.
 */
const IGNORED_BY_MOTO = {
  "AWS::Events::EventBus Policy": "test/security/event-bus-policy.test.ts (the Deny on novala.key-rotation events)",
  "AWS::Lambda::Function Tags":
    "test/infra/cdk-construct.test.ts (the deployment's mark); moto also sets no aws:cloudformation:* tags on functions",
};

interface TemplateResource {
  Type: string;
  Properties?: Record<string, unknown>;
}

interface DeployedFunction {
  name: string;
  arn: string;
  runtime: string;
  handler: string;
  memorySize: number;
  /** The deployment package, unzipped into a folder outside the repository (no node_modules above it). */
  dir: string;
  environment: Record<string, string>;
}

describe.skipIf(skipMoto)(motoSuiteTitle("cdk deploy into moto, then a rotation with the deployed code"), () => {
  const servers = useMotoAndSimulatorForSuite();
  let cloudformation: CloudFormationClient;
  let lambda: LambdaClient;
  let events: EventBridgeClient;
  let s3: S3Client;
  let work: string;
  let template: { Resources: Record<string, TemplateResource> };
  let stackResources: StackResourceSummary[];
  let managerArn: string;
  let consumerArn: string;
  let firstKey: CreatedNovalaKey;
  let rotation: DeployedFunction;
  let revocation: DeployedFunction;
  let group: string;
  /** Everything the deployed code and the command line printed, scanned for key material at the end. */
  const printed: string[] = [];

  /** moto's endpoint by name: S3 asset URLs need a host name, not 127.0.0.1. */
  const awsEndpoint = () => servers.moto.endpoint.replace("127.0.0.1", "localhost");

  /** The environment of a process that talks to the emulated account: nothing from this machine's AWS set-up. */
  const awsEnvironment = (): Record<string, string> => ({
    PATH: process.env.PATH ?? "",
    HOME: process.env.HOME ?? "",
    AWS_ENDPOINT_URL: awsEndpoint(),
    AWS_ACCESS_KEY_ID: TEST_CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: TEST_CREDENTIALS.secretAccessKey,
    AWS_REGION: TEST_REGION,
    AWS_DEFAULT_REGION: TEST_REGION,
    AWS_CONFIG_FILE: "/dev/null",
    AWS_SHARED_CREDENTIALS_FILE: "/dev/null",
    AWS_EC2_METADATA_DISABLED: "true",
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true",
    CDK_DISABLE_VERSION_CHECK: "1",
    CDK_DISABLE_CLI_TELEMETRY: "true",
    CI: "true",
  });

  /** The project's own CDK CLI, on the app of cdk.json, with the stack's context. */
  async function cdk(args: string[]): Promise<CliRun> {
    const context = [
      `secrets=${CONSUMER_SECRET}`,
      `managerSecret=${MANAGER_SECRET}`,
      // Novala is the simulator on loopback: the deployed allow-list names it, so the deployed environment is used as is.
      "allowedHosts=127.0.0.1",
      `stackName=${STACK}`,
      "alertEmail=none",
    ].flatMap((pair) => ["-c", pair]);
    const run = await runProcess(
      process.execPath,
      [join(ROOT, "node_modules/aws-cdk/bin/cdk"), ...args, "-o", join(work, "cdk.out"), "--no-notices", ...context],
      awsEnvironment(),
      { timeoutMs: 300_000 },
    );
    if (run.code !== 0) throw new Error(`cdk ${args.join(" ")} failed (${run.code}):\n${run.stdout}\n${run.stderr}`);
    return run;
  }

  /** The command line against the deployed stack, as an operator runs it. */
  async function cli(args: string[]): Promise<CliRun> {
    const run = await runProcess(
      process.execPath,
      ["bin/novala-rotation.js", ...args, "--endpoint-url", servers.moto.endpoint],
      // moto's CloudFormation tags no function with its stack: the operator names the stack, which lists the function.
      { ...awsEnvironment(), NOVALA_ALLOWED_HOSTS: "127.0.0.1", NOVALA_ROTATION_STACK: STACK },
      { timeoutMs: 120_000 },
    );
    printed.push(run.stdout, run.stderr);
    return run;
  }

  /**
   * `rotate` here names a function moto cannot run (moto would otherwise finish the rotation itself with an empty
   * version), so it cannot find the deployment from that function: it is told the group. Every other command finds
   * the deployment from the secret, with no location flags.
   */
  const groupOfTheDeployment = () => ["--schedule-group", group];

  /** The Lambda service: the deployed code, the deployed environment plus what Lambda adds, a fresh Node 24 process. */
  async function invoke(fn: DeployedFunction, event: unknown): Promise<BundleRun> {
    const run = await invokeBundle(
      join(fn.dir, `${fn.handler.split(".")[0]}.mjs`),
      {
        ...fn.environment,
        AWS_REGION: TEST_REGION,
        AWS_DEFAULT_REGION: TEST_REGION,
        // The function role's credentials on Lambda; moto does not check them.
        AWS_ACCESS_KEY_ID: TEST_CREDENTIALS.accessKeyId,
        AWS_SECRET_ACCESS_KEY: TEST_CREDENTIALS.secretAccessKey,
        AWS_SESSION_TOKEN: TEST_CREDENTIALS.sessionToken,
        AWS_LAMBDA_FUNCTION_NAME: fn.name,
        AWS_LAMBDA_FUNCTION_MEMORY_SIZE: String(fn.memorySize),
        AWS_LAMBDA_FUNCTION_VERSION: "$LATEST",
        AWS_EXECUTION_ENV: `AWS_Lambda_${fn.runtime}`,
        LAMBDA_TASK_ROOT: fn.dir,
        _HANDLER: fn.handler,
        TZ: ":UTC",
        // The one difference from Lambda: every AWS endpoint is moto's.
        AWS_ENDPOINT_URL: servers.moto.endpoint,
      },
      event,
      { invokedFunctionArn: fn.arn },
    );
    printed.push(run.output);
    return run;
  }

  async function invokeStep(step: string, secretArn: string, token: string): Promise<void> {
    const run = await invoke(rotation, { Step: step, SecretId: secretArn, ClientRequestToken: token });
    expect(run.failure, `${step}: ${run.output}`).toBeUndefined();
    expect(run.code, run.output).toBe(0);
    expect(run.nodeVersion).toMatch(/^v24\./);
  }

  /** The four steps of one rotation, in Secrets Manager's order and with its events. */
  async function driveRotation(secretArn: string, token: string): Promise<void> {
    for (const step of ["createSecret", "setSecret", "testSecret", "finishSecret"]) {
      await invokeStep(step, secretArn, token);
    }
  }

  const templateOf = (type: string) =>
    Object.entries(template.Resources).filter(([, resource]) => resource.Type === type);

  /**
   * What Secrets Manager does with the template's AWS::SecretsManager::RotationSchedule, which moto's CloudFormation
   * does not create: RotateSecret with its function, rules and RotateImmediately (false: Secrets Manager then tests
   * the configuration by running testSecret on an AWSPENDING copy of the current value, and removes AWSPENDING).
   * moto makes that version but cannot run the function; the test runs testSecret with the deployed code.
   *
   * `restore`: starting a rotation in moto names a function moto does not know (FUNCTION_MOTO_CANNOT_RUN), which
   * moto then records as the secret's rotation function; this puts the deployed one back. No configuration test then:
   * after a stage move moto copies a stale value into that AWSPENDING version (the previous AWSCURRENT's).
   */
  async function applyRotationSchedule(secretArn: string, { restore = false } = {}): Promise<void> {
    const [[, schedule] = []] = templateOf("AWS::SecretsManager::RotationSchedule");
    const properties = schedule?.Properties as {
      SecretId: string;
      RotationLambdaARN: { "Fn::GetAtt": [string, string] };
      RotateImmediatelyOnUpdate: boolean;
      RotationRules: { ScheduleExpression: string };
    };
    expect(properties.SecretId).toBe(CONSUMER_SECRET);
    expect(physicalId(properties.RotationLambdaARN["Fn::GetAtt"][0])).toBe(rotation.name);
    expect(properties.RotateImmediatelyOnUpdate).toBe(false);
    // moto reads only AutomaticallyAfterDays (with a ScheduleExpression it leaves rotation disabled): rate(N days)
    // is the same schedule.
    const days = /^rate\((\d+) days?\)$/.exec(properties.RotationRules.ScheduleExpression)?.[1];
    expect(days, properties.RotationRules.ScheduleExpression).toBeDefined();
    const token = randomUUID();
    await servers.secrets.send(
      new RotateSecretCommand({
        SecretId: secretArn,
        ClientRequestToken: token,
        RotationLambdaARN: rotation.arn,
        RotationRules: { AutomaticallyAfterDays: Number(days) },
        RotateImmediately: properties.RotateImmediatelyOnUpdate,
      }),
    );
    if (!restore) await invokeStep("testSecret", secretArn, token);
    await servers.secrets.send(
      new UpdateSecretVersionStageCommand({
        SecretId: secretArn,
        VersionStage: "AWSPENDING",
        RemoveFromVersionId: token,
      }),
    );
  }

  const physicalId = (logicalId: string) =>
    stackResources.find((resource) => resource.LogicalResourceId === logicalId)?.PhysicalResourceId;

  async function valueAt(secretId: string, stage: string): Promise<Record<string, unknown>> {
    const out = await servers.secrets.send(new GetSecretValueCommand({ SecretId: secretId, VersionStage: stage }));
    return JSON.parse(out.SecretString ?? "{}") as Record<string, unknown>;
  }

  /** GetFunction: the configuration, and the code from Code.Location, checked against the function's CodeSha256. */
  async function deployedFunction(logicalId: string): Promise<DeployedFunction> {
    const name = physicalId(logicalId) as string;
    const got = await lambda.send(new GetFunctionCommand({ FunctionName: name }));
    const configuration = got.Configuration ?? {};
    const location = new URL(got.Code?.Location ?? "");
    // moto's Code.Location names the object on an AWS host it does not serve: the object is the asset that
    // `cdk deploy` published to the bootstrap bucket (the template's Code), so it is read from moto's S3, and
    // checked against the CodeSha256 that moto's Lambda computed from the code it holds.
    const code = template.Resources[logicalId]?.Properties?.Code as { S3Bucket: string; S3Key: string };
    const key = location.pathname.split("/").pop() ?? "";
    expect(key).toBe(code.S3Key);
    const object = await s3.send(new GetObjectCommand({ Bucket: code.S3Bucket, Key: key }));
    const zip = Buffer.from(await (object.Body?.transformToByteArray() ?? Promise.resolve(new Uint8Array())));
    expect(createHash("sha256").update(zip).digest("base64")).toBe(configuration.CodeSha256);
    const dir = join(work, "lambda", name);
    mkdirSync(dir, { recursive: true });
    const files = unzip(zip);
    expect([...files.keys()].sort()).toEqual(["index.mjs", "index.mjs.map"]);
    for (const [file, content] of files) writeFileSync(join(dir, file), content);
    return {
      name,
      arn: configuration.FunctionArn ?? "",
      runtime: configuration.Runtime ?? "",
      handler: configuration.Handler ?? "",
      memorySize: configuration.MemorySize ?? 0,
      dir,
      environment: configuration.Environment?.Variables ?? {},
    };
  }

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), "novala-deploy-"));
    const clientConfig = { endpoint: servers.moto.endpoint, region: TEST_REGION, credentials: TEST_CREDENTIALS };
    cloudformation = new CloudFormationClient(clientConfig);
    lambda = new LambdaClient(clientConfig);
    events = new EventBridgeClient(clientConfig);
    s3 = new S3Client({ ...clientConfig, forcePathStyle: true });

    // The first key goes in before the deploy (docs/deploy.md, "Put your first key in").
    const manager = servers.novala.model.seedKey({ name: "Rotation manager", scopes: ["api_keys.manage"] });
    firstKey = servers.novala.model.seedKey({ name: "Acumatica Integration", scopes: ["leads.lead.read", "pipeline"] });
    managerArn = (
      await servers.secrets.send(
        new CreateSecretCommand({ Name: MANAGER_SECRET, SecretString: secretValueFor(servers.novala.url, manager) }),
      )
    ).ARN as string;
    consumerArn = (
      await servers.secrets.send(
        new CreateSecretCommand({
          Name: CONSUMER_SECRET,
          SecretString: secretValueFor(servers.novala.url, firstKey, { managerSecretId: managerArn }),
        }),
      )
    ).ARN as string;

    await cdk(["bootstrap", `aws://${TEST_ACCOUNT_ID}/${TEST_REGION}`]);
    await cdk(["deploy", "--require-approval", "never", "--progress", "events"]);
    template = JSON.parse(readFileSync(join(work, "cdk.out", `${STACK}.template.json`), "utf8"));
    stackResources = (await cloudformation.send(new ListStackResourcesCommand({ StackName: STACK })))
      .StackResourceSummaries as StackResourceSummary[];
  }, 600_000);

  afterAll(async () => {
    cloudformation?.destroy();
    lambda?.destroy();
    events?.destroy();
    s3?.destroy();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it("deploys the stack; moto creates every resource type it supports, and the gaps are known", async () => {
    const stack = (await cloudformation.send(new DescribeStacksCommand({ StackName: STACK }))).Stacks?.[0];
    expect(stack?.StackStatus).toBe("CREATE_COMPLETE");
    const created = new Set(stackResources.map((resource) => resource.LogicalResourceId));
    const missing = Object.entries(template.Resources).filter(([id]) => !created.has(id));
    const unexplained = [...new Set(missing.map(([, resource]) => resource.Type))].filter(
      (type) => !(type in NOT_CREATED_BY_MOTO),
    );
    expect(unexplained, "resource types moto did not create and this test does not account for").toEqual([]);
    for (const type of ["AWS::Lambda::Function", "AWS::IAM::Role", "AWS::SQS::Queue", "AWS::SNS::Topic"]) {
      for (const [id] of templateOf(type)) expect(created.has(id), `${type} ${id}`).toBe(true);
    }
  });

  // moto keeps a function's Runtime, Handler, MemorySize, Timeout, Role and Environment; it drops Architectures
  // (reports x86_64), DeadLetterConfig and LoggingConfig, which the template tests (test/infra/cdk-construct.test.ts) cover.
  it("takes each function's code and configuration back out of moto: the pre-bundled code, on nodejs24.x", async () => {
    const functions = templateOf("AWS::Lambda::Function").map(([id]) => id);
    expect(functions).toHaveLength(2);
    const deployed = await Promise.all(functions.map(deployedFunction));
    rotation = deployed.find((fn) => "REVOCATION_GRACE_SECONDS" in fn.environment) as DeployedFunction;
    revocation = deployed.find((fn) => !("REVOCATION_GRACE_SECONDS" in fn.environment)) as DeployedFunction;
    expect(rotation && revocation).toBeTruthy();
    for (const fn of deployed) {
      expect(fn).toMatchObject({ runtime: "nodejs24.x", handler: "index.handler" });
      // The code as the package builds it.
      const built = join(ROOT, "dist/lambdas", fn === rotation ? "rotation" : "revocation", "index.mjs");
      expect(readFileSync(join(fn.dir, "index.mjs")).equals(readFileSync(built))).toBe(true);
    }
    // CloudFormation resolved the references between the resources into the rotation function's environment.
    expect(rotation.environment.REVOCATION_FUNCTION_ARN).toBe(revocation.arn);
    const [[groupId, groupResource] = []] = templateOf("AWS::Scheduler::ScheduleGroup");
    group = groupResource?.Properties?.Name as string;
    expect(groupId && group).toBeTruthy();
    expect(rotation.environment.REVOCATION_SCHEDULE_GROUP).toBe(group);
    const queueUrl = physicalId(templateOf("AWS::SQS::Queue")[0]?.[0] ?? "") ?? "";
    expect(rotation.environment.REVOCATION_DEAD_LETTER_QUEUE_ARN).toBe(
      `arn:aws:sqs:${TEST_REGION}:${TEST_ACCOUNT_ID}:${queueUrl.split("/").pop()}`,
    );
    expect(rotation.environment.REVOCATION_SCHEDULER_ROLE_ARN).toMatch(
      new RegExp(`^arn:aws:iam::${TEST_ACCOUNT_ID}:role/${STACK}-`),
    );
  });

  it("creates the construct's own event bus, named in both functions' environment (moto keeps no bus policy)", async () => {
    const [[, bus] = []] = templateOf("AWS::Events::EventBus");
    const name = bus?.Properties?.Name as string;
    expect(name).toMatch(new RegExp(`^${STACK}-NovalaKeyRotation-[0-9A-F]{8}-events$`));
    // moto lists the bus among the stack's resources with an empty physical id; the bus is there by its name.
    const described = await events.send(new DescribeEventBusCommand({ Name: name }));
    for (const fn of [rotation, revocation]) expect(fn.environment.ROTATION_EVENT_BUS).toBe(described.Arn);
    expect(described.Policy, IGNORED_BY_MOTO["AWS::Events::EventBus Policy"]).toBeUndefined();
    const tags = await lambda.send(new ListTagsCommand({ Resource: rotation.arn }));
    expect(tags.Tags ?? {}, IGNORED_BY_MOTO["AWS::Lambda::Function Tags"]).toEqual({});
    // The manager is the deployment's: the app knows it by name, so the functions carry its partial ARN.
    for (const fn of [rotation, revocation]) {
      expect(fn.environment.MANAGER_SECRET_ARN).toBe(managerArn.replace(/-[A-Za-z0-9]{6}$/, ""));
    }
  });

  it("applies what moto's CloudFormation skipped: the schedule group, and the rotation schedule with its test", async () => {
    await servers.scheduler.send(new CreateScheduleGroupCommand({ Name: group }));
    await applyRotationSchedule(consumerArn);
    const described = await servers.secrets.send(new DescribeSecretCommand({ SecretId: consumerArn }));
    expect(described).toMatchObject({ RotationEnabled: true, RotationLambdaARN: rotation.arn });
    expect(Object.values(described.VersionIdsToStages ?? {}).flat()).toEqual(["AWSCURRENT"]);
    expect((await valueAt(consumerArn, "AWSCURRENT")).keyId).toBe(firstKey.id);
  });

  it("rotates the key with the deployed rotation code, and schedules the old key's revocation", async () => {
    const token = await startRotation(servers.secrets, consumerArn, { token: randomUUID() });
    await driveRotation(consumerArn, token);
    const current = await valueAt(consumerArn, "AWSCURRENT");
    expect(current.keyId).not.toBe(firstKey.id);
    expect(current.managerSecretId).toBe(managerArn);
    expect((await valueAt(consumerArn, "AWSPREVIOUS")).keyId).toBe(firstKey.id);
    expect(servers.novala.model.inspect(String(current.keyId))?.status).toBe("active");
    // The grace period (24 h by default) is running: the old key still works.
    expect(servers.novala.model.inspect(firstKey.id)?.status).toBe("active");
    const schedule = await servers.scheduler.send(
      new GetScheduleCommand({ GroupName: group, Name: revocationScheduleName(consumerArn, firstKey.id) }),
    );
    expect(schedule.Target).toMatchObject({
      Arn: revocation.arn,
      RoleArn: rotation.environment.REVOCATION_SCHEDULER_ROLE_ARN,
      DeadLetterConfig: { Arn: rotation.environment.REVOCATION_DEAD_LETTER_QUEUE_ARN },
    });
    await applyRotationSchedule(consumerArn, { restore: true });
    expect((await servers.secrets.send(new DescribeSecretCommand({ SecretId: consumerArn }))).RotationLambdaARN).toBe(
      rotation.arn,
    );
  });

  it("checks the deployment's secrets for overdue rotations with the deployed code, from its own rule", async () => {
    // The event lists nothing and another secret: the check covers the rule's list, and refuses the other id.
    const run = await invoke(rotation, { check: "rotation-overdue", secretIds: ["novala/not-ours"] });
    expect(run.output).toContain('"RotationsOverdue":0');
    expect(run.output).toMatch(/"OldestRotationAgeDays":\d/);
    expect(run.failure ?? run.output).toContain("refused to check 1 secret id(s) that are not this deployment's");
  });

  it("status lists the pending revocation of the deployed stack", async () => {
    const run = await cli(["status", CONSUMER_SECRET, "--json"]);
    expect(run.code, run.stderr).toBe(0);
    const report = JSON.parse(run.stdout);
    expect(report.scheduleGroup).toBe(group);
    expect(report.revocations).toEqual([
      expect.objectContaining({ keyId: firstKey.id, schedule: revocationScheduleName(consumerArn, firstKey.id) }),
    ]);
  });

  it("revokes the old key with the deployed revocation code and the schedule's Input, when the schedule fires", async () => {
    const schedule = await servers.scheduler.send(
      new GetScheduleCommand({ GroupName: group, Name: revocationScheduleName(consumerArn, firstKey.id) }),
    );
    const run = await invoke(revocation, JSON.parse(schedule.Target?.Input ?? "{}"));
    expect(run.result, run.output).toEqual({ outcome: "revoked" });
    expect(run.nodeVersion).toMatch(/^v24\./);
    expect(servers.novala.model.inspect(firstKey.id)?.status).toBe("revoked");
    expect(run.output).toContain('"KeysRevoked"');
  });

  it("rotate follows a rotation that the deployed code performs", async () => {
    const before = await valueAt(consumerArn, "AWSCURRENT");
    const known = new Set(
      Object.keys(
        (await servers.secrets.send(new DescribeSecretCommand({ SecretId: consumerArn }))).VersionIdsToStages ?? {},
      ),
    );
    // moto cannot run the function: `rotate` names one moto does not know, so that RotateSecret stops at AWSPENDING.
    const child = cli(["rotate", CONSUMER_SECRET, "--lambda-arn", FUNCTION_MOTO_CANNOT_RUN, ...groupOfTheDeployment()]);
    let token: string | undefined;
    for (const deadline = Date.now() + 60_000; !token && Date.now() < deadline; ) {
      const stages = (await servers.secrets.send(new DescribeSecretCommand({ SecretId: consumerArn })))
        .VersionIdsToStages;
      token = Object.entries(stages ?? {}).find(([id, labels]) => !known.has(id) && labels.includes("AWSPENDING"))?.[0];
      if (!token) await new Promise((resolve) => setTimeout(resolve, 200));
    }
    expect(token, "rotate started no rotation").toBeDefined();
    await driveRotation(consumerArn, token as string);
    const run = await child;
    expect(run.code, run.stderr).toBe(0);
    const current = await valueAt(consumerArn, "AWSCURRENT");
    expect(current.keyId).not.toBe(before.keyId);
    expect(run.stdout).toContain(`AWSCURRENT moved to version ${token} (key ${current.keyId})`);
    expect(run.stdout).toContain("Rotation succeeded");
    await applyRotationSchedule(consumerArn, { restore: true });
  });

  it("rollback restores the previous key of the deployed stack and removes its revocation schedule", async () => {
    const previous = await valueAt(consumerArn, "AWSPREVIOUS");
    const current = await valueAt(consumerArn, "AWSCURRENT");
    const scheduleName = revocationScheduleName(consumerArn, String(previous.keyId));
    await expect(
      servers.scheduler.send(new GetScheduleCommand({ GroupName: group, Name: scheduleName })),
    ).resolves.toBeTruthy();
    const run = await cli(["rollback", CONSUMER_SECRET, "--revoke-now", "--yes"]);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toContain(`removed schedule ${group}/${scheduleName}`);
    expect((await valueAt(consumerArn, "AWSCURRENT")).keyId).toBe(previous.keyId);
    expect(servers.novala.model.inspect(String(current.keyId))?.status).toBe("revoked");
    expect(servers.novala.model.inspect(String(previous.keyId))?.status).toBe("active");
    await expect(
      servers.scheduler.send(new GetScheduleCommand({ GroupName: group, Name: scheduleName })),
    ).rejects.toMatchObject({ name: "ResourceNotFoundException" });
  });

  it("reconcile finds a stranded key of the deployed stack's tenant and revokes it", async () => {
    // An abandoned rotation: its version lost every label, and the key minted for it (its lineage tag) is held by none.
    const abandoned = randomUUID();
    await servers.secrets.send(
      new PutSecretValueCommand({
        SecretId: consumerArn,
        ClientRequestToken: abandoned,
        SecretString: JSON.stringify({ abandoned: true }),
        VersionStages: ["AWSPENDING"],
      }),
    );
    await servers.secrets.send(
      new UpdateSecretVersionStageCommand({
        SecretId: consumerArn,
        VersionStage: "AWSPENDING",
        RemoveFromVersionId: abandoned,
      }),
    );
    const stranded = servers.novala.model.seedKey({
      name: replacementKeyName("Acumatica Integration", consumerArn, abandoned),
      scopes: ["leads.lead.read"],
      createdAt: "2026-01-01T00:00:00Z",
    });
    const held = String((await valueAt(consumerArn, "AWSCURRENT")).keyId);
    const dryRun = await cli(["reconcile", "--manager-secret", MANAGER_SECRET, "--json"]);
    expect(dryRun.code, dryRun.stderr).toBe(0);
    expect(JSON.parse(dryRun.stdout).stranded).toEqual([
      expect.objectContaining({ keyId: stranded.id, action: "would revoke" }),
    ]);
    const revoke = await cli(["reconcile", "--manager-secret", MANAGER_SECRET, "--revoke", "--json"]);
    expect(revoke.code, revoke.stderr).toBe(0);
    expect(servers.novala.model.inspect(stranded.id)?.status).toBe("revoked");
    expect(servers.novala.model.inspect(held)?.status).toBe("active");
  });

  it("printed no key material, in the deployed code's logs nor in the command line's output", () => {
    const all = printed.join("\n");
    for (const material of servers.novala.model.issuedKeyMaterial()) expect(all).not.toContain(material);
    expect(all).not.toMatch(KEY_SHAPE);
  });

  it("cdk destroy removes the stack and its functions", async () => {
    await cdk(["destroy", "--force"]);
    const stacks = await cloudformation
      .send(new DescribeStacksCommand({ StackName: STACK }))
      .then((out) => out.Stacks ?? [])
      .catch((error: Error) => {
        if (/does not exist/.test(error.message)) return [];
        throw error;
      });
    expect(stacks.filter((stack) => stack.StackStatus !== "DELETE_COMPLETE")).toEqual([]);
    const left = (await lambda.send(new ListFunctionsCommand({}))).Functions ?? [];
    expect(left.filter((fn) => fn.FunctionName?.startsWith(STACK))).toEqual([]);
  });
});
