import { type ChildProcess, spawn } from "node:child_process";
import { accessSync, constants } from "node:fs";
import { createServer } from "node:net";
import { delimiter, join } from "node:path";
import {
  CreateFunctionCommand,
  LambdaClient,
  ResourceConflictException,
  UpdateFunctionConfigurationCommand,
} from "@aws-sdk/client-lambda";
import { SchedulerClient } from "@aws-sdk/client-scheduler";
import { SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { rotationEnvironment } from "../../lambdas/contract/environment.js";
import { recordChildOutput } from "./child-output.js";

/**
 * Runs moto_server for tests that want a second, independent Secrets Manager / Scheduler endpoint. Without moto on
 * PATH those suites are skipped with an install hint — unless REQUIRE_MOTO=1 (CI), where absence fails them. SDK
 * clients get dummy credentials and region in their own configuration, never through process.env.
 */

import {
  TEST_ACCOUNT_ID,
  TEST_REGION,
  TEST_REVOCATION_FUNCTION_ARN,
  TEST_SCHEDULE_GROUP,
  TEST_SCHEDULER_ROLE_ARN,
  TEST_STACK_ID,
} from "./fake-aws.js";

export {
  TEST_ACCOUNT_ID,
  TEST_DEAD_LETTER_QUEUE_ARN,
  TEST_EVENT_BUS_ARN,
  TEST_REGION,
  TEST_REVOCATION_FUNCTION_ARN,
  TEST_SCHEDULE_GROUP,
  TEST_SCHEDULER_ROLE_ARN,
  TEST_STACK_ID,
} from "./fake-aws.js";

export const MOTO_HINT = 'moto_server is not on PATH: pip install "moto[server]"';
export const TEST_CREDENTIALS = { accessKeyId: "test", secretAccessKey: "test", sessionToken: "test" };

/**
 * The environment the Lambdas read, as the construct sets it, but pointed at `endpoint` (moto or the embedded model)
 * with dummy credentials, and at Novala on loopback. Each test adds what it tunes (deadlines, budgets, log level).
 */
export function lambdaEnvironment(endpoint: string, overrides: Record<string, string> = {}): Record<string, string> {
  return {
    AWS_REGION: TEST_REGION,
    AWS_ACCESS_KEY_ID: TEST_CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: TEST_CREDENTIALS.secretAccessKey,
    AWS_SESSION_TOKEN: TEST_CREDENTIALS.sessionToken,
    AWS_ENDPOINT_URL: endpoint,
    ...rotationEnvironment({
      allowedHosts: ["127.0.0.1"],
      gracePeriodSeconds: 0,
      scheduleGroup: TEST_SCHEDULE_GROUP,
      revocationFunctionArn: TEST_REVOCATION_FUNCTION_ARN,
      schedulerRoleArn: TEST_SCHEDULER_ROLE_ARN,
    }),
    ...overrides,
  };
}

export const motoAvailable = onPath("moto_server");
export const motoRequired = process.env.REQUIRE_MOTO === "1";
/** For `describe.skipIf(skipMoto)`: true when moto is absent and not required. */
export const skipMoto = !motoAvailable && !motoRequired;

/** A suite title that carries the install hint when the suite is skipped. */
export function motoSuiteTitle(title: string): string {
  return skipMoto ? `${title} (skipped: ${MOTO_HINT})` : title;
}

export interface Moto {
  endpoint: string;
  /** Forgets every resource (POST /moto-api/reset). */
  reset(): Promise<void>;
  stop(): Promise<void>;
}

export async function startMoto(options: { startTimeoutMs?: number } = {}): Promise<Moto> {
  if (!motoAvailable) throw new Error(`${MOTO_HINT}${motoRequired ? " (REQUIRE_MOTO=1)" : ""}`);
  const port = await freePort();
  const endpoint = `http://127.0.0.1:${port}`;
  const child = spawn("moto_server", ["-p", String(port), "-H", "127.0.0.1"], { stdio: ["ignore", "pipe", "pipe"] });
  let stderr = "";
  // Its request log goes, line by line, to the running test's captured output (shown if that test fails); the tail of
  // stderr to the errors below.
  for (const stream of [child.stdout, child.stderr]) {
    let partial = "";
    stream?.on("data", (chunk: Buffer) => {
      const text = partial + chunk.toString("utf8");
      const end = text.lastIndexOf("\n") + 1;
      recordChildOutput("moto_server", text.slice(0, end));
      partial = text.slice(end);
      if (stream === child.stderr) stderr = (stderr + chunk.toString("utf8")).slice(-4000);
    });
    stream?.once("end", () => recordChildOutput("moto_server", partial));
  }
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  const deadline = Date.now() + (options.startTimeoutMs ?? 30_000);
  for (;;) {
    if (child.exitCode !== null) throw new Error(`moto_server exited with ${child.exitCode}: ${stderr.trim()}`);
    try {
      const answer = await fetch(`${endpoint}/moto-api/reset`, { method: "POST", signal: AbortSignal.timeout(1000) });
      if (answer.ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await stopChild(child, exited);
      throw new Error(`moto_server did not answer on ${endpoint} within the timeout: ${stderr.trim()}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return {
    endpoint,
    async reset() {
      const answer = await fetch(`${endpoint}/moto-api/reset`, { method: "POST" });
      if (!answer.ok) throw new Error(`moto reset answered ${answer.status}`);
    },
    stop: () => stopChild(child, exited),
  };
}

/** A SecretsManagerClient for `endpoint` with dummy credentials. */
export function secretsManagerClientFor(
  endpoint: string,
  overrides: Partial<ConstructorParameters<typeof SecretsManagerClient>[0]> = {},
): SecretsManagerClient {
  return new SecretsManagerClient({ endpoint, region: TEST_REGION, credentials: TEST_CREDENTIALS, ...overrides });
}

/** A SchedulerClient for `endpoint` with dummy credentials. */
export function schedulerClientFor(
  endpoint: string,
  overrides: Partial<ConstructorParameters<typeof SchedulerClient>[0]> = {},
): SchedulerClient {
  return new SchedulerClient({ endpoint, region: TEST_REGION, credentials: TEST_CREDENTIALS, ...overrides });
}

/**
 * Registers a Lambda function in moto with `environment`, as a deploy would (or updates the environment of one that is
 * there). moto stores a function without Docker; only invoking it needs Docker, and nothing here invokes it. Its role
 * must exist in moto's IAM, which is made first. `tags` default to the mark CloudFormation puts on a stack's function
 * (CloudFormation's stack tags and the construct's mark, which the command line checks: cli/deployment.ts); `{}` makes
 * a function no stack deployed.
 */
export async function registerMotoFunction(
  endpoint: string,
  functionArn: string,
  environment: Record<string, string>,
  tags: Record<string, string> = {
    "aws:cloudformation:stack-id": TEST_STACK_ID,
    "aws:cloudformation:stack-name": "novala-test",
    "novala-rotation:deployment": "novala-test/NovalaKeyRotation",
    "novala-rotation:function": "rotation",
  },
): Promise<void> {
  const roleName = "novala-test-lambda-role";
  await createMotoRole(endpoint, roleName, "lambda.amazonaws.com");
  const lambda = new LambdaClient({ endpoint, region: TEST_REGION, credentials: TEST_CREDENTIALS });
  const name = functionArn.split(":function:")[1] as string;
  try {
    await lambda.send(
      new CreateFunctionCommand({
        FunctionName: name,
        Role: `arn:aws:iam::${TEST_ACCOUNT_ID}:role/${roleName}`,
        Runtime: "nodejs24.x",
        Handler: "index.handler",
        // An empty zip archive: moto keeps the code, nothing runs it.
        Code: { ZipFile: Uint8Array.from([0x50, 0x4b, 0x05, 0x06, ...new Array(18).fill(0)]) },
        Environment: { Variables: environment },
        Tags: tags,
      }),
    );
  } catch (error) {
    if (!(error instanceof ResourceConflictException)) throw error;
    await lambda.send(
      new UpdateFunctionConfigurationCommand({ FunctionName: name, Environment: { Variables: environment } }),
    );
  } finally {
    lambda.destroy();
  }
}

/** CreateRole over moto's IAM query API (no IAM client in the project); a role that exists is left as it is. */
async function createMotoRole(endpoint: string, roleName: string, service: string): Promise<void> {
  const trust = JSON.stringify({
    Version: "2012-10-17",
    Statement: [{ Effect: "Allow", Principal: { Service: service }, Action: "sts:AssumeRole" }],
  });
  const answer = await motoQuery(endpoint, "iam", {
    Action: "CreateRole",
    Version: "2010-05-08",
    RoleName: roleName,
    AssumeRolePolicyDocument: trust,
  });
  if (!answer.ok && !answer.text.includes("EntityAlreadyExists")) {
    throw new Error(`moto CreateRole ${roleName} answered ${answer.status}: ${answer.text.slice(0, 300)}`);
  }
}

/**
 * One call of an AWS query-protocol API (IAM, SQS) on moto, for services the project has no SDK client of. moto
 * routes by the credential scope's service and does not check the signature.
 */
export async function motoQuery(
  endpoint: string,
  service: string,
  params: Record<string, string>,
): Promise<{ ok: boolean; status: number; text: string }> {
  const answer = await fetch(endpoint, {
    method: "POST",
    headers: {
      "content-type": "application/x-www-form-urlencoded",
      authorization: `AWS4-HMAC-SHA256 Credential=${TEST_CREDENTIALS.accessKeyId}/20260101/${TEST_REGION}/${service}/aws4_request, SignedHeaders=host, Signature=0`,
    },
    body: new URLSearchParams(params).toString(),
  });
  return { ok: answer.ok, status: answer.status, text: await answer.text() };
}

async function stopChild(child: ChildProcess, exited: Promise<number | null>): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
  await exited;
  clearTimeout(timer);
}

function onPath(command: string): boolean {
  for (const dir of (process.env.PATH ?? "").split(delimiter)) {
    if (!dir) continue;
    try {
      accessSync(join(dir, command), constants.X_OK);
      return true;
    } catch {
      // not here
    }
  }
  return false;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}
