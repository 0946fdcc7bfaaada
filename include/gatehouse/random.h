/*
 * random.h - cryptographically secure random bytes and UUIDs (OpenSSL's
 * generator).
 */
#ifndef GATEHOUSE_RANDOM_H
#define GATEHOUSE_RANDOM_H

#include <stddef.h>

/*
 * Cryptographically secure random bytes. Returns 0, or GH_EUNAVAIL when the
 * generator fails (never hands out predictable bytes).
 */
int gh_random(void *buf, size_t len);

/* A new lowercase UUIDv4 into out (37 bytes). 0 or GH_EUNAVAIL. */
int gh_uuid4(char out[37]);

#endif
