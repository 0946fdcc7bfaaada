"""PostgreSQL for the tests that need it whatever the suite's back end
(test_cluster, test_copy_db): a fresh database on the server of
GH_TEST_DATABASE_URL (gh.pg_new_database), reached by nodes through its URL
without the password, which goes in a database_password_file, so a test can
check that no log holds it; and restarting that server (tests/pg.sh exports
GH_TEST_PG_DIR and GH_TEST_PG_BIN). Without the variable these tests skip,
saying why."""
import os
import shutil
import subprocess
import tempfile
import unittest
import urllib.parse

import gh

PG_DIR = os.environ.get("GH_TEST_PG_DIR", "")
PG_BIN = os.environ.get("GH_TEST_PG_BIN", "")


class Database:
    """A fresh database, dropped by cleanup()."""

    def __init__(self, owner_dir):
        self.admin_url = gh.pg_new_database()
        u = urllib.parse.urlsplit(self.admin_url)
        self.password = urllib.parse.unquote(u.password or "")
        self.name = u.path[1:]
        host = u.hostname + (":%d" % u.port if u.port else "")
        self.url = urllib.parse.urlunsplit((u.scheme, "%s@%s" % (u.username, host), u.path,
                                            u.query, ""))
        self.password_file = os.path.join(owner_dir, "db.password")
        fd = os.open(self.password_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(self.password + "\n")

    def password_settings(self):
        return {"database_password_file": self.password_file}

    def node(self, settings=None):
        """A Daemon (not started) on this database: the URL without its password."""
        s = {"database": self.url}
        s.update(self.password_settings())
        s.update(settings or {})
        return gh.Daemon(s, fresh=True)

    def rows(self, sql, args=()):
        return gh.db_rows(self.admin_url, sql, args)

    def cleanup(self):
        gh.psql(gh.PG_URL, 'DROP DATABASE IF EXISTS "%s" WITH (FORCE)' % self.name,
                check=False)


def fresh_database(test):
    """A Database for test (a TestCase, or a class in setUpClass); skips
    without PostgreSQL."""
    if not gh.PG_URL:
        raise unittest.SkipTest("needs PostgreSQL: GH_TEST_DATABASE_URL is not set "
                                "(make integration-pg sets it)")
    d = tempfile.mkdtemp(prefix="gatehouse-pg-")
    db = Database(d)
    cleanup = getattr(test, "addCleanup", None) if not isinstance(test, type) else None
    cleanup = cleanup or test.addClassCleanup
    cleanup(shutil.rmtree, d, True)
    cleanup(db.cleanup)
    return db


def can_restart():
    return bool(PG_DIR and PG_BIN and os.path.isdir(os.path.join(PG_DIR, "data")))


def pg_ctl(*args):
    """pg_ctl on the test server, as the postgres user (tests/pg.sh made it so)."""
    cmd = [os.path.join(PG_BIN, "pg_ctl"), "-D", os.path.join(PG_DIR, "data")] + list(args)
    if os.geteuid() == 0:
        cmd = ["runuser", "-u", "postgres", "--"] + cmd
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, "pg_ctl %s: %s" % (" ".join(args), r.stderr)


def stop_server():
    pg_ctl("-m", "fast", "-w", "stop")


def start_server():
    pg_ctl("-l", os.path.join(PG_DIR, "server.log"), "-w", "-t", "60", "start")
