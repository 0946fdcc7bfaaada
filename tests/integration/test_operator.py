"""Operator commands on the daemon's database while it runs (API.md D.1, D.2):
gatehouse user show|ban|unban|delete ID, gatehouse sessions revoke ID
[--session SID], with their exit codes and outputs; what a ban and a delete
do to logins, refreshes and access tokens; that both take effect for every
request that starts after the command returns, while the daemon serves other
users undisturbed; and the guest clean-up setting (D.3 guest_cleanup_after).

Timing: the only waits are for a timed ban to lapse and for the background
clean-up; both are polls with generous bounds."""
import json
import os
import re
import subprocess
import threading
import time
import unittest
import uuid

import gh
from gh import DaemonTest, VALGRIND, jwt_parts

JSON = "application/json"
ERR_REFRESH = "Error: Failed to validate refresh token"
ERR_GUEST = "Error: Could not validate user"
ERR_BANNED = "Error: User is banned"
FORBIDDEN = {"message": "Forbidden"}
UNAUTHORIZED = {"message": "Unauthorized"}
BAN_FOREVER = 253402300799
ACCOUNT_FIELDS = {"user_id", "created_at", "has_guest_secret", "steam_id", "apple_id",
                  "google_play_id", "facebook_id", "oidc", "sessions", "banned_until"}
B_AUTH_ROUTES = [("POST", "/logout-all"), ("GET", "/get-user"), ("POST", "/delete-user"),
                 ("GET", "/export-user-data"), ("GET", "/player-data"),
                 ("GET", "/player-data/player_name")]
# A timed ban long enough to be checked before it lapses (valgrind runs the
# command itself slowly).
SHORT_BAN = 8 if VALGRIND else 4


def claims(token):
    return jwt_parts(token)[1]


def auth(token):
    return {"Authorization": token}


def db_rows(d, sql, args=()):
    return gh.db_rows(d, sql, args)


def db_write(d, sql, args=(), many=False):
    """One short write transaction on the daemon's database."""
    gh.db_write(d, sql, args, many=many)


def user_rows(d, user_id):
    return {t: db_rows(d, "SELECT count(*) FROM %s WHERE user_id = ?" % t, (user_id,))[0][0]
            for t in ("users", "identities", "sessions", "player_data")}


def live_sessions(d, user_id):
    return sorted(r[0] for r in db_rows(
        d, "SELECT session_id FROM sessions WHERE user_id = ? AND ended_at IS NULL", (user_id,)))


def refresh(d, token):
    return d.get("/refresh-access-token?&refresh_token=" + token)


def guest_login(d, g):
    return d.get("/login-as-guest?&user_id=%s&guest_secret=%s" % (g["user_id"], g["guest_secret"]))


