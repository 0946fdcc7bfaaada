/*
 * store_sqlite.h - options only the SQLite back end of the store has
 * (store.h is the contract every back end keeps).
 */
#ifndef GATEHOUSE_STORE_SQLITE_H
#define GATEHOUSE_STORE_SQLITE_H

#include <stdbool.h>

struct store_sqlite_options {
	bool sync_full;            /* synchronous=FULL, else NORMAL */
	/*
	 * For operator commands run beside a live daemon: never checkpoint,
	 * so only the daemon's writer ever does (SQLite 3.40 WAL-reset bug).
	 */
	bool operator_mode;
};

/* True for the f_type of network file systems (NFS, SMB/CIFS, Ceph, AFS, 9p...). */
bool store_fs_is_network(unsigned long f_type);

#endif
