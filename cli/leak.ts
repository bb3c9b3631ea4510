import type { SecretListEntry } from "@aws-sdk/client-secrets-manager";
import { KEY_ROTATED } from "../lambdas/contract/environment.js";
import { errorMessage } from "../lambdas/core/errors.js";
import { revocationSchedulePrefix } from "../lambdas/core/key-name.js";
import { AWSCURRENT } from "../lambdas/core/ports.js";
import { keyMetadataOf } from "../lambdas/core/secret-value.js";
import { describeSecret, revocationSchedules } from "./aws.js";
import { confirmOrRefuse } from "./confirm.js";
import { type Deployment, findDeployment } from "./deployment.js";
import { EXIT } from "./errors.js";
import { type RetiredKeyRevocation, revokeRetiredKeyNow, type ScheduleLeft } from "./retired-key.js";
import { type RotateOptions, rotateSecret } from "./rotate.js";
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
  untilAborted,
  type WorkContext,
} from "./selection.js";
import { type Session, withSession } from "./session.js";

/**
 * `leak <secret-id>` or `leak --prefix | --tag | --all`: the answer to a leaked key. Each secret is rotated now (started,
 * or the rotation in progress followed, exactly as `rotate` does; never skipped for having rotated recently) and, as
 * soon as its new key is promoted, the key it retired is revoked at once through the revocation function's own rule
 * (cli/retired-key.ts), with the keys of earlier rotations still waiting out their grace period (they may be the one
 * that leaked), and their revocation schedules are removed. Asks first (or --yes). Ends with a table of what was
 * revoked; exit 0 only when every retired key is revoked (or already was).
 */
export interface LeakOptions extends Omit<RotateOptions, "wait" | "schedule">, SelectionOptions {
  yes?: boolean;
}

type KeyOutcome = "revoked" | "already revoked" | "refused" | "failed";
type LeakOutcome = KeyOutcome | "rotation failed" | "interrupted" | "not started";

/** One retired key's revocation: the key the rotation retired now, or an earlier one still in its grace period. */
export interface LeakRevocation {
  /** Absent when the earlier keys could not be listed (the outcome is then "failed"). */
  keyId?: string;
  outcome: KeyOutcome;
  reason?: string;
  schedulesRemoved: string[];
  schedulesLeft: ScheduleLeft[];
}

/** One secret's line of the report (--json `results`); `outcome` is its old key's. */
export interface LeakRow extends SelectedRow {
  outcome: LeakOutcome;
  /** The key AWSCURRENT held when the leak response began: the one rotated out. */
  oldKeyId?: string;
  newKeyId?: string;
  reason?: string;
  token?: string;
  schedulesRemoved?: string[];
  schedulesLeft?: ScheduleLeft[];
  /** Keys retired by earlier rotations whose revocation was still scheduled: revoked now as well. */
  earlier?: LeakRevocation[];
}

export interface LeakReport {
  selection: string;
  concurrency: number | null;
  interrupted: boolean;
  results: LeakRow[];
}

/** The checks that need both the argument and the options (commander checks each alone). */

export function leak(secretId: string | undefined, options: LeakOptions): Promise<number> {
  return withSession(options, (session) => run(session, secretId, options));
}

