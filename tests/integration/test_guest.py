"""Guest login, refresh and the sample player routes, sent exactly as the
Unity, Unreal and Godot SDKs send them (API.md A.1, A.2, A.5)."""
import json
import unittest
import urllib.parse

from gh import DaemonTest, Daemon, jwt_parts


class GuestFlow(DaemonTest, unittest.TestCase):

    def test_new_guest_with_no_query_string(self):
        r = self.daemon.get("/login-as-guest")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.header("Content-Type"), "application/json")
        self.assertEqual(r.header("Access-Control-Allow-Origin"), "*")
        self.assertTrue(r.header("X-Request-Id"))
        self.assertEqual(r.header("Cache-Control"), "no-store")
        j = r.json()
        self.assertEqual(set(j), {"user_id", "guest_secret", "auth_token", "refresh_token",
                                  "auth_token_expires_in", "refresh_token_expires_in"})
        self.assertRegex(j["user_id"], r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
        self.assertEqual(len(j["guest_secret"]), 73)
        self.assertEqual(j["auth_token_expires_in"], 900)
        self.assertIsInstance(j["refresh_token_expires_in"], int)
        self.assertGreater(j["refresh_token_expires_in"], 518000)
        h, p = jwt_parts(j["auth_token"])
        self.assertEqual(h["alg"], "RS256")
        self.assertEqual(h["typ"], "JWT")
        self.assertEqual(p["sub"], j["user_id"])
        self.assertEqual(p["aud"], "gamebackend")
        self.assertEqual(p["scope"], "guest")
        self.assertEqual(p["iss"], "http://127.0.0.1:%d" % self.daemon.port)
        self.assertEqual(p["kid"], h["kid"])
        self.assertEqual(p["exp"] - p["iat"], 900)
        h, p = jwt_parts(j["refresh_token"])
        self.assertEqual(p["aud"], "refresh")
        self.assertEqual(p["scope"], "refresh")
        self.assertEqual(p["access_token_scope"], "guest")
        self.assertIn("jti", p)

    def test_relogin_unity_unencoded(self):
        g = self.daemon.new_guest()
        r = self.daemon.get("/login-as-guest?&user_id=%s&guest_secret=%s"
                            % (g["user_id"], g["guest_secret"]))
        self.assertEqual(r.status, 200, r)
        j = r.json()
        self.assertEqual(j["user_id"], g["user_id"])
        self.assertEqual(j["guest_secret"], g["guest_secret"])
        self.assertEqual(jwt_parts(j["auth_token"])[1]["scope"], "guest")

    def test_relogin_unreal_percent_encoded(self):
        g = self.daemon.new_guest()
        q = "&".join("%s=%s" % (k, urllib.parse.quote(g[k], safe=""))
                     for k in ("user_id", "guest_secret"))
        # Unreal encodes every character it considers unsafe, '-' included.
        q = q.replace("-", "%2D")
        r = self.daemon.get("/login-as-guest?&" + q)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["user_id"], g["user_id"])

    def test_relogin_post_form_and_json(self):
        g = self.daemon.new_guest()
        form = urllib.parse.urlencode({"user_id": g["user_id"], "guest_secret": g["guest_secret"]})
        r = self.daemon.post("/login-as-guest", body=form,
                             headers={"Content-Type": "application/x-www-form-urlencoded"})
        self.assertEqual(r.status, 200, r)
        r = self.daemon.post("/login-as-guest",
                             body={"user_id": g["user_id"], "guest_secret": g["guest_secret"]})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["user_id"], g["user_id"])

    def test_same_secret_works_forever(self):
        g = self.daemon.new_guest()
        for _ in range(3):
            r = self.daemon.get("/login-as-guest?&user_id=%s&guest_secret=%s"
                                % (g["user_id"], g["guest_secret"]))
            self.assertEqual(r.status, 200)

    def test_godot_double_slash(self):
        r = self.daemon.get("//login-as-guest")
        self.assertEqual(r.status, 200, r)

    def test_refresh(self):
        g = self.daemon.new_guest()
        r = self.daemon.get("/refresh-access-token?&refresh_token=" + g["refresh_token"])
        self.assertEqual(r.status, 200, r)
        j = r.json()
        self.assertEqual(set(j), {"user_id", "auth_token", "refresh_token",
                                  "auth_token_expires_in", "refresh_token_expires_in"})
        self.assertEqual(j["user_id"], g["user_id"])
        self.assertNotEqual(j["refresh_token"], g["refresh_token"])
        old = jwt_parts(g["refresh_token"])[1]
        new = jwt_parts(j["refresh_token"])[1]
        self.assertEqual(new["exp"], old["exp"], "refresh keeps the original exp")
        self.assertEqual(jwt_parts(j["auth_token"])[1]["scope"], "guest")
        # The new refresh token refreshes again.
        r = self.daemon.get("/refresh-access-token?&refresh_token=" + j["refresh_token"])
        self.assertEqual(r.status, 200, r)

    def test_player_name_round_trip_raw_and_bearer(self):
        g = self.daemon.new_guest()
        r = self.daemon.get("/get-player-data", headers={"Authorization": g["auth_token"]})
        self.assertEqual(r.status, 200)
        self.assertEqual(r.json(), {"UserID": g["user_id"]})
        r = self.daemon.get("/set-player-data?&player_name=John%20Doe",
                            headers={"Authorization": g["auth_token"]})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json(), "Successfully updated player data")
        r = self.daemon.get("/get-player-data",
                            headers={"Authorization": "Bearer " + g["auth_token"]})
        self.assertEqual(r.status, 200)
        self.assertEqual(r.json(), {"UserID": g["user_id"], "PlayerName": "John Doe"})

    def test_player_name_answer_bytes(self):
        """get-player-data's body, byte for byte, whether the stored name is
        copied into the answer (a JSON string without escapes) or parsed and
        dumped again (anything else, also a name stored through the storage
        API with escapes, or a value that is no string)."""
        d = self.daemon
        g = d.new_guest()
        h = {"Authorization": g["auth_token"]}
        uid = g["user_id"]
        for name in ("John Doe", "Ren\u00e9 \U0001f600", 'say "hi"', "back\\slash",
                     "tab\there", "a/b"):
            r = d.get("/set-player-data?player_name=" + urllib.parse.quote(name, safe=""),
                      headers=h)
            self.assertEqual(r.status, 200, r)
            r = d.get("/get-player-data", headers=h)
            self.assertEqual(r.status, 200, r)
            want = json.dumps({"UserID": uid, "PlayerName": name}, separators=(",", ":"),
                              ensure_ascii=False).encode()
            self.assertEqual(r.body, want, name)
        # Stored through the storage API: escapes are decoded, a non-string is no name.
        for stored, shown in ((b'"\\u0041\\u00e9"', {"PlayerName": "A\u00e9"}), (b'42', {}),
                              (b'{"n":1}', {})):
            r = d.request("PUT", d.path("/player-data/player_name"),
                          {"Authorization": g["auth_token"], "Content-Type": "application/json"},
                          stored)
            self.assertIn(r.status, (200, 201), r)
            r = d.get("/get-player-data", headers=h)
            self.assertEqual(r.json(), dict({"UserID": uid}, **shown), stored)