class Traffic:
    """A thread sending one kind of request in a loop until stopped; every
    answer is kept with the monotonic time its request started."""

    def __init__(self, fn):
        self.fn = fn
        self.log = []          # (started, status, body, ended) or (started, exception, None, ended)
        self.stop_ev = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self):
        while not self.stop_ev.is_set():
            t = time.monotonic()
            try:
                r = self.fn()
                self.log.append((t, r.status, r.body, time.monotonic()))
            except Exception as e:  # reported by the test
                self.log.append((t, e, None, time.monotonic()))

    def start(self):
        self.thread.start()
        return self

    def wait_for(self, n, after=0.0, timeout=120):
        """Until n requests that started after `after` have been answered."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if sum(1 for x in list(self.log) if x[0] > after) >= n:
                return
            time.sleep(0.01)
        raise AssertionError("traffic stalled: %d answers" % len(self.log))

    def stop(self):
        self.stop_ev.set()
        self.thread.join(120)
        assert not self.thread.is_alive(), "traffic thread hung"


class OperatorAsserts:

    def cli_ok(self, *args):
        r = self.daemon.cli(*args)
        self.assertEqual(r.returncode, 0, "gatehouse %s: %s%s" % (" ".join(args), r.stdout,
                                                                 r.stderr))
        return r

    def cli_case(self, i, *args):
        """Runs one of many similar commands. Under valgrind (about a second
        per command) only every fourth runs under it and the others run
        natively, so that every case is still checked."""
        if not VALGRIND or i % 4 == 0:
            return self.daemon.cli(*args)
        d = self.daemon
        return subprocess.run([gh.BIN] + list(args) + ["--config", d.config_path],
                              capture_output=True, text=True, cwd=d.dir, timeout=60)

    def banned_until(self, user_id):
        """users.banned_until straight from the database (None: not banned)."""
        rows = db_rows(self.daemon, "SELECT banned_until FROM users WHERE user_id = ?",
                       (user_id,))
        return rows[0][0] if rows else "no such user"

    def show(self, user_id):
        r = self.cli_ok("user", "show", user_id)
        j = json.loads(r.stdout)
        self.assertIsInstance(j, dict)
        return j

    def assertJsonError(self, r, status, slug, msg=""):
        self.assertEqual(r.status, status, "%s: %r" % (msg, r))
        self.assertEqual(r.header("Content-Type"), JSON, msg)
        j = r.json()
        self.assertEqual(set(j), {"error", "message"}, msg)
        self.assertEqual(j["error"], slug, msg)
        self.assertTrue(j["message"], msg)

    def assertApigw(self, r, status, body, msg=""):
        self.assertEqual(r.status, status, "%s: %r" % (msg, r))
        self.assertEqual(r.header("Content-Type"), JSON, msg)
        self.assertEqual(r.json(), body, msg)

    def assertText(self, r, status, text, msg=""):
        self.assertEqual(r.status, status, "%s: %r" % (msg, r))
        self.assertEqual(r.text, text, msg)
        self.assertTrue(r.header("Content-Type").startswith("text/plain"), msg)

    def assertLoginOk(self, g, msg=""):
        r = guest_login(self.daemon, g)
        self.assertEqual(r.status, 200, "%s: %r" % (msg, r))
        self.assertEqual(r.json()["user_id"], g["user_id"])
        return r.json()

    def relogin(self, g):
        return self.assertLoginOk(g)

    def assertAccessRefused(self, token, status, slug, apigw_body, msg=""):
        """The access token is refused at the A.5 and the B routes."""
        d = self.daemon
        self.assertApigw(d.get("/get-player-data", headers=auth(token)), status, apigw_body,
                         msg + " get-player-data")
        self.assertApigw(d.get("/set-player-data?player_name=No", headers=auth(token)), status,
                         apigw_body, msg + " set-player-data")
        for method, path in B_AUTH_ROUTES:
            self.assertJsonError(d.request(method, d.path(path), headers=auth(token)),
                                 status, slug, "%s %s" % (msg, path))
        r = d.request("PUT", d.path("/player-data/k"), body={"v": 1}, headers=auth(token))
        self.assertJsonError(r, status, slug, msg + " PUT /player-data/k")


class Operator(OperatorAsserts, DaemonTest, unittest.TestCase):
    SETTINGS = {"rate_limit_login": 0}

    # ---- user show ----

    def test_show(self):
        d = self.daemon
        g = d.new_guest()
        uid = g["user_id"]
        self.relogin(g)
        r = self.cli_ok("user", "show", uid)
        j = json.loads(r.stdout)
        self.assertEqual(set(j), ACCOUNT_FIELDS)
        self.assertIn('\n  "user_id"', r.stdout, "indented")
        self.assertEqual(j, d.get("/get-user", headers=auth(g["auth_token"])).json())
        self.assertEqual(j["user_id"], uid)
        self.assertEqual(j["sessions"], 2)
        self.assertIs(j["has_guest_secret"], True)
        self.assertIsNone(j["banned_until"])
        db_write(d, "INSERT INTO identities (provider, subject, user_id, created_at) "
                    "VALUES ('steam', ?, ?, 0)", ("s-" + uid, uid))
        self.assertEqual(self.show(uid)["steam_id"], "s-" + uid)

    def test_unknown_user(self):
        d = self.daemon
        missing = str(uuid.uuid4())
        i = 0
        for args in (("user", "show"), ("user", "ban"), ("user", "unban"), ("user", "delete"),
                     ("sessions", "revoke")):
            for uid in (missing, "not-a-uuid", missing.upper() + "0", "' OR 1=1 --"):
                r = self.cli_case(i, *(args + (uid,)))
                i += 1
                self.assertEqual(r.returncode, 1, "%s %s: %s" % (args, uid, r.stderr))
                self.assertEqual(r.stdout, "", args)
                self.assertTrue(r.stderr, args)
        r = d.cli("user", "ban", missing, "--until", "1d")
        self.assertEqual(r.returncode, 1, r.stderr)
        r = d.cli("sessions", "revoke", missing, "--session", "1")
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertEqual(db_rows(d, "SELECT count(*) FROM users WHERE user_id = ?",
                                 (missing,))[0][0], 0)

    def test_usage_errors(self):
        d = self.daemon
        g = d.new_guest()
        uid = g["user_id"]
        sid = claims(g["refresh_token"])["sid"]
        cases = [
            ("user",), ("sessions",),
            ("user", "frob", uid), ("user", "list", uid), ("sessions", "list", uid),
            ("sessions", "end", uid),
            ("user", "show"), ("user", "ban"), ("user", "unban"), ("user", "delete"),
            ("sessions", "revoke"),
            ("user", "show", uid, "extra"), ("user", "delete", uid, uid),
            ("user", "ban", uid, "--until"),
            ("user", "ban", uid, "--until", "bad"),
            ("user", "ban", uid, "--until", "7x"),
            ("user", "ban", uid, "--until", "2030-13-01T00:00:00Z"),
            ("user", "ban", uid, "--until", "2030-01-01T00:00:00"),
            ("user", "ban", uid, "--until", "2030-01-01"),
            ("user", "ban", uid, "--until", ""),
            ("user", "show", uid, "--until", "1d"),
            ("user", "unban", uid, "--until", "1d"),
            ("user", "delete", uid, "--until", "1d"),
            ("sessions", "revoke", uid, "--until", "1d"),
            ("user", "ban", uid, "--session", str(sid)),
            ("user", "delete", uid, "--session", str(sid)),
            ("sessions", "revoke", uid, "--session"),
            ("sessions", "revoke", uid, "--session", "x"),
            ("sessions", "revoke", uid, "--session", "0"),
            ("sessions", "revoke", uid, "--session", "-1"),
            ("sessions", "revoke", uid, "--session", "1x"),
            ("user", "ban", uid, "--forever"),
        ]
        for i, args in enumerate(cases):
            r = self.cli_case(i, *args)
            self.assertEqual(r.returncode, 2, "%s: %s %s" % (args, r.stdout, r.stderr))
            self.assertTrue(r.stderr, args)
        # None of them changed anything.
        j = self.show(uid)
        self.assertIsNone(j["banned_until"])
        self.assertEqual(j["sessions"], 1)
        self.assertEqual(live_sessions(d, uid), [sid])
        self.assertEqual(refresh(d, g["refresh_token"]).status, 200)

    # ---- user ban / unban ----

    def test_ban_for_good(self):
        d = self.daemon
        g = d.new_guest()
        uid = g["user_id"]
        b = self.relogin(g)
        other = d.new_guest()
        self.assertEqual(len(live_sessions(d, uid)), 2)
        # Used before the ban, so the daemon remembers the token as verified:
        # the ban must still apply to it.
        for _ in range(2):
            self.assertEqual(d.get("/get-player-data", headers=auth(g["auth_token"])).status, 200)
        self.cli_ok("user", "ban", uid)
        j = self.show(uid)
        self.assertEqual(j["banned_until"], BAN_FOREVER)
        self.assertEqual(j["sessions"], 0, "a ban ends all sessions")
        self.assertEqual(live_sessions(d, uid), [])
        # Logins are refused with a clear error.
        self.assertText(guest_login(d, g), 403, ERR_BANNED, "guest login of a banned user")
        # Access tokens are refused at the player and the B routes.
        for tok in (g["auth_token"], b["auth_token"]):
            self.assertAccessRefused(tok, 403, "banned", FORBIDDEN, "banned")
        # delete-user refused: the user is still there.
        self.assertEqual(user_rows(d, uid)["users"], 1)
        # Nobody else is affected.
        self.assertEqual(refresh(d, other["refresh_token"]).status, 200)
        self.assertEqual(d.get("/get-player-data", headers=auth(other["auth_token"])).status, 200)
        # Banning again is fine.
        self.cli_ok("user", "ban", uid)
        self.assertEqual(self.show(uid)["banned_until"], BAN_FOREVER)

    def test_banned_user_cannot_refresh(self):
        """D.1: a banned user's /refresh-access-token → 403 Error: User is banned
        (the ban also ended the session; the answer must still say why)."""
        d = self.daemon
        g = d.new_guest()
        uid = g["user_id"]
        r2 = refresh(d, g["refresh_token"]).json()["refresh_token"]
        self.cli_ok("user", "ban", uid)
        self.assertText(refresh(d, r2), 403, ERR_BANNED, "refresh with the current token")

    def test_unban(self):
        d = self.daemon
        g = d.new_guest()
        uid = g["user_id"]
        self.cli_ok("user", "ban", uid)
        self.assertText(guest_login(d, g), 403, ERR_BANNED)
        self.cli_ok("user", "unban", uid)
        self.assertIsNone(self.show(uid)["banned_until"])
        n = self.assertLoginOk(g, "login after unban")
        self.assertEqual(refresh(d, n["refresh_token"]).status, 200)
        self.assertEqual(d.get("/get-player-data", headers=auth(n["auth_token"])).status, 200)
        # The sessions the ban ended stay ended.
        self.assertText(refresh(d, g["refresh_token"]), 401, ERR_REFRESH)
        # Unbanning a user who is not banned is fine.
        self.cli_ok("user", "unban", uid)
        self.assertIsNone(self.show(uid)["banned_until"])

    def test_ban_until_rfc3339(self):
        d = self.daemon
        g = d.new_guest()
        uid = g["user_id"]
        for until, want in (("2030-01-01T00:00:00Z", 1893456000),
                            ("2030-01-01T02:00:00+02:00", 1893456000),
                            ("2030-01-01T00:00:00-01:30", 1893461400),
                            ("2030-01-01T00:00:00.750Z", 1893456000),
                            ("2030-01-01t00:00:00z", 1893456000)):
            r = d.cli("user", "ban", uid, "--until", until)
            if until[-1] == "z" and r.returncode == 2:
                # RFC 3339 allows lowercase t and z; accepting only uppercase
                # is also a reasonable reading.
                continue
            self.assertEqual(r.returncode, 0, "%s: %s" % (until, r.stderr))
            self.assertEqual(self.banned_until(uid), want, until)
            self.assertText(guest_login(d, g), 403, ERR_BANNED, until)

    def test_ban_until_duration(self):
        d = self.daemon
        g = d.new_guest()
        uid = g["user_id"]
        t0 = int(time.time())
        self.cli_ok("user", "ban", uid, "--until", "7d")
        t1 = int(time.time())
        until = self.show(uid)["banned_until"]
        self.assertTrue(t0 + 7 * 86400 <= until <= t1 + 7 * 86400 + 1, until)
        self.assertText(guest_login(d, g), 403, ERR_BANNED)
        self.assertEqual(live_sessions(d, uid), [])

    def test_ban_until_invalid_rfc3339(self):
        """Times that are not valid RFC 3339 are usage errors, not some
        other time."""
        d = self.daemon
        g = d.new_guest()
        uid = g["user_id"]
        for i, until in enumerate(("2030-02-31T00:00:00Z",          # no 31 February
                                   "2030-04-31T00:00:00Z",          # no 31 April
                                   "2030-01-01T00:00:00+99:99",     # offset out of range
                                   "2030-01-01T00:00:00+24:00")):
            r = self.cli_case(i, "user", "ban", uid, "--until", until)
            self.assertEqual(r.returncode, 2, "%s: exit %d, %s" % (until, r.returncode, r.stdout))
        self.assertIsNone(self.show(uid)["banned_until"], "no ban was made")
        self.assertLoginOk(g)

    def test_ban_until_huge_duration(self):
        """A duration too large to add to the current time must not wrap
        around: either it is refused (2) or the user is banned (for good);
        it never reports success while leaving (or making) the user unbanned."""
        d = self.daemon
        g = d.new_guest()
        uid = g["user_id"]
        for until in ("9223372036854775807s", "106751991167300d"):
            self.cli_ok("user", "ban", uid)
            r = d.cli("user", "ban", uid, "--until", until)
            self.assertIn(r.returncode, (0, 2), "%s: %s" % (until, r.stderr))
            banned_until = self.show(uid)["banned_until"]
            self.assertIsNotNone(banned_until, "%s: exit %d (%s) and the user is no longer "
                                 "banned" % (until, r.returncode, r.stdout.strip()))
            self.assertGreater(banned_until, time.time() + 86400, until)
            self.assertText(guest_login(d, g), 403, ERR_BANNED, until)
            self.cli_ok("user", "unban", uid)

    def test_ban_until_in_the_past(self):
        d = self.daemon
        g = d.new_guest()
        uid = g["user_id"]
        self.cli_ok("user", "ban", uid, "--until", "2001-01-01T00:00:00Z")
        self.assertIsNone(self.show(uid)["banned_until"])
        self.assertLoginOk(g, "a ban that ended in the past refuses nothing")
        self.assertEqual(d.get("/get-player-data", headers=auth(g["auth_token"])).status, 200)
        # It also lifts a running ban.
        self.cli_ok("user", "ban", uid)
        self.assertText(guest_login(d, g), 403, ERR_BANNED)
        self.cli_ok("user", "ban", uid, "--until", "2001-01-01T00:00:00Z")
        self.assertLoginOk(g, "after a ban to a past time")

    def test_short_ban_lapses(self):
        d = self.daemon
        g = d.new_guest()
        uid = g["user_id"]
        t0 = time.time()
        self.cli_ok("user", "ban", uid, "--until", "%ds" % SHORT_BAN)
        until = self.banned_until(uid)
        self.assertTrue(int(t0) + SHORT_BAN <= until <= int(time.time()) + SHORT_BAN + 1, until)
        # Banned now (checked well before the ban can lapse) ...
        r = guest_login(d, g)
        if time.time() < until - 1:
            self.assertText(r, 403, ERR_BANNED, "inside a %ds ban" % SHORT_BAN)
            self.assertApigw(d.get("/get-player-data", headers=auth(g["auth_token"])), 403,
                             FORBIDDEN)
        # ... and not any more once it has passed: poll.
        deadline = until + 60
        while True:
            start = time.time()
            r = guest_login(d, g)
            end = time.time()
            if r.status == 200:
                break
            self.assertText(r, 403, ERR_BANNED, "while the ban runs")
            self.assertLess(start, until + 1, "refused %.1f s after the ban ended"
                            % (start - until))
            self.assertLess(end, deadline, "the ban did not lapse")
            time.sleep(0.2)
        self.assertGreaterEqual(end, until, "the ban lapsed early")
        self.assertIsNone(self.show(uid)["banned_until"])
        self.assertEqual(refresh(d, r.json()["refresh_token"]).status, 200)

    def test_ban_survives_kill9(self):
        d = self.daemon
        g = d.new_guest()
        self.cli_ok("user", "ban", g["user_id"])
        d.kill9()
        d.start()
        self.assertText(guest_login(d, g), 403, ERR_BANNED, "after kill -9")
        self.assertApigw(d.get("/get-player-data", headers=auth(g["auth_token"])), 403, FORBIDDEN)
        self.assertIn(refresh(d, g["refresh_token"]).status, (401, 403))

    # ---- user delete ----

    def test_delete(self):
        d = self.daemon
        g = d.new_guest()
        uid = g["user_id"]
        b = self.relogin(g)
        other = d.new_guest()
        self.assertEqual(d.get("/set-player-data?player_name=Bye", headers=auth(g["auth_token"]))
                         .status, 200)
        db_write(d, "INSERT INTO identities (provider, subject, user_id, created_at) "
                    "VALUES ('facebook', ?, ?, 0)", ("fb-" + uid, uid))
        self.assertEqual(user_rows(d, uid),
                         {"users": 1, "identities": 1, "sessions": 2, "player_data": 1})
        self.cli_ok("user", "delete", uid)
        self.assertEqual(user_rows(d, uid),
                         {"users": 0, "identities": 0, "sessions": 0, "player_data": 0})
        self.assertText(guest_login(d, g), 401, ERR_GUEST)
        for t in (g["refresh_token"], b["refresh_token"]):
            self.assertText(refresh(d, t), 401, ERR_REFRESH)
        for tok in (g["auth_token"], b["auth_token"]):
            self.assertAccessRefused(tok, 401, "unauthorized", UNAUTHORIZED, "deleted")
        self.assertEqual(user_rows(d, uid)["users"], 0, "no request recreated the user")
        r = d.cli("user", "show", uid)
        self.assertEqual(r.returncode, 1)
        r = d.cli("user", "delete", uid)
        self.assertEqual(r.returncode, 1)
        # Nobody else is affected.
        self.assertEqual(refresh(d, other["refresh_token"]).status, 200)

    def test_delete_survives_kill9(self):
        d = self.daemon
        g = d.new_guest()
        self.cli_ok("user", "delete", g["user_id"])
        d.kill9()
        d.start()
        self.assertText(guest_login(d, g), 401, ERR_GUEST, "after kill -9")
        self.assertText(refresh(d, g["refresh_token"]), 401, ERR_REFRESH)
        self.assertEqual(user_rows(d, g["user_id"])["users"], 0)

    # ---- sessions revoke ----

    def test_sessions_revoke_all(self):
        d = self.daemon
        g = d.new_guest()
        uid = g["user_id"]
        b = self.relogin(g)
        c = self.relogin(g)
        other = d.new_guest()
        self.assertEqual(len(live_sessions(d, uid)), 3)
        self.cli_ok("sessions", "revoke", uid)
        self.assertEqual(live_sessions(d, uid), [])
        self.assertEqual(self.show(uid)["sessions"], 0)
        for t in (g, b, c):
            self.assertText(refresh(d, t["refresh_token"]), 401, ERR_REFRESH)
        # Their access tokens are refused from now on (API.md D.1); not a
        # ban: logins work.
        self.assertEqual(d.get("/get-player-data", headers=auth(b["auth_token"])).status, 401)
        self.assertIsNone(self.show(uid)["banned_until"])
        n = self.assertLoginOk(g)
        self.assertEqual(refresh(d, n["refresh_token"]).status, 200)
        # Others untouched; revoking a user with no live session is fine.
        self.assertEqual(live_sessions(d, other["user_id"]),
                         [claims(other["refresh_token"])["sid"]])
        self.cli_ok("sessions", "revoke", other["user_id"])
        self.cli_ok("sessions", "revoke", other["user_id"])

    def test_sessions_revoke_one(self):
        d = self.daemon
        g = d.new_guest()
        uid = g["user_id"]
        b = self.relogin(g)
        other = d.new_guest()
        sid_a, sid_b = claims(g["refresh_token"])["sid"], claims(b["refresh_token"])["sid"]
        sid_other = claims(other["refresh_token"])["sid"]
        self.cli_ok("sessions", "revoke", uid, "--session", str(sid_a))
        self.assertEqual(live_sessions(d, uid), [sid_b])
        self.assertText(refresh(d, g["refresh_token"]), 401, ERR_REFRESH)
        self.assertEqual(refresh(d, b["refresh_token"]).status, 200)
        # Another user's session, or no such session: exit 1, nothing ended.
        r = d.cli("sessions", "revoke", uid, "--session", str(sid_other))
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertEqual(live_sessions(d, other["user_id"]), [sid_other])
        r = d.cli("sessions", "revoke", uid, "--session", "987654321")
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertEqual(live_sessions(d, uid), [sid_b])
        self.assertEqual(refresh(d, other["refresh_token"]).status, 200)

    # ---- commands while the daemon serves traffic ----

    def bystander_traffic(self):
        """Another user refreshing and reading player data in a loop."""
        d = self.daemon
        by = d.new_guest()
        state = {"refresh": by["refresh_token"], "access": by["auth_token"], "n": 0}

        def step():
            state["n"] += 1
            if state["n"] % 2:
                return d.get("/get-player-data", headers=auth(state["access"]))
            r = refresh(d, state["refresh"])
            if r.status == 200:
                j = r.json()
                state["refresh"], state["access"] = j["refresh_token"], j["auth_token"]
            return r
        return by, Traffic(step)

    def assertBystanderFine(self, traffic, since):
        bad = [x for x in traffic.log if not isinstance(x[1], int) or x[1] != 200]
        self.assertEqual(bad, [], "the other user saw errors")
        self.assertGreater(sum(1 for x in traffic.log if x[0] > since), 0)

    def run_while_serving(self, target, args, refused_status, refused_body):
        """Runs the command while a bystander and the target make requests;
        every target request started after the command returned is refused."""
        d = self.daemon
        by, bystander = self.bystander_traffic()
        tgt = Traffic(lambda: d.get("/get-player-data", headers=auth(target["auth_token"])))
        bystander.start()
        tgt.start()
        try:
            bystander.wait_for(4)
            tgt.wait_for(2)
            before = time.monotonic()
            self.cli_ok(*args)
            returned = time.monotonic()
            tgt.wait_for(3, after=returned)
            bystander.wait_for(4, after=returned)
        finally:
            tgt.stop()
            bystander.stop()
        self.assertBystanderFine(bystander, returned)
        # Answered before the command began: not yet refused. (One that was
        # still in flight when it began may go either way.)
        early = [x for x in tgt.log if x[3] < before]
        self.assertTrue(early and all(x[1] == 200 for x in early),
                        [x[1] for x in early][:10])
        late = [x for x in tgt.log if x[0] > returned]
        self.assertTrue(late)
        for t, status, body, _ in late:
            self.assertEqual(status, refused_status, "request started %.3f s after the command "
                             "returned: %r" % (t - returned, body))
            self.assertEqual(json.loads(body), refused_body)
        for t, status, body, _ in tgt.log:
            self.assertIn(status, (200, refused_status), body)
        return by

    def test_ban_while_serving(self):
        d = self.daemon
        target = d.new_guest()
        by = self.run_while_serving(target, ("user", "ban", target["user_id"]), 403, FORBIDDEN)
        self.assertText(guest_login(d, target), 403, ERR_BANNED)
        self.assertLoginOk(by)

    def test_delete_while_serving(self):
        d = self.daemon
        target = d.new_guest()
        self.assertEqual(d.get("/set-player-data?player_name=T",
                               headers=auth(target["auth_token"])).status, 200)
        by = self.run_while_serving(target, ("user", "delete", target["user_id"]), 401,
                                    UNAUTHORIZED)
        self.assertText(guest_login(d, target), 401, ERR_GUEST)
        self.assertEqual(user_rows(d, target["user_id"]),
                         {"users": 0, "identities": 0, "sessions": 0, "player_data": 0})
        self.assertLoginOk(by)

    def test_revoke_while_serving(self):
        """sessions revoke under load: the target's refreshes fail from the
        next request on, the bystander's never do."""
        d = self.daemon
        target = d.new_guest()
        by, bystander = self.bystander_traffic()
        bystander.start()
        try:
            bystander.wait_for(4)
            self.cli_ok("sessions", "revoke", target["user_id"])
            returned = time.monotonic()
            self.assertText(refresh(d, target["refresh_token"]), 401, ERR_REFRESH)
            bystander.wait_for(4, after=returned)
        finally:
            bystander.stop()
        self.assertBystanderFine(bystander, returned)

    # ---- guest clean-up default ----

    def test_guest_cleanup_off_by_default(self):
        d = self.daemon
        g = d.new_guest()
        db_write(d, "UPDATE users SET last_seen_at = last_seen_at - 1000 * 86400 "
                    "WHERE user_id = ?", (g["user_id"],))
        d.stop()
        d.start()
        # The clean-up would run at start and then every second while it finds
        # a full batch: give it a few ticks.
        time.sleep(3)
        self.assertEqual(user_rows(d, g["user_id"])["users"], 1)
        self.assertLoginOk(g, "idle guest with clean-up off")


