/*
 * lock.c - one daemon per database: an exclusive flock(2) on a lock file
 * beside it ("<database>.lock", holding the holder's PID), taken by the
 * daemon, migrate and restore and held while they run. The kernel drops it
 * when the process ends, however it ends (kill -9 included). Operator
 * commands run beside a daemon never take it.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "gatehouse/alloc.h"
#include "gatehouse/errors.h"
#include "internal.h"

struct store_lock {
	int fd;
};

/* The PID written in an open lock file, or -1. */
static long read_pid(int fd)
{
	char buf[32];
	ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	char *end;
	long pid = strtol(buf, &end, 10);
	return end != buf && pid > 0 ? pid : -1;
}

int store_lock_take(const char *db_path, struct store_lock **out, char *err, size_t errlen)
{
	*out = NULL;
	char *path = xasprintf("%s.lock", db_path);
	int ret = 0;
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		snprintf(err, errlen, "cannot open the lock file '%s': %s", path, strerror(errno));
		ret = GH_EUNAVAIL;
		goto out;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		if (errno == EWOULDBLOCK) {
			long pid = read_pid(fd);
			char who[32] = "unknown";
			if (pid > 0)
				snprintf(who, sizeof who, "%ld", pid);
			snprintf(err, errlen, "database '%s' is in use by another gatehouse "
				 "(PID %s holds '%s'): one daemon per database; stop it first",
				 db_path, who, path);
			ret = GH_ECONFLICT;
		} else {
			snprintf(err, errlen, "cannot lock '%s': %s", path, strerror(errno));
			ret = GH_EUNAVAIL;
		}
		close(fd);
		goto out;
	}
	char pid[32];
	int len = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
	if (ftruncate(fd, 0) != 0 || pwrite(fd, pid, (size_t)len, 0) != len) {
		snprintf(err, errlen, "cannot write the lock file '%s': %s", path, strerror(errno));
		close(fd);
		ret = GH_EUNAVAIL;
		goto out;
	}
	*out = xcalloc(1, sizeof **out);
	(*out)->fd = fd;
out:
	free(path);
	return ret;
}

void store_lock_drop(struct store_lock *l)
{
	if (!l)
		return;
	/*
	 * Emptied, not removed (removing it would race with the next process
	 * to lock it). Should that fail, a stale PID misleads nobody: the PID
	 * is only read while the file is locked.
	 */
	int rc = ftruncate(l->fd, 0);
	(void)rc;
	close(l->fd);
	free(l);
}

long store_lock_holder(const char *path)
{
	char *lock = xasprintf("%s.lock", path);
	int fd = open(lock, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	free(lock);
	if (fd < 0)
		return 0;
	long pid = 0;
	if (flock(fd, LOCK_SH | LOCK_NB) != 0)
		pid = errno == EWOULDBLOCK ? read_pid(fd) : 0;
	close(fd); /* drops our shared lock, if we got it */
	return pid;
}
