"""Refresh sessions: rotation, the reuse grace window, reuse revocation,
simultaneous refreshes and durability across restarts and kill -9
(API.md A.2 "Refresh", B "Sessions", D.1).

Timing: the only sleeps are for the reuse grace window. Every timed assertion
is chosen so that it holds for a correct daemon however slow the run is
(valgrind): a "must be rejected" reuse is sent only after the window has
certainly passed, measured from the moment the client *received* the response
that spent the token (the token was spent before that)."""
import http.client
import json
import os
import threading
import time
import unittest

import gh
from gh import DaemonTest, VALGRIND, jwt_parts

ERR_REFRESH = "Error: Failed to validate refresh token"
REFRESH_FIELDS = {"user_id", "auth_token", "refresh_token",
                  "auth_token_expires_in", "refresh_token_expires_in"}

# Simultaneous refreshes: valgrind runs the daemon's threads one at a time and
# every refresh signs an RSA token (~0.2 s there), so fewer threads keep all of
# them well inside the default 10 s grace window.
CONCURRENCY = 8 if VALGRIND else 20


def claims(token):
    return jwt_parts(token)[1]


def is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def refresh(d, token):
    return d.get("/refresh-access-token?&refresh_token=" + token)


def db_rows(d, sql, args=()):
    """Reads the daemon's database (only while it runs: a last connection
    closing would checkpoint the WAL and hide what a restart must recover)."""
    return gh.db_rows(d, sql, args)


def session_row(d, sid):
    rows = db_rows(d, "SELECT session_id, user_id, access_scope, current_jti, previous_jti, "
                      "rotated_at_ms, created_at, expires_at, ended_at, end_reason "
                      "FROM sessions WHERE session_id = ?", (sid,))
    assert len(rows) == 1, "no stored session %r" % (sid,)
    keys = ("session_id", "user_id", "access_scope", "current_jti", "previous_jti",
            "rotated_at_ms", "created_at", "expires_at", "ended_at", "end_reason")
    return dict(zip(keys, rows[0]))


def sleep_until(t):
    dt = t - time.time()
    if dt > 0:
        time.sleep(dt)


def summary(results):
    """Short form of concurrent_refresh results for failure messages."""
    return ["%d %s" % (x[0], x[1][:60]) if isinstance(x, tuple) else repr(x) for x in results]


def concurrent_refresh(d, token, n):
    """n threads, each on its own already-open connection, send the same
    refresh at once. Returns a list of (status, body) or exceptions."""
    barrier = threading.Barrier(n)
    results = [None] * n
    target = d.path("/refresh-access-token?&refresh_token=" + token)

    def worker(i):
        conn = http.client.HTTPConnection("127.0.0.1", d.port, timeout=90)
        try:
            conn.connect()
            barrier.wait(timeout=60)
            conn.request("GET", target)
            r = conn.getresponse()
            results[i] = (r.status, r.read())
        except Exception as e:  # reported by the caller
            results[i] = e
        finally:
            conn.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    return results


