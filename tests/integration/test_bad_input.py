"""Bad input on the compat routes (API.md A.2, A.2b, A.5): missing and empty
parameters, bad guest credentials, malformed bodies, duplicate parameters,
invalid encodings, oversized bodies and unsupported content types. After
every test a new guest login still works (the daemon keeps serving)."""
import json
import socket
import unittest
import urllib.parse
import uuid

from gh import DaemonTest

TEXT = "text/plain; charset=utf-8"
JSON = "application/json"
ERR_INVALID = "Error: Invalid request"
ERR_GUEST = "Error: Could not validate user"
ERR_NO_SECRET = "Error: No guest_secret in query string"
MISSING_REFRESH = b'{"message": "Missing required request parameters: [refresh_token]"}'
MISSING_PLAYER_NAME = b'{"message": "Missing required request parameters: [player_name]"}'
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
JSON_CT = {"Content-Type": "application/json"}
MAX_BODY = 64 * 1024




def q(s):
    return urllib.parse.quote(s, safe="")


def read_http_response(sock):
    """Reads one HTTP/1.1 response (Content-Length framed) from sock.
    Returns (status, headers dict lower-case, body) or None when the
    connection was closed before any response."""
    data = b""
    while b"\r\n\r\n" not in data:
        try:
            c = sock.recv(65536)
        except (ConnectionResetError, socket.timeout):
            c = b""
        if not c:
            return None if not data else (0, {}, data)
        data += c
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    n = int(headers.get("content-length", "0"))
    while len(body) < n:
        try:
            c = sock.recv(65536)
        except (ConnectionResetError, socket.timeout):
            break
        if not c:
            break
        body += c
    return status, headers, body


