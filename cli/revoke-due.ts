import { GetSecretValueCommand, type SecretListEntry } from "@aws-sdk/client-secrets-manager";
import { rotationEventsOn } from "../lambdas/adapters/aws/deps-from-environment.js";
import { AwsRevocationScheduler } from "../lambdas/adapters/aws/revocation-scheduler.js";
import { storeError } from "../lambdas/adapters/aws/secret-store.js";
import { createNovalaKeyApi } from "../lambdas/adapters/novala/key-api.js";
import { ConfigurationError } from "../lambdas/contract/errors.js";
import type { RevocationRequest } from "../lambdas/contract/revocation-request.js";
import {
  type DueStep,
  type ListedSchedule,
  type PreviousKey,
  planDueRevocations,
  restoreLostRevocation,
} from "../lambdas/core/due-revocations.js";
import { errorMessage } from "../lambdas/core/errors.js";
import { revocationSchedulePrefix } from "../lambdas/core/key-name.js";
import {
  AWSCURRENT,
  AWSPENDING,
  AWSPREVIOUS,
  type RevocationScheduler,
  type SecretVersion,
  systemClock,
} from "../lambdas/core/ports.js";
import { keyClaimOf } from "../lambdas/core/possession.js";
import {
  type DueRevocationDeps,
  type DueRevocationOutcome,
  runDueRevocation,
} from "../lambdas/core/revocation-usage.js";
import { formatTime } from "../lambdas/core/verdict.js";
import { type Aws, deleteSchedule, describeSecret, revocationSchedules } from "./aws.js";
import { type Deployment, findDeployment } from "./deployment.js";
import { CliError, EXIT } from "./errors.js";
import { isoTime } from "./output.js";
import { revokeRetiredKeyNow } from "./retired-key.js";
import { BothAllowedHosts } from "./run-steps.js";
import {
  chooseConcurrency,
  countOutcomes,
  describeSelection,
  forEachSelected,
  isMassSelection,
  Progress,
  type SelectedRow,
  type SelectionOptions,
  selectSecrets,
} from "./selection.js";
import { type CommonOptions, type Session, withSession } from "./session.js";

/**
 * `revoke-due <secret-id>` or `revoke-due --prefix | --tag | --all`: runs a secret's due (or overdue) revocations by
 * hand, through the revocation function's own core (runDueRevocation: proven, usage-aware, it may postpone and then
 * schedules the next check through the RevocationScheduler port, with the deployment's revocation target). For an
 * endpoint whose Scheduler never fires (moto) and for the dead-letter recovery. What is due is decided in
 * lambdas/core/due-revocations.ts: a schedule whose time has come (deleted once run, as Scheduler deletes a fired one),
 * and AWSPREVIOUS's key whose schedule was lost (Scheduler gave up and deleted it): run when due, its schedule put back
 * when not. Nothing that is not due is revoked: `revoke` does that, at once.
 */
export interface RevokeDueOptions extends CommonOptions, SelectionOptions {
  scheduleGroup?: string;
}

/** What happened to one due revocation (or one schedule): the text and --json are both made from it. */
export interface DueRow {
  keyId?: string;
  /** The schedule it came from; undefined for AWSPREVIOUS's key whose schedule was lost. */
  schedule?: string;
  /** "revoked", "already revoked", "postponed", "kept", "refused", "failed", "not due", "superseded", "scheduled", "left alone". */
  outcome: string;
  detail?: string;
  /** A postponement's next check and its schedule, or a restored schedule's time. */
  nextCheckAt?: string;
  newSchedule?: string;
  hardLimitAt?: string;
  /** Whether the schedule that was run (or superseded) was deleted. */
  scheduleRemoved?: boolean;
}

/** One secret's line of a selection's report (--json `results`); `outcome` summarises its due revocations. */
export interface RevokeDueSecret extends SelectedRow {
  secretArn?: string;
  scheduleGroup?: string;
  due: DueRow[];
  /** Why the secret could not be looked at (its deployment, its schedules), when it could not. */
  reason?: string;
}

