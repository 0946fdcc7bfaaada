"""Crash, fault and key-rotation tests of the hardening issue
(notes/security.md (b) D1, D3, D5, D9, D10; C 50-52):

- kill -9 at random moments of a mixed load (guest creation and login,
  refresh, logout, set-player-data, storage PUT and batches), many times:
  after every restart each acknowledged write is there with its value and
  version, each acknowledged logout still holds, an unacknowledged operation
  is either wholly there or wholly absent, and the database passes
  integrity_check and foreign_key_check;
- disk full (the database on a small tmpfs filled up while the daemon
  writes): writes answer 503 with the route's usual error body, reads keep
  working, and writes resume, without a restart, once space is free;
- the file system turning read-only under the running daemon: writes 503,
  reads work, nothing acknowledged is lost;
- `gatehouse keys rotate` every second under load: no request fails because
  of a rotation, and every access token verifies against the JWKS published
  when it was issued; and the documented behaviour of one rotation (the old
  tokens keep working, new ones carry the new key).

Every acknowledgement (a 2xx answer received) goes to a ledger before the
fault; the checks compare the database (read-only SQLite connection) and
the daemon's answers with it. Nothing here measures time: counts and
durations are only scaled down under valgrind (about 30x slower) and ASan.
"""
import ctypes
import http.client
import json
import os
import random
import shutil
import subprocess
import tempfile
import threading
import time
import unittest
import sqlite3

import gh
from gh import Daemon, jwt_parts, b64url_decode, VALGRIND, SANITIZER

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

SLOW = VALGRIND or SANITIZER
# kill -9 rounds: 20 in the plain run; valgrind and ASan runs are 30x and
# 3x slower, so they do 3 (each still a full load / kill / verify cycle).
CRASH_ROUNDS = 3 if SLOW else 20
CRASH_THREADS = 2 if VALGRIND else 4
# How long the load runs before the kill, drawn at random in this range.
KILL_AFTER = (3.0, 8.0) if VALGRIND else (0.5, 2.0) if SANITIZER else (0.2, 1.2)
# Key rotation under load: 30 s in the plain run, 8 s under valgrind/ASan.
ROTATE_FOR = 8 if SLOW else 30
ROTATE_THREADS = 2 if VALGRIND else 3
# Writes of the disk-full test's background writer (see there).
STREAM_WRITES = 150
# How long to wait for the daemon to notice an operator's rotation (README:
# "within 2 seconds"): a generous bound, not a latency assertion.
PICKUP_BOUND = 120 if VALGRIND else 20

CONN_ERRORS = (OSError, http.client.HTTPException)
JSON = {"Content-Type": "application/json"}
SEED = int(os.environ.get("GH_TEST_SEED", "0")) or random.randrange(1, 1 << 30)
LOAD_SETTINGS = {
    "rate_limit_login": 0,        # the load comes from one address
    "refresh_reuse_grace": "300s",  # a refresh lost to the kill stays presentable
    "log_level": "info",
}


def jdump(obj):
    return json.dumps(obj, separators=(",", ":")).encode()


def rt_claims(token):
    return jwt_parts(token)[1]


def db_snapshot(path):
    """integrity_check, foreign_key_check and the rows the ledger is checked
    against, through a read-only connection (it never writes or
    checkpoints; the daemon may be running)."""
    if path.startswith("postgres"):
        # PostgreSQL checks its pages and foreign keys itself: the rows only.
        users = {r[0] for r in gh.db_rows(path, "SELECT user_id::text FROM users")}
        docs = {(u, k): (v, bytes(val)) for u, k, val, v in gh.db_rows(
            path, "SELECT user_id::text, key, value, version FROM player_data")}
        sessions = {sid: (cur, prev, ended) for sid, cur, prev, ended in gh.db_rows(
            path, "SELECT session_id, current_jti, previous_jti, ended_at FROM sessions")}
        return ["ok"], [], users, docs, sessions
    con = sqlite3.connect("file:%s?mode=ro" % path, uri=True, timeout=60)
    try:
        integrity = [r[0] for r in con.execute("PRAGMA integrity_check")]
        fk = con.execute("PRAGMA foreign_key_check").fetchall()
        users = {r[0] for r in con.execute("SELECT user_id FROM users")}
        docs = {(u, k): (v, bytes(val)) for u, k, val, v in
                con.execute("SELECT user_id, key, value, version FROM player_data")}
        sessions = {sid: (cur, prev, ended) for sid, cur, prev, ended in con.execute(
            "SELECT session_id, current_jti, previous_jti, ended_at FROM sessions")}
    finally:
        con.close()
    return integrity, fk, users, docs, sessions


# ---------------------------------------------------------------- the ledger

