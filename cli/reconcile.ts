import { paginateListSecrets } from "@aws-sdk/client-secrets-manager";
import { storeError } from "../lambdas/adapters/aws/secret-store.js";
import { formatDuration } from "../lambdas/contract/duration.js";
import { readKeySecret } from "../lambdas/core/context.js";
import { errorMessage } from "../lambdas/core/errors.js";
import { carriesRotationTag } from "../lambdas/core/key-name.js";
import { AWSCURRENT } from "../lambdas/core/ports.js";
import type { ManagerCredentials } from "../lambdas/core/possession.js";
import { keyMetadataOf } from "../lambdas/core/secret-value.js";
import {
  classifyUnheldKeys,
  type LeftAloneReason,
  readSecretVersions,
  revokeStrandedKey,
  type SecretRead,
  type StrandedCandidate,
  type StrandedRevocation,
} from "../lambdas/core/stranded.js";
import { formatTime } from "../lambdas/core/verdict.js";
import { describeSecret, revocationSchedules } from "./aws.js";
import { readRotationFunction } from "./deployment.js";
import { CliError, EXIT } from "./errors.js";
import { type CommonOptions, type Session, withSession } from "./session.js";

/**
 * `reconcile --manager-secret <id> [--revoke]`: the keys nothing else will revoke. The rule is the core's
 * (lambdas/core/stranded.ts); this command reads and renders. A key is stranded when it is active, no labelled version
 * of any secret read holds it, no schedule in the group will revoke it, it is older than --min-age (a rotation in
 * flight may be about to store it), Novala saw it used no later than --grace ago, and it is attributable to an
 * unlabelled version of a secret read in this run: its name carries that version's lineage tag (a key an abandoned
 * rotation made), or that version's value names it (a retired key whose revocation schedule Scheduler gave up on after
 * the next rotation moved it off AWSPREVIOUS; the original key of a secret carries no tag). The second kind is revoked
 * only once the version proves it holds the key (its secret key authenticates as that id), which --revoke checks first.
 * Secrets considered: the manager secret, every --secret, and (unless --no-list-secrets) every secret ListSecrets shows
 * whose AWSCURRENT names this manager or the same Novala tenant (a self-managed secret of the tenant holds keys too).
 *
 * The tenant may be shared with secrets this run cannot see (another region or account, a secret it may not read):
 * their keys look stranded from here. So a key is revoked only when a version read here accounts for it; every other
 * unheld tagged key is listed as left alone, with the reason, and so is every secret that could not be read. A dry run
 * unless --revoke.
 */
export interface ReconcileOptions extends CommonOptions {
  managerSecret: string;
  secret?: string[];
  listSecrets: boolean;
  minAge: number;
  /** Milliseconds: a key Novala saw used more recently than this is left alone (someone still relies on it). */
  grace: number;
  revoke?: boolean;
  scheduleGroup?: string;
}

export function reconcile(options: ReconcileOptions): Promise<number> {
  return withSession(options, (session) => run(session, options));
}

