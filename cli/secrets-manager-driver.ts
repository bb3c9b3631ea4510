import { randomUUID } from "node:crypto";
import {
  DescribeSecretCommand,
  RotateSecretCommand,
  type RotationRulesType,
  type SecretsManagerClient,
  UpdateSecretVersionStageCommand,
} from "@aws-sdk/client-secrets-manager";
import { ROTATION_STEPS, type RotationEvent, type RotationStep } from "../lambdas/contract/rotation-event.js";
import { AWSPENDING } from "../lambdas/core/ports.js";

/**
 * Stands in for Secrets Manager's rotation service where no Lambda can run (the embedded model, moto, tests):
 * RotateSecret makes the AWSPENDING version, then the steps are invoked in order with the exact event Secrets Manager
 * sends. With rotateImmediately=false only testSecret runs (the configuration test), then AWSPENDING is removed, as
 * Secrets Manager does.
 */
export const LOCAL_ROTATION_LAMBDA_ARN = "arn:aws:lambda:us-east-1:123456789012:function:novala-rotation-local";

/** The event each step is invoked with: the rotation function's (lambdas/contract/rotation-event.ts). */
export type { RotationEvent };

export interface DriveOptions {
  token?: string;
  rotateImmediately?: boolean;
  /** Called before each step; the local run prints from here. */
  onStep?: (step: RotationStep) => void;
}

/** What RotateSecret is asked besides the secret: the rotation function and the schedule to set with it. */
export interface StartOptions extends Pick<DriveOptions, "token" | "rotateImmediately"> {
  /** The rotation function (default LOCAL_ROTATION_LAMBDA_ARN). */
  lambdaArn?: string;
  /** The rotation schedule to set (default every 30 days); "unchanged": leave the secret's as it is. */
  rules?: RotationRulesType | "unchanged";
}

/**
 * RotateSecret, as the console or `aws secretsmanager rotate-secret` calls it, and as `novala-rotation rotate` starts a
 * rotation: the one starter. Resolves the rotation token. moto cannot run a Lambda: it makes the AWSPENDING version and
 * then answers "Resource not found for ARN"; when that version is there, the rotation has started as far as Secrets
 * Manager goes. The function is always named: moto treats a RotateSecret without one as "no function".
 */
export async function startRotation(
  client: SecretsManagerClient,
  secretId: string,
  options: StartOptions = {},
): Promise<string> {
  const token = options.token ?? randomUUID();
  const rules = options.rules ?? { AutomaticallyAfterDays: 30 };
  try {
    await client.send(
      new RotateSecretCommand({
        SecretId: secretId,
        ClientRequestToken: token,
        RotationLambdaARN: options.lambdaArn ?? LOCAL_ROTATION_LAMBDA_ARN,
        ...(rules !== "unchanged" && { RotationRules: rules }),
        RotateImmediately: options.rotateImmediately ?? true,
      }),
    );
  } catch (error) {
    if (!(error instanceof Error && /Resource not found for ARN/.test(error.message))) throw error;
    const described = await client.send(new DescribeSecretCommand({ SecretId: secretId }));
    if (!described.VersionIdsToStages?.[token]?.includes(AWSPENDING)) throw error;
  }
  return token;
}

/** Invokes the steps for `token` in Secrets Manager's order; stops at the first that throws, and rethrows it. */
export async function driveSteps(
  client: SecretsManagerClient,
  invoke: (event: RotationEvent) => Promise<unknown>,
  secretId: string,
  token: string,
  options: Omit<DriveOptions, "token"> = {},
): Promise<void> {
  const configurationTest = options.rotateImmediately === false;
  const steps: readonly RotationStep[] = configurationTest ? ["testSecret"] : ROTATION_STEPS;
  try {
    for (const step of steps) {
      options.onStep?.(step);
      await invoke({ Step: step, SecretId: secretId, ClientRequestToken: token });
    }
  } finally {
    if (configurationTest) {
      const described = await client.send(new DescribeSecretCommand({ SecretId: secretId }));
      if (described.VersionIdsToStages?.[token]?.includes(AWSPENDING)) {
        await client.send(
          new UpdateSecretVersionStageCommand({
            SecretId: secretId,
            VersionStage: AWSPENDING,
            RemoveFromVersionId: token,
          }),
        );
      }
    }
  }
}

/** RotateSecret, then every step: a whole rotation as Secrets Manager runs it. Resolves the token. */
export async function rotateLikeSecretsManager(
  client: SecretsManagerClient,
  invoke: (event: RotationEvent) => Promise<unknown>,
  secretId: string,
  options: DriveOptions = {},
): Promise<string> {
  const token = await startRotation(client, secretId, options);
  await driveSteps(client, invoke, secretId, token, options);
  return token;
}
