/*
 * keyring.c - signing keys: generation (RSA 2048, P-256, HMAC), PEM
 * persistence through the store (sealed by keywrap.c when a key-encryption
 * key is set: the store only ever sees bytes), parsed key sets published by pointer swap,
 * JWKS rendering, and the timed-rotation and emergency-rotation rules.
 */
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include "gatehouse/keyring.h"
#include "gatehouse/keywrap.h"
#include "gatehouse/log.h"
#include "gatehouse/store.h"
#include "gatehouse/errors.h"
#include "gatehouse/alloc.h"
#include "gatehouse/strbuf.h"
#include "gatehouse/clock.h"
#include "gatehouse/random.h"
#include "gatehouse/encoding.h"
#include "gatehouse/digest.h"
#include "gatehouse/banned.h"

struct keyring {
	struct store *st;
	pthread_mutex_t lock;      /* guards cur and policy: pointer swaps only */
	struct keyset *cur;
	struct key_policy policy;
	const struct keywrap *kw;  /* seals keys at rest, or NULL */
	bool warned_plain;         /* said once that plain keys remain */
	pthread_mutex_t unknown_lock; /* single flight of unknown-kid reloads */
	uint64_t unknown_at_ns;    /* when the last one ran (monotonic) */
};

/* Unknown-kid reloads: at most one per this interval, whatever tokens arrive. */
#define UNKNOWN_RELOAD_NS 250000000ull

static const char *const alg_names[] = { "RS256", "ES256", "HS256" };
static const char *const use_names[] = { "access", "refresh" };

/* A key not yet superseded, or a clean end-of-time. */
#define NEVER INT64_MAX
/* Margin for clock differences between us and the token's verifiers. */
#define RETIRE_MARGIN 60

const char *keyring_alg_name(int alg)
{
	return (alg >= 0 && alg <= KEY_HS256) ? alg_names[alg] : "?";
}

int keyring_alg_parse(const char *s)
{
	for (int i = 0; i <= KEY_HS256; i++)
		if (strcmp(s, alg_names[i]) == 0)
			return i;
	return -1;
}

static int use_parse(const char *s)
{
	return strcmp(s, "refresh") == 0 ? KEY_USE_REFRESH :
	       strcmp(s, "access") == 0 ? KEY_USE_ACCESS : -1;
}

/* ---- key sets ---- */

static void keyset_free(struct keyset *ks)
{
	for (size_t i = 0; i < ks->n; i++) {
		EVP_MD_CTX_free(ks->keys[i].sign_ctx);
		EVP_MAC_CTX_free(ks->keys[i].mac_ctx);
		EVP_PKEY_free(ks->keys[i].pkey);
		OPENSSL_cleanse(ks->keys[i].secret, sizeof ks->keys[i].secret);
	}
	free(ks->keys);
	free(ks->jwks);
	free(ks);
}

void keyset_put(struct keyset *ks)
{
	if (ks && atomic_fetch_sub(&ks->refs, 1) == 1)
		keyset_free(ks);
}

struct keyset *keyset_get(struct keyring *kr)
{
	pthread_mutex_lock(&kr->lock);
	struct keyset *ks = kr->cur;
	if (ks)
		atomic_fetch_add(&ks->refs, 1);
	pthread_mutex_unlock(&kr->lock);
	return ks;
}

const struct signing_key *keyset_signing_key(const struct keyset *ks, int use, int64_t now)
{
	const struct signing_key *best = NULL;
	for (size_t i = 0; i < ks->n; i++) {
		const struct signing_key *k = &ks->keys[i];
		if (k->use == use && k->activate_at <= now &&
		    (!best || k->activate_at >= best->activate_at))
			best = k;
	}
	return best;
}

const struct signing_key *keyset_find(const struct keyset *ks, const char *kid, size_t kid_len,
				      int use)
{
	for (size_t i = 0; i < ks->n; i++) {
		const struct signing_key *k = &ks->keys[i];
		if (k->use == use && strlen(k->kid) == kid_len && memcmp(k->kid, kid, kid_len) == 0)
			return k;
	}
	return NULL;
}