class SessionAsserts:
    """Shared assertions; self.daemon is the daemon under test."""

    def assertRefreshOk(self, r, user_id, sid=None, exp=None):
        """A 200 refresh answer of the given session; returns its JSON."""
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.header("Content-Type"), "application/json")
        j = r.json()
        self.assertEqual(set(j), REFRESH_FIELDS)
        self.assertEqual(j["user_id"], user_id)
        self.assertTrue(is_int(j["auth_token_expires_in"]), j)
        self.assertTrue(is_int(j["refresh_token_expires_in"]), j)
        self.assertEqual(j["auth_token_expires_in"], 900)
        a = claims(j["auth_token"])
        self.assertEqual(a["sub"], user_id)
        self.assertEqual(a["aud"], "gamebackend")
        self.assertEqual(a["scope"], "guest")
        p = claims(j["refresh_token"])
        self.assertEqual(p["sub"], user_id)
        self.assertEqual(p["aud"], "refresh")
        self.assertEqual(p["scope"], "refresh")
        self.assertEqual(p["access_token_scope"], "guest")
        if sid is not None:
            self.assertEqual(p["sid"], sid, "refresh stays in the same session")
        if exp is not None:
            self.assertEqual(p["exp"], exp, "refresh keeps the session's original exp")
        self.assertGreater(j["refresh_token_expires_in"], 0)
        # Seconds from the answer to the session's fixed end, not an absolute time
        # (slack for slow runs: a refresh under valgrind on a loaded machine was
        # answered 4.6 s after the daemon read its clock).
        self.assertAlmostEqual(j["refresh_token_expires_in"], p["exp"] - time.time(), delta=30)
        return j

    def assertRejected(self, r, what=""):
        self.assertEqual(r.status, 401, "%s: %r" % (what, r))
        self.assertEqual(r.text, ERR_REFRESH, what)
        self.assertTrue(r.header("Content-Type").startswith("text/plain"), r.headers)

    def assertRevoked(self, sid, *tokens):
        """The stored session is ended and none of its tokens refreshes."""
        row = session_row(self.daemon, sid)
        self.assertIsNotNone(row["ended_at"], "session %d should be revoked: %r" % (sid, row))
        for t in tokens:
            self.assertRejected(refresh(self.daemon, t), "token of revoked session %d" % sid)

    def login(self):
        """A new guest: (guest json, refresh token, sid, exp)."""
        g = self.daemon.new_guest()
        p = claims(g["refresh_token"])
        return g, g["refresh_token"], p["sid"], p["exp"]


