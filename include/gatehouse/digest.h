/*
 * digest.h - SHA-256 with a pre-fetched EVP_MD (an implicit fetch per call
 * costs more than the hash), and short fingerprints safe to log.
 */
#ifndef GATEHOUSE_DIGEST_H
#define GATEHOUSE_DIGEST_H

#include <stddef.h>

#include <openssl/types.h>

const EVP_MD *gh_sha256_md(void);
void gh_sha256(const void *data, size_t len, unsigned char out[32]);

/* First 8 hex chars of SHA-256(data): safe to log in place of a secret. */
void gh_fingerprint(const void *data, size_t len, char out[9]);

#endif
