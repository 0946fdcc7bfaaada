"""Integration-test harness: starts the real gatehouse binary on a free
loopback port with a temporary config and database, and talks raw HTTP to it
exactly as the engine SDKs do (the request target is sent byte for byte, so
'?&user_id=' and '//' reach the daemon unchanged).

Environment:
  GH_TEST_BIN        the binary under test (required)
  GH_TEST_VALGRIND=1 run the daemon under valgrind; any error or leak fails
                       (each distinct CLI command under it once per process)
  GH_TEST_SANITIZER=1 the binary is an ASan/UBSan build; reports fail
"""
import base64
import atexit
import http.client
import json
import os
import re
import shutil
import signal
import socket
import sqlite3
import uuid
import urllib.parse
import subprocess
import tempfile
import time
import unittest

# The test tooling's variables are GH_TEST_*: every GATEHOUSE_* variable is
# the daemon's, and an unknown one stops it. The old names are still taken
# (and removed from the environment the daemons inherit).
LEGACY_ENV = {"GATEHOUSE_BIN": "GH_TEST_BIN", "GATEHOUSE_VALGRIND": "GH_TEST_VALGRIND",
              "GATEHOUSE_SANITIZER": "GH_TEST_SANITIZER", "GATEHOUSE_TEST_JOBS": "GH_TEST_JOBS",
              "GATEHOUSE_TEST_SEED": "GH_TEST_SEED"}
for _old, _new in LEGACY_ENV.items():
    if _old in os.environ:
        os.environ.setdefault(_new, os.environ[_old])
        del os.environ[_old]

BIN = os.environ.get("GH_TEST_BIN", "")
VALGRIND = os.environ.get("GH_TEST_VALGRIND") == "1"
SANITIZER = os.environ.get("GH_TEST_SANITIZER") == "1"
# A PostgreSQL server's admin URL (tests/pg.sh exports it): the daemons under
# test then use PostgreSQL, each on a fresh database of its own.
PG_URL = os.environ.get("GH_TEST_DATABASE_URL", "")
START_TIMEOUT = 120 if VALGRIND else 30
VALGRIND_STATUS = 99  # valgrind's exit status when it found errors



# Under valgrind, OpenSSL is told to keep to its plain x86-64 code (no AVX,
# AES-NI or leaf-7 extensions): memcheck runs its AVX2 RSA code about three
# times slower, which made RSA signatures most of the valgrind suite's time.
# The daemon's own code runs exactly as before.
VALGRIND_ENV = {"OPENSSL_ia32cap": "~0x1200000000000000:0"} if VALGRIND else {}


def load_test(cls):
    """Marks a class that exists to put the daemon under load or scale (kill
    -9 twenty times, rotation every second for 30 s): it runs in the plain
    and ASan suites at full scale; under valgrind, which runs the daemon's
    threads one at a time some thirty times slower, it would test valgrind."""
    return unittest.skipIf(VALGRIND, "a load test: run at full scale in the plain "
                           "and ASan suites")(cls)


def sqlite_only(why):
    """Marks a test or class about SQLite itself (its file, modes, backup,
    restore, fault injection on its file system): skipped when the suite
    runs on PostgreSQL (GH_TEST_DATABASE_URL), saying why."""
    return unittest.skipIf(bool(PG_URL), "SQLite only (%s): the suite runs on PostgreSQL"
                           % why)


_seed = {}
_vg_commands_seen = set()


def seed_database():
    """A database holding signing keys, made once per test run with the plain
    binary (not under valgrind): RSA key generation under valgrind takes
    many seconds, and most tests need not repeat it."""
    if "path" not in _seed:
        d = tempfile.mkdtemp(prefix="gatehouse-seed-")
        atexit.register(shutil.rmtree, d, True)
        path = os.path.join(d, "seed.db")
        # Operator commands never create a database: migrate makes it.
        for cmd in (["migrate"], ["keys", "rotate"]):
            r = subprocess.run([BIN] + cmd + ["--set", "database_path=" + path],
                               capture_output=True, text=True, timeout=120)
            if r.returncode != 0:
                raise AssertionError("cannot make the seed database: " + r.stderr)
        # An operator command never checkpoints (so that only a daemon's
        # writer does): fold its WAL into the file, which is all we copy.
        con = sqlite3.connect(path, timeout=10)
        try:
            con.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
        finally:
            con.close()
        _seed["path"] = path
    return _seed["path"]


