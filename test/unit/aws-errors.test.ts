import { inspect } from "node:util";
import type { SchedulerClient } from "@aws-sdk/client-scheduler";
import { ResourceNotFoundException, type SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { describe, expect, it } from "vitest";
import { AwsServiceError } from "../../lambdas/adapters/aws/errors.js";
import { AwsRevocationScheduler, SchedulerError } from "../../lambdas/adapters/aws/revocation-scheduler.js";
import { AwsSecretStore, SecretStoreError } from "../../lambdas/adapters/aws/secret-store.js";
import { RotationError } from "../../lambdas/contract/errors.js";
import { AWSCURRENT } from "../../lambdas/core/ports.js";

const SECRET = "sk_live_THIS_MUST_NOT_LEAK_0123456789";
const target = {
  functionArn: "arn:aws:lambda:us-east-1:123456789012:function:revoke",
  schedulerRoleArn: "arn:aws:iam::123456789012:role/scheduler",
  scheduleGroup: "novala-revocations",
};

/** An SDK error as the client throws it: the raw response (which may hold the secret's value) attached. */
function sdkError(name: string, message: string, status: number): Error {
  return Object.assign(new Error(message), {
    name,
    $fault: "client",
    $metadata: { httpStatusCode: status },
    $response: { statusCode: status, body: `{"SecretString":"${SECRET}"}` },
  });
}

function failingClient<C>(error: unknown): C {
  return { send: () => Promise.reject(error) } as unknown as C;
}

describe("AWS errors", () => {
  it("a Secrets Manager failure carries the operation and AWS's exception name as fields, and no raw response", async () => {
    const store = new AwsSecretStore(
      failingClient<SecretsManagerClient>(sdkError("AccessDeniedException", "not authorized", 400)),
    );
    const error = await store.getValue("novala/acme", { stage: AWSCURRENT }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(SecretStoreError);
    expect(error).toBeInstanceOf(AwsServiceError);
    expect(error).toBeInstanceOf(RotationError);
    expect(error).toMatchObject({
      name: "SecretStoreError",
      operation: "GetSecretValue",
      awsErrorName: "AccessDeniedException",
      httpStatusCode: 400,
      message: "GetSecretValue novala/acme: AccessDeniedException: not authorized",
    });
    expect((error as Error).cause).toBeUndefined();
    expect(error).not.toHaveProperty("$response");
    expect(inspect(error, { depth: 10 })).not.toContain(SECRET);
    expect(JSON.stringify(error)).not.toContain(SECRET);
  });

  it("a value that is not there is undefined, recognised by the SDK's exception class", async () => {
    const notFound = new ResourceNotFoundException({ message: "no such version", $metadata: {} });
    let calls = 0;
    const client = {
      send: () => {
        calls += 1;
        return calls === 1
          ? Promise.reject(notFound)
          : Promise.resolve({ ARN: "arn:secret", Name: "novala/acme", VersionIdsToStages: {} });
      },
    } as unknown as SecretsManagerClient;
    expect(await new AwsSecretStore(client).getValue("novala/acme", { stage: "AWSPENDING" })).toBeUndefined();
  });

  it("a failed ListSchedules (isScheduled) names ListSchedules, not CreateSchedule", async () => {
    const scheduler = new AwsRevocationScheduler(
      failingClient<SchedulerClient>(sdkError("ThrottlingException", "Rate exceeded", 400)),
      target,
    );
    const error = await scheduler.isScheduled("revoke-x").catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(SchedulerError);
    expect(error).toMatchObject({
      operation: "ListSchedules",
      awsErrorName: "ThrottlingException",
      message: "ListSchedules novala-revocations/revoke-x: ThrottlingException: Rate exceeded",
    });
    expect((error as Error).message).not.toContain("CreateSchedule");
    expect(inspect(error, { depth: 10 })).not.toContain(SECRET);
  });
});
