"""Per-client rate limiting (API.md D.3, B "Abuse limits"): one token bucket
per client address shared by the login, refresh and account routes, 429 with
Retry-After once it is empty, recovery as it refills, the trusted-proxy rule
for X-Forwarded-For, and the bound on the limiter's memory however many
addresses appear.

A token bucket refills continuously, so a slow run (valgrind) may see a
token come back during a burst. The budget checks therefore assert the hard
bound of a correct bucket: over a burst lasting E seconds a client gets at
least the capacity and at most capacity + rate * E requests through."""
import http.client
import json
import math
import os
import re
import threading
import time
import unittest

import gh
from gh import Daemon, DaemonTest

BUDGET = 5
WINDOW = 4.0
RATE = BUDGET / WINDOW  # tokens per second

# The 429 bodies (API.md D.3 and router.c).
COMPAT_BODY = b"Error: Too many requests"
JSON_BODY = {"error": "rate_limited", "message": "Too many requests"}

# Every limited route, as (method, target, family); the requests carry no
# credentials: the limiter answers before parameters or tokens are looked at.
LIMITED = [
    ("GET", "/login-as-guest", "compat"),
    ("POST", "/login-as-guest", "compat"),
    ("GET", "/refresh-access-token?refresh_token=x", "compat"),
    ("POST", "/refresh-access-token", "compat"),
    ("POST", "/logout", "json"),
    ("POST", "/logout-all", "json"),
    ("GET", "/get-user", "json"),
    ("POST", "/delete-user", "json"),
    ("GET", "/export-user-data", "json"),
]

_next_client = [0]


def fresh_client():
    """An address no other test of this file uses (198.18.0.0/15, RFC 2544)."""
    _next_client[0] += 1
    n = _next_client[0]
    return "198.18.%d.%d" % (n >> 8, n & 255)


def xff(value, extra=None):
    h = {"X-Forwarded-For": value}
    if extra:
        h.update(extra)
    return h


def retry_after(r):
    v = r.header("Retry-After")
    assert v is not None and re.fullmatch(r"[0-9]+", v), "Retry-After %r on %r" % (v, r)
    return int(v)


def bearer(token):
    return {"Authorization": "Bearer " + token}


class LimiterChecks:
    """Helpers for a daemon limited to BUDGET per WINDOW."""

    def cheap(self, headers=None):
        """A cheap limited request: /get-user without a token (401 once past the limiter)."""
        return self.daemon.get("/get-user", headers=headers)

    def burst(self, headers, n):
        """n cheap requests in a row; returns (statuses, responses, seconds taken)."""
        t0 = time.monotonic()
        rs = [self.cheap(headers) for _ in range(n)]
        return [r.status for r in rs], rs, time.monotonic() - t0

    def assert_budget(self, statuses, elapsed, other=401, budget=BUDGET):
        """The bucket's hard bounds over a burst from a full bucket."""
        passed = [s for s in statuses if s != 429]
        self.assertEqual(statuses[:budget], [other] * budget, statuses)
        self.assertTrue(all(s in (other, 429) for s in statuses), statuses)
        self.assertLessEqual(len(passed), budget + math.floor(RATE * elapsed),
                             "%d passed in %.2f s: %s" % (len(passed), elapsed, statuses))
        self.assertIn(429, statuses)
        if elapsed < 1 / RATE:
            # No token can have come back: exactly the budget, then 429s.
            self.assertEqual(statuses[budget:], [429] * (len(statuses) - budget), statuses)

    def drain(self, headers=None, limit=60):
        """Cheap requests until the client's bucket refuses; returns the 429."""
        for _ in range(limit):
            r = self.cheap(headers)
            if r.status == 429:
                return r
            self.assertEqual(r.status, 401, r)
        self.fail("no 429 after %d requests with %r" % (limit, headers))

    def assert_limited_429(self, r, family):
        self.assertEqual(r.status, 429, r)
        ra = retry_after(r)
        self.assertGreaterEqual(ra, 1)
        self.assertLessEqual(ra, WINDOW)
        self.assertTrue(r.header("X-Request-Id"))
        if family == "compat":
            self.assertTrue(r.header("Content-Type").startswith("text/plain"), r.headers)
            self.assertEqual(r.body, COMPAT_BODY)
        else:
            self.assertEqual(r.header("Content-Type"), "application/json")
            self.assertEqual(r.json(), JSON_BODY)

    def access_client(self, request_id, timeout=10):
        """The client= field of the access-log line of request_id."""
        deadline = time.monotonic() + timeout
        pat = re.compile(r"msg=access .*client=(\S+) request_id=%s " % re.escape(request_id))
        while time.monotonic() < deadline:
            m = pat.search(self.daemon.log_text())
            if m:
                return m.group(1)
            time.sleep(0.05)
        self.fail("no access log line for request %s" % request_id)