class Session:
    def __init__(self, uid, rt):
        self.uid = uid
        self.set_rt(rt)
        self.ended = False
        self.pending = None      # "refresh" or "logout" lost to a kill
        self.touched = True      # acknowledged activity since the last check

    def set_rt(self, rt):
        c = rt_claims(rt)
        self.rt, self.sid, self.jti = rt, c["sid"], c["jti"]


class User:
    def __init__(self, uid, secret, at):
        self.uid, self.secret, self.at = uid, secret, at
        self.name = None          # last acknowledged player_name
        self.docs = {}            # key -> (version, bytes) acknowledged
        self.pending = None       # ("name", v) / ("put", key, bytes) / ("batch", [(k, b)])
        self.new = True           # created since the last check
        self.touched = True


class Worker:
    """One client thread's share of the load: its own users and sessions
    (so that each user's operations are sequential and at most one of them
    is in flight when the daemon dies)."""
    MAX_USERS = 12

    def __init__(self, idx, seed):
        self.idx = idx
        self.rng = random.Random(seed)
        self.users = []
        self.sessions = []
        self.n = 0
        self.acks = 0
        self.errors = []

    # -- requests --
    def new_guest(self, d):
        r = d.get("/login-as-guest")
        self.expect(r, 200, "new guest")
        j = r.json()
        u = User(j["user_id"], j["guest_secret"], j["auth_token"])
        self.users.append(u)
        self.sessions.append(Session(u.uid, j["refresh_token"]))

    def login(self, d, u):
        r = d.get("/login-as-guest?&user_id=%s&guest_secret=%s" % (u.uid, u.secret))
        self.expect(r, 200, "guest login")
        j = r.json()
        u.at = j["auth_token"]
        u.touched = True
        self.sessions.append(Session(u.uid, j["refresh_token"]))

    def refresh(self, d, s):
        s.pending = "refresh"
        r = d.get("/refresh-access-token?&refresh_token=" + s.rt)
        self.expect(r, 200, "refresh")
        j = r.json()
        s.set_rt(j["refresh_token"])
        s.pending, s.touched = None, True
        self.user(s.uid).at = j["auth_token"]

    def logout(self, d, s):
        s.pending = "logout"
        r = d.post("/logout", body={"refresh_token": s.rt})
        self.expect(r, 200, "logout")
        if r.json().get("sessions_ended") != 1:
            self.errors.append(("logout of a live session", r))
        s.ended, s.pending, s.touched = True, None, True

    def set_name(self, d, u):
        v = "p%d-%d" % (self.idx, self.n)
        u.pending = ("name", v)
        r = d.get("/set-player-data?&player_name=" + v, headers={"Authorization": u.at})
        self.expect(r, 200, "set-player-data")
        u.name, u.pending, u.touched = v, None, True

    def put(self, d, u):
        key = "k%d" % self.rng.randrange(3)
        body = jdump({"w": self.idx, "n": self.n, "pad": "x" * self.rng.randrange(0, 3000)})
        u.pending = ("put", key, body)
        h = {"Authorization": u.at}
        h.update(JSON)
        r = d.request("PUT", d.path("/player-data/" + key), h, body)
        if r.status not in (200, 201):
            self.expect(r, 200, "storage PUT")
        u.docs[key] = (r.json()["version"], body)
        u.pending, u.touched = None, True

    def batch(self, d, u):
        items = [("b0", jdump({"n": self.n, "i": 0})), ("b1", jdump({"n": self.n, "i": 1}))]
        body = b'{"writes":[' + b",".join(
            b'{"key":' + jdump(k) + b',"value":' + v + b"}" for k, v in items) + b"]}"
        u.pending = ("batch", items)
        h = {"Authorization": u.at}
        h.update(JSON)
        r = d.request("POST", d.path("/player-data-batch"), h, body)
        self.expect(r, 200, "batch")
        for (k, v), res in zip(items, r.json()["results"]):
            u.docs[k] = (res["version"], v)
        u.pending, u.touched = None, True

    def expect(self, r, status, what):
        if r.status != status:
            raise AssertionError("%s: %r" % (what, r))

    def idle_sessions(self, live):
        """Live sessions whose access token is not the one their user sends:
        ending a session refuses its access tokens at once (API.md D.1)."""
        return [s for s in live if rt_claims(self.user(s.uid).at).get("sid") != s.sid]

    def user(self, uid):
        for u in self.users:
            if u.uid == uid:
                return u
        raise KeyError(uid)

    # -- the loop --
    def step(self, d):
        self.n += 1
        live = [s for s in self.sessions if not s.ended]
        x = self.rng.random()
        if not self.users or (x < 0.08 and len(self.users) < self.MAX_USERS):
            self.new_guest(d)
        elif x < 0.13:
            self.login(d, self.rng.choice(self.users))
        elif x < 0.33 and live:
            self.refresh(d, self.rng.choice(live))
        elif x < 0.40 and len(live) > 1 and self.idle_sessions(live):
            self.logout(d, self.rng.choice(self.idle_sessions(live)))
        elif x < 0.58:
            self.set_name(d, self.rng.choice(self.users))
        elif x < 0.88:
            self.put(d, self.rng.choice(self.users))
        else:
            self.batch(d, self.rng.choice(self.users))
        self.acks += 1

    def run(self, d, killed):
        while True:
            try:
                self.step(d)
            except CONN_ERRORS as e:
                if not killed.is_set():
                    self.errors.append(("connection failed before the kill", repr(e)))
                return
            except AssertionError as e:
                if not killed.is_set():
                    self.errors.append(str(e))
                return