export interface RevokeDueReport {
  selection: string;
  results: RevokeDueSecret[];
}

const BAD_OUTCOMES = new Set(["refused", "failed"]);

export function revokeDue(secretId: string | undefined, options: RevokeDueOptions): Promise<number> {
  return withSession(options, (session) => run(session, secretId, options));
}

async function run(session: Session, secretId: string | undefined, options: RevokeDueOptions): Promise<number> {
  const mass = isMassSelection(options);
  const selected = mass ? await selectSecrets(session, options) : [await describeSecret(session.aws, secretId ?? "")];
  const selection = mass ? describeSelection(options) : (secretId as string);
  const progress = new Progress(selected.length, (outcome) => !/refused|failed/.test(outcome));
  const { concurrency } = mass ? await chooseConcurrency(session, selected, options) : { concurrency: 1 };
  if (mass) progress.note(`${selected.length} secret(s) match ${selection}; at most ${concurrency} at a time`);
  const { rows } = await forEachSelected(
    selected,
    concurrency,
    progress,
    (entry): RevokeDueSecret => ({ secret: entry.Name as string, outcome: "not started", due: [] }),
    async (entry, { started }) => {
      started();
      return dueOfSecret(session, entry, options, !mass);
    },
    { noun: "revocation" },
  );
  return render(session, { selection, results: rows });
}

/** Gathers one secret's schedules, versions and deployment, plans with the core, runs the plan. Never throws. */
async function dueOfSecret(
  session: Session,
  entry: SecretListEntry,
  options: RevokeDueOptions,
  explicit: boolean,
): Promise<RevokeDueSecret> {
  const name = entry.Name as string;
  const arn = entry.ARN as string;
  const row: RevokeDueSecret = { secret: name, secretArn: arn, outcome: "failed", due: [] };
  // In a selection, a secret nothing rotates has nothing due (a manager secret under the prefix, say).
  if (!explicit && !(options.lambdaArn ?? entry.RotationLambdaARN) && !options.scheduleGroup) {
    return { ...row, outcome: "not rotated" };
  }
  let deployment: Deployment;
  try {
    deployment = await findDeployment(session.aws, entry, options);
    if (!deployment.rotationFunctionArn || !deployment.usage) {
      throw new CliError(
        "its due revocations follow the deployment's rule (quiet window, hard limit, revocation target), which its " +
          "rotation function's configuration gives: the secret names no readable rotation function (add --lambda-arn)",
      );
    }
  } catch (error) {
    return { ...row, reason: errorMessage(error) };
  }
  const group = deployment.scheduleGroup;
  if (group) row.scheduleGroup = group;
  let steps: DueStep[];
  try {
    const description = await session.aws.store.describe(arn);
    const listed = group ? await revocationSchedules(session.aws, group, revocationSchedulePrefix(arn)) : [];
    const schedules: ListedSchedule[] = listed.map((schedule) => ({
      name: schedule.name,
      ...(atTime(schedule.expression) && { fireAt: atTime(schedule.expression) }),
      ...(schedule.target?.Input !== undefined && { input: schedule.target.Input }),
    }));
    steps = planDueRevocations({
      now: new Date(),
      secretArn: description.arn,
      schedules,
      versions: await labelledVersionDates(session, description.arn, description.versionStages),
      graceSeconds: deployment.graceSeconds ?? 0,
      ...(await previousKey(session, description.arn, description.versionStages)),
    });
  } catch (error) {
    return { ...row, reason: errorMessage(error) };
  }
  const { deps, close } = dueDeps(session, deployment);
  try {
    for (const step of steps) row.due.push(await runStep(session, deps, arn, group, step));
  } finally {
    await close();
  }
  row.outcome = row.due.length === 0 ? "nothing due" : countOutcomes(row.due.map((due) => ({ secret: name, ...due })));
  return row;
}