class RateLimit(LimiterChecks, DaemonTest, unittest.TestCase):
    """Behind a trusted proxy (the test client on 127.0.0.1), each test uses
    its own X-Forwarded-For client, so the tests do not share a bucket."""
    SETTINGS = {
        "rate_limit_login": BUDGET,
        "rate_limit_window": "4s",
        "trusted_proxies": "127.0.0.1, 192.0.2.0/24",
        # A spent refresh token must be refused, so that a refused refresh
        # that spent it would show.
        "refresh_reuse_grace": "0",
    }

    def login(self):
        """A new guest, logged in from a client used for nothing else."""
        r = self.daemon.get("/login-as-guest", headers=xff(fresh_client()))
        self.assertEqual(r.status, 200, r)
        return r.json()

    # ---- the budget ----

    def test_budget_then_429_with_retry_after(self):
        c = fresh_client()
        statuses, rs, elapsed = self.burst(xff(c), BUDGET + 10)
        self.assert_budget(statuses, elapsed)
        for r in rs:
            if r.status == 429:
                self.assert_limited_429(r, "json")
                # 5 per 4 s: a token every 0.8 s, so never more than 1 s to wait.
                self.assertEqual(retry_after(r), 1)
            else:
                self.assertIsNone(r.header("Retry-After"))

    def test_429_bodies_per_route_family(self):
        for method, target, family in LIMITED:
            with self.subTest(route=method + " " + target):
                h = xff(fresh_client())
                for _ in range(4):
                    self.drain(h)
                    r = self.daemon.request(method, target, headers=h)
                    if r.status == 429:
                        break  # else a token came back in between: drain again
                self.assert_limited_429(r, family)

    def test_bucket_shared_by_all_limited_routes(self):
        g = self.login()
        other = self.login()
        h = xff(fresh_client())
        qs = "?&user_id=%s&guest_secret=%s" % (g["user_id"], g["guest_secret"])
        t0 = time.monotonic()
        statuses = [
            self.daemon.get("/login-as-guest", headers=h).status,
            self.daemon.get("/login-as-guest" + qs, headers=h).status,
            self.daemon.get("/get-user", headers=dict(h, **bearer(g["auth_token"]))).status,
            self.daemon.get("/get-user", headers=dict(h, **bearer(g["auth_token"]))).status,
            self.daemon.post("/logout", headers=h,
                             body={"refresh_token": other["refresh_token"]}).status,
        ]
        self.assertEqual(statuses, [200] * 5)
        # The budget is spent, whichever route comes next.
        tail = []
        for method, target, _ in LIMITED + LIMITED:
            r = self.daemon.request(method, target, headers=h)
            tail.append(r.status)
            if r.status == 429:
                break
        elapsed = time.monotonic() - t0
        passed = len([s for s in tail if s != 429])
        self.assertIn(429, tail)
        self.assertLessEqual(passed, math.floor(RATE * elapsed), (tail, elapsed))

    def test_unlimited_routes(self):
        g = self.login()
        auth = bearer(g["auth_token"])
        unlimited = [
            ("/health", {}), ("/ready", {}), ("/.well-known/jwks.json", {}),
            ("/.well-known/openid-configuration", {}),
            ("/get-player-data", auth), ("/set-player-data?player_name=Bob", auth),
        ]
        c = fresh_client()
        # On a fresh client they take nothing: the whole budget is left after them.
        t0 = time.monotonic()
        for path, extra in unlimited:
            for _ in range(20):
                r = self.daemon.get(path, headers=xff(c, extra))
                self.assertEqual(r.status, 200, (path, r))
        elapsed = time.monotonic() - t0
        if elapsed < WINDOW:  # else the bucket could have refilled anyway
            statuses, _, _ = self.burst(xff(c), BUDGET)
            self.assertEqual(statuses, [401] * BUDGET)
        # With the bucket empty they still answer, 20 times each.
        self.drain(xff(c))
        for path, extra in unlimited:
            for _ in range(20):
                r = self.daemon.get(path, headers=xff(c, extra))
                self.assertEqual(r.status, 200, (path, r))
                self.assertIsNone(r.header("Retry-After"))
        r = self.daemon.get("/get-player-data", headers=xff(c, auth))
        self.assertEqual(r.json(), {"UserID": g["user_id"], "PlayerName": "Bob"})

    def test_recovers_after_retry_after(self):
        h = xff(fresh_client())
        r = self.drain(h)
        time.sleep(retry_after(r) + 0.5)
        self.assertEqual(self.cheap(h).status, 401)
        # After a whole window the whole budget is back (and no more).
        self.drain(h)
        time.sleep(WINDOW + 0.5)
        statuses, _, elapsed = self.burst(h, BUDGET + 10)
        self.assert_budget(statuses, elapsed)

    def test_refused_requests_do_no_work(self):
        """A 429 on refresh does not spend the refresh token; 429s on logout
        and delete-user end no session and delete nobody."""
        for _ in range(3):
            g = self.login()
            h = xff(fresh_client())
            rs = []
            self.drain(h)
            rs.append(self.daemon.get("/refresh-access-token?refresh_token=" + g["refresh_token"],
                                      headers=h))
            self.drain(h)
            rs.append(self.daemon.post("/refresh-access-token", headers=h,
                                       body={"refresh_token": g["refresh_token"]}))
            self.drain(h)
            rs.append(self.daemon.post("/logout", headers=h,
                                       body={"refresh_token": g["refresh_token"]}))
            self.drain(h)
            rs.append(self.daemon.post("/delete-user", headers=dict(h, **bearer(g["auth_token"]))))
            if all(r.status == 429 for r in rs):
                break
            # A token came back between a drain and the request (a very slow
            # run): the request was served, so start over with a new guest.
        self.assertEqual([r.status for r in rs], [429] * 4, rs)
        self.assert_limited_429(rs[0], "compat")
        self.assert_limited_429(rs[2], "json")
        time.sleep(WINDOW + 0.5)  # the whole budget back
        r = self.daemon.get("/get-user", headers=dict(h, **bearer(g["auth_token"])))
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["user_id"], g["user_id"])
        r = self.daemon.get("/refresh-access-token?refresh_token=" + g["refresh_token"],
                            headers=h)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["user_id"], g["user_id"])
        # The control: this daemon does refuse a spent token (no grace).
        r = self.daemon.get("/refresh-access-token?refresh_token=" + g["refresh_token"],
                            headers=h)
        self.assertEqual(r.status, 401, r)

    def test_options_preflight_takes_no_token(self):
        h = xff(fresh_client())
        t0 = time.monotonic()
        for method, target, _ in LIMITED:
            for _ in range(10):
                r = self.daemon.request("OPTIONS", target, headers=h)
                self.assertEqual(r.status, 204, (target, r))
        if time.monotonic() - t0 < WINDOW:
            statuses, _, _ = self.burst(h, BUDGET)
            self.assertEqual(statuses, [401] * BUDGET)
        # Preflights are answered even with the bucket empty.
        self.drain(h)
        for _, target, _ in LIMITED:
            r = self.daemon.request("OPTIONS", target, headers=h)
            self.assertEqual(r.status, 204, (target, r))
            self.assertIsNone(r.header("Retry-After"))

    # ---- X-Forwarded-For from a trusted proxy ----

    def assert_same_bucket(self, canonical, variant, shared):
        """Empties the bucket of header `canonical`, then sends `variant`:
        refused when both name the same client, served otherwise."""
        for _ in range(3):
            self.drain(xff(canonical))
            r = self.cheap(xff(variant))
            if not shared or r.status == 429:
                break
        self.assertEqual(r.status, 429 if shared else 401,
                         "X-Forwarded-For %r after emptying %r: %r" % (variant, canonical, r))

    def test_distinct_forwarded_clients_are_separate(self):
        a, b = fresh_client(), fresh_client()
        self.drain(xff(a))
        statuses, _, _ = self.burst(xff(b), BUDGET)
        self.assertEqual(statuses, [401] * BUDGET)
        self.assert_same_bucket(a, a, True)
        self.assert_same_bucket(a, fresh_client(), False)
        # IPv6 clients too, and an IPv6 client is not its IPv4 look-alike.
        self.assert_same_bucket("2001:db8::1:7", "2001:db8::1:7", True)
        self.assert_same_bucket("2001:db8::1:7", "2001:DB8:0::1:7", True)
        self.assert_same_bucket("2001:db8::1:7", "2001:db8::1:8", False)
        self.assert_same_bucket("198.18.200.1", "::ffff:198.18.200.1", True)
        self.assert_same_bucket("198.18.200.1", "::198.18.200.1", False)
        # The proxy itself (no header) is yet another client.
        self.drain(xff("198.18.200.2"))
        self.assertNotEqual(self.cheap().status, 429)

    def test_rightmost_untrusted_entry_is_the_client(self):
        # The client is 198.51.100.7; 203.0.113.9 is whatever it claimed.
        canonical = "203.0.113.9, 198.51.100.7"
        self.assert_same_bucket(canonical, "198.51.100.7", True)
        self.assert_same_bucket(canonical, "203.0.113.99, 198.51.100.7", True)
        self.assert_same_bucket(canonical, "not-an-address, 198.51.100.7", True)
        self.assert_same_bucket(canonical, "198.51.100.7, 127.0.0.1", True)
        self.assert_same_bucket(canonical, "198.51.100.7, 192.0.2.9, 127.0.0.1", True)
        self.assert_same_bucket(canonical, " 198.51.100.7 ", True)
        self.assert_same_bucket(canonical, "203.0.113.9", False)
        self.assert_same_bucket(canonical, "198.51.100.7, 203.0.113.10", False)
        self.assert_same_bucket(canonical, "198.51.100.7, 203.0.113.11, 127.0.0.1", False)

    def test_access_log_shows_resolved_client(self):
        cases = [
            ("203.0.113.9, 198.51.100.70", "198.51.100.70"),
            ("198.51.100.71", "198.51.100.71"),
            ("2001:db8::71", "2001:db8::71"),
            ("  198.51.100.72  ,  198.51.100.73  ", "198.51.100.73"),
            ("198.51.100.74, 192.0.2.5, 127.0.0.1", "198.51.100.74"),  # trusted hops skipped
            ("192.0.2.1, 192.0.2.2", "192.0.2.1"),  # all trusted: the left-most
            ("198.51.100.75, bogus", "127.0.0.1"),  # unparsable: stop at the peer
            ("bogus, 192.0.2.6", "192.0.2.6"),      # ... or at the last trusted hop
            ("198.51.100.76:4711", "127.0.0.1"),
            ("198.51.100.77,, 198.51.100.78", "198.51.100.78"),
            ("", "127.0.0.1"),
            (None, "127.0.0.1"),
        ]
        for i, (header, client) in enumerate(cases):
            with self.subTest(header=header):
                rid = "rl-log-%d-%d" % (os.getpid(), i)
                h = {"X-Request-Id": rid}
                if header is not None:
                    h["X-Forwarded-For"] = header
                # An unlimited route: the client is resolved for every request,
                # and this test leaves every bucket (127.0.0.1's too) alone.
                self.assertEqual(self.daemon.get("/health", headers=h).status, 200)
                self.assertEqual(self.access_client(rid), client)


