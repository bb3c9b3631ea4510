import { paginateListStackResources } from "@aws-sdk/client-cloudformation";
import { GetFunctionConfigurationCommand, ListTagsCommand } from "@aws-sdk/client-lambda";
import { awsServiceError } from "../lambdas/adapters/aws/errors.js";
import type { AllowedHosts } from "../lambdas/contract/allowed-hosts.js";
import {
  type NovalaClientConfig,
  type RevocationTarget,
  readRotationConfig,
  type UsageConfig,
} from "../lambdas/contract/configuration.js";
import {
  DEPLOYMENT_TAG,
  FUNCTION_TAG,
  parseDeploymentMark,
  STACK_ID_TAG,
  STACK_NAME_TAG,
} from "../lambdas/contract/deployment-mark.js";
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
  /**
   * The deployment's manager secrets (ARNs, full or partial), as its rotation function names them; undefined when it
   * names none (an older deployment), [] when it says it has none.
   */
  managerSecretArns?: string[];
  /** The CloudFormation stack the rotation function carries the mark of (verifyDeployment). */
  stack?: string;
  /** The rotation function's Novala client settings: where it may send keys, its timeouts and retry budget. */
  novala?: NovalaClientConfig;
  /** The hosts the rotation function sends keys to (its NOVALA_ALLOWED_HOSTS). */
  allowedHosts?: AllowedHosts;
}

export interface LocationFlags {
  /** --schedule-group (or REVOCATION_SCHEDULE_GROUP). */
  scheduleGroup?: string;
  /** --lambda-arn: the rotation function. */
  lambdaArn?: string;
}

/** The environment variable that names the expected stack, as --stack does. */
export const EXPECTED_STACK_VARIABLE = "NOVALA_ROTATION_STACK";

/** verifyDeployment refused a rotation function: it is not (provably) the deployment's. Never swallowed. */
export class UntrustedFunctionError extends CliError {
  override name = "UntrustedFunctionError";
}

/** What verifyDeployment found: the stack that deployed the function. */
export interface DeploymentMark {
  functionArn: string;
  /** The stack's id (from its tag) or, when only --stack proves it, the name given. */
  stack: string;
}

const verified = new WeakMap<Aws, Map<string, Promise<DeploymentMark>>>();

/**
 * Whether the CLI may act through `functionArn`, the rotation function a secret names (RotationLambdaARN, which anyone
 * who may call RotateSecret on the secret can change) or --lambda-arn: its environment says where revocations are
 * scheduled, with which role, on which event bus, so a function that is not the deployment's could steer them. The
 * function must carry the deployment's mark: the `aws:cloudformation:stack-id` tag that CloudFormation sets and no one
 * else can (lambda:ListTags), naming the expected stack when one is given (--stack or NOVALA_ROTATION_STACK). Where the
 * tag is missing (moto's CloudFormation sets none), the expected stack must list the function among its resources
 * (cloudformation:ListStackResources). Anything else is refused with the reason. Checked once per function and command.
 */
export function verifyDeployment(aws: Aws, functionArn: string): Promise<DeploymentMark> {
  return oncePerCommand(verified, aws, functionArn, () => checkMark(aws, functionArn));
}

/**
 * `make()` once per command (its Aws) and key, shared by every secret of a mass command; a failure is not kept, so the
 * next secret asks again (and says why again).
 */
function oncePerCommand<T>(
  cache: WeakMap<Aws, Map<string, Promise<T>>>,
  aws: Aws,
  key: string,
  make: () => Promise<T>,
): Promise<T> {
  let made = cache.get(aws);
  if (!made) {
    made = new Map();
    cache.set(aws, made);
  }
  let value = made.get(key);
  if (!value) {
    value = make();
    value.catch(() => made?.delete(key));
    made.set(key, value);
  }
  return value;
}