class RotationTests:
    """Default settings: refresh_reuse_grace 10 s."""

    def test_rotate_chain(self):
        g, r1, sid, exp = self.login()
        uid = g["user_id"]
        row = session_row(self.daemon, sid)
        self.assertEqual(row["user_id"], uid)
        self.assertEqual(row["access_scope"], "guest")
        self.assertEqual(row["current_jti"], claims(r1)["jti"])
        self.assertIsNone(row["ended_at"])
        self.assertEqual(row["expires_at"], exp)
        chain = [r1]
        prev_in = g["refresh_token_expires_in"]
        for _ in range(3):
            j = self.assertRefreshOk(refresh(self.daemon, chain[-1]), uid, sid, exp)
            self.assertNotIn(j["refresh_token"], chain)
            self.assertLessEqual(j["refresh_token_expires_in"], prev_in,
                                 "refresh_token_expires_in never grows")
            prev_in = j["refresh_token_expires_in"]
            chain.append(j["refresh_token"])
            row = session_row(self.daemon, sid)
            self.assertEqual(row["current_jti"], claims(chain[-1])["jti"])
            self.assertEqual(row["previous_jti"], claims(chain[-2])["jti"])
            self.assertIsNone(row["ended_at"])
        self.assertEqual(len({claims(t)["jti"] for t in chain}), len(chain), "jtis are unique")
        # The access token from the last refresh works on the sample backend.
        r = self.daemon.get("/get-player-data", headers={"Authorization": j["auth_token"]})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["UserID"], uid)

    def test_refresh_by_post(self):
        g, r1, sid, exp = self.login()
        r = self.daemon.post("/refresh-access-token", body={"refresh_token": r1})
        j = self.assertRefreshOk(r, g["user_id"], sid, exp)
        r = self.daemon.post("/refresh-access-token", body="refresh_token=" + j["refresh_token"],
                             headers={"Content-Type": "application/x-www-form-urlencoded"})
        self.assertRefreshOk(r, g["user_id"], sid, exp)

    def test_new_pair_ends_with_the_stored_session(self):
        # The pair is signed before the write from the presented token's exp;
        # a session whose stored end differs (moved here by hand) gets a pair
        # re-signed with the stored one.
        g, r1, sid, exp = self.login()
        gh.db_write(self.daemon, "UPDATE sessions SET expires_at = ? WHERE session_id = ?",
                    (exp - 100, sid))
        j = self.assertRefreshOk(refresh(self.daemon, r1), g["user_id"], sid, exp - 100)
        self.assertEqual(claims(j["refresh_token"])["exp"], exp - 100)

    def test_grace_reissue_spends_the_lost_token(self):
        g, r1, sid, exp = self.login()
        uid = g["user_id"]
        r2 = self.assertRefreshOk(refresh(self.daemon, r1), uid, sid, exp)["refresh_token"]
        # The client lost R2's response and retries with R1 inside the window.
        j = self.assertRefreshOk(refresh(self.daemon, r1), uid, sid, exp)
        r3 = j["refresh_token"]
        self.assertNotEqual(r3, r2)
        self.assertNotIn(claims(r3)["jti"], (claims(r1)["jti"], claims(r2)["jti"]))
        row = session_row(self.daemon, sid)
        self.assertEqual(row["current_jti"], claims(r3)["jti"])
        self.assertEqual(row["previous_jti"], claims(r1)["jti"],
                         "a grace reissue does not change which token is the previous one")
        # R2 (from the lost response) is now spent: presenting it is a reuse
        # that revokes the whole session.
        self.assertRejected(refresh(self.daemon, r2), "R2 spent by the grace reissue")
        self.assertRevoked(sid, r3, r1, r2)

    def test_grace_repeats_within_window(self):
        g, r1, sid, exp = self.login()
        uid = g["user_id"]
        seen = [r1]
        r2 = self.assertRefreshOk(refresh(self.daemon, r1), uid, sid, exp)["refresh_token"]
        seen.append(r2)
        rotated_at = session_row(self.daemon, sid)["rotated_at_ms"]
        for _ in range(2):
            t = self.assertRefreshOk(refresh(self.daemon, r1), uid, sid, exp)["refresh_token"]
            self.assertNotIn(t, seen, "a grace reissue is a never-issued token")
            self.assertNotIn(claims(t)["jti"], [claims(s)["jti"] for s in seen])
            seen.append(t)
            row = session_row(self.daemon, sid)
            self.assertEqual(row["previous_jti"], claims(r1)["jti"])
            self.assertEqual(row["current_jti"], claims(t)["jti"])
            self.assertEqual(row["rotated_at_ms"], rotated_at,
                             "the window stays measured from R1's first spending")
            self.assertIsNone(row["ended_at"])
        # Only the last one issued refreshes; it rotates normally.
        r5 = self.assertRefreshOk(refresh(self.daemon, seen[-1]), uid, sid, exp)["refresh_token"]
        row = session_row(self.daemon, sid)
        self.assertEqual(row["current_jti"], claims(r5)["jti"])
        self.assertEqual(row["previous_jti"], claims(seen[-1])["jti"])
        self.assertRefreshOk(refresh(self.daemon, r5), uid, sid, exp)

    def test_grandparent_reuse_revokes(self):
        g, r1, sid, exp = self.login()
        uid = g["user_id"]
        r2 = self.assertRefreshOk(refresh(self.daemon, r1), uid, sid, exp)["refresh_token"]
        r3 = self.assertRefreshOk(refresh(self.daemon, r2), uid, sid, exp)["refresh_token"]
        # R1 was spent a moment ago (well inside 10 s), but it is not the
        # immediately previous token any more: R2 is.
        self.assertRejected(refresh(self.daemon, r1), "grandparent token")
        self.assertRevoked(sid, r3, r2, r1)

    def test_independent_sessions(self):
        g, ra1, sid_a, exp_a = self.login()
        uid = g["user_id"]
        r = self.daemon.get("/login-as-guest?&user_id=%s&guest_secret=%s"
                            % (uid, g["guest_secret"]))
        self.assertEqual(r.status, 200, r)
        rb1 = r.json()["refresh_token"]
        sid_b, exp_b = claims(rb1)["sid"], claims(rb1)["exp"]
        self.assertNotEqual(sid_a, sid_b, "each login starts its own session")
        # Revoke session A by a (grandparent) reuse.
        ra2 = self.assertRefreshOk(refresh(self.daemon, ra1), uid, sid_a, exp_a)["refresh_token"]
        ra3 = self.assertRefreshOk(refresh(self.daemon, ra2), uid, sid_a, exp_a)["refresh_token"]
        self.assertRejected(refresh(self.daemon, ra1))
        self.assertRevoked(sid_a, ra3)
        # Session B of the same user is untouched.
        self.assertIsNone(session_row(self.daemon, sid_b)["ended_at"])
        rb2 = self.assertRefreshOk(refresh(self.daemon, rb1), uid, sid_b, exp_b)["refresh_token"]
        self.assertRefreshOk(refresh(self.daemon, rb2), uid, sid_b, exp_b)
        # And the user can still log in.
        r = self.daemon.get("/login-as-guest?&user_id=%s&guest_secret=%s"
                            % (uid, g["guest_secret"]))
        self.assertEqual(r.status, 200, r)

    def test_concurrent_refresh_within_grace(self):
        g, r1, sid, exp = self.login()
        uid = g["user_id"]
        res = concurrent_refresh(self.daemon, r1, CONCURRENCY)
        for x in res:
            self.assertIsInstance(x, tuple, "request failed: %r" % (x,))
            self.assertLess(x[0], 500, summary([x]))
        # D.1: within the window all of them get 200, each a distinct token.
        self.assertEqual([x[0] for x in res], [200] * CONCURRENCY, summary(res))
        bodies = [json.loads(x[1]) for x in res]
        tokens = [b["refresh_token"] for b in bodies]
        self.assertEqual(len(set(tokens)), CONCURRENCY, "distinct refresh tokens")
        jtis = [claims(t)["jti"] for t in tokens]
        self.assertEqual(len(set(jtis)), CONCURRENCY, "distinct jtis")
        for b in bodies:
            self.assertEqual(b["user_id"], uid)
            p = claims(b["refresh_token"])
            self.assertEqual(p["sid"], sid)
            self.assertEqual(p["exp"], exp)
            self.assertEqual(claims(b["auth_token"])["scope"], "guest")
        # The last one issued is the session's current token. Find it from the
        # store: trying the others would be a reuse and revoke the session.
        row = session_row(self.daemon, sid)
        self.assertIsNone(row["ended_at"])
        self.assertEqual(row["previous_jti"], claims(r1)["jti"])
        current = [t for t in tokens if claims(t)["jti"] == row["current_jti"]]
        self.assertEqual(len(current), 1, "exactly one returned token is current")
        last = current[0]
        spent = [t for t in tokens if t != last]
        nxt = self.assertRefreshOk(refresh(self.daemon, last), uid, sid, exp)["refresh_token"]
        # Every other token was spent when the next one was issued: it is not
        # the immediately previous token (R1 was, then `last` is), so
        # presenting it is a reuse that revokes the whole session.
        self.assertRejected(refresh(self.daemon, spent[0]), "token spent by a later reissue")
        self.assertRevoked(sid, nxt, last)


