/**
 * The fault suite's adversary (issue 9): a principal that may write ONE consumer secret — the one the harness rotates —
 * and invoke the revocation function, and that knows what DescribeSecret shows of the other secrets (their version
 * ids), the other keys' ids, and their publishable keys (public by design). It holds no secret key but its own
 * lineage's. Its moves are data (fast-check generates and shrinks them) placed at "hooks": numbered moments between two
 * Lambda invocations of the scenario (see FaultHarness.adversaryHook), the way faults are placed at port-call indexes.
 *
 * - `put`: PutSecretValue into its own secret with a forged value — another key's id (a victim's, the manager's, a
 *   malformed one such as ".." or "key_x/../.."), a secret key that is its own, garbage, none, or another key's
 *   publishable key — on any stage (AWSCURRENT, AWSPREVIOUS, AWSPENDING, none, or the value of the in-progress
 *   rotation's version itself), with twists: a name carrying the victim secret's lineage tag, scopes claiming
 *   api_keys.manage, managerSecretId pointing elsewhere.
 * - `relabel`: UpdateSecretVersionStage games on its own secret (AWSPREVIOUS onto a forged version, AWSCURRENT back,
 *   AWSPENDING moved or removed mid-rotation).
 * - `revoke-event`: a forged revocation event (any secret id, key id and version id, path tricks included), checked by
 *   parseRevocationRequest as the handler does, then run through the revocation function's rule (runDueRevocation)
 *   with the harness's ports.
 * - `claim-and-revoke`: both at once, aimed: a retired version (AWSPREVIOUS or unlabelled) naming a key, then an event
 *   naming that key and version of its own secret (random pairs of the two moves rarely line up).
 * - `rotate`: an extra RotateSecret with a chosen token (another secret's version id), driven to the end.
 * - `tokens`: the ClientRequestToken it passes when it (instead of the schedule) starts the scenario's rotations.
 */
import fc from "fast-check";
import type { RevocationRequest } from "../../../lambdas/contract/revocation-request.js";
import { parseRevocationRequest } from "../../../lambdas/contract/revocation-request.js";
import { AWSCURRENT, AWSPENDING, AWSPREVIOUS } from "../../../lambdas/core/ports.js";
import type { Neighbours, World } from "../../support/world.js";

/** Whose key id a forged value or event names. */
export type KeyRef =
  | "own-current"
  | "own-first"
  | "own-previous"
  | "victim"
  | "victim-old"
  | "bystander"
  | "manager"
  | "dotdot"
  | "path"
  | "encoded";
/** The secret key a forged value offers as proof. */
export type SecretKeyRef =
  | "own-current"
  | "own-first"
  | "victim-publishable"
  | "bystander-publishable"
  | "manager-publishable"
  | "garbage"
  | "none";
export type Twist = "none" | "victim-name" | "manage-scope" | "manager-is-victim" | "manager-is-self" | "no-manager";
export type PutStage = "AWSCURRENT" | "AWSPREVIOUS" | "AWSPENDING" | "unlabelled" | "pending-token";
export type Relabel =
  | "pending-off"
  | "previous-to-forged"
  | "previous-to-first"
  | "current-to-previous"
  | "current-to-forged"
  | "pending-to-forged"
  | "pending-to-previous";
export type SecretRef = "own" | "own-name" | "victim" | "bystander" | "manager" | "traversal";
export type VersionRef = "none" | "own-previous" | "own-forged" | "victim-current" | "victim-previous" | "malformed";
/** Another secret's version id, used as a RotateSecret token on the adversary's own secret. */
export type TokenRef = "victim-current" | "victim-previous" | "bystander" | "manager";

export type AdversaryMove =
  | { kind: "put"; stage: PutStage; keyId: KeyRef; secretKey: SecretKeyRef; twist: Twist }
  | { kind: "relabel"; relabel: Relabel }
  | { kind: "revoke-event"; secretId: SecretRef; keyId: KeyRef; versionId: VersionRef }
  | {
      kind: "claim-and-revoke";
      stage: "AWSPREVIOUS" | "unlabelled";
      keyId: KeyRef;
      secretKey: SecretKeyRef;
      versionId: "own-forged" | "none";
    }
  | { kind: "rotate"; token: TokenRef | "fresh" };