/**
 * The labelled versions with the date each was made, read with GetSecretValue (moto's ListSecretVersionIds answers the
 * time of the call instead: test/integration/secrets-manager-contract.test.ts). Only labelled ones: an unlabelled
 * version left out can only make the previous key's retirement read later, never earlier.
 */
async function labelledVersionDates(
  session: Session,
  arn: string,
  versionStages: Record<string, string[]>,
): Promise<SecretVersion[]> {
  const versions: SecretVersion[] = [];
  for (const [versionId, stages] of Object.entries(versionStages)) {
    if (stages.length === 0) continue;
    try {
      const read = await session.aws.secrets.send(new GetSecretValueCommand({ SecretId: arn, VersionId: versionId }));
      versions.push({ versionId, stages, ...(read.CreatedDate && { createdDate: read.CreatedDate }) });
    } catch (error) {
      throw storeError("GetSecretValue", `${arn} version ${versionId}`, error);
    }
  }
  return versions;
}

/** AWSPREVIOUS's key, when it holds one that neither AWSCURRENT nor AWSPENDING holds (those are never retired). */
async function previousKey(
  session: Session,
  arn: string,
  versionStages: Record<string, string[]>,
): Promise<{ previous?: PreviousKey }> {
  const versionOf = (stage: string) => Object.entries(versionStages).find(([, labels]) => labels.includes(stage))?.[0];
  const previousVersion = versionOf(AWSPREVIOUS);
  if (!previousVersion || previousVersion === versionOf(AWSCURRENT)) return {};
  const keyAt = async (stage: string, versionId: string | undefined) =>
    versionId ? keyClaimOf((await session.aws.store.getValue(arn, { stage, versionId }))?.value)?.keyId : undefined;
  const keyId = await keyAt(AWSPREVIOUS, previousVersion);
  if (!keyId) return {};
  const held = [await keyAt(AWSCURRENT, versionOf(AWSCURRENT)), await keyAt(AWSPENDING, versionOf(AWSPENDING))];
  return held.includes(keyId) ? {} : { previous: { keyId, versionId: previousVersion } };
}

/**
 * The revocation function's ports, here: the deployment's schedule target, event bus, usage rule and Novala client
 * settings (timeouts, retry budget), with keys sent only to hosts both the deployment and this machine allow.
 */
function dueDeps(session: Session, deployment: Deployment): { deps: DueRevocationDeps; close(): Promise<void> } {
  const aws: Aws = session.aws;
  const scheduler: RevocationScheduler = deployment.revocation
    ? new AwsRevocationScheduler(aws.scheduler, deployment.revocation)
    : {
        ensureScheduled: () =>
          Promise.reject(new ConfigurationError("the deployment names no revocation schedule group (grace period 0)")),
        isScheduled: async () => false,
      };
  const base = session.deps;
  const local = session.config.allowedHosts;
  const novala = deployment.novala ?? session.config;
  const allowedHosts = deployment.novala ? new BothAllowedHosts(deployment.novala.allowedHosts, local) : local;
  const keys = createNovalaKeyApi({ ...novala, allowedHosts });
  const deps: DueRevocationDeps = {
    store: base.store,
    keys,
    scheduler,
    events: rotationEventsOn(aws.events, deployment.eventBus),
    // Its refusals and hard-limit errors are this command's outcomes, shown once: only warnings show, all with --debug.
    telemetry: {
      ...base.telemetry,
      error: (message, fields) => {
        if (session.options.debug) base.telemetry.error(message, fields);
      },
    },
    clock: systemClock,
    config: { allowedHosts, usage: deployment.usage as NonNullable<Deployment["usage"]> },
  };
  return { deps, close: () => keys.close() };
}