static json_t *b64url_bn(const BIGNUM *bn, int pad_to)
{
	int n = pad_to ? pad_to : BN_num_bytes(bn);
	unsigned char *buf = xmalloc((size_t)n);
	int ok = pad_to ? BN_bn2binpad(bn, buf, n) == n : BN_bn2bin(bn, buf) == n;
	json_t *out = NULL;
	if (ok) {
		char *txt = xmalloc(gh_b64url_encoded_len((size_t)n) + 1);
		gh_b64url_encode(buf, (size_t)n, txt);
		out = json_string(txt);
		free(txt);
	}
	free(buf);
	return out;
}

/* The public JWK of an access key, or NULL. Never any private member. */
static json_t *public_jwk(const struct signing_key *k)
{
	json_t *jwk = NULL;
	BIGNUM *a = NULL, *b = NULL;
	if (k->alg == KEY_RS256) {
		if (!EVP_PKEY_get_bn_param(k->pkey, OSSL_PKEY_PARAM_RSA_N, &a) ||
		    !EVP_PKEY_get_bn_param(k->pkey, OSSL_PKEY_PARAM_RSA_E, &b))
			goto out;
		jwk = json_pack("{s:s, s:s, s:s, s:s, s:o, s:o}", "kty", "RSA", "kid", k->kid,
				"use", "sig", "alg", "RS256", "n", b64url_bn(a, 0), "e",
				b64url_bn(b, 0));
	} else if (k->alg == KEY_ES256) {
		if (!EVP_PKEY_get_bn_param(k->pkey, OSSL_PKEY_PARAM_EC_PUB_X, &a) ||
		    !EVP_PKEY_get_bn_param(k->pkey, OSSL_PKEY_PARAM_EC_PUB_Y, &b))
			goto out;
		/* Coordinates are always 32 bytes: BN_bn2bin would drop leading zeros. */
		jwk = json_pack("{s:s, s:s, s:s, s:s, s:s, s:o, s:o}", "kty", "EC", "kid", k->kid,
				"use", "sig", "alg", "ES256", "crv", "P-256", "x",
				b64url_bn(a, 32), "y", b64url_bn(b, 32));
	}
out:
	BN_free(a);
	BN_free(b);
	if (!jwk)
		log_error("cannot export key '%s' as a JWK", k->kid);
	return jwk;
}

static void render_public(struct keyset *ks)
{
	json_t *keys = json_array();
	bool seen[KEY_HS256 + 1] = { false };
	struct strbuf algs = STRBUF_INIT;
	sb_adds(&algs, "[");
	/* Newest first: the signing or next key leads, as upstream's JWKS does. */
	for (size_t i = ks->n; i-- > 0;) {
		const struct signing_key *k = &ks->keys[i];
		if (k->use != KEY_USE_ACCESS)
			continue;
		json_t *jwk = public_jwk(k);
		if (jwk)
			json_array_append_new(keys, jwk);
		if (!seen[k->alg]) {
			sb_addf(&algs, "%s\"%s\"", algs.len > 1 ? "," : "", keyring_alg_name(k->alg));
			seen[k->alg] = true;
		}
	}
	sb_adds(&algs, "]");
	snprintf(ks->algs_json, sizeof ks->algs_json, "%s", algs.buf);
	sb_release(&algs);
	json_t *doc = json_pack("{s:o}", "keys", keys);
	ks->jwks = json_dumps(doc, JSON_COMPACT);
	ks->jwks_len = ks->jwks ? strlen(ks->jwks) : 0;
	json_decref(doc);
	if (!ks->jwks) {
		ks->jwks = xstrdup("{\"keys\":[]}");
		ks->jwks_len = strlen(ks->jwks);
	}
}

static EVP_PKEY *parse_private_pem(const unsigned char *pem, size_t len)
{
	BIO *bio = BIO_new_mem_buf(pem, (int)len);
	if (!bio)
		return NULL;
	EVP_PKEY *pk = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
	BIO_free(bio);
	return pk;
}

/*
 * k's prepared contexts (signing_key.sign_ctx, mac_ctx); left NULL when
 * OpenSSL cannot make one, and token.c then initialises per use.
 */
