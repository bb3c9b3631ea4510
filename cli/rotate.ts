import { randomUUID } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import type { RotationRulesType } from "@aws-sdk/client-secrets-manager";
import { storeError } from "../lambdas/adapters/aws/secret-store.js";
import { formatDuration } from "../lambdas/contract/duration.js";
import { outcomeFromTags } from "../lambdas/contract/rotation-outcome.js";
import { scheduleProblem } from "../lambdas/contract/schedule.js";
import { readKeySecret } from "../lambdas/core/context.js";
import { errorMessage, RotationEndedError } from "../lambdas/core/errors.js";
import { versionWithStage } from "../lambdas/core/guard.js";
import { revocationScheduleName } from "../lambdas/core/key-name.js";
import { AWSCURRENT, AWSPENDING, AWSPREVIOUS, type SecretDescription } from "../lambdas/core/ports.js";
import { keyClaimOf } from "../lambdas/core/possession.js";
import { formatTime, judgeCurrentKey, type ProblemKind } from "../lambdas/core/verdict.js";
import { describeSecret, getRevocationSchedule, labelledVersions, scheduleTime, versionValue } from "./aws.js";
import { gatherCurrentKey } from "./current-key.js";
import { type Deployment, deploymentIfAny } from "./deployment.js";
import { CliError, EXIT } from "./errors.js";
import { runStepsHere } from "./run-steps.js";
import { startRotation } from "./secrets-manager-driver.js";
import { type CommonOptions, readVersions, type Session, withSession } from "./session.js";

/**
 * `rotate <secret-id>`: RotateSecret, then follow the rotation by reading the secret's labels until AWSCURRENT moves
 * to the new version (success), AWSPENDING leaves it without that (testSecret rolled it back: failure), or --timeout.
 * Secrets Manager reports no rotation status of its own, so the labels and the versions' values are the progress.
 */
export interface RotateOptions extends CommonOptions {
  wait: boolean;
  /** Run the steps on this machine (an endpoint that cannot run Lambda code). */
  runSteps?: boolean;
  lambdaArn?: string;
  schedule?: string;
  timeout: number;
  interval: number;
  scheduleGroup?: string;
  /** Start without checking the current key first (--skip-check). */
  skipCheck?: boolean;
}

/** How long rotate's check of the current key may ask Novala in all before it calls Novala unreachable. */
export const CURRENT_KEY_CHECK_MS = 10_000;

/** Without a terminal, a plain "still waiting" line this often. */
const PLAIN_PROGRESS_EVERY_MS = 30_000;

type Outcome = "started" | "succeeded" | "failed" | "refused" | "timed-out" | "interrupted";

export interface RotationReport {
  secretId: string;
  arn: string;
  name: string;
  token: string;
  outcome: Outcome;
  /** The rotation was already in progress: rotate followed it instead of starting one. */
  followed?: boolean;
  /** testSecret rolled the rotation back: AWSPENDING left the version after the new key was stored. */
  rolledBack?: boolean;
  previousKeyId?: string;
  newKeyId?: string;
  reason?: string;
  /**
   * Why rotate did not start (outcome "refused"): the current key's check found a problem (its kind, lambdas/core's
   * CurrentKeyProblem) or could not ask Novala ("novala-unreachable"). Nothing was changed.
   */
  refusal?: CurrentKeyRefusal;
  /** AWSCURRENT moved to the new version, whatever happened after (a finishSecret that failed after the promotion). */
  promoted?: boolean;
  /** The rotation failed and AWSPENDING stays on its version: Secrets Manager retries it, `abort` ends it. */
  pendingLeft?: boolean;
  revocation?: { schedule: string; revokeAfter?: string };
  /** What the operator still has to do, each with the command (a failure after the promotion, a key left active). */
  leftToDo: string[];
  elapsedMs: number;
}

/** The pre-check's refusal: what is wrong, and the fix. */
export interface CurrentKeyRefusal {
  kind: ProblemKind | "cannot-check";
  fix: string;
}

/** How rotateSecret tells its progress; `rotate` prints it, a mass rotation (cli/mass-rotate.ts) summarises it. */
export interface RotationHooks {
  /** A step's line. */
  say(text: string): void;
  /** The "still waiting" line on a terminal (replaced by the next one). */
  waiting?(text: string): void;
  /** Stop following (not the rotation): the report's outcome is then "interrupted". */
  signal?: AbortSignal;
  /**
   * The steps' own log lines (--run-steps) only with --debug: a mass rotation reports each rotation in its table, and
   * a warning per secret would bury the progress.
   */
  quiet?: boolean;
}

