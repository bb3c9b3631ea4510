/** createSecret's two rules: the current key's proven scopes, and a replacement key made and checked exactly once. */

import { KEY_ID_PATTERN, MANAGE_SCOPE, PUBLISHABLE_KEY_PATTERN, SECRET_KEY_PATTERN } from "../contract/key-shapes.js";
import type { RotationDeps } from "./context.js";
import {
  CreateAnswerRefusedError,
  CurrentKeyUnusableError,
  isUnauthorized,
  KeyApiCreateOutcomeUnknownError,
  KeyClaimRefusedError,
} from "./errors.js";
import { hasRotationTag, replacementKeyName, revocationScheduleName, rotationTagSuffix } from "./key-name.js";
import { stepOutcome } from "./outcome.js";
import { AWSCURRENT, AWSPREVIOUS, type CreatedNovalaKey, type NovalaKey, type SecretDescription } from "./ports.js";
import { type ManagerCredentials, proveClaim, reportRefusedClaim } from "./possession.js";
import { type ParsedKeySecret, sameScopes } from "./secret-value.js";

/**
 * The current key's scopes, from Novala, once the current version proves it holds the key it names: its secret key
 * must authenticate as its keyId. Novala is the source of truth; a stored list that disagrees is logged and corrected.
 * A consumer of a manager never holds api_keys.manage, so its replacement never receives it. A current (or manager)
 * key Novala no longer accepts raises CurrentKeyUnusableError, a claim Novala does not prove KeyClaimRefusedError:
 * neither can a retry fix.
 */
export async function provenScopes(
  deps: RotationDeps,
  secretArn: string,
  current: ParsedKeySecret,
  manager: ManagerCredentials,
): Promise<string[]> {
  const { keyId, secretKey, scopes } = current.secret;
  const where = `AWSCURRENT of secret ${secretArn}`;
  // The key that signs (a manager's, or a self-managed secret's own) holds api_keys.manage: put-key takes it only into a
  // secret named self-managed (lambdas/core/onboarding.ts).
  const fix = (secretId: string, signs: boolean) =>
    `Put the pair that works in with \`novala-rotation put-key ${secretId}${signs ? " --self-managed" : ""}\` and rotate again`;
  let proof: Awaited<ReturnType<typeof proveClaim>>;
  try {
    proof = await proveClaim(deps, manager, { keyId, secretKey, where });
  } catch (error) {
    // Novala's record is asked with the credentials that would act: a self-managed secret's own key, which answered
    // 401 already (a key rotated in Novala's dashboard dies after 24 h), or a manager key that no longer works.
    if (!isUnauthorized(error)) throw error;
    throw manager.managed
      ? new CurrentKeyUnusableError(
          `the manager key ${manager.keyId} (manager secret ${manager.secretId}) answers 401 at Novala: ` +
            "it was revoked or rotated outside this rotator",
          fix(manager.secretId ?? "<manager secret>", true),
        )
      : new CurrentKeyUnusableError(
          `the current key ${keyId} of self-managed secret ${secretArn} answers 401 at Novala: it was revoked or ` +
            "rotated outside this rotator (for example in Novala's dashboard)",
          fix(secretArn, true),
        );
  }
  if (proof.outcome === "gone") {
    throw new CurrentKeyUnusableError(
      `the current key ${keyId} is ${proof.status} at Novala: it was rotated or revoked outside this rotator`,
      fix(secretArn, !manager.managed),
    );
  }
  if (proof.outcome === "refused")
    throw refuse(deps, `refused to rotate: ${where} claims key ${keyId}, but ${proof.reason}`, { keyId });
  const live = proof.key.scopes;
  if (manager.managed && live.includes(MANAGE_SCOPE)) {
    throw refuse(
      deps,
      `refused to rotate: key ${keyId} of a consumer secret holds ${MANAGE_SCOPE}; only the manager may`,
      {
        keyId,
      },
    );
  }
  if (!sameScopes(live, scopes)) {
    deps.telemetry.warn("stored scopes disagree with Novala; using Novala's", { keyId, stored: scopes, live });
  }
  return live;
}

/** Logs and counts a refused claim, and returns the error that fails the step. */
function refuse(
  deps: RotationDeps,
  message: string,
  fields: Record<string, unknown>,
  Refusal: typeof KeyClaimRefusedError = KeyClaimRefusedError,
): KeyClaimRefusedError {
  reportRefusedClaim(deps, message, fields);
  return new Refusal(message);
}

/**
 * The create answer is input from a host, not a fact: it must describe exactly the key asked for, or the step fails
 * with CreateAnswerRefusedError, which ends the rotation. The key the answer names is revoked only when Novala proves
 * it is the one this create made (its secret key authenticates as that id, or Novala's record of it carries this
 * rotation's lineage tag), so an answer can never get another key revoked. A key made but not proven (its id unusable,
 * or the answer named another) carries this rotation's lineage tag; once the rotation has ended its version holds no
 * label, so the next createSecret of the secret finds it by that tag and revokes it (an abandoned rotation's key).
 */
