/*
 * sqlite_sql.c - the SQLite back end's SQL text: the schema migrations
 * (one entry per schema version) and the text of every query of
 * backend.h, indexed by enum store_query. Another back end supplies its
 * own table (placeholders $1, RETURNING...), the same ids.
 */
#include "sqlite_int.h"

const char *const store_sqlite_migrations[STORE_SCHEMA_VERSION] = {
	/* 1: the initial schema */
	"CREATE TABLE users ("
	"  user_id TEXT PRIMARY KEY,"
	"  guest_secret_hash BLOB,"
	"  created_at INTEGER NOT NULL,"
	"  last_seen_at INTEGER NOT NULL,"
	"  banned_until INTEGER"
	") WITHOUT ROWID;"
	"CREATE TABLE identities ("
	"  provider TEXT NOT NULL,"
	"  subject TEXT NOT NULL,"
	"  user_id TEXT NOT NULL REFERENCES users(user_id) ON DELETE CASCADE,"
	"  created_at INTEGER NOT NULL,"
	"  PRIMARY KEY (provider, subject),"
	"  UNIQUE (user_id, provider)"
	") WITHOUT ROWID;"
	"CREATE TABLE sessions ("
	"  session_id INTEGER PRIMARY KEY,"
	"  user_id TEXT NOT NULL REFERENCES users(user_id) ON DELETE CASCADE,"
	"  access_scope TEXT NOT NULL,"
	"  current_jti TEXT NOT NULL,"
	"  previous_jti TEXT,"
	"  rotated_at_ms INTEGER,"
	"  created_at INTEGER NOT NULL,"
	"  expires_at INTEGER NOT NULL,"
	"  ended_at INTEGER,"
	"  end_reason TEXT"
	");"
	"CREATE INDEX sessions_by_user ON sessions(user_id);"
	"CREATE TABLE signing_keys ("
	"  kid TEXT PRIMARY KEY,"
	"  use TEXT NOT NULL CHECK (use IN ('access', 'refresh')),"
	"  alg TEXT NOT NULL,"
	"  material BLOB NOT NULL,"
	"  created_at INTEGER NOT NULL,"
	"  activate_at INTEGER NOT NULL"
	");"
	"CREATE TABLE player_data ("
	"  user_id TEXT NOT NULL REFERENCES users(user_id) ON DELETE CASCADE,"
	"  key TEXT NOT NULL,"
	"  value BLOB NOT NULL,"
	"  version INTEGER NOT NULL,"
	"  updated_at INTEGER NOT NULL,"
	"  PRIMARY KEY (user_id, key)"
	") WITHOUT ROWID;",
	/* 2: guest clean-up walks idle guests in last_seen_at order */
	"CREATE INDEX users_idle_guests ON users(last_seen_at) "
	"WHERE guest_secret_hash IS NOT NULL;",
	/*
	 * 3: versioned player storage. Versions come from a per-user sequence,
	 * so a key's versions keep rising even across a delete; the user's key
	 * count and bytes are kept beside it for the quotas.
	 */
	"ALTER TABLE users ADD COLUMN data_seq INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE users ADD COLUMN data_keys INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE users ADD COLUMN data_bytes INTEGER NOT NULL DEFAULT 0;"
	"UPDATE users SET"
	"  data_seq = coalesce((SELECT max(version) FROM player_data p"
	"                       WHERE p.user_id = users.user_id), 0),"
	"  data_keys = (SELECT count(*) FROM player_data p WHERE p.user_id = users.user_id),"
	"  data_bytes = coalesce((SELECT sum(length(value)) FROM player_data p"
	"                         WHERE p.user_id = users.user_id), 0);",
	/*
	 * 4: many nodes on one database. Each key of a use gets an epoch (its
	 * place in activation order), unique per use: whoever rotates inserts
	 * the current epoch + 1, so two nodes rotating at once cannot both
	 * succeed. Leases let one node at a time run a job (the gauges).
	 */
	"ALTER TABLE signing_keys ADD COLUMN epoch INTEGER NOT NULL DEFAULT 0;"
	"UPDATE signing_keys SET epoch = (SELECT count(*) FROM signing_keys k"
	"  WHERE k.use = signing_keys.use AND (k.activate_at < signing_keys.activate_at"
	"  OR (k.activate_at = signing_keys.activate_at AND k.kid <= signing_keys.kid)));"
	"CREATE UNIQUE INDEX signing_keys_epoch ON signing_keys(use, epoch);"
	"CREATE TABLE leases ("
	"  name TEXT PRIMARY KEY,"
	"  holder TEXT NOT NULL,"
	"  until INTEGER NOT NULL"
	") WITHOUT ROWID;",
	/*
	 * 5: documents in a rowid table, the value last. In a WITHOUT ROWID
	 * table a row is an index entry: past about 1,000 bytes (4 KiB pages)
	 * it spills to overflow pages, which SQLite reads with a pread of its
	 * own, bypassing the page cache, once per column read behind the
	 * value (three for a read of a 1 KiB document). A table leaf holds
	 * rows up to about 4,000 bytes in the page cache.
	 */
	"CREATE TABLE player_data_v5 ("
	"  user_id TEXT NOT NULL REFERENCES users(user_id) ON DELETE CASCADE,"
	"  key TEXT NOT NULL,"
	"  version INTEGER NOT NULL,"
	"  updated_at INTEGER NOT NULL,"
	"  value BLOB NOT NULL"
	");"
	"INSERT INTO player_data_v5 (user_id, key, version, updated_at, value)"
	"  SELECT user_id, key, version, updated_at, value FROM player_data;"
	"DROP TABLE player_data;"
	"ALTER TABLE player_data_v5 RENAME TO player_data;"
	"CREATE UNIQUE INDEX player_data_key ON player_data(user_id, key);",
};

