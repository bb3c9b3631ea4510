import type { Target } from "@aws-sdk/client-scheduler";
import { AwsRevocationScheduler } from "../lambdas/adapters/aws/revocation-scheduler.js";
import { EventBridgeRotationEvents } from "../lambdas/adapters/aws/rotation-events.js";
import type { RevocationTarget } from "../lambdas/contract/configuration.js";
import { formatDuration } from "../lambdas/contract/duration.js";
import { ENV, KEY_ROTATION_ROLLED_BACK } from "../lambdas/contract/environment.js";
import { revocationSchedulePrefix } from "../lambdas/core/key-name.js";
import { systemClock } from "../lambdas/core/ports.js";
import { checkRollback, type RollbackActions, type RollbackOutcome, rollBack } from "../lambdas/core/rollback.js";
import { formatTime } from "../lambdas/core/verdict.js";
import { deleteRevocationSchedules, describeSecret, getRevocationSchedule, revocationSchedules } from "./aws.js";
import { confirmOrRefuse } from "./confirm.js";
import { type Deployment, findDeployment } from "./deployment.js";
import { CliError, EXIT } from "./errors.js";
import { refusalRecorder } from "./retired-key.js";
import { type CommonOptions, type Session, withSession } from "./session.js";

/**
 * `rollback <secret-id>`: AWSCURRENT back to AWSPREVIOUS through lambdas/core/rollback.ts (the checks, the order, proof
 * of possession of the restored key); this file finds the deployment (schedule group, event bus, grace period, the
 * schedule's target) and renders what the core did. The key rolled away from may already be in use by consumers that
 * moved to it, so by default it gets the deployment's grace period (a one-time schedule), `--grace` another one;
 * revoking it at once is the explicit `--revoke-now`, which asks first (or `--yes`). A deployment whose grace period
 * is 0 revokes it at once, as its rotations do.
 */
export interface RollbackOptions extends CommonOptions {
  grace?: number;
  revokeNow?: boolean;
  yes?: boolean;
  revocationFunctionArn?: string;
  schedulerRoleArn?: string;
  scheduleGroup?: string;
}

/** How the key rolled away from is retired, and what decided it. */
type RetirementChoice =
  | { kind: "grace"; ms: number; from: "--grace" | "deployment" }
  | { kind: "now"; from: "--revoke-now" | "deployment" };

/** What the rollback did: the text and the --json document are both made from it. */
export interface RollbackReport {
  secretId: string;
  arn: string;
  secretName: string;
  currentVersionId: string;
  previousVersionId: string;
  restoredKeyId: string;
  retiredKeyId: string;
  scheduleGroup: string | null;
  /** The schedule that would have revoked the restored key, removed; null when there was none. */
  scheduleRemoved: string | null;
  event: Record<string, unknown>;
  retirement:
    | {
        keyId: string;
        outcome: "scheduled";
        schedule: string;
        revokeAfter: string;
        graceSeconds: number;
        graceFrom: "--grace" | "deployment";
        existed: boolean;
        /** The command that revokes it before its time. */
        revokeEarlier: string;
      }
    | { keyId: string; outcome: "revoked" | "already-revoked"; because: "--revoke-now" | "deployment grace 0" }
    | { keyId: string; outcome: "refused" | "failed"; reason: string };
}

export function rollback(secretId: string, options: RollbackOptions): Promise<number> {
  return withSession(options, (session) => run(session, secretId, options));
}

async function run(session: Session, secretId: string, options: RollbackOptions): Promise<number> {
  const refusal = refusalRecorder(session);
  const deps = { ...refusal.deps, clock: systemClock };
  const check = await checkRollback(deps, secretId);
  if (check.outcome === "refused") throw new CliError(`refusing to roll back ${secretId}: ${check.reason}`);
  const { plan } = check;
  const arn = plan.secretArn;
  // Where the restored key's revocation is scheduled, and where the retired key's goes: the rotation function says.
  const deployment = await findDeployment(session.aws, await describeSecret(session.aws, arn), options);
  const group = deployment.scheduleGroup;
  const choice = retirementChoice(deployment, options);

  let grace: RollbackActions["grace"];
  if (choice.kind === "grace") {
    const existing = group ? await getRevocationSchedule(session.aws, group, plan.restoredScheduleName) : undefined;
    const target = await revocationTarget(session, options, deployment, existing?.target, arn);
    grace = { ms: choice.ms, scheduler: new AwsRevocationScheduler(session.aws.scheduler, target) };
  } else if (choice.from === "--revoke-now") {
    await confirmOrRefuse(
      {
        action: `roll ${plan.secretName} back to key ${plan.restored.keyId} and revoke key ${plan.retired.keyId} at once`,
        consequences: [
          `consumers that already moved to ${plan.retired.keyId} get 401 from Novala as soon as it is revoked`,
          `consumers that re-read AWSCURRENT, or listen to the "${KEY_ROTATION_ROLLED_BACK}" event, get ` +
            `${plan.restored.keyId} back`,
        ],
      },
      options.yes,
    );
  }
  const outcome = await rollBack(deps, plan, {
    // The restored key's schedule, and the postponements a consumer's use of it may have made since.
    cancelRevocation: async (name) => (group ? deleteRevocationSchedules(session.aws, group, name) : false),
    ...(deployment.eventBus && { events: new EventBridgeRotationEvents(session.aws.events, deployment.eventBus) }),
    reason: "rolled back by an operator (novala-rotation rollback)",
    ...(grace && { grace }),
  });
  const report = buildReport(secretId, outcome, choice, group, deployment.eventBus, refusal.reason);
  return render(session, report);
}