static void prepare_contexts(struct signing_key *k)
{
	if (k->alg == KEY_HS256) {
		EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
		EVP_MAC_CTX *c = mac ? EVP_MAC_CTX_new(mac) : NULL;
		EVP_MAC_free(mac); /* the context holds its own reference */
		OSSL_PARAM params[] = {
			OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0),
			OSSL_PARAM_construct_end(),
		};
		if (c && EVP_MAC_init(c, k->secret, sizeof k->secret, params) != 1) {
			EVP_MAC_CTX_free(c);
			c = NULL;
		}
		k->mac_ctx = c;
		return;
	}
	EVP_MD_CTX *t = EVP_MD_CTX_new();
	if (t && EVP_DigestSignInit(t, NULL, gh_sha256_md(), NULL, k->pkey) != 1) {
		EVP_MD_CTX_free(t);
		t = NULL;
	}
	k->sign_ctx = t;
}

/*
 * Builds a key set from stored keys, reusing parsed keys of old (may be
 * NULL). *unusable counts stored keys that could not be used (skipped).
 */
static struct keyset *keyset_build(struct store_key *sk, size_t n, const struct keyset *old,
				   const struct keywrap *kw, size_t *unusable, size_t *plain)
{
	*unusable = 0;
	*plain = 0;
	struct keyset *ks = xcalloc(1, sizeof *ks);
	atomic_init(&ks->refs, 1);
	ks->keys = xcalloc(n ? n : 1, sizeof *ks->keys);
	for (size_t i = 0; i < n; i++) {
		struct signing_key *k = &ks->keys[ks->n];
		int alg = keyring_alg_parse(sk[i].alg), use = use_parse(sk[i].use);
		if (alg < 0 || use < 0 || (use == KEY_USE_REFRESH) != (alg == KEY_HS256)) {
			log_error("stored key '%s': unknown use or algorithm", sk[i].kid);
			(*unusable)++;
			continue;
		}
		snprintf(k->kid, sizeof k->kid, "%s", sk[i].kid);
		k->alg = alg;
		k->use = use;
		k->created_at = sk[i].created_at;
		k->activate_at = sk[i].activate_at;
		k->epoch = sk[i].epoch;
		const struct signing_key *prev =
			old ? keyset_find(old, k->kid, strlen(k->kid), use) : NULL;
		unsigned char *opened = NULL;
		size_t opened_len = 0;
		if (keywrap_is_sealed(sk[i].material, sk[i].material_len) &&
		    !(prev && prev->pkey && alg != KEY_HS256)) {
			if (!kw) {
				log_error("stored key '%s' is encrypted at rest but "
					  "key_encryption_key_file is not set", sk[i].kid);
				(*unusable)++;
				continue;
			}
			if (keywrap_open(kw, sk[i].kid, sk[i].use, sk[i].material,
					 sk[i].material_len, &opened, &opened_len)) {
				log_error("cannot decrypt stored key '%s': wrong "
					  "key_encryption_key_file, or the row was altered", sk[i].kid);
				(*unusable)++;
				continue;
			}
			/* The plain form replaces the sealed one for the parsing below. */
			OPENSSL_cleanse(sk[i].material, sk[i].material_len);
			free(sk[i].material);
			sk[i].material = opened;
			sk[i].material_len = opened_len;
		} else if (!keywrap_is_sealed(sk[i].material, sk[i].material_len)) {
			(*plain)++;
		}
		if (alg == KEY_HS256) {
			if (sk[i].material_len != sizeof k->secret) {
				log_error("stored key '%s': bad length", sk[i].kid);
				(*unusable)++;
				continue;
			}
			memcpy(k->secret, sk[i].material, sizeof k->secret);
		} else {
			if (prev && prev->pkey && EVP_PKEY_up_ref(prev->pkey)) {
				k->pkey = prev->pkey;
			} else {
				k->pkey = parse_private_pem(sk[i].material, sk[i].material_len);
				if (!k->pkey) {
					log_error("stored key '%s': unreadable key material", sk[i].kid);
					(*unusable)++;
					continue;
				}
			}
			bool type_ok = alg == KEY_RS256 ? EVP_PKEY_is_a(k->pkey, "RSA") :
							  EVP_PKEY_is_a(k->pkey, "EC");
			if (!type_ok) {
				log_error("stored key '%s': key type does not match %s", sk[i].kid,
					  keyring_alg_name(alg));
				EVP_PKEY_free(k->pkey);
				k->pkey = NULL;
				(*unusable)++;
				continue;
			}
		}
		prepare_contexts(k);
		ks->n++;
	}
	/* Rows arrive ordered by use, then activation: a key is superseded by the next. */
	for (size_t i = 0; i < ks->n; i++) {
		ks->keys[i].superseded_at = NEVER;
		if (i + 1 < ks->n && ks->keys[i + 1].use == ks->keys[i].use)
			ks->keys[i].superseded_at = ks->keys[i + 1].activate_at;
	}
	render_public(ks);
	return ks;
}