class NoGraceTests:
    """Run with refresh_reuse_grace=0."""

    def test_any_reuse_revokes(self):
        g, r1, sid, exp = self.login()
        # Spend R1 just after a wall-clock second starts, so that the retry
        # below usually falls in the same whole second (a window kept in whole
        # seconds would wrongly still be open).
        sleep_until(int(time.time()) + 1.02)
        r2 = self.assertRefreshOk(refresh(self.daemon, r1), g["user_id"], sid, exp)["refresh_token"]
        # No window at all: the immediate retry with R1 is a reuse.
        self.assertRejected(refresh(self.daemon, r1), "reuse with refresh_reuse_grace=0")
        self.assertRevoked(sid, r2)

    def test_concurrent_refresh_no_grace(self):
        g, r1, sid, exp = self.login()
        res = concurrent_refresh(self.daemon, r1, CONCURRENCY)
        for x in res:
            self.assertIsInstance(x, tuple, "request failed: %r" % (x,))
            self.assertLess(x[0], 500, summary([x]))
        statuses = sorted(x[0] for x in res)
        # The first to reach the store rotates; every other one presents what
        # is then the previous token outside a zero-length window: a reuse.
        self.assertEqual(statuses, [200] + [401] * (CONCURRENCY - 1), summary(res))
        winner = [json.loads(x[1]) for x in res if x[0] == 200][0]
        for x in res:
            if x[0] == 401:
                self.assertEqual(x[1].decode(), ERR_REFRESH)
        # The first loser's reuse revoked the whole session (later losers found
        # it ended), so the winner's token is rejected too: the session is
        # consistently revoked, not left with a live token.
        self.assertRevoked(sid, winner["refresh_token"])


