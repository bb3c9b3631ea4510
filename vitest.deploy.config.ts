import { defineConfig } from "vitest/config";
import base from "./vitest.config.js";

/**
 * `npm run test:deploy`: the cdk deploy test alone (test/infra/cdk-deploy.test.ts), with the suite's set-up and leak
 * scan.
 */
export default defineConfig({
  ...base,
  test: {
    ...base.test,
    include: ["test/infra/cdk-deploy.test.ts"],
    exclude: ["**/node_modules/**"],
    testTimeout: 180_000,
  },
});
