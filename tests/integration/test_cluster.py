"""Three nodes on one PostgreSQL (README "Running many nodes"): the identity
rules hold across nodes exactly as on one.

Three daemons start at the same moment on one fresh database of a
PostgreSQL cluster of this class's own (tests/pg.sh start: the class stops
and restarts it, which must not disturb the suite's shared server), one
issuer, the password in a database_password_file. Cases:

- a guest made on A logs in on B; B refreshes A's pair; the old refresh
  token presented on C (no grace: refresh_reuse_grace 0) revokes the
  session everywhere;
- logout, logout-all, ban and delete made on one node are refused on the
  others from the next request on;
- If-Match: a write on C with the version A read fails (412) after B wrote
  in between; concurrent writes through all three nodes never share a
  version;
- a forced rotation (gatehouse keys rotate) under load on all nodes fails no
  request, and every node then signs with the new key;
- twenty concurrent first logins of one new Steam id across the nodes make
  exactly one user;
- kill -9 of a node under mixed load loses no acknowledged write;
- a PostgreSQL restart under load answers 503 during the outage (/ready
  503, /health 200), loses nothing acknowledged, and service comes back with
  no node restarted;
- no node's log holds the database password; each listened for key change
  notices (LISTEN gatehouse_keys).

Needs GH_TEST_DATABASE_URL (make integration-pg); skips with the reason
without it. A load test: not run under valgrind."""
import os
import shutil
import subprocess
import tempfile
import threading
import time
import unittest
import uuid

import gh
from gh import jwt_parts, load_test
import pgutil
from test_pg import PG_SH, cluster_ctl
from test_platforms import FakeProvider, STEAM_KEY

ISSUER = "https://auth.cluster.test"
NODES = 3
# Generous bounds for polls (the machine is shared): never timed assertions.
BOUND = 30


def auth(token):
    return {"Authorization": token}


class Load:
    """Worker threads sending mixed traffic round the nodes until stopped.
    Each op records what it got; an acknowledged write (2xx) is remembered
    with what must be readable afterwards."""

    def __init__(self, nodes, workers=6, ops=("guest", "write", "read", "refresh")):
        self.nodes = nodes
        self.ops = ops
        self.stop_ev = threading.Event()
        self.lock = threading.Lock()
        self.statuses = []          # (op, node index, status or exception name)
        self.guests = []            # acknowledged guests (dicts)
        self.docs = []              # acknowledged documents: (user, key, value, version)
        self.kids = []              # (node index, kid) of each access token issued
        self.threads = [threading.Thread(target=self.run, args=(i,), daemon=True)
                        for i in range(workers)]

    def start(self):
        for t in self.threads:
            t.start()
        return self

    def stop(self):
        self.stop_ev.set()
        for t in self.threads:
            t.join(60)

    def note(self, op, n, status):
        with self.lock:
            self.statuses.append((op, n, status))

    def call(self, op, n, fn):
        try:
            r = fn(self.nodes[n])
        except OSError as e:
            self.note(op, n, type(e).__name__)
            return None
        self.note(op, n, r.status)
        return r

    def run(self, w):
        i = w
        mine = None
        seq = 0
        while not self.stop_ev.is_set():
            i += 1
            n = i % len(self.nodes)
            op = self.ops[i % len(self.ops)]
            if op == "guest" or mine is None:
                r = self.call("guest", n, lambda d: d.get("/login-as-guest"))
                if r is not None and r.status == 200:
                    mine = r.json()
                    with self.lock:
                        self.guests.append(mine)
                        self.kids.append((n, jwt_parts(mine["auth_token"])[0]["kid"]))
            elif op == "write":
                seq += 1
                key = "k%d-%d" % (w, seq)
                value = ('{"w":%d,"seq":%d,"r":"%s"}' % (w, seq, uuid.uuid4().hex)).encode()
                r = self.call("write", n, lambda d: d.request(
                    "PUT", d.path("/player-data/" + key), body=value,
                    headers={"Authorization": mine["auth_token"],
                             "Content-Type": "application/json"}))
                if r is not None and r.status in (200, 201):
                    with self.lock:
                        self.docs.append((mine, key, value, r.json()["version"]))
            elif op == "read":
                self.call("read", n, lambda d: d.get("/get-player-data",
                                                     headers=auth(mine["auth_token"])))
            else:
                r = self.call("refresh", n, lambda d: d.post(
                    "/refresh-access-token", body={"refresh_token": mine["refresh_token"]}))
                if r is not None and r.status == 200:
                    j = r.json()
                    mine = dict(mine, auth_token=j["auth_token"],
                                refresh_token=j["refresh_token"])
                    with self.lock:
                        self.kids.append((n, jwt_parts(j["auth_token"])[0]["kid"]))

    def acknowledged_all_there(self, test, db):
        """Every acknowledged guest and document is in the database, each
        document byte for byte at the version its write answered (or a
        later one: none is written twice here)."""
        users = {u for (u,) in db.rows("SELECT user_id::text FROM users")}
        lost = [g["user_id"] for g in self.guests if g["user_id"] not in users]
        test.assertEqual(lost[:5], [], "%d acknowledged guests lost" % len(lost))
        docs = {(u, k): (v, ver) for u, k, v, ver in db.rows(
            "SELECT user_id::text, key, value, version FROM player_data")}
        for g, key, value, version in self.docs:
            test.assertEqual(docs.get((g["user_id"], key)), (value, version),
                             "acknowledged write %s lost" % key)


