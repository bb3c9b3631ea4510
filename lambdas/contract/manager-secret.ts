/**
 * The deployment's manager secret, as the construct hands it to both functions (MANAGER_SECRET_ARN), and the one rule
 * for whether the `managerSecretId` a consumer's value writes names it. The functions read the deployment's secret,
 * never the id a value writes: a value that names another secret is a refused claim (docs/security.md).
 */

/** MANAGER_SECRET_ARN when the deployment names no manager secret: then every value that names one is refused. */
export const NO_MANAGER_SECRET = "none";

/** A Secrets Manager secret ARN: the prefix up to `secret:`, then the name (and, in a full ARN, `-` and 6 characters). */
export const SECRET_ARN = /^(arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:)(.+)$/;

/** The suffix Secrets Manager adds to a secret's name in its full ARN. */
const FULL_ARN_SUFFIX = /^(.+)-([A-Za-z0-9]{6})$/;

interface SecretReference {
  /** `arn:<partition>:secretsmanager:<region>:<account>:secret:`; undefined for a bare name. */
  prefix?: string;
  name: string;
  /** The 6 characters of a full ARN. */
  suffix?: string;
}

/**
 * How `id` names a secret: a bare name, a partial ARN, or a full ARN (an ARN whose name ends in `-` and 6 letters or
 * digits; as for Secrets Manager itself, a name that ends so must be given by full ARN).
 */
function secretReference(id: string): SecretReference {
  const arn = SECRET_ARN.exec(id);
  if (!arn) return { name: id };
  const [, prefix = "", rest = ""] = arn;
  const full = FULL_ARN_SUFFIX.exec(rest);
  return full ? { prefix, name: full[1] as string, suffix: full[2] as string } : { prefix, name: rest };
}

/**
 * Whether `id` (a value's `managerSecretId`: a name, a partial or a full ARN) names the secret `deploymentArn` (the
 * deployment's manager: a full ARN, or a partial one when the construct knows it by name only). The names must be
 * equal; an ARN's partition, region and account must be the deployment's, and two full ARNs the same secret (its
 * suffix). No AWS call: the id is only compared, and the secret read is always the deployment's.
 *
 * @example namesSecret("novala/manager", "arn:aws:secretsmanager:eu-west-1:123456789012:secret:novala/manager-AbCdEf") // true
 */
export function namesSecret(id: string, deploymentArn: string): boolean {
  const claimed = secretReference(id);
  const deployment = secretReference(deploymentArn);
  return (
    claimed.name === deployment.name &&
    (claimed.prefix === undefined || claimed.prefix === deployment.prefix) &&
    (claimed.suffix === undefined || deployment.suffix === undefined || claimed.suffix === deployment.suffix)
  );
}
