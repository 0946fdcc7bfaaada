"""Commands that must not do harm, one daemon per database, restore and
migrate (issue 13): operator commands never create a database and say where
they looked; a port in use is found before the database is touched; a second
daemon on one file is refused naming the PID that holds it; restore replaces
the database with a checked backup (the old one kept aside) and refuses
anything else; migrate shows and applies the schema versions."""
import hashlib
import os
import re
import shutil
import socket
import sqlite3
import subprocess
import tempfile
import unittest

import gh
from gh import BIN, Daemon, VALGRIND, SANITIZER, START_TIMEOUT

REPO = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
UUID = "00000000-0000-4000-8000-000000000001"


def clean_env():
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEHOUSE_")}
    env.update(gh.VALGRIND_ENV)
    return env


def digest(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def sqlite_migrations():
    """The SQLite back end's migrations, read from src/store/sqlite_sql.c
    (one SQL text per schema version)."""
    src = open(os.path.join(REPO, "src", "store", "sqlite_sql.c")).read()
    body = src[src.index("store_sqlite_migrations[STORE_SCHEMA_VERSION] = {"):]
    body = body[body.index("{") + 1:body.index("};")]
    body = re.sub(r"/\*.*?\*/", "", body, flags=re.S)
    out, cur = [], []
    for tok in re.finditer(r'"((?:[^"\\]|\\.)*)"|,', body):
        if tok.group(0) == ",":
            out.append("".join(cur))
            cur = []
        else:
            cur.append(tok.group(1).replace('\\"', '"'))
    if cur:
        out.append("".join(cur))
    return [m for m in out if m.strip()]


def make_old_database(path, version):
    """A database at an older schema version, as that version's build left it,
    with one user holding two player documents."""
    con = sqlite3.connect(path)
    try:
        con.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
        for v, sql in enumerate(sqlite_migrations()[:version], start=1):
            con.executescript(sql)
            con.execute("INSERT INTO schema_version (version) VALUES (?)", (v,))
        con.execute("INSERT INTO users (user_id, guest_secret_hash, created_at, last_seen_at)"
                    " VALUES (?, zeroblob(32), 1, 1)", (UUID,))
        con.executemany("INSERT INTO player_data (user_id, key, value, version, updated_at)"
                        " VALUES (?, ?, ?, ?, 1)", [(UUID, "a", b"12345", 3),
                                                    (UUID, "b", b"xy", 7)])
        con.commit()
    finally:
        con.close()


class CliCase(unittest.TestCase):

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="gatehouse-upgrade-")
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.vg_count = 0

    def run_cli(self, *args, cwd=None):
        """The binary in a clean environment (no GATEHOUSE_* variable, no config)."""
        cmd = [BIN] + list(args)
        vg = None
        if VALGRIND:
            vg = os.path.join(tempfile.gettempdir(), "gh-upgrade-vg-%d-%d.log"
                              % (os.getpid(), self.vg_count))
            self.vg_count += 1
            self.addCleanup(lambda p=vg: os.path.exists(p) and os.unlink(p))
            cmd = ["valgrind", "--error-exitcode=99", "--leak-check=full",
                   "--show-leak-kinds=definite,indirect",
                   "--errors-for-leak-kinds=definite,indirect", "--log-file=" + vg] + cmd
        r = subprocess.run(cmd, capture_output=True, text=True, env=clean_env(),
                           cwd=cwd or self.dir, timeout=START_TIMEOUT + 30)
        if vg:
            self.assertNotEqual(r.returncode, 99, "valgrind errors for %r:\n%s"
                                % (args, open(vg).read()[-6000:]))
        if SANITIZER:
            for s in ("ERROR: AddressSanitizer", "runtime error:", "ERROR: LeakSanitizer"):
                self.assertNotIn(s, r.stderr, "sanitizer report for %r" % (args,))
        return r

    def tree(self, top):
        out = []
        for root, dirs, files in os.walk(top):
            out += [os.path.relpath(os.path.join(root, n), top) for n in dirs + files]
        return sorted(out)