# ---- PostgreSQL (GH_TEST_DATABASE_URL) ----

def pg_url(dbname, base=None):
    """base (default GH_TEST_DATABASE_URL) naming database dbname instead."""
    u = urllib.parse.urlsplit(base or PG_URL)
    return urllib.parse.urlunsplit((u.scheme, u.netloc, "/" + dbname, u.query, u.fragment))


def psql(url, sql, variables=None, check=True):
    """Runs sql with psql on url (ON_ERROR_STOP; -v name=value for
    :'name' in sql); returns stdout."""
    cmd = ["psql", url, "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1"]
    for k, v in (variables or {}).items():
        cmd += ["-v", "%s=%s" % (k, v)]
    r = subprocess.run(cmd, input=sql, capture_output=True, text=True, timeout=120)
    if check and r.returncode != 0:
        raise AssertionError("psql failed: %s" % r.stderr.strip())
    return r.stdout


_pg = {}


def pg_new_database(template=None):
    """A new, empty database (or a copy of template) on the PostgreSQL server
    of GH_TEST_DATABASE_URL: its URL. Tests in parallel each get their own."""
    name = "gh_" + uuid.uuid4().hex[:16]
    psql(PG_URL, 'CREATE DATABASE "%s"%s' % (name, ' TEMPLATE "%s"' % template
                                              if template else ""))
    return pg_url(name)


def pg_seed_database():
    """The name of a database holding signing keys, made once per run (as
    seed_database does for SQLite); daemons start on copies of it."""
    if "seed" not in _pg:
        url = pg_new_database()
        for cmd in (["migrate"], ["keys", "rotate"]):
            r = subprocess.run([BIN] + cmd + ["--set", "database=" + url],
                               capture_output=True, text=True, timeout=120)
            if r.returncode != 0:
                raise AssertionError("cannot make the seed database: " + r.stderr)
        _pg["seed"] = urllib.parse.urlsplit(url).path[1:]
    return _pg["seed"]


def _pg_literal_sql(sql, args):
    """sql with each ? turned into a psql variable (:'pN'), and those variables."""
    out, variables, n = [], {}, 0
    for part in re.split(r"(\?)", sql):
        if part != "?":
            out.append(part)
            continue
        v = args[n]
        n += 1
        if v is None:
            out.append("NULL")
            continue
        if isinstance(v, (bytes, bytearray)):
            v = "\\x" + bytes(v).hex()
            out.append(":'p%d'::bytea" % n)
        elif isinstance(v, bool):
            v = "1" if v else "0"
            out.append(":'p%d'" % n)
        else:
            out.append(":'p%d'" % n)
        variables["p%d" % n] = str(v)
    return "".join(out), variables


def _pg_value(v):
    if isinstance(v, str) and v.startswith("\\x") and re.fullmatch(r"\\x[0-9a-f]*", v):
        return bytes.fromhex(v[2:])
    return v


# ---- the daemon's database ----
#
# The one place the tests reach the store's tables directly (to look at what
# was stored, or to plant a row the API cannot make). Today the back end is
# SQLite, one file; a test names the daemon (or a database path) and writes
# portable SQL with ? placeholders, so another back end needs only these two
# functions taught its client.

def _db_path(where):
    if isinstance(where, str):
        return where
    return where.settings.get("database") or where.settings["database_path"]


def db_rows(where, sql, args=()):
    """All rows of one read-only query on the database of where (a Daemon, or
    a database path or URL)."""
    path = _db_path(where)
    if path.startswith("postgres"):
        q, variables = _pg_literal_sql(sql.strip().rstrip(";"), list(args))
        out = psql(path, "SELECT coalesce(json_agg(t), '[]') FROM (%s) t" % q, variables)
        return [tuple(_pg_value(v) for v in row.values())
                for row in json.loads(out or "[]")]
    con = sqlite3.connect("file:%s?mode=ro" % _db_path(where), uri=True, timeout=10)
    try:
        return con.execute(sql, tuple(args)).fetchall()
    finally:
        con.close()