# ---------------------------------------------------------------- the tests

@gh.load_test
class CrashTest(unittest.TestCase):
    """D1/D3/D5: kill -9 at random moments of a mixed load."""

    def setUp(self):
        self.d = Daemon(LOAD_SETTINGS)
        self.addCleanup(self.d.cleanup)
        self.d.start()
        self.workers = [Worker(i, SEED * 100 + i) for i in range(CRASH_THREADS)]

    def check_doc(self, u, key, stored, want, attempts):
        """stored (version, bytes) or None against the acknowledged state
        want (or None) and the bytes of a lost write (attempts)."""
        if stored == want:
            return
        if attempts and stored is not None and stored[1] in attempts and \
                (want is None or stored[0] > want[0]):
            return
        self.fail("user %s key %s: stored %r, acknowledged %r, lost attempts %r (seed %d)"
                  % (u.uid, key, stored, want, attempts, SEED))

    def verify(self, rnd):
        d = self.d
        integrity, fk, users, docs, sessions = db_snapshot(gh._db_path(d))
        self.assertEqual(integrity, ["ok"], "round %d" % rnd)
        self.assertEqual(fk, [], "round %d" % rnd)
        r = d.cli("check-db")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        for w in self.workers:
            for u in w.users:
                self.assertIn(u.uid, users, "acknowledged guest lost (seed %d)" % SEED)
                # player_name: the last acknowledged value, or a lost one
                p = u.pending
                stored = docs.get((u.uid, "player_name"))
                want = jdump(u.name) if u.name is not None else None
                lost = [jdump(p[1])] if p and p[0] == "name" else []
                if stored is None:
                    self.assertIsNone(want, "player_name of %s lost" % u.uid)
                else:
                    self.assertIn(stored[1], [want] + lost,
                                  "player_name of %s (seed %d)" % (u.uid, SEED))
                    u.name = json.loads(stored[1])
                # storage documents
                keys = set(u.docs)
                if p and p[0] == "put":
                    keys.add(p[1])
                if p and p[0] == "batch":
                    keys.update(k for k, _ in p[1])
                for key in keys:
                    lost = []
                    if p and p[0] == "put" and p[1] == key:
                        lost = [p[2]]
                    if p and p[0] == "batch":
                        lost = [v for k, v in p[1] if k == key]
                    self.check_doc(u, key, docs.get((u.uid, key)), u.docs.get(key), lost)
                if p and p[0] == "batch":
                    applied = [docs.get((u.uid, k), (0, None))[1] == v for k, v in p[1]]
                    self.assertIn(applied, ([True] * len(applied), [False] * len(applied)),
                                  "half-applied batch of %s (seed %d)" % (u.uid, SEED))
                # what survived is now the known state
                for key in keys:
                    if (u.uid, key) in docs:
                        u.docs[key] = docs[(u.uid, key)]
                u.pending = None
            for s in w.sessions:
                row = sessions.get(s.sid)
                if s.ended:
                    # ended (or purged since): never live again
                    self.assertTrue(row is None or row[2] is not None,
                                    "acknowledged logout of session %d lost" % s.sid)
                    continue
                self.assertIsNotNone(row, "acknowledged session %d lost" % s.sid)
                cur, prev, ended = row
                if s.pending == "logout":
                    self.assertEqual(cur, s.jti)
                    s.ended = ended is not None
                    s.touched = True
                elif s.pending == "refresh":
                    self.assertIsNone(ended)
                    self.assertIn(s.jti, (cur, prev), "session %d" % s.sid)
                    # The lost refresh may have rotated the session: refreshed
                    # below (its token is then the previous one, in grace), so
                    # that the ledger knows the current token again.
                    s.touched = True
                else:
                    self.assertIsNone(ended, "session %d ended without a logout" % s.sid)
                    self.assertEqual(s.jti, cur, "session %d: acknowledged rotation lost"
                                     % s.sid)
        # Through the daemon: what this round touched is served back.
        for w in self.workers:
            for s in w.sessions:
                if not s.touched:
                    continue
                r = d.get("/refresh-access-token?&refresh_token=" + s.rt)
                if s.ended:
                    self.assertEqual(r.status, 401, "refresh after logout: %r" % r)
                    self.assertEqual(r.text, "Error: Failed to validate refresh token")
                else:
                    # current token, or the previous one of a lost refresh (grace)
                    self.assertEqual(r.status, 200, "live session %d: %r" % (s.sid, r))
                    s.set_rt(r.json()["refresh_token"])
                    w.user(s.uid).at = r.json()["auth_token"]
                s.pending, s.touched = None, False
            for u in w.users:
                if u.new:
                    r = d.get("/login-as-guest?&user_id=%s&guest_secret=%s" % (u.uid, u.secret))
                    self.assertEqual(r.status, 200, "acknowledged guest cannot log in: %r" % r)
                    w.sessions.append(Session(u.uid, r.json()["refresh_token"]))
                    w.sessions[-1].touched = False
                    u.at, u.new = r.json()["auth_token"], False
                if not u.touched:
                    continue
                r = d.get("/get-player-data", headers={"Authorization": u.at})
                self.assertEqual(r.status, 200, r)
                self.assertEqual(r.json().get("PlayerName"), u.name)
                for key, (ver, body) in u.docs.items():
                    r = d.get("/player-data/" + key, headers={"Authorization": u.at})
                    self.assertEqual(r.status, 200, r)
                    self.assertEqual(r.body, body)
                    self.assertEqual(r.header("ETag"), '"%d"' % ver)
                u.touched = False

    def test_kill9_during_mixed_load(self):
        rng = random.Random(SEED)
        total = 0
        for rnd in range(CRASH_ROUNDS):
            killed = threading.Event()
            threads = [threading.Thread(target=w.run, args=(self.d, killed))
                       for w in self.workers]
            for t in threads:
                t.start()
            time.sleep(rng.uniform(*KILL_AFTER))
            killed.set()
            self.d.kill9()
            for t in threads:
                t.join(120)
                self.assertFalse(t.is_alive(), "a client thread hangs")
            errors = [e for w in self.workers for e in w.errors]
            self.assertEqual(errors, [], "requests failed before the kill (seed %d)" % SEED)
            self.d.start()
            self.verify(rnd)
        total = sum(w.acks for w in self.workers)
        print("(seed %d, %d acknowledged operations in %d rounds)" % (SEED, total, CRASH_ROUNDS),
              end=" ", flush=True)
        # The load did something in every round (no timing claim beyond that).
        self.assertGreater(total, CRASH_ROUNDS, "seed %d" % SEED)
        self.d.stop()
        integrity = db_snapshot(gh._db_path(self.d))[0]
        self.assertEqual(integrity, ["ok"])


