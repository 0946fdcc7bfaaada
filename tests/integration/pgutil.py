"""PostgreSQL for the integration tests that need one (test_cluster,
test_copy_db): GH_TEST_DATABASE_URL names a role allowed to create databases
(tests/pg.sh starts a throwaway cluster and exports it, with GH_TEST_PG_DIR
and GH_TEST_PG_BIN for restarting it). Each test class gets a fresh
database; nodes get its URL without the password, which goes in a
database_password_file, so a test can check that no log holds it.
Without the variable the tests skip, saying why. psql is the client: no
Python driver is needed."""
import os
import shutil
import subprocess
import tempfile
import time
import unittest
import urllib.parse
import uuid

import gh

ADMIN_URL = os.environ.get("GH_TEST_DATABASE_URL", "")
PG_DIR = os.environ.get("GH_TEST_PG_DIR", "")
PG_BIN = os.environ.get("GH_TEST_PG_BIN", "")


def skip_without_pg(test):
    if not ADMIN_URL:
        raise unittest.SkipTest("GH_TEST_DATABASE_URL is not set (tests/pg.sh run ... sets it)")
    if not shutil.which("psql"):
        raise unittest.SkipTest("no psql here")


def psql(url, sql, password=None):
    """Rows of one statement as lists of strings (psql -At, tab-separated)."""
    env = dict(os.environ)
    if password is not None:
        env["PGPASSWORD"] = password
    r = subprocess.run(["psql", "-X", "-qAt", "-F", "\t", "-v", "ON_ERROR_STOP=1", "-d", url,
                        "-c", sql], capture_output=True, text=True, timeout=60, env=env)
    if r.returncode != 0:
        raise AssertionError("psql failed: %s" % r.stderr.replace(password or "\0", "***"))
    return [line.split("\t") for line in r.stdout.splitlines() if line]


class Database:
    """A fresh database on the test cluster, dropped by cleanup()."""

    def __init__(self, owner_dir):
        u = urllib.parse.urlsplit(ADMIN_URL)
        self.password = urllib.parse.unquote(u.password or "")
        self.name = "gh_" + uuid.uuid4().hex[:12]
        psql(ADMIN_URL, "CREATE DATABASE %s" % self.name)
        netloc = "%s@%s" % (u.username, u.hostname + (":%d" % u.port if u.port else ""))
        self.url = urllib.parse.urlunsplit((u.scheme, netloc, "/" + self.name, u.query, ""))
        self.admin_url = urllib.parse.urlunsplit((u.scheme, u.netloc, "/" + self.name,
                                                  u.query, ""))
        self.password_file = os.path.join(owner_dir, "db.password")
        fd = os.open(self.password_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(self.password + "\n")

    def password_settings(self):
        return {"database_password_file": self.password_file}

    def node_settings(self):
        s = {"database": self.url}
        s.update(self.password_settings())
        return s

    def node(self, settings=None):
        """A Daemon (not started) on this database: no SQLite file, no seed."""
        s = self.node_settings()
        s.update(settings or {})
        d = gh.Daemon(s, fresh=True)
        del d.settings["database_path"]
        d.write_config()
        return d

    def rows(self, sql):
        return psql(self.admin_url, sql)

    def cleanup(self):
        try:
            psql(ADMIN_URL, "DROP DATABASE IF EXISTS %s WITH (FORCE)" % self.name)
        except AssertionError:
            pass


def fresh_database(test):
    """A Database for test (a TestCase or its class), skipping without PostgreSQL."""
    skip_without_pg(test)
    d = tempfile.mkdtemp(prefix="gatehouse-pg-")
    db = Database(d)
    cleanup = getattr(test, "addCleanup", None) or getattr(test, "addClassCleanup")
    cleanup(db.cleanup)
    cleanup(shutil.rmtree, d, True)
    return db


def can_restart():
    return bool(PG_DIR and PG_BIN and os.path.isdir(os.path.join(PG_DIR, "data")))


def pg_ctl(*args):
    """pg_ctl on the test cluster, as the postgres user (tests/pg.sh made it so)."""
    cmd = [os.path.join(PG_BIN, "pg_ctl"), "-D", os.path.join(PG_DIR, "data")] + list(args)
    if os.geteuid() == 0:
        cmd = ["runuser", "-u", "postgres", "--"] + cmd
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


def stop_server():
    r = pg_ctl("-m", "fast", "-w", "stop")
    assert r.returncode == 0, r.stderr


def start_server():
    r = pg_ctl("-l", os.path.join(PG_DIR, "server.log"), "-w", "-t", "60", "start")
    assert r.returncode == 0, r.stderr
