import { NovalaUnavailableError } from "../lambdas/adapters/novala/errors.js";
import { outcomeFromTags } from "../lambdas/contract/rotation-outcome.js";
import { errorMessage } from "../lambdas/core/errors.js";
import { revocationSchedulePrefix } from "../lambdas/core/key-name.js";
import type { NovalaCredentials } from "../lambdas/core/ports.js";
import { AWSCURRENT, AWSPREVIOUS } from "../lambdas/core/ports.js";
import { retiredNoEarlierThan } from "../lambdas/core/revocation-usage.js";
import { sameScopes } from "../lambdas/core/secret-value.js";
import {
  describeSecret,
  labelledVersions,
  missingScheduleGroup,
  type RevocationSchedule,
  revocationSchedules,
  scheduleTime,
} from "./aws.js";
import { type Deployment, findDeployment } from "./deployment.js";
import { formatDuration } from "./duration.js";
import { EXIT } from "./errors.js";
import { formatTime, isoTime } from "./output.js";
import { type CommonOptions, type NovalaView, readVersions, type Session, withSession } from "./session.js";
import { pendingRotation, verdict } from "./verdict.js";

/**
 * `status <secret-id>`: a verdict first (healthy, or what is wrong, worst first: cli/verdict.ts), then the
 * versions and their labels with the metadata each holds (never the keys), the rotation configuration, the last
 * outcome the rotation function recorded, the revocations still scheduled, and with --check Novala's view of every
 * key, asked within --check-timeout in all. Exit 0 only when healthy (EXIT.unhealthy, or EXIT.unknown when Novala
 * could not be asked).
 */
export interface StatusOptions extends CommonOptions {
  check?: boolean;
  /** Milliseconds --check may spend asking Novala, in all. */
  checkTimeout?: number;
  scheduleGroup?: string;
}

/** How long --check may spend on Novala by default, in all. */
export const DEFAULT_CHECK_TIMEOUT_MS = 10_000;

export function status(secretId: string, options: StatusOptions): Promise<number> {
  return withSession(options, (session) => run(session, secretId, options));
}