export function rotate(secretId: string, options: RotateOptions): Promise<number> {
  return withSession(options, (session) => run(session, secretId, options));
}

async function run(session: Session, secretId: string, options: RotateOptions): Promise<number> {
  const { out } = session;
  const c = out.color;
  const started = Date.now();
  const elapsed = () => `${((Date.now() - started) / 1000).toFixed(1).padStart(5)} s`;
  const say = (text: string) => out.line(`${c.dim(elapsed())}  ${text}`);
  const waiting = (text: string) => out.live(`${elapsed()}  ${text}`);
  const report = await rotateSecret(session, secretId, options, { say, waiting });
  out.clearLive();
  out.data(report);
  for (const todo of report.leftToDo) out.line(`${c.yellow("left to do:")} ${todo}`);
  switch (report.outcome) {
    case "succeeded":
      if (report.leftToDo.length > 0) {
        throw new CliError(
          `rotation of ${report.name} promoted key ${report.newKeyId ?? "?"}, but ${report.leftToDo.length} thing(s) are left to do (above)`,
        );
      }
      out.line(c.green(`Rotation succeeded in ${formatDuration(report.elapsedMs)}.`));
      return EXIT.ok;
    case "started":
      out.line(`Not waiting (--no-wait). Follow it with: novala-rotation status ${secretId}`);
      return EXIT.ok;
    case "timed-out":
      throw new CliError(`rotation of ${report.name} ${report.reason}`, EXIT.timedOut);
    case "refused":
      throw new CliError(`refusing to rotate ${report.name}: ${report.reason}. Nothing was changed`);
    default:
      throw new CliError(
        report.promoted
          ? `rotation of ${report.name} promoted key ${report.newKeyId ?? "?"}, then failed: ${report.reason}`
          : `rotation of ${report.name} failed: ${report.reason}`,
      );
  }
}

/**
 * Starts a rotation of `secretId` (or takes the one in progress) and follows it to its end: the report says how it
 * ended. Throws only when it cannot start (no such secret, no rotation function, RotateSecret refused).
 */
