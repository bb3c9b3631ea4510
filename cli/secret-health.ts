import type { DescribeSecretCommandOutput } from "@aws-sdk/client-secrets-manager";
import { formatDuration } from "../lambdas/contract/duration.js";
import type { RotationOutcome } from "../lambdas/contract/rotation-outcome.js";
import { outcomeFromTags } from "../lambdas/contract/rotation-outcome.js";
import { errorMessage } from "../lambdas/core/errors.js";
import { revocationSchedulePrefix } from "../lambdas/core/key-name.js";
import type { NovalaKey } from "../lambdas/core/ports.js";
import { AWSCURRENT, AWSPREVIOUS } from "../lambdas/core/ports.js";
import { retiredNoEarlierThan } from "../lambdas/core/revocation-usage.js";
import { type CurrentKeyAnswer, type KeyView, type Verdict, verdict } from "../lambdas/core/verdict.js";
import {
  describeSecret,
  labelledVersions,
  missingScheduleGroup,
  type RevocationSchedule,
  revocationSchedules,
  scheduleTime,
} from "./aws.js";
import { type Asked, askNovala, type CurrentKeyShared, gatherCurrentKey, newCurrentKeyShared } from "./current-key.js";
import { type Deployment, findDeployment } from "./deployment.js";
import { readVersions, type Session, type VersionRead } from "./session.js";

/**
 * The gathering half of `status` (one secret, or a fleet): everything the verdict reads about a secret, read once.
 * DescribeSecret (labels, rotation settings, the last outcome's tags), each labelled version's value (validated, never
 * printed), the deployment from the rotation function's configuration, the revocation schedules, and with --check
 * Novala's answers. The verdict itself is lambdas/core/verdict.ts's.
 */
export interface SecretFacts {
  secretId: string;
  arn: string;
  name: string;
  described: DescribeSecretCommandOutput;
  versions: VersionRead[];
  deployment: Deployment;
  revocations: RevocationSchedule[];
  /** Why the revocations could not be listed (or that the schedule group is missing). */
  revocationsError?: string;
  lastOutcome?: RotationOutcome;
  currentKey: Awaited<ReturnType<typeof gatherCurrentKey>>;
  /** Novala's view of the other keys asked (--check): every key for one secret, AWSPREVIOUS's for a fleet. */
  views: Map<string, KeyView>;
  /** The previous key's hard limit, as the revocation function counts it (from Secrets Manager's version dates). */
  previousHardLimitAt?: Date;
  /** Whether Novala was asked (--check). */
  checked: boolean;
  /** --check's time budget, for messages. */
  checkTimeoutMs: number;
}

export interface GatherOptions {
  check: boolean;
  /** Milliseconds --check may spend on Novala for this secret. */
  checkTimeoutMs: number;
  scheduleGroup?: string;
  /** Besides the current key, which keys to ask Novala about: all that status shows, or only AWSPREVIOUS's. */
  otherKeys: "all" | "previous";
}

/** What the gatherings of one run share: rotation functions read once, manager secrets read once, dead origins. */
export interface GatherShared extends CurrentKeyShared {
  deployments: Map<string, Promise<Deployment>>;
  missingGroups: Map<string, Promise<string | undefined>>;
}

export function newGatherShared(): GatherShared {
  return { ...newCurrentKeyShared(), deployments: new Map(), missingGroups: new Map() };
}

/** How long --check may spend on Novala by default (for one secret: a fleet gives each secret this budget). */
export const DEFAULT_CHECK_TIMEOUT_MS = 10_000;

export async function gatherSecret(
  session: Session,
  secretId: string,
  options: GatherOptions,
  shared: GatherShared = newGatherShared(),
): Promise<SecretFacts> {
  const described = await describeSecret(session.aws, secretId);
  const arn = described.ARN as string;
  const name = described.Name as string;
  const versions = await readVersions(session, arn, name, await labelledVersions(session.aws, arn));

  // The rest stands without the deployment: a secret not rotated yet has none.
  let deployment: Deployment = {};
  let revocations: RevocationSchedule[] = [];
  let revocationsError: string | undefined;
  try {
    deployment = await deploymentOf(session, described, options, shared);
    if (deployment.scheduleGroup) {
      revocations = await revocationSchedules(session.aws, deployment.scheduleGroup, revocationSchedulePrefix(arn));
      // Listing a group that does not exist finds nothing, which would read as "none pending".
      if (revocations.length === 0) revocationsError = await groupMissing(session, deployment.scheduleGroup, shared);
    }
  } catch (error) {
    revocationsError = errorMessage(error);
  }

  const deadline = Date.now() + options.checkTimeoutMs;
  const currentKey = await gatherCurrentKey(session, arn, versions, {
    ask: options.check,
    deadline,
    shared,
    ...(deployment.allowedHosts && { deploymentHosts: deployment.allowedHosts }),
  });
  if (currentKey.unreachable && !currentKey.skipped) {
    currentKey.unreachable += ` (--check-timeout ${formatDuration(options.checkTimeoutMs)})`;
  }

  const views = new Map<string, KeyView>();
  const { credentials, facts } = currentKey;
  const credentialsWork = credentials && facts.answer && !("unauthorized" in facts.answer);
  if (options.check && credentialsWork && !currentKey.unreachable) {
    for (const keyId of otherKeys(versions, revocations, facts.keyId, options.otherKeys)) {
      const asked = await askNovala(() => session.keys.get(credentials, keyId), deadline);
      if ("unreachable" in asked) {
        // One unreachable answer is enough: the other keys would only spend the rest of the time the same way.
        currentKey.unreachable = `${asked.unreachable} (--check-timeout ${formatDuration(options.checkTimeoutMs)})`;
        break;
      }
      views.set(keyId, viewOf(asked));
    }
  }

  const previousVersion = versions.find((version) => version.stages.includes(AWSPREVIOUS));
  const retiredAt = previousVersion && retiredNoEarlierThan(versions, previousVersion.versionId);
  const lastOutcome = outcomeFromTags(described.Tags);
  return {
    secretId,
    arn,
    name,
    described,
    versions,
    deployment,
    revocations,
    ...(revocationsError && { revocationsError }),
    ...(lastOutcome && { lastOutcome }),
    currentKey,
    views,
    ...(retiredAt &&
      deployment.usage && { previousHardLimitAt: new Date(retiredAt.getTime() + deployment.usage.hardLimitMs) }),
    checked: options.check,
    checkTimeoutMs: options.checkTimeoutMs,
  };
}

