"""The admin API and console on the admin listener (issue 16): admin tokens
(missing, bad, named, bare) and their 401s and metrics, no admin path on the
public listener and no public route on the admin one, the console's files
and headers, each /admin/ route with its bounds, the effect of each action
on the public routes (a ban refuses the login, ended sessions refuse the
refresh, ...), the audit lines (never a token), start-up refusals and the
token file reread on SIGHUP."""
import json
import os
import re
import signal
import time
import unittest
import uuid

from gh import Daemon, DaemonTest, START_TIMEOUT, free_port, db_write

ALICE = "alice-0123456789abcdef0123456789abcdef"
BARE = "bare-token-0123456789abcdef"
OTHER = "other:" + "x" * 40

CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
       "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")


def write_tokens(path, text):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)


class Admin:
    """Requests to a daemon's admin listener."""

    def __init__(self, daemon, port):
        self.d = daemon
        self.port = port

    def request(self, method, target, token=ALICE, headers=None, body=None, timeout=15):
        h = dict(headers or {})
        if token is not None:
            h["Authorization"] = "Bearer " + token
        saved = self.d.port
        self.d.port = self.port
        try:
            return self.d.request(method, target, headers=h, body=body, timeout=timeout)
        finally:
            self.d.port = saved

    def get(self, target, **kw):
        return self.request("GET", target, **kw)

    def post(self, target, **kw):
        return self.request("POST", target, **kw)


def admin_daemon(tokens, settings=None):
    port = free_port()
    d = Daemon(dict({"admin_listen_address": "127.0.0.1:%d" % port,
                     "admin_token_file": "admin-tokens"}, **(settings or {})))
    write_tokens(os.path.join(d.dir, "admin-tokens"), tokens)
    # A relative name is a systemd credential: $CREDENTIALS_DIRECTORY/admin-tokens.
    d.env["CREDENTIALS_DIRECTORY"] = d.dir
    return d, port


def wait_admin(admin):
    deadline = time.time() + START_TIMEOUT
    while time.time() < deadline:
        try:
            if admin.get("/health", token=None).status == 200:
                return
        except OSError:
            pass
        time.sleep(0.05)
    raise AssertionError("the admin listener did not open")


def metric(text, name, labels):
    m = re.search(r"^%s\{%s\} (\d+)$" % (re.escape(name), re.escape(labels)), text, re.M)
    return int(m.group(1)) if m else None