async function run(session: Session, secretId: string, options: StatusOptions): Promise<number> {
  const { out } = session;
  const c = out.color;
  const described = await describeSecret(session.aws, secretId);
  const arn = described.ARN as string;
  const name = described.Name as string;
  const versions = await readVersions(session, arn, name, await labelledVersions(session.aws, arn));

  // The rest of the status stands without the deployment: a secret not rotated yet has none.
  let deployment: Deployment = {};
  let revocations: RevocationSchedule[] = [];
  let revocationsError: string | undefined;
  try {
    deployment = await findDeployment(session.aws, described, options);
    if (deployment.scheduleGroup) {
      revocations = await revocationSchedules(session.aws, deployment.scheduleGroup, revocationSchedulePrefix(arn));
      // Listing a group that does not exist finds nothing, which would read as "none pending".
      if (revocations.length === 0)
        revocationsError = await missingScheduleGroup(session.aws, deployment.scheduleGroup);
    }
  } catch (error) {
    revocationsError = errorMessage(error);
  }
  const scheduleGroup = deployment.scheduleGroup;

  const views = new Map<string, NovalaView>();
  let checkError: string | undefined;
  let unreachable: string | undefined;
  if (options.check) {
    const limitMs = options.checkTimeout ?? DEFAULT_CHECK_TIMEOUT_MS;
    const deadline = Date.now() + limitMs;
    session.limitNovala(limitMs);
    const current = versions.find((version) => version.stages.includes(AWSCURRENT));
    let credentials: NovalaCredentials | undefined;
    if (!current?.parsed) {
      checkError = `cannot ask Novala: AWSCURRENT ${current?.problem ?? "is missing"}`;
    } else {
      try {
        credentials = await session.managerCredentials(arn, current.parsed);
      } catch (error) {
        checkError = `cannot ask Novala: ${errorMessage(error)}`;
      }
    }
    if (credentials) {
      const keyIds = [...versions.map((version) => version.meta.keyId), ...revocations.map((r) => r.keyId)];
      for (const keyId of new Set(keyIds)) {
        if (!keyId) continue;
        // One unreachable answer is enough: the other keys would only spend the rest of the time the same way.
        if (unreachable) break;
        const asked = await askWithin(session, credentials, keyId, deadline);
        if ("unreachable" in asked) unreachable = `${asked.unreachable} (--check-timeout ${formatDuration(limitMs)})`;
        else views.set(keyId, asked);
      }
    }
  }
  const lastOutcome = outcomeFromTags(described.Tags);
  // The previous key's hard limit, as the revocation function counts it (from Secrets Manager's version dates).
  const previousVersion = versions.find((version) => version.stages.includes(AWSPREVIOUS));
  const retiredAt = previousVersion && retiredNoEarlierThan(versions, previousVersion.versionId);
  const previousHardLimitAt =
    retiredAt && deployment.usage ? new Date(retiredAt.getTime() + deployment.usage.hardLimitMs) : undefined;
  const facts = versions.map((version) => ({
    versionId: version.versionId,
    stages: version.stages,
    ...(version.createdDate && { createdDate: version.createdDate }),
    hasValue: version.problem !== "no value yet",
    ...(version.meta.keyId && { keyId: version.meta.keyId }),
  }));
  const now = new Date();
  const judged = verdict({
    now,
    versions: facts,
    ...(lastOutcome && { lastOutcome }),
    revocations: revocations.map((schedule) => ({
      name: schedule.name,
      ...(schedule.keyId && { keyId: schedule.keyId }),
      ...(scheduleTime(schedule) && { time: scheduleTime(schedule) }),
      ...(schedule.postponements !== undefined && { postponements: schedule.postponements }),
      ...(schedule.lastUsedAt && { lastUsedAt: schedule.lastUsedAt }),
      ...(schedule.hardLimitAt && { hardLimitAt: schedule.hardLimitAt }),
    })),
    ...(previousHardLimitAt && { previousHardLimitAt }),
    ...(options.check && { novala: views }),
    ...((unreachable ?? checkError) && { novalaUnreachable: unreachable ?? checkError }),
  });
  const pending = pendingRotation(facts, lastOutcome, now);
  const state = judged.healthy ? "healthy" : (judged.problems[0]?.kind ?? "healthy");

  const rules = described.RotationRules;
  const scheduleText = rules?.ScheduleExpression
    ? rules.ScheduleExpression
    : rules?.AutomaticallyAfterDays
      ? `every ${rules.AutomaticallyAfterDays} days`
      : "";
  out.data({
    secretId,
    arn,
    name,
    verdict: { healthy: judged.healthy, state, problems: judged.problems, notes: judged.notes },
    lastOutcome: lastOutcome
      ? {
          kind: lastOutcome.kind,
          step: lastOutcome.step,
          token: lastOutcome.token,
          at: lastOutcome.at.toISOString(),
          ...(lastOutcome.reason && { reason: lastOutcome.reason }),
        }
      : null,
    rotation: {
      enabled: described.RotationEnabled === true,
      lambdaArn: described.RotationLambdaARN,
      automaticallyAfterDays: rules?.AutomaticallyAfterDays,
      scheduleExpression: rules?.ScheduleExpression,
      window: rules?.Duration,
      lastRotated: isoTime(described.LastRotatedDate),
      nextRotation: isoTime(described.NextRotationDate),
    },
    versions: versions.map((version) => ({
      versionId: version.versionId,
      stages: version.stages,
      created: isoTime(version.createdDate),
      keyId: version.meta.keyId,
      name: version.meta.name,
      scopes: version.meta.scopes,
      keyCreatedAt: version.meta.createdAt,
      managerSecretId: version.meta.managerSecretId,
      ...(version.problem && { problem: version.problem }),
      ...(version.meta.keyId && views.has(version.meta.keyId) && { novala: viewJson(views.get(version.meta.keyId)) }),
    })),
    scheduleGroup: scheduleGroup ?? null,
    gracePeriodSeconds: deployment.graceSeconds ?? null,
    eventBus: deployment.eventBus ?? null,
    revocations: revocations.map((schedule) => ({
      schedule: schedule.name,
      keyId: schedule.keyId,
      revokeAfter: scheduleTime(schedule),
      state: schedule.state,
      ...(schedule.postponements !== undefined && {
        postponements: schedule.postponements,
        lastUsedAt: schedule.lastUsedAt,
        hardLimitAt: schedule.hardLimitAt,
      }),
      ...(schedule.keyId && views.has(schedule.keyId) && { novala: viewJson(views.get(schedule.keyId)) }),
    })),
    ...(revocationsError && { revocationsError }),
    ...(checkError && { checkError }),
    ...(unreachable && { novalaUnreachable: unreachable }),
  });

  const [first, ...others] = judged.problems;
  out.line(
    first
      ? `${c.bold("Verdict")}  ${first.kind === "novala-unreachable" ? c.yellow(first.summary) : c.red(first.summary)}`
      : `${c.bold("Verdict")}  ${c.green("healthy")}${options.check ? "" : c.dim(" (Novala not asked: add --check)")}`,
  );
  for (const problem of others) out.line(`         ${c.yellow("also:")} ${problem.summary}`);
  for (const note of judged.notes) out.line(`         ${c.dim("note:")} ${note}`);
  if (pending) {
    out.line(
      c.dim(
        pending.state === "stuck"
          ? `         wait for Secrets Manager's next attempt, or end it: novala-rotation abort ${secretId} (docs/operations.md)`
          : `         follow it: novala-rotation rotate ${secretId}`,
      ),
    );
  }
  out.line();
  out.line(c.bold(`Secret ${name}`));
  out.fields(
    [
      ["ARN", arn],
      [
        "Rotation",
        described.RotationEnabled
          ? `${c.green("enabled")}${scheduleText ? `, ${scheduleText}` : ""}${rules?.Duration ? `, window ${rules.Duration}` : ""}`
          : c.yellow("not enabled"),
      ],
      ["Rotation function", described.RotationLambdaARN ?? "-"],
      [
        "Grace period",
        deployment.graceSeconds === undefined
          ? "-"
          : deployment.graceSeconds === 0
            ? "0 (old keys are revoked at once)"
            : formatDuration(deployment.graceSeconds * 1000),
      ],
      ["Last rotated", formatTime(described.LastRotatedDate) || "-"],
      [
        "Last outcome",
        lastOutcome
          ? `${lastOutcome.kind} at ${lastOutcome.step}, ${formatTime(lastOutcome.at)} (version ${lastOutcome.token})` +
            (lastOutcome.reason ? `: ${lastOutcome.reason}` : "")
          : "- (none recorded)",
      ],
      ["Next rotation", formatTime(described.NextRotationDate) || "-"],
    ],
    2,
  );
  out.line();
  out.line(c.bold("Versions"));
  const head = ["Version", "Stages", "Key id", "Name", "Scopes", "Key created"];
  if (options.check) head.push("Novala", "Last used");
  out.table(
    head,
    versions.map((version) => {
      const row = [
        shortId(version.versionId),
        version.stages.join(", "),
        version.meta.keyId ?? "",
        version.meta.name ?? "",
        (version.meta.scopes ?? []).join(", "),
        formatTime(version.meta.createdAt),
      ];
      if (options.check) row.push(...viewCells(session, views.get(version.meta.keyId ?? "")));
      return row;
    }),
    { indent: 2 },
  );
  for (const version of versions) {
    if (version.problem) out.line(`  ${c.yellow("!")} version ${version.versionId}: ${version.problem}`);
    const view = views.get(version.meta.keyId ?? "");
    if (view && "key" in view && version.meta.scopes && !sameScopes(view.key.scopes, version.meta.scopes)) {
      out.line(
        `  ${c.yellow("!")} key ${view.key.id}: Novala says scopes ${view.key.scopes.join(", ")}; ` +
          "the secret says otherwise (the next rotation corrects it)",
      );
    }
  }
  for (const [keyId, view] of views) {
    if ("error" in view) out.line(`  ${c.yellow("!")} Novala could not be asked about ${keyId}: ${view.error}`);
  }
  if (checkError) out.line(`  ${c.yellow("!")} ${checkError}`);
  if (unreachable) out.line(`  ${c.yellow("!")} Novala could not be asked: ${unreachable}`);
  out.line();
  out.line(c.bold(`Scheduled revocations`) + (scheduleGroup ? c.dim(` (schedule group ${scheduleGroup})`) : ""));
  if (revocationsError) {
    out.line(`  ${c.yellow("!")} could not list them: ${revocationsError}`);
  } else if (!scheduleGroup) {
    out.line("  none: the rotation function names no schedule group (it revokes old keys at once)");
  } else if (revocations.length === 0) {
    out.line("  none");
  } else {
    const revocationHead = ["Key id", "Revoke after", "State"];
    if (options.check) revocationHead.push("Novala", "Last used");
    out.table(
      revocationHead,
      revocations.map((schedule) => {
        const row = [schedule.keyId ?? "", formatTime(scheduleTime(schedule)), schedule.state ?? ""];
        if (options.check) row.push(...viewCells(session, views.get(schedule.keyId ?? "")));
        return row;
      }),
      { indent: 2 },
    );
  }
  if (unreachable) {
    // The one-line error a script sees on stderr, besides the verdict on stdout.
    session.out.warn(`Novala could not be asked: ${unreachable}`);
  }
  if (judged.healthy) return EXIT.ok;
  return judged.problems.every((problem) => problem.kind === "novala-unreachable") ? EXIT.unknown : EXIT.unhealthy;
}

