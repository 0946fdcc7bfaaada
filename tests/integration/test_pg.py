"""The daemon on PostgreSQL: what only a database server shows (runs when
GH_TEST_DATABASE_URL names one: make integration-pg, through tests/pg.sh).

- the password (in the URL or database_password_file) is never in a log
  line, check-config's output or an error message;
- while PostgreSQL is down, calls answer 503 at once, /ready is 503,
  /health stays 200, and service comes back by itself, nothing acknowledged
  lost, no restart (on a cluster of this class's own, which it stops);
- backup and restore on a URL refuse, naming PostgreSQL's tools;
- gatehouse migrate (and --status, check-db) on a URL; database_auto_migrate
  off refuses an older schema; a newer schema is always refused;
- settings: database vs database_path, SQLite-only settings warned about;
- serialization failures and deadlocks (forced by a trigger) are retried:
  a document write and a refresh commit once after two, and five in a row
  answer 503 with nothing kept.
"""
import os
import re
import subprocess
import time
import unittest
import urllib.parse

from gh import Daemon, PG_URL, pg_new_database, psql, db_rows, db_write

HERE = os.path.dirname(os.path.abspath(__file__))
PG_SH = os.path.join(HERE, "..", "pg.sh")


def password_of(url):
    return urllib.parse.urlsplit(url).password


def without_password(url):
    u = urllib.parse.urlsplit(url)
    netloc = "%s@%s:%d" % (u.username, u.hostname, u.port)
    return urllib.parse.urlunsplit((u.scheme, netloc, u.path, u.query, u.fragment))


@unittest.skipUnless(PG_URL, "no PostgreSQL: GH_TEST_DATABASE_URL is not set "
                     "(make integration-pg runs these through tests/pg.sh)")
class Secrets(unittest.TestCase):
    def test_password_in_url_never_shown(self):
        url = pg_new_database()
        secret = password_of(url)
        self.assertTrue(secret and len(secret) >= 12)
        d = Daemon({"database": url}, fresh=True)
        try:
            d.start()
            r = d.get(d.path("/login-as-guest"))
            self.assertEqual(r.status, 200, r.text)
            cc = d.cli("check-config")
            self.assertEqual(cc.returncode, 0, cc.stderr)
            self.assertIn("database ", cc.stdout)
            self.assertIn(":***@", cc.stdout)
            self.assertNotIn(secret, cc.stdout + cc.stderr)
            st = d.cli("migrate", "--status")
            self.assertEqual(st.returncode, 0, st.stderr)
            build = re.search(r"this build: .*schema version (\d+)", st.stdout).group(1)
            self.assertIn(":***@", st.stdout)
            self.assertRegex(st.stdout, r"database .*: schema version %s\b" % build)
            self.assertNotIn(secret, st.stdout + st.stderr)
            d.stop()
            log = d.log_text()
            self.assertIn("(postgresql)", log)
            self.assertNotIn(secret, log)
        finally:
            d.cleanup()

    def test_password_file(self):
        url = pg_new_database()
        secret = password_of(url)
        d = Daemon({"database": without_password(url)}, fresh=True)
        try:
            pw = os.path.join(d.dir, "db-password")
            fd = os.open(pw, os.O_WRONLY | os.O_CREAT, 0o600)
            os.write(fd, (secret + "\n").encode())
            os.close(fd)
            d.settings["database_password_file"] = pw
            d.start()
            r = d.get(d.path("/login-as-guest"))
            self.assertEqual(r.status, 200, r.text)
            cc = d.cli("check-db")
            self.assertEqual(cc.returncode, 0, cc.stdout + cc.stderr)
            self.assertIn("1 users", cc.stdout)
            d.stop()
            self.assertNotIn(secret, d.log_text())
        finally:
            d.cleanup()

    def test_error_messages_hide_the_password(self):
        # A server that is not there, and a wrong password.
        u = urllib.parse.urlsplit(PG_URL)
        secret = "Sup3rS3cretPassw0rd"
        bad = [
            "postgresql://gh:%s@127.0.0.1:1/gh?connect_timeout=2" % secret,
            "postgresql://gh:%s@%s:%d%s" % (secret, u.hostname, u.port, u.path),
            "postgres://gh@%s:%d%s?password=%s&sslmode=disable" % (u.hostname, u.port,
                                                                  u.path, secret),
        ]
        for url in bad:
            d = Daemon({"database": url}, fresh=True)
            try:
                for args in (("migrate",), ("check-db",), ("serve",)):
                    r = subprocess.run(d.command(*args, valgrind=False), capture_output=True,
                                       text=True, cwd=d.dir, timeout=60)
                    self.assertNotEqual(r.returncode, 0, args)
                    self.assertNotIn(secret, r.stdout + r.stderr, args)
                    self.assertIn("***", r.stdout + r.stderr, args)
            finally:
                d.cleanup()

    def test_database_and_database_path_disagree(self):
        d = Daemon({"database": PG_URL})
        try:
            d.settings["database_path"] = os.path.join(d.dir, "other.db")
            d.write_config()
            r = d.cli("check-config")
            self.assertNotEqual(r.returncode, 0)
            self.assertIn("database_path", r.stderr)
            self.assertNotIn(password_of(PG_URL), r.stderr)
        finally:
            d.cleanup()


