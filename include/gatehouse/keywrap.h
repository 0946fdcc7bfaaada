/*
 * keywrap.h - signing keys encrypted at rest. A key-encryption key (KEK) is
 * derived with HKDF-SHA256 from the bytes of key_encryption_key_file; each
 * private or HMAC key is then sealed with AES-256-GCM, bound to its kid and
 * use (associated data), in a self-describing form:
 *
 *   "ghenc1:" | 12-byte random nonce | ciphertext | 16-byte tag
 *
 * so plain (PEM or raw HMAC) and sealed rows can be told apart. The store
 * never sees anything but bytes; the keyring seals and opens.
 */
#ifndef GATEHOUSE_KEYWRAP_H
#define GATEHOUSE_KEYWRAP_H

#include <stdbool.h>
#include <stddef.h>

#define KEYWRAP_PREFIX "ghenc1:"
#define KEYWRAP_PREFIX_LEN 7
#define KEYWRAP_NONCE_LEN 12
#define KEYWRAP_TAG_LEN 16
/* Least and most bytes of key material the key file may hold. */
#define KEYWRAP_IKM_MIN 32
#define KEYWRAP_IKM_MAX 4096

struct keywrap;

/*
 * Derives a KEK from ikm (KEYWRAP_IKM_MIN..KEYWRAP_IKM_MAX bytes). NULL when
 * ikm is too short or too long, or the KDF fails (logged). Free with
 * keywrap_free.
 */
struct keywrap *keywrap_new(const unsigned char *ikm, size_t len);

/*
 * Reads the key file (a relative name is looked up in $CREDENTIALS_DIRECTORY
 * when it is set, as systemd's LoadCredential= provides) and derives the
 * KEK. 0 and *out, or -1 with the reason in err (never any key byte).
 */
int keywrap_load(const char *file, struct keywrap **out /* OUT */, char *err, size_t errlen);

/* Scrubs and frees; NULL is fine. */
void keywrap_free(struct keywrap *kw);

/* Whether stored material is in the sealed form (starts with KEYWRAP_PREFIX). */
bool keywrap_is_sealed(const unsigned char *material, size_t len);

/*
 * Seals plain (len bytes) for the key kid of use ("access", "refresh").
 * 0 and a malloc'd *out of *out_len bytes (the caller frees it), or a gh_err.
 */
int keywrap_seal(const struct keywrap *kw, const char *kid, const char *use,
		 const unsigned char *plain, size_t len, unsigned char **out /* OUT */,
		 size_t *out_len /* OUT */);

/*
 * Opens what keywrap_seal made for the same kid and use. 0 and a malloc'd
 * *out (the caller scrubs and frees it), or GH_EAUTH when the material is
 * not sealed, is truncated or altered, or was sealed under another KEK,
 * kid or use.
 */
int keywrap_open(const struct keywrap *kw, const char *kid, const char *use,
		 const unsigned char *sealed, size_t len, unsigned char **out /* OUT */,
		 size_t *out_len /* OUT */);

#endif