async function runStep(
  session: Session,
  deps: DueRevocationDeps,
  arn: string,
  group: string | undefined,
  step: DueStep,
): Promise<DueRow> {
  switch (step.kind) {
    case "not-due":
      return {
        keyId: step.keyId,
        schedule: step.schedule,
        outcome: "not due",
        detail: `due ${formatTime(step.fireAt)}: left to Scheduler (revoke revokes it now)`,
      };
    case "unreadable":
      return { schedule: step.schedule, outcome: "left alone", detail: step.reason };
    case "superseded":
      return {
        keyId: step.keyId,
        schedule: step.schedule,
        outcome: "superseded",
        detail: `a later check (${step.by}) replaces it`,
        scheduleRemoved: await removeSchedule(session, group, step.schedule),
      };
    case "run":
      return runScheduled(session, deps, group, step.schedule, step.request);
    case "lost":
      return runLost(session, deps, arn, group, step);
  }
}

/** A due schedule's revocation, as the revocation function runs it when the schedule fires; then the schedule goes. */
async function runScheduled(
  session: Session,
  deps: DueRevocationDeps,
  group: string | undefined,
  schedule: string,
  request: RevocationRequest,
): Promise<DueRow> {
  let done: DueRevocationOutcome;
  try {
    done = await runDueRevocation(deps, request);
  } catch (error) {
    return {
      keyId: request.keyId,
      schedule,
      outcome: "failed",
      detail: `${errorMessage(error)}; the schedule stays: run revoke-due again once the cause is fixed`,
    };
  }
  const row = fromOutcome(done, schedule);
  // A postponement made a schedule of its own (another name): the one that ran has done its job, as when it fires.
  if (!(done.outcome === "postponed" && done.schedule === schedule)) {
    row.scheduleRemoved = await removeSchedule(session, group, schedule);
  }
  return row;
}

/** AWSPREVIOUS's key with no schedule: revoked at once (grace 0), run when due, or its schedule put back. */
async function runLost(
  session: Session,
  deps: DueRevocationDeps,
  arn: string,
  group: string | undefined,
  lost: Extract<DueStep, { kind: "lost" }>,
): Promise<DueRow> {
  const base = { keyId: lost.keyId };
  const why = "AWSPREVIOUS's key, no schedule";
  try {
    if (lost.immediate) {
      const done = await revokeRetiredKeyNow(session, arn, lost.keyId, group);
      const outcome = done.outcome === "already-revoked" ? "already revoked" : done.outcome;
      return { ...base, outcome, detail: "reason" in done ? done.reason : `${why}: grace period 0, revoked at once` };
    }
    if (lost.dueAt.getTime() <= Date.now()) {
      const row = fromOutcome(
        await runDueRevocation(deps, { secretId: arn, keyId: lost.keyId, versionId: lost.versionId }),
      );
      return {
        ...row,
        detail: `${why} (lost: Scheduler gave up on it, or it was never made)${row.detail ? `; ${row.detail}` : ""}`,
      };
    }
    const restored = await restoreLostRevocation(deps, arn, { ...lost });
    if (!("reason" in restored)) {
      return {
        ...base,
        outcome: "scheduled",
        newSchedule: restored.schedule,
        nextCheckAt: restored.revokeAfter.toISOString(),
        detail: `${why}: not due until ${formatTime(restored.revokeAfter)}; its revocation schedule is back`,
      };
    }
    return {
      ...base,
      outcome: restored.outcome === "already-revoked" ? "already revoked" : "refused",
      detail: restored.reason,
    };
  } catch (error) {
    return {
      ...base,
      outcome: "failed",
      detail: `${errorMessage(error)}: run revoke-due again once the cause is fixed`,
    };
  }
}