class ShortGrace(SessionAsserts, DaemonTest, unittest.TestCase):
    SETTINGS = {"refresh_reuse_grace": "1s"}
    GRACE = 1.0

    def test_reuse_inside_window_is_granted(self):
        g, r1, sid, exp = self.login()
        t = time.time()
        r2 = self.assertRefreshOk(refresh(self.daemon, r1), g["user_id"], sid, exp)
        r = refresh(self.daemon, r1)
        if time.time() - t > self.GRACE:
            self.skipTest("too slow to be sure the retry was inside the 1 s window")
        j = self.assertRefreshOk(r, g["user_id"], sid, exp)
        self.assertNotEqual(j["refresh_token"], r2["refresh_token"])

    def test_reuse_outside_window_revokes(self):
        other, o1, other_sid, other_exp = self.login()
        g, r1, sid, exp = self.login()
        r2 = self.assertRefreshOk(refresh(self.daemon, r1), g["user_id"], sid, exp)["refresh_token"]
        time.sleep(2.5)
        self.assertRejected(refresh(self.daemon, r1), "reuse 2.5 s after spending, grace 1 s")
        self.assertRevoked(sid, r2)
        # Nobody else is affected.
        ng = self.daemon.new_guest()
        self.assertRefreshOk(refresh(self.daemon, ng["refresh_token"]), ng["user_id"])
        self.assertRefreshOk(refresh(self.daemon, o1), other["user_id"], other_sid, other_exp)

    def test_window_is_not_rounded_to_whole_seconds(self):
        """The window is measured from the moment the token was spent: a reuse
        1.2 s after the spending is outside a 1 s window even when both fall
        in consecutive wall-clock seconds."""
        g, r1, sid, exp = self.login()
        # Spend R1 just after a second boundary ...
        sleep_until(int(time.time()) + 1.02)
        r2 = self.assertRefreshOk(refresh(self.daemon, r1), g["user_id"], sid, exp)["refresh_token"]
        received = time.time()
        # ... and reuse it 1.2 s after that (more than 1 s after it was spent,
        # usually still in the next wall-clock second).
        sleep_until(received + self.GRACE + 0.2)
        r = refresh(self.daemon, r1)
        self.assertRejected(r, "reuse %.2f s after R1 was spent, grace 1 s" % (time.time() - received))
        self.assertRevoked(sid, r2)


class GraceNotExtended(SessionAsserts, DaemonTest, unittest.TestCase):
    SETTINGS = {"refresh_reuse_grace": "3s"}
    GRACE = 3.0

    def test_reissue_does_not_extend_window(self):
        g, r1, sid, exp = self.login()
        uid = g["user_id"]
        r2 = self.assertRefreshOk(refresh(self.daemon, r1), uid, sid, exp)["refresh_token"]
        spent_by = time.time()  # R1 was spent before this
        # A reissue 1.5 s later: inside the window.
        sleep_until(spent_by + 1.5)
        r3 = self.assertRefreshOk(refresh(self.daemon, r1), uid, sid, exp)["refresh_token"]
        self.assertNotEqual(r3, r2)
        # More than GRACE + 1 s after R1 was spent (whole-second clocks
        # included), but less than GRACE after the reissue: had the reissue
        # restarted the window, this would still be granted.
        sleep_until(spent_by + self.GRACE + 1.1)
        self.assertRejected(refresh(self.daemon, r1), "R1 after its window, despite a reissue")
        self.assertRevoked(sid, r3, r2)