/**
 * Novala's view of one key within what is left of --check's time. A call that cannot connect, keeps failing, or
 * outlasts the deadline is "unreachable"; any other answer (404, an error status) is a view.
 */
async function askWithin(
  session: Session,
  credentials: NovalaCredentials,
  keyId: string,
  deadline: number,
): Promise<NovalaView | { unreachable: string }> {
  const remaining = deadline - Date.now();
  if (remaining <= 0) return { unreachable: "no time left" };
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<"timeout">((resolve) => {
    timer = setTimeout(() => resolve("timeout"), remaining);
  });
  try {
    const key = await Promise.race([session.keys.get(credentials, keyId), timedOut]);
    if (key === "timeout") return { unreachable: "no answer in time" };
    return key ? { key } : { missing: true };
  } catch (error) {
    if (error instanceof NovalaUnavailableError) return { unreachable: errorMessage(error) };
    return { error: errorMessage(error) };
  } finally {
    clearTimeout(timer);
  }
}

/** The first eight characters of a version id, which tell versions apart in a table (--json has the whole id). */
function shortId(versionId: string): string {
  return versionId.length > 9 ? `${versionId.slice(0, 8)}…` : versionId;
}

function viewCells(session: Session, view: NovalaView | undefined): [string, string] {
  const c = session.out.color;
  if (!view) return ["", ""];
  if ("missing" in view) return [c.red("unknown (404)"), ""];
  if ("error" in view) return [c.yellow("error"), ""];
  const state = view.key.status === "active" ? c.green("active") : c.red("revoked");
  return [state, view.key.lastUsedAt ? formatTime(view.key.lastUsedAt) : "never"];
}

function viewJson(view: NovalaView | undefined) {
  if (!view) return undefined;
  if ("missing" in view) return { status: "unknown" };
  if ("error" in view) return { error: view.error };
  return {
    status: view.key.status,
    lastUsedAt: view.key.lastUsedAt ?? null,
    name: view.key.name,
    scopes: view.key.scopes,
  };
}
