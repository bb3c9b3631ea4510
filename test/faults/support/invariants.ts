/**
 * The fault suites' invariants over one in-memory world (test/support/world.ts), defined once: the sequential suite
 * (support/harness.ts) and the concurrency suite (support/concurrency.ts) each say WHEN a check applies and which
 * exemption its scenario earns; WHAT each invariant means lives here.
 *
 * (1) AWSCURRENT holds an active key that authenticates; (2) no key of the secret's lineage is left live with nothing
 * to revoke it (the suites decide what accounts for a key: a label, a pending schedule, an alarmed exception; this file
 * says which keys are the lineage's: activeLineageKeys); (4) no key material in any log, metric or error; (5) never two
 * live replacement keys for one token tag, never two revocation schedules for one key; (6) no key outside the
 * secret's lineage ever changes status; (7) every key minted belongs to the lineage and holds no scope beyond the
 * first key's. (3, "a rotation ends rotated or untouched", is about one rotation's outcome: the sequential suite's.)
 *
 * The lineage of the rotated secret: its first key, the keys an operator put into it by hand (addManualKey), and every
 * key the rotator minted for it (whose name carries the tag of one of its versions).
 */

import type { RevocationRequest } from "../../../lambdas/contract/revocation-request.js";
import { carriesRotationTag, rotationTag } from "../../../lambdas/core/key-name.js";
import type { NovalaKey } from "../../../lambdas/core/ports.js";
import { AWSCURRENT, AWSPENDING } from "../../../lambdas/core/ports.js";
import type { World } from "../../support/world.js";

export class InvariantViolation extends Error {
  override name = "InvariantViolation";
}

/** The last 24 characters of a rotator-made key's name: the lineage tag of the version it was minted for. */
export function tagOf(key: Pick<NovalaKey, "name">): string | undefined {
  return carriesRotationTag(key.name) ? key.name.slice(-24) : undefined;
}

export class WorldInvariants {
  /** Status of every key on the tenant when the scenario starts: all but the first key are outside the lineage. */
  private readonly setupStatus = new Map<string, string>();
  /** What each key outside the lineage is, for messages. */
  private readonly foreign = new Map<string, string>();
  /** Keys an operator made by hand and put into the secret (lineage members the rotator did not mint). */
  private readonly manualKeys = new Set<string>();
  /** The lineage tags of the rotated secret: one per version it has had (labelled or not), by version id. */
  private readonly tagsByVersion = new Map<string, string>();
  /** Number of CreateSchedule calls that took effect, per key id (invariant 5, second half). */
  readonly schedulesCreated = new Map<string, number>();
  readonly firstKeyId: string;

  /** `trail` describes the calls made so far, appended to every violation's message. */
  constructor(
    private readonly world: World,
    private readonly trail: () => string = () => "",
  ) {
    this.firstKeyId = world.firstKey.id;
    for (const key of world.novala.keys()) this.setupStatus.set(key.id, key.status);
    const n = world.neighbours;
    if (n) {
      this.foreign.set(n.managerKey.id, "the manager key");
      this.foreign.set(n.victimKey.id, "the victim secret's current, rotator-made key");
      this.foreign.set(n.victimOldKey.id, "the victim secret's old key");
      this.foreign.set(n.bystanderKey.id, "the bystander secret's key");
    }
    const model = world.schedulerModel;
    const create = model.createSchedule.bind(model);
    model.createSchedule = (input) => {
      const out = create(input);
      const keyId = (JSON.parse(input.Target?.Input ?? "{}") as RevocationRequest).keyId;
      // A postponement is the same revocation, rescheduled under a new name: invariant 5 counts retirements.
      if (!/-p\d+$/.test(input.Name ?? "")) {
        this.schedulesCreated.set(keyId, (this.schedulesCreated.get(keyId) ?? 0) + 1);
      }
      return out;
    };
  }

  fail(message: string): never {
    const trail = this.trail();
    throw new InvariantViolation(trail ? `${message}\n  calls: ${trail}` : message);
  }