class IgnoredForwardedFor(LimiterChecks):
    """The X-Forwarded-For header of an untrusted peer means nothing: every
    request shares the peer's (127.0.0.1) bucket."""

    def test_forwarded_for_ignored(self):
        t0 = time.monotonic()
        statuses = []
        for i in range(BUDGET + 10):
            h = {"X-Forwarded-For": "198.51.100.%d" % (i + 1)} if i % 3 else None
            statuses.append(self.cheap(h).status)
        elapsed = time.monotonic() - t0
        self.assert_budget(statuses, elapsed)
        rid = "rl-ignored-%d" % os.getpid()
        self.daemon.post("/logout", headers={"X-Forwarded-For": "198.51.100.99",
                                             "X-Request-Id": rid})
        self.assertEqual(self.access_client(rid), "127.0.0.1")


class NoTrustedProxies(IgnoredForwardedFor, DaemonTest, unittest.TestCase):
    SETTINGS = {"rate_limit_login": BUDGET, "rate_limit_window": "4s"}


class PeerNotTrusted(IgnoredForwardedFor, DaemonTest, unittest.TestCase):
    SETTINGS = {"rate_limit_login": BUDGET, "rate_limit_window": "4s",
                "trusted_proxies": "10.0.0.0/8"}


class Disabled(DaemonTest, unittest.TestCase):
    SETTINGS = {"rate_limit_login": "0", "rate_limit_window": "4s"}

    def test_zero_turns_the_limiter_off(self):
        seen = set()
        for i in range(100):
            method, target, _ = LIMITED[i % len(LIMITED)]
            r = self.daemon.request(method, target)
            seen.add(r.status)
            self.assertNotEqual(r.status, 429, (target, r))
            self.assertIsNone(r.header("Retry-After"))
        for _ in range(5):
            self.assertEqual(self.daemon.get("/login-as-guest").status, 200)
        self.assertNotIn(429, seen)