/* ---- the keyring ---- */

struct keyring *keyring_new(struct store *st, const struct key_policy *policy)
{
	struct keyring *kr = xcalloc(1, sizeof *kr);
	kr->st = st;
	kr->policy = *policy;
	pthread_mutex_init(&kr->lock, NULL);
	pthread_mutex_init(&kr->unknown_lock, NULL);
	size_t unusable, plain;
	kr->cur = keyset_build(NULL, 0, NULL, NULL, &unusable, &plain);
	return kr;
}

void keyring_free(struct keyring *kr)
{
	if (!kr)
		return;
	keyset_put(kr->cur);
	pthread_mutex_destroy(&kr->lock);
	pthread_mutex_destroy(&kr->unknown_lock);
	free(kr);
}

void keyring_set_keywrap(struct keyring *kr, const struct keywrap *kw)
{
	kr->kw = kw;
}

void keyring_set_policy(struct keyring *kr, const struct key_policy *policy)
{
	pthread_mutex_lock(&kr->lock);
	kr->policy = *policy;
	pthread_mutex_unlock(&kr->lock);
}

static struct key_policy get_policy(struct keyring *kr)
{
	pthread_mutex_lock(&kr->lock);
	struct key_policy p = kr->policy;
	pthread_mutex_unlock(&kr->lock);
	return p;
}

int keyring_reload(struct keyring *kr)
{
	struct store_key *sk;
	size_t n;
	int rc = store_keys_list(kr->st, &sk, &n);
	if (rc)
		return rc;
	struct keyset *old = keyset_get(kr);
	size_t unusable, plain;
	struct keyset *ks = keyset_build(sk, n, old, kr->kw, &unusable, &plain);
	keyset_put(old);
	store_keys_free(sk, n);
	if (unusable) {
		/*
		 * Never carry on without a key the store holds: tokens it signed
		 * would fail, and a first start would make new keys over it.
		 */
		log_error("%zu stored signing key(s) cannot be used: keeping the keys in use",
			  unusable);
		keyset_put(ks);
		return GH_EINTERNAL;
	}
	if (kr->kw && plain && !kr->warned_plain) {
		log_warn("%zu signing key(s) are stored unencrypted although "
			 "key_encryption_key_file is set: run 'gatehouse keys encrypt'", plain);
		kr->warned_plain = true;
	}
	pthread_mutex_lock(&kr->lock);
	old = kr->cur;
	kr->cur = ks;
	pthread_mutex_unlock(&kr->lock);
	keyset_put(old);
	return 0;
}

bool keyring_reload_unknown(struct keyring *kr, const struct keyset *seen)
{
	pthread_mutex_lock(&kr->unknown_lock);
	struct keyset *cur = keyset_get(kr);
	/* Swapped since the caller looked (maybe by the reload it queued behind). */
	bool fresh = cur != seen;
	keyset_put(cur);
	uint64_t now = gh_mono_ns();
	if (!fresh && now - kr->unknown_at_ns >= UNKNOWN_RELOAD_NS) {
		kr->unknown_at_ns = now;
		fresh = keyring_reload(kr) == 0;
		if (fresh)
			log_debug("reloaded keys for a token with an unknown kid");
	}
	pthread_mutex_unlock(&kr->unknown_lock);
	return fresh;
}

