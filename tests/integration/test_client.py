"""The C client library (include/gatehouse/client.h, issue 17) against the real
daemon. Builds nothing: it runs the programs `make client-tests` builds next
to the daemon under test (<build>/tests/client/gh-client-driver, a scriptable
client, and <build>/examples/client/game-loop), the ASan builds of both when
the daemon is the ASan one, and both under valgrind in the valgrind suite.

Covered: a session past a whole access-token lifetime (game-loop, 60 s TTL,
the shortest the daemon allows) and through several refreshes; a daemon
restart, a key rotation, a ban, a session ended by another device and a deleted
account mid-session; guest credentials kept across runs (mode 0600, no token in the file);
platform login and link against the fake provider; storage conflicts between
two devices; retries of 503 and hostile replies from a fake server; and a
server that accepts and never answers (tick keeps returning: the longest tick
is printed, not asserted, on this shared machine)."""
import http.server
import json
import os
import re
import select
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import threading
import time
import unittest

import gh
from gh import Daemon, DaemonTest

STEAM_KEY = "steam-test-key"
SLOW = 4 if gh.VALGRIND else 1  # timeouts stretch under valgrind


def program(name):
    """<build>/tests/client/NAME or <build>/examples/client/NAME next to the daemon."""
    build = os.path.dirname(os.path.abspath(gh.BIN))
    sub = "examples" if name == "game-loop" else "tests"
    path = os.path.join(build, sub, "client", name)
    if not os.path.exists(path):
        raise AssertionError("%s is missing: make client-tests (or client-asan-build)" % path)
    return path


def wrap(cmd, logdir, tag):
    """Under valgrind, the client program runs under memcheck too."""
    if not gh.VALGRIND:
        return cmd, None
    log = os.path.join(logdir, "valgrind-client-%s-%d.log" % (tag, time.monotonic_ns()))
    return ["valgrind", "--error-exitcode=%d" % gh.VALGRIND_STATUS, "--leak-check=full",
            "--show-leak-kinds=definite,indirect", "--errors-for-leak-kinds=definite,indirect",
            "--log-file=" + log] + cmd, log


def check_clean(rc, stderr, vg_log):
    problems = []
    if gh.VALGRIND and rc == gh.VALGRIND_STATUS:
        problems.append("valgrind errors:\n" + open(vg_log).read()[-6000:])
    if "Sanitizer" in stderr or "runtime error:" in stderr:
        problems.append("sanitizer report:\n" + stderr[-6000:])
    if problems:
        raise AssertionError("; ".join(problems))


class Driver:
    """One gh-client-driver process: a command a line in, a JSON line out."""

    def __init__(self, url, creds, tmpdir, *extra):
        cmd = [program("gh-client-driver"), "--url", url, "--credentials", creds] + list(extra)
        cmd, self.vg_log = wrap(cmd, tmpdir, "driver")
        self.err_path = os.path.join(tmpdir, "driver-%d.err" % time.monotonic_ns())
        self.err = open(self.err_path, "wb")
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self.err)
        self.buf = b""
        assert self.read(60)["cmd"] == "ready"

    def send(self, line):
        self.proc.stdin.write(line.encode() + b"\n")
        self.proc.stdin.flush()

    def read(self, timeout=60):
        deadline = time.time() + timeout * SLOW
        while b"\n" not in self.buf:
            left = deadline - time.time()
            if left <= 0 or not select.select([self.proc.stdout], [], [], left)[0]:
                raise AssertionError("the driver did not answer in time")
            chunk = os.read(self.proc.stdout.fileno(), 65536)
            if not chunk:
                raise AssertionError("the driver exited: %s" % self.stderr())
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def do(self, line, timeout=60):
        self.send(line)
        return self.read(timeout)

    def stderr(self):
        if not self.err.closed:
            self.err.flush()
        with open(self.err_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def close(self):
        if not self.proc:
            return
        try:
            self.send("quit")
        except BrokenPipeError:
            pass
        self.proc.stdin.close()
        rc = self.proc.wait(timeout=60 * SLOW)
        self.proc.stdout.close()
        self.err.close()
        self.proc = None
        err = self.stderr()
        check_clean(rc, err, self.vg_log)
        assert rc == 0, "driver exit status %d: %s" % (rc, err)


class ClientTest(DaemonTest):
    """A daemon per class; drivers and a temp dir per test."""
    SETTINGS = {"rate_limit_login": 0}

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="gatehouse-client-")
        self.drivers = []

    def tearDown(self):
        try:
            for d in self.drivers:
                d.close()
        finally:
            shutil.rmtree(self.tmp, ignore_errors=True)

    def driver(self, creds="cred.json", *extra, url=None):
        d = Driver(url or self.daemon.base_url, os.path.join(self.tmp, creds), self.tmp, *extra)
        self.drivers.append(d)
        return d

    def login(self, d):
        r = d.do("login-guest")
        self.assertEqual(r["status"], 0, r)
        self.assertEqual(r["http"], 200)
        return d.do("state")["user_id"]


