"""The account routes a player controls (API.md B "Sessions", "Account", D.1,
D.2): POST /logout, POST /logout-all, GET /get-user, POST /delete-user and
GET /export-user-data, with every success and failure answer (exact status
and JSON error slug), what they change in the database, and that logout,
logout-all and delete survive kill -9.

Bans and operator commands are in test_operator.py; the rate limit shared by
these routes (D.3) is in test_ratelimit.py."""
import base64
import hashlib
import hmac
import json
import time
import unittest
import urllib.parse
import uuid

import gh
from gh import DaemonTest, jwt_parts

JSON = "application/json"
ERR_REFRESH = "Error: Failed to validate refresh token"
ERR_GUEST = "Error: Could not validate user"
APIGW_UNAUTHORIZED = {"message": "Unauthorized"}
ACCOUNT_FIELDS = {"user_id", "created_at", "has_guest_secret", "steam_id", "apple_id",
                  "google_play_id", "facebook_id", "oidc", "sessions", "banned_until"}
EXPORT_FIELDS = {"user", "identities", "sessions", "player_data"}
EXPORT_SESSION_FIELDS = {"session_id", "created_at", "expires_at", "ended_at"}
EXPORT_DOC_FIELDS = {"key", "version", "updated_at", "value"}
# B routes that take an access token: (method, path).
B_AUTH_ROUTES = [("POST", "/logout-all"), ("GET", "/get-user"), ("POST", "/delete-user"),
                 ("GET", "/export-user-data")]


def claims(token):
    return jwt_parts(token)[1]


def is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def auth(token):
    return {"Authorization": token}


def b64u(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def db_rows(d, sql, args=()):
    """Reads the daemon's database (read-only, while it runs)."""
    return gh.db_rows(d, sql, args)


def db_write(d, sql, args=()):
    """One short write transaction on the daemon's database (WAL: fine while
    the daemon runs)."""
    gh.db_write(d, sql, args)


def link_identity(d, user_id, provider, subject):
    """Simulates a platform link by inserting the identity row directly."""
    db_write(d, "INSERT INTO identities (provider, subject, user_id, created_at) "
                "VALUES (?, ?, ?, ?)", (provider, subject, user_id, int(time.time())))


def user_rows(d, user_id):
    """How many rows each table holds for user_id."""
    return {t: db_rows(d, "SELECT count(*) FROM %s WHERE user_id = ?" % t, (user_id,))[0][0]
            for t in ("users", "identities", "sessions", "player_data")}


def session_ended_at(d, sid):
    rows = db_rows(d, "SELECT ended_at FROM sessions WHERE session_id = ?", (sid,))
    assert len(rows) == 1, "no stored session %r" % (sid,)
    return rows[0][0]


def refresh(d, token):
    return d.get("/refresh-access-token?&refresh_token=" + token)


def guest_login(d, g):
    return d.get("/login-as-guest?&user_id=%s&guest_secret=%s" % (g["user_id"], g["guest_secret"]))


def forge_refresh(d, token, **changes):
    """Re-signs a genuine refresh token with the daemon's own refresh key
    (HS256, read from the store) after changing claims: a token that is
    genuine in every respect but the changed claims."""
    h_seg, _, _ = token.split(".")
    header, payload = jwt_parts(token)
    rows = db_rows(d, "SELECT material FROM signing_keys WHERE kid = ?", (header["kid"],))
    assert len(rows) == 1 and len(rows[0][0]) == 32, "refresh key %s" % header["kid"]
    payload.update(changes)
    signing_input = (h_seg + "." + b64u(json.dumps(payload, separators=(",", ":")).encode()))
    sig = hmac.new(bytes(rows[0][0]), signing_input.encode(), hashlib.sha256).digest()
    return signing_input + "." + b64u(sig)


class AccountAsserts:

    def assertJsonError(self, r, status, slug, msg=""):
        """A part-B error: exact status, JSON {"error": slug, "message": text}."""
        self.assertEqual(r.status, status, "%s: %r" % (msg, r))
        self.assertEqual(r.header("Content-Type"), JSON, msg)
        j = r.json()
        self.assertEqual(set(j), {"error", "message"}, "%s: %r" % (msg, j))
        self.assertEqual(j["error"], slug, msg)
        self.assertIsInstance(j["message"], str)
        self.assertTrue(j["message"], msg)

    def assertApigw(self, r, status, body, msg=""):
        """An A.5 answer in API Gateway's shape."""
        self.assertEqual(r.status, status, "%s: %r" % (msg, r))
        self.assertEqual(r.header("Content-Type"), JSON, msg)
        self.assertEqual(r.json(), body, msg)

    def assertText(self, r, status, text, msg=""):
        """A compat-route error: exact status and plain-text body."""
        self.assertEqual(r.status, status, "%s: %r" % (msg, r))
        self.assertEqual(r.text, text, msg)
        self.assertTrue(r.header("Content-Type").startswith("text/plain"), msg)

    def assertEnded(self, r, user_id, n, msg=""):
        """200 {"user_id", "sessions_ended": n} of /logout and /logout-all."""
        self.assertEqual(r.status, 200, "%s: %r" % (msg, r))
        self.assertEqual(r.header("Content-Type"), JSON, msg)
        self.assertEqual(r.json(), {"user_id": user_id, "sessions_ended": n}, msg)

    def assertRefreshOk(self, r, user_id):
        self.assertEqual(r.status, 200, r)
        j = r.json()
        self.assertEqual(j["user_id"], user_id)
        return j

    def assertRefreshRejected(self, r, msg=""):
        self.assertText(r, 401, ERR_REFRESH, msg)

    def get_user(self, token):
        r = self.daemon.get("/get-user", headers=auth(token))
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.header("Content-Type"), JSON)
        return r.json()

    def relogin(self, g):
        r = guest_login(self.daemon, g)
        self.assertEqual(r.status, 200, r)
        return r.json()

    def logout(self, token):
        return self.daemon.post("/logout", body={"refresh_token": token})


