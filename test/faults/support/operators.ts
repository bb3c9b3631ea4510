/**
 * What the fault suites' operator and EventBridge Scheduler read and do over one in-memory world, shared by the
 * sequential suite (support/harness.ts) and the concurrency suite (support/concurrency.ts): the pending revocation
 * schedules, and `reconcile --revoke` as cli/reconcile.ts drives the core's rule (lambdas/core/stranded.ts).
 */

import type { RevocationRequest } from "../../../lambdas/contract/revocation-request.js";
import type { RotationDeps } from "../../../lambdas/core/context.js";
import { classifyUnheldKeys, readSecretVersions, revokeStrandedKey } from "../../../lambdas/core/stranded.js";
import { BASE_URL, SCHEDULE_GROUP, type World } from "../../support/world.js";

/** Enabled revocation schedules, by the key id they revoke: the names of its schedules. */
export function pendingRevocationSchedules(world: World): Map<string, string[]> {
  const pending = new Map<string, string[]>();
  for (const summary of world.schedulerModel.listSchedules({ GroupName: SCHEDULE_GROUP }).Schedules) {
    const schedule = world.schedulerModel.getSchedule({ Name: summary.Name, GroupName: summary.GroupName });
    if (schedule.State !== "ENABLED") continue;
    const keyId = (JSON.parse(schedule.Target?.Input ?? "{}") as RevocationRequest).keyId;
    pending.set(keyId, [...(pending.get(keyId) ?? []), schedule.Name ?? ""]);
  }
  return pending;
}

/** Enabled revocation schedules, by the key id they revoke (and how many name it). */
export function pendingRevocations(world: World): Map<string, number> {
  return new Map([...pendingRevocationSchedules(world)].map(([keyId, names]) => [keyId, names.length]));
}

/**
 * `reconcile --manager-secret novala/manager --revoke --min-age <minAgeMs> --grace <graceMs>` over every secret on the
 * tenant, as cli/reconcile.ts drives the core's rule: read each secret's versions in turn, then the schedules
 * (`scheduled`, read once, when the CLI lists the group), then the tenant's active keys, classify, and revoke each
 * candidate with the tenant's manager key. Resolves the key ids it revoked.
 */
export async function reconcileTenant(
  world: World,
  deps: Pick<RotationDeps, "store" | "keys">,
  scheduled: () => Promise<Set<string>> | Set<string>,
  options: { minAgeMs: number; graceMs: number },
): Promise<string[]> {
  const n = world.neighbours;
  if (!n) throw new Error("reconcile needs the tenant's manager key (neighbours)");
  const secrets = [];
  for (const arn of [world.secretArn, n.managerSecretArn, n.victimSecretArn, n.bystanderSecretArn]) {
    secrets.push(await readSecretVersions(deps.store, arn));
  }
  const pending = await scheduled();
  const manager = { baseUrl: BASE_URL, bearer: n.managerKey.secretKey, keyId: n.managerKey.id, managed: true };
  const verdict = classifyUnheldKeys({
    secrets,
    keys: await deps.keys.list(manager, { status: "active" }),
    scheduled: (keyId) => pending.has(keyId),
    now: world.clock.now().getTime(),
    minAgeMs: options.minAgeMs,
    graceMs: options.graceMs,
  });
  const revoked: string[] = [];
  for (const candidate of verdict.candidates) {
    const result = await revokeStrandedKey(deps, manager, candidate);
    if (result.outcome === "revoked") revoked.push(candidate.key.id);
  }
  return revoked;
}