class CompatBadInput(DaemonTest, unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.g = cls.daemon.new_guest()

    def tearDown(self):
        # The daemon keeps serving after each bad request.
        r = self.daemon.get("/login-as-guest")
        self.assertEqual(r.status, 200, r)

    # --- assertions ---

    def assertText(self, r, status, text):
        self.assertEqual(r.status, status, r)
        self.assertEqual(r.header("Content-Type"), TEXT, r)
        self.assertEqual(r.text, text)

    def assertJsonBytes(self, r, status, body):
        self.assertEqual(r.status, status, r)
        self.assertEqual(r.header("Content-Type"), JSON, r)
        self.assertEqual(r.body, body)

    def login_query(self, user_id, secret):
        return self.daemon.get("/login-as-guest?&user_id=%s&guest_secret=%s" % (user_id, secret))

    # --- missing and empty parameters ---

    def test_missing_refresh_token(self):
        for target in ("/refresh-access-token", "/refresh-access-token?", "/refresh-access-token?&",
                       "/refresh-access-token?&other=1"):
            with self.subTest(target):
                self.assertJsonBytes(self.daemon.get(target), 400, MISSING_REFRESH)
        self.assertJsonBytes(self.daemon.post("/refresh-access-token", body={}), 400, MISSING_REFRESH)
        self.assertJsonBytes(self.daemon.post("/refresh-access-token", body="", headers=FORM),
                             400, MISSING_REFRESH)

    def test_empty_refresh_token_is_missing(self):
        for target in ("/refresh-access-token?&refresh_token=", "/refresh-access-token?refresh_token"):
            with self.subTest(target):
                self.assertJsonBytes(self.daemon.get(target), 400, MISSING_REFRESH)
        self.assertJsonBytes(self.daemon.post("/refresh-access-token", body={"refresh_token": ""}),
                             400, MISSING_REFRESH)
        self.assertJsonBytes(self.daemon.post("/refresh-access-token", body="refresh_token=",
                                              headers=FORM), 400, MISSING_REFRESH)

    def test_user_id_without_guest_secret(self):
        uid = self.g["user_id"]
        for target in ("/login-as-guest?&user_id=" + uid,
                       "/login-as-guest?&user_id=%s&guest_secret=" % uid,
                       "/login-as-guest?user_id=%s&guest_secret" % uid):
            with self.subTest(target):
                self.assertText(self.daemon.get(target), 400, ERR_NO_SECRET)
        self.assertText(self.daemon.post("/login-as-guest", body={"user_id": uid}), 400, ERR_NO_SECRET)
        self.assertText(self.daemon.post("/login-as-guest", body={"user_id": uid, "guest_secret": ""}),
                        400, ERR_NO_SECRET)

    def test_empty_user_id_is_missing(self):
        # No user_id (empty counts as absent) -> a new guest.
        for target in ("/login-as-guest?&user_id=", "/login-as-guest?&user_id=&guest_secret="):
            with self.subTest(target):
                r = self.daemon.get(target)
                self.assertEqual(r.status, 200, r)
                self.assertNotEqual(r.json()["user_id"], self.g["user_id"])
                self.assertEqual(len(r.json()["guest_secret"]), 73)

    def test_missing_player_name(self):
        auth = {"Authorization": self.g["auth_token"]}
        for target in ("/set-player-data", "/set-player-data?&player_name=", "/set-player-data?x=1"):
            with self.subTest(target):
                self.assertJsonBytes(self.daemon.get(target, headers=auth), 400, MISSING_PLAYER_NAME)
        # Nothing was stored.
        r = self.daemon.get("/get-player-data", headers=auth)
        self.assertEqual(r.json(), {"UserID": self.g["user_id"]})

    # --- bad guest credentials ---

    def test_wrong_secret(self):
        uid, secret = self.g["user_id"], self.g["guest_secret"]
        other = self.daemon.new_guest()
        for bad in (secret[:-1], secret + "0", secret.upper(), other["guest_secret"],
                    secret[:36], "x"):
            with self.subTest(bad):
                self.assertText(self.login_query(uid, q(bad)), 401, ERR_GUEST)
        self.assertText(self.daemon.post("/login-as-guest",
                                         body={"user_id": uid, "guest_secret": secret[:-1]}),
                        401, ERR_GUEST)

    def test_unknown_user_id(self):
        self.assertText(self.login_query(str(uuid.uuid4()), q(self.g["guest_secret"])), 401, ERR_GUEST)

    def test_malformed_user_id(self):
        secret = self.g["guest_secret"]
        uid = self.g["user_id"]
        for bad in ("not-a-uuid", uid.upper(), uid[:-1], uid + "0", uid.replace("-", ""),
                    "{%s}" % uid, " " + uid, "' OR '1'='1", "../" + uid):
            with self.subTest(bad):
                self.assertText(self.login_query(q(bad), q(secret)), 401, ERR_GUEST)
        # 10 KB: too long for the URL, so sent in the body (JSON and form).
        big = "a" * 10240
        self.assertText(self.daemon.post("/login-as-guest", body={"user_id": big, "guest_secret": secret}),
                        401, ERR_GUEST)
        self.assertText(self.daemon.post("/login-as-guest", headers=FORM,
                                         body="user_id=%s&guest_secret=%s" % (big, q(secret))),
                        401, ERR_GUEST)

    # --- malformed bodies ---

    def test_invalid_json_body(self):
        for body in ('{"user_id":', "{", "nope", '{"user_id": "a",}', "{'user_id': 'a'}",
                     '{"user_id":"a"} x', "\xff"):
            with self.subTest(body):
                r = self.daemon.post("/login-as-guest", body=body.encode("latin-1"), headers=JSON_CT)
                self.assertText(r, 400, ERR_INVALID)
                r = self.daemon.post("/refresh-access-token", body=body.encode("latin-1"),
                                     headers=JSON_CT)
                self.assertText(r, 400, ERR_INVALID)

    def test_json_body_not_an_object_of_strings(self):
        uid, secret = self.g["user_id"], self.g["guest_secret"]
        bodies = [
            [], [uid, secret], [{"user_id": uid, "guest_secret": secret}], "x", 5, None,
            {"user_id": uid, "guest_secret": 5},
            {"user_id": uid, "guest_secret": None},
            {"user_id": uid, "guest_secret": [secret]},
            {"user_id": uid, "guest_secret": {"v": secret}},
            {"user_id": uid, "guest_secret": True},
            {"user_id": uid, "guest_secret": secret, "extra": 1},
        ]
        for b in bodies:
            with self.subTest(b):
                r = self.daemon.post("/login-as-guest", body=json.dumps(b), headers=JSON_CT)
                self.assertText(r, 400, ERR_INVALID)
        r = self.daemon.post("/refresh-access-token",
                             body=json.dumps({"refresh_token": 1}), headers=JSON_CT)
        self.assertText(r, 400, ERR_INVALID)

    def test_json_duplicate_keys(self):
        uid, secret = self.g["user_id"], self.g["guest_secret"]
        body = '{"user_id":"%s","guest_secret":"%s","user_id":"%s"}' % (uid, secret, uid)
        self.assertText(self.daemon.post("/login-as-guest", body=body, headers=JSON_CT), 400, ERR_INVALID)
        body = '{"refresh_token":"%s","refresh_token":"%s"}' % ((self.g["refresh_token"],) * 2)
        self.assertText(self.daemon.post("/refresh-access-token", body=body, headers=JSON_CT),
                        400, ERR_INVALID)

    def test_json_nul_and_lone_surrogate(self):
        uid, secret = self.g["user_id"], self.g["guest_secret"]
        for bad in ("a\\u0000b", "\\ud800", "\\udc00x"):
            with self.subTest(bad):
                body = '{"user_id":"%s","guest_secret":"%s"}' % (uid, secret + bad)
                self.assertText(self.daemon.post("/login-as-guest", body=body, headers=JSON_CT),
                                400, ERR_INVALID)

    def test_json_with_charset_is_accepted(self):
        # Control: a well-formed JSON body with a charset parameter works.
        r = self.daemon.post("/login-as-guest", headers={"Content-Type": "application/json; charset=utf-8"},
                             body=json.dumps({"user_id": self.g["user_id"],
                                              "guest_secret": self.g["guest_secret"]}))
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["user_id"], self.g["user_id"])

    # --- duplicate parameters ---

    def test_duplicate_query_parameters(self):
        uid, secret, rt = self.g["user_id"], self.g["guest_secret"], self.g["refresh_token"]
        for target in ("/login-as-guest?&user_id=%s&user_id=%s&guest_secret=%s" % (uid, uid, secret),
                       "/login-as-guest?&user_id=%s&guest_secret=%s&guest_secret=%s" % (uid, secret, secret),
                       "/login-as-guest?&user_id=%s&guest_secret=%s&user_id=" % (uid, secret),
                       "/refresh-access-token?&refresh_token=%s&refresh_token=%s" % (rt, rt),
                       "/refresh-access-token?refresh_token=%s&refresh_token=" % rt):
            with self.subTest(target[:40]):
                self.assertText(self.daemon.get(target), 400, ERR_INVALID)
        # Percent-encoding the name does not make it a different parameter.
        self.assertText(self.daemon.get("/login-as-guest?&user_id=%s&user%%5Fid=%s&guest_secret=%s"
                                        % (uid, uid, secret)), 400, ERR_INVALID)

    def test_duplicate_form_parameters(self):
        uid, secret = self.g["user_id"], self.g["guest_secret"]
        body = "user_id=%s&guest_secret=%s&guest_secret=%s" % (uid, q(secret), q(secret))
        self.assertText(self.daemon.post("/login-as-guest", body=body, headers=FORM), 400, ERR_INVALID)

    def test_parameter_in_query_and_body(self):
        uid, secret, rt = self.g["user_id"], self.g["guest_secret"], self.g["refresh_token"]
        r = self.daemon.post("/login-as-guest?&user_id=" + uid,
                             body={"user_id": uid, "guest_secret": secret})
        self.assertText(r, 400, ERR_INVALID)
        r = self.daemon.post("/login-as-guest?&user_id=" + uid, headers=FORM,
                             body="user_id=%s&guest_secret=%s" % (uid, q(secret)))
        self.assertText(r, 400, ERR_INVALID)
        r = self.daemon.post("/refresh-access-token?&refresh_token=" + rt, body={"refresh_token": rt})
        self.assertText(r, 400, ERR_INVALID)
        # The refresh token was not spent by the refused request.
        r = self.daemon.get("/refresh-access-token?&refresh_token=" + rt)
        self.assertEqual(r.status, 200, r)
        type(self).g = dict(self.g, refresh_token=r.json()["refresh_token"])

    # --- encodings ---

    def test_invalid_utf8_and_nul_in_query(self):
        uid, secret = self.g["user_id"], self.g["guest_secret"]
        for target in ("/login-as-guest?&user_id=%s&guest_secret=%s%%00" % (uid, secret),
                       "/login-as-guest?&user_id=%s%%00&guest_secret=%s" % (uid, secret),
                       "/login-as-guest?&user_id=%%00&guest_secret=%s" % secret,
                       "/login-as-guest?&user_id=%s&guest_secret=%s%%FF" % (uid, secret),
                       "/login-as-guest?&user_id=%s&guest_secret=%%C3%%28" % uid,
                       "/login-as-guest?&user_id=%s&guest_secret=%%ED%%A0%%80" % uid,
                       "/login-as-guest?&user_id=%s&guest_secret=%%C0%%AF" % uid,
                       "/login-as-guest?&user%%00id=%s&guest_secret=%s" % (uid, secret),
                       "/refresh-access-token?&refresh_token=%FF",
                       "/refresh-access-token?&refresh_token=a%00"):
            with self.subTest(target[-40:]):
                self.assertText(self.daemon.get(target), 400, ERR_INVALID)

    def test_malformed_percent_escapes(self):
        for target in ("/refresh-access-token?&refresh_token=%zz", "/refresh-access-token?&refresh_token=%4",
                       "/refresh-access-token?&refresh_token=%", "/login-as-guest?&user_id=%G0"):
            with self.subTest(target):
                self.assertText(self.daemon.get(target), 400, ERR_INVALID)

    def test_invalid_utf8_and_nul_in_form_body(self):
        uid, secret = self.g["user_id"], self.g["guest_secret"]
        for tail in ("%00", "%FF", "%C3%28"):
            with self.subTest(tail):
                body = "user_id=%s&guest_secret=%s%s" % (uid, q(secret), tail)
                self.assertText(self.daemon.post("/login-as-guest", body=body, headers=FORM),
                                400, ERR_INVALID)
        r = self.daemon.post("/login-as-guest", headers=JSON_CT,
                             body=b'{"user_id":"%s","guest_secret":"\xff"}' % uid.encode())
        self.assertText(r, 400, ERR_INVALID)

    # --- content types ---

    def test_unsupported_content_type(self):
        uid, secret = self.g["user_id"], self.g["guest_secret"]
        body = json.dumps({"user_id": uid, "guest_secret": secret})
        for ct in ("text/plain", "application/xml", "multipart/form-data; boundary=x",
                   "application/jsonx", "application/octet-stream", None):
            with self.subTest(ct):
                headers = {"Content-Type": ct} if ct else {}
                r = self.daemon.post("/login-as-guest", body=body, headers=headers)
                self.assertEqual(r.status, 415, r)
                self.assertEqual(r.header("Content-Type"), TEXT)
                self.assertTrue(r.text.startswith("Error: "), r)
        r = self.daemon.post("/refresh-access-token", body="refresh_token=x",
                             headers={"Content-Type": "text/plain"})
        self.assertEqual(r.status, 415, r)

    # --- body size ---

    def test_body_at_the_limit_is_accepted(self):
        uid, secret = self.g["user_id"], self.g["guest_secret"]
        body = json.dumps({"user_id": uid, "guest_secret": secret}).encode()
        body = body + b" " * (MAX_BODY - len(body))
        self.assertEqual(len(body), MAX_BODY)
        r = self.daemon.post("/login-as-guest", body=body, headers=JSON_CT)
        self.assertEqual(r.status, 200, r)

    def raw_exchange(self, head, body_chunks=()):
        """Sends head and then the body chunks (tolerating the daemon closing
        early); returns the parsed response or None."""
        s = socket.create_connection(("127.0.0.1", self.daemon.port), timeout=10)
        try:
            s.sendall(head)
            for c in body_chunks:
                try:
                    s.sendall(c)
                except (BrokenPipeError, ConnectionResetError):
                    break
            return read_http_response(s)
        finally:
            s.close()

    def test_body_over_limit_content_length(self):
        for route in ("/login-as-guest", "/refresh-access-token"):
            with self.subTest(route):
                # Announced size alone is refused, before any body byte.
                head = ("POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                        "Content-Length: %d\r\n\r\n" % (route, MAX_BODY + 1)).encode()
                resp = self.raw_exchange(head)
                self.assertIsNotNone(resp, "connection closed without a response")
                status, headers, body = resp
                self.assertEqual(status, 413, resp)
                self.assertEqual(headers.get("content-type"), TEXT)
                self.assertTrue(headers.get("x-request-id"))
                self.assertEqual(headers.get("access-control-allow-origin"), "*")
        # A client sending the whole body gets 413 (or, per A.2b, a close).
        r = None
        try:
            r = self.daemon.post("/login-as-guest", body=b" " * (MAX_BODY + 1), headers=JSON_CT)
        except (BrokenPipeError, ConnectionResetError):
            pass
        if r is not None:
            self.assertEqual(r.status, 413, r)

    def test_body_over_limit_chunked(self):
        chunk = b" " * 16384
        chunks = [b"%x\r\n%s\r\n" % (len(chunk), chunk)] * 5 + [b"0\r\n\r\n"]
        head = (b"POST /login-as-guest HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n")
        resp = self.raw_exchange(head, chunks)
        self.assertIsNotNone(resp, "connection closed without a response")
        status, headers, _ = resp
        self.assertEqual(status, 413, resp)
        self.assertEqual(headers.get("content-type"), TEXT)

    def test_chunked_body_under_limit_is_accepted(self):
        body = json.dumps({"user_id": self.g["user_id"], "guest_secret": self.g["guest_secret"]}).encode()
        half = len(body) // 2
        chunks = [b"%x\r\n%s\r\n" % (len(p), p) for p in (body[:half], body[half:])] + [b"0\r\n\r\n"]
        head = (b"POST /login-as-guest HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n")
        resp = self.raw_exchange(head, chunks)
        self.assertIsNotNone(resp)
        self.assertEqual(resp[0], 200, resp)
        self.assertEqual(json.loads(resp[2])["user_id"], self.g["user_id"])

    # --- content types of errors ---

    def test_error_content_types(self):
        r = self.daemon.get("/login-as-guest?&user_id=" + self.g["user_id"])
        self.assertEqual(r.status, 400)
        self.assertEqual(r.header("Content-Type"), TEXT)
        r = self.daemon.get("/refresh-access-token?&refresh_token=x")
        self.assertEqual(r.status, 401)
        self.assertEqual(r.header("Content-Type"), TEXT)
        r = self.daemon.get("/refresh-access-token")
        self.assertEqual(r.status, 400)
        self.assertEqual(r.header("Content-Type"), JSON)
        r = self.daemon.get("/get-player-data")
        self.assertEqual(r.status, 401)
        self.assertEqual(r.header("Content-Type"), JSON)
        self.assertEqual(r.json(), {"message": "Unauthorized"})


if __name__ == "__main__":
    unittest.main()
