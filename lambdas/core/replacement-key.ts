/** createSecret's two rules: the current key's proven scopes, and a replacement key made and checked exactly once. */
import type { RotationDeps } from "./context.js";
import {
  CreateAnswerRefusedError,
  CreateOutcomeUnknownError,
  CurrentKeyUnusableError,
  KeyClaimRefusedError,
  KeyUnauthorizedError,
} from "./errors.js";
import { hasRotationTag, replacementKeyName, revocationScheduleName, rotationTagSuffix } from "./key-name.js";
import type { CreatedNovalaKey } from "./ports.js";
import { type ManagerCredentials, proveClaim, reportRefusedClaim } from "./possession.js";
import { KEY_ID_PATTERN, type ParsedKeySecret, PUBLISHABLE, SECRET, sameScopes } from "./secret-value.js";

/** The scope that mints and revokes keys: held by the manager (or a self-managed secret), never by a consumer. */
export const MANAGE_SCOPE = "api_keys.manage";

/**
 * The current key's scopes, from Novala, once the current version proves it holds the key it names: its secret key
 * must authenticate as its keyId. Novala is the source of truth; a stored list that disagrees is logged and corrected.
 * A consumer of a manager never holds api_keys.manage, so its replacement never receives it. A current (or manager)
 * key Novala no longer accepts raises CurrentKeyUnusableError, a claim Novala does not prove KeyClaimRefusedError:
 * neither can a retry fix.
 */
export async function provenScopes(
  deps: Pick<RotationDeps, "keys" | "telemetry">,
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
    if (!(error instanceof KeyUnauthorizedError)) throw error;
    throw manager.managed
      ? new CurrentKeyUnusableError(
          `the manager key ${manager.keyId} (manager secret ${current.secret.managerSecretId}) answers 401 at Novala: ` +
            "it was revoked or rotated outside this rotator",
          fix(current.secret.managerSecretId ?? "<manager secret>", true),
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
  deps: Pick<RotationDeps, "telemetry">,
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
  const mode = current.secret.secretKey.match(SECRET)?.[1];
  const existing = created.id === current.secret.keyId || created.id === manager.keyId;
  const problem = [
    [!KEY_ID_PATTERN.test(created.id), "a malformed key id"],
    [existing, `the id of an existing key (${created.id})`],
    [created.name !== asked.name, "another name than asked for"],
    [!sameScopes(created.scopes, asked.scopes), `scopes [${created.scopes}] instead of [${asked.scopes}]`],
    [created.status !== "active", `status ${created.status}`],
    [created.publishableKey.match(PUBLISHABLE)?.[1] !== mode, `a publishable key that is not pk_${mode}_…`],
    [created.secretKey.match(SECRET)?.[1] !== mode, `a secret key that is not sk_${mode}_…`],
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
 * Creates the replacement key after revoking the keys rotations of this secret left behind (found by the name tag
 * derived from the token): a key an earlier attempt with this token created but never stored, so there are never two
 * live replacement keys for one token; and a key of an abandoned rotation (Secrets Manager gives a rotation up when
 * someone puts a value in the middle of it, and calls no further step), whose version has lost every label. A key
 * whose revocation is scheduled is in its grace period and left alone. A create whose outcome is unknown is not
 * retried blindly: the next attempt revokes what it may have made first.
 */
export async function createReplacementKey(
  deps: RotationDeps,
  manager: ManagerCredentials,
  secretArn: string,
  current: ParsedKeySecret,
  scopes: string[],
  token: string,
): Promise<CreatedNovalaKey> {
  const abandoned = (await deps.store.listVersions(secretArn))
    .filter((version) => version.stages.length === 0 && version.versionId !== token)
    .map((version) => version.versionId);
  for (let attempt = 1; ; attempt++) {
    // Only this rotation's and the abandoned versions' keys, by their tags: the tenant's history is never read.
    const nameSuffixes = [token, ...abandoned].map((versionId) => rotationTagSuffix(secretArn, versionId));
    const keys = (await deps.keys.list(manager, { status: "active", nameSuffixes })).filter(
      (key) =>
        key.status === "active" &&
        KEY_ID_PATTERN.test(key.id) &&
        key.id !== current.secret.keyId &&
        key.id !== manager.keyId,
    );
    for (const key of keys.filter((candidate) => hasRotationTag(candidate.name, secretArn, token))) {
      await deps.keys.revoke(manager, key.id);
      deps.telemetry.warn("revoked a key an earlier attempt left behind", { keyId: key.id });
    }
    for (const key of keys.filter((candidate) =>
      abandoned.some((version) => hasRotationTag(candidate.name, secretArn, version)),
    )) {
      if (await deps.scheduler.isScheduled(revocationScheduleName(secretArn, key.id))) continue;
      await deps.keys.revoke(manager, key.id);
      deps.telemetry.warn("revoked a key an abandoned rotation left behind", { keyId: key.id });
    }
    const asked = { name: replacementKeyName(current.secret.name, secretArn, token), scopes };
    try {
      const created = await deps.keys.create(manager, asked);
      await checkCreatedKey(deps, manager, created, asked, current, { secretArn, versionId: token });
      return created;
    } catch (error) {
      if (!(error instanceof CreateOutcomeUnknownError) || attempt >= CREATE_ATTEMPTS) throw error;
      deps.telemetry.warn("the create's outcome is unknown; reconciling by name tag", { attempt });
    }
  }
}