class GuestCleanup(OperatorAsserts, DaemonTest, unittest.TestCase):
    """guest_cleanup_after 1d: idle guests without a platform link are
    deleted in small batches by the background thread."""
    SETTINGS = {"guest_cleanup_after": "1d", "rate_limit_login": 0}
    SYNTHETIC = 450       # aged guests inserted directly: more than two batches
    BATCH = 200

    def age(self, *user_ids, days=2):
        db_write(self.daemon, "UPDATE users SET last_seen_at = last_seen_at - ? "
                              "WHERE user_id = ?",
                 [(days * 86400, u) for u in user_ids], many=True)

    def last_seen(self, user_id):
        return db_rows(self.daemon, "SELECT last_seen_at FROM users WHERE user_id = ?",
                       (user_id,))[0][0]

    def test_idle_guests_deleted(self):
        d = self.daemon
        idle = [d.new_guest() for _ in range(3)]
        # One idle guest with more: a second session and player data.
        self.relogin(idle[0])
        self.assertEqual(d.get("/set-player-data?player_name=Idle",
                               headers=auth(idle[0]["auth_token"])).status, 200)
        linked = d.new_guest()
        recent = d.new_guest()
        relogged = d.new_guest()
        refreshed = d.new_guest()
        old_ids = [g["user_id"] for g in idle + [linked, relogged, refreshed]]
        self.age(*old_ids)
        # A platform link keeps an idle guest.
        db_write(d, "INSERT INTO identities (provider, subject, user_id, created_at) "
                    "VALUES ('steam', ?, ?, 0)", ("s-" + linked["user_id"], linked["user_id"]))
        # A login or a refresh counts as activity.
        now = time.time()
        self.assertLoginOk(relogged)
        self.assertEqual(refresh(d, refreshed["refresh_token"]).status, 200)
        for g in (relogged, refreshed):
            self.assertAlmostEqual(self.last_seen(g["user_id"]), now, delta=60)
        self.assertLess(self.last_seen(linked["user_id"]), now - 86400)

        # Many more idle guests, and an idle platform-only user (no guest
        # secret), straight into the database while the daemon is down; the
        # clean-up runs at start.
        d.stop()
        old = int(now) - 3 * 86400
        synthetic = [str(uuid.uuid4()) for _ in range(self.SYNTHETIC)]
        platform_only = str(uuid.uuid4())
        db_write(d, "INSERT INTO users (user_id, guest_secret_hash, created_at, last_seen_at) "
                    "VALUES (?, ?, ?, ?)",
                 [(u, os.urandom(32), old - i, old - i) for i, u in enumerate(synthetic)],
                 many=True)
        db_write(d, "INSERT INTO users (user_id, guest_secret_hash, created_at, last_seen_at) "
                    "VALUES (?, NULL, ?, ?)", (platform_only, old, old))
        log_from = len(d.log_text())
        d.start()

        doomed = synthetic + [g["user_id"] for g in idle]
        deadline = time.time() + (240 if VALGRIND else 60)
        while True:
            left = db_rows(d, "SELECT count(*) FROM users WHERE user_id IN (%s)"
                              % ",".join("?" * len(doomed)), doomed)[0][0]
            if left == 0:
                break
            self.assertLess(time.time(), deadline, "%d idle guests left" % left)
            time.sleep(0.2)

        for g in idle:
            self.assertText(guest_login(d, g), 401, ERR_GUEST, "idle guest after clean-up")
            self.assertText(refresh(d, g["refresh_token"]), 401, ERR_REFRESH)
            self.assertEqual(user_rows(d, g["user_id"]),
                             {"users": 0, "identities": 0, "sessions": 0, "player_data": 0})
        self.assertApigw(d.get("/get-player-data", headers=auth(idle[0]["auth_token"])), 401,
                         UNAUTHORIZED)
        for what, g in (("linked", linked), ("recent", recent), ("logged in", relogged),
                        ("refreshed", refreshed)):
            self.assertLoginOk(g, "%s guest must survive" % what)
        self.assertEqual(user_rows(d, linked["user_id"])["identities"], 1)
        self.assertEqual(db_rows(d, "SELECT count(*) FROM users WHERE user_id = ?",
                                 (platform_only,))[0][0], 1, "platform-only user kept")
        # Small batches: none larger than the batch size, all of them counted.
        text = d.log_text()[log_from:]
        batches = [int(n) for n in re.findall(r"deleted (\d+) idle guest accounts", text)]
        self.assertEqual(sum(batches), len(doomed), batches)
        self.assertTrue(all(0 < n <= self.BATCH for n in batches), batches)
        self.assertGreaterEqual(len(batches), 3, batches)


if __name__ == "__main__":
    unittest.main()
