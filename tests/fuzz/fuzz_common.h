/*
 * fuzz_common.h - helpers shared by the libFuzzer targets: quiet logs, an
 * HTTP status from the first input byte, and (for the token targets) test
 * keys made at start-up plus a JWS signer, so that a fuzzed header.payload
 * can be re-signed and reach the claim checks behind the signature.
 * Keys are generated per process and never written anywhere.
 */
#ifndef GATEHOUSE_FUZZ_COMMON_H
#define GATEHOUSE_FUZZ_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "gatehouse/keyring.h"
#include "gatehouse/log.h"
#include "gatehouse/alloc.h"
#include "gatehouse/encoding.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The daemon's logs would drown libFuzzer's; FUZZ_LOG=1 keeps them. */
static inline void fuzz_quiet_logs(void)
{
	if (!getenv("FUZZ_LOG"))
		log_min_level = LOG_ERROR + 1;
}

/* The whole LLVMFuzzerInitialize of a target that needs nothing but quiet logs. */
#define FUZZ_QUIET_INITIALIZE                                                  \
	int LLVMFuzzerInitialize(int *argc, char ***argv)                      \
	{                                                                      \
		(void)argc;                                                    \
		(void)argv;                                                    \
		fuzz_quiet_logs();                                             \
		return 0;                                                      \
	}

static inline void fuzz_die(const char *what)
{
	fprintf(stderr, "fuzz set-up failed: %s\n", what);
	abort();
}

/*
 * An HTTP status for a provider answer, from one input byte: mostly the
 * statuses providers really send, sometimes anything in 0..599.
 */
static inline long fuzz_status(uint8_t b)
{
	static const long common[] = { 200, 200, 200, 200, 400, 401, 403, 404, 429, 500, 503, 0 };
	if (b < 2 * sizeof common / sizeof common[0])
		return common[b % (sizeof common / sizeof common[0])];
	return (long)b * 599 / 255;
}

/* ---- keys and signing, for the token targets ---- */

static inline EVP_PKEY *fuzz_keygen(int alg)
{
	EVP_PKEY *pk = alg == KEY_RS256 ? EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048) :
					  EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	if (!pk)
		fuzz_die("key generation");
	return pk;
}

/* Signs data as JWS alg (key pk, or secret for HS256); raw signature into sig. */
static inline size_t fuzz_sign(int alg, EVP_PKEY *pk, const unsigned char *secret,
			       const char *data, size_t len, unsigned char sig[512])
{
	if (alg == KEY_HS256) {
		unsigned int n = 0;
		if (!HMAC(EVP_sha256(), secret, 32, (const unsigned char *)data, len, sig, &n))
			fuzz_die("hmac");
		return n;
	}
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned char der[128];
	size_t n = alg == KEY_ES256 ? sizeof der : 512;
	if (!ctx || EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, pk) != 1 ||
	    EVP_DigestSign(ctx, alg == KEY_ES256 ? der : sig, &n, (const unsigned char *)data,
			   len) != 1)
		fuzz_die("sign");
	EVP_MD_CTX_free(ctx);
	if (alg != KEY_ES256)
		return n;
	const unsigned char *p = der;
	ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &p, (long)n);
	const BIGNUM *r, *s;
	if (!es)
		fuzz_die("ecdsa der");
	ECDSA_SIG_get0(es, &r, &s);
	if (BN_bn2binpad(r, sig, 32) != 32 || BN_bn2binpad(s, sig + 32, 32) != 32)
		fuzz_die("ecdsa raw");
	ECDSA_SIG_free(es);
	return 64;
}

/*
 * "header.payload" (text up to a second '.', if any) followed by ".sig":
 * a new malloc'd NUL-terminated token, its length in *out_len.
 */
static inline char *fuzz_resign(int alg, EVP_PKEY *pk, const unsigned char *secret,
				const char *in, size_t n, size_t *out_len)
{
	const char *d1 = memchr(in, '.', n);
	const char *d2 = d1 ? memchr(d1 + 1, '.', n - (size_t)(d1 + 1 - in)) : NULL;
	size_t signed_len = d2 ? (size_t)(d2 - in) : n;
	unsigned char sig[512];
	size_t sn = fuzz_sign(alg, pk, secret, in, signed_len, sig);
	size_t sl = gh_b64url_encoded_len(sn);
	char *tok = xmalloc(signed_len + 1 + sl + 1);
	memcpy(tok, in, signed_len);
	tok[signed_len] = '.';
	gh_b64url_encode(sig, sn, tok + signed_len + 1);
	*out_len = signed_len + 1 + sl;
	return tok;
}

/*
 * "header JSON\npayload JSON" (split at the first newline) made into a
 * signed token: both parts base64url-encoded, then signed as fuzz_resign
 * does. Lets the fuzzer mutate claims as JSON rather than as base64.
 */
static inline char *fuzz_encode_sign(int alg, EVP_PKEY *pk, const unsigned char *secret,
				     const char *in, size_t n, size_t *out_len)
{
	const char *nl = memchr(in, '\n', n);
	size_t hl = nl ? (size_t)(nl - in) : n, pl = nl ? n - hl - 1 : 0;
	size_t h64 = gh_b64url_encoded_len(hl), p64 = gh_b64url_encoded_len(pl);
	char *text = xmalloc(h64 + 1 + p64 + 1);
	gh_b64url_encode(in, hl, text);
	text[h64] = '.';
	gh_b64url_encode(nl ? nl + 1 : "", pl, text + h64 + 1);
	char *tok = fuzz_resign(alg, pk, secret, text, h64 + 1 + p64, out_len);
	free(text);
	return tok;
}

#endif
