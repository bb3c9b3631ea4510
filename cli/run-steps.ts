import { rotationDepsWith } from "../lambdas/adapters/aws/deps-from-environment.js";
import { createNovalaKeyApi } from "../lambdas/adapters/novala/key-api.js";
import { AllowedHosts } from "../lambdas/contract/allowed-hosts.js";
import { type RotationConfig, readRotationConfig } from "../lambdas/contract/configuration.js";
import type { RotationStep } from "../lambdas/contract/rotation-event.js";
import { errorMessage } from "../lambdas/core/errors.js";
import type { Telemetry } from "../lambdas/core/ports.js";
import { runRotationStep } from "../lambdas/core/rotation.js";
import { readRotationFunctionEnvironment } from "./deployment.js";
import { CliError } from "./errors.js";
import { driveSteps } from "./secrets-manager-driver.js";
import type { Session } from "./session.js";

/**
 * `rotate --run-steps`: the four steps of rotation `token`, run on this machine exactly as the rotation function runs
 * them (lambdas/core/rotation.ts runRotationStep, which also records the outcome and the marks on the secret), in Secrets Manager's
 * order. For endpoints that cannot run Lambda code (moto, an embedded model). The configuration is the deployed
 * function's environment (GetFunctionConfiguration) when there is one, else this machine's; keys go only to hosts
 * that both that configuration's NOVALA_ALLOWED_HOSTS and this machine's allow.
 */
export async function runStepsHere(
  session: Session,
  secretArn: string,
  token: string,
  functionArn: string | undefined,
  onStep: (step: RotationStep, note: string) => void,
  telemetry: Telemetry = session.deps.telemetry,
): Promise<void> {
  const { variables, source } = await stepEnvironment(session, functionArn);
  let config: RotationConfig;
  try {
    config = readRotationConfig(variables);
  } catch (error) {
    throw new CliError(`--run-steps: the configuration of ${source} is rejected: ${errorMessage(error)}`);
  }
  config.allowedHosts = new BothAllowedHosts(config.allowedHosts, session.config.allowedHosts);
  const keys = createNovalaKeyApi(config);
  const { secrets, scheduler, events } = session.aws;
  const deps = rotationDepsWith(config, telemetry, { secrets, scheduler, events }, keys);
  try {
    await driveSteps(
      secrets,
      (event) => runRotationStep(deps, event.Step, event.SecretId, event.ClientRequestToken),
      secretArn,
      token,
      { onStep: (step) => onStep(step, `running here (configuration of ${source})`) },
    );
  } finally {
    await keys.close();
  }
}

async function stepEnvironment(
  session: Session,
  functionArn: string | undefined,
): Promise<{ variables: Record<string, string | undefined>; source: string }> {
  if (!functionArn) return { variables: process.env, source: "this machine's environment" };
  try {
    return {
      variables: await readRotationFunctionEnvironment(session.aws, functionArn),
      source: `rotation function ${functionArn.split(":").pop()}`,
    };
  } catch (error) {
    // moto keeps no function unless one was registered; a local endpoint may serve no Lambda API at all.
    session.out.warn(`--run-steps: ${errorMessage(error)}; using this machine's environment instead`);
    return { variables: process.env, source: "this machine's environment" };
  }
}

/** A host is allowed only when both lists allow it: the deployed function's and this machine's. */
export class BothAllowedHosts extends AllowedHosts {
  constructor(
    deployed: AllowedHosts,
    private readonly local: AllowedHosts,
  ) {
    super(deployed.spec);
  }

  override check(url: string): URL {
    this.local.check(url);
    return super.check(url);
  }
}
