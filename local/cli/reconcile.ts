import { paginateListSecrets } from "@aws-sdk/client-secrets-manager";
import { storeError } from "../../lambdas/adapters/aws/secret-store.js";
import { readKeySecret } from "../../lambdas/core/context.js";
import { errorMessage } from "../../lambdas/core/errors.js";
import { carriesRotationTag, hasRotationTag } from "../../lambdas/core/key-name.js";
import type { NovalaKey } from "../../lambdas/core/ports.js";
import { AWSCURRENT } from "../../lambdas/core/ports.js";
import { allVersions, describeSecret, revocationSchedules } from "./aws.js";
import { readRotationFunction } from "./deployment.js";
import { formatDuration } from "./duration.js";
import { CliError, EXIT } from "./errors.js";
import { formatTime } from "./output.js";
import { type CommonOptions, keyMetadata, type Session, withSession } from "./session.js";

/**
 * `reconcile --manager-secret <id> [--revoke]`: the keys a crash between Novala's create and PutSecretValue can leave
 * behind. A key is stranded when it is active, carries the rotator's name tag, no labelled version of any secret
 * holds it, no schedule in the group will revoke it, it is older than --min-age (a rotation in flight may be about to
 * store it), its tag is that of an unlabelled version of a secret read in this run (hasRotationTag: the secret's ARN
 * and the version id), and Novala saw it used no later than --grace ago. Secrets considered: the manager secret,
 * every --secret, and (unless --no-list-secrets) every secret ListSecrets shows whose AWSCURRENT names this manager
 * or the same Novala tenant (a self-managed secret of the tenant holds tagged keys too).
 *
 * The tenant may be shared with secrets this run cannot see (another region or account, a secret it may not read):
 * their keys look stranded from here. So a key is revoked only when its tag proves which of the secrets read here
 * made it; every other unheld tagged key is listed as left alone, with the reason, and so is every secret that could
 * not be read. A dry run unless --revoke.
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

interface Holder {
  secret: string;
  stages: string[];
}

/** A version of a secret read in this run, whose tag a key may carry. */
interface ReadVersion {
  secretArn: string;
  secretName: string;
  versionId: string;
  stages: string[];
}

interface LeftAlone {
  key: NovalaKey;
  reason: string;
}

export function reconcile(options: ReconcileOptions): Promise<number> {
  return withSession(options, (session) => run(session, options));
}