class Session(ClientTest, unittest.TestCase):
    SETTINGS = {"rate_limit_login": 0}

    def test_credentials_saved_owner_only_and_reused(self):
        os.umask(0o000)
        try:
            d = self.driver()
            uid = self.login(d)
        finally:
            os.umask(0o022)
        path = os.path.join(self.tmp, "cred.json")
        self.assertEqual(stat.S_IMODE(os.stat(path).st_mode), 0o600)
        saved = json.load(open(path))
        self.assertEqual(saved["user_id"], uid)
        self.assertEqual(len(saved["guest_secret"]), 73)
        self.assertEqual(set(saved), {"version", "user_id", "guest_secret"})  # no token
        self.assertEqual([f for f in os.listdir(self.tmp) if f.startswith("cred")],
                         ["cred.json"])  # no temporary file left
        d.close()
        # the next start logs the same guest in
        d2 = self.driver()
        self.assertEqual(self.login(d2), uid)
        self.assertEqual(d2.do("events")["events"], ["logged_in:0"])

    def test_whole_session(self):
        d = self.driver()
        uid = self.login(d)
        r = d.do("set-name Ada")
        self.assertEqual((r["status"], r["http"]), (0, 200))
        r = d.do("get-player")
        self.assertEqual(json.loads(r["body"]), {"UserID": uid, "PlayerName": "Ada"})
        r = d.do("get-user")
        self.assertEqual(json.loads(r["body"])["user_id"], uid)
        r = d.do('put slot1 none {"hp":3}')
        self.assertEqual((r["status"], r["http"]), (0, 201))
        v = r["version"]
        self.assertGreater(v, 0)
        r = d.do("get slot1")
        self.assertEqual((json.loads(r["body"]), r["version"]), ({"hp": 3}, v))
        r = d.do("list 10")
        self.assertEqual([i["key"] for i in json.loads(r["body"])["items"]],
                         ["player_name", "slot1"])
        r = d.do("export")
        self.assertEqual(r["status"], 0)
        self.assertEqual(json.loads(r["body"])["user"]["user_id"], uid)
        r = d.do("request GET /get-user")
        self.assertEqual((r["status"], json.loads(r["body"])["user_id"]), (0, uid))
        r = d.do("request GET /no-such-route")
        self.assertEqual((r["status"], r["http"]), (-10, 404))
        r = d.do("logout")
        self.assertEqual((r["status"], json.loads(r["body"])["sessions_ended"]), (0, 1))
        self.assertEqual(d.do("get slot1")["status"], -17)  # GH_ERR_NO_SESSION
        self.login(d)
        r = d.do("logout-all")
        self.assertEqual(r["status"], 0)
        self.assertFalse(d.do("state")["logged_in"])
        self.assertEqual(d.do("events")["events"],
                         ["logged_in:0", "logged_out:0", "logged_in:0", "logged_out:0"])

    def test_delete_user_forgets_credentials(self):
        d = self.driver()
        uid = self.login(d)
        r = d.do("delete-user")
        self.assertEqual((r["status"], json.loads(r["body"])), (0, {"user_id": uid, "deleted": True}))
        self.assertFalse(os.path.exists(os.path.join(self.tmp, "cred.json")))
        self.assertNotEqual(self.login(d), uid)  # a new guest

    def test_own_thread(self):
        d = self.driver("cred.json", "--own-thread")
        self.login(d)
        r = d.do('put k none [1,2]')
        self.assertEqual(r["status"], 0, r)
        self.assertEqual(d.do("get k")["body"], "[1,2]")
        r = d.do("play 1500 k")
        self.assertEqual((r["failed"], r["ok"] > 0), (0, True), r)

    def test_storage_conflicts_between_devices(self):
        a = self.driver()
        self.login(a)
        b = self.driver()  # the same saved guest: a second device
        self.login(b)
        r = a.do('put save none {"v":1}')
        self.assertEqual(r["status"], 0)
        v1 = r["version"]
        r = b.do('put save none {"v":"b"}')
        self.assertEqual((r["status"], r["http"], r["version"]), (-11, 412, v1))
        # both hold v1; a writes first, b's write is refused with the current version
        r = a.do('put save %d {"v":2}' % v1)
        self.assertEqual(r["status"], 0)
        v2 = r["version"]
        self.assertGreater(v2, v1)
        r = b.do('put save %d {"v":"b"}' % v1)
        self.assertEqual((r["status"], r["version"]), (-11, v2))
        self.assertEqual(json.loads(b.do("get save")["body"]), {"v": 2})
        self.assertEqual(b.do('delete save %d' % v1)["status"], -11)
        self.assertEqual(b.do('delete save %d' % v2)["status"], 0)
        r = a.do("get save")
        self.assertEqual((r["status"], r["http"]), (-10, 404))
        r = a.do('put gone 7 {"x":1}')  # If-Match on an absent key
        self.assertEqual((r["status"], r["http"]), (-11, 412))
        batch = '{"writes":[{"key":"b1","value":1,"if_none_match":"*"},{"key":"b2","value":2}]}'
        r = a.do("batch " + batch)
        self.assertEqual(r["status"], 0, r)
        r = b.do("batch " + batch)
        self.assertEqual((r["status"], r["http"]), (-11, 412))
        self.assertEqual(json.loads(r["body"])["index"], 0)
        r = a.do('put big none "%s"' % ("x" * 70000))
        self.assertEqual((r["status"], r["http"]), (-12, 413))


