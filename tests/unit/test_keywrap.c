/*
 * test_keywrap.c - signing keys sealed at rest: a round trip gives the key
 * back; another key-encryption key, kid or use, a truncated or altered
 * record, or a plain one, never opens; the key file is read with its bounds.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gatehouse/errors.h"
#include "gatehouse/keywrap.h"
#include "harness.h"

static const char pem[] = "-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49AgEGCCqGSM49\n"
			  "-----END PRIVATE KEY-----\n";

static unsigned char ikm_a[32], ikm_b[32];

static struct keywrap *kw_of(const unsigned char *ikm)
{
	struct keywrap *kw = keywrap_new(ikm, 32);
	CHECK(kw != NULL);
	return kw;
}

/* Seals pem for kid/use under a; the caller frees *out. */
static void seal(struct keywrap *kw, const char *kid, const char *use, unsigned char **out,
		 size_t *len)
{
	CHECK_INT(keywrap_seal(kw, kid, use, (const unsigned char *)pem, sizeof pem - 1, out, len),
		  0);
}

TEST(round_trip)
{
	struct keywrap *kw = kw_of(ikm_a);
	unsigned char *s, *p;
	size_t slen, plen;
	seal(kw, "kid-1", "access", &s, &slen);
	CHECK(keywrap_is_sealed(s, slen));
	CHECK_INT(slen, KEYWRAP_PREFIX_LEN + KEYWRAP_NONCE_LEN + sizeof pem - 1 + KEYWRAP_TAG_LEN);
	CHECK(memmem(s, slen, "PRIVATE", 7) == NULL);
	CHECK_INT(keywrap_open(kw, "kid-1", "access", s, slen, &p, &plen), 0);
	CHECK_INT(plen, sizeof pem - 1);
	CHECK(p && memcmp(p, pem, plen) == 0);
	free(p);
	/* A fresh nonce each time: two seals of one key differ. */
	unsigned char *s2;
	size_t s2len;
	seal(kw, "kid-1", "access", &s2, &s2len);
	CHECK(s2len == slen && memcmp(s, s2, slen) != 0);
	/* HMAC keys are raw bytes, zeros included; an empty plaintext works too. */
	unsigned char raw[32] = { 0 }, *r, *o;
	size_t rlen, olen;
	raw[31] = 0xff;
	CHECK_INT(keywrap_seal(kw, "h", "refresh", raw, sizeof raw, &r, &rlen), 0);
	CHECK_INT(keywrap_open(kw, "h", "refresh", r, rlen, &o, &olen), 0);
	CHECK(olen == 32 && memcmp(o, raw, 32) == 0);
	free(o);
	free(r);
	CHECK_INT(keywrap_seal(kw, "e", "access", raw, 0, &r, &rlen), 0);
	CHECK_INT(keywrap_open(kw, "e", "access", r, rlen, &o, &olen), 0);
	CHECK_INT(olen, 0);
	free(o);
	free(r);
	free(s);
	free(s2);
	keywrap_free(kw);
}

TEST(wrong_key)
{
	struct keywrap *a = kw_of(ikm_a), *b = kw_of(ikm_b);
	unsigned char *s, *p = (unsigned char *)"x";
	size_t slen, plen = 7;
	seal(a, "kid-1", "access", &s, &slen);
	CHECK_INT(keywrap_open(b, "kid-1", "access", s, slen, &p, &plen), GH_EAUTH);
	CHECK(p == NULL && plen == 0);
	free(s);
	keywrap_free(a);
	keywrap_free(b);
}

TEST(wrong_aad)
{
	struct keywrap *kw = kw_of(ikm_a);
	unsigned char *s, *p;
	size_t slen, plen;
	seal(kw, "kid-1", "access", &s, &slen);
	CHECK_INT(keywrap_open(kw, "kid-2", "access", s, slen, &p, &plen), GH_EAUTH);
	CHECK_INT(keywrap_open(kw, "kid-1", "refresh", s, slen, &p, &plen), GH_EAUTH);
	/* kid and use are separated: "ab"+"c" is not "a"+"bc". */
	unsigned char *t;
	size_t tlen;
	CHECK_INT(keywrap_seal(kw, "ab", "c", (const unsigned char *)"k", 1, &t, &tlen), 0);
	CHECK_INT(keywrap_open(kw, "a", "bc", t, tlen, &p, &plen), GH_EAUTH);
	free(t);
	free(s);
	keywrap_free(kw);
}