async function run(session: Session, secretId: string | undefined, options: LeakOptions): Promise<number> {
  const { out } = session;
  const mass = isMassSelection(options);
  const selected = mass ? await selectSecrets(session, options) : [await describeSecret(session.aws, secretId ?? "")];
  const selection = mass ? describeSelection(options) : (secretId as string);
  if (selected.length === 0) {
    out.line(`No secret matches ${selection}: nothing was rotated or revoked.`);
    const empty: LeakReport = { selection, concurrency: null, interrupted: false, results: [] };
    out.data(empty);
    return EXIT.ok;
  }
  const { concurrency, source } = mass
    ? await chooseConcurrency(session, selected, options)
    : { concurrency: 1, source: "" };
  // A manager secret goes last: rotations of the secrets it manages use its key, which is revoked at once.
  const { managed, managers } = await managersLast(session, selected);

  await confirmOrRefuse(
    {
      action:
        selected.length === 1
          ? `rotate ${selected[0]?.Name} now and revoke its old key as soon as the new key is promoted`
          : `rotate ${selected.length} secrets (${selection}) now and revoke each old key as soon as its new key is promoted`,
      consequences: [
        "consumers still holding an old key get 401 from Novala as soon as the new key is promoted (no grace period)",
        `consumers that re-read AWSCURRENT, or listen to the "${KEY_ROTATED}" event, get the new key`,
        "keys retired by earlier rotations and still in their grace period are revoked too",
      ],
      ...(selected.length > 1 && { details: secretList(selected) }),
    },
    options.yes,
  );

  const progress = new Progress(selected.length, isGood);
  if (mass) {
    progress.note(
      `${selected.length} secret(s) match ${selection}; at most ${concurrency} at a time (${source})` +
        (managers.length > 0 ? `; manager secret(s) last: ${managers.map((entry) => entry.Name).join(", ")}` : ""),
    );
  }
  const deployments = new Map<string, Promise<Deployment>>();
  const deploymentOf = (entry: SecretListEntry): Promise<Deployment> => {
    const key = options.lambdaArn ?? entry.RotationLambdaARN ?? "";
    let found = deployments.get(key);
    if (!found) {
      found = findDeployment(session.aws, entry, options);
      deployments.set(key, found);
    }
    return found;
  };
  const notStarted = (entry: SecretListEntry): LeakRow => ({ secret: entry.Name as string, outcome: "not started" });
  const work = (entry: SecretListEntry, context: WorkContext) =>
    leakOne(session, entry, options, deploymentOf, context);

  const first = await forEachSelected(managed, concurrency, progress, notStarted, work);
  const second = first.interrupted
    ? { rows: managers.map(notStarted), interrupted: true }
    : await forEachSelected(managers, concurrency, progress, notStarted, work);
  const rows = [...first.rows, ...second.rows];
  const report: LeakReport = {
    selection,
    concurrency,
    interrupted: first.interrupted || second.interrupted,
    results: rows,
  };
  return render(session, report);
}

/** Rotates one secret, then revokes the key it retired and any earlier retired key still scheduled. Never throws. */
async function leakOne(
  session: Session,
  entry: SecretListEntry,
  options: LeakOptions,
  deploymentOf: (entry: SecretListEntry) => Promise<Deployment>,
  { signal, started }: WorkContext,
): Promise<LeakRow> {
  const arn = entry.ARN as string;
  const row: LeakRow = { secret: entry.Name as string, outcome: "failed" };
  try {
    started();
    const report = await untilAborted(
      rotateSecret(session, arn, { ...options, wait: true }, { say: () => {}, signal }),
      signal,
    );
    if (report === "aborted") {
      return { ...row, outcome: "interrupted", reason: "stopped following the rotation: the old key is not revoked" };
    }
    Object.assign(row, {
      token: report.token,
      ...(report.previousKeyId && { oldKeyId: report.previousKeyId }),
      ...(report.newKeyId && { newKeyId: report.newKeyId }),
    });
    if (report.outcome === "interrupted") {
      return {
        ...row,
        outcome: "interrupted",
        reason: `${report.reason ?? "stopped following"}; the old key is not revoked`,
      };
    }
    if (report.outcome !== "succeeded") {
      const reason = `${report.reason ?? `ended as ${report.outcome}`}; its old key is not revoked`;
      return { ...row, outcome: "rotation failed", reason };
    }
    const oldKeyId = report.previousKeyId;
    if (!oldKeyId || oldKeyId === report.newKeyId) {
      return { ...row, outcome: "failed", reason: "AWSCURRENT named no key before the rotation: nothing was revoked" };
    }

    let group: string | undefined;
    try {
      group = (await deploymentOf(entry)).scheduleGroup;
    } catch (error) {
      row.reason = `revocation schedules not removed: ${errorMessage(error)}`;
    }
    const revocation = asRevocation(oldKeyId, await revokeRetiredKeyNow(session, arn, oldKeyId, group));
    Object.assign(row, {
      outcome: revocation.outcome,
      ...(revocation.reason && { reason: revocation.reason }),
      schedulesRemoved: revocation.schedulesRemoved,
      schedulesLeft: revocation.schedulesLeft,
    });
    if (group) row.earlier = await revokeEarlierKeys(session, arn, group, [oldKeyId, report.newKeyId]);
    return row;
  } catch (error) {
    // Only starting the rotation throws (no such secret, no rotation function, RotateSecret refused).
    return { ...row, outcome: "rotation failed", reason: errorMessage(error) };
  }
}

/**
 * The keys earlier rotations retired whose revocation is still scheduled (any of them may be the one that leaked),
 * other than `except` (the keys just dealt with), each revoked now. A listing that fails is reported as a failure.
 */
