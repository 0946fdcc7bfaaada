/*
 * test_config.c - config_load as an operator meets it: defaults, the file,
 * GATEHOUSE_<NAME> and --set in that order of precedence, errors that name
 * their origin (file:line), derived issuer_url, cross-setting checks, and a
 * generated sample file that loads back to the defaults.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gatehouse/config.h"
#include "gatehouse/log.h"
#include "gatehouse/alloc.h"
#include "gatehouse/strbuf.h"
#include "gatehouse/store.h"
#include "gatehouse/store_sqlite.h"
#include "harness.h"
#include "fixtures.h"


static char tmp_path[64];

/* Writes text to a fresh temp file; returns its path (static buffer). */
static const char *write_conf(const char *text)
{
	snprintf(tmp_path, sizeof tmp_path, "/tmp/gh-unit-conf-XXXXXX");
	int fd = mkstemp(tmp_path);
	if (fd < 0) {
		perror("mkstemp");
		exit(2);
	}
	FILE *f = fdopen(fd, "w");
	fputs(text, f);
	fclose(f);
	return tmp_path;
}

static void drop_conf(void)
{
	unlink(tmp_path);
}

/* Loads file (may be NULL) with sets; returns rc, err in errbuf. */
static int load(struct config *cfg, const char *file, char *const *sets, int nsets,
		char *errbuf, size_t errlen)
{
	errbuf[0] = '\0';
	return config_load(cfg, file, sets, nsets, errbuf, errlen);
}

/* True when err mentions "<path>:<line>". */
static bool names_line(const char *err, const char *path, int line)
{
	char want[128];
	snprintf(want, sizeof want, "%s:%d", path, line);
	return strstr(err, want) != NULL;
}

TEST(defaults)
{
	struct config cfg;
	char err[512];
	CHECK_INT(load(&cfg, NULL, NULL, 0, err, sizeof err), 0);
	CHECK_STR(cfg.listen_address, "127.0.0.1");
	CHECK_INT(cfg.listen_port, 8080);
	CHECK_STR(cfg.base_path, "");
	CHECK_STR(cfg.issuer_url, "http://127.0.0.1:8080");
	CHECK_STR(cfg.cors_allow_origin, "*");
	CHECK_INT(cfg.max_url_size, 8192);
	CHECK_INT(cfg.max_header_size, 16384);
	CHECK_INT(cfg.max_body_size, 65536);
	CHECK_INT(cfg.max_connections, 10000);
	CHECK_INT(cfg.max_connections_per_ip, 256);
	CHECK_INT(cfg.idle_timeout, 30);
	CHECK_INT(cfg.http_threads, 0);
	CHECK_INT(cfg.shutdown_timeout, 10);
	CHECK_STR(cfg.database_path, "./var/gatehouse.db");
	CHECK_INT(cfg.sqlite_synchronous, SYNC_FULL);
	CHECK_INT(cfg.sqlite_busy_timeout, 5);
	CHECK_INT(cfg.sqlite_cache_size, STORE_SQLITE_CACHE_BYTES);
	CHECK_INT(cfg.signing_alg, ALG_RS256);
	CHECK_INT(cfg.access_token_ttl, 900);
	CHECK_INT(cfg.refresh_token_ttl, 6 * 86400);
	CHECK_INT(cfg.refresh_reuse_grace, 10);
	CHECK_INT(cfg.key_rotation_interval, 7 * 86400);
	CHECK_INT(cfg.key_prepublish, 86400);
	CHECK_INT(cfg.jwks_max_age, 3600);
	CHECK_INT(cfg.log_level, LOG_INFO);
	CHECK_INT(cfg.log_format, LOG_FORMAT_TEXT);
	CHECK(cfg.access_log);
	CHECK_STR(config_alg_name(cfg.signing_alg), "RS256");
	config_release(&cfg);
}