export interface Adversary {
  /** The token it starts the first and the second rotation with (null: Secrets Manager's schedule does, randomly). */
  tokens: [TokenRef | null, TokenRef | null];
  /** Moves at hooks (hook indexes count from 0 at the start of the scenario). */
  moves: { at: number; move: AdversaryMove }[];
}

export const NO_ADVERSARY: Adversary = { tokens: [null, null], moves: [] };

/** Hooks a scenario passes, roughly (8 to 16 without faults): moves are placed among them. */
export const MAX_HOOK = 14;

// Shrinking moves towards the first constant of each list: the harmless choices come first.
const keyRef: fc.Arbitrary<KeyRef> = fc.oneof(
  { weight: 2, arbitrary: fc.constantFrom<KeyRef>("own-current", "own-first", "own-previous") },
  { weight: 3, arbitrary: fc.constantFrom<KeyRef>("victim", "bystander", "manager", "victim-old") },
  { weight: 1, arbitrary: fc.constantFrom<KeyRef>("dotdot", "path", "encoded") },
);
const secretKeyRef = fc.constantFrom<SecretKeyRef>(
  "own-current",
  "own-first",
  "none",
  "garbage",
  "victim-publishable",
  "bystander-publishable",
  "manager-publishable",
);
const tokenRef = fc.constantFrom<TokenRef>("victim-current", "victim-previous", "bystander", "manager");

const putArb = fc.record({
  kind: fc.constant("put" as const),
  stage: fc.constantFrom<PutStage>("AWSCURRENT", "AWSPREVIOUS", "AWSPENDING", "unlabelled", "pending-token"),
  keyId: keyRef,
  secretKey: secretKeyRef,
  twist: fc.constantFrom<Twist>(
    "none",
    "none",
    "victim-name",
    "manage-scope",
    "manager-is-victim",
    "manager-is-self",
    "no-manager",
  ),
});
const relabelArb = fc.record({
  kind: fc.constant("relabel" as const),
  relabel: fc.constantFrom<Relabel>(
    "pending-off",
    "previous-to-forged",
    "previous-to-first",
    "current-to-previous",
    "current-to-forged",
    "pending-to-forged",
    "pending-to-previous",
  ),
});
const eventArb = fc.record({
  kind: fc.constant("revoke-event" as const),
  secretId: fc.constantFrom<SecretRef>("own", "own-name", "victim", "bystander", "manager", "traversal"),
  keyId: keyRef,
  versionId: fc.constantFrom<VersionRef>(
    "none",
    "own-previous",
    "own-forged",
    "victim-current",
    "victim-previous",
    "malformed",
  ),
});
const claimAndRevokeArb = fc.record({
  kind: fc.constant("claim-and-revoke" as const),
  stage: fc.constantFrom<"AWSPREVIOUS" | "unlabelled">("AWSPREVIOUS", "unlabelled"),
  keyId: keyRef,
  secretKey: secretKeyRef,
  versionId: fc.constantFrom<"own-forged" | "none">("own-forged", "none"),
});
const rotateArb = fc.record({
  kind: fc.constant("rotate" as const),
  token: fc.oneof(fc.constant("fresh" as const), tokenRef),
});

const tokensArb = fc.tuple(fc.option(tokenRef, { freq: 2 }), fc.option(tokenRef, { freq: 2 }));

function movesArb(move: fc.Arbitrary<AdversaryMove>, maxLength: number) {
  return fc.array(fc.record({ at: fc.nat({ max: MAX_HOOK }), move }), { maxLength });
}

/** Every kind of move: forged writes, label games, forged events, extra rotations. */
export const adversaryArb: fc.Arbitrary<Adversary> = fc.record({
  tokens: tokensArb,
  moves: movesArb(
    fc.oneof(
      { weight: 5, arbitrary: putArb },
      { weight: 2, arbitrary: relabelArb },
      { weight: 3, arbitrary: eventArb },
      { weight: 2, arbitrary: claimAndRevokeArb },
      { weight: 1, arbitrary: rotateArb },
    ),
    8,
  ),
});