class AdminApi(DaemonTest, unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        # ES256: a rotation makes its key in milliseconds, even under valgrind.
        cls.daemon, port = admin_daemon("# operators\n  alice:%s  \n\n%s\n%s\n"
                                        % (ALICE, BARE, OTHER), {"signing_alg": "ES256"})
        cls.daemon.start()
        cls.admin = Admin(cls.daemon, port)
        wait_admin(cls.admin)

    def guest(self):
        return self.daemon.new_guest()

    def user(self, uid, **kw):
        r = self.admin.get("/admin/users/" + uid, **kw)
        self.assertEqual(r.status, 200, r)
        return r.json()

    def assertError(self, r, status, slug):
        self.assertEqual(r.status, status, r)
        self.assertEqual(r.header("Content-Type"), "application/json", r)
        self.assertEqual(r.json()["error"], slug, r)

    def assertHardened(self, r):
        self.assertEqual(r.header("Content-Security-Policy"), CSP, r)
        self.assertEqual(r.header("X-Frame-Options"), "DENY")
        self.assertEqual(r.header("X-Content-Type-Options"), "nosniff")
        self.assertEqual(r.header("Referrer-Policy"), "no-referrer")
        self.assertEqual(r.header("Cache-Control"), "no-store")
        self.assertIsNone(r.header("Access-Control-Allow-Origin"), "no CORS on the admin listener")

    # ---- who may ask, and where

    def test_authentication(self):
        metrics = lambda: self.admin.get("/metrics", token=None).text  # noqa: E731
        before = metric(metrics(), "gatehouse_admin_requests_total", 'outcome="unauthorized"')
        for name, headers in (("none", {}),
                              ("wrong", {"Authorization": "Bearer " + ALICE[:-1] + "X"}),
                              ("a prefix", {"Authorization": "Bearer " + ALICE[:-4]}),
                              ("raw, no Bearer", {"Authorization": ALICE}),
                              ("name:token", {"Authorization": "Bearer alice:" + ALICE}),
                              ("empty", {"Authorization": "Bearer "}),
                              ("huge", {"Authorization": "Bearer " + "a" * 9000})):
            r = self.admin.get("/admin/stats", token=None, headers=headers)
            self.assertError(r, 401, "unauthorized")
            self.assertEqual(r.json()["message"], "Missing or invalid admin token", name)
            self.assertIn("Bearer", r.header("WWW-Authenticate"), name)
            self.assertHardened(r)
        after = metric(metrics(), "gatehouse_admin_requests_total", 'outcome="unauthorized"')
        self.assertEqual(after - before, 7)
        for tok in (ALICE, BARE, OTHER.split(":", 1)[1]):
            r = self.admin.get("/admin/stats", token=tok)
            self.assertEqual(r.status, 200, r)
            self.assertHardened(r)
        self.assertGreater(metric(metrics(), "gatehouse_admin_requests_total",
                                  'outcome="ok"'), 0)

    def test_no_admin_path_on_the_public_listener(self):
        unknown = self.daemon.get("/no-such-route")
        self.assertEqual(unknown.status, 404)
        uid = self.guest()["user_id"]
        for method, target in (("GET", "/admin/stats"), ("GET", "/admin/users/" + uid),
                               ("POST", "/admin/users/%s/ban" % uid), ("GET", "/admin/keys"),
                               ("GET", "/admin/"), ("GET", "/admin"), ("GET", "/console"),
                               ("GET", "/console/app.js"), ("GET", "/console/index.html")):
            r = self.daemon.request(method, target,
                                    headers={"Authorization": "Bearer " + ALICE})
            self.assertEqual((r.status, r.body), (404, unknown.body), target)
        self.assertFalse(self.user(uid)["banned"])

    def test_no_public_route_on_the_admin_listener(self):
        for target in ("/login-as-guest", "/refresh-access-token", "/get-user",
                       "/openapi.json", "/.well-known/jwks.json", "/player-data",
                       "/forward-auth", "/nothing"):
            self.assertEqual(self.admin.get(target).status, 404, target)
        for target in ("/health", "/ready", "/metrics"):
            self.assertEqual(self.admin.get(target, token=None).status, 200, target)
        # With an admin listener, the metrics are there only.
        self.assertEqual(self.daemon.get("/metrics").status, 404)

    def test_console_files(self):
        for target, ctype in (("/console", "text/html; charset=utf-8"),
                              ("/console/index.html", "text/html; charset=utf-8"),
                              ("/console/app.js", "text/javascript; charset=utf-8"),
                              ("/console/app.css", "text/css; charset=utf-8")):
            r = self.admin.get(target, token=None)
            self.assertEqual(r.status, 200, target)
            self.assertEqual(r.header("Content-Type"), ctype, target)
            self.assertHardened(r)
            name = "index.html" if target == "/console" else target[len("/console/"):]
            with open(os.path.join(os.path.dirname(__file__), "..", "..", "console", name),
                      "rb") as f:
                self.assertEqual(r.body, f.read(), target)
        for target in ("/console/nope.js", "/console/../README.md", "/console/%2e%2e/x",
                       "/console//etc/passwd"):
            r = self.admin.get(target, token=None)
            self.assertEqual(r.status, 404, target)
            self.assertHardened(r)
        self.assertEqual(self.admin.post("/console", token=None).status, 405)

    # ---- reading

    def test_user_page_and_search(self):
        g = self.guest()
        uid, tok = g["user_id"], g["auth_token"]
        hostile = "<img src=x onerror=alert(1)>"
        r = self.daemon.get("/set-player-data?player_name=" + "%3Cimg%20src%3Dx%20onerror%3D"
                            "alert(1)%3E", headers={"Authorization": tok})
        self.assertEqual(r.status, 200, r)
        r = self.daemon.request("PUT", "/player-data/progress", body={"level": 3},
                                headers={"Authorization": "Bearer " + tok})
        self.assertIn(r.status, (200, 201), r)
        u = self.user(uid)
        self.assertEqual(u["user_id"], uid)
        self.assertEqual(u["player_name"], hostile)
        self.assertTrue(u["guest"] and u["has_guest_secret"])
        self.assertFalse(u["banned"])
        self.assertIsNone(u["banned_until"])
        self.assertEqual(u["identities"], [])
        self.assertEqual(u["live_sessions"], 1)
        self.assertEqual(len(u["sessions"]), 1)
        s = u["sessions"][0]
        self.assertTrue(s["live"])
        self.assertIsNone(s["ended_at"])
        self.assertGreaterEqual(s["last_used_at"], s["created_at"])
        self.assertEqual(u["documents"]["count"], 2)
        self.assertEqual(u["documents"]["bytes"], len(json.dumps(hostile)) +
                         len('{"level": 3}'))
        # A platform identity (as a login would link it) is searchable and unlinkable.
        subject = "7656%d" % int(time.time() * 1000)
        db_write(self.daemon, "INSERT INTO identities (provider, subject, user_id, created_at) "
                 "VALUES ('steam', ?, ?, 0)", (subject, uid))
        for q in ("user_id=" + uid, "identity=steam:" + subject):
            r = self.admin.get("/admin/users?" + q)
            self.assertEqual(r.status, 200, r)
            users = r.json()["users"]
            self.assertEqual([x["user_id"] for x in users], [uid], q)
            self.assertFalse(users[0]["guest"], "a linked user is no guest")
            self.assertIsNone(r.json()["next_cursor"])
        self.assertEqual(self.user(uid)["identities"],
                         [{"provider": "steam", "subject": subject}])
        for q in ("user_id=" + str(uuid.uuid4()), "identity=steam:nobody",
                  "identity=oidc:none:x"):
            r = self.admin.get("/admin/users?" + q)
            self.assertEqual((r.status, r.json()["users"]), (200, []), q)
        r = self.admin.post("/admin/users/%s/identities/steam/unlink" % uid)
        self.assertEqual(r.json(), {"user_id": uid, "unlinked": "steam"})
        self.assertError(self.admin.post("/admin/users/%s/identities/steam/unlink" % uid),
                         404, "not_linked")
        self.assertError(self.admin.post("/admin/users/%s/identities/myspace/unlink" % uid),
                         400, "invalid_platform")
        self.assertEqual(self.user(uid)["identities"], [])

    def test_paging_users_by_creation(self):
        start = int(time.time()) - 1
        ids = sorted(self.guest()["user_id"] for _ in range(3))
        seen, cursor, pages = [], None, 0
        while True:
            q = "/admin/users?limit=1&created_after=%d" % start
            if cursor:
                q += "&cursor=" + cursor
            r = self.admin.get(q)
            self.assertEqual(r.status, 200, r)
            page = r.json()
            self.assertLessEqual(len(page["users"]), 1)
            seen += [u["user_id"] for u in page["users"]]
            cursor = page["next_cursor"]
            pages += 1
            if not cursor:
                break
            self.assertLess(pages, 500)
        self.assertLessEqual(set(ids), set(seen))
        self.assertEqual(len(seen), len(set(seen)), "no user twice")
        # RFC 3339 bounds: nothing was created before 2001.
        r = self.admin.get("/admin/users?created_before=2001-01-01T00:00:00Z")
        self.assertEqual(r.json(), {"users": [], "next_cursor": None})
        r = self.admin.get("/admin/users?limit=100")
        self.assertEqual(r.status, 200)
        self.assertLessEqual(len(r.json()["users"]), 100)

    def test_documents(self):
        g = self.guest()
        uid, tok = g["user_id"], g["auth_token"]
        for key in ("a", "b", "c"):
            r = self.daemon.request("PUT", "/player-data/" + key, body={"k": key},
                                    headers={"Authorization": "Bearer " + tok})
            self.assertIn(r.status, (200, 201), r)
        r = self.admin.get("/admin/users/%s/documents?limit=2" % uid)
        page = r.json()
        self.assertEqual([d["key"] for d in page["documents"]], ["a", "b"])
        self.assertEqual(page["documents"][0]["value"], '{"k": "a"}')
        self.assertEqual(page["documents"][0]["size"], len('{"k": "a"}'))
        self.assertEqual(page["next_cursor"], "b")
        page = self.admin.get("/admin/users/%s/documents?limit=2&after=b" % uid).json()
        self.assertEqual(([d["key"] for d in page["documents"]], page["next_cursor"]),
                         (["c"], None))
        self.assertError(self.admin.get("/admin/users/%s/documents?after=%s" % (uid, "k" * 129)),
                         400, "invalid_cursor")
        self.assertError(self.admin.get("/admin/users/%s/documents" % uuid.uuid4()), 404,
                         "user_not_found")

    def test_export_is_the_users_own(self):
        g = self.guest()
        own = self.daemon.get("/export-user-data",
                              headers={"Authorization": "Bearer " + g["auth_token"]})
        self.assertEqual(own.status, 200)
        r = self.admin.get("/admin/users/%s/export" % g["user_id"])
        self.assertEqual(r.status, 200, r)
        self.assertIn("attachment", r.header("Content-Disposition"))
        self.assertEqual(r.json(), own.json())

    def test_keys_and_rotation(self):
        before = self.admin.get("/admin/keys").json()["keys"]
        text = json.dumps(before)
        for word in ("material", "PRIVATE", "pem", "secret", "\"d\"", "\"k\""):
            self.assertNotIn(word, text)
        cur = [k for k in before if k["use"] == "access" and k["state"] == "current"]
        self.assertEqual(len(cur), 1)
        r = self.admin.post("/admin/keys/rotate", timeout=START_TIMEOUT)
        self.assertEqual(r.status, 200, r)
        after = r.json()["keys"]
        new = [k for k in after if k["use"] == "access" and
               k["kid"] not in {b["kid"] for b in before}]
        self.assertEqual(len(new), 1, after)
        # A key made in the second its predecessor started signing takes over a second
        # later (keys activate in strict order): wait for it.
        deadline = time.time() + 10
        while new[0]["state"] != "current" and time.time() < deadline:
            time.sleep(0.1)
            after = self.admin.get("/admin/keys").json()["keys"]
            new = [k for k in after if k["kid"] == new[0]["kid"]]
        now = [k for k in after if k["use"] == "access" and k["state"] == "current"]
        self.assertEqual([k["kid"] for k in now], [new[0]["kid"]])
        old = [k for k in after if k["kid"] == cur[0]["kid"]]
        self.assertEqual(old[0]["state"], "previous")
        self.assertIsNotNone(old[0]["retire_at"])
        jwks = self.daemon.get("/.well-known/jwks.json").json()
        self.assertIn(now[0]["kid"], [k["kid"] for k in jwks["keys"]])
        # New logins are signed by the new key.
        tok = self.guest()["auth_token"]
        header = json.loads(__import__("base64").urlsafe_b64decode(
            tok.split(".")[0] + "=="))
        self.assertEqual(header["kid"], now[0]["kid"])

    def test_stats(self):
        self.guest()
        s = self.admin.get("/admin/stats").json()
        self.assertEqual(set(s), {"users", "guests", "active_sessions", "documents"})
        self.assertGreaterEqual(s["users"], s["guests"])
        self.assertGreaterEqual(s["users"], 1)
        self.assertGreaterEqual(s["active_sessions"], 1)

    # ---- acting

    def test_ban_refuses_the_login_and_unban_allows_it(self):
        g = self.guest()
        uid, secret = g["user_id"], g["guest_secret"]
        login = "/login-as-guest?user_id=%s&guest_secret=%s" % (uid, secret)
        r = self.admin.post("/admin/users/%s/ban" % uid, body={"until": "2999-01-01T00:00:00Z"})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["sessions_ended"], 1)
        self.assertFalse(r.json()["forever"])
        self.assertEqual(self.daemon.get(login).status, 403)
        self.assertEqual(self.daemon.get("/refresh-access-token?refresh_token=" +
                                         g["refresh_token"]).status, 403)
        u = self.user(uid)
        self.assertTrue(u["banned"])
        self.assertEqual(u["banned_until"], 32472144000)
        self.assertEqual(self.admin.post("/admin/users/%s/unban" % uid).json(),
                         {"user_id": uid, "banned": False})
        self.assertEqual(self.daemon.get(login).status, 200)
        # Unix seconds, and for good (no body).
        until = int(time.time()) + 3600
        r = self.admin.post("/admin/users/%s/ban" % uid, body={"until": until})
        self.assertEqual(r.json()["banned_until"], until)
        r = self.admin.post("/admin/users/%s/ban" % uid)
        self.assertTrue(r.json()["forever"])
        self.assertEqual(self.daemon.get(login).status, 403)
        for body, slug in (({"until": "2001-01-01T00:00:00Z"}, "invalid_request"),
                           ({"until": 5}, "invalid_request"),
                           ({"until": "tomorrow"}, "invalid_request"),
                           ({"until": "2030-02-31T00:00:00Z"}, "invalid_request"),
                           ({"until": True}, "invalid_request"),
                           ({"until": 10 ** 15}, "invalid_request"),
                           ({"until": 10 ** 20}, "invalid_json"),
                           ({"forever": True}, "invalid_request"),
                           ("[1]", "invalid_json"), ("{", "invalid_json")):
            r = self.admin.post("/admin/users/%s/ban" % uid, body=body,
                                headers={"Content-Type": "application/json"})
            self.assertError(r, 400, slug)
        r = self.admin.post("/admin/users/%s/ban" % uid, body="until=1",
                            headers={"Content-Type": "application/x-www-form-urlencoded"})
        self.assertError(r, 415, "unsupported_media_type")
        self.admin.post("/admin/users/%s/unban" % uid)

    def test_ending_sessions_refuses_the_refresh(self):
        g = self.guest()
        uid = g["user_id"]
        again = self.daemon.get("/login-as-guest?user_id=%s&guest_secret=%s"
                                % (uid, g["guest_secret"])).json()
        sessions = self.user(uid)["sessions"]
        self.assertEqual(len(sessions), 2)
        first = min(s["session_id"] for s in sessions)
        r = self.admin.post("/admin/users/%s/sessions/%d/end" % (uid, first))
        self.assertEqual(r.json(), {"user_id": uid, "session_id": first, "sessions_ended": 1})
        refresh = lambda t: self.daemon.get("/refresh-access-token?refresh_token=" + t)  # noqa
        self.assertEqual(refresh(g["refresh_token"]).status, 401)
        self.assertError(self.admin.post("/admin/users/%s/sessions/%d/end" % (uid, first)),
                         404, "session_not_found")
        self.assertEqual(self.admin.post("/admin/users/%s/sessions/end-all" % uid).json(),
                         {"user_id": uid, "sessions_ended": 1})
        self.assertEqual(refresh(again["refresh_token"]).status, 401)
        self.assertEqual(self.user(uid)["live_sessions"], 0)
        for sid in ("0", "-1", "abc", "9" * 30):
            self.assertError(self.admin.post("/admin/users/%s/sessions/%s/end" % (uid, sid)),
                             400, "invalid_request")

    def test_delete(self):
        g = self.guest()
        uid = g["user_id"]
        self.assertEqual(self.admin.post("/admin/users/%s/delete" % uid).json(),
                         {"user_id": uid, "deleted": True})
        self.assertError(self.admin.get("/admin/users/" + uid), 404, "user_not_found")
        self.assertError(self.admin.post("/admin/users/%s/delete" % uid), 404, "user_not_found")
        r = self.daemon.get("/get-user", headers={"Authorization": "Bearer " + g["auth_token"]})
        self.assertEqual(r.status, 401)

    def test_bounds(self):
        nobody = str(uuid.uuid4())
        for target in ("/admin/users/" + nobody, "/admin/users/%s/export" % nobody):
            self.assertError(self.admin.get(target), 404, "user_not_found")
        for action in ("ban", "unban", "delete", "sessions/end-all", "sessions/1/end",
                       "identities/steam/unlink"):
            self.assertError(self.admin.post("/admin/users/%s/%s" % (nobody, action)), 404,
                             "user_not_found")
        for bad in ("x", nobody.upper(), nobody + "0", "u" * 200, "%00"):
            self.assertError(self.admin.get("/admin/users/" + bad), 400, "invalid_request")
            self.assertError(self.admin.post("/admin/users/%s/ban" % bad), 400,
                             "invalid_request")
        for q in ("limit=0", "limit=101", "limit=abc", "limit=", "limit=99999999999",
                  "created_after=yesterday", "created_before=2030-13-01T00:00:00Z",
                  "user_id=nope", "identity=steam", "identity=steam:", "identity=oidc:x",
                  "identity=steam:" + "s" * 300, "user_id=%s&identity=steam:1" % nobody,
                  "sort=name"):
            self.assertError(self.admin.get("/admin/users?" + q), 400, "invalid_request")
        for c in ("x", "1.x", "abc.%s" % nobody, "%s" % nobody, "1" * 20 + "." + nobody):
            self.assertError(self.admin.get("/admin/users?cursor=" + c), 400, "invalid_cursor")
        self.assertError(self.admin.get("/admin/users/%s/documents?limit=1000" % nobody),
                         400, "invalid_request")
        for target in ("/admin/nothing", "/admin/users/%s/nothing" % nobody, "/nothing"):
            r = self.admin.get(target)
            self.assertError(r, 404, "not_found")
            self.assertHardened(r)
        self.assertError(self.admin.request("DELETE", "/admin/users/" + nobody), 405,
                         "method_not_allowed")
        self.assertError(self.admin.get("/admin/users/%s/ban" % nobody), 405,
                         "method_not_allowed")

    def test_audit_lines(self):
        g = self.guest()
        uid = g["user_id"]
        self.admin.post("/admin/users/%s/ban" % uid, body={"until": "2999-01-01T00:00:00Z"})
        self.admin.post("/admin/users/%s/unban" % uid, token=BARE)
        self.admin.post("/admin/users/%s/sessions/end-all" % uid, token=OTHER.split(":")[1])
        self.admin.get("/admin/users/%s/export" % uid)
        self.admin.post("/admin/users/%s/delete" % uid)
        deadline = time.time() + 10
        while time.time() < deadline and "action=delete user=" + uid not in \
                self.daemon.log_text():
            time.sleep(0.05)
        log = self.daemon.log_text()
        lines = [ln for ln in log.splitlines() if "msg=audit" in ln and uid in ln]
        expect = [("alice", "ban"), ("admin", "unban"), ("other", "end_all_sessions"),
                  ("alice", "export"), ("alice", "delete")]
        self.assertEqual(len(lines), len(expect), lines)
        for line, (actor, action) in zip(lines, expect):
            self.assertIn("msg=audit actor=%s action=%s user=%s" % (actor, action, uid), line)
        self.assertIn("until=2999-01-01T00:00:00Z", lines[0])
        for secret in (ALICE, BARE, OTHER.split(":")[1], ALICE[:12], BARE[:12]):
            self.assertNotIn(secret, log, "a token in the log")