TEST(truncated_and_tampered)
{
	struct keywrap *kw = kw_of(ikm_a);
	unsigned char *s, *p;
	size_t slen, plen;
	seal(kw, "kid-1", "access", &s, &slen);
	for (size_t cut = 0; cut < slen; cut++)
		CHECK_INT(keywrap_open(kw, "kid-1", "access", s, cut, &p, &plen), GH_EAUTH);
	/* Every byte after the prefix matters: nonce, ciphertext and tag. */
	for (size_t i = KEYWRAP_PREFIX_LEN; i < slen; i++) {
		s[i] ^= 0x01;
		CHECK_INT(keywrap_open(kw, "kid-1", "access", s, slen, &p, &plen), GH_EAUTH);
		s[i] ^= 0x01;
	}
	s[slen - 1] ^= 0x80; /* the tag's last byte */
	CHECK_INT(keywrap_open(kw, "kid-1", "access", s, slen, &p, &plen), GH_EAUTH);
	s[slen - 1] ^= 0x80;
	CHECK_INT(keywrap_open(kw, "kid-1", "access", s, slen, &p, &plen), 0);
	free(p);
	/* A plain PEM is not sealed, and does not open. */
	CHECK(!keywrap_is_sealed((const unsigned char *)pem, sizeof pem - 1));
	CHECK_INT(keywrap_open(kw, "kid-1", "access", (const unsigned char *)pem, sizeof pem - 1,
			       &p, &plen), GH_EAUTH);
	free(s);
	keywrap_free(kw);
}

static void write_file(const char *path, const void *buf, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	CHECK(fd >= 0);
	CHECK(write(fd, buf, len) == (ssize_t)len);
	close(fd);
}

TEST(key_file)
{
	char dir[] = "/tmp/gh-keywrap-XXXXXX";
	CHECK(mkdtemp(dir) != NULL);
	char path[96], err[256];
	snprintf(path, sizeof path, "%s/kek", dir);
	struct keywrap *kw = NULL;
	/* Missing, then too short: errors that name the file, never a key byte. */
	CHECK_INT(keywrap_load(path, &kw, err, sizeof err), -1);
	CHECK(kw == NULL && strstr(err, path) != NULL);
	write_file(path, ikm_a, 31);
	CHECK_INT(keywrap_load(path, &kw, err, sizeof err), -1);
	CHECK(strstr(err, "31") != NULL);
	static unsigned char big[KEYWRAP_IKM_MAX + 1];
	write_file(path, big, sizeof big);
	CHECK_INT(keywrap_load(path, &kw, err, sizeof err), -1);
	/* The file's bytes as they are (a trailing newline is key material too). */
	write_file(path, ikm_a, 32);
	CHECK_INT(keywrap_load(path, &kw, err, sizeof err), 0);
	struct keywrap *direct = kw_of(ikm_a);
	unsigned char *s, *p;
	size_t slen, plen;
	seal(direct, "k", "access", &s, &slen);
	CHECK_INT(keywrap_open(kw, "k", "access", s, slen, &p, &plen), 0);
	free(p);
	free(s);
	keywrap_free(kw);
	keywrap_free(direct);
	/* A relative name is looked up in $CREDENTIALS_DIRECTORY. */
	setenv("CREDENTIALS_DIRECTORY", dir, 1);
	CHECK_INT(keywrap_load("kek", &kw, err, sizeof err), 0);
	keywrap_free(kw);
	unsetenv("CREDENTIALS_DIRECTORY");
	CHECK(keywrap_new(ikm_a, 16) == NULL);
	unlink(path);
	rmdir(dir);
}

int main(void)
{
	for (size_t i = 0; i < sizeof ikm_a; i++) {
		ikm_a[i] = (unsigned char)(i * 7 + 1);
		ikm_b[i] = (unsigned char)(i * 7 + 2);
	}
	RUN(round_trip);
	RUN(wrong_key);
	RUN(wrong_aad);
	RUN(truncated_and_tampered);
	RUN(key_file);
	return REPORT();
}