class Account(AccountAsserts, DaemonTest, unittest.TestCase):
    SETTINGS = {"rate_limit_login": 0}

    # ---- POST /logout ----

    def test_logout_json_form_and_query(self):
        d = self.daemon
        bodies = [
            lambda t: d.post("/logout", body={"refresh_token": t}),
            lambda t: d.post("/logout", body="refresh_token=" + urllib.parse.quote(t, safe=""),
                             headers={"Content-Type": "application/x-www-form-urlencoded"}),
            lambda t: d.post("/logout?refresh_token=" + t),
            lambda t: d.post("/logout?&refresh_token=" + t),
        ]
        for send in bodies:
            g = d.new_guest()
            sid = claims(g["refresh_token"])["sid"]
            r = send(g["refresh_token"])
            self.assertEnded(r, g["user_id"], 1)
            self.assertIsNotNone(session_ended_at(d, sid))
            self.assertRefreshRejected(refresh(d, g["refresh_token"]), "after logout")
            # Ending it again: 200 with 0.
            self.assertEnded(send(g["refresh_token"]), g["user_id"], 0, "second logout")
            # The session's access token is refused from now on (D.1).
            self.assertSessionEnded(g["auth_token"])
            # The account itself is untouched: the guest logs in again.
            self.assertEqual(self.get_user(self.relogin(g)["auth_token"])["sessions"], 1)

    def test_logout_with_a_spent_token(self):
        d = self.daemon
        g = d.new_guest()
        uid, r1 = g["user_id"], g["refresh_token"]
        sid = claims(r1)["sid"]
        r2 = self.assertRefreshOk(refresh(d, r1), uid)["refresh_token"]
        r3 = self.assertRefreshOk(refresh(d, r2), uid)["refresh_token"]
        # R1 is neither current nor the previous token: it still ends the session.
        self.assertEnded(self.logout(r1), uid, 1, "logout with the grandparent token")
        self.assertIsNotNone(session_ended_at(d, sid))
        self.assertRefreshRejected(refresh(d, r3), "current token after logout")
        self.assertEnded(self.logout(r3), uid, 0, "logout with the current token, ended")
        self.assertEnded(self.logout(r2), uid, 0, "logout with the previous token, ended")

    def test_logout_with_the_previous_token(self):
        d = self.daemon
        g = d.new_guest()
        uid, r1 = g["user_id"], g["refresh_token"]
        r2 = self.assertRefreshOk(refresh(d, r1), uid)["refresh_token"]
        self.assertEnded(self.logout(r1), uid, 1, "logout with the previous token")
        self.assertRefreshRejected(refresh(d, r2))
        # R1 is within the grace window, but the session is over.
        self.assertRefreshRejected(refresh(d, r1))

    def test_logout_with_the_current_token_after_rotations(self):
        d = self.daemon
        g = d.new_guest()
        uid = g["user_id"]
        chain = [g["refresh_token"]]
        for _ in range(2):
            chain.append(self.assertRefreshOk(refresh(d, chain[-1]), uid)["refresh_token"])
        self.assertEnded(self.logout(chain[-1]), uid, 1)
        for t in chain:
            self.assertRefreshRejected(refresh(d, t))

    def test_logout_ends_only_that_session(self):
        d = self.daemon
        g = d.new_guest()
        uid = g["user_id"]
        b = self.relogin(g)
        other = d.new_guest()
        self.assertEqual(self.get_user(g["auth_token"])["sessions"], 2)
        self.assertEnded(self.logout(g["refresh_token"]), uid, 1)
        self.assertSessionEnded(g["auth_token"])
        self.assertEqual(self.get_user(b["auth_token"])["sessions"], 1)
        self.assertRefreshRejected(refresh(d, g["refresh_token"]))
        j = self.assertRefreshOk(refresh(d, b["refresh_token"]), uid)
        self.assertEqual(claims(j["refresh_token"])["sid"], claims(b["refresh_token"])["sid"])
        self.assertRefreshOk(refresh(d, other["refresh_token"]), other["user_id"])

    def test_logout_missing_parameter(self):
        d = self.daemon
        want = {"error": "missing_parameter",
                "message": "Missing required request parameters: [refresh_token]"}
        for r in (d.post("/logout"),
                  d.post("/logout", body={}),
                  d.post("/logout", body={"refresh_token": ""}),
                  d.post("/logout?refresh_token="),
                  d.post("/logout", body="other=1",
                         headers={"Content-Type": "application/x-www-form-urlencoded"})):
            self.assertEqual(r.status, 400, r)
            self.assertEqual(r.header("Content-Type"), JSON)
            self.assertEqual(r.json(), want)

    def test_logout_invalid_tokens(self):
        d = self.daemon
        g = d.new_guest()
        rt = g["refresh_token"]
        h, p, s = rt.split(".")
        tampered_sig = h + "." + p + "." + ("A" if s[0] != "A" else "B") + s[1:]
        tampered_sub = h + "." + b64u(json.dumps(dict(claims(rt), sub=str(uuid.uuid4())))
                                      .encode()) + "." + s
        for what, tok in (("garbage", "not-a-token"),
                          ("three garbage segments", "a.b.c"),
                          ("tampered signature", tampered_sig),
                          ("tampered sub", tampered_sub),
                          ("access token", g["auth_token"]),
                          ("unsigned", h + "." + p + "."),
                          ("expired", forge_refresh(d, rt, exp=int(time.time()) - 5))):
            self.assertJsonError(self.logout(tok), 401, "unauthorized", what)
        # None of them touched the session.
        self.assertIsNone(session_ended_at(d, claims(rt)["sid"]))
        self.assertRefreshOk(refresh(d, rt), g["user_id"])

    def test_forged_token_control(self):
        """The forging helper itself makes tokens the daemon accepts (so the
        'expired' case above fails on exp alone)."""
        d = self.daemon
        g = d.new_guest()
        tok = forge_refresh(d, g["refresh_token"])
        self.assertEnded(self.logout(tok), g["user_id"], 1)

    def test_logout_methods(self):
        d = self.daemon
        g = d.new_guest()
        for method in ("GET", "PUT", "DELETE"):
            r = d.request(method, d.path("/logout?refresh_token=" + g["refresh_token"]))
            self.assertJsonError(r, 405, "method_not_allowed", method)
            self.assertIn("POST", r.header("Allow"))
        # Nothing was ended.
        self.assertIsNone(session_ended_at(d, claims(g["refresh_token"])["sid"]))

    # ---- POST /logout-all ----

    def test_logout_all(self):
        d = self.daemon
        g = d.new_guest()
        uid = g["user_id"]
        b = self.relogin(g)
        c = self.relogin(g)
        # A rotated session counts once.
        c2 = self.assertRefreshOk(refresh(d, c["refresh_token"]), uid)
        other = d.new_guest()
        sids = [claims(t["refresh_token"])["sid"] for t in (g, b, c)]
        self.assertEqual(self.get_user(g["auth_token"])["sessions"], 3)
        r = d.post("/logout-all", headers=auth(b["auth_token"]))
        self.assertEnded(r, uid, 3)
        for sid in sids:
            self.assertIsNotNone(session_ended_at(d, sid))
        for t in (g["refresh_token"], b["refresh_token"], c2["refresh_token"]):
            self.assertRefreshRejected(refresh(d, t), "after logout-all")
        # Their access tokens are refused from now on (D.1), Bearer or raw.
        r = d.post("/logout-all", headers=auth("Bearer " + g["auth_token"]))
        self.assertEqual(r.status, 401, r)
        self.assertEqual(r.json()["error"], "unauthorized")
        # Other users are unaffected.
        self.assertRefreshOk(refresh(d, other["refresh_token"]), other["user_id"])
        self.assertEqual(self.get_user(other["auth_token"])["sessions"], 1)
        # logout-all is not a ban: the guest logs in again.
        n = self.relogin(g)
        self.assertRefreshOk(refresh(d, n["refresh_token"]), uid)

    def test_access_tokens_end_with_logout_all(self):
        """D.1: once its session ended, an access token is refused by every
        authenticated route from the next request on (it still verifies as a
        JWT until exp: that is what backends verifying it themselves see)."""
        d = self.daemon
        g = d.new_guest()
        b = self.relogin(g)
        for tok in (g["auth_token"], b["auth_token"]):
            r = d.get("/set-player-data?player_name=Before", headers=auth(tok))
            self.assertEqual(r.status, 200, r)
        self.assertEnded(d.post("/logout-all", headers=auth(g["auth_token"])), g["user_id"], 2)
        for tok in (g["auth_token"], b["auth_token"]):
            self.assertSessionEnded(tok)
        for t in (g["refresh_token"], b["refresh_token"]):
            self.assertRefreshRejected(refresh(d, t))
        # A new login works at once, and sees the data.
        n = self.relogin(g)
        r = d.get("/get-player-data", headers=auth(n["auth_token"]))
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json(), {"UserID": g["user_id"], "PlayerName": "Before"})

    def assertSessionEnded(self, tok):
        """tok's session ended: 401 on the compat, JSON and storage routes."""
        d = self.daemon
        for how, r in (
                ("set-player-data", d.get("/set-player-data?player_name=x", headers=auth(tok))),
                ("get-player-data", d.get("/get-player-data", headers=auth(tok)))):
            self.assertEqual(r.status, 401, "%s: %r" % (how, r))
            self.assertEqual(r.json(), {"message": "Unauthorized"}, how)
        for how, r in (
                ("player-data", d.request("GET", d.path("/player-data/player_name"),
                                          headers=auth(tok))),
                ("get-user", d.get("/get-user", headers=auth(tok)))):
            self.assertEqual(r.status, 401, "%s: %r" % (how, r))
            self.assertEqual(r.json()["error"], "unauthorized", how)

    def test_logout_all_without_a_valid_access_token(self):
        d = self.daemon
        g = d.new_guest()
        a = g["auth_token"]
        h, p, s = a.split(".")
        for what, hdrs in (("no header", {}),
                           ("empty", auth("")),
                           ("bare Bearer", auth("Bearer ")),
                           ("garbage", auth("garbage")),
                           ("refresh token", auth(g["refresh_token"])),
                           ("refresh token, Bearer", auth("Bearer " + g["refresh_token"])),
                           ("tampered", auth(h + "." + p + "." + s[::-1])),
                           ("wrong scheme", auth("Basic " + a))):
            self.assertJsonError(d.post("/logout-all", headers=hdrs), 401, "unauthorized", what)
        # A token in the body or query is not an access token for this route.
        self.assertJsonError(d.post("/logout-all", body={"refresh_token": g["refresh_token"]}),
                             401, "unauthorized")
        r = d.get("/logout-all", headers=auth(a))
        self.assertJsonError(r, 405, "method_not_allowed")
        self.assertIsNone(session_ended_at(d, claims(g["refresh_token"])["sid"]))

    # ---- GET /get-user ----

    def test_get_user(self):
        d = self.daemon
        before = int(time.time())
        g = d.new_guest()
        after = int(time.time())
        uid = g["user_id"]
        r = d.get("/get-user", headers=auth(g["auth_token"]))
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.header("Content-Type"), JSON)
        j = r.json()
        self.assertEqual(set(j), ACCOUNT_FIELDS)
        self.assertEqual(j["user_id"], uid)
        self.assertTrue(is_int(j["created_at"]), j)
        self.assertTrue(before - 1 <= j["created_at"] <= after + 1, j)
        self.assertIs(j["has_guest_secret"], True)
        for f in ("steam_id", "apple_id", "google_play_id", "facebook_id", "banned_until"):
            self.assertIsNone(j[f], f)
        self.assertEqual(j["oidc"], {})
        self.assertTrue(is_int(j["sessions"]))
        self.assertEqual(j["sessions"], 1)
        # Bearer works too; the count follows logins and logouts.
        b = self.relogin(g)
        self.assertEqual(d.get("/get-user", headers=auth("Bearer " + b["auth_token"]))
                         .json()["sessions"], 2)
        self.assertEnded(self.logout(b["refresh_token"]), uid, 1)
        self.assertEqual(self.get_user(g["auth_token"])["sessions"], 1)
        # Refreshing does not add a session.
        self.assertRefreshOk(refresh(d, g["refresh_token"]), uid)
        self.assertEqual(self.get_user(g["auth_token"]), dict(j, sessions=1))

    def test_get_user_shows_linked_ids(self):
        d = self.daemon
        g = d.new_guest()
        uid = g["user_id"]
        links = {"steam": "76561198000000001", "apple": "001234.abcd.0001",
                 "google_play": "g12345", "facebook": "10150000000001",
                 "oidc:epic": "epic-sub-1", "oidc:twitch": "twitch-sub-2"}
        for provider, subject in links.items():
            link_identity(d, uid, provider, subject)
        j = self.get_user(g["auth_token"])
        self.assertEqual(set(j), ACCOUNT_FIELDS)
        self.assertEqual(j["steam_id"], links["steam"])
        self.assertEqual(j["apple_id"], links["apple"])
        self.assertEqual(j["google_play_id"], links["google_play"])
        self.assertEqual(j["facebook_id"], links["facebook"])
        self.assertEqual(j["oidc"], {"epic": "epic-sub-1", "twitch": "twitch-sub-2"})
        self.assertIs(j["has_guest_secret"], True)

    def test_get_user_without_a_valid_access_token(self):
        d = self.daemon
        g = d.new_guest()
        for what, hdrs in (("no header", {}), ("garbage", auth("x.y.z")),
                           ("refresh token", auth(g["refresh_token"]))):
            self.assertJsonError(d.get("/get-user", headers=hdrs), 401, "unauthorized", what)
        self.assertJsonError(d.post("/get-user", headers=auth(g["auth_token"])), 405,
                             "method_not_allowed")

    # ---- POST /delete-user ----

    def test_delete_user(self):
        d = self.daemon
        g = d.new_guest()
        uid = g["user_id"]
        b = self.relogin(g)
        other = d.new_guest()
        self.assertEqual(d.get("/set-player-data?player_name=Gone", headers=auth(g["auth_token"]))
                         .status, 200)
        self.assertEqual(d.get("/set-player-data?player_name=Kept",
                               headers=auth(other["auth_token"])).status, 200)
        r = d.request("PUT", d.path("/player-data/save1"), body={"level": 7},
                      headers=auth(g["auth_token"]))
        self.assertEqual(r.status, 201, r)
        link_identity(d, uid, "steam", "7656119800000%s" % uid[:4])
        self.assertEqual(user_rows(d, uid),
                         {"users": 1, "identities": 1, "sessions": 2, "player_data": 2})

        r = d.post("/delete-user", headers=auth(b["auth_token"]))
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.header("Content-Type"), JSON)
        self.assertEqual(r.json(), {"user_id": uid, "deleted": True})
        # Erased from every table.
        self.assertEqual(user_rows(d, uid),
                         {"users": 0, "identities": 0, "sessions": 0, "player_data": 0})
        # Later refreshes and logins fail with the usual strings.
        for t in (g["refresh_token"], b["refresh_token"]):
            self.assertRefreshRejected(refresh(d, t), "refresh of a deleted user")
        self.assertText(guest_login(d, g), 401, ERR_GUEST, "guest login of a deleted user")
        # Its access tokens stop working at the player routes ...
        for tok in (g["auth_token"], b["auth_token"]):
            self.assertApigw(d.get("/get-player-data", headers=auth(tok)), 401,
                             APIGW_UNAUTHORIZED, "get-player-data")
            self.assertApigw(d.get("/set-player-data?player_name=X", headers=auth(tok)), 401,
                             APIGW_UNAUTHORIZED, "set-player-data")
            self.assertJsonError(d.request("GET", d.path("/player-data/save1"), headers=auth(tok)),
                                 401, "unauthorized", "player-data/{key}")
            self.assertJsonError(d.request("GET", d.path("/player-data"), headers=auth(tok)),
                                 401, "unauthorized", "player-data")
            # ... and at the B routes.
            for method, path in B_AUTH_ROUTES:
                self.assertJsonError(d.request(method, d.path(path), headers=auth(tok)),
                                     401, "unauthorized", path)
        # The set-player-data attempt above wrote nothing.
        self.assertEqual(user_rows(d, uid)["player_data"], 0)
        # Other users are unaffected.
        r = d.get("/get-player-data", headers=auth(other["auth_token"]))
        self.assertEqual(r.json(), {"UserID": other["user_id"], "PlayerName": "Kept"})
        self.assertRefreshOk(refresh(d, other["refresh_token"]), other["user_id"])
        self.assertEqual(user_rows(d, other["user_id"])["users"], 1)

    def test_logout_of_a_deleted_user(self):
        """D.1: a deleted user is treated as unknown (401): its refresh token
        no longer ends anything."""
        d = self.daemon
        g = d.new_guest()
        self.assertEqual(d.post("/delete-user", headers=auth(g["auth_token"])).status, 200)
        self.assertJsonError(self.logout(g["refresh_token"]), 401, "unauthorized",
                             "logout with a deleted user's refresh token")

    def test_delete_user_failures(self):
        d = self.daemon
        g = d.new_guest()
        for what, hdrs in (("no header", {}), ("garbage", auth("garbage")),
                           ("refresh token", auth(g["refresh_token"]))):
            self.assertJsonError(d.post("/delete-user", headers=hdrs), 401, "unauthorized", what)
        for method in ("GET", "DELETE"):
            self.assertJsonError(d.request(method, d.path("/delete-user"),
                                           headers=auth(g["auth_token"])),
                                 405, "method_not_allowed", method)
        self.assertEqual(user_rows(d, g["user_id"])["users"], 1, "nothing deleted")
        self.relogin(g)
        # Deleting twice with the same token: the second is for an unknown user.
        r = d.post("/delete-user", headers=auth(g["auth_token"]))
        self.assertEqual(r.json(), {"user_id": g["user_id"], "deleted": True})
        self.assertJsonError(d.post("/delete-user", headers=auth(g["auth_token"])), 401,
                             "unauthorized", "second delete")

    # ---- GET /export-user-data ----

    def test_export_user_data(self):
        d = self.daemon
        g = d.new_guest()
        uid = g["user_id"]
        b = self.relogin(g)
        other = d.new_guest()
        self.assertEqual(d.get("/set-player-data?player_name=Ada%20L",
                               headers=auth(g["auth_token"])).status, 200)
        doc = {"level": 3, "items": ["sword", "shield"], "gold": 12.5, "flags": {"a": True},
               "none": None}
        r = d.request("PUT", d.path("/player-data/save.slot-1"), body=doc,
                      headers=auth(g["auth_token"]))
        self.assertEqual(r.status, 201, r)
        put = r.json()
        self.assertEqual(d.get("/set-player-data?player_name=NotMine",
                               headers=auth(other["auth_token"])).status, 200)
        link_identity(d, uid, "steam", "76561198000000777")
        link_identity(d, uid, "oidc:epic", "epic-777")
        rotated = self.assertRefreshOk(refresh(d, g["refresh_token"]), uid)
        self.assertEnded(self.logout(b["refresh_token"]), uid, 1)

        r = d.get("/export-user-data", headers=auth(g["auth_token"]))
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.header("Content-Type"), JSON)
        j = r.json()
        self.assertEqual(set(j), EXPORT_FIELDS)
        # "user" holds the get-user fields.
        self.assertEqual(j["user"], self.get_user(g["auth_token"]))
        self.assertEqual(j["user"]["user_id"], uid)
        self.assertEqual(j["user"]["steam_id"], "76561198000000777")
        self.assertEqual(j["user"]["oidc"], {"epic": "epic-777"})
        self.assertEqual(j["user"]["sessions"], 1)
        self.assertEqual(sorted((i["provider"], i["subject"]) for i in j["identities"]),
                         [("oidc:epic", "epic-777"), ("steam", "76561198000000777")])
        for i in j["identities"]:
            self.assertEqual(set(i), {"provider", "subject"})
        # Sessions: both, the ended one with its end time.
        stored = {row[0]: row[1:] for row in db_rows(
            d, "SELECT session_id, created_at, expires_at, ended_at FROM sessions "
               "WHERE user_id = ?", (uid,))}
        self.assertEqual(len(j["sessions"]), 2)
        sid_a, sid_b = claims(g["refresh_token"])["sid"], claims(b["refresh_token"])["sid"]
        self.assertEqual(sorted(s["session_id"] for s in j["sessions"]), sorted([sid_a, sid_b]))
        for s in j["sessions"]:
            self.assertEqual(set(s), EXPORT_SESSION_FIELDS)
            for f in ("session_id", "created_at", "expires_at"):
                self.assertTrue(is_int(s[f]), s)
            self.assertEqual((s["created_at"], s["expires_at"], s["ended_at"]),
                             stored[s["session_id"]])
        by_sid = {s["session_id"]: s for s in j["sessions"]}
        self.assertIsNone(by_sid[sid_a]["ended_at"])
        self.assertEqual(by_sid[sid_a]["expires_at"], claims(rotated["refresh_token"])["exp"])
        self.assertTrue(is_int(by_sid[sid_b]["ended_at"]))
        self.assertAlmostEqual(by_sid[sid_b]["ended_at"], time.time(), delta=60)
        # Player data: both documents of this user, with the stored values.
        docs = {x["key"]: x for x in j["player_data"]}
        self.assertEqual(set(docs), {"player_name", "save.slot-1"})
        for x in j["player_data"]:
            self.assertEqual(set(x), EXPORT_DOC_FIELDS)
            self.assertTrue(is_int(x["version"]) and x["version"] > 0, x)
            self.assertTrue(is_int(x["updated_at"]), x)
        self.assertEqual(docs["player_name"]["value"], "Ada L")
        self.assertEqual(docs["save.slot-1"]["value"], doc)
        self.assertEqual(docs["save.slot-1"]["version"], put["version"])
        self.assertEqual(docs["save.slot-1"]["updated_at"], put["updated_at"])
        for key, version, updated_at in db_rows(
                d, "SELECT key, version, updated_at FROM player_data WHERE user_id = ?", (uid,)):
            self.assertEqual((docs[key]["version"], docs[key]["updated_at"]),
                             (version, updated_at))
        self.assertNotIn("NotMine", r.text, "another user's data")

        # Never a secret, digest, token or key.
        secret = g["guest_secret"]
        digest = hashlib.sha256(secret.encode()).digest()
        tokens = [g["auth_token"], g["refresh_token"], b["auth_token"], b["refresh_token"],
                  rotated["auth_token"], rotated["refresh_token"]]
        needles = {secret: "guest secret", digest.hex(): "secret digest (hex)",
                   digest.hex().upper(): "secret digest (HEX)",
                   base64.b64encode(digest).decode(): "secret digest (base64)",
                   b64u(digest): "secret digest (base64url)"}
        for t in tokens:
            needles[t] = "token"
            needles[t.split(".")[2]] = "token signature"
            needles[claims(t).get("jti", t)] = "token id"
        for (material,) in db_rows(d, "SELECT material FROM signing_keys"):
            material = bytes(material)
            needles[base64.b64encode(material[:48]).decode()] = "key material"
            needles[b64u(material[:24])] = "key material"
            needles[material[:24].hex()] = "key material"
        for n, what in needles.items():
            self.assertNotIn(n, r.text, "%s in the export" % what)
        for word in ("secret", "hash", "digest", "PRIVATE", "jti", "material"):
            self.assertNotIn(word, r.text.replace("has_guest_secret", ""), word)

    def test_export_of_a_fresh_user(self):
        d = self.daemon
        g = d.new_guest()
        j = d.get("/export-user-data", headers=auth("Bearer " + g["auth_token"])).json()
        self.assertEqual(j["identities"], [])
        self.assertEqual(j["player_data"], [])
        self.assertEqual(len(j["sessions"]), 1)
        self.assertEqual(j["sessions"][0]["session_id"], claims(g["refresh_token"])["sid"])
        self.assertIsNone(j["sessions"][0]["ended_at"])
        self.assertEqual(j["user"], self.get_user(g["auth_token"]))

    def test_export_without_a_valid_access_token(self):
        d = self.daemon
        g = d.new_guest()
        for what, hdrs in (("no header", {}), ("garbage", auth("garbage")),
                           ("refresh token", auth(g["refresh_token"]))):
            self.assertJsonError(d.get("/export-user-data", headers=hdrs), 401, "unauthorized",
                                 what)
        self.assertJsonError(d.post("/export-user-data", headers=auth(g["auth_token"])), 405,
                             "method_not_allowed")

    # ---- common to the routes ----

    def test_cors_and_preflight(self):
        d = self.daemon
        g = d.new_guest()
        for method, path in [("POST", "/logout")] + B_AUTH_ROUTES:
            if method == "POST":
                r = d.request("OPTIONS", d.path(path),
                              headers={"Origin": "https://game.example",
                                       "Access-Control-Request-Method": "POST",
                                       "Access-Control-Request-Headers":
                                           "authorization, content-type"})
                self.assertIn(r.status, (200, 204), "%s: %r" % (path, r))
                self.assertIn("POST", r.header("Access-Control-Allow-Methods"), path)
                allowed = r.header("Access-Control-Allow-Headers").lower()
                self.assertIn("authorization", allowed, path)
                self.assertIn("content-type", allowed, path)
                self.assertEqual(r.header("Access-Control-Allow-Origin"), "*", path)
            # Error answers carry CORS and a request id too.
            r = d.request(method, d.path(path))
            self.assertIn(r.status, (400, 401), "%s: %r" % (path, r))
            self.assertEqual(r.header("Access-Control-Allow-Origin"), "*", path)
            self.assertTrue(r.header("X-Request-Id"), path)
        r = d.get("/get-user", headers=auth(g["auth_token"]))
        self.assertEqual(r.header("Access-Control-Allow-Origin"), "*")