# ---------------------------------------------------------------- faults

def run(*cmd):
    return subprocess.run(list(cmd), capture_output=True, text=True, timeout=60)


class FaultBase(unittest.TestCase):
    """A daemon whose database lives on a file system of its own."""

    def mount_tmpfs(self, size):
        if os.geteuid() != 0:
            self.skipTest("mounting a tmpfs needs root")
        mnt = tempfile.mkdtemp(prefix="gatehouse-fs-")
        self.addCleanup(os.rmdir, mnt)
        r = run("mount", "-t", "tmpfs", "-o", "size=%s,mode=0700" % size, "tmpfs", mnt)
        if r.returncode != 0:
            self.skipTest("cannot mount a tmpfs: " + r.stderr.strip())
        self.addCleanup(self.umount, mnt)
        return mnt

    def umount(self, mnt):
        r = run("umount", mnt)
        if r.returncode != 0:
            raise AssertionError("cannot unmount %s: %s" % (mnt, r.stderr))

    def start_daemon(self, mnt):
        self.d = Daemon(dict(LOAD_SETTINGS, database_path=os.path.join(mnt, "gatehouse.db")))
        self.addCleanup(self.d.cleanup)   # runs before the unmount
        # The seed database was copied without an fsync: put it on the
        # device, so that what follows relies on the daemon's own fsyncs.
        os.sync()
        return self.d.start()

    # -- a few users with acknowledged data --
    def make_users(self, n):
        users = []
        for i in range(n):
            g = self.d.new_guest()
            u = User(g["user_id"], g["guest_secret"], g["auth_token"])
            u.rt = g["refresh_token"]
            self.set_name(u, "before-%d" % i)
            self.assertEqual(self.put(u, "save", jdump({"i": i})).status, 201)
            users.append(u)
        return users

    def set_name(self, u, v):
        r = self.d.get("/set-player-data?&player_name=" + v, headers={"Authorization": u.at})
        if r.status == 200:
            u.name = v
        return r

    def put(self, u, key, body):
        h = {"Authorization": u.at}
        h.update(JSON)
        r = self.d.request("PUT", self.d.path("/player-data/" + key), h, body)
        if r.status in (200, 201):
            u.docs[key] = (r.json()["version"], body)
        return r

    def assert_reads(self, users):
        d = self.d
        for u in users:
            r = d.get("/get-player-data", headers={"Authorization": u.at})
            self.assertEqual(r.status, 200, r)
            self.assertEqual(r.json(), {"UserID": u.uid, "PlayerName": u.name})
            for key, (ver, body) in u.docs.items():
                r = d.get("/player-data/" + key, headers={"Authorization": u.at})
                self.assertEqual(r.status, 200, r)
                self.assertEqual(r.body, body)
                self.assertEqual(r.header("ETag"), '"%d"' % ver)
            r = d.get("/player-data", headers={"Authorization": u.at})
            self.assertEqual(r.status, 200, r)
            self.assertEqual(sorted(i["key"] for i in r.json()["items"]),
                             sorted(set(u.docs) | {"player_name"}))
            r = d.get("/get-user", headers={"Authorization": u.at})
            self.assertEqual(r.status, 200, r)
        self.assertEqual(d.get("/.well-known/jwks.json").status, 200)
        self.assertEqual(d.get("/health").status, 200)

    def assert_writes_refused(self, users):
        """Every kind of write answers 503 with the route's error shape."""
        d = self.d
        u = users[0]
        r = self.put(u, "save", jdump({"big": "y" * 20000}))
        self.assertEqual(r.status, 503, r)
        self.assertEqual(r.json(), {"error": "unavailable", "message": "Try again shortly"})
        self.assertEqual(r.header("Retry-After"), "1")
        r = self.set_name(u, "during")
        self.assertEqual(r.status, 503, r)
        self.assertEqual(r.json(), {"message": "Service Unavailable"})
        self.assertEqual(r.header("Retry-After"), "1")
        for target in ("/login-as-guest",
                       "/login-as-guest?&user_id=%s&guest_secret=%s" % (u.uid, u.secret),
                       "/refresh-access-token?&refresh_token=" + u.rt):
            r = d.get(target)
            self.assertEqual(r.status, 503, "%s: %r" % (target.split("?")[0], r))
            self.assertEqual(r.text, "Error: Service unavailable")
            self.assertEqual(r.header("Retry-After"), "1")
        h = dict(JSON, Authorization=u.at)
        r = d.request("POST", d.path("/player-data-batch"), h,
                      b'{"writes":[{"key":"a","value":1},{"key":"b","value":"' +
                      b"z" * 9000 + b'"}]}')
        self.assertEqual(r.status, 503, r)
        self.assertEqual(r.json(), {"error": "unavailable", "message": "Try again shortly"})
        r = d.post("/logout", body={"refresh_token": u.rt})
        self.assertEqual(r.status, 503, r)
        self.assertEqual(r.json(), {"error": "unavailable", "message": "Try again shortly"})
        self.assertIsNone(d.proc.poll(), "the daemon died")

    def assert_writes_work(self, users):
        d = self.d
        for i, u in enumerate(users):
            r = self.put(u, "save", jdump({"after": i, "pad": "q" * 20000}))
            self.assertEqual(r.status, 200, r)
            self.assertEqual(self.set_name(u, "after-%d" % i).status, 200)
            # the refresh token refused with 503 was not spent
            r = d.get("/refresh-access-token?&refresh_token=" + u.rt)
            self.assertEqual(r.status, 200, r)
            u.rt, u.at = r.json()["refresh_token"], r.json()["auth_token"]
        self.assertEqual(d.get("/login-as-guest").status, 200)

    def assert_db_ok(self, users):
        """After a clean stop: integrity, and every acknowledged write."""
        integrity, fk, _, docs, _ = db_snapshot(gh._db_path(self.d))
        self.assertEqual(integrity, ["ok"])
        self.assertEqual(fk, [])
        r = self.d.cli("check-db")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        for u in users:
            self.assertEqual(docs[(u.uid, "player_name")][1], jdump(u.name))
            for key, want in u.docs.items():
                self.assertEqual(docs[(u.uid, key)], want)