@gh.sqlite_only("database files that must not appear")
class OperatorCommandsCreateNothing(CliCase):

    COMMANDS = [("keys", "list"), ("keys", "rotate"), ("user", "show", UUID),
                ("user", "ban", UUID), ("user", "delete", UUID),
                ("sessions", "revoke", UUID), ("backup", "copy.db"), ("check-db",),
                ("migrate", "--status")]

    def test_empty_directory(self):
        for args in self.COMMANDS:
            with self.subTest(args=args):
                r = self.run_cli(*args)
                self.assertNotEqual(r.returncode, 0, "%r succeeded with no database:\n%s"
                                    % (args, r.stdout))
                self.assertIn("./var/gatehouse.db", r.stderr)
                self.assertIn("--config", r.stderr)
                self.assertIn("database_path", r.stderr)
                self.assertEqual(self.tree(self.dir), [], "%r left files behind" % (args,))

    def test_named_path_that_does_not_exist(self):
        db = os.path.join(self.dir, "nowhere", "gatehouse.db")
        for args in self.COMMANDS:
            with self.subTest(args=args):
                r = self.run_cli(*(args + ("--set", "database_path=" + db)))
                self.assertNotEqual(r.returncode, 0)
                self.assertIn(db, r.stderr)
                self.assertEqual(self.tree(self.dir), [], "%r left files behind" % (args,))


@gh.sqlite_only("the database file untouched")
class NothingTouchedWhenStartFails(CliCase):

    def test_port_in_use_leaves_no_database(self):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        self.addCleanup(s.close)
        port = s.getsockname()[1]
        d = Daemon({"listen_port": port}, fresh=True)
        self.addCleanup(d.cleanup)
        r = d.cli("serve")
        self.assertNotIn(r.returncode, (0, 99), r.stderr)
        self.assertIn(str(port), r.stderr)
        self.assertFalse(os.path.exists(os.path.dirname(d.settings["database_path"])),
                         "the database directory was made: %s" % self.tree(d.dir))

    def test_metrics_port_in_use_leaves_no_database(self):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        self.addCleanup(s.close)
        port = s.getsockname()[1]
        d = Daemon({"metrics_listen_address": "127.0.0.1:%d" % port}, fresh=True)
        self.addCleanup(d.cleanup)
        r = d.cli("serve")
        self.assertNotIn(r.returncode, (0, 99), r.stderr)
        self.assertIn(str(port), r.stderr)
        self.assertFalse(os.path.exists(d.settings["database_path"]))


@gh.sqlite_only("the lock file beside the database")
class OneDaemonPerDatabase(unittest.TestCase):

    def test_second_daemon_refused_and_kill9_releases(self):
        d = Daemon().start()
        self.addCleanup(d.cleanup)
        db = d.settings["database_path"]
        before = d.new_guest()
        d2 = Daemon({"database_path": db})
        self.addCleanup(d2.cleanup)
        r = d2.cli("serve")
        self.assertNotIn(r.returncode, (0, 99), r.stderr)
        self.assertIn(db, r.stderr)
        self.assertIn(str(d.proc.pid), r.stderr)
        # Operator commands beside the daemon keep working.
        r = d2.cli("keys", "list")
        self.assertEqual(r.returncode, 0, r.stderr)
        r = d2.cli("user", "show", before["user_id"])
        self.assertEqual(r.returncode, 0, r.stderr)
        backup = os.path.join(d2.dir, "beside.db")
        r = d2.cli("backup", backup)
        self.assertEqual(r.returncode, 0, r.stderr)
        # migrate and restore take the lock too.
        r = d2.cli("migrate")
        self.assertNotIn(r.returncode, (0, 99), r.stderr)
        self.assertIn(str(d.proc.pid), r.stderr)
        self.assertEqual(d.get("/health").status, 200)
        # kill -9: the kernel drops the lock; the next daemon starts on the file.
        d.kill9()
        d2.start()
        d2.new_guest()
        self.assertEqual(gh.db_rows(db, "SELECT count(*) FROM users WHERE user_id = ?",
                                    (before["user_id"],))[0][0], 1)
        with open(db + ".lock") as f:
            self.assertEqual(f.read().strip(), str(d2.proc.pid))
        d2.stop()