class Refresh(ClientTest, unittest.TestCase):
    """Access tokens of 60 s (the shortest the daemon takes)."""
    SETTINGS = {"rate_limit_login": 0, "access_token_ttl": 60}

    def test_several_refreshes_in_a_game_loop(self):
        # refresh at a tenth of the lifetime (+-1.2 s jitter): three new tokens in 20 s
        d = self.driver("cred.json", "--refresh-at", "0.1", "--refresh-jitter", "0.02")
        self.login(d)
        r = d.do("play 20000 k", timeout=120)
        self.assertEqual(r["failed"], 0, r)
        self.assertGreaterEqual(r["refreshes"], 2, r)
        print("\n  20 s game loop: %d ticks, %d over 1 ms, longest %d us, %d refreshes"
              % (r["ticks"], r["slow_ticks"], r["max_tick_us"], r["refreshes"]))
        self.assertIn("refreshed:0", d.do("events")["events"])

    def test_session_ended_elsewhere_logs_in_again(self):
        # refresh about 1.2 s after login (a fiftieth of 60 s, no jitter)
        d = self.driver("cred.json", "--refresh-at", "0.02", "--refresh-jitter", "-1")
        uid = self.login(d)
        other = self.driver()  # a second device of the same guest ends every session
        self.login(other)
        self.assertEqual(other.do("logout-all")["status"], 0)
        # d's refresh is refused; the saved secret logs in again, the loop goes on
        r = d.do("play 4000 k", timeout=120)
        self.assertEqual(r["failed"], 0, r)
        ev = d.do("events")["events"]
        self.assertEqual(ev[:2], ["logged_in:0", "relogged_in:0"])
        self.assertEqual(set(ev[2:]) - {"refreshed:0"}, set())  # then refreshes as usual
        self.assertEqual(json.loads(d.do("get-user")["body"])["user_id"], uid)



class GameLoop(ClientTest, unittest.TestCase):
    """The example past a whole access-token lifetime (its own class: ~70 s)."""
    SETTINGS = {"rate_limit_login": 0, "access_token_ttl": 60}

    def test_game_loop_past_the_token_lifetime(self):
        creds = os.path.join(self.tmp, "game.json")
        cmd, vg = wrap([program("game-loop"), "--url", self.daemon.base_url,
                        "--credentials", creds, "--seconds", "66"], self.tmp, "game")
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=200 * SLOW)
        check_clean(r.returncode, r.stderr, vg)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("session: access token refreshed", r.stdout)
        self.assertIn("session ok", r.stdout)
        m = re.search(r"saves (\d+), loads (\d+), errors 0, refreshes (\d+)", r.stdout)
        self.assertTrue(m and int(m.group(1)) >= 30 and int(m.group(3)) >= 1, r.stdout)
        print("\n  " + r.stdout.strip().splitlines()[-2])