class AdminSettings(unittest.TestCase):
    """Start-up refusals, the alias, and the token file reread on SIGHUP."""

    def refused(self, tokens, settings, why, command="check-config"):
        """The configuration is refused with why; check-config loads it as serve does
        (one serve below shows the daemon refusing too; under valgrind each serve
        costs seconds)."""
        d, _ = admin_daemon(tokens, settings) if tokens is not None else (None, None)
        if d is None:
            d = Daemon(settings)
        self.addCleanup(d.cleanup)
        r = d.cli(command)
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn(why, r.stderr)
        for secret in (ALICE, "x" * 8):
            self.assertNotIn(secret, r.stderr)
        return r

    def test_start_up_refusals(self):
        port = "127.0.0.1:%d" % free_port()
        self.refused(None, {"admin_listen_address": port},
                     "admin_listen_address is set but admin_token_file is not", "serve")
        self.refused("", {}, "no token in it", "serve")
        self.refused(None, {"admin_listen_address": port},
                     "admin_listen_address is set but admin_token_file is not")
        self.refused("", {}, "no token in it")
        self.refused("# only a comment\n\n", {}, "no token in it")
        self.refused("alice:short\n", {}, "line 1: a token must be 16 to 512 characters")
        self.refused("alice:%s\nalice:%s\n" % (ALICE, ALICE[::-1]), {},
                     "line 2: the name 'alice' is used twice")
        self.refused("alice:%s with space\n" % ALICE, {}, "printable ASCII without spaces")
        self.refused("a:" + "x" * 2000 + "\n", {}, "line 1: longer than 1024 bytes")
        self.refused("".join("t%d:%s\n" % (i, ALICE) for i in range(65)), {},
                     "more than 64 tokens")
        self.refused(None, {"admin_listen_address": port, "admin_token_file": "/nonexistent/t"},
                     "admin_token_file '/nonexistent/t'")
        self.refused(ALICE, {"metrics_listen_address": "127.0.0.1:1"},
                     "metrics_listen_address is its older name")

    def test_alias_and_reload(self):
        port = free_port()
        d, _ = admin_daemon("alice:%s\n" % ALICE,
                            {"admin_listen_address": "",
                             "metrics_listen_address": "127.0.0.1:%d" % port})
        self.addCleanup(d.cleanup)
        d.start()
        admin = Admin(d, port)
        wait_admin(admin)
        self.assertEqual(admin.get("/admin/stats").status, 200)
        self.assertEqual(admin.get("/admin/stats", token=BARE).status, 401)
        write_tokens(os.path.join(d.dir, "admin-tokens"), "bob:%s\n" % BARE)
        d.proc.send_signal(signal.SIGHUP)
        deadline = time.time() + START_TIMEOUT
        while time.time() < deadline and admin.get("/admin/stats", token=BARE).status != 200:
            time.sleep(0.05)
        self.assertEqual(admin.get("/admin/stats", token=BARE).status, 200)
        self.assertEqual(admin.get("/admin/stats").status, 401)
        self.assertIn("admin tokens", d.log_text())
        # A token file made unusable is refused and the tokens in use stay.
        write_tokens(os.path.join(d.dir, "admin-tokens"), "")
        d.proc.send_signal(signal.SIGHUP)
        deadline = time.time() + START_TIMEOUT
        while time.time() < deadline and "no token in it" not in d.log_text():
            time.sleep(0.05)
        self.assertEqual(admin.get("/admin/stats", token=BARE).status, 200)
        d.stop()


if __name__ == "__main__":
    unittest.main()