export async function rotateSecret(
  session: Session,
  secretId: string,
  options: RotateOptions,
  hooks: RotationHooks,
): Promise<RotationReport> {
  const { out } = session;
  const { say } = hooks;
  const started = Date.now();

  const before = await describeSecret(session.aws, secretId);
  const arn = before.ARN as string;
  const name = before.Name as string;
  // The configured function is named again explicitly: moto treats a RotateSecret without one as "no function".
  const lambdaArn = options.lambdaArn ?? before.RotationLambdaARN;
  // The deployment this rotation goes through; a rotation function that is not the deployment's is refused here.
  const deployment = await deploymentIfAny(session.aws, { Name: name, RotationLambdaARN: lambdaArn }, options);
  const previousKeyId = keyClaimOf((await session.aws.store.getValue(arn, { stage: AWSCURRENT }))?.value)?.keyId;
  // A rotation already under way (AWSPENDING on another version than AWSCURRENT) is followed, not fought: Secrets
  // Manager refuses a new one until it ends, and it may yet finish on its own.
  const inProgress = inProgressToken(await session.aws.store.describe(arn));
  let token: string;
  let followed = false;
  if (inProgress) {
    token = inProgress;
    followed = true;
    const started = formatTime(
      (await labelledVersions(session.aws, arn)).find((version) => version.versionId === token)?.createdDate,
    );
    say(
      `in progress       a rotation of ${name} is already under way: version ${token} is AWSPENDING` +
        `${started ? ` (since ${started})` : ""}; following it instead of starting another`,
    );
    const last = outcomeFromTags(before.Tags);
    if (last?.token === token && last.kind === "failed") {
      say(
        `                  its last step failed: ${last.step} at ${formatTime(last.at)}` +
          `${last.reason ? `: ${last.reason}` : ""}. Secrets Manager reattempts it; ` +
          `${options.runSteps ? "running the steps here again" : `to end it instead: novala-rotation abort ${secretId}`}`,
      );
    }
    if (options.schedule !== undefined) {
      out.warn("--schedule was not applied: it is set with RotateSecret, which waits until this rotation ends");
    }
  } else {
    if (!lambdaArn) {
      throw new CliError(
        `secret ${name} has no rotation function configured: add --lambda-arn (and --schedule)`,
        EXIT.usage,
      );
    }
    const rules = rotationRules(options.schedule);
    if (!options.skipCheck) {
      const refused = await checkCurrentKey(session, arn, name, deployment);
      if (refused) {
        say(`check             ${refused.reason}`);
        return finish(
          { secretId, arn, name, token: "", outcome: "refused", ...refused, leftToDo: [], elapsedMs: 0 },
          started,
        );
      }
      say(`check             the current key${previousKeyId ? ` ${previousKeyId}` : ""} works at Novala`);
    }
    token = randomUUID();
    try {
      await startRotation(session.aws.secrets, arn, { token, lambdaArn, rules: rules ?? "unchanged" });
    } catch (error) {
      throw storeError("RotateSecret", arn, error);
    }
    say(`RotateSecret      rotation of ${name} started: version ${token} is AWSPENDING`);
  }
  const report: RotationReport = {
    secretId,
    arn,
    name,
    token,
    outcome: "started",
    ...(followed && { followed: true }),
    ...(previousKeyId && { previousKeyId }),
    leftToDo: [],
    elapsedMs: 0,
  };
  if (options.runSteps) {
    try {
      await runStepsHere(
        session,
        arn,
        token,
        lambdaArn,
        (step, note) => say(`${step.padEnd(18)}${note}`),
        hooks.quiet ? session.debugTelemetry : session.deps.telemetry,
      );
    } catch (error) {
      const stages = (await session.aws.store.describe(arn)).versionStages[token] ?? [];
      const stillPending = stages.includes(AWSPENDING) && !stages.includes(AWSCURRENT);
      // finishSecret failed after the promotion: the new key is AWSCURRENT, the old key's retirement did not happen.
      if (stages.includes(AWSCURRENT)) {
        report.outcome = "failed";
        report.promoted = true;
        report.newKeyId = keyClaimOf(await versionValue(session.aws, arn, token))?.keyId;
        report.reason = `finishSecret failed after the promotion: ${errorMessage(error)}`;
        say(`rotation failed   ${report.reason}`);
        await describeRetirement(session, report, deployment, say);
        return finish(report, started);
      }
      // A failure a retry cannot fix ended the rotation here: its own message says why and names the fix, whole.
      if (error instanceof RotationEndedError) {
        report.outcome = "failed";
        report.reason = `the ${errorMessage(error)}`;
        say(`rotation failed   ${report.reason}`);
        return finish(report, started);
      }
      // A rolled-back testSecret removed AWSPENDING: the loop below reports it as any failed rotation.
      if (stillPending) {
        report.outcome = "failed";
        report.pendingLeft = true;
        report.reason =
          `${errorMessage(error)}. AWSPENDING stays on version ${token}: run rotate again to retry the steps, ` +
          `or end the rotation with: novala-rotation abort ${name}`;
        say(`rotation failed   ${report.reason}`);
        return finish(report, started);
      }
    }
  }
  if (!options.wait) return finish(report, started);

  const deadline = started + options.timeout;
  let lastNote = Date.now();
  for (;;) {
    const description = await session.aws.store.describe(arn);
    const stages = description.versionStages[token] ?? [];
    if (!report.newKeyId && stages.includes(AWSPENDING)) {
      const pending = await session.aws.store.getValue(arn, { stage: AWSPENDING, versionId: token });
      const newKeyId = keyClaimOf(pending?.value)?.keyId;
      if (newKeyId) {
        report.newKeyId = newKeyId;
        say(`createSecret      new key ${newKeyId} stored in AWSPENDING`);
      }
    }
    if (stages.includes(AWSCURRENT)) {
      if (!report.newKeyId) {
        report.newKeyId = keyClaimOf(await versionValue(session.aws, arn, token))?.keyId;
        if (report.newKeyId) say(`createSecret      new key ${report.newKeyId} stored in AWSPENDING`);
      }
      say("testSecret        the new key passed its health check");
      report.outcome = "succeeded";
      report.promoted = true;
      const previousVersion = versionWithStage(description, AWSPREVIOUS);
      say(
        `finishSecret      AWSCURRENT moved to version ${token}${report.newKeyId ? ` (key ${report.newKeyId})` : ""}` +
          (previousVersion && previousKeyId ? `; ${previousKeyId} is AWSPREVIOUS` : ""),
      );
      // The promotion is finishSecret's first act: the rest (the event, the old key's retirement) may still fail.
      const finished = await finishSecretOutcome(session, arn, token, Math.min(deadline, Date.now() + FINISH_WAIT_MS));
      if (finished?.kind === "failed") {
        report.outcome = "failed";
        report.reason = `finishSecret failed after the promotion: ${finished.reason ?? "see the rotation function's logs"}`;
        say(`rotation failed   ${report.reason}`);
      }
      await describeRetirement(session, report, deployment, say);
      return finish(report, started);
    }
    if (!stages.includes(AWSPENDING)) {
      report.outcome = "failed";
      report.reason = await failureReason(session, arn, token, report);
      if (report.newKeyId) report.rolledBack = true;
      say(`rotation failed   ${report.reason}`);
      return finish(report, started);
    }
    if (hooks.signal?.aborted) {
      report.outcome = "interrupted";
      report.reason = `still running: stopped following it (version ${token} is AWSPENDING)`;
      return finish(report, started);
    }
    if (Date.now() >= deadline) {
      report.outcome = "timed-out";
      report.pendingLeft = true;
      report.reason =
        `still in progress after ${formatDuration(options.timeout)}: ` +
        (report.newKeyId
          ? `key ${report.newKeyId} is stored in AWSPENDING, AWSCURRENT has not moved`
          : "createSecret has not stored a value yet") +
        " (a failing rotation function leaves AWSPENDING in place; its logs say why)";
      return finish(report, started);
    }
    const waitingFor = report.newKeyId ? "testSecret and finishSecret" : "createSecret";
    if (out.interactive && hooks.waiting) {
      hooks.waiting(`waiting for ${waitingFor} (version ${token})…`);
    } else if (Date.now() - lastNote >= PLAIN_PROGRESS_EVERY_MS) {
      lastNote = Date.now();
      say(`waiting           for ${waitingFor}`);
    }
    await sleep(Math.min(options.interval, Math.max(0, deadline - Date.now())), undefined, {
      ...(hooks.signal && { signal: hooks.signal }),
    }).catch(() => {});
  }
}

