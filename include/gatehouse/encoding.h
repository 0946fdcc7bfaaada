/*
 * encoding.h - text encodings checked or produced byte by byte: hex,
 * base64url, the UUID text form and UTF-8 validity.
 */
#ifndef GATEHOUSE_ENCODING_H
#define GATEHOUSE_ENCODING_H

#include <stdbool.h>
#include <stddef.h>

/* Lowercase hex of len bytes into out (2*len+1 bytes, NUL-terminated). */
void gh_hex(const void *in, size_t len, char *out);

/* True when s is a lowercase 8-4-4-4-12 hex UUID (any version). */
bool gh_is_uuid(const char *s, size_t len);

/*
 * base64url without padding (RFC 7515 section 2).
 * gh_b64url_encoded_len: output length for n input bytes (no NUL).
 * gh_b64url_encode: writes the text and a NUL; out must hold len+1 bytes.
 * gh_b64url_decode: strict decode (no padding, no whitespace, canonical
 * trailing bits). Writes at most *out_len bytes; returns 0 or GH_EINVAL.
 */
size_t gh_b64url_encoded_len(size_t n);
void gh_b64url_encode(const void *in, size_t n, char *out);
int gh_b64url_decode(const char *in, size_t n, unsigned char *out,
		     size_t *out_len /* IN: capacity, OUT: bytes written */);

/* True when the bytes are valid UTF-8 with no NUL and no surrogates. */
bool gh_utf8_valid(const char *s, size_t n);

#endif
