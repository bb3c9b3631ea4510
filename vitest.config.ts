import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    // `npm run test:deploy` (vitest.deploy.config.ts): a minute of cdk bootstrap/deploy/destroy, run by CI on its own.
    exclude: ["test/infra/cdk-deploy.test.ts", "**/node_modules/**"],
    pool: "forks",
    testTimeout: 60_000,
    hookTimeout: 60_000,
    setupFiles: ["test/support/capture-output.ts"],
    globalSetup: ["test/support/leak-scan.ts", "test/support/lambda-assets.ts"],
    env: {
      // The pinned SDK supports Node 20; its notice about future versions is noise in test output.
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true",
      POWERTOOLS_DEV: "false",
    },
  },
});