/**
 * Only moves that write nothing into the adversary's secret: forged revocation events and chosen tokens. The rotations
 * must then run exactly as without an adversary (all seven invariants and the outcome checks hold), unless an event
 * legitimately revoked one of the adversary's own retired keys early.
 */
export const eventsOnlyAdversaryArb: fc.Arbitrary<Adversary> = fc.record({
  tokens: tokensArb,
  moves: movesArb(eventArb, 6),
});

/** What the adversary acts through: the harness's world and its instrumented Lambda invocations. */
export interface AdversaryStage {
  world: World;
  /** The token of the rotation in progress (the innermost one), if any. */
  activeToken(): string | undefined;
  /** One revocation-function invocation with the harness's ports: its outcome, or "error" when it threw. */
  revocation(request: RevocationRequest): Promise<string>;
  /** A whole rotation started by the adversary with `token` (fresh when undefined); "rejected" if RotateSecret failed. */
  rotation(token: string | undefined): Promise<string>;
  /** The invariants that hold between any two calls. */
  check(where: string): void;
}

export interface AdversaryStats {
  /** Moves placed at a hook the scenario reached. */
  fired: number;
  /** Calls Secrets Manager itself rejected (a label that is not there, a token already in use, …). */
  rejected: number;
  /** Forged events parseRevocationRequest rejected (malformed key or version id). */
  eventsMalformed: number;
  /** Outcomes of the forged events that reached the revocation logic. */
  events: Record<string, number>;
}

/** Plays an {@link Adversary} plan against a harness. */
export class AdversaryActor {
  /** Versions whose value the adversary wrote. */
  readonly forgedVersions = new Set<string>();
  /** The last version the adversary made AWSCURRENT (by a put or a label move). */
  placedCurrent: string | undefined;
  /**
   * Whether a move changed the adversary's secret, started a rotation or revoked one of its own keys. Until then the
   * scenario must run exactly as without an adversary; after, only the invariants that hold for any writer do.
   */
  disturbed = false;
  readonly stats: AdversaryStats = { fired: 0, rejected: 0, eventsMalformed: 0, events: {} };
  /** Hooks passed so far. */
  hookIndex = 0;
  private latestForged: string | undefined;
  private readonly byHook = new Map<number, AdversaryMove[]>();
  private readonly neighbours: Neighbours;

  constructor(
    private readonly stage: AdversaryStage,
    readonly plan: Adversary,
  ) {
    for (const { at, move } of plan.moves) this.byHook.set(at, [...(this.byHook.get(at) ?? []), move]);
    const neighbours = stage.world.neighbours;
    if (!neighbours) throw new Error("the adversary needs a world with neighbours");
    this.neighbours = neighbours;
  }

  /** Whether the adversary chose what AWSCURRENT holds: invariant 1 is then its own business (see harness.ts). */
  ownsCurrent(versionId: string | undefined): boolean {
    return versionId !== undefined && (this.forgedVersions.has(versionId) || this.placedCurrent === versionId);
  }

  /** The token the adversary starts rotation `index` (0 or 1) with, if it does. */
  tokenFor(index: 0 | 1): string | undefined {
    const ref = this.plan.tokens[index];
    return ref ? this.tokenOf(ref) : undefined;
  }

  /** A hook: plays the moves placed here. */
  async hook(where: string): Promise<void> {
    const moves = this.byHook.get(this.hookIndex++) ?? [];
    for (const move of moves) {
      this.stats.fired += 1;
      await this.play(move);
      this.stage.check(`after adversary move ${JSON.stringify(move)} (${where})`);
    }
  }