class MidSession(ClientTest, unittest.TestCase):
    """Things that happen to a running session."""
    SETTINGS = {"rate_limit_login": 0}

    def play_during(self, d, action, ms=5000, at=1.5):
        """A game loop of ms (longer under valgrind), action at `at` seconds."""
        d.send("play %d k" % (ms * SLOW))
        time.sleep(at * SLOW)
        action()
        return d.read(120)

    def test_daemon_restart(self):
        d = self.driver("cred.json", "--retries", "8", "--timeout-ms", "5000")
        self.login(d)
        r = self.play_during(d, self.daemon.restart, ms=6000)
        self.assertEqual(r["failed"], 0, r)
        self.assertGreater(r["ok"], 10, r)
        self.assertEqual(d.do("get k")["status"], 0)

    def test_key_rotation(self):
        d = self.driver()
        self.login(d)

        def rotate():
            r = self.daemon.cli("keys", "rotate")
            self.assertEqual(r.returncode, 0, r.stderr)
        r = self.play_during(d, rotate, ms=4000)
        self.assertEqual(r["failed"], 0, r)
        # a session started after the rotation works as well
        self.assertEqual(self.login(self.driver("other.json")) != "", True)

    def test_ban(self):
        d = self.driver()
        uid = self.login(d)
        r = d.do("play 1000 k", timeout=120)
        self.assertEqual((r["failed"], r["ok"] > 0), (0, True), r)
        # banned while the session (and its tokens) are live: the game loop learns it
        # at its next request, as its own outcome, and the session is over
        r = self.daemon.cli("user", "ban", uid)
        self.assertEqual(r.returncode, 0, r.stderr)
        r = d.do("play 1500 k", timeout=120)
        self.assertEqual(r["ok"], 0, r)
        self.assertTrue(r["statuses"] and set(r["statuses"]) == {-7}, r)  # GH_ERR_BANNED
        self.assertEqual(d.do("events")["events"], ["logged_in:0", "banned:-7"])
        self.assertFalse(d.do("state")["logged_in"])
        self.assertEqual(d.do("get-user")["status"], -7)
        r = d.do("login-guest")
        self.assertEqual((r["status"], r["http"]), (-7, 403))

    def test_deleted_account(self):
        d = self.driver()
        uid = self.login(d)
        r = self.daemon.cli("user", "delete", uid)
        self.assertEqual(r.returncode, 0, r.stderr)
        r = d.do("get-user")
        self.assertEqual(r["status"], -8, r)  # GH_ERR_DELETED
        self.assertEqual(d.do("events")["events"], ["logged_in:0", "deleted:-8"])
        # the next start reports it too, distinctly from a network error
        d2 = self.driver()
        r = d2.do("login-guest")
        self.assertEqual((r["status"], r["http"]), (-8, 401))
        self.assertEqual(d2.do("forget")["status"], 0)
        self.assertNotEqual(self.login(d2), uid)


def fake_binary():
    """<build>/tests/fakeprovider (also for the ASan daemon in <build>/asan)."""
    build = os.path.dirname(os.path.abspath(gh.BIN))
    if os.path.basename(build) == "asan":
        build = os.path.dirname(build)
    return os.path.join(build, "tests", "fakeprovider")


class FakeProvider:
    """tests/fakeprovider on a free port (see its README)."""

    def __init__(self, directory):
        self.log = open(os.path.join(directory, "fakeprovider.log"), "ab")
        self.proc = subprocess.Popen([fake_binary(), "--port", "0", "--dir", directory],
                                     stdout=subprocess.PIPE, stderr=self.log)
        ready = select.select([self.proc.stdout], [], [], 20)[0]
        line = self.proc.stdout.readline() if ready else b""
        m = re.match(rb"^port (\d+)\n", line)
        if not m:
            self.proc.kill()
            raise AssertionError("fakeprovider did not start: %r" % line)
        self.port = int(m.group(1))

    def url(self, path=""):
        return "http://127.0.0.1:%d%s" % (self.port, path)

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        rc = self.proc.wait(timeout=10)
        self.proc.stdout.close()
        self.log.close()
        assert rc == 0, "fakeprovider exit status %d" % rc


