import { errorMessage } from "../../lambdas/core/errors.js";
import { revocationSchedulePrefix } from "../../lambdas/core/key-name.js";
import type { NovalaCredentials } from "../../lambdas/core/ports.js";
import { AWSCURRENT } from "../../lambdas/core/ports.js";
import { sameScopes } from "../../lambdas/core/secret-value.js";
import { describeSecret, labelledVersions, type RevocationSchedule, revocationSchedules, scheduleTime } from "./aws.js";
import { type Deployment, findDeployment } from "./deployment.js";
import { formatDuration } from "./duration.js";
import { formatTime, isoTime } from "./output.js";
import { type CommonOptions, type NovalaView, novalaView, readVersions, type Session, withSession } from "./session.js";

/**
 * `status <secret-id>`: the versions and their labels with the metadata each holds (never the keys), the rotation
 * configuration, the revocations still scheduled for the secret, and with --check Novala's view of every key.
 */
export interface StatusOptions extends CommonOptions {
  check?: boolean;
  scheduleGroup?: string;
}

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
    }
  } catch (error) {
    revocationsError = errorMessage(error);
  }
  const scheduleGroup = deployment.scheduleGroup;

  const views = new Map<string, NovalaView>();
  let checkError: string | undefined;
  if (options.check) {
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
        if (keyId) views.set(keyId, await novalaView(session, credentials, keyId));
      }
    }
  }

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
      ...(schedule.keyId && views.has(schedule.keyId) && { novala: viewJson(views.get(schedule.keyId)) }),
    })),
    ...(revocationsError && { revocationsError }),
    ...(checkError && { checkError }),
  });

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
  return 0;
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
