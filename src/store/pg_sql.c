/*
 * pg_sql.c - the PostgreSQL back end's SQL text: the schema migrations
 * (one entry per schema version, the same logical schema as SQLite's) and
 * the text of every query of backend.h, indexed by enum store_query.
 * User ids are uuid, hashes, key material and documents bytea (stored
 * byte-exact, never jsonb), times bigint seconds; keys compare bytewise
 * (COLLATE "C"), as in SQLite. The rows a write decides on are locked
 * (FOR UPDATE): sessions for a refresh, the user's usage row for documents.
 */
#include "pg_int.h"

const char *const store_pg_migrations[STORE_SCHEMA_VERSION] = {
	/* 1: the initial schema */
	"CREATE TABLE users ("
	"  user_id uuid PRIMARY KEY,"
	"  guest_secret_hash bytea,"
	"  created_at bigint NOT NULL,"
	"  last_seen_at bigint NOT NULL,"
	"  banned_until bigint"
	");"
	"CREATE TABLE identities ("
	"  provider text COLLATE \"C\" NOT NULL,"
	"  subject text COLLATE \"C\" NOT NULL,"
	"  user_id uuid NOT NULL REFERENCES users(user_id) ON DELETE CASCADE,"
	"  created_at bigint NOT NULL,"
	"  PRIMARY KEY (provider, subject),"
	"  UNIQUE (user_id, provider)"
	");"
	"CREATE TABLE sessions ("
	"  session_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
	"  user_id uuid NOT NULL REFERENCES users(user_id) ON DELETE CASCADE,"
	"  access_scope text NOT NULL,"
	"  current_jti text NOT NULL,"
	"  previous_jti text,"
	"  rotated_at_ms bigint,"
	"  created_at bigint NOT NULL,"
	"  expires_at bigint NOT NULL,"
	"  ended_at bigint,"
	"  end_reason text"
	");"
	"CREATE INDEX sessions_by_user ON sessions(user_id);"
	"CREATE TABLE signing_keys ("
	"  kid text COLLATE \"C\" PRIMARY KEY,"
	"  use text NOT NULL CHECK (use IN ('access', 'refresh')),"
	"  alg text NOT NULL,"
	"  material bytea NOT NULL,"
	"  created_at bigint NOT NULL,"
	"  activate_at bigint NOT NULL"
	");"
	"CREATE TABLE player_data ("
	"  user_id uuid NOT NULL REFERENCES users(user_id) ON DELETE CASCADE,"
	"  key text COLLATE \"C\" NOT NULL,"
	"  value bytea NOT NULL,"
	"  version bigint NOT NULL,"
	"  updated_at bigint NOT NULL,"
	"  PRIMARY KEY (user_id, key)"
	");",
	/* 2: guest clean-up walks idle guests in last_seen_at order */
	"CREATE INDEX users_idle_guests ON users(last_seen_at) "
	"WHERE guest_secret_hash IS NOT NULL;",
	/* 3: versioned player storage: the per-user sequence and usage for the quotas */
	"ALTER TABLE users ADD COLUMN data_seq bigint NOT NULL DEFAULT 0,"
	"  ADD COLUMN data_keys bigint NOT NULL DEFAULT 0,"
	"  ADD COLUMN data_bytes bigint NOT NULL DEFAULT 0;"
	"UPDATE users SET"
	"  data_seq = coalesce((SELECT max(version) FROM player_data p"
	"                       WHERE p.user_id = users.user_id), 0),"
	"  data_keys = (SELECT count(*) FROM player_data p WHERE p.user_id = users.user_id),"
	"  data_bytes = coalesce((SELECT sum(octet_length(value)) FROM player_data p"
	"                         WHERE p.user_id = users.user_id), 0);",
	/*
	 * 4: many nodes on one database: key epochs, unique per use (of two
	 * nodes rotating at once the second insert conflicts), and leases (one
	 * node at a time runs a job).
	 */
	"ALTER TABLE signing_keys ADD COLUMN epoch bigint NOT NULL DEFAULT 0;"
	"UPDATE signing_keys k SET epoch = r.n FROM (SELECT kid, row_number() OVER "
	"  (PARTITION BY use ORDER BY activate_at, kid) AS n FROM signing_keys) r "
	"  WHERE r.kid = k.kid;"
	"CREATE UNIQUE INDEX signing_keys_epoch ON signing_keys(use, epoch);"
	"CREATE TABLE leases ("
	"  name text COLLATE \"C\" PRIMARY KEY,"
	"  holder text NOT NULL,"
	"  until bigint NOT NULL"
	");",
	/*
	 * 5: the SQLite back end's documents move to a rowid table (its
	 * WITHOUT ROWID rows spilled to overflow pages); a PostgreSQL row of
	 * up to about 2 KiB is stored inline already, so nothing changes.
	 */
	"SELECT 1;",
};