class Durability(AccountAsserts, DaemonTest, unittest.TestCase):
    """kill -9 right after the 200 of a logout, logout-all or delete-user:
    after a restart the session (or user) does not come back."""
    SETTINGS = {"rate_limit_login": 0}

    def restart_hard(self):
        self.daemon.kill9()
        self.daemon.start()

    def test_logout_survives_kill9(self):
        d = self.daemon
        g = d.new_guest()
        uid, r1 = g["user_id"], g["refresh_token"]
        r2 = self.assertRefreshOk(refresh(d, r1), uid)["refresh_token"]
        self.assertEnded(self.logout(r2), uid, 1)
        self.restart_hard()
        self.assertIsNotNone(session_ended_at(d, claims(r2)["sid"]))
        self.assertRefreshRejected(refresh(d, r2), "after logout and kill -9")
        self.assertRefreshRejected(refresh(d, r1), "previous token after logout and kill -9")
        self.assertEnded(self.logout(r2), uid, 0)

    def test_logout_all_survives_kill9(self):
        d = self.daemon
        g = d.new_guest()
        b = self.relogin(g)
        self.assertEnded(d.post("/logout-all", headers=auth(g["auth_token"])), g["user_id"], 2)
        self.restart_hard()
        for t in (g["refresh_token"], b["refresh_token"]):
            self.assertRefreshRejected(refresh(d, t), "after logout-all and kill -9")
        for tok in (g["auth_token"], b["auth_token"]):
            r = d.get("/get-user", headers=auth(tok))
            self.assertEqual(r.status, 401, r)
        self.assertEqual(self.get_user(self.relogin(g)["auth_token"])["sessions"], 1)

    def test_delete_survives_kill9(self):
        d = self.daemon
        g = d.new_guest()
        uid = g["user_id"]
        self.assertEqual(d.get("/set-player-data?player_name=Z", headers=auth(g["auth_token"]))
                         .status, 200)
        r = d.post("/delete-user", headers=auth(g["auth_token"]))
        self.assertEqual(r.json(), {"user_id": uid, "deleted": True})
        self.restart_hard()
        self.assertEqual(user_rows(d, uid),
                         {"users": 0, "identities": 0, "sessions": 0, "player_data": 0})
        self.assertText(guest_login(d, g), 401, ERR_GUEST, "login after delete and kill -9")
        self.assertRefreshRejected(refresh(d, g["refresh_token"]))
        self.assertApigw(d.get("/get-player-data", headers=auth(g["auth_token"])), 401,
                         APIGW_UNAUTHORIZED)


if __name__ == "__main__":
    unittest.main()