def vm_rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS for pid %d" % pid)


class MemoryBound(DaemonTest, unittest.TestCase):
    """rate_limit_max_addresses bounds the limiter: a flood of distinct
    client addresses neither grows the daemon nor keeps old buckets."""
    MAX = 1000
    SETTINGS = {"trusted_proxies": "127.0.0.1", "rate_limit_max_addresses": str(MAX),
                "rate_limit_login": "1", "rate_limit_window": "5m", "access_log": "off",
                "log_level": "info"}
    SLOW = gh.VALGRIND or gh.SANITIZER
    TOTAL = 5000 if SLOW else 100000
    THREADS = 4
    RSS_GROWTH_LIMIT_KIB = 3 * 1024

    def flood(self, first, last, problems):
        """POST /logout (400 once past the limiter) from clients first..last-1,
        over THREADS keep-alive connections."""
        def worker(k):
            conn = http.client.HTTPConnection("127.0.0.1", self.daemon.port, timeout=60)
            addr = None
            try:
                for i in range(first + k, last, self.THREADS):
                    addr = "10.%d.%d.%d" % (i >> 16 & 255, i >> 8 & 255, i & 255)
                    conn.request("POST", "/logout", body=b"",
                                 headers={"X-Forwarded-For": addr})
                    r = conn.getresponse()
                    r.read()
                    if r.status != 400:
                        problems.append((addr, r.status))
            except Exception as e:  # reported by the test thread
                problems.append((addr, repr(e)))
            finally:
                conn.close()
        ts = [threading.Thread(target=worker, args=(k,)) for k in range(self.THREADS)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()

    def test_many_addresses_memory_bounded(self):
        d = self.daemon
        early = {"X-Forwarded-For": "198.51.100.200"}
        self.assertEqual(d.post("/logout", headers=early).status, 400)
        r = d.post("/logout", headers=early)
        self.assertEqual(r.status, 429)
        self.assertEqual(r.json(), JSON_BODY)
        # Capacity 1 per 300 s, just spent: the whole window to wait.
        self.assertIn(retry_after(r), (299, 300))

        problems = []
        step = max(self.TOTAL // 10, 1000)
        self.flood(0, step, problems)
        self.assertEqual(problems[:5], [])
        rss = [vm_rss_kib(d.proc.pid)]
        for first in range(step, self.TOTAL, step):
            self.flood(first, min(first + step, self.TOTAL), problems)
            self.assertEqual(problems[:5], [])  # every new client starts with a token
            rss.append(vm_rss_kib(d.proc.pid))
        self.assertEqual(d.proc.poll(), None)

        # Clients seen last are still remembered (their one token spent)...
        # (ten fresh ones, one after the other: which of the flood's threads
        # ended last, and how far the others had got, is the scheduler's say)
        recent = ["192.0.2.%d" % k for k in range(1, 11)]
        for addr in recent:
            self.assertEqual(d.post("/logout", headers={"X-Forwarded-For": addr}).status, 400)
        for addr in recent:
            r = d.post("/logout", headers={"X-Forwarded-For": addr})
            self.assertEqual(r.status, 429, (addr, r))
        # ...while the one seen first, more than MAX clients ago, was dropped:
        # it comes back with a full bucket.
        self.assertGreater(self.TOTAL, 2 * self.MAX)
        self.assertEqual(d.post("/logout", headers=early).status, 400)
        self.assertEqual(d.post("/logout", headers=early).status, 429)

        if self.SLOW:
            return  # valgrind and ASan keep memory of their own
        growth = max(rss) - rss[0]
        self.assertLess(growth, self.RSS_GROWTH_LIMIT_KIB,
                        "VmRSS grew by %d KiB between %d and %d clients (samples %s)"
                        % (growth, step, self.TOTAL, rss))


if __name__ == "__main__":
    unittest.main()