TEST(file_values)
{
	const char *path = write_conf(
		"# a comment\n"
		"\n"
		"   # an indented comment\n"
		"listen_port 9000\n"
		"listen_address\t0.0.0.0\n"
		"  base_path   /prod  \n"
		"signing_alg ES256\r\n"
		"access_token_ttl 15m\n"
		"refresh_token_ttl 2d\n"
		"max_body_size 1MiB\n"
		"access_log off\n"
		"sqlite_synchronous normal\n"
		"sqlite_cache_size 16MiB\n"
		"log_level warn\n"
		"log_format json\n"
		"cors_allow_origin \"https://game.example\"\n"
		"database_path /var/lib/gatehouse/db with space.db\n"
		"key_rotation_interval 1d\n"
		"key_prepublish 2h\n");
	struct config cfg;
	char err[512];
	int rc = load(&cfg, path, NULL, 0, err, sizeof err);
	CHECK_INT(rc, 0);
	if (rc)
		fprintf(stderr, "  %s\n", err);
	CHECK_INT(cfg.listen_port, 9000);
	CHECK_STR(cfg.listen_address, "0.0.0.0");
	CHECK_STR(cfg.base_path, "/prod");
	CHECK_STR(cfg.issuer_url, "http://0.0.0.0:9000/prod");
	CHECK_INT(cfg.signing_alg, ALG_ES256);
	CHECK_STR(config_alg_name(cfg.signing_alg), "ES256");
	CHECK_INT(cfg.access_token_ttl, 900);
	CHECK_INT(cfg.refresh_token_ttl, 2 * 86400);
	CHECK_INT(cfg.max_body_size, 1048576);
	CHECK(!cfg.access_log);
	CHECK_INT(cfg.sqlite_synchronous, SYNC_NORMAL);
	CHECK_INT(cfg.sqlite_cache_size, 16 * 1048576);
	CHECK_INT(cfg.log_level, LOG_WARN);
	CHECK_INT(cfg.log_format, LOG_FORMAT_JSON);
	CHECK_STR(cfg.cors_allow_origin, "https://game.example");
	CHECK_STR(cfg.database_path, "/var/lib/gatehouse/db with space.db");
	CHECK_INT(cfg.key_rotation_interval, 86400);
	CHECK_INT(cfg.key_prepublish, 7200);
	/* Untouched settings keep their defaults. */
	CHECK_INT(cfg.max_url_size, 8192);
	config_release(&cfg);
	drop_conf();
}

TEST(later_line_wins_and_empty_value)
{
	const char *path = write_conf("base_path /x\n"
				      "base_path \"\"\n"
				      "issuer_url \"\"\n");
	struct config cfg;
	char err[512];
	CHECK_INT(load(&cfg, path, NULL, 0, err, sizeof err), 0);
	CHECK_STR(cfg.base_path, "");
	/* An empty issuer_url is derived, never left empty. */
	CHECK_STR(cfg.issuer_url, "http://127.0.0.1:8080");
	config_release(&cfg);
	drop_conf();
}

TEST(missing_file)
{
	struct config cfg;
	char err[512];
	CHECK_INT(load(&cfg, "/nonexistent/gatehouse-unit.conf", NULL, 0, err, sizeof err), -1);
	CHECK(strstr(err, "/nonexistent/gatehouse-unit.conf") != NULL);
	config_release(&cfg);
}

TEST(unknown_key_names_file_line_and_key)
{
	const char *path = write_conf("listen_port 9000\n"
				      "# comment\n"
				      "listen_prot 9001\n"
				      "listen_port 9002\n");
	struct config cfg;
	char err[512];
	CHECK_INT(load(&cfg, path, NULL, 0, err, sizeof err), -1);
	CHECK(names_line(err, path, 3));
	CHECK(strstr(err, "listen_prot") != NULL);
	config_release(&cfg);
	drop_conf();
}

TEST(out_of_range_names_file_line)
{
	static const char *const cases[] = {
		"listen_port 70000\n", "listen_port 0\n", "access_token_ttl 59\n",
		"access_token_ttl 2d\n", "max_body_size 100\n", "max_body_size 1GiB\n",
		"refresh_reuse_grace 301\n", "key_rotation_interval 5\n",
		"max_connections 15\n", "sqlite_cache_size 100KiB\n", "sqlite_cache_size 2GiB\n",
	};
	for (size_t i = 0; i < GH_ARRAY_SIZE(cases); i++) {
		struct strbuf sb = STRBUF_INIT;
		sb_adds(&sb, "# header\nlog_level info\n");
		sb_adds(&sb, cases[i]);
		const char *path = write_conf(sb.buf);
		struct config cfg;
		char err[512];
		int rc = load(&cfg, path, NULL, 0, err, sizeof err);
		CHECK_INT(rc, -1);
		CHECK(names_line(err, path, 3));
		size_t nlen = strcspn(cases[i], " ");
		char name[64];
		snprintf(name, sizeof name, "%.*s", (int)nlen, cases[i]);
		CHECK(strstr(err, name) != NULL);
		if (!rc || !names_line(err, path, 3))
			fprintf(stderr, "  case %s  err: %s\n", cases[i], err);
		config_release(&cfg);
		drop_conf();
		sb_release(&sb);
	}
}

TEST(bad_types_name_file_line)
{
	static const char *const cases[] = {
		"signing_alg HS256\n", "signing_alg rs256\n", "signing_alg none\n",
		"access_log maybe\n", "access_log\n", "access_token_ttl 15x\n",
		"access_token_ttl -5\n", "access_token_ttl 1.5h\n", "listen_port 80a\n",
		"listen_port\n", "max_body_size 64kb\n", "sqlite_synchronous off\n",
		"log_level verbose\n",
	};
	for (size_t i = 0; i < GH_ARRAY_SIZE(cases); i++) {
		struct strbuf sb = STRBUF_INIT;
		sb_adds(&sb, "listen_port 9000\n");
		sb_adds(&sb, cases[i]);
		const char *path = write_conf(sb.buf);
		struct config cfg;
		char err[512];
		int rc = load(&cfg, path, NULL, 0, err, sizeof err);
		CHECK_INT(rc, -1);
		CHECK(names_line(err, path, 2));
		if (!rc || !names_line(err, path, 2))
			fprintf(stderr, "  case %s  err: %s\n", cases[i], err);
		config_release(&cfg);
		drop_conf();
		sb_release(&sb);
	}
}