@gh.sqlite_only("a full file system under the database file")
class DiskFullTest(FaultBase):
    """D9: the database's file system fills up while the daemon writes."""

    def fill(self, path):
        """Takes every free byte of the file system (appending to path)."""
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            chunk = 1 << 20
            while chunk:
                try:
                    os.write(fd, b"\0" * chunk)
                except OSError as e:
                    if e.errno != 28:
                        raise
                    chunk //= 2
        finally:
            os.close(fd)

    def test_disk_full_then_freed(self):
        mnt = self.mount_tmpfs("24m")
        d = self.start_daemon(mnt)
        users = self.make_users(3)
        sw = self.make_users(1)[0]
        # A writer keeps going while the disk fills: before, 2xx; after, 503.
        stop = threading.Event()
        acked, bad = [], []

        def writer():
            u = User(sw.uid, None, sw.at)
            n = 0
            # Bounded, so that the WAL stays under its automatic checkpoint
            # (1000 pages) and only grows: a checkpoint would restart it
            # from its beginning, and writes into the room of an old WAL
            # need no new space (they then rightly succeed on a full disk).
            while not stop.is_set() and n < STREAM_WRITES:
                n += 1
                time.sleep(0.005)
                body = jdump({"n": n, "pad": "w" * 1500})
                try:
                    r = self.put(u, "stream%d" % (n % 5), body)
                except CONN_ERRORS as e:
                    bad.append(repr(e))
                    return
                if r.status in (200, 201):
                    acked.append(("stream%d" % (n % 5), r.json()["version"], body))
                elif r.status != 503 or r.json() != {"error": "unavailable",
                                                      "message": "Try again shortly"}:
                    bad.append(r)
        t = threading.Thread(target=writer)
        t.start()
        try:
            time.sleep(0.1)
            filler = os.path.join(mnt, "filler")
            self.fill(filler)
            # The writer may have been mid-commit: let it settle on 503s,
            # and take again whatever a failed write gave back.
            time.sleep(0.5)
            self.fill(filler)
            self.assert_writes_refused(users)
            self.assert_reads(users)
        finally:
            stop.set()
            t.join(60)
        self.assertEqual(bad, [])
        self.assertIsNone(d.proc.poll(), "the daemon died on a full disk")
        os.unlink(filler)
        # No restart: the next writes succeed.
        self.assert_writes_work(users)
        self.assert_reads(users)
        latest = {}
        for key, ver, body in acked:
            if ver > latest.get(key, (0,))[0]:
                latest[key] = (ver, body)
        for key, (ver, body) in latest.items():
            r = d.get("/player-data/" + key, headers={"Authorization": sw.at})
            self.assertEqual((r.status, r.body, r.header("ETag")), (200, body, '"%d"' % ver))
        sw.docs.update(latest)
        d.stop()
        self.assert_db_ok(users + [sw])