class BasePath(unittest.TestCase):
    """base_path moves every route, /health and /.well-known included."""

    @classmethod
    def setUpClass(cls):
        cls.daemon = Daemon({"base_path": "/prod"}).start()

    @classmethod
    def tearDownClass(cls):
        cls.daemon.stop()
        cls.daemon.cleanup()

    def test_godot_url_under_base_path(self):
        r = self.daemon.request("GET", "/prod//login-as-guest")
        self.assertEqual(r.status, 200, r)
        p = jwt_parts(r.json()["auth_token"])[1]
        self.assertEqual(p["iss"], "http://127.0.0.1:%d/prod" % self.daemon.port)

    def test_outside_base_path_is_404(self):
        for t in ("/login-as-guest", "/health", "/.well-known/jwks.json", "/production/health"):
            self.assertEqual(self.daemon.request("GET", t).status, 404, t)

    def test_well_known_under_base_path(self):
        r = self.daemon.request("GET", "/prod/.well-known/openid-configuration")
        self.assertEqual(r.status, 200)
        j = r.json()
        self.assertEqual(j["issuer"], "http://127.0.0.1:%d/prod" % self.daemon.port)
        self.assertEqual(j["jwks_uri"], j["issuer"] + "/.well-known/jwks.json")


if __name__ == "__main__":
    unittest.main()