/** The verdict on what was gathered (lambdas/core/verdict.ts). */
export function judgeSecret(facts: SecretFacts, now: Date): Verdict {
  const { described, currentKey } = facts;
  const whyUnknown = currentKey.unreachable ?? (currentKey.cannotAsk && `cannot ask Novala: ${currentKey.cannotAsk}`);
  return verdict({
    now,
    versions: facts.versions.map((version) => ({
      versionId: version.versionId,
      stages: version.stages,
      ...(version.createdDate && { createdDate: version.createdDate }),
      hasValue: version.problem !== "no value yet",
      ...(version.meta.keyId && { keyId: version.meta.keyId }),
    })),
    rotation: {
      enabled: described.RotationEnabled === true,
      schedule: {
        ...(described.LastRotatedDate && { lastRotated: described.LastRotatedDate }),
        ...(described.NextRotationDate && { nextRotation: described.NextRotationDate }),
        ...(described.RotationRules?.AutomaticallyAfterDays && {
          automaticallyAfterDays: described.RotationRules.AutomaticallyAfterDays,
        }),
        ...(described.RotationRules?.ScheduleExpression && {
          scheduleExpression: described.RotationRules.ScheduleExpression,
        }),
        ...(described.RotationRules?.Duration && { window: described.RotationRules.Duration }),
      },
    },
    currentKey: currentKey.facts,
    ...(facts.lastOutcome && { lastOutcome: facts.lastOutcome }),
    revocations: facts.revocations.map((schedule) => ({
      name: schedule.name,
      ...(schedule.keyId && { keyId: schedule.keyId }),
      ...(scheduleTime(schedule) && { time: scheduleTime(schedule) }),
      ...(schedule.postponements !== undefined && { postponements: schedule.postponements }),
      ...(schedule.lastUsedAt && { lastUsedAt: schedule.lastUsedAt }),
      ...(schedule.hardLimitAt && { hardLimitAt: schedule.hardLimitAt }),
    })),
    ...(facts.previousHardLimitAt && { previousHardLimitAt: facts.previousHardLimitAt }),
    ...(facts.checked && { novala: facts.views }),
    ...(whyUnknown && { novalaUnreachable: whyUnknown }),
  });
}

/** Novala's view of `keyId` as gathered: the current key's answer, or another key's view. */
export function viewOfKey(facts: SecretFacts, keyId: string | undefined): CurrentKeyAnswer | undefined {
  if (!keyId) return undefined;
  if (keyId === facts.currentKey.facts.keyId && facts.currentKey.facts.answer) return facts.currentKey.facts.answer;
  return facts.views.get(keyId);
}

/** The keys other than the current one to ask about, each once. */
function otherKeys(
  versions: VersionRead[],
  revocations: RevocationSchedule[],
  currentKeyId: string | undefined,
  which: GatherOptions["otherKeys"],
): string[] {
  const previous = versions.find((v) => v.stages.includes(AWSPREVIOUS) && !v.stages.includes(AWSCURRENT));
  const candidates =
    which === "all"
      ? [...versions.map((version) => version.meta.keyId), ...revocations.map((schedule) => schedule.keyId)]
      : [previous?.meta.keyId];
  return [...new Set(candidates)].filter((keyId): keyId is string => !!keyId && keyId !== currentKeyId);
}

function viewOf(asked: Exclude<Asked<NovalaKey | undefined>, { unreachable: string }>): KeyView {
  if ("answer" in asked) return asked.answer ? { key: asked.answer } : { missing: true };
  // Not after the current key's answer, which asks with the same credentials; kept for a key asked on its own.
  if ("unauthorized" in asked) return { error: "Novala answered 401 to the credentials" };
  return asked;
}

/** The deployment of a secret's rotation function, read once per function (and --schedule-group) in a run. */
function deploymentOf(
  session: Session,
  described: DescribeSecretCommandOutput,
  options: GatherOptions,
  shared: GatherShared,
): Promise<Deployment> {
  const flags = { ...(options.scheduleGroup && { scheduleGroup: options.scheduleGroup }) };
  const functionArn = described.RotationLambdaARN;
  // Without a function the error names the secret: not shared.
  if (!functionArn) return findDeployment(session.aws, described, flags);
  const cacheKey = `${functionArn} ${options.scheduleGroup ?? ""}`;
  let found = shared.deployments.get(cacheKey);
  if (!found) {
    found = findDeployment(session.aws, described, flags);
    shared.deployments.set(cacheKey, found);
  }
  return found;
}

function groupMissing(session: Session, group: string, shared: GatherShared): Promise<string | undefined> {
  let missing = shared.missingGroups.get(group);
  if (!missing) {
    missing = missingScheduleGroup(session.aws, group);
    shared.missingGroups.set(group, missing);
  }
  return missing;
}
