import { defineConfig } from "vitest/config";
import { appendToLeakScan } from "./test/support/leak-scan.js";

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
    // What tests print with console.* stays visible (the fault suite's figures, a failed test's captured output) and
    // is scanned for keys like everything else they print.
    onConsoleLog(log) {
      appendToLeakScan(`output-console-${process.pid}.log`, log);
    },
    env: {
      // The pinned SDK supports Node 20; its notice about future versions is noise in test output.
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true",
      POWERTOOLS_DEV: "false",
    },
  },
});