TEST(bool_spellings)
{
	static const struct {
		const char *v;
		bool want;
	} cases[] = {
		{ "on", true }, { "true", true }, { "yes", true }, { "1", true },
		{ "off", false }, { "false", false }, { "no", false }, { "0", false },
	};
	for (size_t i = 0; i < GH_ARRAY_SIZE(cases); i++) {
		char set[64];
		snprintf(set, sizeof set, "access_log=%s", cases[i].v);
		char *sets[] = { set };
		struct config cfg;
		char err[512];
		CHECK_INT(load(&cfg, NULL, sets, 1, err, sizeof err), 0);
		CHECK_INT(cfg.access_log, cases[i].want);
		config_release(&cfg);
	}
}

TEST(env_override)
{
	fixture_clear_env();
	setenv("GATEHOUSE_LISTEN_PORT", "9100", 1);
	setenv("GATEHOUSE_SIGNING_ALG", "ES256", 1);
	setenv("GATEHOUSE_ACCESS_TOKEN_TTL", "10m", 1);
	struct config cfg;
	char err[512];
	CHECK_INT(load(&cfg, NULL, NULL, 0, err, sizeof err), 0);
	CHECK_INT(cfg.listen_port, 9100);
	CHECK_INT(cfg.signing_alg, ALG_ES256);
	CHECK_INT(cfg.access_token_ttl, 600);
	CHECK_STR(cfg.issuer_url, "http://127.0.0.1:9100");
	config_release(&cfg);

	/* A bad value from the environment names the variable. */
	setenv("GATEHOUSE_LISTEN_PORT", "99999", 1);
	CHECK_INT(load(&cfg, NULL, NULL, 0, err, sizeof err), -1);
	CHECK(strstr(err, "GATEHOUSE_LISTEN_PORT") != NULL);
	config_release(&cfg);
	fixture_clear_env();

	/* Unset again: back to the default. */
	CHECK_INT(load(&cfg, NULL, NULL, 0, err, sizeof err), 0);
	CHECK_INT(cfg.listen_port, 8080);
	CHECK_INT(cfg.signing_alg, ALG_RS256);
	config_release(&cfg);
}

TEST(precedence_set_env_file)
{
	fixture_clear_env();
	const char *path = write_conf("listen_port 9000\n"
				      "access_token_ttl 120\n"
				      "jwks_max_age 60\n");
	struct config cfg;
	char err[512];

	CHECK_INT(load(&cfg, path, NULL, 0, err, sizeof err), 0);
	CHECK_INT(cfg.listen_port, 9000);
	config_release(&cfg);

	setenv("GATEHOUSE_LISTEN_PORT", "9100", 1);
	setenv("GATEHOUSE_ACCESS_TOKEN_TTL", "240", 1);
	CHECK_INT(load(&cfg, path, NULL, 0, err, sizeof err), 0);
	CHECK_INT(cfg.listen_port, 9100);         /* env beats file */
	CHECK_INT(cfg.access_token_ttl, 240);
	CHECK_INT(cfg.jwks_max_age, 60);          /* file beats default */
	config_release(&cfg);

	char s1[] = "listen_port=9200";
	char *sets[] = { s1 };
	CHECK_INT(load(&cfg, path, sets, 1, err, sizeof err), 0);
	CHECK_INT(cfg.listen_port, 9200);         /* --set beats env */
	CHECK_INT(cfg.access_token_ttl, 240);     /* env still beats file */
	CHECK_STR(cfg.issuer_url, "http://127.0.0.1:9200");
	config_release(&cfg);

	/* Of two --set, the later wins. */
	char s2[] = "listen_port=9300";
	char *sets2[] = { s1, s2 };
	CHECK_INT(load(&cfg, path, sets2, 2, err, sizeof err), 0);
	CHECK_INT(cfg.listen_port, 9300);
	config_release(&cfg);

	fixture_clear_env();
	drop_conf();
}