  private async play(move: AdversaryMove): Promise<void> {
    switch (move.kind) {
      case "put":
        return this.attempt(() => this.put(move));
      case "relabel":
        return this.attempt(() => this.relabel(move.relabel));
      case "revoke-event":
        return this.forgeEvent(move);
      case "claim-and-revoke":
        this.attempt(() =>
          this.put({ kind: "put", stage: move.stage, keyId: move.keyId, secretKey: move.secretKey, twist: "none" }),
        );
        return this.forgeEvent({ kind: "revoke-event", secretId: "own", keyId: move.keyId, versionId: move.versionId });
      case "rotate": {
        const outcome = await this.stage.rotation(move.token === "fresh" ? undefined : this.tokenOf(move.token));
        if (outcome === "rejected") this.stats.rejected += 1;
        else this.disturbed = true;
        return;
      }
    }
  }

  /** A Secrets Manager call of the adversary's: one the service rejects changes nothing. */
  private attempt(call: () => void): void {
    try {
      call();
    } catch (error) {
      if (!/Exception$/.test((error as Error).name)) throw error;
      this.stats.rejected += 1;
    }
  }

  private put(move: Extract<AdversaryMove, { kind: "put" }>): void {
    const sm = this.stage.world.secretsManager;
    const token = this.stage.activeToken();
    if (move.stage === "pending-token" && !token) return;
    const out = sm.putSecretValue({
      SecretId: this.stage.world.secretArn,
      SecretString: JSON.stringify(this.forgedValue(move)),
      ...(move.stage === "pending-token" && { ClientRequestToken: token }),
      VersionStages: move.stage === "unlabelled" ? [] : [move.stage === "pending-token" ? AWSPENDING : move.stage],
    });
    this.disturbed = true;
    this.forgedVersions.add(out.VersionId);
    this.latestForged = out.VersionId;
    if (move.stage === AWSCURRENT) this.placedCurrent = out.VersionId;
  }

  private forgedValue(move: Extract<AdversaryMove, { kind: "put" }>): Record<string, unknown> {
    const value: Record<string, unknown> = { ...(this.read(AWSCURRENT) ?? {}) };
    value.keyId = this.keyIdOf(move.keyId);
    const secretKey = this.secretKeyOf(move.secretKey);
    if (secretKey === undefined) delete value.secretKey;
    else value.secretKey = secretKey;
    const n = this.neighbours;
    switch (move.twist) {
      case "victim-name":
        value.name = n.victimKey.name;
        break;
      case "manage-scope":
        value.scopes = [...(Array.isArray(value.scopes) ? value.scopes : []), "api_keys.manage"];
        break;
      case "manager-is-victim":
        value.managerSecretId = n.victimSecretArn;
        break;
      case "manager-is-self":
        value.managerSecretId = this.stage.world.secretArn;
        break;
      case "no-manager":
        delete value.managerSecretId;
        break;
      case "none":
        break;
    }
    return value;
  }

  private relabel(relabel: Relabel): void {
    const world = this.stage.world;
    const holder = (stage: string) => world.stageOf(stage as typeof AWSCURRENT);
    const [stage, to]: [string, string | undefined] = {
      "pending-off": [AWSPENDING, undefined],
      "previous-to-forged": [AWSPREVIOUS, this.latestForged],
      "previous-to-first": [AWSPREVIOUS, this.firstVersion()],
      "current-to-previous": [AWSCURRENT, holder(AWSPREVIOUS)],
      "current-to-forged": [AWSCURRENT, this.latestForged],
      "pending-to-forged": [AWSPENDING, this.latestForged],
      "pending-to-previous": [AWSPENDING, holder(AWSPREVIOUS)],
    }[relabel] as [string, string | undefined];
    const from = holder(stage);
    // "pending-off" takes the label off; every other move needs a target that does not hold it yet.
    if (relabel === "pending-off" ? !from : to === undefined || to === from) return;
    world.secretsManager.updateSecretVersionStage({
      SecretId: world.secretArn,
      VersionStage: stage,
      ...(to && { MoveToVersionId: to }),
      ...(from && { RemoveFromVersionId: from }),
    });
    this.disturbed = true;
    if (stage === AWSCURRENT) this.placedCurrent = to;
  }