function fromOutcome(done: DueRevocationOutcome, schedule?: string): DueRow {
  const base: DueRow = { keyId: done.keyId, ...(schedule && { schedule }), outcome: done.outcome };
  const lastUse = done.lastUsedAt ? `last used ${formatTime(done.lastUsedAt) || done.lastUsedAt}` : "never used";
  switch (done.outcome) {
    case "revoked":
      return {
        ...base,
        detail: done.hardLimitReached
          ? `at its hard limit, still in use (${lastUse}): revoked anyway`
          : `no consumer used it within the quiet window (${lastUse})`,
      };
    case "already-revoked":
      return { ...base, outcome: "already revoked", detail: "Novala reports it revoked or unknown" };
    case "refused":
      return { ...base, detail: done.reason };
    case "postponed":
      return {
        ...base,
        newSchedule: done.schedule,
        nextCheckAt: isoTime(done.nextCheckAt) as string,
        hardLimitAt: isoTime(done.hardLimitAt) as string,
        detail:
          `a consumer still uses it (${lastUse}): next check ${formatTime(done.nextCheckAt)} (${done.schedule}), ` +
          `hard limit ${formatTime(done.hardLimitAt)}`,
      };
    case "kept":
      return {
        ...base,
        hardLimitAt: isoTime(done.hardLimitAt) as string,
        detail:
          `still in use at its hard limit (${lastUse}): kept (at hard limit: keep), nothing scheduled; revoke it ` +
          "with novala-rotation revoke once its consumers read the current key",
      };
  }
}

/** Deletes a schedule revoke-due has run; resolves whether it did (a failure leaves it: harmless, it finds the key done). */
async function removeSchedule(session: Session, group: string | undefined, name: string): Promise<boolean> {
  if (!group) return false;
  try {
    return await deleteSchedule(session.aws, group, name);
  } catch (error) {
    session.out.warn(
      `could not remove schedule ${group}/${name} (${errorMessage(error)}): when it fires it finds the key done`,
    );
    return false;
  }
}

/** The time of an at() expression, as UTC. */
function atTime(expression: string | undefined): Date | undefined {
  const at = expression?.match(/^at\((.+)\)$/)?.[1];
  if (!at) return undefined;
  const ms = Date.parse(`${at}Z`);
  return Number.isFinite(ms) ? new Date(ms) : undefined;
}

function render(session: Session, report: RevokeDueReport): number {
  const { out } = session;
  const c = out.color;
  out.data(report);
  const lines: string[][] = [];
  for (const secret of report.results) {
    if (secret.reason) {
      lines.push([secret.secret, "-", "-", c.red(secret.outcome), secret.reason]);
      continue;
    }
    if (secret.outcome === "not rotated") {
      lines.push([
        secret.secret,
        "-",
        "-",
        c.dim(secret.outcome),
        "it has no rotation function: nothing revokes its keys",
      ]);
      continue;
    }
    if (secret.due.length === 0) {
      lines.push([secret.secret, "-", "-", c.dim("nothing due"), "no revocation schedule has come due, none was lost"]);
      continue;
    }
    for (const due of secret.due) {
      const color = BAD_OUTCOMES.has(due.outcome)
        ? c.red
        : due.outcome === "revoked"
          ? c.green
          : (text: string) => text;
      lines.push([
        secret.secret,
        due.keyId ?? "-",
        due.schedule ?? "(no schedule)",
        color(due.outcome),
        `${due.detail ?? ""}${due.scheduleRemoved ? "; schedule removed" : ""}`,
      ]);
    }
  }
  out.table(["secret", "key", "schedule", "outcome", "detail"], lines);
  const all = report.results.flatMap((secret) =>
    secret.reason || secret.due.length === 0
      ? [{ secret: secret.secret, outcome: secret.reason ? "failed" : secret.outcome }]
      : secret.due.map((due) => ({ secret: secret.secret, outcome: due.outcome })),
  );
  out.line(all.length > 0 ? countOutcomes(all) : "Nothing was due.");
  const bad = report.results.some((secret) => secret.reason || secret.due.some((due) => BAD_OUTCOMES.has(due.outcome)));
  if (bad) {
    throw new CliError(
      "some due revocations were not done (refused or failed, above): the detail says why and what to do",
      EXIT.failed,
    );
  }
  return EXIT.ok;
}