@unittest.skipUnless(PG_URL, "no PostgreSQL: GH_TEST_DATABASE_URL is not set")
class Operator(unittest.TestCase):
    def test_backup_and_restore_refused(self):
        d = Daemon()
        try:
            out = os.path.join(d.dir, "backup.db")
            r = d.cli("backup", out)
            self.assertEqual(r.returncode, 2, r.stdout + r.stderr)
            self.assertIn("pg_dump -Fc", r.stderr)
            self.assertFalse(os.path.exists(out))
            r = d.cli("restore", out)
            self.assertEqual(r.returncode, 2, r.stdout + r.stderr)
            self.assertIn("pg_restore", r.stderr)
        finally:
            d.cleanup()

    def test_migrate_and_auto_migrate_off(self):
        url = pg_new_database()
        d = Daemon({"database": url, "database_auto_migrate": "off"}, fresh=True)
        try:
            r = d.cli("migrate", "--status")
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertIn("schema version 0", r.stdout)
            build = re.search(r"this build: .*schema version (\d+)", r.stdout).group(1)
            self.assertIn("%s migration(s) pending" % build, r.stdout)
            # A node with auto-migrate off does not start on an older schema.
            with self.assertRaises(AssertionError) as cm:
                d.start()
            self.assertIn("gatehouse migrate", str(cm.exception))
            d.proc = None
            r = d.cli("migrate")
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(db_rows(url, "SELECT max(version) FROM schema_version")[0][0], int(build))
            r = d.cli("migrate")
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertIn("nothing to do", r.stdout)
            r = d.cli("check-db")
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            d.start()
            self.assertEqual(d.get(d.path("/login-as-guest")).status, 200)
            d.stop()
        finally:
            d.cleanup()

    def test_newer_schema_refused(self):
        d = Daemon()
        try:
            db_write(d, "INSERT INTO schema_version (version) VALUES (?)", (99,))
            with self.assertRaises(AssertionError) as cm:
                d.start()
            self.assertIn("newer than this build", str(cm.exception))
            d.proc = None
            r = d.cli("migrate")
            self.assertNotEqual(r.returncode, 0)
            self.assertIn("newer", r.stderr)
            self.assertEqual(db_rows(d, "SELECT max(version) FROM schema_version")[0][0], 99)
        finally:
            d.cleanup()

    def test_sqlite_setting_warned(self):
        # Those changed from their defaults are named; one given with its
        # default value (5s) changes nothing and is not.
        d = Daemon({"sqlite_synchronous": "normal", "sqlite_cache_size": "16MiB",
                    "sqlite_busy_timeout": "5s"})
        try:
            d.start()
            d.stop()
            self.assertIn("sqlite_synchronous is a SQLite setting", d.log_text())
            self.assertIn("sqlite_cache_size is a SQLite setting", d.log_text())
            self.assertNotIn("sqlite_busy_timeout is a SQLite setting", d.log_text())
            self.assertNotIn("group_commit is a SQLite setting", d.log_text())
        finally:
            d.cleanup()


POOL_CONNS = ("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
              " AND application_name = 'gatehouse' AND query NOT LIKE 'LISTEN%'")


@unittest.skipUnless(PG_URL, "no PostgreSQL: GH_TEST_DATABASE_URL is not set "
                     "(make integration-pg runs these through tests/pg.sh)")