  private async forgeEvent(move: Extract<AdversaryMove, { kind: "revoke-event" }>): Promise<void> {
    const versionId = this.versionIdOf(move.versionId);
    const event = {
      secretId: this.secretIdOf(move.secretId),
      keyId: this.keyIdOf(move.keyId),
      ...(versionId !== undefined && { versionId }),
      rotationToken: "forged",
    };
    let request: RevocationRequest;
    try {
      request = parseRevocationRequest(event);
    } catch {
      this.stats.eventsMalformed += 1;
      return;
    }
    const outcome = await this.stage.revocation(request);
    this.stats.events[outcome] = (this.stats.events[outcome] ?? 0) + 1;
    // Only a key of its own lineage may be revoked or postponed (invariant 6 says so after every call): its business.
    if (outcome === "revoked" || outcome === "postponed" || outcome === "kept") this.disturbed = true;
  }

  // ---- what the adversary knows ----

  private read(stage: string): Record<string, unknown> | undefined {
    const value = this.stage.world.valueAt(stage);
    return typeof value === "object" && value !== null && !Array.isArray(value) ? value : undefined;
  }

  private firstVersion(): string | undefined {
    const versions = this.stage.world.secretsManager.listSecretVersionIds({
      SecretId: this.stage.world.secretArn,
      IncludeDeprecated: true,
    }).Versions;
    return versions[0]?.VersionId;
  }

  private keyIdOf(ref: KeyRef): string {
    const n = this.neighbours;
    const own = (stage: string) => {
      const keyId = this.read(stage)?.keyId;
      return typeof keyId === "string" ? keyId : this.stage.world.firstKey.id;
    };
    switch (ref) {
      case "own-current":
        return own(AWSCURRENT);
      case "own-first":
        return this.stage.world.firstKey.id;
      case "own-previous":
        return own(AWSPREVIOUS);
      case "victim":
        return n.victimKey.id;
      case "victim-old":
        return n.victimOldKey.id;
      case "bystander":
        return n.bystanderKey.id;
      case "manager":
        return n.managerKey.id;
      case "dotdot":
        return "..";
      case "path":
        return "key_x/../..";
      case "encoded":
        return "key_%2e%2e%2fapi-keys";
    }
  }

  private secretKeyOf(ref: SecretKeyRef): string | undefined {
    const n = this.neighbours;
    switch (ref) {
      case "own-current": {
        const secretKey = this.read(AWSCURRENT)?.secretKey;
        return typeof secretKey === "string" ? secretKey : this.stage.world.firstKey.secretKey;
      }
      case "own-first":
        return this.stage.world.firstKey.secretKey;
      case "victim-publishable":
        return n.victimKey.publishableKey;
      case "bystander-publishable":
        return n.bystanderKey.publishableKey;
      case "manager-publishable":
        return n.managerKey.publishableKey;
      case "garbage":
        return `sk_live_${"0".repeat(48)}`;
      case "none":
        return undefined;
    }
  }

  private secretIdOf(ref: SecretRef): string {
    const n = this.neighbours;
    switch (ref) {
      case "own":
        return this.stage.world.secretArn;
      case "own-name":
        return "novala/acumatica";
      case "victim":
        return n.victimSecretArn;
      case "bystander":
        return n.bystanderSecretArn;
      case "manager":
        return n.managerSecretArn;
      case "traversal":
        return "novala/acumatica/../victim";
    }
  }

  private versionIdOf(ref: VersionRef): string | undefined {
    const n = this.neighbours;
    switch (ref) {
      case "none":
        return undefined;
      case "own-previous":
        return this.stage.world.stageOf(AWSPREVIOUS);
      case "own-forged":
        return this.latestForged;
      case "victim-current":
        return n.victimVersions.current;
      case "victim-previous":
        return n.victimVersions.previous;
      case "malformed":
        return "../../../api-keys/x";
    }
  }

  private tokenOf(ref: TokenRef): string {
    const n = this.neighbours;
    const currentOf = (secretId: string) =>
      this.stage.world.secretsManager.getSecretValue({ SecretId: secretId, VersionStage: AWSCURRENT }).VersionId;
    switch (ref) {
      case "victim-current":
        return n.victimVersions.current;
      case "victim-previous":
        return n.victimVersions.previous;
      case "bystander":
        return n.bystanderVersion;
      case "manager":
        return currentOf(n.managerSecretArn);
    }
  }
}
