"""GET|HEAD /forward-auth (API.md B "Forward auth", D.1): what a reverse
proxy's auth sub-request gets for genuine, forged and ended tokens, the
?scope= rule, the bounds on every header it reads, and sid in access tokens
(the same session id as the refresh token's) ending access at once."""
import unittest

from gh import DaemonTest, jwt_parts
from jwtforge import forgeries, resign

UNAUTHORIZED = {"message": "Unauthorized"}
FORBIDDEN = {"message": "Forbidden"}


class ForwardAuth(DaemonTest, unittest.TestCase):
    SETTINGS = {"base_path": "/prod"}

    def fa(self, tok=None, target="/forward-auth", method="GET", headers=None, raw=True):
        h = dict(headers or {})
        if tok is not None:
            h["Authorization"] = tok if raw else "Bearer " + tok
        return self.daemon.request(method, self.daemon.path(target), headers=h)

    def assertAllowed(self, r, g, scope="guest"):
        self.assertEqual(r.status, 200, r)
        sid = jwt_parts(g["refresh_token"])[1]["sid"]
        exp = jwt_parts(g["auth_token"])[1]["exp"]
        self.assertEqual(r.header("X-Gatehouse-User-Id"), g["user_id"])
        self.assertEqual(r.header("X-Gatehouse-Scope"), scope)
        self.assertEqual(r.header("X-Gatehouse-Session-Id"), str(sid))
        self.assertEqual(r.header("X-Gatehouse-Token-Expires"), str(exp))
        self.assertEqual(r.header("Cache-Control"), "no-store")

    def assertRefused(self, r, status=401, msg=None):
        self.assertEqual(r.status, status, "%s: %r" % (msg, r))
        self.assertEqual(r.header("Content-Type"), "application/json", msg)
        self.assertEqual(r.json(), UNAUTHORIZED if status == 401 else FORBIDDEN, msg)
        self.assertIsNone(r.header("X-Gatehouse-User-Id"), msg)

    def test_sid_is_the_refresh_tokens_session(self):
        g = self.daemon.new_guest()
        a, rt = jwt_parts(g["auth_token"])[1], jwt_parts(g["refresh_token"])[1]
        self.assertIsInstance(a["sid"], int)
        self.assertEqual(a["sid"], rt["sid"])
        # A refresh keeps the session, and so the sid.
        r = self.daemon.get("/refresh-access-token?&refresh_token=" + g["refresh_token"])
        self.assertEqual(r.status, 200, r)
        self.assertEqual(jwt_parts(r.json()["auth_token"])[1]["sid"], a["sid"])

    def test_allowed_get_and_head(self):
        g = self.daemon.new_guest()
        for raw in (True, False):
            r = self.fa(g["auth_token"], raw=raw)
            self.assertAllowed(r, g)
            j = r.json()
            self.assertEqual(j["user_id"], g["user_id"])
            self.assertEqual(j["session_id"], jwt_parts(g["auth_token"])[1]["sid"])
        r = self.fa(g["auth_token"], method="HEAD")
        self.assertAllowed(r, g)
        self.assertEqual(r.body, b"")
        r = self.fa(method="HEAD")
        self.assertEqual(r.status, 401, r)
        self.assertEqual(r.body, b"")
        # Only under base_path, and only GET and HEAD.
        r = self.daemon.request("GET", "/forward-auth", headers={"Authorization": g["auth_token"]})
        self.assertEqual(r.status, 404, r)
        r = self.fa(g["auth_token"], method="POST")
        self.assertEqual(r.status, 405, r)
        self.assertEqual(r.header("Allow"), "GET, HEAD, OPTIONS")

    def test_repeat_checks_hit_the_cache_and_still_see_a_logout(self):
        d = self.daemon
        g = d.new_guest()
        m0 = self.cache_hits()
        for _ in range(3):
            self.assertAllowed(self.fa(g["auth_token"]), g)
        self.assertGreaterEqual(self.cache_hits() - m0, 2)
        r = d.post("/logout", body={"refresh_token": g["refresh_token"]})
        self.assertEqual(r.status, 200, r)
        self.assertRefused(self.fa(g["auth_token"]), msg="after logout")
        r = self.fa(g["auth_token"], method="HEAD")
        self.assertEqual(r.status, 401, r)
        self.assertIsNone(r.header("X-Gatehouse-User-Id"))

    def cache_hits(self):
        r = self.daemon.get("/metrics")
        for line in r.text.splitlines():
            if line.startswith("gatehouse_access_token_cache_hits_total"):
                return float(line.split()[-1])
        return 0.0

    def test_forgeries_and_bad_tokens(self):
        g = self.daemon.new_guest()
        for name, tok in forgeries(self.daemon, g["auth_token"], g["refresh_token"]).items():
            with self.subTest(name):
                self.assertRefused(self.fa(tok), msg=name)
        for what, h in (("none", {}), ("empty", {"Authorization": ""}),
                        ("bearer only", {"Authorization": "Bearer "}),
                        ("basic", {"Authorization": "Basic dXNlcjpwYXNz"})):
            with self.subTest(what):
                self.assertRefused(self.fa(headers=h), msg=what)

    def test_ended_sessions_and_users(self):
        d = self.daemon
        # logout: that session only.
        g = d.new_guest()
        other = d.get("/login-as-guest?&user_id=%s&guest_secret=%s"
                      % (g["user_id"], g["guest_secret"])).json()
        self.assertEqual(d.post("/logout", body={"refresh_token": g["refresh_token"]}).status, 200)
        self.assertRefused(self.fa(g["auth_token"]), msg="logout")
        self.assertAllowed(self.fa(other["auth_token"]), dict(other, user_id=g["user_id"]))
        # logout-all: every session.
        self.assertEqual(d.post("/logout-all", headers={"Authorization": other["auth_token"]})
                         .status, 200)
        self.assertRefused(self.fa(other["auth_token"]), msg="logout-all")
        # A detected refresh-token reuse revokes the session.
        g = d.new_guest()
        r = d.get("/refresh-access-token?&refresh_token=" + g["refresh_token"])
        self.assertEqual(r.status, 200, r)
        self.assertAllowed(self.fa(g["auth_token"]), g)
        bad = resign(d, g["refresh_token"], jti="A" * 22)
        self.assertEqual(d.get("/refresh-access-token?&refresh_token=" + bad).status, 401)
        self.assertRefused(self.fa(g["auth_token"]), msg="reuse")
        self.assertRefused(self.fa(r.json()["auth_token"]), msg="reuse, new token")
        # A ban: 403, even though it ended the sessions; delete: 401.
        g = d.new_guest()
        self.assertEqual(d.cli("user", "ban", g["user_id"]).returncode, 0)
        self.assertRefused(self.fa(g["auth_token"]), 403, "ban")
        self.assertEqual(d.cli("user", "unban", g["user_id"]).returncode, 0)
        self.assertRefused(self.fa(g["auth_token"]), 401, "unbanned, session still ended")
        g = d.new_guest()
        self.assertEqual(d.cli("user", "delete", g["user_id"]).returncode, 0)
        self.assertRefused(self.fa(g["auth_token"]), msg="deleted")

    def test_token_without_sid_works_until_it_expires(self):
        """Tokens signed before access tokens carried sid: checked against
        their user (exists, not banned) only, until exp."""
        d = self.daemon
        g = d.new_guest()
        old = resign(d, g["auth_token"], sid=None)
        r = self.fa(old)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.header("X-Gatehouse-User-Id"), g["user_id"])
        self.assertIsNone(r.header("X-Gatehouse-Session-Id"))
        self.assertNotIn("session_id", r.json())
        self.assertEqual(d.get("/get-player-data", headers={"Authorization": old}).status, 200)
        # A malformed sid is a bad token.
        for sid in ("1", 0, -1, 1.5):
            self.assertRefused(self.fa(resign(d, g["auth_token"], sid=sid)), msg="sid %r" % sid)
        # Expiry and a ban still apply.
        self.assertRefused(self.fa(resign(d, old, exp=1)), msg="expired")
        self.assertEqual(d.cli("user", "ban", g["user_id"]).returncode, 0)
        self.assertRefused(self.fa(old), 403, "banned")

    def test_scope_parameter(self):
        d = self.daemon
        g = d.new_guest()
        tok = g["auth_token"]
        for q in ("guest", "guest,authenticated", "authenticated,guest", "%20guest%20,authenticated",
                  "authenticated%2Cguest"):
            with self.subTest(q):
                self.assertAllowed(self.fa(tok, "/forward-auth?scope=" + q), g)
        r = self.fa(tok, "/forward-auth?scope=authenticated")
        self.assertRefused(r, 403, "scope not allowed")
        r = self.fa(tok, "/forward-auth?scope=authenticated", method="HEAD")
        self.assertEqual(r.status, 403, r)
        # An authenticated token (a forged scope, signed with the real key).
        auth_tok = resign(d, tok, scope="authenticated")
        self.assertAllowed(self.fa(auth_tok, "/forward-auth?scope=authenticated"), g,
                           "authenticated")
        # A token scope the routes do not know: 403, whatever ?scope= says.
        self.assertRefused(self.fa(resign(d, tok, scope="admin")), 403, "scope admin")
        self.assertRefused(self.fa(resign(d, tok, scope="admin"), "/forward-auth?scope=admin"),
                           403, "scope admin")
        # The proxy's config is wrong: 400 (after the token check).
        for q in ("", "admin", "guest,", ",guest", "guest,,authenticated", "GUEST",
                  ",".join(["guest"] * 9), "guest" + "%20" * 300, "scope=guest&scope=guest"):
            with self.subTest(bad=q):
                r = self.fa(tok, "/forward-auth?scope=" + q)
                self.assertEqual(r.status, 400, r)
                self.assertIsNone(r.header("X-Gatehouse-User-Id"))
        self.assertRefused(self.fa(None, "/forward-auth?scope=admin"), 401, "no token first")

    def test_header_bounds(self):
        d = self.daemon
        g = d.new_guest()
        tok = g["auth_token"]
        # Authorization over 8 KiB: 401 unread (under max_header_size, 16 KiB).
        self.assertRefused(self.fa(tok + " " * 8200), msg="long trailing spaces")
        self.assertRefused(self.fa("Bearer " + "A" * 9000), msg="9000 bytes")
        self.assertRefused(self.fa("x" * 5000), msg="5000 bytes")
        # Beyond max_header_size the HTTP layer answers 431.
        r = self.fa("x" * 20000)
        self.assertEqual(r.status, 431, r)
        self.assertIsNone(r.header("X-Gatehouse-User-Id"))
        # The original-request headers nginx, Traefik and Caddy send: read
        # within bounds, refused beyond.
        ok = {"X-Original-Method": "DELETE", "X-Original-URI": "/api/items/7?x=" + "y" * 4000,
              "X-Forwarded-Method": "GET", "X-Forwarded-Uri": "/api",
              "X-Forwarded-Host": "game.example", "X-Forwarded-Proto": "https"}
        self.assertAllowed(self.fa(tok, headers=ok), g)
        for name, size in (("X-Original-Method", 17), ("X-Forwarded-Method", 17),
                           ("X-Original-URI", 8193), ("X-Forwarded-Uri", 8193),
                           ("X-Forwarded-Host", 256), ("X-Forwarded-Proto", 17)):
            with self.subTest(name):
                r = self.fa(tok, headers={name: "a" * size})
                self.assertEqual(r.status, 400, r)
                self.assertEqual(r.json(), {"message": "Bad Request"})
                self.assertIsNone(r.header("X-Gatehouse-User-Id"))
                self.assertAllowed(self.fa(tok, headers={name: "a" * (size - 1)}), g)
        # Nothing of the token or the original URI's query reaches the log.
        log = d.log_text()
        self.assertNotIn(tok.split(".")[2], log)
        self.assertNotIn("y" * 100, log)


if __name__ == "__main__":
    unittest.main()
