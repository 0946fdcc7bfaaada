/*
 * random.c - random bytes and UUIDv4s from OpenSSL's generator.
 */
#include <stdio.h>
#include <string.h>

#include <openssl/rand.h>

#include "gatehouse/encoding.h"
#include "gatehouse/errors.h"
#include "gatehouse/log.h"
#include "gatehouse/random.h"
#include "gatehouse/banned.h"

int gh_random(void *buf, size_t len)
{
	/* RAND_bytes returns 1 on success, 0 or -1 otherwise: test != 1. */
	if (len > (size_t)0x7fffffff || RAND_bytes(buf, (int)len) != 1) {
		memset(buf, 0, len);
		log_error("random number generator failed");
		return GH_EUNAVAIL;
	}
	return 0;
}

int gh_uuid4(char out[37])
{
	unsigned char b[16];
	char hex[33];
	if (gh_random(b, sizeof b))
		return GH_EUNAVAIL;
	b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
	b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
	gh_hex(b, sizeof b, hex);
	snprintf(out, 37, "%.8s-%.4s-%.4s-%.4s-%.12s", hex, hex + 8, hex + 12,
		 hex + 16, hex + 20);
	return 0;
}
