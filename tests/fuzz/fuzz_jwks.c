/*
 * fuzz_jwks.c - jwkscache_set_parse, which reads the JSON Web Key Sets fetched
 * from Apple and the OIDC providers into OpenSSL public keys. Input: the
 * document as fetched.
 */
#include <string.h>

#include "gatehouse/jwkscache.h"
#include "gatehouse/keyring.h"
#include "fuzz_common.h"

FUZZ_QUIET_INITIALIZE

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct jwk_set set;
	if (jwkscache_set_parse((const char *)data, size, &set) == 0) {
		for (size_t i = 0; i < set.n; i++) {
			const struct jwk *k = &set.keys[i];
			/* What the verifier relies on: a key, a kid, a known alg or none. */
			if (!k->pkey || !k->kid[0] || strlen(k->kid) >= sizeof k->kid ||
			    (k->alg != -1 && k->alg != KEY_RS256 && k->alg != KEY_ES256))
				__builtin_trap();
		}
	}
	jwkscache_set_release(&set);
	return 0;
}
