import type { Target } from "@aws-sdk/client-scheduler";
import { AwsRevocationScheduler } from "../lambdas/adapters/aws/revocation-scheduler.js";
import { EventBridgeRotationEvents } from "../lambdas/adapters/aws/rotation-events.js";
import { ENV, KEY_ROTATION_ROLLED_BACK } from "../lambdas/contract/environment.js";
import type { RevocationTarget } from "../lambdas/core/config.js";
import { readKeySecret } from "../lambdas/core/context.js";
import { errorMessage, NovalaHttpError } from "../lambdas/core/errors.js";
import { versionWithStage } from "../lambdas/core/guard.js";
import { revocationScheduleName, revocationSchedulePrefix } from "../lambdas/core/key-name.js";
import { AWSCURRENT, AWSPENDING, AWSPREVIOUS } from "../lambdas/core/ports.js";
import { revokeRetiredKey } from "../lambdas/core/revocation.js";
import { deleteSchedule, describeSecret, getRevocationSchedule, revocationSchedules } from "./aws.js";
import { type Deployment, findDeployment } from "./deployment.js";
import { formatDuration } from "./duration.js";
import { CliError, EXIT } from "./errors.js";
import { formatTime } from "./output.js";
import { type CommonOptions, type Session, withSession } from "./session.js";

/**
 * `rollback <secret-id>`: AWSCURRENT back to AWSPREVIOUS, when the previous key is still active at Novala. In order:
 * check (nothing changes when a check refuses), remove the schedule that would revoke the restored key, move the
 * label, then retire the key rolled away from: revoked at once through the revocation Lambda's own logic (which
 * re-reads the secret and refuses a key it holds), or with --grace by a one-time schedule like finishSecret's.
 */
export interface RollbackOptions extends CommonOptions {
  grace?: number;
  revocationFunctionArn?: string;
  schedulerRoleArn?: string;
  scheduleGroup?: string;
}

export function rollback(secretId: string, options: RollbackOptions): Promise<number> {
  return withSession(options, (session) => run(session, secretId, options));
}