class Platforms(ClientTest, unittest.TestCase):
    """Platform login and link against tests/fakeprovider."""

    @classmethod
    def setUpClass(cls):
        cls.fake_dir = tempfile.mkdtemp(prefix="gatehouse-client-fake-")
        cls.fake = FakeProvider(cls.fake_dir)
        key = os.path.join(cls.fake_dir, "steam.secret")
        with open(key, "w") as f:
            f.write(STEAM_KEY + "\n")
        gp_secret = os.path.join(cls.fake_dir, "google.secret")
        with open(gp_secret, "w") as f:
            f.write("gp-client-secret\n")
        cls.SETTINGS = {
            "rate_limit_login": 0, "steam_app_id": 480, "steam_web_api_key_file": key,
            "steam_api_url": cls.fake.url(), "facebook_app_id": "fb-app-123",
            "facebook_graph_url": cls.fake.url(), "provider_timeout": 3,
            "google_play_client_id": "gp-client-id.apps.googleusercontent.com",
            "google_play_client_secret_file": gp_secret, "google_play_app_id": "1234567890",
            "google_oauth_url": cls.fake.url(), "google_games_url": cls.fake.url(),
        }
        super().setUpClass()

    @classmethod
    def tearDownClass(cls):
        try:
            super().tearDownClass()
        finally:
            cls.fake.stop()
            shutil.rmtree(cls.fake_dir, ignore_errors=True)

    def test_login_link_unlink(self):
        sid = "7656119%010d" % (time.time_ns() % 10**10)
        d = self.driver("steam.json")
        r = d.do("login steam ok-%s" % sid)
        self.assertEqual((r["status"], r["http"]), (0, 200), r)
        self.assertEqual(json.loads(r["body"])["steam_id"], sid)
        steam_uid = d.do("state")["user_id"]
        self.assertFalse(os.path.exists(os.path.join(self.tmp, "steam.json")))  # not a guest
        self.assertEqual(d.do("get-user")["status"], 0)
        # a guest links Facebook: same user, now with facebook_id
        g = self.driver()
        uid = self.login(g)
        r = g.do("link facebook ok-fb%s fb%s" % (sid, sid))
        self.assertEqual((r["status"], json.loads(r["body"])["user_id"]), (0, uid), r)
        self.assertEqual(json.loads(g.do("get-user")["body"])["facebook_id"], "fb" + sid)
        self.assertNotEqual(uid, steam_uid)
        r = g.do("unlink facebook")
        self.assertEqual(r["status"], 0, r)
        r = g.do("unlink facebook")
        self.assertEqual((r["status"], r["http"]), (-10, 404))
        # a refused ticket is a value, the session stays as it was
        r = g.do("login steam invalid")
        self.assertEqual((r["status"], r["http"]), (-5, 401))
        self.assertIn("Failed to validate Steam token", r["message"])
        self.assertTrue(g.do("state")["logged_in"])
        # Google Play: a new user, then the same one again
        gp = self.driver("gp.json")
        r = gp.do("login google ok-gp%s" % sid)
        self.assertEqual((r["status"], json.loads(r["body"])["google_play_id"]), (0, "gp" + sid))
        gp_uid = gp.do("state")["user_id"]
        self.assertEqual(gp.do("logout")["status"], 0)
        r = gp.do("login google ok-gp%s" % sid)
        self.assertEqual((r["status"], json.loads(r["body"])["user_id"]), (0, gp_uid))
        r = g.do("login apple x.y.z")
        self.assertEqual((r["status"], r["http"]), (-10, 404))  # not configured here


