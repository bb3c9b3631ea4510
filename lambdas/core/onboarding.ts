/**
 * Onboarding a key pair (`novala-rotation put-key`): which pair may be stored in which secret. The command gathers
 * (the pair, Novala's answers about it, the secret and the deployment's manager secrets), these rules decide, the
 * command renders. The tenant's master key (a key that holds api_keys.manage) is stored only where the deployment says
 * a manager lives, or where the operator explicitly names the secret self-managed.
 */

import { MANAGE_SCOPE, PUBLISHABLE_KEY_PATTERN, SECRET_KEY_PATTERN } from "../contract/key-shapes.js";
import { keyNameProblem } from "./key-name-rule.js";
import type { NovalaKey } from "./ports.js";

/** The two halves of a pair as the operator gave them. */
export interface KeyPair {
  publishableKey: string;
  secretKey: string;
}

/** Why the pair is not a Novala pair by its shape (prefixes, one mode), or undefined. Never echoes a key. */
export function keyPairProblem(pair: KeyPair): string | undefined {
  const publishableMode = pair.publishableKey.match(PUBLISHABLE_KEY_PATTERN)?.[1];
  const secretMode = pair.secretKey.match(SECRET_KEY_PATTERN)?.[1];
  if (!publishableMode) return "the publishable key must start with pk_live_ or pk_test_";
  if (!secretMode) return "the secret key must start with sk_live_ or sk_test_";
  if (publishableMode !== secretMode) return "the publishable and the secret key mix live and test mode";
  return undefined;
}

/**
 * Why Novala's answers to GET /api-keys/self, asked with each half of the pair, do not describe one active key whose
 * name may be stored, or undefined.
 */
export function introspectionProblem(
  bySecret: NovalaKey,
  byPublishable: NovalaKey,
  publishableKey: string,
): string | undefined {
  if (byPublishable.id !== bySecret.id || bySecret.publishableKey !== publishableKey) {
    return `the keys are not one pair: the secret key is ${bySecret.id}, the publishable key belongs to ${byPublishable.id}`;
  }
  if (bySecret.status !== "active") return `key ${bySecret.id} is ${bySecret.status} at Novala`;
  const nameProblem = keyNameProblem(bySecret.name);
  if (nameProblem) return `key ${bySecret.id}: its name at Novala ${nameProblem}; rename it there first`;
  return undefined;
}

/** Where the pair is to be stored, as the command found it. */
export interface OnboardingTarget {
  /** The secret's name (or the id given), for messages. */
  secretName: string;
  /** The manager secret the stored value will name; undefined: the key rotates itself. */
  managerSecretId?: string;
  /** Whether the deployment names this secret as a manager secret. */
  isDeploymentManager: boolean;
  /** The deployment's manager secrets, when a deployment was found and names them; undefined: unknown. */
  deploymentManagers?: readonly string[];
  /** Whether the deployment's manager secrets include `managerSecretId` (undefined: unknown, or none named). */
  managerIsTheDeployments?: boolean;
  /** The operator said so explicitly (--self-managed): this secret holds a key that rotates itself. */
  selfManagedFlag: boolean;
}

/** What the rules allow: refused (one line naming the fix), or accepted with warnings. */
export type OnboardingDecision = { accepted: false; refusal: string } | { accepted: true; warnings: string[] };

/**
 * Whether `key` may be stored in `target`. A key holding api_keys.manage mints and revokes every key of the tenant: it
 * never goes into a consumer secret (one that names a manager), and otherwise only into a secret the deployment names as
 * its manager, or one the operator names self-managed with --self-managed. A deployment's manager secret takes only
 * such a key, and a consumer names only one of the deployment's managers (when the deployment is known).
 */
export function onboardingDecision(
  key: Pick<NovalaKey, "id" | "scopes">,
  target: OnboardingTarget,
): OnboardingDecision {
  const managers = target.deploymentManagers?.length
    ? `the deployment's manager secret${target.deploymentManagers.length === 1 ? "" : "s"} (${target.deploymentManagers.join(", ")})`
    : "the deployment's manager secret";
  const manages = key.scopes.includes(MANAGE_SCOPE);
  const refuse = (refusal: string): OnboardingDecision => ({ accepted: false, refusal });
  if (manages && target.managerSecretId) {
    return refuse(
      `key ${key.id} holds ${MANAGE_SCOPE}, the tenant's master key: it is never stored in a consumer secret ` +
        `(${target.secretName} names manager ${target.managerSecretId}). Store it in ${managers}`,
    );
  }
  if (manages && !target.isDeploymentManager && !target.selfManagedFlag) {
    return refuse(
      `key ${key.id} holds ${MANAGE_SCOPE}, the tenant's master key: it is stored only in ${managers}` +
        `${target.deploymentManagers === undefined ? " (name the deployment with --lambda-arn <rotation function>)" : ""}` +
        `, or in a secret that rotates itself, named so with --self-managed`,
    );
  }
  if (target.isDeploymentManager && !manages) {
    return refuse(
      `secret ${target.secretName} is ${managers}: its key must hold ${MANAGE_SCOPE} (every rotation of the ` +
        `deployment mints with it), and key ${key.id} holds [${key.scopes.join(", ")}]`,
    );
  }
  if (target.isDeploymentManager && target.managerSecretId) {
    return refuse(
      `secret ${target.secretName} is ${managers}: it rotates itself and names no manager; add --self-managed`,
    );
  }
  if (target.managerSecretId && target.managerIsTheDeployments === false) {
    return refuse(
      `manager secret ${target.managerSecretId} is not ${managers}: a consumer names only its deployment's manager`,
    );
  }
  const warnings: string[] = [];
  if (!target.managerSecretId && !manages) {
    warnings.push(
      `key ${key.id} is self-managed but lacks ${MANAGE_SCOPE}: it cannot rotate itself; ` +
        "name a manager secret with --manager-secret",
    );
  }
  return { accepted: true, warnings };
}

/**
 * Whether `id` (a secret's name, partial or full ARN) names the secret `deploymentArn` (a deployment's manager: a full
 * ARN, or a partial one when the construct knows it by name only): the names are equal, an ARN's prefix (partition,
 * region, account) is the deployment's, and two full ARNs have the same suffix. No AWS call.
 */
export function namesSecret(id: string, deploymentArn: string): boolean {
  const claimed = secretReference(id);
  const deployment = secretReference(deploymentArn);
  return (
    claimed.name === deployment.name &&
    (claimed.prefix === undefined || deployment.prefix === undefined || claimed.prefix === deployment.prefix) &&
    (claimed.suffix === undefined || deployment.suffix === undefined || claimed.suffix === deployment.suffix)
  );
}

const SECRET_ARN = /^(arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:)(.+)$/;
const FULL_ARN_SUFFIX = /^(.+)-([A-Za-z0-9]{6})$/;

/** A bare name, a partial ARN (prefix and name) or a full one (and the 6 characters Secrets Manager adds). */
function secretReference(id: string): { prefix?: string; name: string; suffix?: string } {
  const arn = SECRET_ARN.exec(id);
  if (!arn) return { name: id };
  const [, prefix = "", rest = ""] = arn;
  const full = FULL_ARN_SUFFIX.exec(rest);
  return full ? { prefix, name: full[1] as string, suffix: full[2] as string } : { prefix, name: rest };
}