async function checkCreatedKey(
  deps: RotationDeps,
  manager: ManagerCredentials,
  created: CreatedNovalaKey,
  asked: { name: string; scopes: string[] },
  current: ParsedKeySecret,
  lineage: { secretArn: string; versionId: string },
): Promise<void> {
  const mode = current.secret.secretKey.match(SECRET_KEY_PATTERN)?.[1];
  const existing = created.id === current.secret.keyId || created.id === manager.keyId;
  const problem = [
    [!KEY_ID_PATTERN.test(created.id), "a malformed key id"],
    [existing, `the id of an existing key (${created.id})`],
    [created.name !== asked.name, "another name than asked for"],
    [!sameScopes(created.scopes, asked.scopes), `scopes [${created.scopes}] instead of [${asked.scopes}]`],
    [created.status !== "active", `status ${created.status}`],
    [created.publishableKey.match(PUBLISHABLE_KEY_PATTERN)?.[1] !== mode, `a publishable key that is not pk_${mode}_…`],
    [created.secretKey.match(SECRET_KEY_PATTERN)?.[1] !== mode, `a secret key that is not sk_${mode}_…`],
  ].find(([failed]) => failed)?.[1] as string | undefined;
  if (!problem) return;
  let revoked = "nothing was revoked";
  if (KEY_ID_PATTERN.test(created.id) && !existing) {
    const claim = { keyId: created.id, secretKey: created.secretKey, where: "Novala's create answer" };
    const proof = await proveClaim(deps, manager, claim, lineage);
    if (proof.outcome === "proven") {
      await deps.keys.revoke(manager, created.id);
      revoked = "the new key was revoked";
    } else {
      revoked = `key ${created.id} was not revoked: ${proof.outcome === "gone" ? `it is ${proof.status}` : proof.reason}`;
    }
  }
  throw refuse(
    deps,
    `Novala's create answer describes ${problem}; nothing was stored, ${revoked}`,
    { keyId: created.id },
    CreateAnswerRefusedError,
  );
}

const CREATE_ATTEMPTS = 3;

/**
 * What a createSecret must look for before it creates, read from the creating mark (docs/design.md, "The marks"):
 * - "this-token": an earlier attempt of this token marked it, so it may have made a key (a lost answer, a crash after
 *   the create, a delivery still running): the token's keys are listed;
 * - "abandoned": another token is marked and its rotation did not finish (finishSecret clears the mark; a token that
 *   is AWSCURRENT finished even if that record was lost): an abandoned or ended rotation may have left keys, found by
 *   the tags of the secret's unlabelled versions;
 * - "unsure": the secret carries no creating tag at all but was rotated before (a version is AWSPREVIOUS): rotated
 *   before the marks existed, or its tag was removed; both of the above are looked for, as before the marks;
 * - "none": no create was attempted since the last rotation finished (the mark was cleared, names a token that is
 *   AWSCURRENT, or the secret was never rotated): nothing to look for, no list.
 */
export type Leftovers = "none" | "this-token" | "abandoned" | "unsure";

/** The leftovers `token`'s createSecret must look for, by the creating mark DescribeSecret returned. */
export function leftoversToCheck(
  description: Pick<SecretDescription, "marks" | "versionStages">,
  token: string,
): Leftovers {
  const creating = description.marks?.creating;
  if (creating === token) return "this-token";
  if (creating === undefined) {
    const rotatedBefore = Object.values(description.versionStages).some((stages) => stages.includes(AWSPREVIOUS));
    return rotatedBefore ? "unsure" : "none";
  }
  if (creating === "" || description.versionStages[creating]?.includes(AWSCURRENT)) return "none";
  return "abandoned";
}

/** Whether `leftovers` says an earlier attempt of the token itself may have made a key (its keys are listed). */
export function mayHaveTokenKeys(leftovers: Leftovers): boolean {
  return leftovers === "this-token" || leftovers === "unsure";
}

/**
 * Creates the replacement key, after what `leftovers` says to look for. Before the create it marks the token on the
 * secret (the creating mark, with createSecret's "in-progress" outcome: one TagResource; a failed write fails the step
 * before anything is made), so that a crash or a lost answer from there on leaves a mark the retry finds; a token
 * marked already ("this-token") is not written again. Keys minted for this same token are found but NOT revoked here
 * (`leftBehind`): an attempt that died after its create left one, but so does a delivery of this step still running
 * (Secrets Manager retries a step while the first delivery runs), which may store its key at any moment, and testSecret
 * and finishSecret may then pass and promote it. createSecret revokes them once the token's version holds a value (then
 * none of them can ever be stored: a version's value never changes). A create whose outcome is unknown is not retried
 * blindly: the token's keys are listed first, and its key, if made, joins leftBehind.
 */