class Pool(unittest.TestCase):
    """A node opens its whole pool at start, on a thread beside it, so a
    node started into live traffic does not connect under load
    (bench/cluster.sh: the first connections, opened on demand, held
    request threads for up to seconds); one that cannot open all of it
    still serves and says so."""

    def test_pool_open_before_the_first_request(self):
        d = Daemon({"database_pool_size": "3"})
        try:
            d.start()
            # Opened beside the start, one at a time: moments after it.
            deadline = time.time() + 10
            while db_rows(d, POOL_CONNS) != [(3,)] and time.time() < deadline:
                time.sleep(0.05)
            self.assertEqual(db_rows(d, POOL_CONNS), [(3,)])
            r = d.request("POST", "/login-as-guest")
            self.assertEqual(r.status, 200, r.text)
            self.assertEqual(db_rows(d, POOL_CONNS), [(3,)])
        finally:
            d.cleanup()

    def test_short_of_connections_starts_and_says_so(self):
        d = Daemon({"database_pool_size": "5"})
        try:
            d.start()
            d.stop()
            name = urllib.parse.urlsplit(d.settings["database"]).path.lstrip("/")
            # The role is not a superuser: the database's limit holds for it.
            psql(PG_URL, 'ALTER DATABASE "%s" CONNECTION LIMIT 3' % name)
            d.start()
            deadline = time.time() + 10
            while "ahead of use" not in d.log_text() and time.time() < deadline:
                time.sleep(0.05)
            self.assertRegex(d.log_text(), r"could not open pooled database connection [1-4] "
                             r"of 5 ahead of use \(cannot connect to database postgres")
            self.assertNotIn(password_of(PG_URL), d.log_text())
            r = d.request("POST", "/login-as-guest")
            self.assertEqual(r.status, 200, r.text)
        finally:
            d.cleanup()


# A trigger that fails the statement with SQLSTATE :code while the
# sequence gh_fail_seq is at most gh_fail.upto: nextval is not undone by the
# rollback, so each attempt (the first and every retry) counts once.
FAIL_TRIGGER = """
CREATE SEQUENCE gh_fail_seq;
CREATE TABLE gh_fail (upto bigint NOT NULL, code text NOT NULL);
INSERT INTO gh_fail VALUES (0, '40001');
CREATE FUNCTION gh_fail() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE f gh_fail;
BEGIN
  SELECT * INTO f FROM gh_fail;
  IF nextval('gh_fail_seq') <= f.upto THEN
    RAISE EXCEPTION 'forced by the test' USING ERRCODE = f.code;
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER gh_fail_docs BEFORE INSERT OR UPDATE ON player_data
  FOR EACH ROW EXECUTE FUNCTION gh_fail();
CREATE TRIGGER gh_fail_sessions BEFORE UPDATE ON sessions
  FOR EACH ROW EXECUTE FUNCTION gh_fail();
"""


@unittest.skipUnless(PG_URL, "no PostgreSQL: GH_TEST_DATABASE_URL is not set "
                     "(make integration-pg runs these through tests/pg.sh)")
class Retries(unittest.TestCase):
    """Serialization failures (40001) and deadlocks (40P01) run the whole
    transaction again, up to five times with a short random wait; past that
    the call answers 503 and nothing of it is kept."""

    def test_forced_failures_are_retried(self):
        d = Daemon()
        self.addCleanup(d.cleanup)
        d.start()
        url = d.settings["database"]
        psql(url, FAIL_TRIGGER)

        def fail_next(n, code):
            psql(url, "UPDATE gh_fail SET code = :'code', upto = nextval('gh_fail_seq') + :n",
                 {"code": code, "n": str(n)})

        def attempts_since(mark):
            return int(psql(url, "SELECT last_value FROM gh_fail_seq").strip()) - mark

        def seq():
            return int(psql(url, "SELECT last_value FROM gh_fail_seq").strip())

        g = d.new_guest()
        tok = {"Authorization": g["auth_token"], "Content-Type": "application/json"}
        # A document write: two serialization failures, then it commits once.
        fail_next(2, "40001")
        mark = seq()
        r = d.request("PUT", d.path("/player-data/k"), tok, b'{"v":1}')
        self.assertEqual(r.status, 201, r)
        self.assertEqual(attempts_since(mark), 3)
        self.assertEqual(r.headers.get("etag"), '"1"')
        self.assertEqual(db_rows(d, "SELECT version FROM player_data WHERE key = 'k'"), [(1,)])
        # A refresh (the session row's rotation): two deadlocks, then it commits once;
        # the new pair works and the old refresh token is spent.
        fail_next(2, "40P01")
        mark = seq()
        r = d.get("/refresh-access-token?refresh_token=" + g["refresh_token"])
        self.assertEqual(r.status, 200, r)
        self.assertEqual(attempts_since(mark), 3)
        new = r.json()
        r = d.request("GET", d.path("/player-data/k"), {"Authorization": new["auth_token"]})
        self.assertEqual((r.status, r.body), (200, b'{"v":1}'))
        r = d.get("/refresh-access-token?refresh_token=" + new["refresh_token"])
        self.assertEqual(r.status, 200, r)
        new = r.json()
        # Failing every time: five attempts, then 503, and nothing kept.
        fail_next(1000, "40001")
        mark = seq()
        r = d.request("PUT", d.path("/player-data/k"),
                      {"Authorization": new["auth_token"], "Content-Type": "application/json",
                       "If-Match": '"1"'}, b'{"v":2}')
        self.assertEqual(r.status, 503, r)
        self.assertEqual(attempts_since(mark), 5)
        self.assertEqual(db_rows(d, "SELECT version, convert_from(value, 'UTF8') FROM "
                                    "player_data WHERE key = 'k'"), [(1, '{"v":1}')])
        self.assertIn("serialization failure", d.log_text())
        self.assertIn("deadlock", d.log_text())
        # The failures gone, the same write goes through: no node restart.
        fail_next(0, "40001")
        r = d.request("PUT", d.path("/player-data/k"),
                      {"Authorization": new["auth_token"], "Content-Type": "application/json",
                       "If-Match": '"1"'}, b'{"v":2}')
        self.assertEqual(r.status, 200, r)
        d.stop()


