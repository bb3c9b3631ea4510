import { type ChildProcess, spawn } from "node:child_process";
import { accessSync, constants } from "node:fs";
import { createServer } from "node:net";
import { delimiter, join } from "node:path";
import { SchedulerClient } from "@aws-sdk/client-scheduler";
import { SecretsManagerClient } from "@aws-sdk/client-secrets-manager";

/**
 * Runs moto_server for tests that want a second, independent Secrets Manager / Scheduler endpoint. Without moto on
 * PATH those suites are skipped with an install hint — unless REQUIRE_MOTO=1 (CI), where absence fails them. SDK
 * clients get dummy credentials and region in their own configuration, never through process.env.
 */

export const MOTO_HINT = 'moto_server is not on PATH: pip install "moto[server]"';
export const TEST_REGION = "us-east-1";
export const TEST_ACCOUNT_ID = "123456789012";
export const TEST_CREDENTIALS = { accessKeyId: "test", secretAccessKey: "test", sessionToken: "test" };
export const TEST_SCHEDULE_GROUP = "novala-revocations";
export const TEST_REVOCATION_FUNCTION_ARN = "arn:aws:lambda:us-east-1:123456789012:function:novala-revocation";
export const TEST_SCHEDULER_ROLE_ARN = "arn:aws:iam::123456789012:role/novala-scheduler";

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
    NOVALA_ALLOWED_HOSTS: "127.0.0.1",
    REVOCATION_GRACE_SECONDS: "0",
    REVOCATION_SCHEDULE_GROUP: TEST_SCHEDULE_GROUP,
    REVOCATION_FUNCTION_ARN: TEST_REVOCATION_FUNCTION_ARN,
    REVOCATION_SCHEDULER_ROLE_ARN: TEST_SCHEDULER_ROLE_ARN,
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
  const child = spawn("moto_server", ["-p", String(port), "-H", "127.0.0.1"], { stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  child.stderr?.on("data", (chunk: Buffer) => {
    stderr = (stderr + chunk.toString("utf8")).slice(-4000);
  });
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