/** The version AWSPENDING marks when it is not AWSCURRENT: a rotation under way (or stuck). */
export function inProgressToken(description: Pick<SecretDescription, "versionStages">): string | undefined {
  const stages = Object.entries(description.versionStages);
  const pending = stages.find(([, labels]) => labels.includes(AWSPENDING))?.[0];
  const current = stages.find(([, labels]) => labels.includes(AWSCURRENT))?.[0];
  return pending && pending !== current ? pending : undefined;
}

/** How long rotate waits, after AWSCURRENT moved, for finishSecret to record how it ended. */
const FINISH_WAIT_MS = 30_000;

/**
 * finishSecret's recorded outcome of rotation `token` (lambdas/core/outcome.ts: "succeeded", or "failed" with the
 * reason), waiting until `until` for the rotation function to record it; undefined when none was recorded in time.
 */
async function finishSecretOutcome(
  session: Session,
  arn: string,
  token: string,
  until: number,
): Promise<{ kind: "succeeded" | "failed"; reason?: string } | undefined> {
  for (;;) {
    const last = outcomeFromTags((await describeSecret(session.aws, arn)).Tags);
    if (
      last?.token === token &&
      last.step === "finishSecret" &&
      (last.kind === "succeeded" || last.kind === "failed")
    ) {
      return { kind: last.kind, ...(last.reason && { reason: last.reason }) };
    }
    if (Date.now() >= until) return undefined;
    await sleep(Math.min(1000, Math.max(0, until - Date.now())));
  }
}

/**
 * rotate's check before RotateSecret: status's reading of the current key (cli/current-key.ts gathers, lambdas/core's
 * judgeCurrentKey judges: the value parses, and one GET of the key's record with the credentials that would act says
 * whether the key, or the manager key, still works). Undefined when a rotation can start; otherwise why not and the
 * fix, so that rotate refuses instead of starting a rotation that can only end or get stuck. Keys go only where both
 * this machine and the deployment's rotation function send them; Novala gets CURRENT_KEY_CHECK_MS in all.
 */