@gh.sqlite_only("backup and restore of the database file")
class Restore(CliCase):

    def test_round_trip(self):
        d = Daemon().start()
        self.addCleanup(d.cleanup)
        db = d.settings["database_path"]
        kept_guest = d.new_guest()
        backup = os.path.join(self.dir, "b.db")
        r = d.cli("backup", backup)
        self.assertEqual(r.returncode, 0, r.stderr)
        lost_guest = d.new_guest()
        # Refused while the daemon runs; nothing replaced.
        r = d.cli("restore", backup)
        self.assertNotIn(r.returncode, (0, 99), r.stderr)
        self.assertIn(str(d.proc.pid), r.stderr)
        self.assertEqual(gh.db_rows(db, "SELECT count(*) FROM users WHERE user_id = ?",
                                    (lost_guest["user_id"],))[0][0], 1)
        d.stop()
        r = d.cli("restore", backup)
        self.assertEqual(r.returncode, 0, r.stderr)
        users = {u for (u,) in gh.db_rows(db, "SELECT user_id FROM users")}
        self.assertIn(kept_guest["user_id"], users)
        self.assertNotIn(lost_guest["user_id"], users)
        # The old database is kept aside, and still holds the change.
        aside = [n for n in os.listdir(os.path.dirname(db))
                 if n.startswith("gatehouse.db.before-restore-") and
                 not n.endswith(("-wal", "-shm"))]
        self.assertEqual(len(aside), 1, os.listdir(os.path.dirname(db)))
        self.assertIn(aside[0], r.stdout)
        old = os.path.join(os.path.dirname(db), aside[0])
        self.assertEqual(gh.db_rows(old, "SELECT count(*) FROM users WHERE user_id = ?",
                                    (lost_guest["user_id"],))[0][0], 1)
        d.start()
        r = d.get("/refresh-access-token?&refresh_token=" + kept_guest["refresh_token"])
        self.assertEqual(r.status, 200, r)
        d.stop()

    def test_foreign_and_damaged_files_refused(self):
        d = Daemon()
        self.addCleanup(d.cleanup)
        db = d.settings["database_path"]
        before = digest(db)
        foreign = os.path.join(self.dir, "foreign.db")
        con = sqlite3.connect(foreign)
        con.execute("CREATE TABLE recipes (name TEXT)")
        con.commit()
        con.close()
        damaged = os.path.join(self.dir, "damaged.db")
        r = d.cli("backup", damaged)
        self.assertEqual(r.returncode, 0, r.stderr)
        with open(damaged, "r+b") as f:
            size = os.path.getsize(damaged)
            for off in range(4096, size, 4096):
                f.seek(off + 8)
                f.write(b"\xde\xad\xbe\xef" * 64)
        # (the backup, an operator command, may leave the daemon's -wal and -shm)
        before = digest(db)
        listing = sorted(os.listdir(os.path.dirname(db)))
        text = os.path.join(self.dir, "notes.txt")
        with open(text, "w") as f:
            f.write("not a database\n" * 100)
        for bad in (foreign, damaged, text, os.path.join(self.dir, "missing.db")):
            with self.subTest(bad=bad):
                r = d.cli("restore", bad)
                self.assertNotIn(r.returncode, (0, 99), r.stdout)
                self.assertIn(bad, r.stderr)
                self.assertIn("nothing was replaced", r.stderr)
                self.assertEqual(digest(db), before)
                self.assertEqual(sorted(os.listdir(os.path.dirname(db))),
                                 sorted(set(listing) | {"gatehouse.db.lock"})
                                 if os.path.exists(db + ".lock") else listing)

    def test_onto_a_fresh_machine(self):
        d = Daemon()
        self.addCleanup(d.cleanup)
        backup = os.path.join(self.dir, "b.db")
        r = d.cli("backup", backup)
        self.assertEqual(r.returncode, 0, r.stderr)
        db = os.path.join(self.dir, "new", "state", "gatehouse.db")
        old_umask = os.umask(0o022)  # the common umask: the copy holds the signing keys
        try:
            r = self.run_cli("restore", backup, "--set", "database_path=" + db)
        finally:
            os.umask(old_umask)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertNotIn("kept", r.stdout)
        # Owner-only whatever the umask, as every file gatehouse creates (issue 14).
        self.assertEqual(os.stat(db).st_mode & 0o777, 0o600)
        self.assertEqual(os.stat(os.path.dirname(db)).st_mode & 0o777, 0o700)
        r = self.run_cli("check-db", "--set", "database_path=" + db)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)