def db_tables(where):
    """The names of the database's tables."""
    if _db_path(where).startswith("postgres"):
        return [t for (t,) in db_rows(where, "SELECT table_name::text FROM "
                                      "information_schema.tables WHERE "
                                      "table_schema = current_schema()")]
    return [t for (t,) in db_rows(where, "SELECT name FROM sqlite_master WHERE type='table'")]


def db_columns(where, table):
    """The column names of a table, in order."""
    if _db_path(where).startswith("postgres"):
        return [c for (c,) in db_rows(where, "SELECT column_name::text FROM "
                                      "information_schema.columns WHERE table_name = ? "
                                      "AND table_schema = current_schema() "
                                      "ORDER BY ordinal_position", (table,))]
    return [c[1] for c in db_rows(where, "PRAGMA table_info(%s)" % table)]


def db_write(where, sql, args=(), many=False):
    """One short write transaction on the database of where (safe while the
    daemon runs); many: args is a list of parameter tuples."""
    path = _db_path(where)
    if path.startswith("postgres"):
        parts = []
        variables = {}
        for i, a in enumerate(args if many else [args]):
            q, v = _pg_literal_sql(sql.strip().rstrip(";"), list(a))
            for k, val in v.items():
                q = q.replace(":'%s'" % k, ":'%s_%d'" % (k, i))
                variables["%s_%d" % (k, i)] = val
            parts.append(q + ";")
        psql(path, "BEGIN;\n" + "\n".join(parts) + "\nCOMMIT;\n", variables)
        return
    con = sqlite3.connect(_db_path(where), timeout=10)
    try:
        with con:
            if many:
                con.executemany(sql, args)
            else:
                con.execute(sql, tuple(args))
    finally:
        con.close()


