/*
 * digest.c - SHA-256 and log-safe fingerprints.
 */
#include <pthread.h>
#include <stdlib.h>

#include <openssl/evp.h>

#include "gatehouse/digest.h"
#include "gatehouse/encoding.h"
#include "gatehouse/log.h"
#include "gatehouse/banned.h"

static EVP_MD *sha256_md;
static pthread_once_t sha256_once = PTHREAD_ONCE_INIT;

static void fetch_sha256(void)
{
	sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
	if (!sha256_md) {
		log_error("cannot fetch SHA256 from OpenSSL");
		abort();
	}
}

const EVP_MD *gh_sha256_md(void)
{
	pthread_once(&sha256_once, fetch_sha256);
	return sha256_md;
}

void gh_sha256(const void *data, size_t len, unsigned char out[32])
{
	unsigned int n = 0;
	if (!EVP_Digest(data, len, out, &n, gh_sha256_md(), NULL) || n != 32) {
		log_error("SHA-256 failed");
		abort();
	}
}

void gh_fingerprint(const void *data, size_t len, char out[9])
{
	unsigned char md[32];
	gh_sha256(data, len, md);
	gh_hex(md, 4, out);
}