async function run(session: Session, secretId: string, options: RollbackOptions): Promise<number> {
  const { out } = session;
  const c = out.color;
  const refuse = (reason: string) => new CliError(`refusing to roll back ${secretId}: ${reason}`);

  const description = await session.aws.store.describe(secretId);
  const { arn, name } = description;
  // Where the restored key's revocation is scheduled, and where a --grace schedule goes: the rotation function says.
  const deployment = await findDeployment(session.aws, await describeSecret(session.aws, arn), options);
  const pendingVersion = versionWithStage(description, AWSPENDING);
  const currentVersion = versionWithStage(description, AWSCURRENT);
  const previousVersion = versionWithStage(description, AWSPREVIOUS);
  if (pendingVersion && pendingVersion !== currentVersion) {
    throw refuse(`version ${pendingVersion} is AWSPENDING: a rotation is in progress or has failed half-way`);
  }
  if (!previousVersion) throw refuse("no version is AWSPREVIOUS");
  const current = await readKeySecret(session.deps, arn, AWSCURRENT);
  if (!current) throw refuse("AWSCURRENT has no value");
  const previous = await readKeySecret(session.deps, arn, AWSPREVIOUS);
  if (!previous) throw refuse("AWSPREVIOUS has no value");
  const restoredKeyId = previous.secret.keyId;
  const retiredKeyId = current.secret.keyId;
  if (restoredKeyId === retiredKeyId) throw refuse(`AWSPREVIOUS holds the same key as AWSCURRENT (${retiredKeyId})`);

  // The previous key must still work: Novala says it is active, and its own secret key authenticates.
  const credentials = await session.managerCredentials(arn, previous);
  const atNovala = await session.keys.get(credentials, restoredKeyId);
  if (!atNovala) throw refuse(`the previous key ${restoredKeyId} is unknown to Novala (404)`);
  if (atNovala.status !== "active") {
    throw refuse(`the previous key ${restoredKeyId} is already ${atNovala.status} at Novala`);
  }
  try {
    await session.keys.self({ baseUrl: previous.secret.baseUrl, bearer: previous.secret.secretKey });
  } catch (error) {
    if (error instanceof NovalaHttpError) {
      throw refuse(`Novala does not accept the previous key ${restoredKeyId}'s secret key (${error.status})`);
    }
    throw error;
  }

  // --grace needs a revocation target: the options, the rotation function's, or the schedules that already exist.
  const group = deployment.scheduleGroup;
  const restoredSchedule = revocationScheduleName(arn, restoredKeyId);
  const existing = group ? await getRevocationSchedule(session.aws, group, restoredSchedule) : undefined;
  let target: RevocationTarget | undefined;
  if (options.grace !== undefined) {
    target = await revocationTarget(session, options, deployment, existing?.target, arn);
  }

  const removed = group ? await deleteSchedule(session.aws, group, restoredSchedule) : false;
  await session.aws.store.moveStage(arn, AWSCURRENT, {
    toVersionId: previous.versionId,
    fromVersionId: current.versionId,
  });
  out.line(
    `${c.green("Rolled back")} ${name}: AWSCURRENT is version ${previous.versionId} again (key ${restoredKeyId}); ` +
      `version ${current.versionId} (key ${retiredKeyId}) is AWSPREVIOUS.`,
  );
  out.line(
    removed
      ? `  removed schedule ${group}/${restoredSchedule}, which would have revoked ${restoredKeyId}`
      : `  no schedule was due to revoke ${restoredKeyId}`,
  );
  // Consumers that cached the key rolled away from must refresh now: it is revoked next.
  let event: Record<string, unknown> = { published: false };
  if (deployment.eventBus) {
    try {
      await new EventBridgeRotationEvents(session.aws.events, deployment.eventBus).rotationRolledBack({
        secretArn: arn,
        currentKeyId: restoredKeyId,
        currentVersionId: previous.versionId,
        rolledBackKeyId: retiredKeyId,
        rolledBackVersionId: current.versionId,
        reason: "rolled back by an operator (novala-rotation rollback)",
      });
      event = { published: true, eventBus: deployment.eventBus };
      out.line(`  published "${KEY_ROTATION_ROLLED_BACK}" on ${deployment.eventBus}`);
    } catch (error) {
      event = { published: false, eventBus: deployment.eventBus, error: errorMessage(error) };
      out.warn(`could not publish "${KEY_ROTATION_ROLLED_BACK}" (consumers were not told): ${errorMessage(error)}`);
    }
  }

  let retirement: Record<string, unknown>;
  if (target && options.grace !== undefined) {
    const at = new Date(Date.now() + options.grace);
    const scheduleName = revocationScheduleName(arn, retiredKeyId);
    const scheduled = await new AwsRevocationScheduler(session.aws.scheduler, target).ensureScheduled(
      scheduleName,
      at,
      {
        secretId: arn,
        keyId: retiredKeyId,
        revokeAfter: at.toISOString(),
      },
    );
    retirement = { keyId: retiredKeyId, outcome: "scheduled", schedule: scheduleName, revokeAfter: at.toISOString() };
    out.line(
      `  ${retiredKeyId} will be revoked at ${formatTime(at)} (grace ${formatDuration(options.grace)}, ` +
        `schedule ${group}/${scheduleName}${scheduled === "exists" ? ", which already existed" : ""})`,
    );
  } else {
    let outcome: string;
    try {
      outcome = await revokeRetiredKey(session.deps, { secretId: arn, keyId: retiredKeyId });
    } catch (error) {
      out.data({
        secretId,
        arn,
        restoredKeyId,
        retiredKeyId,
        scheduleRemoved: removed,
        event,
        retirement: { error: errorMessage(error) },
      });
      throw new CliError(
        `rolled back ${name}, but revoking ${retiredKeyId} failed: ${errorMessage(error)} ` +
          "(it is still active: revoke it, or run reconcile)",
      );
    }
    retirement = { keyId: retiredKeyId, outcome };
    out.line(`  ${retiredKeyId}: ${outcome === "revoked" ? "revoked at Novala" : outcome}`);
  }
  out.data({
    secretId,
    arn,
    currentVersionId: previous.versionId,
    previousVersionId: current.versionId,
    restoredKeyId,
    retiredKeyId,
    scheduleRemoved: removed ? restoredSchedule : null,
    event,
    retirement,
  });
  return EXIT.ok;
}

/**
 * Where a --grace schedule sends its event: flags, then the rotation function's configuration, then the environment,
 * then a schedule of this secret or group to copy.
 */
async function revocationTarget(
  session: Session,
  options: RollbackOptions,
  deployment: Deployment,
  restoredTarget: Target | undefined,
  arn: string,
): Promise<RevocationTarget> {
  const group = deployment.scheduleGroup;
  if (!group) {
    throw new CliError(
      "--grace needs a revocation schedule group, and the rotation function names none: add --schedule-group",
      EXIT.usage,
    );
  }
  let model = restoredTarget;
  if (!model && !deployment.revocation) {
    const own = await revocationSchedules(session.aws, group, revocationSchedulePrefix(arn));
    model = own.find((schedule) => schedule.target)?.target;
    if (!model) {
      const any = await revocationSchedules(session.aws, group, "revoke-");
      model = any.find((schedule) => schedule.target)?.target;
    }
  }
  const known = deployment.revocation;
  const env = process.env;
  const functionArn =
    options.revocationFunctionArn ?? known?.functionArn ?? env[ENV.revocationFunctionArn] ?? model?.Arn;
  const schedulerRoleArn =
    options.schedulerRoleArn ?? known?.schedulerRoleArn ?? env[ENV.schedulerRoleArn] ?? model?.RoleArn;
  const deadLetterQueueArn = known?.deadLetterQueueArn ?? env[ENV.deadLetterQueueArn] ?? model?.DeadLetterConfig?.Arn;
  if (!functionArn || !schedulerRoleArn) {
    throw new CliError(
      `--grace needs the revocation function and the scheduler role, and neither the rotation function nor group ` +
        `${group} names them: add --revocation-function-arn and --scheduler-role-arn`,
      EXIT.usage,
    );
  }
  return { scheduleGroup: group, functionArn, schedulerRoleArn, ...(deadLetterQueueArn && { deadLetterQueueArn }) };
}
