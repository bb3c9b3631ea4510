/** The two functions (rotation and revocation) from their pre-bundled code, their roles and log groups. */
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type * as ec2 from "aws-cdk-lib/aws-ec2";
import * as iam from "aws-cdk-lib/aws-iam";
import * as lambda from "aws-cdk-lib/aws-lambda";
import * as logs from "aws-cdk-lib/aws-logs";
import type * as sqs from "aws-cdk-lib/aws-sqs";
import type { Construct } from "constructs";
import type { NovalaKeyRotationProps, Settings } from "./props.js";

export function lambdaRole(scope: Construct, id: string, description: string, vpc: ec2.IVpc | undefined): iam.Role {
  return new iam.Role(scope, id, {
    description,
    assumedBy: new iam.ServicePrincipal("lambda.amazonaws.com"),
    managedPolicies: vpc
      ? [iam.ManagedPolicy.fromAwsManagedPolicyName("service-role/AWSLambdaVPCAccessExecutionRole")]
      : [],
  });
}

interface FunctionSpec {
  /** The folder of its pre-bundled code under dist/lambdas (scripts/lambda-bundles.ts). */
  code: "rotation" | "revocation";
  description: string;
  role: iam.Role;
  environment: Record<string, string>;
  deadLetterQueue?: sqs.IQueue;
  /** Reserved concurrent executions (the rotation function with an explicit `rotationConcurrency`). */
  reservedConcurrency?: number;
}

/**
 * One of the two functions, from its pre-bundled code: one minified ES module with a source map, built with the package
 * (scripts/lambda-bundles.ts), so synthesizing needs neither esbuild nor Docker.
 */
export function novalaFunction(
  scope: Construct,
  id: string,
  { props, settings }: { props: NovalaKeyRotationProps; settings: Settings },
  spec: FunctionSpec,
): lambda.Function {
  // The log group is created here (not by Lambda on first write) so that it has a retention and the role may write
  // to it alone, without the AWSLambdaBasicExecutionRole managed policy.
  const logGroup = new logs.LogGroup(scope, `${id}Logs`, { retention: settings.logRetention });
  const fn = new lambda.Function(scope, id, {
    code: lambda.Code.fromAsset(lambdaAssetDir(spec.code)),
    handler: "index.handler",
    description: spec.description,
    runtime: settings.runtime,
    architecture: lambda.Architecture.ARM_64,
    memorySize: settings.memorySize,
    timeout: settings.timeout,
    role: spec.role,
    logGroup,
    loggingFormat: lambda.LoggingFormat.JSON,
    environment: spec.environment,
    ...(spec.deadLetterQueue && { deadLetterQueue: spec.deadLetterQueue }),
    ...(spec.reservedConcurrency !== undefined && { reservedConcurrentExecutions: spec.reservedConcurrency }),
    ...(props.vpc && {
      vpc: props.vpc,
      ...(props.vpcSubnets && { vpcSubnets: props.vpcSubnets }),
      ...(props.securityGroups && { securityGroups: props.securityGroups }),
    }),
  });
  logGroup.grantWrite(spec.role);
  return fn;
}

/**
 * The folder of a function's pre-bundled code: dist/lambdas/<name> of this package, found from this module whether it
 * runs as built JavaScript (dist/lib) or as TypeScript in this repository (lib).
 */
function lambdaAssetDir(name: FunctionSpec["code"]): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, "package.json"))) {
    const parent = dirname(dir);
    if (parent === dir) break;
    dir = parent;
  }
  const assetDir = join(dir, "dist", "lambdas", name);
  if (!existsSync(join(assetDir, "index.mjs"))) {
    throw new Error(
      `NovalaKeyRotation: the pre-bundled ${name} function is missing (${join(assetDir, "index.mjs")}): ` +
        "in this package's repository run `npm run build` (or `npm run build:lambdas`); an installed package ships it",
    );
  }
  return assetDir;
}
