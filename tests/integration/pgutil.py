"""PostgreSQL for the tests that need it whatever the suite's back end
(test_cluster, test_copy_db): a fresh database on the server of
GH_TEST_DATABASE_URL (or another admin URL: test_cluster's own cluster),
reached by nodes through its URL without the password, which goes in a
database_password_file, so a test can check that no log holds it. Without
the variable these tests skip, saying why."""
import os
import shutil
import tempfile
import uuid
import unittest
import urllib.parse

import gh


class Database:
    """A fresh database, dropped by cleanup()."""

    def __init__(self, owner_dir, server_url=None):
        self.server_url = server_url or gh.PG_URL
        self.name = "gh_" + uuid.uuid4().hex[:16]
        gh.psql(self.server_url, 'CREATE DATABASE "%s"' % self.name)
        self.admin_url = gh.pg_url(self.name, self.server_url)
        u = urllib.parse.urlsplit(self.admin_url)
        self.password = urllib.parse.unquote(u.password or "")
        host = u.hostname + (":%d" % u.port if u.port else "")
        self.url = urllib.parse.urlunsplit((u.scheme, "%s@%s" % (u.username, host), u.path,
                                            u.query, ""))
        self.password_file = os.path.join(owner_dir, "db.password")
        fd = os.open(self.password_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(self.password + "\n")

    def password_settings(self):
        # A generous connect timeout: three sanitizer builds starting at once on a
        # busy two-core machine can take more than the default 2 s to connect.
        return {"database_password_file": self.password_file,
                "database_connect_timeout": "15s"}

    def node(self, settings=None):
        """A Daemon (not started) on this database: the URL without its password."""
        s = {"database": self.url}
        s.update(self.password_settings())
        s.update(settings or {})
        return gh.Daemon(s, fresh=True)

    def rows(self, sql, args=()):
        return gh.db_rows(self.admin_url, sql, args)

    def cleanup(self):
        gh.psql(self.server_url, 'DROP DATABASE IF EXISTS "%s" WITH (FORCE)' % self.name,
                check=False)


SKIP_WHY = ("needs PostgreSQL: GH_TEST_DATABASE_URL is not set (make integration-pg "
            "sets it, through tests/pg.sh)")


def fresh_database(test, server_url=None):
    """A Database for test (a TestCase, or a class in setUpClass) on the
    server of server_url (default GH_TEST_DATABASE_URL's); skips without
    PostgreSQL."""
    if not gh.PG_URL:
        raise unittest.SkipTest(SKIP_WHY)
    d = tempfile.mkdtemp(prefix="gatehouse-pg-")
    db = Database(d, server_url)
    cleanup = getattr(test, "addCleanup", None) if not isinstance(test, type) else None
    cleanup = cleanup or test.addClassCleanup
    cleanup(shutil.rmtree, d, True)
    cleanup(db.cleanup)
    return db