async function checkMark(aws: Aws, functionArn: string): Promise<DeploymentMark> {
  const expected = aws.expectedStack;
  let tags: Record<string, string>;
  try {
    tags = (await aws.lambda.send(new ListTagsCommand({ Resource: functionArn }))).Tags ?? {};
  } catch (error) {
    const failure = awsServiceError("ListTags", functionArn, error);
    if (isNotFound(failure)) throw new CliError(`rotation function ${functionArn} does not exist`);
    throw new UntrustedFunctionError(
      `cannot read the tags of rotation function ${functionArn} (lambda:ListTags: ${errorMessage(error)}), so ` +
        "whether it is the deployment's is unknown: the command line acts only through its deployment's rotation " +
        "function. Grant lambda:ListTags on it",
    );
  }
  const stackId = tags[STACK_ID_TAG];
  if (stackId) {
    // CloudFormation's own tags prove the stack; the construct's mark, beside them, that it is this construct's rotation
    // function in that stack (lambdas/contract/deployment-mark.ts).
    const stackName = tags[STACK_NAME_TAG] ?? stackNameOf(stackId);
    const mark = parseDeploymentMark(tags[DEPLOYMENT_TAG] ?? "");
    if (!mark || mark.stackName !== stackName || tags[FUNCTION_TAG] !== "rotation") {
      throw new UntrustedFunctionError(
        `refusing rotation function ${functionArn}: stack ${stackName} deployed it, but it does not carry the ` +
          `rotation function's mark of that stack (${DEPLOYMENT_TAG} "${stackName}/…" and ${FUNCTION_TAG} "rotation"): ` +
          "it is not a novala-rotation deployment's rotation function. Check the secret's RotationLambdaARN",
      );
    }
    if (expected && !stackNamed(stackId, expected)) {
      throw new UntrustedFunctionError(
        `refusing rotation function ${functionArn}: it belongs to stack ${stackName}, not to the expected stack ` +
          `${expected} (--stack or ${EXPECTED_STACK_VARIABLE}). A secret's rotation function can be changed by anyone ` +
          "who may rotate it: check the secret's RotationLambdaARN",
      );
    }
    return { functionArn, stack: stackId };
  }
  if (!expected) {
    throw new UntrustedFunctionError(
      `refusing rotation function ${functionArn}: it carries no deployment mark (no ${STACK_ID_TAG} tag: ` +
        "CloudFormation did not deploy it), and the command line acts only through its deployment's rotation " +
        "function, since anyone who may rotate a secret can point it at another. If it is yours (moto's " +
        `CloudFormation tags nothing), name its stack with --stack <name> (or ${EXPECTED_STACK_VARIABLE})`,
    );
  }
  if (await stackHoldsFunction(aws, expected, functionArn)) return { functionArn, stack: expected };
  throw new UntrustedFunctionError(
    `refusing rotation function ${functionArn}: it carries no ${STACK_ID_TAG} tag and stack ${expected} ` +
      "(--stack) does not list it among its resources. Check the secret's RotationLambdaARN",
  );
}

/** Whether the stack `stack` lists `functionArn` (by name or ARN) as one of its Lambda functions. */
async function stackHoldsFunction(aws: Aws, stack: string, functionArn: string): Promise<boolean> {
  const name = functionArn.split(":function:")[1]?.split(":")[0] ?? functionArn;
  try {
    for await (const page of paginateListStackResources({ client: aws.cloudformation }, { StackName: stack })) {
      for (const resource of page.StackResourceSummaries ?? []) {
        if (resource.ResourceType !== "AWS::Lambda::Function") continue;
        if (resource.PhysicalResourceId === name || resource.PhysicalResourceId === functionArn) return true;
      }
    }
  } catch (error) {
    throw new UntrustedFunctionError(
      `cannot list the resources of stack ${stack} (cloudformation:ListStackResources: ${errorMessage(error)}), so ` +
        `whether rotation function ${functionArn} is its own is unknown`,
    );
  }
  return false;
}

/** "arn:aws:cloudformation:…:stack/<name>/<uuid>" → "<name>". */
function stackNameOf(stackId: string): string {
  return /:stack\/([^/]+)\//.exec(stackId)?.[1] ?? stackId;
}

function stackNamed(stackId: string, expected: string): boolean {
  return expected === stackId || expected === stackNameOf(stackId);
}

/**
 * The rotation function's environment variables (GetFunctionConfiguration), once verifyDeployment has found the
 * deployment's mark on it: every read of a function's configuration goes through here.
 */
export function readRotationFunctionEnvironment(aws: Aws, functionArn: string): Promise<Record<string, string>> {
  return oncePerCommand(environments, aws, functionArn, () => readEnvironment(aws, functionArn));
}

/** Each rotation function's environment, read once per command (a mass command reads one function per secret). */
const environments = new WeakMap<Aws, Map<string, Promise<Record<string, string>>>>();

async function readEnvironment(aws: Aws, functionArn: string): Promise<Record<string, string>> {
  await verifyDeployment(aws, functionArn);
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
    stack: (await verifyDeployment(aws, functionArn)).stack,
    graceSeconds: config.graceSeconds,
    novala: {
      allowedHosts: config.allowedHosts,
      connectTimeoutMs: config.connectTimeoutMs,
      requestTimeoutMs: config.requestTimeoutMs,
      retryBudgetMs: config.retryBudgetMs,
    },
    // MANAGER_SECRET_ARN: null when the deployment has none; undefined when its function does not say (older ones).
    ...(config.managerSecretArn !== undefined && {
      managerSecretArns: config.managerSecretArn === null ? [] : [config.managerSecretArn],
    }),
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
      // A function that is not the deployment's is refused whatever the flags: the secret names it, and may be forged.
      if (error instanceof UntrustedFunctionError) throw error;
      if (!flags.scheduleGroup) throw new CliError(`${errorMessage(error)}; or give --schedule-group`);
    }
  }
  const scheduleGroup = flags.scheduleGroup ?? found.scheduleGroup;
  return { ...found, ...(scheduleGroup && { scheduleGroup }) };
}

/**
 * The deployment of a secret about to rotate, when it can be found: its rotation function's configuration (so that a
 * check sends keys only where that function would). Undefined when no function is readable (moto without one, a function
 * named by --lambda-arn that does not exist); a function that is not the deployment's is refused (verifyDeployment).
 */
export async function deploymentIfAny(
  aws: Aws,
  secret: { Name?: string; RotationLambdaARN?: string },
  flags: LocationFlags,
): Promise<Deployment | undefined> {
  try {
    return await findDeployment(aws, secret, flags);
  } catch (error) {
    if (error instanceof UntrustedFunctionError) throw error;
    return undefined;
  }
}