const unsigned char store_pg_uuid_param[Q_COUNT] = {
	[Q_USER_GET] = 1, [Q_USER_SESSION_GET] = 1, [Q_USER_SESSION_DOC_GET] = 1,
	[Q_USER_INSERT] = 1, [Q_USER_SEEN] = 1,
	[Q_SESSION_INSERT] = 1, [Q_SESSION_END] = 4, [Q_SESSIONS_END_ALL] = 1,
	[Q_SESSIONS_LIVE] = 1, [Q_SESSIONS_OF] = 1, [Q_USER_DELETE] = 1, [Q_USER_BAN] = 1,
	[Q_IDENTITIES_OF] = 1, [Q_DOCS_OF] = 1, [Q_IDENTITY_INSERT] = 3, [Q_IDENTITY_DELETE] = 1,
	[Q_IDENTITY_COUNT] = 1, [Q_DOC_GET] = 1, [Q_DOC_HEAD] = 1, [Q_DOC_UPSERT] = 1, [Q_DOC_DELETE] = 1,
	[Q_DOC_USAGE_LOCKED] = 1, [Q_DOC_USAGE_LOCKED_CHECK] = 1, [Q_DOC_USAGE_SET] = 1, [Q_DOC_LIST] = 1, [Q_DOC_PAGE] = 1,
	[Q_COPY_USER_PUT] = 1, [Q_COPY_SESSION_PUT] = 2,
};