/* config_is_default: against the table's default, as written (one place for defaults). */
TEST(is_default)
{
	fixture_clear_env();
	struct config cfg;
	char err[512];
	CHECK_INT(load(&cfg, NULL, NULL, 0, err, sizeof err), 0);
	CHECK(config_is_default(&cfg, "sqlite_cache_size"));
	CHECK(config_is_default(&cfg, "sqlite_busy_timeout"));
	CHECK(config_is_default(&cfg, "group_commit"));
	CHECK(config_is_default(&cfg, "listen_address"));
	CHECK(config_is_default(&cfg, "no_such_setting"));
	config_release(&cfg);

	/* The default spelled otherwise is still the default. */
	char a1[] = "sqlite_cache_size=4194304", a2[] = "sqlite_busy_timeout=5",
	     a3[] = "group_commit=yes", a4[] = "listen_address=127.0.0.1";
	char *same[] = { a1, a2, a3, a4 };
	CHECK_INT(load(&cfg, NULL, same, 4, err, sizeof err), 0);
	if (*err)
		fprintf(stderr, "  %s\n", err);
	CHECK(config_is_default(&cfg, "sqlite_cache_size"));
	CHECK(config_is_default(&cfg, "sqlite_busy_timeout"));
	CHECK(config_is_default(&cfg, "group_commit"));
	CHECK(config_is_default(&cfg, "listen_address"));
	config_release(&cfg);

	char b1[] = "sqlite_cache_size=8MiB", b2[] = "sqlite_busy_timeout=6s",
	     b3[] = "group_commit=off", b4[] = "listen_address=0.0.0.0",
	     b5[] = "sqlite_synchronous=normal";
	char *other[] = { b1, b2, b3, b4, b5 };
	CHECK_INT(load(&cfg, NULL, other, 5, err, sizeof err), 0);
	CHECK(!config_is_default(&cfg, "sqlite_cache_size"));
	CHECK(!config_is_default(&cfg, "sqlite_busy_timeout"));
	CHECK(!config_is_default(&cfg, "group_commit"));
	CHECK(!config_is_default(&cfg, "listen_address"));
	CHECK(!config_is_default(&cfg, "sqlite_synchronous"));
	config_release(&cfg);
	fixture_clear_env();
}

TEST(set_errors)
{
	struct config cfg;
	char err[512];
	char a[] = "listen_port";
	char *s1[] = { a };
	CHECK_INT(load(&cfg, NULL, s1, 1, err, sizeof err), -1);
	CHECK(strstr(err, "--set") != NULL);
	config_release(&cfg);

	char b[] = "no_such_setting=1";
	char *s2[] = { b };
	CHECK_INT(load(&cfg, NULL, s2, 1, err, sizeof err), -1);
	CHECK(strstr(err, "no_such_setting") != NULL);
	config_release(&cfg);

	char c[] = "listen_port=abc";
	char *s3[] = { c };
	CHECK_INT(load(&cfg, NULL, s3, 1, err, sizeof err), -1);
	CHECK(strstr(err, "listen_port") != NULL);
	config_release(&cfg);

	/* A name that is a prefix of a real one is not that one. */
	char d[] = "listen=1";
	char *s4[] = { d };
	CHECK_INT(load(&cfg, NULL, s4, 1, err, sizeof err), -1);
	config_release(&cfg);
}

/* database: a path (SQLite, the same as database_path) or a URI; the password never shown. */
TEST(database_forms_and_redaction)
{
	static const char *const redact[][2] = {
		{ "postgres://gh:s3cret@db1/gh", "postgres://gh:***@db1/gh" },
		{ "postgresql://gh:s3cret@db1:5432,db2:5433/gh?target_session_attrs=read-write",
		  "postgresql://gh:***@db1:5432,db2:5433/gh?target_session_attrs=read-write" },
		{ "postgres://gh@db/gh?sslmode=require&password=s3cret&x=1",
		  "postgres://gh@db/gh?sslmode=require&password=***&x=1" },
		{ "postgres://gh:s3cret@db/gh?password=s3cret", "postgres://gh:***@db/gh?password=***" },
		{ "postgres://db/gh", "postgres://db/gh" },
		{ "./var/gatehouse.db", "./var/gatehouse.db" },
	};
	for (size_t i = 0; i < GH_ARRAY_SIZE(redact); i++) {
		char *r = store_database_redacted(redact[i][0]);
		CHECK_STR(r, redact[i][1]);
		free(r);
	}
	CHECK(store_database_is_url("postgres://x/y"));
	CHECK(store_database_is_url("postgresql://x/y"));
	CHECK(!store_database_is_url("/var/lib/gatehouse/postgres://x"));

	struct config cfg;
	char err[512];
	/* Neither set: database is database_path's default. */
	CHECK_INT(load(&cfg, NULL, NULL, 0, err, sizeof err), 0);
	CHECK_STR(cfg.database, "./var/gatehouse.db");
	CHECK(!config_database_is_pg(&cfg));
	config_release(&cfg);
	/* A file path in database is the SQLite file. */
	char a[] = "database=/tmp/x.db";
	char *s1[] = { a };
	CHECK_INT(load(&cfg, NULL, s1, 1, err, sizeof err), 0);
	CHECK_STR(cfg.database_path, "/tmp/x.db");
	config_release(&cfg);
	/* Both, different: an error; a URI and a SQLite path too, without the password. */
	char b[] = "database_path=/tmp/y.db";
	char *s2[] = { a, b };
	CHECK_INT(load(&cfg, NULL, s2, 2, err, sizeof err), -1);
	CHECK(strstr(err, "database_path") != NULL);
	config_release(&cfg);
	char c[] = "database=postgres://gh:s3cret@db/gh";
	char *s3[] = { c, b };
	CHECK_INT(load(&cfg, NULL, s3, 2, err, sizeof err), -1);
	CHECK(strstr(err, "s3cret") == NULL);
	CHECK(strstr(err, "gh:***@") != NULL);
	config_release(&cfg);
	/* A URI alone: PostgreSQL, shown without its password. */
	char *s4[] = { c };
	CHECK_INT(load(&cfg, NULL, s4, 1, err, sizeof err), 0);
	CHECK(config_database_is_pg(&cfg));
	CHECK_INT(cfg.database_pool_size, 8);
	CHECK_INT(cfg.database_connect_timeout, 2);
	CHECK_INT(cfg.database_statement_timeout, 5);
	CHECK_INT(cfg.database_lock_timeout, 2);
	CHECK(cfg.database_auto_migrate);
	char *eff = fixture_config_effective(&cfg);
	CHECK(strstr(eff, "s3cret") == NULL);
	CHECK(strstr(eff, "postgres://gh:***@db/gh") != NULL);
	free(eff);
	config_release(&cfg);
}

