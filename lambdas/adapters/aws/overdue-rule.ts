/** The deployment's secrets, as the construct wrote them into the daily overdue check's rule (its target's input). */
import { type EventBridgeClient, ListTargetsByRuleCommand } from "@aws-sdk/client-eventbridge";
import { ENV } from "../../contract/environment.js";
import { ConfigurationError } from "../../contract/errors.js";
import { overdueCheckSchema } from "../../contract/overdue-check.js";
import { awsServiceError } from "./errors.js";

/**
 * The rule is the construct's; the event an invocation carries is only a claim from whoever invoked the function, so
 * the check covers the rule's list, whatever an event lists. The secret ids in the input of `ruleName`'s target that invokes `functionArn` (the rotation function, unqualified),
 * or of its only target when no function is named (a caller outside Lambda). Throws a ConfigurationError when the rule
 * holds no such list: a check that cannot know what to look at must fail, not pass.
 */
export async function overdueRuleSecretIds(
  client: EventBridgeClient,
  ruleName: string,
  functionArn?: string,
): Promise<string[]> {
  const out = await client
    .send(new ListTargetsByRuleCommand({ Rule: ruleName }))
    .catch((error: unknown) => Promise.reject(awsServiceError("ListTargetsByRule", ruleName, error)));
  const targets = out.Targets ?? [];
  const own = functionArn ? targets.filter((target) => target.Arn === functionArn) : targets;
  const input = overdueCheckSchema.safeParse(own.length === 1 ? parse(own[0]?.Input) : undefined);
  if (!input.success) {
    throw new ConfigurationError(
      `${ENV.overdueCheckRule}: rule ${ruleName} has no target ${functionArn ? `${functionArn} ` : ""}whose input ` +
        "lists the secrets to check",
    );
  }
  return input.data.secretIds;
}

function parse(input: string | undefined): unknown {
  try {
    return input === undefined ? undefined : JSON.parse(input);
  } catch {
    return undefined;
  }
}