async function run(session: Session, options: ReconcileOptions): Promise<number> {
  const managerDescription = await describeSecret(session.aws, options.managerSecret);
  const managerArn = managerDescription.ARN as string;
  const managerName = managerDescription.Name as string;
  const manager = await readKeySecret(session.deps, managerArn, AWSCURRENT);
  if (!manager) throw new CliError(`manager secret ${options.managerSecret} has no AWSCURRENT value`);
  const tenant = new URL(manager.secret.baseUrl).origin;
  // The tenant's manager key acts; it is never a claim (a version naming it is refused, not revoked).
  const credentials: ManagerCredentials = {
    baseUrl: manager.secret.baseUrl,
    bearer: manager.secret.secretKey,
    keyId: manager.secret.keyId,
    managed: true,
  };
  const managerIds = new Set([options.managerSecret, managerArn, managerName]);

  // Which secrets to read: the manager, the named ones, and those ListSecrets shows.
  const explicit = new Set([managerArn, ...(options.secret ?? [])]);
  const listed: string[] = [];
  if (options.listSecrets) {
    try {
      for await (const page of paginateListSecrets({ client: session.aws.secrets }, {})) {
        for (const secret of page.SecretList ?? []) if (secret.ARN) listed.push(secret.ARN);
      }
    } catch (error) {
      throw storeError("ListSecrets", "(all)", error);
    }
  }

  // The schedule groups to look in: --schedule-group, else those the considered secrets' rotation functions name.
  const rotationFunctions = new Set<string>();
  const read: SecretRead[] = [];
  const unreadable: string[] = [];
  const considered: string[] = [];
  const seen = new Set<string>();
  for (const id of [...explicit, ...listed]) {
    const isExplicit = explicit.has(id);
    let arn: string;
    let name: string;
    let rotationFunction: string | undefined;
    try {
      const described = await describeSecret(session.aws, id);
      arn = described.ARN as string;
      name = described.Name as string;
      rotationFunction = described.RotationLambdaARN;
    } catch (error) {
      if (isExplicit) throw error;
      unreadable.push(`${id}: ${errorMessage(error)}`);
      continue;
    }
    if (seen.has(arn)) continue;
    seen.add(arn);
    try {
      // Every version with its value: the labelled ones hold keys, the unlabelled ones name retired keys.
      const secret = await readSecretVersions(session.aws.store, arn, name);
      const current = keyMetadataOf(secret.versions.find((version) => version.stages.includes(AWSCURRENT))?.value);
      const related =
        isExplicit ||
        (current.managerSecretId !== undefined && managerIds.has(current.managerSecretId)) ||
        (current.baseUrl !== undefined && sameOrigin(current.baseUrl, tenant));
      if (!related) continue;
      considered.push(name);
      read.push(secret);
      if (rotationFunction) rotationFunctions.add(rotationFunction);
    } catch (error) {
      if (isExplicit) throw error;
      unreadable.push(`${name}: ${errorMessage(error)}`);
    }
  }

  const groups = new Set(options.scheduleGroup ? [options.scheduleGroup] : []);
  if (!options.scheduleGroup) {
    for (const functionArn of rotationFunctions) {
      try {
        const group = (await readRotationFunction(session.aws, functionArn)).scheduleGroup;
        if (group) groups.add(group);
      } catch (error) {
        // A group not looked in could hold the schedule of a key in its grace period: --revoke refuses below.
        unreadable.push(`rotation function ${functionArn}: ${errorMessage(error)}`);
      }
    }
    if (rotationFunctions.size === 0) {
      throw new CliError(
        "none of the secrets considered has a rotation function, so where revocations are scheduled is unknown: " +
          "give --schedule-group",
        EXIT.usage,
      );
    }
  }
  const schedules = [];
  for (const group of groups) schedules.push(...(await revocationSchedules(session.aws, group)));
  const scheduled = new Set(schedules.map((schedule) => schedule.keyId).filter((id): id is string => Boolean(id)));

  // Active keys only: stranded keys are active, and a tenant's revoked history can be long.
  const keys = await session.keys.list(credentials, { status: "active" });
  const tagged = keys.filter((key) => key.status === "active" && carriesRotationTag(key.name));
  const verdict = classifyUnheldKeys({
    secrets: read,
    keys,
    scheduled: (keyId) => scheduled.has(keyId),
    now: Date.now(),
    minAgeMs: options.minAge,
    graceMs: options.grace,
  });
  const stranded = verdict.candidates;
  const leftAlone = verdict.leftAlone.map(({ key, reason }) => ({ key, reason: leftAloneText(reason, options.grace) }));
  const tooYoung = verdict.youngerThanMinAge;

  const actions = new Map<string, string>();
  let failed = 0;
  if (options.revoke && stranded.length > 0) {
    for (const candidate of stranded) {
      try {
        const result = await revokeStrandedKey(session, credentials, candidate);
        actions.set(candidate.key.id, revocationText(result));
      } catch (error) {
        failed++;
        actions.set(candidate.key.id, `failed: ${errorMessage(error)}`);
      }
    }
  }
  const dryRunAction = (candidate: StrandedCandidate) =>
    candidate.attribution.by === "value" ? "would revoke once proven" : "would revoke";

  const report: ReconcileReport = {
    managerSecret: managerArn,
    tenant,
    scheduleGroups: [...groups],
    revocationSchedules: schedules.length,
    dryRun: !options.revoke,
    secretsConsidered: considered,
    unreadableSecrets: unreadable,
    taggedActiveKeys: tagged.length,
    keysConsidered: verdict.considered,
    heldBySecrets: verdict.heldBySecrets,
    scheduledForRevocation: verdict.scheduledForRevocation,
    youngerThanMinAge: tooYoung,
    minAgeMs: options.minAge,
    graceMs: options.grace,
    leftAlone: leftAlone.map(({ key, reason }) => ({
      keyId: key.id,
      name: key.name,
      createdAt: key.createdAt,
      lastUsedAt: key.lastUsedAt ?? null,
      reason,
    })),
    stranded: stranded.map((candidate) => ({
      keyId: candidate.key.id,
      name: candidate.key.name,
      scopes: candidate.key.scopes,
      createdAt: candidate.key.createdAt,
      lastUsedAt: candidate.key.lastUsedAt ?? null,
      foundBy: foundByText(candidate),
      attributedBy: candidate.attribution.by,
      secret: candidate.attribution.secretName,
      versionId: candidate.attribution.versionId,
      action: actions.get(candidate.key.id) ?? (options.revoke ? "none" : dryRunAction(candidate)),
    })),
    failed,
  };
  return render(session, report);
}