@gh.sqlite_only("a read-only file system under the database file")
class ReadOnlyTest(FaultBase):
    """D10-like: the database's file system becomes read-only under the
    daemon. As root neither chmod nor chattr +i stops writes through the
    daemon's open descriptors, and the kernel refuses `mount -o remount,ro`
    while a file is open for writing (the daemon's database is). What does
    turn a file system read-only under open files is an ext4 error with
    errors=remount-ro, which is what happens to a failing disk: the test
    uses an ext4 image on a loop device and ext4's trigger_fs_error."""

    def setUp(self):
        if os.geteuid() != 0:
            self.skipTest("loop devices and mounts need root")
        for tool in ("mkfs.ext4", "mount", "umount"):
            if not shutil.which(tool):
                self.skipTest(tool + " is not installed")

    def mount_image(self):
        self.img = tempfile.NamedTemporaryFile(prefix="gatehouse-ext4-", delete=False).name
        self.addCleanup(os.unlink, self.img)
        os.truncate(self.img, 32 << 20)
        r = run("mkfs.ext4", "-q", "-F", "-O", "^has_journal", self.img)
        if r.returncode != 0:
            self.skipTest("mkfs.ext4 failed: " + r.stderr.strip())
        mnt = tempfile.mkdtemp(prefix="gatehouse-ro-")
        self.addCleanup(os.rmdir, mnt)
        r = run("mount", "-o", "loop,errors=remount-ro", self.img, mnt)
        if r.returncode != 0:
            self.skipTest("cannot mount an ext4 image on a loop device: " + r.stderr.strip())
        self.mounted = mnt
        self.addCleanup(self.umount_if_mounted, mnt)
        return mnt

    def umount_if_mounted(self, mnt):
        if self.mounted:
            self.umount(mnt)
            self.mounted = None

    def make_read_only(self, mnt):
        dev = run("findmnt", "-no", "SOURCE", mnt).stdout.strip()
        trigger = "/sys/fs/ext4/%s/trigger_fs_error" % os.path.basename(dev)
        if not os.path.exists(trigger):
            self.skipTest("no %s to turn the file system read-only" % trigger)
        with open(trigger, "w") as f:
            f.write("gatehouse test: read-only under the daemon")
        opts = run("findmnt", "-no", "OPTIONS", mnt).stdout
        probe = os.path.join(mnt, "probe")
        try:
            with open(probe, "w"):
                pass
            os.unlink(probe)
            self.fail("the file system is still writable: " + opts)
        except OSError:
            pass

    def make_writable(self, mnt):
        """True when a remount made it writable again (without touching
        the daemon); kernels that keep an errored ext4 read-only
        ('emergency_ro') refuse, and then only a new mount helps."""
        libc = ctypes.CDLL(None, use_errno=True)
        libc.mount(None, mnt.encode(), b"ext4", 32, None)   # MS_REMOUNT, read-write
        probe = os.path.join(mnt, "probe")
        try:
            with open(probe, "w"):
                pass
            os.unlink(probe)
            return True
        except OSError:
            return False

    def test_read_only_file_system(self):
        mnt = self.mount_image()
        d = self.start_daemon(mnt)
        users = self.make_users(3)
        self.make_read_only(mnt)
        self.assert_writes_refused(users)
        self.assert_reads(users)
        self.assert_writes_refused(users)
        self.assertIsNone(d.proc.poll(), "the daemon died on a read-only file system")
        if self.make_writable(mnt):
            self.assert_writes_work(users)
            d.stop()
        else:
            # The kernel keeps this file system read-only until it is
            # mounted again: stop (SIGTERM; it cannot checkpoint, so the
            # exit status is not judged here), mount again, start again.
            # It cannot checkpoint, yet stops cleanly (status 0).
            d.stop()
            self.umount(mnt)
            self.mounted = None
            r = run("mount", "-o", "loop,errors=remount-ro", self.img, mnt)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.mounted = mnt
            d.start()
            self.assert_reads(users)
            self.assert_writes_work(users)
            self.assert_reads(users)
            d.stop()
        self.assert_db_ok(users)


