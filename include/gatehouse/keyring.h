/*
 * keyring.h - the signing keys in memory. Keys live in the store; the
 * keyring parses them once into OpenSSL keys and publishes them as an
 * immutable, refcounted key set: a request takes a reference (keyset_get),
 * signs or verifies with it, and drops it (keyset_put) while the rotator may
 * swap in a newer set at any time.
 *
 * Two uses of key:
 *   access  - RS256 (RSA 2048) or ES256 (P-256); published in the JWKS.
 *   refresh - HS256 with 256 random bits; internal, never published.
 *
 * Lifecycle of a key (DESIGN.md "Keys"): next (published, not yet signing)
 * -> current (signing: the latest key whose activate_at has passed) ->
 * previous (still verifying) -> deleted once no token it signed can be live.
 */
#ifndef GATEHOUSE_KEYRING_H
#define GATEHOUSE_KEYRING_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

struct store;
struct keywrap;

enum key_alg { KEY_RS256 = 0, KEY_ES256, KEY_HS256 };
enum key_use { KEY_USE_ACCESS = 0, KEY_USE_REFRESH };

struct signing_key {
	char kid[64];
	int alg;                   /* enum key_alg */
	int use;                   /* enum key_use */
	EVP_PKEY *pkey;            /* asymmetric keys */
	/*
	 * Contexts prepared when the key set is built (keyring.c) and copied
	 * for each use (token.c), so that no signature or HMAC fetches its
	 * algorithm again: EVP_DigestSignInit's fetch was 8-10 us of an ES256
	 * signature's 35-45 us, HMAC()'s 2-3 us of its 3 us. Only read after
	 * the build; NULL if OpenSSL could not make one (each use then
	 * initialises its own). Freed with the key set.
	 */
	EVP_MD_CTX *sign_ctx;      /* asymmetric keys: DigestSign, initialised */
	EVP_MAC_CTX *mac_ctx;      /* HS256 keys: HMAC-SHA256, keyed */
	unsigned char secret[32];  /* HS256 keys */
	int64_t created_at;
	int64_t activate_at;
	int64_t superseded_at;     /* activate_at of the next key of its use, or INT64_MAX */
	int64_t epoch;             /* its place among the keys of its use (store.h) */
};

struct keyset {
	atomic_int refs;
	struct signing_key *keys;  /* sorted by use, then activate_at */
	size_t n;
	char *jwks;                /* {"keys":[...]} of the access keys, public members only */
	size_t jwks_len;
	char algs_json[64];        /* ["RS256"] etc.: algorithms of the published keys */
};

/* What timed rotation follows (from the configuration). */
struct key_policy {
	int access_alg;            /* KEY_RS256 or KEY_ES256 */
	int64_t rotation_interval;
	int64_t prepublish;
	int64_t access_token_ttl;
	int64_t refresh_token_ttl;
	/*
	 * An emergency rotation's new key signs this long after it is stored
	 * (key_propagation), so that every node sharing the database has
	 * published it before any node signs with it. 0: at once.
	 */
	int64_t propagation;
};

struct keyring;

/* Creates an empty keyring over st (keyring_reload fills it). */
struct keyring *keyring_new(struct store *st, const struct key_policy *policy);
void keyring_free(struct keyring *kr);
/*
 * Seals keys at rest with kw (keywrap.h; borrowed, must outlive kr) from now
 * on: new keys are stored sealed, sealed keys are opened with it. Without it
 * (NULL, the default), a sealed key in the store is unusable, so a reload
 * fails rather than new keys being made over keys it cannot read. Call
 * before the first keyring_reload.
 */
void keyring_set_keywrap(struct keyring *kr, const struct keywrap *kw);
/* Replaces the rotation policy (config reload). */
void keyring_set_policy(struct keyring *kr, const struct key_policy *policy);

/*
 * Reads the keys from the store and publishes a new key set, reusing the
 * parsed form of keys it already holds. 0 or a gh_err: GH_EINTERNAL when a
 * stored key cannot be used (unreadable, mislabelled; each is logged), and
 * then the key set in use stays as it was.
 */
int keyring_reload(struct keyring *kr);

/*
 * A token named a kid that seen (the caller's key set, still referenced)
 * lacks: another node may have made a key this node has not loaded yet.
 * Reloads once, single flight and at most every 250 ms whatever tokens
 * arrive. True when a newer key set is in place (try again with it).
 */
bool keyring_reload_unknown(struct keyring *kr, const struct keyset *seen);

/*
 * One step of timed rotation at time now: creates the first keys, the next
 * key once it is due for pre-publication (or at once when signing_alg
 * changed), and deletes keys that no live token can need; then reloads if
 * anything changed. *out_changed tells whether it did. 0 or a gh_err.
 */
int keyring_maintain(struct keyring *kr, int64_t now, bool *out_changed /* OUT, may be NULL */);

/*
 * Emergency rotation: a new access key (of the policy's algorithm) that
 * signs from now (plus the policy's propagation), and a new refresh key;
 * pending next keys are dropped,
 * the old current keys stay published as previous. Writes only the store;
 * a running daemon loads the result within a second or two.
 */
int keyring_rotate_now(struct keyring *kr, int64_t now);

/* Takes a reference to the current key set (never NULL after a reload). */
struct keyset *keyset_get(struct keyring *kr);
/* Drops a reference taken by keyset_get. */
void keyset_put(struct keyset *ks);

/* The key that signs tokens of use at time now, or NULL. */
const struct signing_key *keyset_signing_key(const struct keyset *ks, int use, int64_t now);
/* The key with this kid and use, or NULL. */
const struct signing_key *keyset_find(const struct keyset *ks, const char *kid, size_t kid_len,
				      int use);

/* "current", "next" or "previous": where k (a key of ks) stands at time now. */
const char *keyset_key_state(const struct keyset *ks, const struct signing_key *k, int64_t now);

const char *keyring_alg_name(int alg);
/* Parses "RS256", "ES256", "HS256"; -1 when unknown. */
int keyring_alg_parse(const char *s);

#endif
