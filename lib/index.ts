/**
 * The package's entry point for CDK apps: the NovalaKeyRotation construct with its props, and the ready-made stack
 * that rotates existing secrets named by name or ARN. The Lambda code ships pre-bundled in dist/lambdas.
 */
/** Powertools metrics: the namespace and the `service` dimension that both Lambdas publish under. */
export { METRICS_NAMESPACE, METRICS_SERVICE } from "../lambdas/contract/environment.js";
export { AtRevocationHardLimit, type NovalaKeyRotationProps, NovalaKeyRotationPropsError } from "./construct/props.js";
export { NovalaKeyRotation } from "./novala-key-rotation.js";
export { importSecret, NovalaRotationStack, type NovalaRotationStackProps } from "./novala-rotation-stack.js";
