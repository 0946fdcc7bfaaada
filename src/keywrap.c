/*
 * keywrap.c - AES-256-GCM sealing of signing keys at rest under a key
 * derived with HKDF-SHA256 from key_encryption_key_file (see keywrap.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>

#include "gatehouse/config.h"
#include "gatehouse/keywrap.h"
#include "gatehouse/alloc.h"
#include "gatehouse/errors.h"
#include "gatehouse/log.h"
#include "gatehouse/random.h"
#include "gatehouse/banned.h"

/* HKDF info: names the purpose, so the same file could never key anything else. */
static const char hkdf_info[] = "gatehouse signing-key wrap v1";
/* Associated data: a version tag, then kid and use, each NUL-terminated. */
static const char aad_tag[] = "gatehouse-key-v1";

struct keywrap {
	unsigned char key[32];
};

struct keywrap *keywrap_new(const unsigned char *ikm, size_t len)
{
	if (len < KEYWRAP_IKM_MIN || len > KEYWRAP_IKM_MAX)
		return NULL;
	struct keywrap *kw = xcalloc(1, sizeof *kw);
	EVP_KDF *kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
	EVP_KDF_CTX *kctx = kdf ? EVP_KDF_CTX_new(kdf) : NULL;
	OSSL_PARAM params[] = {
		OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)"SHA256", 0),
		OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)ikm, len),
		OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, (void *)hkdf_info,
						  sizeof hkdf_info - 1),
		OSSL_PARAM_construct_end(),
	};
	int ok = kctx && EVP_KDF_derive(kctx, kw->key, sizeof kw->key, params) == 1;
	EVP_KDF_CTX_free(kctx);
	EVP_KDF_free(kdf);
	if (!ok) {
		log_error("cannot derive the key-encryption key (HKDF-SHA256)");
		keywrap_free(kw);
		return NULL;
	}
	return kw;
}

void keywrap_free(struct keywrap *kw)
{
	if (!kw)
		return;
	OPENSSL_cleanse(kw->key, sizeof kw->key);
	free(kw);
}

int keywrap_load(const char *file, struct keywrap **out, char *err, size_t errlen)
{
	*out = NULL;
	char *path = config_secret_path(file);
	unsigned char buf[KEYWRAP_IKM_MAX + 1];
	size_t n = 0;
	int ret = -1;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		snprintf(err, errlen, "key_encryption_key_file '%s': %s", path, strerror(errno));
		goto out;
	}
	struct stat sb;
	if (fstat(fd, &sb) == 0 && (sb.st_mode & 077))
		log_warn("key_encryption_key_file '%s' has mode %03o: other users can read the "
			 "key that protects the signing keys; fix: chmod 600 '%s'", path,
			 (unsigned)(sb.st_mode & 0777), path);
	for (;;) {
		ssize_t r = read(fd, buf + n, sizeof buf - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			snprintf(err, errlen, "key_encryption_key_file '%s': %s", path,
				 strerror(errno));
			goto out_close;
		}
		if (r == 0 || (n += (size_t)r) == sizeof buf)
			break;
	}
	if (n < KEYWRAP_IKM_MIN || n > KEYWRAP_IKM_MAX) {
		snprintf(err, errlen, "key_encryption_key_file '%s': holds %zu%s bytes, needs %d "
			 "to %d (make one with: head -c 32 /dev/urandom > FILE)", path, n,
			 n > KEYWRAP_IKM_MAX ? " or more" : "", KEYWRAP_IKM_MIN, KEYWRAP_IKM_MAX);
		goto out_close;
	}
	*out = keywrap_new(buf, n);
	if (!*out) {
		snprintf(err, errlen, "key_encryption_key_file '%s': cannot derive a key", path);
		goto out_close;
	}
	ret = 0;
out_close:
	close(fd);
out:
	OPENSSL_cleanse(buf, sizeof buf);
	free(path);
	return ret;
}

bool keywrap_is_sealed(const unsigned char *material, size_t len)
{
	return len >= KEYWRAP_PREFIX_LEN && memcmp(material, KEYWRAP_PREFIX, KEYWRAP_PREFIX_LEN) == 0;
}

