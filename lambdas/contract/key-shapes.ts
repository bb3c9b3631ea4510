/** The shapes of a Novala key (docs/novala-key-api.md), which the value, the events, the adapter and the CLI check. */

/**
 * A Novala key id: "key_" and letters or digits. Anything else is refused before it reaches a URL path, so a claimed id
 * such as ".." can never turn a DELETE of one key into a request to another resource.
 */
export const KEY_ID_PATTERN = /^key_[A-Za-z0-9]{1,64}$/;

/** A publishable key, `pk_live_…` or `pk_test_…`; the first group is the mode (live or test). */
export const PUBLISHABLE_KEY_PATTERN = /^pk_(live|test)_[A-Za-z0-9]+$/;

/** A secret key, `sk_live_…` or `sk_test_…`; the first group is the mode (live or test). */
export const SECRET_KEY_PATTERN = /^sk_(live|test)_[A-Za-z0-9]+$/;

/** The scope that mints and revokes keys: held by a manager key (or a self-managed secret's), never by a consumer's. */
export const MANAGE_SCOPE = "api_keys.manage";