TEST(issuer_url_derived)
{
	struct config cfg;
	char err[512];
	char a[] = "listen_address=::1", b[] = "listen_port=8443", c[] = "base_path=/game/eu";
	char *sets[] = { a, b, c };
	CHECK_INT(load(&cfg, NULL, sets, 3, err, sizeof err), 0);
	CHECK_STR(cfg.issuer_url, "http://[::1]:8443/game/eu");
	config_release(&cfg);

	char d[] = "listen_address=::";
	char *sets2[] = { d };
	CHECK_INT(load(&cfg, NULL, sets2, 1, err, sizeof err), 0);
	CHECK_STR(cfg.issuer_url, "http://[::]:8080");
	config_release(&cfg);

	char e[] = "listen_address=10.0.0.7", f[] = "base_path=/prod";
	char *sets3[] = { e, f };
	CHECK_INT(load(&cfg, NULL, sets3, 2, err, sizeof err), 0);
	CHECK_STR(cfg.issuer_url, "http://10.0.0.7:8080/prod");
	config_release(&cfg);

	/* Given explicitly, it is kept byte for byte. */
	char g[] = "issuer_url=https://id.example.com/prod", h[] = "base_path=/other";
	char *sets4[] = { g, h };
	CHECK_INT(load(&cfg, NULL, sets4, 2, err, sizeof err), 0);
	CHECK_STR(cfg.issuer_url, "https://id.example.com/prod");
	config_release(&cfg);
}

TEST(issuer_url_validation)
{
	static const char *const bad[] = {
		"issuer_url=https://id.example.com/", "issuer_url=ftp://id.example.com",
		"issuer_url=id.example.com", "issuer_url=https://id.example.com/a?b",
		"issuer_url=https://id.example.com/#x", "issuer_url=https://id example.com",
		"issuer_url=https://id.example.com/\"x",
	};
	for (size_t i = 0; i < GH_ARRAY_SIZE(bad); i++) {
		char buf[128];
		snprintf(buf, sizeof buf, "%s", bad[i]);
		char *sets[] = { buf };
		struct config cfg;
		char err[512];
		CHECK_INT(load(&cfg, NULL, sets, 1, err, sizeof err), -1);
		CHECK(strstr(err, "issuer_url") != NULL);
		config_release(&cfg);
	}
}

TEST(base_path_validation)
{
	static const char *const bad[] = { "prod", "/prod/", "/", "/a//b", "/a?b", "/a#b",
					   "/a%2Fb", "/a b", "//prod" };
	for (size_t i = 0; i < GH_ARRAY_SIZE(bad); i++) {
		char buf[128];
		snprintf(buf, sizeof buf, "base_path=%s", bad[i]);
		char *sets[] = { buf };
		struct config cfg;
		char err[512];
		int rc = load(&cfg, NULL, sets, 1, err, sizeof err);
		CHECK_INT(rc, -1);
		CHECK(strstr(err, "base_path") != NULL);
		if (!rc)
			fprintf(stderr, "  base_path '%s' accepted\n", bad[i]);
		config_release(&cfg);
	}
	static const char *const good[] = { "", "/prod", "/a/b", "/v1.2-x_y" };
	for (size_t i = 0; i < GH_ARRAY_SIZE(good); i++) {
		char buf[128];
		snprintf(buf, sizeof buf, "base_path=%s", good[i]);
		char *sets[] = { buf };
		struct config cfg;
		char err[512];
		CHECK_INT(load(&cfg, NULL, sets, 1, err, sizeof err), 0);
		CHECK_STR(cfg.base_path, good[i]);
		config_release(&cfg);
	}
}

