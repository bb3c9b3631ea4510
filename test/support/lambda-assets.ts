import { buildLambdaAssets } from "../../scripts/lambda-bundles.js";

/** Vitest global set-up: the construct deploys dist/lambdas, so the tests build it from the current sources first. */
export default async function setup(): Promise<void> {
  await buildLambdaAssets();
}