  /** A key an operator made by hand and put into the secret: of the lineage, though it carries no tag. */
  addManualKey(keyId: string): void {
    this.manualKeys.add(keyId);
  }

  /** What AWSCURRENT holds, read directly from the model. */
  currentValue(): { versionId: string | undefined; keyId: string; secretKey: string } {
    const out = this.world.secretsManager.getSecretValue({ SecretId: this.world.secretArn, VersionStage: AWSCURRENT });
    return {
      versionId: out.VersionId,
      ...(JSON.parse(out.SecretString ?? "{}") as { keyId: string; secretKey: string }),
    };
  }

  /** Invariant 1: AWSCURRENT holds an active key that authenticates at Novala. */
  checkCurrentKeyWorks(where: string, current = this.currentValue()): void {
    const status = this.world.novala.inspect(current.keyId)?.status;
    if (status !== "active") {
      this.fail(`invariant 1: AWSCURRENT holds ${current.keyId}, which is ${status} (${where})`);
    }
    if (!this.world.novala.authenticate(current.secretKey).ok) {
      this.fail(`invariant 1: the key in AWSCURRENT (${current.keyId}) does not authenticate at Novala (${where})`);
    }
  }

  /** Active keys that carry a rotation tag, by tag (invariant 5's first half counts them). */
  liveReplacementKeysByTag(): Map<string, string[]> {
    const liveByTag = new Map<string, string[]>();
    for (const key of this.world.novala.keys()) {
      const tag = tagOf(key);
      if (key.status !== "active" || tag === undefined) continue;
      liveByTag.set(tag, [...(liveByTag.get(tag) ?? []), key.id]);
    }
    return liveByTag;
  }

  /**
   * Invariant 5, first half: never two live replacement keys for one token tag. Excused: a key minted for the rotation
   * in progress (its version is AWSPENDING) that the version does not hold, which an attempt that died after its create
   * left: the attempt that stores the version's value revokes it (createSecret's revokeUnstoredKeys; it cannot do so
   * earlier, since a delivery of the step still running may store it), and so does abort. And keys the caller
   * `excused` (the concurrency suite: a key a createSecret still running minted).
   */
  checkOneLiveKeyPerTag(where: string, excused: (keyId: string) => boolean = () => false): void {
    const awaiting = this.unstoredKeyOfRotationInProgress();
    for (const [tag, ids] of this.liveReplacementKeysByTag()) {
      const counted = ids.filter((id) => !excused(id) && !awaiting(id, tag));
      if (counted.length > 1) {
        this.fail(`invariant 5: two live replacement keys for token tag ${tag}: ${counted} (${where})`);
      }
    }
  }

  /** Whether a key (by id and tag) is one the version AWSPENDING marks was minted for, and does not hold. */
  private unstoredKeyOfRotationInProgress(): (keyId: string, tag: string) => boolean {
    const stages = this.world.stages();
    const pending = Object.entries(stages).find(
      ([, labels]) => labels.includes(AWSPENDING) && !labels.includes(AWSCURRENT),
    )?.[0];
    if (pending === undefined) return () => false;
    const pendingTag = rotationTag(this.world.secretArn, pending);
    let held: string | undefined;
    try {
      const value = this.world.secretsManager.getSecretValue({ SecretId: this.world.secretArn, VersionId: pending });
      held = (JSON.parse(value.SecretString ?? "{}") as { keyId?: string }).keyId;
    } catch {
      held = undefined;
    }
    return (keyId, tag) => tag === pendingTag && keyId !== held;
  }

  /** Invariant 5, second half: never two revocation schedules created for one key. */
  checkOneSchedulePerKey(where: string): void {
    for (const [keyId, count] of this.schedulesCreated) {
      if (count > 1) this.fail(`invariant 5: ${count} revocation schedules were created for key ${keyId} (${where})`);
    }
  }

