import { outcomeFromTags } from "../lambdas/contract/rotation-outcome.js";
import { type AbortOutcome, abortRotation, findAbortableToken } from "../lambdas/core/abort.js";
import { errorMessage, PreconditionError } from "../lambdas/core/errors.js";
import { pendingRotation } from "../lambdas/core/verdict.js";
import { describeSecret, labelledVersions } from "./aws.js";
import { CliError, EXIT } from "./errors.js";
import { formatTime } from "./output.js";
import { type CommonOptions, readVersions, type Session, withSession } from "./session.js";

/**
 * `abort <secret-id>`: ends a stuck or failed rotation through lambdas/core/abort.ts (which revokes only what the
 * rotation minted, proven, and removes AWSPENDING), and says what it did. A rotation that looks in progress (a step
 * may still be running) is ended only with --force.
 */
export interface AbortOptions extends CommonOptions {
  token?: string;
  force?: boolean;
}

export function abort(secretId: string, options: AbortOptions): Promise<number> {
  return withSession(options, (session) => run(session, secretId, options));
}

async function run(session: Session, secretId: string, options: AbortOptions): Promise<number> {
  const { out } = session;
  const described = await describeSecret(session.aws, secretId);
  const arn = described.ARN as string;
  const name = described.Name as string;
  let token: string;
  try {
    token = await findAbortableToken(session.deps, arn, options.token);
  } catch (error) {
    if (error instanceof PreconditionError) throw new CliError(`nothing to abort: ${errorMessage(error)}`);
    throw error;
  }

  // The same reading of the rotation as status: in progress (wait) or stuck (abort).
  const versions = await readVersions(session, arn, name, await labelledVersions(session.aws, arn));
  const lastOutcome = outcomeFromTags(described.Tags);
  const pending = pendingRotation(
    versions.map((version) => ({
      versionId: version.versionId,
      stages: version.stages,
      ...(version.createdDate && { createdDate: version.createdDate }),
      hasValue: version.problem !== "no value yet",
    })),
    lastOutcome,
    new Date(),
  );
  if (pending?.token === token && pending.state === "in-progress" && !options.force) {
    throw new CliError(
      `refusing to abort rotation ${token} of ${name}: it looks in progress (started ` +
        `${formatTime(pending.startedAt) || "recently"}, waiting for ${pending.step}, no step recorded as failing). ` +
        "Follow it with `novala-rotation rotate`, or add --force if you know no step is running",
    );
  }

  const outcome = await abortRotation(session.deps, arn, token);
  out.data(outcome);
  render(session, outcome, secretId);
  return EXIT.ok;
}

function render(session: Session, outcome: AbortOutcome, secretId: string): void {
  const { out } = session;
  const c = out.color;
  out.line(c.bold(`Aborted rotation ${outcome.token} of ${outcome.secretName}.`));
  if (!outcome.pendingValue) out.line("  the version held no value: createSecret had not stored a key");
  for (const key of outcome.revoked) {
    const how =
      key.outcome === "already-revoked"
        ? "was already revoked or unknown at Novala"
        : key.by === "lineage-tag"
          ? "revoked (its name carries this rotation's lineage tag)"
          : "revoked (the pending value's secret key proves it)";
    const which = key.keyId === outcome.pendingKeyId ? "pending key" : "key minted for this rotation, never stored,";
    out.line(`  ${which} ${key.keyId} ${how}`);
  }
  for (const key of outcome.leftAlone) out.line(`  ${c.yellow("!")} key ${key.keyId} left alone: ${key.reason}`);
  if (outcome.revoked.length === 0 && outcome.leftAlone.length === 0) out.line("  no key was minted for it");
  out.line(
    outcome.pendingRemoved
      ? `  AWSPENDING removed from version ${outcome.token}`
      : `  version ${outcome.token} was not AWSPENDING (labels: ${outcome.stagesBefore.join(", ") || "none"})`,
  );
  out.line(`  AWSCURRENT untouched: version ${outcome.currentVersionId}, key ${outcome.currentKeyId}`);
  out.line(`Start a new rotation when the cause is fixed: novala-rotation rotate ${secretId}`);
}