/** --revoke-now, --grace, else the deployment's grace period (0: at once, as its rotations do). */
function retirementChoice(deployment: Deployment, options: RollbackOptions): RetirementChoice {
  if (options.revokeNow) return { kind: "now", from: "--revoke-now" };
  if (options.grace !== undefined) return { kind: "grace", ms: options.grace, from: "--grace" };
  if (deployment.graceSeconds === undefined) {
    throw new CliError(
      "the deployment's grace period is unknown (the rotation function's configuration could not be read): " +
        "give --grace <duration>, or --revoke-now",
      EXIT.usage,
    );
  }
  if (deployment.graceSeconds === 0) return { kind: "now", from: "deployment" };
  return { kind: "grace", ms: deployment.graceSeconds * 1000, from: "deployment" };
}

function buildReport(
  secretId: string,
  { plan, scheduleRemoved, event, retirement }: RollbackOutcome,
  choice: RetirementChoice,
  group: string | undefined,
  eventBus: string | undefined,
  refusalReason: () => string,
): RollbackReport {
  const { secretArn: arn, restored, retired } = plan;
  const keyId = retired.keyId;
  let retirementReport: RollbackReport["retirement"];
  if (retirement.outcome === "scheduled" && choice.kind === "grace") {
    retirementReport = {
      keyId,
      outcome: "scheduled",
      schedule: retirement.schedule,
      revokeAfter: retirement.revokeAfter.toISOString(),
      graceSeconds: Math.round(choice.ms / 1000),
      graceFrom: choice.from,
      existed: retirement.existed,
      revokeEarlier: `novala-rotation revoke ${secretId} --key-id ${keyId}`,
    };
  } else if (retirement.outcome === "failed") {
    retirementReport = { keyId, outcome: "failed", reason: retirement.error };
  } else if (retirement.outcome === "refused") {
    retirementReport = { keyId, outcome: "refused", reason: refusalReason() };
  } else if (retirement.outcome !== "scheduled") {
    const because = choice.kind === "now" && choice.from === "deployment" ? "deployment grace 0" : "--revoke-now";
    retirementReport = { keyId, outcome: retirement.outcome, because };
  } else {
    throw new Error("a revocation was scheduled without a grace period"); // rollBack schedules only when given one
  }
  return {
    secretId,
    arn,
    secretName: plan.secretName,
    currentVersionId: restored.versionId,
    previousVersionId: retired.versionId,
    restoredKeyId: restored.keyId,
    retiredKeyId: keyId,
    scheduleGroup: group ?? null,
    scheduleRemoved: scheduleRemoved ? plan.restoredScheduleName : null,
    event: eventBus ? { ...event, eventBus } : { published: false },
    retirement: retirementReport,
  };
}

/** The report as lines, or as the --json document; exit 1 when the key rolled away from could not be retired. */
function render(session: Session, report: RollbackReport): number {
  const { out } = session;
  const c = out.color;
  const { restoredKeyId, retiredKeyId, retirement } = report;
  const name = report.secretName;
  out.data(report);
  out.line(
    `${c.green("Rolled back")} ${name}: AWSCURRENT is version ${report.currentVersionId} again (key ${restoredKeyId}); ` +
      `version ${report.previousVersionId} (key ${retiredKeyId}) is AWSPREVIOUS.`,
  );
  out.line(
    report.scheduleRemoved
      ? `  removed schedule ${report.scheduleGroup}/${report.scheduleRemoved}, which would have revoked ${restoredKeyId}`
      : `  no schedule was due to revoke ${restoredKeyId}`,
  );
  const { event } = report;
  if (event.eventBus && event.published) out.line(`  published "${KEY_ROTATION_ROLLED_BACK}" on ${event.eventBus}`);
  if (event.eventBus && event.error !== undefined) {
    out.warn(`could not publish "${KEY_ROTATION_ROLLED_BACK}" (consumers were not told): ${event.error}`);
  }
  switch (retirement.outcome) {
    case "scheduled": {
      const grace = `${retirement.graceFrom === "deployment" ? "the deployment's grace period" : "--grace"} ${formatDuration(retirement.graceSeconds * 1000)}`;
      out.line(
        `  ${retiredKeyId} will be revoked at ${formatTime(retirement.revokeAfter)} (${grace}, schedule ` +
          `${report.scheduleGroup}/${retirement.schedule}${retirement.existed ? ", which already existed" : ""}); ` +
          "consumers that moved to it keep working until then",
      );
      out.line(`  to revoke it earlier: ${retirement.revokeEarlier}`);
      return EXIT.ok;
    }
    case "revoked":
    case "already-revoked": {
      const what = retirement.outcome === "revoked" ? "revoked at Novala" : "already revoked at Novala";
      const why =
        retirement.because === "--revoke-now" ? "--revoke-now" : "at once, because the deployment's grace period is 0";
      out.line(`  ${retiredKeyId}: ${what} (${why})`);
      return EXIT.ok;
    }
    default:
      throw new CliError(
        `rolled back ${name}, but ${retiredKeyId} was not revoked (${retirement.outcome}: ${retirement.reason}); ` +
          `it is still active: novala-rotation revoke ${report.secretId} --key-id ${retiredKeyId}, or reconcile`,
      );
  }
}

/**
 * Where the retired key's revocation schedule sends its event: flags, then the rotation function's configuration, then the environment,
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
      "scheduling the revocation needs a revocation schedule group, and the rotation function names none: " +
        "add --schedule-group (or --revoke-now)",
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
      `scheduling the revocation needs the revocation function and the scheduler role, and neither the rotation ` +
        `function nor group ${group} names them: add --revocation-function-arn and --scheduler-role-arn ` +
        "(or --revoke-now)",
      EXIT.usage,
    );
  }
  return { scheduleGroup: group, functionArn, schedulerRoleArn, ...(deadLetterQueueArn && { deadLetterQueueArn }) };
}
