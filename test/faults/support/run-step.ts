/**
 * A Lambda process for the end-to-end fault tests: invokes the rotation handler with the event given as argv[2] (JSON,
 * exactly as Secrets Manager sends it), configured by the environment the parent passes. The parent SIGKILLs it at a
 * crash point (while the Novala simulator holds a request), so no cleanup code of the handler ever runs.
 */

import type { RotationEvent } from "../../../lambdas/contract/rotation-event.js";
import { handler } from "../../../lambdas/rotation/index.js";

const event = JSON.parse(process.argv[2] ?? "{}") as RotationEvent;
process.stderr.write("run-step: invoking\n");
handler(event).then(
  () => process.exit(0),
  () => process.exit(1),
);
