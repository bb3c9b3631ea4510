import { EventBridgeClient, PutRuleCommand, PutTargetsCommand } from "@aws-sdk/client-eventbridge";
import { CreateSecretCommand, RotateSecretCommand } from "@aws-sdk/client-secrets-manager";
import { afterAll, describe, expect, it } from "vitest";
import { ENV, OVERDUE_CHECK } from "../../lambdas/contract/environment.js";
import { handler as rotationHandler } from "../../lambdas/rotation/index.js";
import { emfMetricsOf } from "../support/emf-metrics.js";
import { useMotoAndSimulator } from "../support/integration.js";
import { motoSuiteTitle, skipMoto, TEST_CREDENTIALS, TEST_REGION } from "../support/moto.js";

/**
 * The overdue check considers only the deployment's secrets (docs/security.md, T21): the rotation handler against
 * moto, with the daily rule as the construct makes it (OVERDUE_CHECK_RULE, whose target's input lists the secrets).
 * Whoever may invoke the function can send any list; the check covers the rule's, never describes another secret, and
 * fails loudly (the RotationErrors alarm) when the event named one.
 */
describe.skipIf(skipMoto)(motoSuiteTitle("the overdue check's list of secrets"), () => {
  const env = useMotoAndSimulator();
  const FUNCTION_ARN = `arn:aws:lambda:${TEST_REGION}:123456789012:function:novala-rotation`;
  const RULE = "novala-rotation-overdue-check";
  let events: EventBridgeClient | undefined;
  afterAll(() => events?.destroy());

  /** The deployment's secret (rotated just now, not overdue), another team's (rotation disabled: overdue if read). */
  async function givenDeployment(ruleTargets = [{ Id: "Target0", Arn: FUNCTION_ARN }], oursRotated = true) {
    events ??= new EventBridgeClient({
      endpoint: env.moto.endpoint,
      region: TEST_REGION,
      credentials: TEST_CREDENTIALS,
    });
    const ours = (await env.secrets.send(new CreateSecretCommand({ Name: "novala/acumatica", SecretString: "{}" })))
      .ARN as string;
    if (oursRotated) {
      await env.secrets.send(
        new RotateSecretCommand({ SecretId: ours, RotationRules: { AutomaticallyAfterDays: 30 } }),
      );
    }
    const theirs = (await env.secrets.send(new CreateSecretCommand({ Name: "team/other", SecretString: "{}" })))
      .ARN as string;
    await events.send(new PutRuleCommand({ Name: RULE, ScheduleExpression: "rate(1 day)" }));
    await events.send(
      new PutTargetsCommand({
        Rule: RULE,
        Targets: ruleTargets.map((target) => ({
          ...target,
          Input: JSON.stringify({ check: OVERDUE_CHECK, secretIds: [ours] }),
        })),
      }),
    );
    env.setEnvironment({ [ENV.overdueCheckRule]: RULE });
    return { ours, theirs };
  }

  /** Invokes the handler as Lambda would (its context names the function): what it threw, and RotationsOverdue. */
  async function check(secretIds: string[]) {
    const { error, emf } = await emfMetricsOf(() =>
      rotationHandler({ check: OVERDUE_CHECK, secretIds } as never, { invokedFunctionArn: `${FUNCTION_ARN}:live` }),
    );
    return { error, overdue: emf.map((line) => line.RotationsOverdue).filter((value) => value !== undefined) };
  }

  it("checks the rule's secrets, whatever the event lists (here none): a forged list cannot hide one", async () => {
    // The deployment's secret never rotated (rotation not enabled): overdue.
    await givenDeployment(undefined, false);
    expect(await check([])).toEqual({ error: undefined, overdue: [1] });
  });

  it("never describes an id the rule does not list, and fails naming it", async () => {
    const { ours, theirs } = await givenDeployment();
    const { error, overdue } = await check([ours, theirs]);
    // Described, the other team's secret would count as overdue (its rotation is not enabled): it was not.
    expect(overdue).toEqual([0]);
    expect(String(error)).toContain(
      `refused to check 1 secret id(s) that are not this deployment's (rule ${RULE} does not list them): "${theirs}"`,
    );
  });

  it("fails when the rule has no target for this function: it cannot know what to check", async () => {
    await givenDeployment([{ Id: "Target0", Arn: `${FUNCTION_ARN}-other` }]);
    const { error, overdue } = await check([]);
    expect(overdue).toEqual([]);
    expect(String(error)).toContain(
      `rule ${RULE} has no target ${FUNCTION_ARN} whose input lists the secrets to check`,
    );
  });
});