export async function checkCurrentKey(
  session: Session,
  arn: string,
  name: string,
  deployment: Deployment | undefined,
): Promise<{ reason: string; refusal: CurrentKeyRefusal } | undefined> {
  const versions = await readVersions(session, arn, name, await labelledVersions(session.aws, arn));
  const current = versions.find((version) => version.stages.includes(AWSCURRENT));
  const deployed = deployment?.allowedHosts;
  const baseUrl = current?.meta.baseUrl;
  if (deployed && baseUrl && !deployed.isAllowed(baseUrl)) {
    const fix = `Allow its host in NOVALA_ALLOWED_HOSTS (allowedHosts), or put the right pair in with \`novala-rotation put-key ${name}\``;
    return {
      reason: `field "baseUrl" of AWSCURRENT names a host outside the rotation function's NOVALA_ALLOWED_HOSTS (${deployed.spec}). ${fix}`,
      refusal: { kind: "current-value-invalid", fix },
    };
  }
  const gathered = await gatherCurrentKey(session, arn, versions, {
    ask: true,
    deadline: Date.now() + CURRENT_KEY_CHECK_MS,
    ...(deployed && { deploymentHosts: deployed }),
  });
  const unreachable = gathered.unreachable ?? gathered.facts.answer;
  if (gathered.unreachable || (unreachable && typeof unreachable === "object" && "error" in unreachable)) {
    const why = gathered.unreachable ?? (unreachable as { error: string }).error;
    const fix = "rotate once Novala answers (or add --skip-check to start anyway)";
    return {
      reason: `Novala is unreachable (${why}): a rotation started now would get stuck; ${fix}`,
      refusal: { kind: "novala-unreachable", fix },
    };
  }
  if (gathered.cannotAsk) {
    const fix = "fix that, or add --skip-check to start anyway";
    return {
      reason: `the current key could not be checked: ${gathered.cannotAsk}; ${fix}`,
      refusal: { kind: "cannot-check", fix },
    };
  }
  const problem = judgeCurrentKey(gathered.facts);
  if (!problem) return undefined;
  const fix = fixOf(problem.kind, name, gathered.facts.managerSecretId);
  return { reason: `${problem.summary}. ${fix}`, refusal: { kind: problem.kind, fix } };
}

/**
 * The command that puts right what judgeCurrentKey found. A pair that signs (a manager's, or a self-managed secret's
 * own) holds api_keys.manage, which put-key stores only in a secret named self-managed.
 */
function fixOf(kind: ProblemKind, name: string, managerSecretId: string | undefined): string {
  const putKey = (secret: string, signs: boolean) =>
    `\`novala-rotation put-key ${secret}${signs ? " --self-managed" : ""}\``;
  switch (kind) {
    case "manager-key-dead":
    case "manager-secret-invalid":
      return `Put the manager pair that works in with ${putKey(managerSecretId ?? "<manager secret>", true)}, then rotate`;
    case "secret-not-read":
      return "Check this machine's access to the secret (secretsmanager:GetSecretValue), then rotate";
    case "current-value-invalid":
      return `Put a valid pair in with ${putKey(name, false)}, then rotate`;
    default:
      return `Put the pair that works in with ${putKey(name, managerSecretId === undefined)}, then rotate`;
  }
}

/** --schedule: a rate() or cron() expression, checked as the construct checks its schedule (lambdas/contract). */
export function rotationRules(schedule: string | undefined): RotationRulesType | undefined {
  if (schedule === undefined) return undefined;
  const problem = scheduleProblem(schedule);
  if (problem) throw new CliError(`--schedule ${problem}`, EXIT.usage);
  // rate(N days) is AutomaticallyAfterDays to Secrets Manager (and the only form moto enables rotation with).
  const days = /^rate\((\d+) days?\)$/.exec(schedule.trim());
  return days ? { AutomaticallyAfterDays: Number(days[1]) } : { ScheduleExpression: schedule.trim() };
}

/**
 * Why AWSPENDING left the version: the value it held and Novala's view of that key say which step gave up; a
 * rotation that createSecret ended (a failure a retry cannot fix) says so in the outcome it recorded, with the fix.
 */
