/**
 * The package's entry point for CDK apps: the NovalaKeyRotation construct with its props, and the ready-made stack
 * that rotates existing secrets named by name or ARN. The Lambda code ships pre-bundled in dist/lambdas.
 */
export { AtRevocationHardLimit } from "./construct/props.js";
export {
  METRICS_NAMESPACE,
  METRICS_SERVICE,
  NovalaKeyRotation,
  type NovalaKeyRotationProps,
  NovalaKeyRotationPropsError,
} from "./novala-key-rotation.js";
export { importSecret, NovalaRotationStack, type NovalaRotationStackProps } from "./novala-rotation-stack.js";