def log_digest(text, limit=4000):
    """A failed daemon's log for an assertion message: first what it said
    besides access and info lines (a sanitizer report, a libmicrohttpd
    fatal error, a warning), then the tail. CI shows the start of a long
    message, so the cause must not sit at the end of 4000 characters."""
    said = [l for l in text.splitlines()
            if not (l.startswith("ts=") and (" level=info " in l or " level=debug " in l))]
    head = "\n".join(said)
    if len(head) > limit // 2:
        head = head[:limit // 4] + "\n[...]\n" + head[-limit // 4:]
    tail = text[-(limit - len(head)):]
    return "-- what the daemon said besides info lines:\n%s\n-- the log's tail:\n%s" % (head, tail)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def b64url_decode(seg):
    return base64.urlsafe_b64decode(seg + "=" * (-len(seg) % 4))


def jwt_parts(token):
    """(header dict, payload dict) of a compact JWT, without verifying."""
    h, p, _ = token.split(".")
    return json.loads(b64url_decode(h)), json.loads(b64url_decode(p))


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers  # lower-case names
        self.body = body

    @property
    def text(self):
        return self.body.decode("utf-8", "replace")

    def json(self):
        return json.loads(self.body)

    def header(self, name):
        return self.headers.get(name.lower())

    def __repr__(self):
        return "<Response %d %r>" % (self.status, self.body[:200])


class Daemon:
    """One gatehouse process with its own temp directory, config and database."""

    def __init__(self, settings=None, keep_dir=None, fresh=False, env=None):
        """settings override the test defaults; fresh=True starts from an
        empty database (the daemon makes its first keys itself); env adds
        environment variables for `serve` (NOTIFY_SOCKET, ...)."""
        self.env = dict(env or {})
        self.dir = keep_dir or tempfile.mkdtemp(prefix="gatehouse-test-")
        self.port = free_port()
        self.settings = {
            "listen_address": "127.0.0.1",
            "listen_port": str(self.port),
            "database_path": os.path.join(self.dir, "db", "gatehouse.db"),
            "log_level": "debug",
        }
        if VALGRIND:
            # valgrind runs one thread at a time: fewer threads start faster
            # and change nothing else (a class may still set its own).
            self.settings.update({"http_threads": "2", "provider_workers": "2"})
        if settings:
            self.settings.update({k: str(v) for k, v in settings.items()})
        self.proc = None
        self.pg_created = None
        self.log_path = os.path.join(self.dir, "daemon.log")
        self.vg_logs = []
        self.serve_vg = None
        if self.settings.get("database", "").startswith("postgres"):
            self.settings.pop("database_path", None)  # a URL given: no SQLite file
        elif PG_URL and "database" not in self.settings and \
                "database_path" not in (settings or {}):
            # PostgreSQL: a database of this daemon's own (kept with its directory).
            marker = os.path.join(self.dir, "pg-database")
            if os.path.exists(marker):
                with open(marker) as f:
                    url = f.read().strip()
            else:
                url = pg_new_database(None if fresh else pg_seed_database())
                with open(marker, "w") as f:
                    f.write(url)
                self.pg_created = url
            del self.settings["database_path"]
            self.settings["database"] = url
            if VALGRIND:
                # libpq's SCRAM exchange (4096 PBKDF2 rounds) takes seconds
                # under valgrind: more than the 2 s default to connect.
                self.settings.setdefault("database_connect_timeout", "30s")
        self.write_config()
        db = self.settings.get("database_path")
        if db and not fresh and not keep_dir and not os.path.exists(db):
            os.makedirs(os.path.dirname(db), exist_ok=True)
            shutil.copyfile(seed_database(), db)

    @property
    def config_path(self):
        return os.path.join(self.dir, "gatehouse.conf")

    def write_config(self):
        # Owner-only, as an operator should keep it (one that others can
        # read gets a warning at start).
        fd = os.open(self.config_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w") as f:
            for k, v in self.settings.items():
                f.write('%s %s\n' % (k, v if v != "" else '""'))

    @property
    def base_url(self):
        return "http://127.0.0.1:%d%s" % (self.port, self.settings.get("base_path", ""))

    def command(self, *args, valgrind=True):
        """The command line for a subcommand, under valgrind when asked;
        its valgrind log is the last of self.vg_logs."""
        cmd = [BIN] + list(args) + ["--config", self.config_path]
        if VALGRIND and valgrind:
            vg = os.path.join(self.dir, "valgrind-%d.log" % len(self.vg_logs))
            self.vg_logs.append(vg)
            cmd = ["valgrind", "--error-exitcode=%d" % VALGRIND_STATUS, "--leak-check=full",
                   "--show-leak-kinds=definite,indirect",
                   "--errors-for-leak-kinds=definite,indirect",
                   "--log-file=" + vg] + cmd
        return cmd

    def start(self):
        self.write_config()
        self.log = open(self.log_path, "ab")
        env = dict(os.environ)
        env.update(VALGRIND_ENV)
        env.update(self.env)
        self.proc = subprocess.Popen(self.command("serve"), stdout=self.log,
                                     stderr=self.log, cwd=self.dir, env=env)
        self.serve_vg = self.vg_logs[-1] if VALGRIND else None
        deadline = time.time() + START_TIMEOUT
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError("daemon exited at start (%s):\n%s"
                                     % (self.proc.returncode, self.log_text()))
            try:
                if self.request("GET", self.path("/health"), timeout=2).status == 200:
                    return self
            except OSError:
                pass
            time.sleep(0.05)
        raise AssertionError("daemon did not become healthy:\n" + self.log_text())

    def path(self, p):
        return self.settings.get("base_path", "") + p

    def documents(self, headers):
        """Every item of GET /player-data for the token in headers, following the cursor."""
        items, cursor = [], None
        while True:
            q = "?limit=1000" + ("&cursor=" + urllib.parse.quote(cursor) if cursor else "")
            r = self.request("GET", self.path("/player-data" + q), headers)
            assert r.status == 200, r
            j = r.json()
            items += j["items"]
            cursor = j["next_cursor"]
            if cursor is None:
                return items

    def stop(self, check=True):
        """SIGTERM; by default asserts a clean exit (status 0, no leaks)."""
        if not self.proc:
            return None
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout=START_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError("daemon did not stop on SIGTERM:\n" + self.log_text())
        self.proc = None
        self.log.close()
        if check:
            self.check_clean_exit(rc)
        return rc

    def check_clean_exit(self, rc):
        problems = []
        if rc != 0:
            problems.append("exit status %d" % rc)
        text = self.log_text()
        if SANITIZER and ("ERROR: AddressSanitizer" in text or "runtime error:" in text
                          or "ERROR: LeakSanitizer" in text):
            problems.append("sanitizer report")
        if VALGRIND and self.serve_vg:
            vg = open(self.serve_vg).read()
            m = re.search(r"ERROR SUMMARY: (\d+) errors", vg)
            if not m or m.group(1) != "0":
                problems.append("valgrind errors:\n" + vg[-6000:])
        if problems:
            raise AssertionError("unclean daemon exit: %s\n%s"
                                 % ("; ".join(problems), log_digest(text)))

    def kill9(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        self.proc = None
        self.log.close()

    def restart(self):
        self.stop()
        return self.start()

    def cleanup(self):
        if self.proc:
            try:
                self.stop(check=False)
            except Exception:
                pass
        if self.pg_created:
            # Its database goes with it (a copy of the seed is some megabytes).
            name = urllib.parse.urlsplit(self.pg_created).path[1:]
            psql(PG_URL, 'DROP DATABASE IF EXISTS "%s" WITH (FORCE)' % name, check=False)
        shutil.rmtree(self.dir, ignore_errors=True)

    def log_text(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def cli(self, *args, env=None):
        """Runs a gatehouse subcommand against this daemon's config."""
        e = dict(os.environ)
        e.update(VALGRIND_ENV)
        if env:
            e.update(env)
        # Under valgrind (a second or two per command) each distinct command
        # runs under it once per test process; its repeats run natively.
        name = tuple(a for a in args[:2] if not a.startswith("-"))
        under_vg = VALGRIND and (args[:1] == ("serve",) or name not in _vg_commands_seen)
        _vg_commands_seen.add(name)
        r = subprocess.run(self.command(*args, valgrind=under_vg), capture_output=True,
                           text=True, cwd=self.dir, env=e, timeout=START_TIMEOUT)
        if under_vg and r.returncode == VALGRIND_STATUS:
            raise AssertionError("valgrind errors in 'gatehouse %s':\n%s"
                                 % (" ".join(args), open(self.vg_logs[-1]).read()[-6000:]))
        if SANITIZER and ("Sanitizer" in r.stderr or "runtime error:" in r.stderr):
            raise AssertionError("sanitizer report in 'gatehouse %s':\n%s"
                                 % (" ".join(args), r.stderr[-6000:]))
        return r

    def request(self, method, target, headers=None, body=None, timeout=15):
        """Sends target verbatim (no re-encoding) and returns a Response."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            conn.putrequest(method, target, skip_accept_encoding=True)
            hdrs = dict(headers or {})
            if isinstance(body, (dict, list)):
                body = json.dumps(body).encode()
                hdrs.setdefault("Content-Type", "application/json")
            elif isinstance(body, str):
                body = body.encode()
            for k, v in hdrs.items():
                conn.putheader(k, v)
            if body is not None:
                conn.putheader("Content-Length", str(len(body)))
            conn.endheaders(body)
            r = conn.getresponse()
            data = r.read()
            return Response(r.status, {k.lower(): v for k, v in r.getheaders()}, data)
        finally:
            conn.close()

    def get(self, target, **kw):
        return self.request("GET", self.path(target), **kw)

    def post(self, target, **kw):
        return self.request("POST", self.path(target), **kw)

    # --- SDK-shaped helpers ---

    def new_guest(self):
        r = self.get("/login-as-guest")
        assert r.status == 200, r
        return r.json()

    def raw(self, data, read_timeout=5):
        """Sends raw bytes on a new connection; returns everything read."""
        s = socket.create_connection(("127.0.0.1", self.port))
        s.settimeout(read_timeout)
        try:
            s.sendall(data)
            out = b""
            while True:
                try:
                    c = s.recv(65536)
                except socket.timeout:
                    break
                except ConnectionResetError:
                    break
                if not c:
                    break
                out += c
            return out
        finally:
            s.close()


class DaemonTest:
    """Mixin for unittest.TestCase classes sharing one daemon per class.
    Subclasses may set SETTINGS."""
    SETTINGS = None
    daemon = None

    @classmethod
    def setUpClass(cls):
        cls.daemon = Daemon(cls.SETTINGS).start()

    @classmethod
    def tearDownClass(cls):
        try:
            if cls.daemon and cls.daemon.proc:
                cls.daemon.stop()
        finally:
            cls.daemon.cleanup()
