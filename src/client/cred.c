/*
 * cred.c - the saved guest credentials: their encoding and the file they
 * live in (atomic replace, owner-only whatever the umask).
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "internal.h"

char *ghi_cred_encode(const struct ghi_cred *cred, size_t *out_len)
{
	json_t *o = json_pack("{s:i, s:s, s:s}", "version", 1, "user_id", cred->user_id,
			      "guest_secret", cred->guest_secret);
	if (!o)
		abort();
	char *s = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	if (!s)
		abort();
	*out_len = strlen(s);
	/* jansson allocates with malloc by default: hand it over as is. */
	return s;
}

static bool valid_field(const char *s, size_t max)
{
	size_t n = strlen(s);
	if (n == 0 || n > max)
		return false;
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c < 0x21 || c > 0x7e)
			return false;
	}
	return true;
}

int ghi_cred_decode(const char *data, size_t len, struct ghi_cred *out)
{
	json_error_t err;
	const char *uid, *secret;
	int version;
	int rc = GH_ERR_STORAGE;
	memset(out, 0, sizeof *out);
	if (!data || len == 0 || len > GHI_MAX_CRED_FILE)
		return GH_ERR_STORAGE;
	json_t *o = json_loadb(data, len, JSON_REJECT_DUPLICATES, &err);
	if (!o)
		return GH_ERR_STORAGE;
	if (json_unpack(o, "{s:i, s:s, s:s}", "version", &version, "user_id", &uid,
			"guest_secret", &secret) != 0)
		goto out_free;
	if (version != 1 || !valid_field(uid, GHI_MAX_USER_ID) ||
	    !valid_field(secret, GHI_MAX_SECRET))
		goto out_free;
	snprintf(out->user_id, sizeof out->user_id, "%s", uid);
	snprintf(out->guest_secret, sizeof out->guest_secret, "%s", secret);
	rc = 0;
out_free:
	json_decref(o);
	return rc;
}

static int write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static void fsync_dir_of(const char *path)
{
	char *copy = ghi_xstrdup(path);
	int dfd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		(void)fsync(dfd);
		close(dfd);
	}
	free(copy);
}

int ghi_cred_file_save(const char *path, const char *data, size_t len)
{
	int rc = GH_ERR_STORAGE;
	size_t n = strlen(path) + sizeof ".tmp.XXXXXX";
	char *tmp = ghi_xmalloc(n);
	snprintf(tmp, n, "%s.tmp.XXXXXX", path);
	/* mkstemp creates the file 0600 (umask can only take bits away). */
	int fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0)
		goto out_free;
	if (fchmod(fd, 0600) != 0 || write_all(fd, data, len) != 0 || fsync(fd) != 0) {
		close(fd);
		goto out_unlink;
	}
	if (close(fd) != 0 || rename(tmp, path) != 0)
		goto out_unlink;
	fsync_dir_of(path);
	rc = 0;
	goto out_free;

out_unlink:
	unlink(tmp);
out_free:
	free(tmp);
	return rc;
}

int ghi_cred_file_load(const char *path, char *buf, size_t cap, size_t *out_len)
{
	int rc = GH_ERR_STORAGE;
	*out_len = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return errno == ENOENT ? 1 : GH_ERR_STORAGE;
	struct stat st;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size < 0 ||
	    (size_t)st.st_size > cap)
		goto out_close;
	size_t got = 0;
	while (got < cap) {
		ssize_t r = read(fd, buf + got, cap - got);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			goto out_close;
		}
		if (r == 0)
			break;
		got += (size_t)r;
	}
	if (got == cap) {
		/* Grown past cap since fstat: refuse rather than truncate. */
		char extra;
		if (read(fd, &extra, 1) != 0)
			goto out_close;
	}
	*out_len = got;
	rc = 0;
out_close:
	close(fd);
	return rc;
}

int ghi_cred_file_remove(const char *path)
{
	if (unlink(path) != 0 && errno != ENOENT)
		return GH_ERR_STORAGE;
	return 0;
}