@load_test
@unittest.skipUnless(gh.PG_URL, pgutil.SKIP_WHY)
class Cluster(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        r = subprocess.run([PG_SH, "start"], capture_output=True, text=True, timeout=120)
        if r.returncode != 0:
            raise AssertionError("tests/pg.sh start: " + r.stderr)
        cls.env = dict(ln.split("=", 1) for ln in r.stdout.split("\n") if "=" in ln)
        cls.addClassCleanup(subprocess.run, [PG_SH, "stop", cls.env["GH_TEST_PG_DIR"]],
                            capture_output=True, timeout=120)
        cls.tmp = tempfile.mkdtemp(prefix="gatehouse-cluster-")
        cls.addClassCleanup(shutil.rmtree, cls.tmp, True)
        cls.fake = FakeProvider(cls.tmp)
        cls.addClassCleanup(cls.fake.proc.kill)
        steam_key = os.path.join(cls.tmp, "steam.secret")
        with open(steam_key, "w") as f:
            f.write(STEAM_KEY + "\n")
        cls.db = pgutil.fresh_database(cls, cls.env["GH_TEST_DATABASE_URL"])
        settings = {"issuer_url": ISSUER, "rate_limit_login": 0, "refresh_reuse_grace": 0,
                    "steam_app_id": 480, "steam_web_api_key_file": steam_key,
                    "steam_api_url": cls.fake.url(), "log_level": "debug"}
        cls.nodes = [cls.db.node(settings) for _ in range(NODES)]
        for d in cls.nodes:
            cls.addClassCleanup(d.cleanup)
        # All three at once on the empty database: migrations and first keys race.
        errors = []

        def start(d):
            try:
                d.start()
            except AssertionError as e:
                errors.append(str(e))
        threads = [threading.Thread(target=start, args=(d,)) for d in cls.nodes]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if errors:
            raise AssertionError("a node did not start: " + errors[0][-3000:])

    def setUp(self):
        self.a, self.b, self.c = self.nodes

    # ---- sessions across nodes ----

    def test_concurrent_start_made_one_key_set(self):
        rows = self.db.rows("SELECT use, count(*) FROM signing_keys GROUP BY use ORDER BY use")
        self.assertEqual(rows, [("access", 1), ("refresh", 1)])
        kids = [[k["kid"] for k in d.get("/.well-known/jwks.json").json()["keys"]]
                for d in self.nodes]
        self.assertEqual(kids[0], kids[1])
        self.assertEqual(kids[1], kids[2])

    def test_guest_refresh_and_reuse_across_nodes(self):
        g = self.a.new_guest()
        r = self.b.get("/login-as-guest?&user_id=%s&guest_secret=%s"
                       % (g["user_id"], g["guest_secret"]))
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["user_id"], g["user_id"])
        r = self.b.post("/refresh-access-token", body={"refresh_token": g["refresh_token"]})
        self.assertEqual(r.status, 200, r)
        new = r.json()
        self.assertEqual(self.c.get("/get-player-data", headers=auth(new["auth_token"])).status,
                         200)
        # The spent token on C: reuse, and the session ends on every node.
        r = self.c.post("/refresh-access-token", body={"refresh_token": g["refresh_token"]})
        self.assertEqual(r.status, 401, r)
        r = self.a.post("/refresh-access-token", body={"refresh_token": new["refresh_token"]})
        self.assertEqual(r.status, 401, r)
        for d in self.nodes:
            self.assertEqual(d.get("/get-player-data", headers=auth(new["auth_token"])).status,
                             401, "a revoked session still served")

    def test_logout_logout_all_ban_delete_across_nodes(self):
        # logout on A: B refuses at once
        g = self.a.new_guest()
        r = self.a.post("/logout", body={"refresh_token": g["refresh_token"]})
        self.assertEqual((r.status, r.json()["sessions_ended"]), (200, 1))
        self.assertEqual(self.b.get("/get-player-data", headers=auth(g["auth_token"])).status,
                         401)
        # and a write on C: its check, made in the write's own transaction, sees it too
        r = self.put(self.c, g["auth_token"], "after-logout", b'1')
        self.assertEqual((r.status, r.json()["message"]), (401, "Session ended"), r)
        # logout-all on B: both sessions refused on C
        g = self.a.new_guest()
        again = self.c.get("/login-as-guest?&user_id=%s&guest_secret=%s"
                           % (g["user_id"], g["guest_secret"])).json()
        r = self.b.post("/logout-all", headers=auth(g["auth_token"]))
        self.assertEqual((r.status, r.json()["sessions_ended"]), (200, 2))
        for tok in (g["auth_token"], again["auth_token"]):
            self.assertEqual(self.c.get("/get-player-data", headers=auth(tok)).status, 401)
        self.assertEqual(self.a.post("/refresh-access-token",
                                     body={"refresh_token": again["refresh_token"]}).status, 401)
        # ban through C's operator command: A and B refuse the user's tokens
        g = self.b.new_guest()
        r = self.c.cli("user", "ban", g["user_id"])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(self.a.get("/get-player-data", headers=auth(g["auth_token"])).status,
                         403)
        r = self.b.post("/refresh-access-token", body={"refresh_token": g["refresh_token"]})
        self.assertEqual(r.status, 403, r)
        # delete on A: the user is gone on B and C
        g = self.c.new_guest()
        r = self.a.post("/delete-user", headers=auth(g["auth_token"]))
        self.assertEqual(r.status, 200, r)
        self.assertEqual(self.b.get("/get-player-data", headers=auth(g["auth_token"])).status,
                         401)
        r = self.c.get("/login-as-guest?&user_id=%s&guest_secret=%s"
                       % (g["user_id"], g["guest_secret"]))
        self.assertNotEqual(r.status, 200)

    # ---- documents ----

    def put(self, d, tok, key, body, **hdr):
        h = {"Authorization": tok, "Content-Type": "application/json"}
        h.update(hdr)
        return d.request("PUT", d.path("/player-data/" + key), headers=h, body=body)

    def test_if_match_and_versions_across_nodes(self):
        g = self.a.new_guest()
        tok = g["auth_token"]
        r = self.put(self.a, tok, "save", b'{"n":1}', **{"If-None-Match": "*"})
        self.assertEqual(r.status, 201, r)
        v1 = r.header("ETag")
        r = self.put(self.b, tok, "save", b'{"n":2}', **{"If-Match": v1})
        self.assertEqual(r.status, 200, r)
        # C still holds v1: refused, naming the current version
        r = self.put(self.c, tok, "save", b'{"n":3}', **{"If-Match": v1})
        self.assertEqual(r.status, 412, r)
        self.assertEqual(self.c.get("/player-data/save", headers=auth(tok)).body, b'{"n":2}')
        # Concurrent writes through every node: every version distinct.
        versions, errors = [], []
        lock = threading.Lock()

        def writer(i):
            for j in range(8):
                r = self.put(self.nodes[(i + j) % NODES], tok, "race", b'{"i":%d}' % i)
                with lock:
                    if r.status in (200, 201):
                        versions.append(r.json()["version"])
                    else:
                        errors.append(r)
        threads = [threading.Thread(target=writer, args=(i,)) for i in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(errors, [])
        self.assertEqual(len(versions), 48)
        self.assertEqual(len(set(versions)), 48, "two writes got the same version")

    # ---- keys ----

    def test_forced_rotation_under_load_fails_nothing(self):
        kid0 = jwt_parts(self.a.new_guest()["auth_token"])[0]["kid"]
        load = Load(self.nodes, workers=6).start()
        try:
            time.sleep(1)
            r = self.b.cli("keys", "rotate")
            self.assertEqual(r.returncode, 0, r.stderr)
            # Every node signs with the new key, soon after key_propagation.
            deadline = time.time() + BOUND
            while time.time() < deadline:
                with load.lock:
                    new = {n for n, kid in load.kids if kid != kid0}
                if new == set(range(NODES)):
                    break
                time.sleep(0.2)
            time.sleep(1)
        finally:
            load.stop()
        bad = [s for s in load.statuses if s[2] not in (200, 201)]
        self.assertEqual(bad[:10], [], "requests failed around a rotation")
        self.assertEqual({n for n, kid in load.kids if kid != kid0}, set(range(NODES)),
                         "a node never signed with the new key")

    # ---- platform ----

    def test_twenty_first_logins_of_one_steam_id(self):
        pid = str(76561197000000000 + int(uuid.uuid4().hex[:6], 16))
        results = []
        lock = threading.Lock()
        go = threading.Barrier(20)

        def login(i):
            d = self.nodes[i % NODES]
            go.wait()
            r = d.post("/login-with-steam", body={"steam_auth_token": "ok-" + pid})
            with lock:
                results.append(r)
        threads = [threading.Thread(target=login, args=(i,)) for i in range(20)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual([r.status for r in results], [200] * 20, results[:3])
        self.assertEqual(len({r.json()["user_id"] for r in results}), 1)
        rows = self.db.rows("SELECT count(*) FROM identities WHERE provider = 'steam' "
                            "AND subject = ?", (pid,))
        self.assertEqual(rows, [(1,)])

    # ---- failures (named to run last: they stop a node and the server) ----

    def test_x_kill9_under_load_loses_nothing_acknowledged(self):
        victim = self.b
        load = Load(self.nodes, workers=6, ops=("guest", "write", "write", "read")).start()
        try:
            time.sleep(1.5)
            victim.kill9()
            time.sleep(1)
        finally:
            load.stop()
        victim.start()
        # Only the killed node's calls may have failed, and only as a lost connection.
        others = [s for s in load.statuses if s[1] != 1 and s[2] not in (200, 201)]
        self.assertEqual(others[:10], [])
        self.assertGreater(len(load.docs), 0)
        load.acknowledged_all_there(self, self.db)

    def test_y_postgresql_restart_under_load(self):
        pids = [d.proc.pid for d in self.nodes]
        load = Load(self.nodes, workers=6, ops=("guest", "write", "read", "write")).start()
        try:
            time.sleep(1)
            cluster_ctl(self.env, "stop")
            try:
                deadline = time.time() + BOUND
                seen = set()
                while time.time() < deadline and seen != set(range(NODES)):
                    with load.lock:
                        seen = {n for _, n, s in load.statuses if s == 503}
                    time.sleep(0.1)
                self.assertEqual(seen, set(range(NODES)), "no 503 during the outage")
                for d in self.nodes:
                    self.assertEqual(d.get("/ready").status, 503)
                    self.assertEqual(d.get("/health").status, 200)
            finally:
                cluster_ctl(self.env, "start")
            # Back by itself on every node.
            deadline = time.time() + BOUND
            back = set()
            while time.time() < deadline and back != set(range(NODES)):
                back = {i for i, d in enumerate(self.nodes) if d.get("/ready").status == 200}
                time.sleep(0.2)
            self.assertEqual(back, set(range(NODES)), "a node did not come back")
            # Requests begun during the outage end first; then nothing fails.
            time.sleep(1)
            mark = len(load.statuses)
            time.sleep(1.5)
        finally:
            load.stop()
        self.assertEqual([d.proc.pid for d in self.nodes], pids, "a node restarted")
        odd = [s for s in load.statuses if s[2] not in (200, 201, 503)]
        self.assertEqual(odd[:10], [], "answers other than 2xx and 503 around the outage")
        after = [s for s in load.statuses[mark:] if s[2] not in (200, 201)]
        self.assertEqual(after[:10], [], "failures after service came back:\n" +
                         "\n".join(d.log_text()[-1500:] for d in self.nodes))
        load.acknowledged_all_there(self, self.db)

    def test_z_no_log_holds_the_password(self):
        self.assertTrue(self.db.password)
        for d in self.nodes:
            log = d.log_text()
            self.assertIn("listening for key change notices", log)
            self.assertNotIn(self.db.password, log)


if __name__ == "__main__":
    unittest.main()