TEST(key_prepublish_must_be_shorter_than_rotation)
{
	struct config cfg;
	char err[512];
	char a[] = "key_rotation_interval=1d", b[] = "key_prepublish=1d";
	char *sets[] = { a, b };
	CHECK_INT(load(&cfg, NULL, sets, 2, err, sizeof err), -1);
	CHECK(strstr(err, "key_prepublish") != NULL);
	config_release(&cfg);

	char c[] = "key_prepublish=2d";
	char *sets2[] = { a, c };
	CHECK_INT(load(&cfg, NULL, sets2, 2, err, sizeof err), -1);
	config_release(&cfg);

	/* The default prepublish (1d) against a shorter rotation, from a file. */
	const char *path = write_conf("key_rotation_interval 12h\n");
	CHECK_INT(load(&cfg, path, NULL, 0, err, sizeof err), -1);
	CHECK(strstr(err, "key_prepublish") != NULL);
	config_release(&cfg);
	drop_conf();

	char d[] = "key_prepublish=86399";
	char *sets3[] = { a, d };
	CHECK_INT(load(&cfg, NULL, sets3, 2, err, sizeof err), 0);
	CHECK_INT(cfg.key_prepublish, 86399);
	config_release(&cfg);
}

TEST(string_limits)
{
	struct config cfg;
	char err[512];
	/* cors_allow_origin may not be empty. */
	const char *path = write_conf("cors_allow_origin \"\"\n");
	CHECK_INT(load(&cfg, path, NULL, 0, err, sizeof err), -1);
	CHECK(names_line(err, path, 1));
	config_release(&cfg);
	drop_conf();

	/* Control characters never reach a header or a path. */
	char a[] = "cors_allow_origin=x\ry";
	char *sets[] = { a };
	CHECK_INT(load(&cfg, NULL, sets, 1, err, sizeof err), -1);
	config_release(&cfg);

	/* A line longer than the reader's buffer is an error, not two lines. */
	struct strbuf sb = STRBUF_INIT;
	sb_adds(&sb, "cors_allow_origin ");
	for (int i = 0; i < 9000; i++)
		sb_adds(&sb, "a");
	sb_adds(&sb, "\n");
	path = write_conf(sb.buf);
	CHECK_INT(load(&cfg, path, NULL, 0, err, sizeof err), -1);
	CHECK(names_line(err, path, 1));
	config_release(&cfg);
	drop_conf();
	sb_release(&sb);
}

/* The effective settings of cfg as text. */
TEST(sample_loads_back_to_defaults)
{
	fixture_clear_env();
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	config_write_sample(f);
	fclose(f);
	CHECK(len > 0);
	/* Every setting is documented in it. */
	CHECK(strstr(buf, "#listen_port 8080") != NULL);
	CHECK(strstr(buf, "#base_path \"\"") != NULL);
	CHECK(strstr(buf, "#signing_alg RS256") != NULL);

	const char *path = write_conf(buf);
	struct config a, b;
	char err[512];
	int rc = load(&a, path, NULL, 0, err, sizeof err);
	CHECK_INT(rc, 0);
	if (rc)
		fprintf(stderr, "  %s\n", err);
	CHECK_INT(load(&b, NULL, NULL, 0, err, sizeof err), 0);
	char *ea = fixture_config_effective(&a), *eb = fixture_config_effective(&b);
	CHECK_STR(ea, eb);
	free(ea);
	free(eb);
	config_release(&a);
	config_release(&b);
	drop_conf();

	/* Uncommenting every "#name value" line also gives the defaults. */
	struct strbuf sb = STRBUF_INIT;
	int settings = 0;
	for (char *line = buf; *line;) {
		size_t n = strcspn(line, "\n");
		if (line[0] == '#' && n > 1 && line[1] >= 'a' && line[1] <= 'z') {
			sb_add(&sb, line + 1, n - 1);
			sb_adds(&sb, "\n");
			settings++;
		}
		line += n + (line[n] == '\n');
	}
	CHECK(settings >= 25);
	path = write_conf(sb.buf);
	rc = load(&a, path, NULL, 0, err, sizeof err);
	CHECK_INT(rc, 0);
	if (rc)
		fprintf(stderr, "  uncommented sample: %s\n", err);
	CHECK_INT(load(&b, NULL, NULL, 0, err, sizeof err), 0);
	ea = fixture_config_effective(&a);
	eb = fixture_config_effective(&b);
	CHECK_STR(ea, eb);
	free(ea);
	free(eb);
	config_release(&a);
	config_release(&b);
	drop_conf();
	sb_release(&sb);
	free(buf);
}

