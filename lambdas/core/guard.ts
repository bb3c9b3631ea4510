/** The guard before every rotation step: rotation enabled, token known, version AWSPENDING. */
import { RotationStateError } from "./errors.js";
import type { SecretDescription } from "./ports.js";
import { AWSCURRENT, AWSPENDING } from "./ports.js";

/**
 * The guard before every step, as in AWS's rotation templates: rotation is enabled, the token is a version of the
 * secret, and that version is AWSPENDING, or already AWSCURRENT (a retry after finishSecret).
 */
export function guardStep(description: SecretDescription, token: string): "pending" | "already-current" {
  if (!description.rotationEnabled) {
    throw new RotationStateError(`secret ${description.name} does not have rotation enabled`);
  }
  const stages = description.versionStages[token];
  if (!stages) {
    throw new RotationStateError(`token ${token} is not a version of secret ${description.name} that has a stage`);
  }
  if (stages.includes(AWSCURRENT)) return "already-current";
  if (!stages.includes(AWSPENDING)) {
    throw new RotationStateError(`version ${token} of secret ${description.name} is not AWSPENDING`);
  }
  return "pending";
}

/**
 * Whether a version's labels mark a rotation in progress: AWSPENDING without AWSCURRENT. The rotation is under way,
 * failed half-way or stuck; Secrets Manager refuses a new RotateSecret meanwhile.
 */
export function isRotationInProgress(stages: readonly string[]): boolean {
  return stages.includes(AWSPENDING) && !stages.includes(AWSCURRENT);
}

/**
 * The token of the rotation in progress: the version AWSPENDING marks when it is not AWSCURRENT; undefined when there
 * is none.
 *
 * @example
 * const token = rotationInProgress(await store.describe(secretId));
 * if (token) say(`a rotation is in progress: version ${token} is AWSPENDING`);
 */
export function rotationInProgress(description: Pick<SecretDescription, "versionStages">): string | undefined {
  return Object.entries(description.versionStages).find(([, stages]) => isRotationInProgress(stages))?.[0];
}

/** The version that carries `stage`, if any. */
export function versionWithStage(description: SecretDescription, stage: string): string | undefined {
  return Object.entries(description.versionStages).find(([, stages]) => stages.includes(stage))?.[0];
}