/* aad_tag NUL kid NUL use NUL, malloc'd. */
static unsigned char *make_aad(const char *kid, const char *use, size_t *len)
{
	size_t a = sizeof aad_tag, b = strlen(kid) + 1, c = strlen(use) + 1;
	unsigned char *aad = xmalloc(a + b + c);
	memcpy(aad, aad_tag, a);
	memcpy(aad + a, kid, b);
	memcpy(aad + a + b, use, c);
	*len = a + b + c;
	return aad;
}

/* One AES-256-GCM pass; enc: seal, else open (checking tag). 0 or -1. */
static int gcm(const struct keywrap *kw, bool enc, const unsigned char *nonce,
	       const unsigned char *aad, size_t aad_len, const unsigned char *in, size_t len,
	       unsigned char *out, unsigned char *tag)
{
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	int ok = 0, n = 0;
	if (!ctx || len > (size_t)INT32_MAX || aad_len > (size_t)INT32_MAX)
		goto out;
	if (EVP_CipherInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL, enc) != 1 ||
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, KEYWRAP_NONCE_LEN, NULL) != 1 ||
	    EVP_CipherInit_ex(ctx, NULL, NULL, kw->key, nonce, enc) != 1 ||
	    EVP_CipherUpdate(ctx, NULL, &n, aad, (int)aad_len) != 1)
		goto out;
	if (len && EVP_CipherUpdate(ctx, out, &n, in, (int)len) != 1)
		goto out;
	if (!enc && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, KEYWRAP_TAG_LEN, tag) != 1)
		goto out;
	if (EVP_CipherFinal_ex(ctx, out + (len ? n : 0), &n) != 1)
		goto out;
	if (enc && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, KEYWRAP_TAG_LEN, tag) != 1)
		goto out;
	ok = 1;
out:
	EVP_CIPHER_CTX_free(ctx);
	return ok ? 0 : -1;
}

int keywrap_seal(const struct keywrap *kw, const char *kid, const char *use,
		 const unsigned char *plain, size_t len, unsigned char **out, size_t *out_len)
{
	*out = NULL;
	*out_len = 0;
	size_t total = KEYWRAP_PREFIX_LEN + KEYWRAP_NONCE_LEN + len + KEYWRAP_TAG_LEN;
	unsigned char *buf = xmalloc(total);
	memcpy(buf, KEYWRAP_PREFIX, KEYWRAP_PREFIX_LEN);
	unsigned char *nonce = buf + KEYWRAP_PREFIX_LEN;
	unsigned char *ct = nonce + KEYWRAP_NONCE_LEN;
	size_t aad_len;
	unsigned char *aad = make_aad(kid, use, &aad_len);
	int ret = GH_EUNAVAIL;
	if (gh_random(nonce, KEYWRAP_NONCE_LEN))
		goto out;
	ret = GH_EINTERNAL;
	if (gcm(kw, true, nonce, aad, aad_len, plain, len, ct, ct + len))
		goto out;
	*out = buf;
	*out_len = total;
	buf = NULL;
	ret = 0;
out:
	free(aad);
	free(buf);
	return ret;
}

int keywrap_open(const struct keywrap *kw, const char *kid, const char *use,
		 const unsigned char *sealed, size_t len, unsigned char **out, size_t *out_len)
{
	*out = NULL;
	*out_len = 0;
	const size_t overhead = KEYWRAP_PREFIX_LEN + KEYWRAP_NONCE_LEN + KEYWRAP_TAG_LEN;
	if (len < overhead || !keywrap_is_sealed(sealed, len))
		return GH_EAUTH;
	size_t n = len - overhead;
	const unsigned char *nonce = sealed + KEYWRAP_PREFIX_LEN;
	const unsigned char *ct = nonce + KEYWRAP_NONCE_LEN;
	unsigned char tag[KEYWRAP_TAG_LEN];
	memcpy(tag, ct + n, sizeof tag);
	size_t aad_len;
	unsigned char *aad = make_aad(kid, use, &aad_len);
	unsigned char *plain = xmalloc(n ? n : 1);
	int rc = gcm(kw, false, nonce, aad, aad_len, ct, n, plain, tag);
	free(aad);
	if (rc) {
		OPENSSL_cleanse(plain, n);
		free(plain);
		return GH_EAUTH;
	}
	*out = plain;
	*out_len = n;
	return 0;
}