TEST(effective_output_loads_back)
{
	/* check-config's output is itself a valid config file with the same values. */
	char a1[] = "listen_address=::1", a2[] = "base_path=/p", a3[] = "signing_alg=ES256",
	     a4[] = "access_log=off", a5[] = "max_body_size=2MiB";
	char *sets[] = { a1, a2, a3, a4, a5 };
	struct config a, b;
	char err[512];
	CHECK_INT(load(&a, NULL, sets, 5, err, sizeof err), 0);
	char *ea = fixture_config_effective(&a);
	const char *path = write_conf(ea);
	int rc = load(&b, path, NULL, 0, err, sizeof err);
	CHECK_INT(rc, 0);
	if (rc)
		fprintf(stderr, "  %s\n", err);
	char *eb = fixture_config_effective(&b);
	CHECK_STR(eb, ea);
	free(ea);
	free(eb);
	config_release(&a);
	config_release(&b);
	drop_conf();
}

TEST(env_unknown_variable_is_fatal)
{
	fixture_clear_env();
	struct config cfg;
	char err[512];
	/* A typo of a setting's variable stops start-up, with a suggestion. */
	setenv("GATEHOUSE_LISTEN_PROT", "9100", 1);
	CHECK_INT(load(&cfg, NULL, NULL, 0, err, sizeof err), -1);
	CHECK(strstr(err, "GATEHOUSE_LISTEN_PROT") != NULL);
	CHECK(strstr(err, "did you mean GATEHOUSE_LISTEN_PORT?") != NULL);
	config_release(&cfg);
	fixture_clear_env();
	/* Far from every name: no suggestion, still fatal. */
	setenv("GATEHOUSE_NOTHING_LIKE_IT", "1", 1);
	CHECK_INT(load(&cfg, NULL, NULL, 0, err, sizeof err), -1);
	CHECK(strstr(err, "unknown variable") != NULL);
	CHECK(strstr(err, "did you mean") == NULL);
	config_release(&cfg);
	fixture_clear_env();
	/* Lower case is not a setting's variable. */
	setenv("GATEHOUSE_listen_port", "9100", 1);
	CHECK_INT(load(&cfg, NULL, NULL, 0, err, sizeof err), -1);
	config_release(&cfg);
	fixture_clear_env();
	/* An OIDC variable that is not oidc_<name>_<field>. */
	setenv("GATEHOUSE_OIDC_EPIC", "x", 1);
	CHECK_INT(load(&cfg, NULL, NULL, 0, err, sizeof err), -1);
	CHECK(strstr(err, "GATEHOUSE_OIDC_EPIC") != NULL);
	config_release(&cfg);
	fixture_clear_env();
	/* The daemon's own variables that are not settings are allowed. */
	setenv("GATEHOUSE_CONFIG", "/nonexistent", 1);
	setenv("GATEHOUSE_STEAM_WEB_API_KEY", "k", 1);
	setenv("GATEHOUSE_GOOGLE_PLAY_CLIENT_SECRET", "s", 1);
	load(&cfg, NULL, NULL, 0, err, sizeof err); /* the secrets alone may be refused */
	CHECK(strstr(err, "unknown variable") == NULL);
	config_release(&cfg);
	fixture_clear_env();
	/* The test tooling's old names are no longer the daemon's. */
	setenv("GATEHOUSE_BIN", "/bin/true", 1);
	CHECK_INT(load(&cfg, NULL, NULL, 0, err, sizeof err), -1);
	config_release(&cfg);
	fixture_clear_env();
}

TEST(did_you_mean_in_file_and_set)
{
	fixture_clear_env();
	struct config cfg;
	char err[512];
	const char *path = write_conf("listen_adress 0.0.0.0\n");
	CHECK_INT(load(&cfg, path, NULL, 0, err, sizeof err), -1);
	CHECK(names_line(err, path, 1));
	CHECK(strstr(err, "did you mean 'listen_address'?") != NULL);
	config_release(&cfg);
	drop_conf();

	char s1[] = "acess_token_ttl=60";
	char *sets[] = { s1 };
	CHECK_INT(load(&cfg, NULL, sets, 1, err, sizeof err), -1);
	CHECK(strstr(err, "did you mean 'access_token_ttl'?") != NULL);
	config_release(&cfg);

	char s2[] = "zzzzzz=1";
	char *sets2[] = { s2 };
	CHECK_INT(load(&cfg, NULL, sets2, 1, err, sizeof err), -1);
	CHECK(strstr(err, "did you mean") == NULL);
	config_release(&cfg);
}

TEST(name_equals_value_in_file_says_name_value)
{
	fixture_clear_env();
	struct config cfg;
	char err[512];
	const char *path = write_conf("# comment\nlisten_port=9000\n");
	CHECK_INT(load(&cfg, path, NULL, 0, err, sizeof err), -1);
	CHECK(names_line(err, path, 2));
	CHECK(strstr(err, "takes 'name value'") != NULL);
	CHECK(strstr(err, "'listen_port <value>'") != NULL);
	CHECK(strstr(err, "9000") == NULL); /* a value may be a secret: never repeated */
	config_release(&cfg);
	drop_conf();
	/* With white space around '=', and a misspelt name. */
	path = write_conf("listen_prot = 9000\n");
	CHECK_INT(load(&cfg, path, NULL, 0, err, sizeof err), -1);
	CHECK(strstr(err, "did you mean 'listen_port'?") != NULL);
	config_release(&cfg);
	drop_conf();
}

