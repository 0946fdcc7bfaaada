/*
 * store_sqlite.h - options only the SQLite back end of the store has
 * (store.h is the contract every back end keeps).
 */
#ifndef GATEHOUSE_STORE_SQLITE_H
#define GATEHOUSE_STORE_SQLITE_H

#include <stdbool.h>
#include <stdint.h>

/*
 * Without these options (store_options.sqlite NULL): NORMAL, 5 s, a 4 MiB
 * writer cache, not operator mode.
 */
#define STORE_SQLITE_BUSY_TIMEOUT_MS 5000
/* The writer's page cache without these options (the setting sqlite_cache_size's default). */
#define STORE_SQLITE_CACHE_BYTES (4 * 1024 * 1024)

struct store_sqlite_options {
	bool sync_full;            /* synchronous=FULL, else NORMAL */
	int64_t busy_timeout_ms;   /* how long a statement waits for another process's lock */
	int64_t cache_bytes;       /* the writer connection's page cache (readers: 512 KiB) */
	/*
	 * For operator commands run beside a live daemon: never checkpoint,
	 * so only the daemon's writer ever does (SQLite 3.40 WAL-reset bug).
	 */
	bool operator_mode;
};

/* True for the f_type of network file systems (NFS, SMB/CIFS, Ceph, AFS, 9p...). */
bool store_fs_is_network(unsigned long f_type);

#endif