/* A new key, its private half as PKCS#8 PEM in k->material. */
static int generate_key(int alg, int use, int64_t now, struct store_key *k)
{
	memset(k, 0, sizeof *k);
	char uuid[37];
	if (gh_uuid4(uuid))
		return GH_EUNAVAIL;
	snprintf(k->kid, sizeof k->kid, "%s", uuid);
	snprintf(k->use, sizeof k->use, "%s", use_names[use]);
	snprintf(k->alg, sizeof k->alg, "%s", keyring_alg_name(alg));
	k->created_at = now;
	if (alg == KEY_HS256) {
		k->material_len = 32;
		k->material = xmalloc(32);
		return gh_random(k->material, 32);
	}
	EVP_PKEY *pk = alg == KEY_RS256 ? EVP_RSA_gen(2048) : EVP_EC_gen("P-256");
	if (!pk) {
		log_error("cannot generate a %s key", keyring_alg_name(alg));
		return GH_EINTERNAL;
	}
	BIO *bio = BIO_new(BIO_s_mem());
	int rc = GH_EINTERNAL;
	if (bio && PEM_write_bio_PrivateKey(bio, pk, NULL, NULL, 0, NULL, NULL)) {
		char *data;
		long len = BIO_get_mem_data(bio, &data);
		if (len > 0) {
			k->material = xmalloc((size_t)len);
			memcpy(k->material, data, (size_t)len);
			k->material_len = (size_t)len;
			rc = 0;
		}
	}
	BIO_free(bio);
	EVP_PKEY_free(pk);
	if (rc)
		log_error("cannot serialise a new %s key", keyring_alg_name(alg));
	return rc;
}

/*
 * Creates and stores a key that signs from floor_at, or, when it must be
 * published ahead (lead > 0), no sooner than lead seconds after it is
 * stored: generating an RSA key can take a while (seconds under valgrind),
 * and that time must not eat into the pre-publication.
 */
static int add_key(struct keyring *kr, int alg, int use, int64_t now, int64_t floor_at,
		   int64_t lead, int64_t epoch)
{
	struct store_key k;
	uint64_t t0 = gh_mono_ns();
	int rc = generate_key(alg, use, now, &k);
	k.epoch = epoch;
	int64_t stored_at = now + (int64_t)((gh_mono_ns() - t0) / 1000000000ull);
	k.activate_at = floor_at;
	if (lead > 0 && k.activate_at < stored_at + lead)
		k.activate_at = stored_at + lead;
	if (!rc && kr->kw) {
		unsigned char *sealed;
		size_t sealed_len;
		rc = keywrap_seal(kr->kw, k.kid, k.use, k.material, k.material_len, &sealed,
				  &sealed_len);
		OPENSSL_cleanse(k.material, k.material_len);
		free(k.material);
		k.material = rc ? NULL : sealed;
		k.material_len = rc ? 0 : sealed_len;
	}
	if (!rc)
		rc = store_key_insert(kr->st, &k);
	if (!rc)
		log_info("created %s key '%s' (%s), signing from %lld%s", use_names[use], k.kid,
			 k.alg, (long long)k.activate_at,
			 k.activate_at > stored_at ? " (published ahead)" : "");
	else if (rc == GH_ECONFLICT)
		log_info("another node made the next %s key first: loading it instead",
			 use_names[use]);
	else
		log_error("cannot create a %s key: %s", use_names[use], gh_strerror(rc));
	OPENSSL_cleanse(k.material, k.material_len);
	free(k.material);
	return rc;
}

/* The epoch after the highest of use in ks: what a rotation inserts. */
static int64_t next_epoch(const struct keyset *ks, int use)
{
	int64_t top = 0;
	for (size_t i = 0; i < ks->n; i++)
		if (ks->keys[i].use == use && ks->keys[i].epoch > top)
			top = ks->keys[i].epoch;
	return top + 1;
}

/* The latest key of use (pending or not), or NULL. */
static const struct signing_key *latest_key(const struct keyset *ks, int use)
{
	const struct signing_key *best = NULL;
	for (size_t i = 0; i < ks->n; i++)
		if (ks->keys[i].use == use &&
		    (!best || ks->keys[i].activate_at >= best->activate_at))
			best = &ks->keys[i];
	return best;
}

