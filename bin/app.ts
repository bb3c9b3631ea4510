/**
 * The CDK app: one NovalaRotationStack from context (see stackPropsFromContext for the keys), checked with cdk-nag's
 * AwsSolutions rules. Environment-agnostic unless the context sets `account`/`region` or the CLI knows them
 * (CDK_DEFAULT_ACCOUNT/CDK_DEFAULT_REGION, which `cdk` sets from the current credentials and profile).
 *
 * Nothing is deployed on example values: without its required context, or with a wrong or unknown key, synth prints
 * one message naming every context key to set or fix, and exits 1 (no stack trace: the message is the whole story).
 * `cdk bootstrap`, `cdk destroy` and `cdk list` run the app only to learn the stack's name and environment: for them a
 * missing required key is no error, and the app gives an empty stack of that name and environment.
 */
import { App, Stack, Validations } from "aws-cdk-lib";
import { AwsSolutionsChecks } from "cdk-nag";
import {
  ContextError,
  NovalaRotationStack,
  type NovalaRotationStackProps,
  onlyLocatesStacks,
  stackPropsFromContext,
} from "../lib/novala-rotation-stack.js";
import { buildLambdaAssets } from "../scripts/lambda-bundles.js";

const app = new App();
const context = (key: string): string | undefined => {
  const value: unknown = app.node.tryGetContext(key);
  return typeof value === "string" && value.trim() !== "" ? value.trim() : undefined;
};
// The CLI always sets CDK_DEFAULT_REGION (us-east-1 when nothing is configured), but CDK_DEFAULT_ACCOUNT only with
// credentials: the CLI's environment is used only when it knows the account, so an offline synth stays agnostic.
const cliAccount = process.env.CDK_DEFAULT_ACCOUNT;
const account = context("account") ?? cliAccount;
const region = context("region") ?? (cliAccount ? process.env.CDK_DEFAULT_REGION : undefined);
const stackName = context("stackName") ?? "NovalaKeyRotation";
const env = account || region ? { env: { ...(account && { account }), ...(region && { region }) } } : {};

let props: NovalaRotationStackProps | undefined;
try {
  props = stackPropsFromContext(app.node);
} catch (error) {
  if (!(error instanceof ContextError)) throw error;
  if (!(error.onlyMissing && onlyLocatesStacks(app.node))) {
    process.stderr.write(`${error.message}\n`);
    process.exit(1);
  }
}

if (props) {
  // The construct deploys the pre-bundled code in dist/lambdas: build it from the current sources, so that `cdk synth`
  // and `cdk deploy` from a fresh clone never ship a missing or stale bundle.
  await buildLambdaAssets();
  new NovalaRotationStack(app, stackName, { ...props, ...env });
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
} else {
  // Only the name and the environment are read (bootstrap: where; destroy: which stack), nothing is deployed.
  new Stack(app, stackName, { ...env, description: "Rotates Novala API keys held in AWS Secrets Manager" });
}
app.synth();
