import type { Target } from "@aws-sdk/client-scheduler";
import { AwsRevocationScheduler } from "../lambdas/adapters/aws/revocation-scheduler.js";
import { EventBridgeRotationEvents } from "../lambdas/adapters/aws/rotation-events.js";
import { ENV, KEY_ROTATION_ROLLED_BACK } from "../lambdas/contract/environment.js";
import type { RevocationTarget } from "../lambdas/core/config.js";
import { revocationSchedulePrefix } from "../lambdas/core/key-name.js";
import { systemClock } from "../lambdas/core/ports.js";
import { checkRollback, type RollbackActions, type RollbackOutcome, rollBack } from "../lambdas/core/rollback.js";
import { deleteRevocationSchedules, describeSecret, getRevocationSchedule, revocationSchedules } from "./aws.js";
import { type Deployment, findDeployment } from "./deployment.js";
import { formatDuration } from "./duration.js";
import { CliError, EXIT } from "./errors.js";
import { formatTime } from "./output.js";
import { type CommonOptions, type Session, withSession } from "./session.js";

/**
 * `rollback <secret-id>`: AWSCURRENT back to AWSPREVIOUS through lambdas/core/rollback.ts (the checks, the order, proof
 * of possession of the restored key); this file finds the deployment (schedule group, event bus, --grace target) and
 * renders what the core did.
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
  const deps = { ...session.deps, clock: systemClock };
  const check = await checkRollback(deps, secretId);
  if (check.outcome === "refused") throw new CliError(`refusing to roll back ${secretId}: ${check.reason}`);
  const { plan } = check;
  const arn = plan.secretArn;
  // Where the restored key's revocation is scheduled, and where a --grace schedule goes: the rotation function says.
  const deployment = await findDeployment(session.aws, await describeSecret(session.aws, arn), options);
  const group = deployment.scheduleGroup;

  // --grace needs a revocation target: the options, the rotation function's, or the schedules that already exist.
  let grace: RollbackActions["grace"];
  if (options.grace !== undefined) {
    const existing = group ? await getRevocationSchedule(session.aws, group, plan.restoredScheduleName) : undefined;
    const target = await revocationTarget(session, options, deployment, existing?.target, arn);
    grace = { ms: options.grace, scheduler: new AwsRevocationScheduler(session.aws.scheduler, target) };
  }
  const outcome = await rollBack(deps, plan, {
    // The restored key's schedule, and the postponements a consumer's use of it may have made since.
    cancelRevocation: async (name) => (group ? deleteRevocationSchedules(session.aws, group, name) : false),
    ...(deployment.eventBus && { events: new EventBridgeRotationEvents(session.aws.events, deployment.eventBus) }),
    reason: "rolled back by an operator (novala-rotation rollback)",
    ...(grace && { grace }),
  });
  return render(session, secretId, outcome, group, deployment.eventBus, options.grace);
}

/** What the rollback did, as lines and as --json data; exit 1 when the key rolled away from could not be revoked. */
function render(
  session: Session,
  secretId: string,
  { plan, scheduleRemoved, event, retirement }: RollbackOutcome,
  group: string | undefined,
  eventBus: string | undefined,
  graceMs: number | undefined,
): number {
  const { out } = session;
  const c = out.color;
  const { secretArn: arn, secretName: name, restored, retired } = plan;
  out.line(
    `${c.green("Rolled back")} ${name}: AWSCURRENT is version ${restored.versionId} again (key ${restored.keyId}); ` +
      `version ${retired.versionId} (key ${retired.keyId}) is AWSPREVIOUS.`,
  );
  out.line(
    scheduleRemoved
      ? `  removed schedule ${group}/${plan.restoredScheduleName}, which would have revoked ${restored.keyId}`
      : `  no schedule was due to revoke ${restored.keyId}`,
  );
  const eventData: Record<string, unknown> = eventBus ? { ...event, eventBus } : { published: false };
  if (eventBus && event.published) out.line(`  published "${KEY_ROTATION_ROLLED_BACK}" on ${eventBus}`);
  if (eventBus && event.error !== undefined) {
    out.warn(`could not publish "${KEY_ROTATION_ROLLED_BACK}" (consumers were not told): ${event.error}`);
  }
  const common = { secretId, arn, restoredKeyId: restored.keyId, retiredKeyId: retired.keyId };
  if (retirement.outcome === "failed") {
    out.data({ ...common, scheduleRemoved, event: eventData, retirement: { error: retirement.error } });
    throw new CliError(
      `rolled back ${name}, but revoking ${retired.keyId} failed: ${retirement.error} ` +
        "(it is still active: revoke it, or run reconcile)",
    );
  }
  let retirementData: Record<string, unknown>;
  if (retirement.outcome === "scheduled") {
    const revokeAfter = retirement.revokeAfter.toISOString();
    retirementData = { keyId: retired.keyId, outcome: "scheduled", schedule: retirement.schedule, revokeAfter };
    out.line(
      `  ${retired.keyId} will be revoked at ${formatTime(retirement.revokeAfter)} (grace ${formatDuration(graceMs ?? 0)}, ` +
        `schedule ${group}/${retirement.schedule}${retirement.existed ? ", which already existed" : ""})`,
    );
  } else {
    retirementData = { keyId: retired.keyId, outcome: retirement.outcome };
    out.line(`  ${retired.keyId}: ${retirement.outcome === "revoked" ? "revoked at Novala" : retirement.outcome}`);
  }
  out.data({
    secretId,
    arn,
    currentVersionId: restored.versionId,
    previousVersionId: retired.versionId,
    restoredKeyId: restored.keyId,
    retiredKeyId: retired.keyId,
    scheduleRemoved: scheduleRemoved ? plan.restoredScheduleName : null,
    event: eventData,
    retirement: retirementData,
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
