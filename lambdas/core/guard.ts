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

/** The version that carries `stage`, if any. */
export function versionWithStage(description: SecretDescription, stage: string): string | undefined {
  return Object.entries(description.versionStages).find(([, stages]) => stages.includes(stage))?.[0];
}