TEST(config_file_modes)
{
	fixture_clear_env();
	struct config cfg;
	char err[512];
	const char *path = write_conf("listen_port 9000\n");
	/* Group- or world-writable: refused, naming the file and the fix. */
	CHECK_INT(chmod(path, 0620), 0);
	CHECK_INT(load(&cfg, path, NULL, 0, err, sizeof err), -1);
	CHECK(strstr(err, path) != NULL);
	CHECK(strstr(err, "chmod go-w") != NULL);
	config_release(&cfg);
	CHECK_INT(chmod(path, 0602), 0);
	CHECK_INT(load(&cfg, path, NULL, 0, err, sizeof err), -1);
	config_release(&cfg);
	/* Unless the command line or the environment says otherwise. */
	char s1[] = "config_strict_modes=off";
	char *sets[] = { s1 };
	CHECK_INT(load(&cfg, path, sets, 1, err, sizeof err), 0);
	CHECK_INT(cfg.listen_port, 9000);
	config_release(&cfg);
	setenv("GATEHOUSE_CONFIG_STRICT_MODES", "off", 1);
	CHECK_INT(load(&cfg, path, NULL, 0, err, sizeof err), 0);
	config_release(&cfg);
	fixture_clear_env();
	drop_conf();
	/* The file cannot turn its own check off. */
	path = write_conf("config_strict_modes off\n");
	CHECK_INT(chmod(path, 0666), 0);
	CHECK_INT(load(&cfg, path, NULL, 0, err, sizeof err), -1);
	config_release(&cfg);
	CHECK_INT(chmod(path, 0600), 0);
	CHECK_INT(load(&cfg, path, NULL, 0, err, sizeof err), -1);
	CHECK(strstr(err, "config_strict_modes") != NULL);
	config_release(&cfg);
	drop_conf();
	/* Another user's file, or a directory others may write without the sticky bit. */
	char dir[] = "/tmp/gh-unit-dir-XXXXXX";
	CHECK(mkdtemp(dir) != NULL);
	char inner[96];
	snprintf(inner, sizeof inner, "%s/g.conf", dir);
	FILE *f = fopen(inner, "w");
	CHECK(f != NULL);
	fputs("listen_port 9001\n", f);
	fclose(f);
	CHECK_INT(chmod(inner, 0600), 0);
	CHECK_INT(load(&cfg, inner, NULL, 0, err, sizeof err), 0);
	config_release(&cfg);
	CHECK_INT(chmod(dir, 0777), 0);
	CHECK_INT(load(&cfg, inner, NULL, 0, err, sizeof err), -1);
	CHECK(strstr(err, "its directory") != NULL);
	config_release(&cfg);
	CHECK_INT(chmod(dir, 01777), 0); /* sticky, as /tmp: others cannot replace it */
	CHECK_INT(load(&cfg, inner, NULL, 0, err, sizeof err), 0);
	config_release(&cfg);
	CHECK_INT(chmod(dir, 0700), 0);
	if (geteuid() == 0) {
		CHECK_INT(chown(inner, 65534, (gid_t)-1), 0);
		CHECK_INT(load(&cfg, inner, NULL, 0, err, sizeof err), -1);
		CHECK(strstr(err, "another user") != NULL);
		config_release(&cfg);
	}
	unlink(inner);
	rmdir(dir);
	/* Readable by others: loads (the warning is checked by test_cli). */
	path = write_conf("listen_port 9000\n");
	CHECK_INT(chmod(path, 0644), 0);
	CHECK_INT(load(&cfg, path, NULL, 0, err, sizeof err), 0);
	config_release(&cfg);
	drop_conf();
}

int main(void)
{
	log_configure(LOG_ERROR, LOG_FORMAT_TEXT);
	fixture_clear_env();
	RUN(defaults);
	RUN(file_values);
	RUN(later_line_wins_and_empty_value);
	RUN(missing_file);
	RUN(unknown_key_names_file_line_and_key);
	RUN(out_of_range_names_file_line);
	RUN(bad_types_name_file_line);
	RUN(bool_spellings);
	RUN(env_override);
	RUN(env_unknown_variable_is_fatal);
	RUN(did_you_mean_in_file_and_set);
	RUN(name_equals_value_in_file_says_name_value);
	RUN(config_file_modes);
	RUN(precedence_set_env_file);
	RUN(set_errors);
	RUN(database_forms_and_redaction);
	RUN(issuer_url_derived);
	RUN(issuer_url_validation);
	RUN(base_path_validation);
	RUN(key_prepublish_must_be_shorter_than_rotation);
	RUN(string_limits);
	RUN(sample_loads_back_to_defaults);
	RUN(is_default);
	RUN(effective_output_loads_back);
	return REPORT();
}