class DurabilityTests:
    """kill -9 right after a response never loses a rotation or a revocation.
    Run with refresh_reuse_grace=0."""

    def test_rotation_survives_kill9(self):
        g, r1, sid, exp = self.login()
        uid = g["user_id"]
        r2 = self.assertRefreshOk(refresh(self.daemon, r1), uid, sid, exp)["refresh_token"]
        self.daemon.kill9()
        self.daemon.start()
        row = session_row(self.daemon, sid)
        self.assertEqual(row["current_jti"], claims(r2)["jti"], "rotation survived")
        self.assertEqual(row["previous_jti"], claims(r1)["jti"])
        self.assertIsNone(row["ended_at"])
        r3 = self.assertRefreshOk(refresh(self.daemon, r2), uid, sid, exp)["refresh_token"]
        # R1 is spent (not even the previous token any more): rejected, and
        # the reuse revokes the session.
        self.assertRejected(refresh(self.daemon, r1), "R1 after restart")
        self.assertRevoked(sid, r3)

    def test_revocation_survives_kill9(self):
        g, r1, sid, exp = self.login()
        uid = g["user_id"]
        r2 = self.assertRefreshOk(refresh(self.daemon, r1), uid, sid, exp)["refresh_token"]
        r3 = self.assertRefreshOk(refresh(self.daemon, r2), uid, sid, exp)["refresh_token"]
        self.assertRejected(refresh(self.daemon, r1), "reuse")
        self.daemon.kill9()
        self.daemon.start()
        self.assertRevoked(sid, r3, r2, r1)

    def test_new_guest_survives_kill9(self):
        r = self.daemon.get("/login-as-guest")
        self.assertEqual(r.status, 200, r)
        self.daemon.kill9()
        g = r.json()
        self.daemon.start()
        r = self.daemon.get("/login-as-guest?&user_id=%s&guest_secret=%s"
                            % (g["user_id"], g["guest_secret"]))
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["user_id"], g["user_id"])
        # Its first session survived too.
        p = claims(g["refresh_token"])
        self.assertRefreshOk(refresh(self.daemon, g["refresh_token"]), g["user_id"],
                             p["sid"], p["exp"])

    def test_refresh_token_survives_clean_restart(self):
        g, r1, sid, exp = self.login()
        uid = g["user_id"]
        r2 = self.assertRefreshOk(refresh(self.daemon, r1), uid, sid, exp)["refresh_token"]
        self.daemon.stop()
        self.daemon.start()
        r3 = self.assertRefreshOk(refresh(self.daemon, r2), uid, sid, exp)["refresh_token"]
        self.assertRefreshOk(refresh(self.daemon, r3), uid, sid, exp)