const char *const store_pg_query_sql[Q_COUNT] = {
	[Q_PING] = "SELECT 1",
	[Q_USER_GET] = "SELECT guest_secret_hash, created_at, last_seen_at, banned_until "
		       "FROM users WHERE user_id = $1",
	[Q_USER_SESSION_GET] = "SELECT u.guest_secret_hash, u.created_at, u.last_seen_at, "
			       "u.banned_until, s.session_id IS NOT NULL AND s.ended_at IS NULL "
			       "FROM users u LEFT JOIN sessions s "
			       "ON s.session_id = $2::bigint AND s.user_id = u.user_id "
			       "WHERE u.user_id = $1",
	[Q_USER_SESSION_DOC_GET] = "SELECT u.guest_secret_hash, u.created_at, u.last_seen_at, "
				   "u.banned_until, s.session_id IS NOT NULL AND s.ended_at IS NULL, "
				   "d.value, d.version, d.updated_at "
				   "FROM users u LEFT JOIN sessions s "
				   "ON s.session_id = $2::bigint AND s.user_id = u.user_id "
				   "LEFT JOIN player_data d ON d.user_id = u.user_id AND d.key = $3 "
				   "WHERE u.user_id = $1",
	[Q_USER_INSERT] = "INSERT INTO users (user_id, guest_secret_hash, created_at, last_seen_at) "
			  "VALUES ($1, $2, $3::bigint, $3::bigint)",
	[Q_USER_SEEN] = "UPDATE users SET last_seen_at = $2::bigint "
			"WHERE user_id = $1 AND last_seen_at < $3::bigint",
	[Q_SESSION_INSERT] = "INSERT INTO sessions (user_id, access_scope, current_jti, created_at, "
			     "expires_at) VALUES ($1, $2, $3, $4::bigint, $5::bigint) "
			     "RETURNING session_id",
	[Q_SESSION_GET_LOCKED] = "SELECT s.user_id::text, s.access_scope, s.current_jti, "
			  "s.previous_jti, s.rotated_at_ms, s.expires_at, s.ended_at, u.banned_until, "
			  "u.last_seen_at "
			  "FROM sessions s JOIN users u ON u.user_id = s.user_id "
			  "WHERE s.session_id = $1::bigint FOR UPDATE OF s",
	[Q_SESSION_ROTATE] = "UPDATE sessions SET previous_jti = current_jti, current_jti = $2, "
			     "rotated_at_ms = $3::bigint WHERE session_id = $1::bigint",
	[Q_SESSION_REISSUE] = "UPDATE sessions SET current_jti = $2 WHERE session_id = $1::bigint",
	[Q_SESSION_END] = "UPDATE sessions SET ended_at = $2::bigint, end_reason = $3 "
			  "WHERE session_id = $1::bigint AND user_id = $4 AND ended_at IS NULL "
			  "AND expires_at > $2::bigint",
	[Q_SESSIONS_END_ALL] = "UPDATE sessions SET ended_at = $2::bigint, end_reason = $3 "
			       "WHERE user_id = $1 AND ended_at IS NULL AND expires_at > $2::bigint",
	[Q_SESSIONS_LIVE] = "SELECT count(*) FROM sessions "
			    "WHERE user_id = $1 AND ended_at IS NULL AND expires_at > $2::bigint",
	[Q_SESSIONS_OF] = "SELECT session_id, created_at, expires_at, ended_at, rotated_at_ms "
			  "FROM sessions "
			  "WHERE user_id = $1 ORDER BY session_id",
	[Q_USER_DELETE] = "DELETE FROM users WHERE user_id = $1",
	[Q_USER_BAN] = "UPDATE users SET banned_until = $2::bigint WHERE user_id = $1",
	[Q_IDENTITIES_OF] = "SELECT provider, subject FROM identities WHERE user_id = $1 "
			    "ORDER BY provider",
	[Q_DOCS_OF] = "SELECT key, version, updated_at, value FROM player_data "
		      "WHERE user_id = $1 ORDER BY key",
	[Q_GUEST_CLEANUP] = "DELETE FROM users WHERE user_id IN ("
			    "SELECT u.user_id FROM users u "
			    "WHERE u.guest_secret_hash IS NOT NULL AND u.last_seen_at < $1::bigint "
			    "AND NOT EXISTS (SELECT 1 FROM identities i WHERE i.user_id = u.user_id) "
			    "ORDER BY u.last_seen_at LIMIT $2::bigint FOR UPDATE SKIP LOCKED)",
	[Q_COUNT_USERS] = "SELECT count(*) FROM users",
	[Q_COUNT_SESSIONS] = "SELECT count(*) FROM sessions "
			     "WHERE ended_at IS NULL AND expires_at > $1::bigint",
	[Q_IDENTITY_GET] = "SELECT user_id::text FROM identities WHERE provider = $1 AND subject = $2",
	/* A platform id is claimed once: the loser of a race inserts nothing (changes 0). */
	[Q_IDENTITY_INSERT] = "INSERT INTO identities (provider, subject, user_id, created_at) "
			      "VALUES ($1, $2, $3, $4::bigint) "
			      "ON CONFLICT (provider, subject) DO NOTHING",
	[Q_IDENTITY_DELETE] = "DELETE FROM identities WHERE user_id = $1 AND provider = $2",
	[Q_IDENTITY_COUNT] = "SELECT count(*) FROM identities WHERE user_id = $1",
	/* Nodes purging at once take disjoint batches rather than wait on each other. */
	[Q_SESSION_PURGE] = "DELETE FROM sessions WHERE session_id IN ("
			    "SELECT session_id FROM sessions WHERE expires_at < $1::bigint "
			    "OR ended_at < $1::bigint LIMIT $2::bigint FOR UPDATE SKIP LOCKED)",
	[Q_KEYS_LIST] = "SELECT kid, use, alg, material, created_at, activate_at, epoch "
			"FROM signing_keys ORDER BY use, activate_at, created_at",
	[Q_KEY_INSERT] = "INSERT INTO signing_keys "
			 "(kid, use, alg, material, created_at, activate_at, epoch) "
			 "VALUES ($1, $2, $3, $4, $5::bigint, $6::bigint, $7::bigint)",
	[Q_KEY_EPOCH] = "SELECT coalesce(max(epoch), 0) FROM signing_keys WHERE use = $1",
	/* Delivered to every listening node when the key write commits. */
	[Q_KEYS_NOTIFY] = "SELECT pg_notify('gatehouse_keys', '')",
	[Q_KEY_DELETE] = "DELETE FROM signing_keys WHERE kid = $1",
	[Q_KEY_SET_MATERIAL] = "UPDATE signing_keys SET material = $2 WHERE kid = $1",
	[Q_DOC_GET] = "SELECT value, version, updated_at FROM player_data "
		      "WHERE user_id = $1 AND key = $2",
	[Q_DOC_HEAD] = "SELECT octet_length(value), version FROM player_data "
		       "WHERE user_id = $1 AND key = $2",
	[Q_DOC_UPSERT] = "INSERT INTO player_data (user_id, key, value, version, updated_at) "
			 "VALUES ($1, $2, $3, $4::bigint, $5::bigint) "
			 "ON CONFLICT (user_id, key) DO UPDATE SET value = excluded.value, "
			 "version = excluded.version, updated_at = excluded.updated_at",
	[Q_DOC_DELETE] = "DELETE FROM player_data WHERE user_id = $1 AND key = $2",
	[Q_DOC_USAGE_LOCKED] = "SELECT data_seq, data_keys, data_bytes FROM users "
			       "WHERE user_id = $1 FOR UPDATE",
	[Q_DOC_USAGE_LOCKED_CHECK] = "SELECT u.data_seq, u.data_keys, u.data_bytes, u.banned_until, "
				     "s.session_id IS NOT NULL AND s.ended_at IS NULL "
				     "FROM users u LEFT JOIN sessions s "
				     "ON s.session_id = $2::bigint AND s.user_id = u.user_id "
				     "WHERE u.user_id = $1 FOR UPDATE OF u",
	[Q_DOC_USAGE_SET] = "UPDATE users SET data_seq = $2::bigint, data_keys = $3::bigint, "
			    "data_bytes = $4::bigint WHERE user_id = $1",
	[Q_DOC_LIST] = "SELECT key, version, octet_length(value), updated_at FROM player_data "
		       "WHERE user_id = $1 AND key > $2 ORDER BY key LIMIT $3::bigint",
	/* The admin API's reads (search.c). */
	[Q_DOC_PAGE] = "SELECT key, version, updated_at, value FROM player_data "
		       "WHERE user_id = $1 AND key > $2 ORDER BY key LIMIT $3::bigint",
	/* The cursor's user id is a checked uuid, or '' on the first page (then NULL). */
	[Q_USERS_PAGE] = "SELECT u.user_id::text, u.created_at, u.last_seen_at, u.banned_until, "
			 "CASE WHEN u.guest_secret_hash IS NOT NULL AND NOT EXISTS "
			 "(SELECT 1 FROM identities i WHERE i.user_id = u.user_id) "
			 "THEN 1 ELSE 0 END "
			 "FROM users u WHERE u.created_at > $1::bigint AND u.created_at < $2::bigint "
			 "AND (u.created_at > $3::bigint OR (u.created_at = $3::bigint "
			 "AND u.user_id > NULLIF($4, '')::uuid)) "
			 "ORDER BY u.created_at, u.user_id LIMIT $5::bigint",
	[Q_COUNT_GUESTS] = "SELECT count(*) FROM users u WHERE u.guest_secret_hash IS NOT NULL "
			   "AND NOT EXISTS (SELECT 1 FROM identities i WHERE i.user_id = u.user_id)",
	[Q_COUNT_DOCS] = "SELECT coalesce(sum(data_keys), 0)::bigint FROM users",
	[Q_LEASE_CLAIM] = "INSERT INTO leases (name, holder, until) VALUES ($1, $2, $4::bigint) "
			  "ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, "
			  "until = excluded.until "
			  "WHERE leases.holder = excluded.holder OR leases.until <= $3::bigint",
	[Q_COPY_COUNTS] = "SELECT (SELECT count(*) FROM users), (SELECT count(*) FROM identities), "
			  "(SELECT count(*) FROM sessions), (SELECT count(*) FROM signing_keys), "
			  "(SELECT count(*) FROM player_data)",
	[Q_COPY_USERS] = "SELECT user_id::text, guest_secret_hash, created_at, last_seen_at, "
			 "banned_until, data_seq, data_keys, data_bytes FROM users ORDER BY user_id",
	[Q_COPY_USER_PUT] = "INSERT INTO users (user_id, guest_secret_hash, created_at, "
			    "last_seen_at, banned_until, data_seq, data_keys, data_bytes) "
			    "VALUES ($1, $2, $3::bigint, $4::bigint, $5::bigint, $6::bigint, "
			    "$7::bigint, $8::bigint)",
	[Q_COPY_IDENTITIES] = "SELECT provider, subject, user_id::text, created_at FROM identities "
			      "ORDER BY provider, subject",
	[Q_COPY_SESSIONS] = "SELECT session_id, user_id::text, access_scope, current_jti, "
			    "previous_jti, rotated_at_ms, created_at, expires_at, ended_at, "
			    "end_reason FROM sessions ORDER BY session_id",
	[Q_COPY_SESSION_PUT] = "INSERT INTO sessions (session_id, user_id, access_scope, "
			       "current_jti, previous_jti, rotated_at_ms, created_at, expires_at, "
			       "ended_at, end_reason) OVERRIDING SYSTEM VALUE "
			       "VALUES ($1::bigint, $2, $3, $4, $5, $6::bigint, $7::bigint, "
			       "$8::bigint, $9::bigint, $10)",
	[Q_COPY_DOCS] = "SELECT user_id::text, key, value, version, updated_at FROM player_data "
			"ORDER BY user_id, key",
	/* New sessions follow the copied ids. */
	[Q_COPY_FINISH] = "SELECT setval(pg_get_serial_sequence('sessions', 'session_id'), "
			  "coalesce(max(session_id), 0) + 1, false) FROM sessions",
};