export async function createReplacementKey(
  deps: RotationDeps,
  manager: ManagerCredentials,
  secretArn: string,
  current: ParsedKeySecret,
  scopes: string[],
  token: string,
  leftovers: Leftovers,
): Promise<{ created: CreatedNovalaKey; leftBehind: string[] }> {
  if (leftovers === "abandoned" || leftovers === "unsure") {
    await revokeAbandonedKeys(deps, manager, secretArn, current, token);
  }
  if (leftovers !== "this-token") {
    const outcome = stepOutcome(deps, "createSecret", token);
    await deps.store.record(secretArn, { outcome, marks: { creating: token } });
  }
  const leftBehind = new Set<string>();
  let look = mayHaveTokenKeys(leftovers);
  for (let attempt = 1; ; attempt++) {
    if (look) for (const keyId of await tokenKeys(deps, manager, secretArn, current, token)) leftBehind.add(keyId);
    const asked = { name: replacementKeyName(current.secret.name, secretArn, token), scopes };
    try {
      const created = await deps.keys.create(manager, asked);
      await checkCreatedKey(deps, manager, created, asked, current, { secretArn, versionId: token });
      return { created, leftBehind: [...leftBehind].filter((keyId) => keyId !== created.id) };
    } catch (error) {
      if (!(error instanceof KeyApiCreateOutcomeUnknownError) || attempt >= CREATE_ATTEMPTS) throw error;
      deps.telemetry.warn("the create's outcome is unknown; reconciling by name tag", { attempt });
      look = true;
    }
  }
}

/**
 * Revokes the keys of abandoned rotations of this secret (Secrets Manager gives a rotation up when someone puts a value
 * in the middle of it, and calls no further step; an ended or aborted rotation leaves the keys earlier attempts made),
 * found by the name tag of their version, which has lost every label; a key whose revocation is scheduled is in its
 * grace period and left alone. Only the active keys with those versions' tags are asked for, never the tenant's
 * history; no unlabelled version, no list.
 */
async function revokeAbandonedKeys(
  deps: RotationDeps,
  manager: ManagerCredentials,
  secretArn: string,
  current: ParsedKeySecret,
  token: string,
): Promise<void> {
  const abandoned = (await deps.store.listVersions(secretArn))
    .filter((version) => version.stages.length === 0 && version.versionId !== token)
    .map((version) => version.versionId);
  if (abandoned.length === 0) return;
  const nameSuffixes = abandoned.map((versionId) => rotationTagSuffix(secretArn, versionId));
  const keys = (await deps.keys.list(manager, { status: "active", nameSuffixes })).filter(
    (key) =>
      isRevocable(key, current, manager) && abandoned.some((version) => hasRotationTag(key.name, secretArn, version)),
  );
  for (const key of keys) {
    if (await deps.scheduler.isScheduled(revocationScheduleName(secretArn, key.id))) continue;
    await deps.keys.revoke(manager, key.id);
    deps.telemetry.warn("revoked a key an abandoned rotation left behind", { keyId: key.id });
  }
}

/** The active keys minted for `token` (its lineage tag) that the rotation may revoke, by id. */
async function tokenKeys(
  deps: RotationDeps,
  manager: ManagerCredentials,
  secretArn: string,
  current: ParsedKeySecret,
  token: string,
): Promise<string[]> {
  const listed = await deps.keys.list(manager, {
    status: "active",
    nameSuffixes: [rotationTagSuffix(secretArn, token)],
  });
  return listed
    .filter((key) => isRevocable(key, current, manager) && hasRotationTag(key.name, secretArn, token))
    .map((key) => key.id);
}

/** A listed key a rotation may revoke as its own leftover: active, well formed, neither the current nor the manager key. */
function isRevocable(key: NovalaKey, current: ParsedKeySecret, manager: ManagerCredentials): boolean {
  return (
    key.status === "active" &&
    KEY_ID_PATTERN.test(key.id) &&
    key.id !== current.secret.keyId &&
    key.id !== manager.keyId
  );
}

/**
 * Revokes the keys minted for `token` that its version does not hold, once it holds `storedKeyId`: a version's value
 * never changes, so none of them can ever be stored or promoted. `leftBehind` names them (createReplacementKey's);
 * without it they are listed by the token's tag (a retried createSecret that finds the value already stored: the
 * attempt that stored it may have died before revoking them).
 */
export async function revokeUnstoredKeys(
  deps: RotationDeps,
  manager: ManagerCredentials,
  secretArn: string,
  current: ParsedKeySecret,
  token: string,
  storedKeyId: string | undefined,
  leftBehind?: string[],
): Promise<void> {
  const candidates = leftBehind ?? (await tokenKeys(deps, manager, secretArn, current, token));
  for (const keyId of candidates) {
    if (keyId === storedKeyId) continue;
    await deps.keys.revoke(manager, keyId);
    deps.telemetry.warn("revoked a key an earlier attempt left behind", { keyId });
  }
}