/* Transaction control, for the writer and the readers (store_sqlite_tx_sql order). */
const char *const store_sqlite_tx_sql[TX_COUNT] = {
	[TX_BEGIN] = "BEGIN IMMEDIATE",
	[TX_COMMIT] = "COMMIT",
	[TX_ROLLBACK] = "ROLLBACK",
	[TX_SAVEPOINT] = "SAVEPOINT w",
	[TX_RELEASE] = "RELEASE w",
	[TX_ROLLBACK_TO] = "ROLLBACK TO w",
	[TX_READ_BEGIN] = "BEGIN",
	[TX_READ_END] = "COMMIT",
	[TX_DATA_VERSION] = "PRAGMA data_version",
};

const char *const store_sqlite_query_sql[Q_COUNT] = {
	[Q_PING] = "SELECT 1",
	[Q_USER_GET] = "SELECT guest_secret_hash, created_at, last_seen_at, banned_until "
		       "FROM users WHERE user_id = ?1",
	[Q_USER_SESSION_GET] = "SELECT u.guest_secret_hash, u.created_at, u.last_seen_at, "
			       "u.banned_until, s.session_id IS NOT NULL AND s.ended_at IS NULL "
			       "FROM users u LEFT JOIN sessions s "
			       "ON s.session_id = ?2 AND s.user_id = u.user_id "
			       "WHERE u.user_id = ?1",
	[Q_USER_SESSION_DOC_GET] = "SELECT u.guest_secret_hash, u.created_at, u.last_seen_at, "
				   "u.banned_until, s.session_id IS NOT NULL AND s.ended_at IS NULL, "
				   "d.value, d.version, d.updated_at "
				   "FROM users u LEFT JOIN sessions s "
				   "ON s.session_id = ?2 AND s.user_id = u.user_id "
				   "LEFT JOIN player_data d ON d.user_id = u.user_id AND d.key = ?3 "
				   "WHERE u.user_id = ?1",
	[Q_USER_INSERT] = "INSERT INTO users (user_id, guest_secret_hash, created_at, last_seen_at) "
			  "VALUES (?1, ?2, ?3, ?3)",
	[Q_USER_SEEN] = "UPDATE users SET last_seen_at = ?2 "
			"WHERE user_id = ?1 AND last_seen_at < ?3",
	[Q_SESSION_INSERT] = "INSERT INTO sessions (user_id, access_scope, current_jti, created_at, "
			     "expires_at) VALUES (?1, ?2, ?3, ?4, ?5)",
	[Q_SESSION_GET_LOCKED] = "SELECT s.user_id, s.access_scope, s.current_jti, s.previous_jti, "
			  "s.rotated_at_ms, s.expires_at, s.ended_at, u.banned_until, u.last_seen_at "
			  "FROM sessions s JOIN users u ON u.user_id = s.user_id "
			  "WHERE s.session_id = ?1",
	[Q_SESSION_ROTATE] = "UPDATE sessions SET previous_jti = current_jti, current_jti = ?2, "
			     "rotated_at_ms = ?3 WHERE session_id = ?1",
	[Q_SESSION_REISSUE] = "UPDATE sessions SET current_jti = ?2 WHERE session_id = ?1",
	[Q_SESSION_END] = "UPDATE sessions SET ended_at = ?2, end_reason = ?3 "
			  "WHERE session_id = ?1 AND user_id = ?4 AND ended_at IS NULL "
			  "AND expires_at > ?2",
	[Q_SESSIONS_END_ALL] = "UPDATE sessions SET ended_at = ?2, end_reason = ?3 "
			       "WHERE user_id = ?1 AND ended_at IS NULL AND expires_at > ?2",
	[Q_SESSIONS_LIVE] = "SELECT count(*) FROM sessions "
			    "WHERE user_id = ?1 AND ended_at IS NULL AND expires_at > ?2",
	[Q_SESSIONS_OF] = "SELECT session_id, created_at, expires_at, ended_at, rotated_at_ms "
			  "FROM sessions "
			  "WHERE user_id = ?1 ORDER BY session_id",
	[Q_USER_DELETE] = "DELETE FROM users WHERE user_id = ?1",
	[Q_USER_BAN] = "UPDATE users SET banned_until = ?2 WHERE user_id = ?1",
	[Q_IDENTITIES_OF] = "SELECT provider, subject FROM identities WHERE user_id = ?1 "
			    "ORDER BY provider",
	[Q_DOCS_OF] = "SELECT key, version, updated_at, value FROM player_data "
		      "WHERE user_id = ?1 ORDER BY key",
	[Q_GUEST_CLEANUP] = "DELETE FROM users WHERE user_id IN ("
			    "SELECT u.user_id FROM users u "
			    "WHERE u.guest_secret_hash IS NOT NULL AND u.last_seen_at < ?1 "
			    "AND NOT EXISTS (SELECT 1 FROM identities i WHERE i.user_id = u.user_id) "
			    "ORDER BY u.last_seen_at LIMIT ?2)",
	[Q_COUNT_USERS] = "SELECT count(*) FROM users",
	[Q_COUNT_SESSIONS] = "SELECT count(*) FROM sessions WHERE ended_at IS NULL AND expires_at > ?1",
	[Q_IDENTITY_GET] = "SELECT user_id FROM identities WHERE provider = ?1 AND subject = ?2",
	/* A platform id is claimed once: the loser of a race inserts nothing (changes 0). */
	[Q_IDENTITY_INSERT] = "INSERT INTO identities (provider, subject, user_id, created_at) "
			      "VALUES (?1, ?2, ?3, ?4) ON CONFLICT (provider, subject) DO NOTHING",
	[Q_IDENTITY_DELETE] = "DELETE FROM identities WHERE user_id = ?1 AND provider = ?2",
	[Q_IDENTITY_COUNT] = "SELECT count(*) FROM identities WHERE user_id = ?1",
	[Q_SESSION_PURGE] = "DELETE FROM sessions WHERE session_id IN ("
			    "SELECT session_id FROM sessions WHERE expires_at < ?1 OR ended_at < ?1 "
			    "LIMIT ?2)",
	[Q_KEYS_LIST] = "SELECT kid, use, alg, material, created_at, activate_at, epoch "
			"FROM signing_keys ORDER BY use, activate_at, created_at",
	[Q_KEY_INSERT] = "INSERT INTO signing_keys "
			 "(kid, use, alg, material, created_at, activate_at, epoch) "
			 "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
	[Q_KEY_EPOCH] = "SELECT coalesce(max(epoch), 0) FROM signing_keys WHERE use = ?1",
	[Q_KEYS_NOTIFY] = "SELECT 1 WHERE 0",   /* other processes see data_version move */
	[Q_KEY_DELETE] = "DELETE FROM signing_keys WHERE kid = ?1",
	[Q_KEY_SET_MATERIAL] = "UPDATE signing_keys SET material = ?2 WHERE kid = ?1",
	[Q_DOC_GET] = "SELECT value, version, updated_at FROM player_data "
		      "WHERE user_id = ?1 AND key = ?2",
	/* A BLOB's length() is read from the row's header, not from the value. */
	[Q_DOC_HEAD] = "SELECT length(value), version FROM player_data "
		       "WHERE user_id = ?1 AND key = ?2",
	[Q_DOC_UPSERT] = "INSERT INTO player_data (user_id, key, value, version, updated_at) "
			 "VALUES (?1, ?2, ?3, ?4, ?5) "
			 "ON CONFLICT (user_id, key) DO UPDATE SET value = excluded.value, "
			 "version = excluded.version, updated_at = excluded.updated_at",
	[Q_DOC_DELETE] = "DELETE FROM player_data WHERE user_id = ?1 AND key = ?2",
	[Q_DOC_USAGE_LOCKED] = "SELECT data_seq, data_keys, data_bytes FROM users WHERE user_id = ?1",
	[Q_DOC_USAGE_LOCKED_CHECK] = "SELECT u.data_seq, u.data_keys, u.data_bytes, u.banned_until, "
				     "s.session_id IS NOT NULL AND s.ended_at IS NULL "
				     "FROM users u LEFT JOIN sessions s "
				     "ON s.session_id = ?2 AND s.user_id = u.user_id "
				     "WHERE u.user_id = ?1",
	[Q_DOC_USAGE_SET] = "UPDATE users SET data_seq = ?2, data_keys = ?3, data_bytes = ?4 "
			    "WHERE user_id = ?1",
	[Q_DOC_LIST] = "SELECT key, version, length(value), updated_at FROM player_data "
		       "WHERE user_id = ?1 AND key > ?2 ORDER BY key LIMIT ?3",
	[Q_LEASE_CLAIM] = "INSERT INTO leases (name, holder, until) VALUES (?1, ?2, ?4) "
			  "ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, "
			  "until = excluded.until "
			  "WHERE leases.holder = excluded.holder OR leases.until <= ?3",
	[Q_COPY_COUNTS] = "SELECT (SELECT count(*) FROM users), (SELECT count(*) FROM identities), "
			  "(SELECT count(*) FROM sessions), (SELECT count(*) FROM signing_keys), "
			  "(SELECT count(*) FROM player_data)",
	[Q_COPY_USERS] = "SELECT user_id, guest_secret_hash, created_at, last_seen_at, banned_until, "
			 "data_seq, data_keys, data_bytes FROM users ORDER BY user_id",
	[Q_COPY_USER_PUT] = "INSERT INTO users (user_id, guest_secret_hash, created_at, "
			    "last_seen_at, banned_until, data_seq, data_keys, data_bytes) "
			    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
	[Q_COPY_IDENTITIES] = "SELECT provider, subject, user_id, created_at FROM identities "
			      "ORDER BY provider, subject",
	[Q_COPY_SESSIONS] = "SELECT session_id, user_id, access_scope, current_jti, previous_jti, "
			    "rotated_at_ms, created_at, expires_at, ended_at, end_reason "
			    "FROM sessions ORDER BY session_id",
	[Q_COPY_SESSION_PUT] = "INSERT INTO sessions (session_id, user_id, access_scope, "
			       "current_jti, previous_jti, rotated_at_ms, created_at, expires_at, "
			       "ended_at, end_reason) "
			       "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
	[Q_COPY_DOCS] = "SELECT user_id, key, value, version, updated_at FROM player_data "
			"ORDER BY user_id, key",
	[Q_COPY_FINISH] = "SELECT 1 WHERE 0",
	[Q_DOC_PAGE] = "SELECT key, version, updated_at, value FROM player_data "
		       "WHERE user_id = ?1 AND key > ?2 ORDER BY key LIMIT ?3",
	[Q_USERS_PAGE] = "SELECT u.user_id, u.created_at, u.last_seen_at, u.banned_until, "
			 "CASE WHEN u.guest_secret_hash IS NOT NULL AND NOT EXISTS "
			 "(SELECT 1 FROM identities i WHERE i.user_id = u.user_id) "
			 "THEN 1 ELSE 0 END "
			 "FROM users u WHERE u.created_at > ?1 AND u.created_at < ?2 "
			 "AND (u.created_at > ?3 OR (u.created_at = ?3 AND u.user_id > ?4)) "
			 "ORDER BY u.created_at, u.user_id LIMIT ?5",
	[Q_COUNT_GUESTS] = "SELECT count(*) FROM users u WHERE u.guest_secret_hash IS NOT NULL "
			   "AND NOT EXISTS (SELECT 1 FROM identities i WHERE i.user_id = u.user_id)",
	[Q_COUNT_DOCS] = "SELECT coalesce(sum(data_keys), 0) FROM users",
};