class StoredStateTests:

    def test_no_token_or_secret_stored(self):
        d = self.daemon
        g, r1, sid, exp = self.login()
        uid = g["user_id"]
        tokens = [g["auth_token"], g["refresh_token"]]
        j = self.assertRefreshOk(refresh(d, r1), uid, sid, exp)
        tokens += [j["auth_token"], j["refresh_token"]]
        j = self.assertRefreshOk(refresh(d, j["refresh_token"]), uid, sid, exp)
        tokens += [j["auth_token"], j["refresh_token"]]
        r = d.get("/login-as-guest?&user_id=%s&guest_secret=%s" % (uid, g["guest_secret"]))
        self.assertEqual(r.status, 200, r)
        tokens += [r.json()["auth_token"], r.json()["refresh_token"]]
        # The session holds jtis.
        row = session_row(d, sid)
        self.assertEqual(row["current_jti"], claims(j["refresh_token"])["jti"])
        # Needles: each full token, its signature segment, and the guest secret.
        needles = {}
        for t in tokens:
            needles[t] = "token"
            needles[t.split(".")[2]] = "token signature"
        needles[g["guest_secret"]] = "guest secret"
        tables = gh.db_tables(d)
        self.assertIn("sessions", tables)
        for table in tables:
            cols = gh.db_columns(d, table)
            for row in db_rows(d, "SELECT %s FROM %s" % (", ".join('"%s"' % c for c in cols),
                                                         table)):
                for col, v in zip(cols, row):
                    if isinstance(v, bytes):
                        v = v.decode("latin-1")
                    if not isinstance(v, str):
                        continue
                    for n, what in needles.items():
                        self.assertNotIn(n, v, "%s stored in %s.%s" % (what, table, col))
        # Nor anywhere in the database files (free pages, WAL) as raw bytes.
        base = d.settings.get("database_path")  # SQLite's files (PostgreSQL: the rows above)
        for path in (base, base + "-wal", base + "-journal") if base else ():
            if not os.path.exists(path):
                continue
            with open(path, "rb") as f:
                data = f.read()
            for n, what in needles.items():
                self.assertNotIn(n.encode(), data, "%s found in %s" % (what, path))


# One daemon per settings: under valgrind every start costs seconds.
class Rotation(RotationTests, StoredStateTests, SessionAsserts, DaemonTest, unittest.TestCase):
    """Default settings (refresh_reuse_grace 10 s)."""


class GraceZero(NoGraceTests, DurabilityTests, SessionAsserts, DaemonTest, unittest.TestCase):
    SETTINGS = {"refresh_reuse_grace": "0"}


# With an ECDSA access key a refresh signs its pair on the request thread
# before queueing the rotation, and (SQLite) the writer thread answers it;
# with RSA it runs on a write worker (the classes above). The same rules.
class RotationES256(RotationTests, SessionAsserts, DaemonTest, unittest.TestCase):
    SETTINGS = {"signing_alg": "ES256"}


class GraceZeroES256(NoGraceTests, SessionAsserts, DaemonTest, unittest.TestCase):
    SETTINGS = {"signing_alg": "ES256", "refresh_reuse_grace": "0"}


# Fifty simultaneous refreshes; under valgrind, which runs the daemon's
# threads one at a time and signs each token slowly, fewer, so that all of
# them still land inside the default 10 s grace window.
MANY = 10 if VALGRIND else 50

from gh import Daemon  # noqa: E402 (the class below starts a second daemon)