/** What reconcile found and did: the text and the --json document are both made from it. */
export interface ReconcileReport {
  managerSecret: string;
  tenant: string;
  scheduleGroups: string[];
  revocationSchedules: number;
  dryRun: boolean;
  secretsConsidered: string[];
  unreadableSecrets: string[];
  taggedActiveKeys: number;
  keysConsidered: number;
  heldBySecrets: number;
  scheduledForRevocation: number;
  youngerThanMinAge: number;
  minAgeMs: number;
  graceMs: number;
  leftAlone: { keyId: string; name: string; createdAt: string; lastUsedAt: string | null; reason: string }[];
  stranded: {
    keyId: string;
    name: string;
    scopes: string[];
    createdAt: string;
    lastUsedAt: string | null;
    foundBy: string;
    /** By its lineage tag, or by a retired version's value (revoked only once that version proves it). */
    attributedBy: StrandedCandidate["attribution"]["by"];
    secret: string;
    versionId: string;
    action: string;
  }[];
  /** How many revocations failed (--revoke). */
  failed: number;
}

function render(session: Session, report: ReconcileReport): number {
  const { out } = session;
  const c = out.color;
  const { stranded, leftAlone } = report;
  const tooYoung = report.youngerThanMinAge;
  const { failed, ...document } = report;
  out.data(document);
  for (const problem of report.unreadableSecrets) out.warn(`could not read secret ${problem}`);
  out.line(
    `Novala tenant ${report.tenant}: ${report.taggedActiveKeys} active key(s) carry the rotator's tag, ` +
      `${report.keysConsidered} active key(s) are tagged or named by a retired version; ` +
      `${report.secretsConsidered.length} secret(s) and ${report.revocationSchedules} revocation schedule(s) considered.`,
  );
  if (stranded.length === 0) {
    out.line(
      c.green("No stranded keys.") +
        (tooYoung > 0 ? ` ${tooYoung} unheld key(s) younger than ${formatDuration(report.minAgeMs)} left alone.` : ""),
    );
  } else {
    out.table(
      ["Key id", "Name", "Found by", "Scopes", "Created", "Last used", report.dryRun ? "Dry run" : "Action"],
      stranded.map((row) => [
        row.keyId,
        row.name,
        row.foundBy,
        row.scopes.join(", "),
        formatTime(row.createdAt),
        row.lastUsedAt ? formatTime(row.lastUsedAt) : "never",
        row.action,
      ]),
    );
    if (report.dryRun) {
      out.line(`${stranded.length} stranded key(s). Add --revoke to revoke them.`);
      if (stranded.some((row) => row.attributedBy === "value")) {
        out.line(
          "A key named by a retired version is revoked only once that version's secret key proves it (--revoke " +
            "proves it first; a dry run does not, since Novala counts the proof as a use).",
        );
      }
    }
    if (tooYoung > 0) out.line(`${tooYoung} unheld key(s) younger than ${formatDuration(report.minAgeMs)} left alone.`);
  }
  if (leftAlone.length > 0) {
    out.line(`${leftAlone.length} unheld key(s) left alone (not ours to revoke, or still in use):`);
    out.table(
      ["Key id", "Name", "Created", "Last used", "Why left alone"],
      leftAlone.map((row) => [
        row.keyId,
        row.name,
        formatTime(row.createdAt),
        row.lastUsedAt ? formatTime(row.lastUsedAt) : "never",
        row.reason,
      ]),
    );
  }
  if (report.unreadableSecrets.length > 0) {
    out.line(
      `Not seen: ${report.unreadableSecrets.length} secret(s) could not be read (warnings above); ` +
        "keys they made are not attributable here and were left alone.",
    );
  }
  if (failed > 0) throw new CliError(`${failed} of ${stranded.length} stranded key(s) could not be revoked`);
  return EXIT.ok;
}

/** Why the rule left a key alone, in words. */
function leftAloneText(reason: LeftAloneReason, graceMs: number): string {
  switch (reason.kind) {
    case "not-attributable":
      return "not ours / not attributable: its tag is no version of a secret read here (another region or account, or a secret this run could not read)";
    case "rotation-in-flight":
      return `its rotation of ${reason.secretName} (version ${reason.versionId}, ${reason.stages.join(", ")}) is not over; that rotation revokes it`;
    case "used-within-grace":
      return `used at ${formatTime(reason.lastUsedAt)}, within the grace (${formatDuration(graceMs)})`;
  }
}

function foundByText({ attribution }: StrandedCandidate): string {
  return attribution.by === "lineage-tag"
    ? `tag of unlabelled version ${attribution.versionId} of ${attribution.secretName}`
    : `held by unlabelled version ${attribution.versionId} of ${attribution.secretName}`;
}

function revocationText(result: StrandedRevocation): string {
  switch (result.outcome) {
    case "revoked":
      return "revoked";
    case "already-revoked":
      return "already revoked";
    case "gone":
      return `already ${result.status} at Novala`;
    case "refused":
      return `left alone: not proven (${result.reason})`;
  }
}

function sameOrigin(url: string, origin: string): boolean {
  try {
    return new URL(url).origin === origin;
  } catch {
    return false;
  }
}