async function revokeEarlierKeys(
  session: Session,
  arn: string,
  group: string,
  except: (string | undefined)[],
): Promise<LeakRevocation[]> {
  let keyIds: string[];
  try {
    const schedules = await revocationSchedules(session.aws, group, revocationSchedulePrefix(arn));
    keyIds = [...new Set(schedules.map((schedule) => schedule.keyId ?? ""))]
      .filter((keyId) => keyId !== "" && !except.includes(keyId))
      .sort();
  } catch (error) {
    const reason = `the revocation schedules of group ${group} could not be listed: ${errorMessage(error)}`;
    return [{ outcome: "failed", reason, schedulesRemoved: [], schedulesLeft: [] }];
  }
  const revocations: LeakRevocation[] = [];
  for (const keyId of keyIds) {
    revocations.push(asRevocation(keyId, await revokeRetiredKeyNow(session, arn, keyId, group)));
  }
  return revocations;
}

function asRevocation(keyId: string, result: RetiredKeyRevocation): LeakRevocation {
  if (result.outcome === "refused" || result.outcome === "failed") {
    return { keyId, outcome: result.outcome, reason: result.reason, schedulesRemoved: [], schedulesLeft: [] };
  }
  return {
    keyId,
    outcome: result.outcome === "revoked" ? "revoked" : "already revoked",
    schedulesRemoved: result.schedulesRemoved,
    schedulesLeft: result.schedulesLeft,
  };
}

/**
 * The selection split in two: the secrets whose AWSCURRENT names no manager secret of the selection, then the manager
 * secrets the others name (by name or ARN), whose old key is revoked only after every rotation that uses it ended.
 */
async function managersLast(
  session: Session,
  selected: SecretListEntry[],
): Promise<{ managed: SecretListEntry[]; managers: SecretListEntry[] }> {
  const named = new Set<string>();
  for (const entry of selected) {
    try {
      const current = await session.aws.store.getValue(entry.ARN as string, { stage: AWSCURRENT });
      const manager = keyMetadataOf(current?.value).managerSecretId;
      if (manager) named.add(manager);
    } catch {
      // Unreadable here: its rotation reports why.
    }
  }
  const isManager = (entry: SecretListEntry) => named.has(entry.Name ?? "") || named.has(entry.ARN ?? "");
  return { managed: selected.filter((entry) => !isManager(entry)), managers: selected.filter(isManager) };
}

function secretList(selected: SecretListEntry[]): string[] {
  const shown = selected.slice(0, 20).map((entry) => entry.Name as string);
  return selected.length > shown.length ? [...shown, `… and ${selected.length - shown.length} more`] : shown;
}

function isGood(outcome: string): boolean {
  return outcome === "revoked" || outcome === "already revoked";
}

/** The table (a line per retired key) or the --json document; exit 0 only when every retired key is revoked. */
function render(session: Session, report: LeakReport): number {
  const { out } = session;
  const c = out.color;
  out.data(report);
  const color = (outcome: LeakOutcome) => (isGood(outcome) ? c.green(outcome) : c.red(outcome));
  const lines: string[][] = [];
  for (const row of report.results) {
    lines.push([row.secret, row.oldKeyId ?? "", row.newKeyId ?? "", color(row.outcome), row.reason ?? ""]);
    for (const key of row.earlier ?? []) {
      lines.push([
        row.secret,
        key.keyId ? `${key.keyId} (earlier)` : "earlier keys",
        row.newKeyId ?? "",
        color(key.outcome),
        key.reason ?? "",
      ]);
    }
  }
  out.table(["secret", "old key", "new key", "outcome", "reason"], lines);
  for (const row of report.results) {
    for (const left of [...(row.schedulesLeft ?? []), ...(row.earlier ?? []).flatMap((key) => key.schedulesLeft)]) {
      out.warn(
        `${row.secret}: could not remove ${left.schedule} (${left.reason}): when it fires it finds the key revoked`,
      );
    }
  }
  const allGood = report.results.every(
    (row) => isGood(row.outcome) && (row.earlier ?? []).every((key) => isGood(key.outcome)),
  );
  out.line(
    countOutcomes(report.results) +
      (report.interrupted ? " (interrupted: run the same command again for the rest)" : ""),
  );
  if (!allGood) {
    out.line(
      "Not every old key is revoked. A failed rotation leaves its old key in AWSCURRENT, active: " +
        "`novala-rotation status <secret>` says why; fix the cause, then `novala-rotation leak <secret>`. " +
        'A refused or failed revocation: docs/operations.md, "A key leaked".',
    );
  }
  return allGood ? EXIT.ok : EXIT.failed;
}