class FakeServer:
    """A scripted HTTP server: each request pops the next (status, headers, body)."""

    def __init__(self, script):
        self.script = list(script)
        self.seen = []
        outer = self

        class H(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def handle_one(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n else b""
                outer.seen.append((self.command, self.path, dict(self.headers), body))
                status, headers, out = outer.script.pop(0) if outer.script else (500, {}, b"")
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            do_GET = do_POST = do_PUT = do_DELETE = handle_one

            def log_message(self, *a):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.server.daemon_threads = True
        self.server.handle_error = lambda request, address: None  # resets are expected
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = "http://127.0.0.1:%d" % self.server.server_address[1]

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


TOKENS = json.dumps({"user_id": "0b3f1c7e-8a34-4f6e-9f1d-2b5c8e7a9d10",
                     "guest_secret": "a" * 36 + "-" + "b" * 36, "auth_token": "a.b.c",
                     "refresh_token": "r.s.t", "auth_token_expires_in": 900,
                     "refresh_token_expires_in": 3600}).encode()
JSON = {"Content-Type": "application/json"}


class Hostile(unittest.TestCase):
    """Servers that misbehave: no daemon needed."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="gatehouse-client-")
        self.drivers = []
        self.servers = []

    def tearDown(self):
        try:
            for d in self.drivers:
                d.close()
            for s in self.servers:
                s.stop()
        finally:
            shutil.rmtree(self.tmp, ignore_errors=True)

    def driver(self, url, *extra):
        d = Driver(url, os.path.join(self.tmp, "cred.json"), self.tmp, *extra)
        self.drivers.append(d)
        return d

    def serve(self, script):
        s = FakeServer(script)
        self.servers.append(s)
        return s

    def test_503_is_retried_with_retry_after(self):
        s = self.serve([(503, {"Retry-After": "1"}, b"Error: busy"), (503, {}, b""),
                        (200, JSON, TOKENS)])
        d = self.driver(s.url, "--retry-base-ms", "50")
        t0 = time.time()
        r = d.do("login-guest")
        self.assertEqual((r["status"], r["http"]), (0, 200), r)
        self.assertGreaterEqual(time.time() - t0, 1.0)  # Retry-After: 1 was honoured
        self.assertEqual(len(s.seen), 3)
        method, path, headers, body = s.seen[0]
        self.assertEqual((method, path, body), ("POST", "/login-as-guest", b""))
        # the saved secret goes in a POST body, never in the URL
        d.do("logout")
        d2 = self.driver(s.url)
        s.script = [(401, {"Content-Type": "text/plain; charset=utf-8"},
                     b"Error: Could not validate user")]
        r = d2.do("login-guest")
        self.assertEqual(r["status"], -8)
        self.assertNotIn("guest_secret", s.seen[-1][1])
        self.assertIn(b"guest_secret=aaaa", s.seen[-1][3])

    def test_503_until_the_retries_run_out(self):
        s = self.serve([(503, {}, b"Error: Platform unavailable")] * 3)
        d = self.driver(s.url, "--retries", "2", "--retry-base-ms", "20")
        r = d.do("login-guest")
        self.assertEqual((r["status"], r["http"]), (-3, 503), r)
        self.assertEqual(r["message"], "HTTP 503: Error: Platform unavailable")

    def test_hostile_bodies(self):
        cases = [
            (200, JSON, TOKENS[:40], -13),                         # truncated
            (200, JSON, b"[]", -13),                               # wrong shape
            (200, JSON, TOKENS.replace(b"900", b'"900"'), -13),    # wrong type
            (200, {"Content-Type": "text/html"}, b"<html>oops", -13),
            (200, JSON, b'{"padding":"' + b"x" * (5 << 20) + b'"}', -12),  # over 4 MiB
            (418, {}, b"\x00\x01\xff" * 10, -14),
        ]
        s = self.serve([c[:3] for c in cases])
        d = self.driver(s.url, "--retries", "-1")
        for status, headers, body, want in cases:
            r = d.do("login-guest")
            self.assertEqual(r["status"], want, (body[:60], r))
            self.assertFalse(d.do("state")["logged_in"])
        self.assertFalse(os.path.exists(os.path.join(self.tmp, "cred.json")))

    def test_hanging_server(self):
        # accepts, reads, never answers: every tick still returns at once
        ls = socket.socket()
        ls.bind(("127.0.0.1", 0))
        ls.listen(16)
        held = []
        stop = threading.Event()

        def accept():
            ls.settimeout(0.2)
            while not stop.is_set():
                try:
                    held.append(ls.accept()[0])
                except OSError:
                    pass
        t = threading.Thread(target=accept, daemon=True)
        t.start()
        try:
            url = "http://127.0.0.1:%d" % ls.getsockname()[1]
            for extra in ([], ["--own-thread"]):
                d = self.driver(url, "--timeout-ms", "1500", "--retries", "1",
                                "--retry-base-ms", "100", *extra)
                r = d.do("login-guest", timeout=60)
                self.assertEqual((r["status"], r["http"]), (-2, 0), r)
                self.assertGreater(r["ticks"], 10, r)
                print("\n  hanging server%s: %d ticks in ~3 s, %d over 1 ms, longest %d us"
                      % (" (own thread)" if extra else "", r["ticks"], r["slow_ticks"],
                         r["max_tick_us"]))
        finally:
            stop.set()
            t.join()
            for c in held:
                c.close()
            ls.close()


class Example(unittest.TestCase):
    def test_usage(self):
        r = subprocess.run([program("game-loop"), "--help"], capture_output=True, text=True)
        self.assertEqual(r.returncode, 0)
        self.assertIn("usage: game-loop --url URL --credentials PATH [--seconds N]", r.stdout)
        r = subprocess.run([program("game-loop"), "--url"], capture_output=True, text=True)
        self.assertEqual(r.returncode, 2)
        self.assertIn("usage:", r.stderr)