@gh.sqlite_only("migrations of old database files")
class Migrate(CliCase):

    def test_status_and_apply_on_an_old_schema(self):
        build = len(sqlite_migrations())
        self.assertGreaterEqual(build, 3)
        db = os.path.join(self.dir, "old.db")
        make_old_database(db, 2)
        before = digest(db)
        r = self.run_cli("migrate", "--status", "--set", "database_path=" + db)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertRegex(r.stdout, r"database %s: schema version 2\b" % re.escape(db))
        self.assertRegex(r.stdout, r"this build: .*schema version %d\b" % build)
        self.assertIn("%d migration(s) pending" % (build - 2), r.stdout)
        self.assertEqual(digest(db), before, "--status changed the file")
        self.assertEqual(sorted(os.listdir(self.dir)), ["old.db"])
        r = self.run_cli("migrate", "--set", "database_path=" + db)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("from schema version 2 to %d" % build, r.stdout)
        self.assertEqual(gh.db_rows(db, "SELECT max(version) FROM schema_version")[0][0], build)
        # Version 3 counted the user's documents.
        self.assertEqual(gh.db_rows(db, "SELECT data_seq, data_keys, data_bytes FROM users"),
                         [(7, 2, 7)])
        # Version 5 moved the documents to a rowid table, byte for byte,
        # with the unique (user_id, key) index its upserts need.
        self.assertEqual(gh.db_rows(db, "SELECT user_id, key, value, version, updated_at"
                                    " FROM player_data ORDER BY key"),
                         [(UUID, "a", b"12345", 3, 1), (UUID, "b", b"xy", 7, 1)])
        sql = gh.db_rows(db, "SELECT sql FROM sqlite_master WHERE name = 'player_data'")[0][0]
        self.assertNotIn("WITHOUT ROWID", sql)
        self.assertEqual(len(gh.db_rows(db, "SELECT 1 FROM pragma_index_list('player_data')"
                                        " WHERE name = 'player_data_key' AND \"unique\"")), 1)
        r = self.run_cli("migrate", "--status", "--set", "database_path=" + db)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("up to date", r.stdout)
        r = self.run_cli("migrate", "--set", "database_path=" + db)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("nothing to do", r.stdout)

    def test_from_version_one(self):
        db = os.path.join(self.dir, "v1.db")
        make_old_database(db, 1)
        r = self.run_cli("migrate", "--set", "database_path=" + db)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("from schema version 1 to", r.stdout)
        self.assertEqual(len(gh.db_rows(db, "SELECT * FROM sqlite_master WHERE "
                                        "name = 'users_idle_guests'")), 1)

    def test_newer_schema_is_an_error_and_untouched(self):
        db = os.path.join(self.dir, "new.db")
        make_old_database(db, len(sqlite_migrations()))
        con = sqlite3.connect(db)
        con.execute("INSERT INTO schema_version (version) VALUES (99)")
        con.commit()
        con.close()
        before = digest(db)
        for args in (("migrate", "--status"), ("migrate",)):
            with self.subTest(args=args):
                r = self.run_cli(*(args + ("--set", "database_path=" + db)))
                self.assertNotIn(r.returncode, (0, 99), r.stdout)
                self.assertIn("newer", r.stderr)
                self.assertIn("99", r.stderr)
                self.assertEqual(digest(db), before)
                self.assertEqual(sorted(os.listdir(self.dir)), ["new.db"])

    def test_creates_a_database(self):
        db = os.path.join(self.dir, "state", "gatehouse.db")
        r = self.run_cli("migrate", "--set", "database_path=" + db)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("created", r.stdout)
        r = self.run_cli("check-db", "--set", "database_path=" + db)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)

    def test_not_a_gatehouse_database(self):
        db = os.path.join(self.dir, "other.db")
        con = sqlite3.connect(db)
        con.execute("CREATE TABLE recipes (name TEXT)")
        con.commit()
        con.close()
        before = digest(db)
        for args in (("migrate", "--status"), ("migrate",)):
            with self.subTest(args=args):
                r = self.run_cli(*(args + ("--set", "database_path=" + db)))
                self.assertNotIn(r.returncode, (0, 99), r.stdout)
                self.assertIn("not a gatehouse database", r.stderr)
                self.assertEqual(digest(db), before)


if __name__ == "__main__":
    unittest.main()