  /**
   * Invariant 5, second half, where schedules are also deleted and made again (a rollback deletes the restored key's
   * schedule, `revoke` its key's, the key's next retirement schedules it anew): never two pending revocation schedules
   * for one key at the same moment.
   */
  checkOnePendingSchedulePerKey(where: string, pending: Map<string, number>): void {
    for (const [keyId, count] of pending) {
      if (count > 1) this.fail(`invariant 5: ${count} revocation schedules are pending for key ${keyId} (${where})`);
    }
  }

  /** The lineage tags of the rotated secret: one per version it has (labelled or not). */
  lineageTags(): Set<string> {
    const versions = this.world.secretsManager.listSecretVersionIds({
      SecretId: this.world.secretArn,
      IncludeDeprecated: true,
    }).Versions;
    for (const { VersionId: versionId } of versions) {
      if (!this.tagsByVersion.has(versionId)) {
        this.tagsByVersion.set(versionId, rotationTag(this.world.secretArn, versionId));
      }
    }
    return new Set(this.tagsByVersion.values());
  }

  /**
   * Invariants 6 and 7. 6: no key outside the lineage ever changes status (the manager key and the other teams' keys
   * stay active, the revoked one revoked). 7: every key minted since the start belongs to the lineage and holds no scope
   * the first key does not hold (so never api_keys.manage for a consumer of a manager).
   */
  checkLineage(where: string): void {
    let tags: Set<string> | undefined;
    const firstScopes = this.world.firstKey.scopes;
    for (const key of this.world.novala.keys()) {
      const before = this.setupStatus.get(key.id);
      if (before !== undefined) {
        if (key.id !== this.firstKeyId && key.status !== before) {
          this.fail(
            `invariant 6: ${this.foreign.get(key.id) ?? "a key"} (${key.id}), outside the rotated secret's lineage, went from ${before} to ${key.status} (${where})`,
          );
        }
        continue;
      }
      if (this.manualKeys.has(key.id)) continue;
      tags ??= this.lineageTags();
      const tag = tagOf(key);
      if (tag === undefined || !tags.has(tag)) {
        this.fail(`invariant 7: key ${key.id} was minted without the rotated secret's lineage tag (${where})`);
      }
      const beyond = key.scopes.filter((scope) => !firstScopes.includes(scope));
      if (beyond.length > 0) {
        this.fail(
          `invariant 7: key ${key.id} was minted with [${beyond}], beyond the first key's scopes [${firstScopes}] (${where})`,
        );
      }
    }
  }

  /** Keys outside the lineage whose status is not what it was at the start (0 unless invariant 6 broke). */
  foreignKeysChanged(): number {
    return this.world.novala
      .keys()
      .filter((key) => key.id !== this.firstKeyId && this.setupStatus.has(key.id))
      .filter((key) => key.status !== this.setupStatus.get(key.id)).length;
  }

  /**
   * The active keys of the rotated secret's lineage (invariant 2 asks of each what accounts for it): every active key
   * the rotator minted for one of its versions (with that version's tag), its first key and the keys put in by hand.
   */
  activeLineageKeys(): { key: NovalaKey; tag: string | undefined }[] {
    const tags = this.lineageTags();
    const keys: { key: NovalaKey; tag: string | undefined }[] = [];
    for (const key of this.world.novala.keys()) {
      if (key.status !== "active") continue;
      const tag = tagOf(key);
      const untaggedLineage = key.id === this.firstKeyId || this.manualKeys.has(key.id);
      if (tag === undefined ? !untaggedLineage : !tags.has(tag)) continue;
      keys.push({ key, tag });
    }
    return keys;
  }

  /** Invariant 4: no key material Novala ever issued in any log line, metric or thrown error message. */
  checkNoLeaks(thrown: readonly string[]): void {
    const haystacks = [this.world.telemetry.text(), ...thrown];
    for (const material of this.world.novala.issuedKeyMaterial()) {
      for (const text of haystacks) {
        if (text.includes(material)) {
          this.fail(
            `invariant 4: key material …${material.slice(-4)} appears in: ${text.replace(material, "<KEY>").slice(0, 300)}`,
          );
        }
      }
    }
  }
}