# ---------------------------------------------------------------- key rotation

def b64(seg):
    return b64url_decode(seg)


def verify_with_jwks(token, keys):
    """The token's signature checked with the JWKS key its kid names; the
    claims a backend checks. Returns the kid; raises AssertionError."""
    h, p = jwt_parts(token)
    kid = h.get("kid")
    k = next((k for k in keys if k["kid"] == kid), None)
    assert k is not None, "kid %s not in the JWKS" % kid
    assert h["alg"] == k["alg"], (h, k)
    signing_input, sig = token.rsplit(".", 1)
    sig = b64(sig)
    if k["kty"] == "RSA":
        pub = rsa.RSAPublicNumbers(int.from_bytes(b64(k["e"]), "big"),
                                   int.from_bytes(b64(k["n"]), "big")).public_key()
        pub.verify(sig, signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
    else:
        pub = ec.EllipticCurvePublicNumbers(int.from_bytes(b64(k["x"]), "big"),
                                            int.from_bytes(b64(k["y"]), "big"),
                                            ec.SECP256R1()).public_key()
        der = encode_dss_signature(int.from_bytes(sig[:32], "big"),
                                   int.from_bytes(sig[32:], "big"))
        pub.verify(der, signing_input.encode(), ec.ECDSA(hashes.SHA256()))
    assert p["aud"] == "gamebackend" and p["exp"] > time.time() - 5, p
    return kid


def rotate_keys(d):
    """`gatehouse keys rotate` against d's database. Under valgrind the
    command runs natively: generating an RSA key under valgrind takes a
    minute or more, which would leave a handful of rotations at most (the
    daemon, which is what is under test here, still runs under valgrind;
    test_keys.py runs the command itself under valgrind)."""
    if not VALGRIND:
        return d.cli("keys", "rotate")
    return subprocess.run([gh.BIN, "keys", "rotate", "--config", d.config_path],
                          capture_output=True, text=True, cwd=d.dir, timeout=120)


@gh.load_test
class RotationTest(unittest.TestCase):
    def setUp(self):
        self.d = Daemon(LOAD_SETTINGS)
        self.addCleanup(self.d.cleanup)
        self.d.start()

    def jwks(self):
        r = self.d.get("/.well-known/jwks.json")
        self.assertEqual(r.status, 200, r)
        return r.json()["keys"]

    def test_rotate_every_second_under_load(self):
        d = self.d
        stop = threading.Event()
        failures, issued = [], []
        lock = threading.Lock()
        counts = {"login": 0, "refresh": 0, "use": 0}

        def check_token(at, what):
            # The JWKS of the moment the token is received, before its use.
            r = d.get("/.well-known/jwks.json")
            if r.status != 200:
                failures.append(("jwks", r))
                return False
            try:
                kid = verify_with_jwks(at, r.json()["keys"])
            except Exception as e:  # signature, kid or claims
                failures.append((what, "token does not verify with the JWKS: %r" % e))
                return False
            with lock:
                issued.append((at, kid))
            return True

        def client(i):
            rng = random.Random(SEED + i)
            guests = []
            n = 0
            while not stop.is_set():
                n += 1
                try:
                    if not guests or rng.random() < 0.3:
                        r = d.get("/login-as-guest")
                        what = "new guest"
                    else:
                        uid, secret = rng.choice(guests)
                        r = d.get("/login-as-guest?&user_id=%s&guest_secret=%s" % (uid, secret))
                        what = "guest login"
                    if r.status != 200:
                        failures.append((what, r))
                        continue
                    j = r.json()
                    if what == "new guest":
                        guests.append((j["user_id"], j["guest_secret"]))
                    counts["login"] += 1
                    at, rt = j["auth_token"], j["refresh_token"]
                    for _ in range(2):
                        if not check_token(at, what):
                            break
                        h = {"Authorization": at}
                        r = d.get("/set-player-data?&player_name=r%d-%d" % (i, n), headers=h)
                        if r.status != 200:
                            failures.append(("set-player-data", r))
                        r = d.get("/get-player-data", headers=h)
                        if r.status != 200 or r.json().get("PlayerName") != "r%d-%d" % (i, n):
                            failures.append(("get-player-data", r))
                        counts["use"] += 2
                        r = d.get("/refresh-access-token?&refresh_token=" + rt)
                        if r.status != 200:
                            failures.append(("refresh", r))
                            break
                        counts["refresh"] += 1
                        at, rt = r.json()["auth_token"], r.json()["refresh_token"]
                        n += 1
                except CONN_ERRORS as e:
                    failures.append(("connection", repr(e)))
                    return

        kids0 = {k["kid"] for k in self.jwks()}
        threads = [threading.Thread(target=client, args=(i,)) for i in range(ROTATE_THREADS)]
        for t in threads:
            t.start()
        rotations = []
        try:
            end = time.monotonic() + ROTATE_FOR
            # At least two rotations even where one `keys rotate` (RSA key
            # generation under valgrind) takes longer than the whole period.
            while time.monotonic() < end or len(rotations) < 2:
                t0 = time.monotonic()
                r = rotate_keys(d)
                rotations.append(r.returncode)
                if r.returncode != 0:
                    failures.append(("keys rotate", r.stderr))
                time.sleep(max(0.0, 1.0 - (time.monotonic() - t0)))
        finally:
            stop.set()
            for t in threads:
                t.join(120)
        self.assertEqual(failures[:10], [], "seed %d" % SEED)
        self.assertGreaterEqual(len(rotations), 2)
        self.assertGreater(counts["login"], 0)
        self.assertGreater(counts["refresh"], 0)
        # The daemon signed with the rotated keys, and every token issued
        # during the run still verifies (old keys stay published) and is
        # still accepted.
        deadline = time.monotonic() + PICKUP_BOUND
        while time.monotonic() < deadline:
            last = d.new_guest()
            if verify_with_jwks(last["auth_token"], self.jwks()) not in kids0:
                break
            time.sleep(0.2)
        used = {kid for _, kid in issued}
        self.assertTrue(used - kids0, "no token was signed by a rotated key")
        keys = self.jwks()
        sample = issued[::max(1, len(issued) // 40)] + issued[-3:]
        for at, kid in sample:
            self.assertEqual(verify_with_jwks(at, keys), kid)
            r = d.get("/get-player-data", headers={"Authorization": at})
            self.assertEqual(r.status, 200, r)
        d.stop()

    def test_emergency_rotation(self):
        """`gatehouse keys rotate` is the emergency rotation (main.c help):
        README "Keys": a new key signs from now on, the daemon picks it up
        within 2 seconds (polled here with a generous bound), and tokens
        signed by the old key keep verifying. (There is no revoking
        variant that stops the old tokens.)"""
        d = self.d
        g = d.new_guest()
        old_kid = verify_with_jwks(g["auth_token"], self.jwks())
        r = d.cli("keys", "rotate")
        self.assertEqual(r.returncode, 0, r.stderr)
        deadline = time.monotonic() + PICKUP_BOUND
        while True:
            new = d.new_guest()
            new_kid = verify_with_jwks(new["auth_token"], self.jwks())
            if new_kid != old_kid or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        self.assertNotEqual(new_kid, old_kid, "the daemon never signed with the new key")
        keys = self.jwks()
        self.assertEqual(keys[0]["kid"], new_kid, "the signing key leads the JWKS")
        self.assertIn(old_kid, [k["kid"] for k in keys])
        # the old access token still works, and so does the old refresh token,
        # whose refresh is signed with the new key
        self.assertEqual(verify_with_jwks(g["auth_token"], keys), old_kid)
        r = d.get("/get-player-data", headers={"Authorization": g["auth_token"]})
        self.assertEqual(r.status, 200, r)
        r = d.get("/refresh-access-token?&refresh_token=" + g["refresh_token"])
        self.assertEqual(r.status, 200, r)
        self.assertEqual(verify_with_jwks(r.json()["auth_token"], keys), new_kid)
        # keys list: the new key is the current one
        r = d.cli("keys", "list")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn(new_kid, r.stdout)
        self.assertIn(old_kid, r.stdout)
        # and all of it survives a restart
        d.restart()
        r = d.get("/get-player-data", headers={"Authorization": g["auth_token"]})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(verify_with_jwks(d.new_guest()["auth_token"], self.jwks()), new_kid)
        d.stop()


if __name__ == "__main__":
    unittest.main()