async function run(session: Session, options: ReconcileOptions): Promise<number> {
  const { out } = session;
  const c = out.color;
  const managerDescription = await describeSecret(session.aws, options.managerSecret);
  const managerArn = managerDescription.ARN as string;
  const managerName = managerDescription.Name as string;
  const manager = await readKeySecret(session.deps, managerArn, AWSCURRENT);
  if (!manager) throw new CliError(`manager secret ${options.managerSecret} has no AWSCURRENT value`);
  const tenant = new URL(manager.secret.baseUrl).origin;
  const credentials = { baseUrl: manager.secret.baseUrl, bearer: manager.secret.secretKey };
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
  const holders = new Map<string, Holder[]>();
  const readVersions: ReadVersion[] = [];
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
      const everyVersion = await allVersions(session.aws, arn);
      const versions = everyVersion.filter((version) => version.stages.length > 0);
      const values: { stages: string[]; keyId?: string; baseUrl?: string; managerSecretId?: string }[] = [];
      for (const version of versions) {
        const stage = version.stages[0] as string;
        const stored = await session.aws.store.getValue(arn, { stage, versionId: version.versionId });
        values.push({ stages: version.stages, ...keyMetadata(stored?.value) });
      }
      const current = values.find((value) => value.stages.includes(AWSCURRENT));
      const related =
        isExplicit ||
        (current?.managerSecretId !== undefined && managerIds.has(current.managerSecretId)) ||
        (current?.baseUrl !== undefined && sameOrigin(current.baseUrl, tenant));
      if (!related) continue;
      considered.push(name);
      for (const version of everyVersion) {
        readVersions.push({ secretArn: arn, secretName: name, versionId: version.versionId, stages: version.stages });
      }
      if (rotationFunction) rotationFunctions.add(rotationFunction);
      for (const value of values) {
        if (!value.keyId) continue;
        holders.set(value.keyId, [...(holders.get(value.keyId) ?? []), { secret: name, stages: value.stages }]);
      }
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

  const keys = await session.keys.list(credentials);
  const now = Date.now();
  const tagged = keys.filter((key) => key.status === "active" && carriesRotationTag(key.name));
  const stranded: NovalaKey[] = [];
  const leftAlone: LeftAlone[] = [];
  let tooYoung = 0;
  for (const key of tagged) {
    if (holders.has(key.id) || scheduled.has(key.id)) continue;
    const age = now - new Date(key.createdAt).getTime();
    if (Number.isFinite(age) && age < options.minAge) {
      tooYoung++;
      continue;
    }
    const reason = leaveAloneReason(key, readVersions, now, options.grace);
    if (reason) leftAlone.push({ key, reason });
    else stranded.push(key);
  }

  for (const problem of unreadable) out.warn(`could not read secret ${problem}`);
  const actions = new Map<string, string>();
  let failed = 0;
  if (options.revoke && stranded.length > 0) {
    for (const key of stranded) {
      try {
        const outcome = await session.keys.revoke(credentials, key.id);
        actions.set(key.id, outcome === "revoked" ? "revoked" : "already revoked");
      } catch (error) {
        failed++;
        actions.set(key.id, `failed: ${errorMessage(error)}`);
      }
    }
  }

  out.data({
    managerSecret: managerArn,
    tenant,
    scheduleGroups: [...groups],
    dryRun: !options.revoke,
    secretsConsidered: considered,
    unreadableSecrets: unreadable,
    taggedActiveKeys: tagged.length,
    heldBySecrets: tagged.filter((key) => holders.has(key.id)).length,
    scheduledForRevocation: tagged.filter((key) => !holders.has(key.id) && scheduled.has(key.id)).length,
    youngerThanMinAge: tooYoung,
    graceMs: options.grace,
    leftAlone: leftAlone.map(({ key, reason }) => ({
      keyId: key.id,
      name: key.name,
      createdAt: key.createdAt,
      lastUsedAt: key.lastUsedAt ?? null,
      reason,
    })),
    stranded: stranded.map((key) => ({
      keyId: key.id,
      name: key.name,
      scopes: key.scopes,
      createdAt: key.createdAt,
      lastUsedAt: key.lastUsedAt ?? null,
      action: actions.get(key.id) ?? (options.revoke ? "none" : "would revoke"),
    })),
  });

  out.line(
    `Novala tenant ${tenant}: ${tagged.length} active key(s) carry the rotator's tag; ` +
      `${considered.length} secret(s) and ${schedules.length} revocation schedule(s) considered.`,
  );
  if (stranded.length === 0) {
    out.line(
      c.green("No stranded keys.") +
        (tooYoung > 0 ? ` ${tooYoung} unheld key(s) younger than ${formatDuration(options.minAge)} left alone.` : ""),
    );
  } else {
    out.table(
      ["Key id", "Name", "Scopes", "Created", "Last used", options.revoke ? "Action" : "Dry run"],
      stranded.map((key) => [
        key.id,
        key.name,
        key.scopes.join(", "),
        formatTime(key.createdAt),
        key.lastUsedAt ? formatTime(key.lastUsedAt) : "never",
        actions.get(key.id) ?? "would revoke",
      ]),
    );
    if (!options.revoke) out.line(`${stranded.length} stranded key(s). Add --revoke to revoke them.`);
    if (tooYoung > 0) out.line(`${tooYoung} unheld key(s) younger than ${formatDuration(options.minAge)} left alone.`);
  }
  if (leftAlone.length > 0) {
    out.line(`${leftAlone.length} unheld tagged key(s) left alone (not ours to revoke, or still in use):`);
    out.table(
      ["Key id", "Name", "Created", "Last used", "Why left alone"],
      leftAlone.map(({ key, reason }) => [
        key.id,
        key.name,
        formatTime(key.createdAt),
        key.lastUsedAt ? formatTime(key.lastUsedAt) : "never",
        reason,
      ]),
    );
  }
  if (unreadable.length > 0) {
    out.line(
      `Not seen: ${unreadable.length} secret(s) could not be read (warnings above); ` +
        "keys they made are not attributable here and were left alone.",
    );
  }
  if (failed > 0) throw new CliError(`${failed} of ${stranded.length} stranded key(s) could not be revoked`);
  return 0;
}

/**
 * Why an unheld, unscheduled tagged key is not revoked; undefined when it may be. It may only when its tag is that of
 * an unlabelled version of a secret read in this run (an abandoned or rolled-back rotation of that secret), and it
 * has not been used within the grace.
 */
function leaveAloneReason(key: NovalaKey, versions: ReadVersion[], now: number, graceMs: number): string | undefined {
  const version = versions.find((candidate) => hasRotationTag(key.name, candidate.secretArn, candidate.versionId));
  if (!version) {
    return "not ours / not attributable: its tag is no version of a secret read here (another region or account, or a secret this run could not read)";
  }
  if (version.stages.length > 0) {
    return `its rotation of ${version.secretName} (version ${version.versionId}, ${version.stages.join(", ")}) is not over; that rotation revokes it`;
  }
  const lastUsed = key.lastUsedAt ? new Date(key.lastUsedAt).getTime() : Number.NaN;
  if (Number.isFinite(lastUsed) && lastUsed > now - graceMs) {
    return `used at ${formatTime(key.lastUsedAt)}, within the grace (${formatDuration(graceMs)})`;
  }
  return undefined;
}

function sameOrigin(url: string, origin: string): boolean {
  try {
    return new URL(url).origin === origin;
  } catch {
    return false;
  }
}