def cluster_ctl(env, action):
    """pg_ctl stop (fast) or start (waiting) of this class's own cluster."""
    data = os.path.join(env["GH_TEST_PG_DIR"], "data")
    args = ["-m", "fast", "stop"] if action == "stop" else \
        ["-w", "-t", "60", "-l", os.path.join(env["GH_TEST_PG_DIR"], "server.log"), "start"]
    subprocess.run(["runuser", "-u", "postgres", "--",
                    os.path.join(env["GH_TEST_PG_BIN"], "pg_ctl"), "-D", data] + args,
                   check=True, capture_output=True, timeout=90)


@unittest.skipUnless(PG_URL, "no PostgreSQL: GH_TEST_DATABASE_URL is not set")
class Outage(unittest.TestCase):
    """PostgreSQL stops under a running daemon and comes back (its own cluster:
    the shared one serves other classes meanwhile); the pool reopens."""

    @classmethod
    def setUpClass(cls):
        r = subprocess.run([PG_SH, "start"], capture_output=True, text=True, timeout=120)
        if r.returncode != 0:
            raise AssertionError("tests/pg.sh start: " + r.stderr)
        cls.env = dict(ln.split("=", 1) for ln in r.stdout.split("\n") if "=" in ln)

    @classmethod
    def tearDownClass(cls):
        subprocess.run([PG_SH, "stop", cls.env["GH_TEST_PG_DIR"]], capture_output=True,
                       timeout=120)

    def test_down_then_back(self):
        url = self.env["GH_TEST_DATABASE_URL"]
        d = Daemon({"database": url, "database_pool_size": "4"}, fresh=True)
        try:
            d.start()
            g = d.get(d.path("/login-as-guest")).json()
            again = d.path("/login-as-guest?user_id=%s&guest_secret=%s"
                           % (g["user_id"], g["guest_secret"]))
            cluster_ctl(self.env, "stop")
            try:
                statuses = [d.get(d.path("/login-as-guest")).status for _ in range(5)]
                self.assertEqual(statuses, [503] * 5)
                r = d.get(again)
                self.assertEqual(r.status, 503, r.text)
                self.assertTrue(r.text.startswith("Error: "), r.text)
                # A route of gatehouse's own answers its JSON error.
                r = d.post(d.path("/logout"), body=("refresh_token=" + g["refresh_token"]).encode(),
                           headers={"Content-Type": "application/x-www-form-urlencoded"})
                self.assertEqual(r.status, 503, r.text)
                self.assertIn("error", r.json())
                self.assertEqual(d.get(d.path("/ready")).status, 503)
                self.assertEqual(d.get(d.path("/health")).status, 200)
            finally:
                cluster_ctl(self.env, "start")
            # Back by itself: the pool reconnects (backoff at most 5 s).
            deadline = time.time() + 60
            status = None
            while time.time() < deadline:
                status = d.get(d.path("/ready")).status
                if status == 200:
                    break
                time.sleep(0.2)
            self.assertEqual(status, 200, d.log_text()[-3000:])
            # The whole pool opens again by itself, not one connection per
            # call under load (the /ready above reopened one).
            deadline = time.time() + 15
            while db_rows(d, POOL_CONNS) != [(4,)] and time.time() < deadline:
                time.sleep(0.1)
            self.assertEqual(db_rows(d, POOL_CONNS), [(4,)])
            # The guest made before the outage is still there.
            r = d.get(again)
            self.assertEqual(r.status, 200, r.text)
            self.assertEqual(d.get(d.path("/login-as-guest")).status, 200)
            d.stop()
            log = d.log_text()
            self.assertIn("reachable again", log)
            self.assertNotIn(password_of(url), log)
        finally:
            d.cleanup()
