/**
 * The deployment's mark on its two functions, which the construct sets and the `novala-rotation` CLI checks before it
 * trusts a function's environment (whoever may call RotateSecret on a secret can point it at any function).
 *
 * - `novala-rotation:deployment` = `<stack name>/<the construct's path in the stack>`, e.g.
 *   `NovalaKeyRotation/NovalaKeyRotation`;
 * - `novala-rotation:function` = `rotation` or `revocation`.
 *
 * Anyone allowed `lambda:TagResource` can copy these tags onto a function of their own, so they are a claim. What makes
 * them a mark is CloudFormation's own tag beside them: `aws:cloudformation:stack-id` (and `…:stack-name`), which
 * CloudFormation sets on the functions it creates and no principal can set or change (the `aws:` prefix is reserved).
 * A function is the deployment's when its `aws:cloudformation:stack-name` is the stack this mark names, and that stack
 * is the one the operator trusts.
 */
export const DEPLOYMENT_TAG = "novala-rotation:deployment";
export const FUNCTION_TAG = "novala-rotation:function";
/** CloudFormation's tags on what a stack creates (moto's CloudFormation sets none on Lambda functions). */
export const STACK_ID_TAG = "aws:cloudformation:stack-id";
export const STACK_NAME_TAG = "aws:cloudformation:stack-name";

/** The value of {@link DEPLOYMENT_TAG}: a stack name holds no `/`, so the first one ends it. */
export function deploymentMark(stackName: string, constructPath: string): string {
  return `${stackName}/${constructPath}`;
}

/** The stack name and construct path of a {@link DEPLOYMENT_TAG} value; undefined when it is not one. */
export function parseDeploymentMark(value: string): { stackName: string; constructPath: string } | undefined {
  const match = /^([A-Za-z][A-Za-z0-9-]{0,127})\/(.+)$/.exec(value);
  return match ? { stackName: match[1] as string, constructPath: match[2] as string } : undefined;
}