static int maintain_use(struct keyring *kr, const struct keyset *ks, const struct key_policy *p,
			int use, int64_t now, bool *changed)
{
	int alg = use == KEY_USE_ACCESS ? p->access_alg : KEY_HS256;
	int64_t prepublish = use == KEY_USE_ACCESS ? p->prepublish : 0;
	const struct signing_key *cur = keyset_signing_key(ks, use, now);
	const struct signing_key *last = latest_key(ks, use);
	int64_t epoch = next_epoch(ks, use);
	int rc = 0;

	if (!cur) {
		/* First start (or every key was deleted): sign from now. */
		rc = add_key(kr, alg, use, now, now, 0, epoch);
		*changed = true;
	} else if (last == cur && cur->alg != alg) {
		log_warn("signing_alg is %s but the current key is %s: switching now",
			 keyring_alg_name(alg), keyring_alg_name(cur->alg));
		rc = add_key(kr, alg, use, now, cur->activate_at >= now ? cur->activate_at + 1 : now, 0,
			     epoch);
		*changed = true;
	} else if (last == cur) {
		int64_t due = cur->activate_at + p->rotation_interval;
		if (now >= due - prepublish) {
			int64_t at = due > cur->activate_at ? due : cur->activate_at + 1;
			rc = add_key(kr, alg, use, now, at, prepublish, epoch);
			*changed = true;
		}
	}
	if (rc == GH_ECONFLICT)
		return 0;   /* another node rotated from the same key set: *changed reloads */
	if (rc)
		return rc;

	int64_t retain = (use == KEY_USE_ACCESS ? p->access_token_ttl : p->refresh_token_ttl) +
			 RETIRE_MARGIN;
	for (size_t i = 0; i < ks->n; i++) {
		const struct signing_key *k = &ks->keys[i];
		if (k->use != use || k->superseded_at == NEVER || k->superseded_at > now)
			continue;
		if (now - k->superseded_at > retain) {
			rc = store_key_delete(kr->st, k->kid);
			if (rc)
				return rc;
			log_info("deleted retired %s key '%s'", use_names[use], k->kid);
			*changed = true;
		}
	}
	return 0;
}

int keyring_maintain(struct keyring *kr, int64_t now, bool *out_changed)
{
	struct key_policy p = get_policy(kr);
	struct keyset *ks = keyset_get(kr);
	bool changed = false;
	int rc = maintain_use(kr, ks, &p, KEY_USE_ACCESS, now, &changed);
	if (!rc)
		rc = maintain_use(kr, ks, &p, KEY_USE_REFRESH, now, &changed);
	keyset_put(ks);
	if (changed) {
		int rc2 = keyring_reload(kr);
		if (!rc)
			rc = rc2;
	}
	if (out_changed)
		*out_changed = changed;
	return rc;
}

/* One attempt of keyring_rotate_now over the key set in memory. */
static int rotate_once(struct keyring *kr, const struct key_policy *p, int64_t now)
{
	struct keyset *ks = keyset_get(kr);
	int rc = 0;
	for (int use = KEY_USE_ACCESS; use <= KEY_USE_REFRESH && !rc; use++) {
		int64_t at = now;
		/*
		 * A pending key that takes over later would end the new key's
		 * turn: the new key replaces it. One due within the propagation
		 * delay stays: another node may sign with it before it learns
		 * of the deletion, and its tokens must keep verifying.
		 */
		for (size_t i = 0; i < ks->n && !rc; i++) {
			const struct signing_key *k = &ks->keys[i];
			if (k->use != use)
				continue;
			if (k->activate_at > now + p->propagation) {
				rc = store_key_delete(kr->st, k->kid);
				if (!rc)
					log_info("dropped pending %s key '%s'", use_names[use], k->kid);
			} else if (k->activate_at >= at) {
				/* Keys activate in a strict order, even within one second. */
				at = k->activate_at + 1;
			}
		}
		/* Nothing signs yet (a first rotation): no node has a key to wait with. */
		int64_t lead = keyset_signing_key(ks, use, now) ? p->propagation : 0;
		if (!rc)
			rc = add_key(kr, use == KEY_USE_ACCESS ? p->access_alg : KEY_HS256, use, now,
				     at, lead, next_epoch(ks, use));
	}
	keyset_put(ks);
	return rc;
}

int keyring_rotate_now(struct keyring *kr, int64_t now)
{
	struct key_policy p = get_policy(kr);
	int rc = GH_ECONFLICT;
	/* Lost a race with another node's rotation: load its keys and rotate past them. */
	for (int attempt = 0; attempt < 3 && rc == GH_ECONFLICT; attempt++) {
		rc = rotate_once(kr, &p, now);
		int rc2 = keyring_reload(kr);
		if (!rc)
			rc = rc2;
	}
	return rc;
}

const char *keyset_key_state(const struct keyset *ks, const struct signing_key *k, int64_t now)
{
	return k == keyset_signing_key(ks, k->use, now) ? "current" :
	       k->activate_at > now ? "next" : "previous";
}
