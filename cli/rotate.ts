import { randomUUID } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { DescribeSecretCommand, RotateSecretCommand, type RotationRulesType } from "@aws-sdk/client-secrets-manager";
import { storeError } from "../lambdas/adapters/aws/secret-store.js";
import { outcomeFromTags } from "../lambdas/contract/rotation-outcome.js";
import { scheduleProblem } from "../lambdas/contract/schedule.js";
import { readKeySecret } from "../lambdas/core/context.js";
import { errorMessage, RotationEndedError } from "../lambdas/core/errors.js";
import { versionWithStage } from "../lambdas/core/guard.js";
import { revocationScheduleName } from "../lambdas/core/key-name.js";
import { AWSCURRENT, AWSPENDING, AWSPREVIOUS, type SecretDescription } from "../lambdas/core/ports.js";
import { keyClaimOf } from "../lambdas/core/possession.js";
import {
  type Aws,
  describeSecret,
  getRevocationSchedule,
  labelledVersions,
  scheduleTime,
  versionValue,
} from "./aws.js";
import { type Deployment, findDeployment } from "./deployment.js";
import { formatDuration } from "./duration.js";
import { CliError, EXIT } from "./errors.js";
import { formatTime } from "./output.js";
import { runStepsHere } from "./run-steps.js";
import { type CommonOptions, type Session, withSession } from "./session.js";

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
}

/** Without a terminal, a plain "still waiting" line this often. */
const PLAIN_PROGRESS_EVERY_MS = 30_000;

type Outcome = "started" | "succeeded" | "failed" | "timed-out" | "interrupted";

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
  revocation?: { schedule: string; revokeAfter?: string };
  elapsedMs: number;
}

/** How rotateSecret tells its progress; `rotate` prints it, a mass rotation (cli/mass-rotate.ts) summarises it. */
export interface RotationHooks {
  /** A step's line. */
  say(text: string): void;
  /** The "still waiting" line on a terminal (replaced by the next one). */
  waiting?(text: string): void;
  /** Stop following (not the rotation): the report's outcome is then "interrupted". */
  signal?: AbortSignal;
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
  switch (report.outcome) {
    case "succeeded":
      out.line(c.green(`Rotation succeeded in ${formatDuration(report.elapsedMs)}.`));
      return EXIT.ok;
    case "started":
      out.line(`Not waiting (--no-wait). Follow it with: novala-rotation status ${secretId}`);
      return EXIT.ok;
    case "timed-out":
      throw new CliError(`rotation of ${report.name} ${report.reason}`, EXIT.timedOut);
    default:
      throw new CliError(`rotation of ${report.name} failed: ${report.reason}`);
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
    token = randomUUID();
    await startRotation(session.aws, arn, token, lambdaArn, rotationRules(options.schedule));
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
    elapsedMs: 0,
  };
  if (options.runSteps) {
    try {
      await runStepsHere(session, arn, token, lambdaArn, (step, note) => say(`${step.padEnd(18)}${note}`));
    } catch (error) {
      const stillPending = (await session.aws.store.describe(arn)).versionStages[token]?.includes(AWSPENDING);
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
        report.reason =
          `${errorMessage(error)}. AWSPENDING stays on version ${token}: run rotate again to retry the steps, ` +
          `or end the rotation with: novala-rotation abort ${secretId}`;
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
      const previousVersion = versionWithStage(description, AWSPREVIOUS);
      say(
        `finishSecret      AWSCURRENT moved to version ${token}${report.newKeyId ? ` (key ${report.newKeyId})` : ""}` +
          (previousVersion && previousKeyId ? `; ${previousKeyId} is AWSPREVIOUS` : ""),
      );
      await describeRetirement(session, report, before, options, say);
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
function inProgressToken(description: SecretDescription): string | undefined {
  const pending = versionWithStage(description, AWSPENDING);
  return pending && pending !== versionWithStage(description, AWSCURRENT) ? pending : undefined;
}

/**
 * RotateSecret. moto cannot run a Lambda: it makes the AWSPENDING version and then answers "Resource not found for
 * ARN"; when that version is there, the rotation has started as far as Secrets Manager goes.
 */
async function startRotation(
  aws: Aws,
  secretArn: string,
  token: string,
  lambdaArn: string,
  rules: RotationRulesType | undefined,
) {
  try {
    await aws.secrets.send(
      new RotateSecretCommand({
        SecretId: secretArn,
        ClientRequestToken: token,
        RotateImmediately: true,
        RotationLambdaARN: lambdaArn,
        ...(rules && { RotationRules: rules }),
      }),
    );
  } catch (error) {
    if (error instanceof Error && /Resource not found for ARN/.test(error.message)) {
      const described = await aws.secrets.send(new DescribeSecretCommand({ SecretId: secretArn }));
      if (described.VersionIdsToStages?.[token]?.includes(AWSPENDING)) return;
    }
    throw storeError("RotateSecret", secretArn, error);
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

/** After success: when the old key goes (its revocation schedule, in the group the rotation function names). */
async function describeRetirement(
  session: Session,
  report: RotationReport,
  secret: { Name?: string; RotationLambdaARN?: string },
  options: RotateOptions,
  say: (text: string) => void,
): Promise<void> {
  if (!report.previousKeyId || report.previousKeyId === report.newKeyId) return;
  const name = revocationScheduleName(report.arn, report.previousKeyId);
  let deployment: Deployment;
  try {
    deployment = await findDeployment(session.aws, secret, options);
  } catch (error) {
    say(
      `retire            ${report.previousKeyId}: its revocation schedule cannot be looked up: ${errorMessage(error)}`,
    );
    return;
  }
  const group = deployment.scheduleGroup;
  if (!group || deployment.graceSeconds === 0) {
    say(`retire            ${report.previousKeyId} is revoked by finishSecret at once (grace period 0)`);
    return;
  }
  try {
    const schedule = await getRevocationSchedule(session.aws, group, name);
    if (schedule) {
      const at = scheduleTime(schedule);
      report.revocation = { schedule: name, ...(at && { revokeAfter: at }) };
      say(`retire            ${report.previousKeyId} will be revoked at ${formatTime(at) || "?"} (schedule ${name})`);
      return;
    }
  } catch (error) {
    if (session.options.debug) session.out.warn(`could not look up ${group}/${name}: ${errorMessage(error)}`);
  }
  say(
    `retire            no revocation schedule for ${report.previousKeyId} in group ${group} ` +
      "(not made yet, or no grace period: the rotation function revokes it at once)",
  );
}

function finish(report: RotationReport, started: number): RotationReport {
  report.elapsedMs = Date.now() - started;
  return report;
}