class ConcurrentRefreshMany(SessionAsserts, DaemonTest, unittest.TestCase):
    """MANY clients present the same refresh token at once, each on its own
    connection (API.md B "Sessions", D.1): with the grace window all get 200
    with distinct tokens and exactly one token chain survives; without it
    exactly one gets 200 and the reuse by the others revokes the session.
    Nothing answers 5xx and the daemon stays up (clean exit checked at stop)."""

    def assertNoFailures(self, res):
        self.assertEqual(len(res), MANY)
        for x in res:
            self.assertIsInstance(x, tuple, "request failed: %r" % (x,))
            self.assertLess(x[0], 500, summary([x]))

    def test_many_within_grace(self):
        d = self.daemon
        other, o1, other_sid, other_exp = self.login()
        g, r1, sid, exp = self.login()
        uid = g["user_id"]
        res = concurrent_refresh(d, r1, MANY)
        self.assertNoFailures(res)
        self.assertEqual([x[0] for x in res], [200] * MANY, summary(res))
        bodies = [json.loads(x[1]) for x in res]
        for b in bodies:
            self.assertEqual(set(b), REFRESH_FIELDS)
            self.assertEqual(b["user_id"], uid)
            p = claims(b["refresh_token"])
            self.assertEqual(p["sid"], sid, "every reissue stays in the session")
            self.assertEqual(p["exp"], exp, "and keeps its original exp")
            self.assertEqual(claims(b["auth_token"])["sub"], uid)
        tokens = [b["refresh_token"] for b in bodies]
        jtis = [claims(t)["jti"] for t in tokens]
        self.assertEqual(len(set(tokens)), MANY, "distinct refresh tokens")
        self.assertEqual(len(set(jtis)), MANY, "distinct jtis")
        self.assertNotIn(claims(r1)["jti"], jtis)
        # Exactly one returned token is the session's current one; R1 stays
        # the immediately previous token; every other returned token is spent.
        row = session_row(d, sid)
        self.assertIsNone(row["ended_at"])
        self.assertEqual(row["previous_jti"], claims(r1)["jti"])
        current = [t for t in tokens if claims(t)["jti"] == row["current_jti"]]
        self.assertEqual(len(current), 1, "exactly one token chain survives")
        survivor = current[0]
        spent = [t for t in tokens if t != survivor]
        self.assertEqual(len(spent), MANY - 1)
        # The survivor's chain goes on.
        n1 = self.assertRefreshOk(refresh(d, survivor), uid, sid, exp)["refresh_token"]
        n2 = self.assertRefreshOk(refresh(d, n1), uid, sid, exp)["refresh_token"]
        row = session_row(d, sid)
        self.assertEqual(row["current_jti"], claims(n2)["jti"])
        self.assertIsNone(row["ended_at"])
        # Any other of the MANY tokens is spent and not the previous one: a
        # reuse, which revokes the whole session.
        self.assertRejected(refresh(d, spent[len(spent) // 2]), "a token spent by a reissue")
        self.assertRevoked(sid, n2, survivor, r1)
        # Nobody else was affected, and the daemon still answers.
        self.assertRefreshOk(refresh(d, o1), other["user_id"], other_sid, other_exp)
        self.assertEqual(d.get("/health").status, 200)

    def test_many_without_grace(self):
        # A daemon of its own with refresh_reuse_grace=0 (self.daemon is
        # shadowed for this test only: the SessionAsserts helpers use it).
        own = Daemon(dict(getattr(self, "SETTINGS", None) or {}, refresh_reuse_grace="0"))
        try:
            own.start()
            self.daemon = own
            other, o1, other_sid, other_exp = self.login()
            g, r1, sid, exp = self.login()
            res = concurrent_refresh(own, r1, MANY)
            self.assertNoFailures(res)
            statuses = sorted(x[0] for x in res)
            # The first to reach the store rotates; every later one presents
            # the previous token outside a zero-length window (a reuse that
            # revokes the session) or finds the session already revoked.
            self.assertEqual(statuses, [200] + [401] * (MANY - 1), summary(res))
            for x in res:
                if x[0] == 401:
                    self.assertEqual(x[1].decode(), ERR_REFRESH)
            winner = [json.loads(x[1]) for x in res if x[0] == 200][0]
            self.assertEqual(winner["user_id"], g["user_id"])
            self.assertEqual(claims(winner["refresh_token"])["sid"], sid)
            self.assertEqual(session_row(own, sid)["current_jti"],
                             claims(winner["refresh_token"])["jti"])
            # The session ends up revoked: not even the winner's token lives on.
            self.assertRevoked(sid, winner["refresh_token"], r1)
            self.assertRefreshOk(refresh(own, o1), other["user_id"], other_sid, other_exp)
            self.assertEqual(own.get("/health").status, 200)
            own.stop()  # asserts a clean exit
        finally:
            self.__dict__.pop("daemon", None)
            own.cleanup()


class ConcurrentRefreshManyES256(ConcurrentRefreshMany):
    """The same with an ECDSA access key: the refreshes are signed on the
    request threads and their rotations queued to the writer at once."""
    SETTINGS = {"signing_alg": "ES256"}


if __name__ == "__main__":
    unittest.main()