async function failureReason(session: Session, arn: string, token: string, report: RotationReport): Promise<string> {
  const value = await versionValue(session.aws, arn, token);
  const keyId = report.newKeyId ?? keyClaimOf(value)?.keyId;
  if (keyId) report.newKeyId = keyId;
  const stillCurrent = report.previousKeyId ? `; AWSCURRENT still holds ${report.previousKeyId}` : "";
  if (!keyId) {
    const last = outcomeFromTags((await describeSecret(session.aws, arn)).Tags);
    if (last?.token === token && last.kind === "ended") {
      return `the rotation ended at ${last.step}: ${last.reason ?? "see the rotation function's logs"}${stillCurrent}`;
    }
    return `AWSPENDING was removed before createSecret stored a value${stillCurrent}`;
  }
  let novala = "";
  try {
    const current = await readKeySecret(session.deps, arn, AWSCURRENT);
    if (current) {
      const key = await session.keys.get(await session.managerCredentials(arn, current), keyId);
      novala = key ? ` (Novala: ${key.status})` : " (Novala: unknown key)";
    }
  } catch {
    // Novala's view only adds detail; the labels already say the rotation failed.
  }
  return (
    `the new key ${keyId}${novala} failed its health check in testSecret and was rolled back, ` +
    `AWSPENDING removed${stillCurrent}. The rotation function's logs have the details`
  );
}

/**
 * After the promotion: when the old key goes (its revocation schedule, in the group the rotation function names). A
 * key left active with nothing to revoke it (finishSecret failed after the promotion, or its schedule is missing) is
 * put in the report's "left to do", with the commands that finish the job.
 */
async function describeRetirement(
  session: Session,
  report: RotationReport,
  deployment: Deployment | undefined,
  say: (text: string) => void,
): Promise<void> {
  const old = report.previousKeyId;
  if (!old || old === report.newKeyId) return;
  const leftActive = (why: string) =>
    `old key ${old} ${why}: run \`novala-rotation revoke-due ${report.name}\` (it revokes it when its grace ` +
    `period is over, waiting for its consumers, or schedules that), or \`novala-rotation revoke ${report.name}\` ` +
    "to revoke it now";
  if (!deployment) {
    say(
      `retire            ${old}: its revocation schedule cannot be looked up (the rotation function is not readable)`,
    );
    if (report.outcome !== "succeeded") report.leftToDo.push(leftActive("may have no revocation"));
    return;
  }
  const group = deployment.scheduleGroup;
  const name = revocationScheduleName(report.arn, old);
  if (group && deployment.graceSeconds !== 0) {
    try {
      const schedule = await getRevocationSchedule(session.aws, group, name);
      if (schedule) {
        const at = scheduleTime(schedule);
        report.revocation = { schedule: name, ...(at && { revokeAfter: at }) };
        say(`retire            ${old} will be revoked at ${formatTime(at) || "?"} (schedule ${name})`);
        return;
      }
    } catch (error) {
      if (session.options.debug) session.out.warn(`could not look up ${group}/${name}: ${errorMessage(error)}`);
    }
  }
  const status = await oldKeyStatus(session, report.arn, old);
  if (status === "revoked" || status === "unknown") {
    say(`retire            ${old} is ${status === "revoked" ? "revoked" : "unknown"} at Novala`);
    return;
  }
  const why =
    status === "active"
      ? `is still active at Novala and no revocation is scheduled for it${group ? ` in group ${group}` : ""}`
      : `may still be active (Novala could not be asked: ${status.error}) and no revocation is scheduled for it`;
  say(`retire            ${old} ${why}`);
  report.leftToDo.push(leftActive(why));
}

/** Novala's status of the old key, asked with the credentials that may read it (the manager's, or the new key's). */
async function oldKeyStatus(
  session: Session,
  arn: string,
  keyId: string,
): Promise<"active" | "revoked" | "unknown" | { error: string }> {
  try {
    const current = await readKeySecret(session.deps, arn, AWSCURRENT);
    if (!current) return { error: "the secret has no AWSCURRENT value" };
    const credentials = await session.managerCredentials(arn, current);
    const key = await session.boundedKeys(CURRENT_KEY_CHECK_MS).get(credentials, keyId);
    return key ? key.status : "unknown";
  } catch (error) {
    return { error: errorMessage(error) };
  }
}

function finish(report: RotationReport, started: number): RotationReport {
  report.elapsedMs = Date.now() - started;
  return report;
}
