import { GetFunctionConfigurationCommand } from "@aws-sdk/client-lambda";
import { awsServiceError } from "../lambdas/adapters/aws/errors.js";
import type { AllowedHosts } from "../lambdas/contract/allowed-hosts.js";
import { type RevocationTarget, readRotationConfig, type UsageConfig } from "../lambdas/contract/configuration.js";
import { ENV } from "../lambdas/contract/environment.js";
import { errorMessage } from "../lambdas/core/errors.js";
import { type Aws, isNotFound } from "./aws.js";
import { CliError, EXIT } from "./errors.js";

/**
 * Where a secret's rotation lives: DescribeSecret names its rotation function, and that function's environment (read
 * with GetFunctionConfiguration, through the same reader the function uses) names the revocation schedule group, the
 * revocation function and scheduler role, the grace period and the event bus. Flags override what it says.
 */
export interface Deployment {
  /** The rotation function whose environment was read. */
  rotationFunctionArn?: string;
  /** Undefined only when neither a flag nor the function names one (a grace period of 0 needs none). */
  scheduleGroup?: string;
  revocation?: RevocationTarget;
  graceSeconds?: number;
  eventBus?: string;
  /** The usage rule of due revocations (quiet window, hard limit, what happens at it). */
  usage?: UsageConfig;
  /** The hosts the rotation function sends keys to (its NOVALA_ALLOWED_HOSTS). */
  allowedHosts?: AllowedHosts;
}

export interface LocationFlags {
  /** --schedule-group (or REVOCATION_SCHEDULE_GROUP). */
  scheduleGroup?: string;
  /** --lambda-arn: the rotation function. */
  lambdaArn?: string;
}

/** The rotation function's environment variables (GetFunctionConfiguration). */
export async function readRotationFunctionEnvironment(aws: Aws, functionArn: string): Promise<Record<string, string>> {
  try {
    const out = await aws.lambda.send(new GetFunctionConfigurationCommand({ FunctionName: functionArn }));
    return out.Environment?.Variables ?? {};
  } catch (error) {
    const failure = awsServiceError("GetFunctionConfiguration", functionArn, error);
    if (isNotFound(failure)) throw new CliError(`rotation function ${functionArn} does not exist`);
    const named = failure.awsErrorName ? `${failure.awsErrorName}: ` : "";
    throw new CliError(
      `cannot read the configuration of rotation function ${functionArn} (GetFunctionConfiguration: ` +
        `${named}${errorMessage(error)})`,
    );
  }
}

/** The rotation function's configuration, as the function itself reads it. */
export async function readRotationFunction(aws: Aws, functionArn: string): Promise<Deployment> {
  const variables = await readRotationFunctionEnvironment(aws, functionArn);
  let config: ReturnType<typeof readRotationConfig>;
  try {
    config = readRotationConfig(variables);
  } catch (error) {
    throw new CliError(`rotation function ${functionArn} has a configuration it rejects: ${errorMessage(error)}`);
  }
  return {
    rotationFunctionArn: functionArn,
    graceSeconds: config.graceSeconds,
    usage: config.usage,
    allowedHosts: config.allowedHosts,
    ...(config.revocation && { scheduleGroup: config.revocation.scheduleGroup, revocation: config.revocation }),
    ...(config.eventBus && { eventBus: config.eventBus }),
  };
}

/**
 * The deployment that rotates `secret`. Without a --schedule-group, the secret's rotation function (or --lambda-arn)
 * must be readable; with one, the function adds what it can and a failure to read it is not an error.
 */
export async function findDeployment(
  aws: Aws,
  secret: { Name?: string; RotationLambdaARN?: string },
  flags: LocationFlags,
): Promise<Deployment> {
  const functionArn = flags.lambdaArn ?? secret.RotationLambdaARN;
  if (!functionArn && !flags.scheduleGroup) {
    throw new CliError(
      `secret ${secret.Name} has no rotation function, so where its revocations are scheduled is unknown: ` +
        `give --schedule-group (or ${ENV.scheduleGroup})`,
      EXIT.usage,
    );
  }
  let found: Deployment = {};
  if (functionArn) {
    try {
      found = await readRotationFunction(aws, functionArn);
    } catch (error) {
      if (!flags.scheduleGroup) throw new CliError(`${errorMessage(error)}; or give --schedule-group`);
    }
  }
  const scheduleGroup = flags.scheduleGroup ?? found.scheduleGroup;
  return { ...found, ...(scheduleGroup && { scheduleGroup }) };
}
