"""HTTP behaviour of the daemon (API.md A.1, A.2, A.2b, B "Operations";
notes/security.md (a) K, L): size limits, the headers every response
carries, request ids, 404/405, CORS preflight, keep-alive, the access log
(never a query string, secret or token), JSON logs, idle timeouts and idle
connections not starving others."""
import http.client
import json
import re
import socket
import time
import unittest

from gh import Daemon, DaemonTest, Response

TEXT = "text/plain; charset=utf-8"
MAX_URL = 8 * 1024
MAX_HEADERS = 16 * 1024
MAX_BODY = 64 * 1024




# ---- raw HTTP helpers ----

def parse_response(data):
    """gh.Response from the bytes of one Content-Length framed response."""
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    n = int(headers.get("content-length", "0"))
    return Response(status, headers, body[:n]), body[n:]


def recv_response(sock, deadline=15):
    """Reads one response from sock; None when closed before one arrived."""
    sock.settimeout(deadline)
    data = b""
    while True:
        if b"\r\n\r\n" in data:
            head = data.split(b"\r\n\r\n", 1)[0].decode("latin-1").lower()
            m = re.search(r"\r\ncontent-length:\s*(\d+)", head)
            if len(data.split(b"\r\n\r\n", 1)[1]) >= (int(m.group(1)) if m else 0):
                return parse_response(data)[0]
        try:
            c = sock.recv(65536)
        except (ConnectionResetError, socket.timeout):
            c = b""
        if not c:
            return parse_response(data)[0] if b"\r\n\r\n" in data else None
        data += c


def raw_request(d, head, body=b""):
    """Sends head (and body, tolerating an early close) on a new socket and
    returns the response as a gh.Response (None if the daemon just closed).
    When the response closes the connection, waits for that close."""
    s = socket.create_connection(("127.0.0.1", d.port), timeout=15)
    try:
        try:
            s.sendall(head + body)
        except (BrokenPipeError, ConnectionResetError):
            pass
        r = recv_response(s)
        if r is not None and (r.header("Connection") or "").lower() == "close":
            try:
                while s.recv(65536):
                    pass
            except (ConnectionResetError, socket.timeout):
                pass
        return r
    finally:
        s.close()


def oversized_body_request(d, route="/login-as-guest"):
    return raw_request(d, ("POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                           "Content-Length: %d\r\n\r\n" % (d.path(route), MAX_BODY + 1)).encode())


def sample_responses(d):
    """One response of each kind the daemon gives: (label, expected status, Response)."""
    g = d.new_guest()
    out = [
        ("200 health", 200, d.get("/health")),
        ("200 login", 200, d.get("/login-as-guest")),
        ("200 jwks", 200, d.get("/.well-known/jwks.json")),
        ("200 player", 200, d.get("/get-player-data", headers={"Authorization": g["auth_token"]})),
        ("400 compat", 400, d.get("/login-as-guest?&user_id=" + g["user_id"])),
        ("400 missing", 400, d.get("/refresh-access-token")),
        ("401 compat", 401, d.get("/refresh-access-token?&refresh_token=x")),
        ("401 player", 401, d.get("/get-player-data")),
        ("404", 404, d.get("/no-such-route")),
        ("405", 405, d.request("DELETE", d.path("/login-as-guest"))),
        ("413", 413, oversized_body_request(d)),
        ("414", 414, d.get("/refresh-access-token?&refresh_token=" + "a" * MAX_URL)),
        ("431", 431, d.get("/get-player-data", headers={"X-Pad": "a" * (MAX_HEADERS + 1024)})),
        ("415", 415, d.post("/login-as-guest", body="x", headers={"Content-Type": "text/plain"})),
        ("204 preflight", 204, d.request("OPTIONS", d.path("/login-as-guest"),
                                         headers={"Origin": "https://game.example",
                                                  "Access-Control-Request-Method": "POST"})),
    ]
    return out


def far_oversized_responses(d):
    """Requests far beyond the limits (larger than the daemon's parse buffers)."""
    return [
        ("414 100 KB URL", 414, raw_request(d, ("GET %s?&refresh_token=%s HTTP/1.1\r\nHost: x\r\n\r\n"
                                                % (d.path("/refresh-access-token"), "a" * 102400)).encode())),
        ("431 100 KB header", 431, raw_request(d, ("GET %s HTTP/1.1\r\nHost: x\r\nAuthorization: %s\r\n\r\n"
                                                   % (d.path("/get-player-data"), "a" * 102400)).encode())),
    ]


LOGFMT = re.compile(r'(\w+)=("(?:[^"\\]|\\.)*"|\S*)')


def logfmt(line):
    out = {}
    for k, v in LOGFMT.findall(line):
        out[k] = json.loads(v) if v.startswith('"') else v
    return out


def access_lines(d):
    return [f for f in (logfmt(l) for l in d.log_text().splitlines()) if f.get("msg") == "access"]


def wait_for(pred, timeout=20):
    """Polls pred until true (log lines are written after the response)."""
    end = time.time() + timeout
    while time.time() < end:
        v = pred()
        if v:
            return v
        time.sleep(0.05)
    return pred()


class Http(DaemonTest, unittest.TestCase):

    # --- size limits ---

    def test_url_limit(self):
        base = "/health?pad="
        ok = base + "a" * (MAX_URL - len(base))
        self.assertEqual(len(ok), MAX_URL)
        self.assertEqual(self.daemon.get(ok).status, 200)
        r = self.daemon.get(ok + "a")
        self.assertEqual(r.status, 414, r)
        r = self.daemon.get("/refresh-access-token?&refresh_token=" + "a" * MAX_URL)
        self.assertEqual(r.status, 414, r)
        self.assertEqual(r.header("Content-Type"), TEXT)
        self.assertEqual(self.daemon.get("/health").status, 200)

    def test_header_limit(self):
        r = self.daemon.get("/health", headers={"X-Pad": "a" * (MAX_HEADERS - 4096)})
        self.assertEqual(r.status, 200, r)
        r = self.daemon.get("/health", headers={"X-Pad": "a" * (MAX_HEADERS + 1)})
        self.assertEqual(r.status, 431, r)
        # Many headers together over the limit.
        many = {"X-Pad-%d" % i: "b" * 3000 for i in range(6)}
        r = self.daemon.get("/login-as-guest", headers=many)
        self.assertEqual(r.status, 431, r)
        self.assertEqual(r.header("Content-Type"), TEXT)
        self.assertEqual(self.daemon.get("/health").status, 200)

    def test_far_oversized_url_and_headers(self):
        """Beyond libmicrohttpd's per-connection buffer (target plus headers
        over max_url_size + max_header_size + 8 KiB) libmicrohttpd refuses
        the request itself: the status is still 414 or 431 and the connection
        closes, but its reply carries none of our headers (README, Limits).
        The daemon keeps serving."""
        for label, status, r in far_oversized_responses(self.daemon):
            with self.subTest(label):
                self.assertIsNotNone(r, "closed without a response")
                self.assertEqual(r.status, status, r)
                self.assertEqual(r.header("Connection"), "close", r.headers)
        self.assertEqual(self.daemon.get("/health").status, 200)

    def test_endless_chunked_body_is_cut_off(self):
        """A chunked body with no Content-Length that goes on far past
        max_body_size: the daemon stops reading and closes the connection
        (or answers 413); it never buffers it, and keeps serving others."""
        s = socket.create_connection(("127.0.0.1", self.daemon.port), timeout=15)
        got = b""
        try:
            s.sendall(("POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                       "Transfer-Encoding: chunked\r\n\r\n"
                       % self.daemon.path("/login-as-guest")).encode())
            chunk = b"2000\r\n" + b"a" * 0x2000 + b"\r\n"
            for _ in range(8 * MAX_BODY // 0x2000):  # 8x the limit, never terminated
                try:
                    s.sendall(chunk)
                except (BrokenPipeError, ConnectionResetError):
                    break
            try:
                while True:
                    c = s.recv(65536)
                    if not c:
                        break
                    got += c
            except (ConnectionResetError, socket.timeout):
                pass
        finally:
            s.close()
        if got:
            self.assertTrue(got.startswith(b"HTTP/1.1 413"), got[:100])
        self.assertEqual(self.daemon.get("/health").status, 200)

    # --- common headers ---

    def test_every_response_has_request_id_and_cors(self):
        ids = set()
        for label, status, r in sample_responses(self.daemon):
            with self.subTest(label):
                self.assertIsNotNone(r, "closed without a response")
                self.assertEqual(r.status, status, r)
                self.assertTrue(r.header("X-Request-Id"), "%s: %r" % (label, r.headers))
                self.assertEqual(r.header("Access-Control-Allow-Origin"), "*", label)
                ids.add(r.header("X-Request-Id"))
        self.assertEqual(len(ids), 15, "request ids are not unique: %r" % ids)

    def test_request_id_echo(self):
        for rid in ("abc-123", "6f1c2a7e-1b2c-4d5e-8f90-123456789abc", "trace.id_1:2"):
            with self.subTest(rid):
                r = self.daemon.get("/health", headers={"X-Request-Id": rid})
                self.assertEqual(r.header("X-Request-Id"), rid)
                r = self.daemon.get("/nope", headers={"X-Request-Id": rid})
                self.assertEqual(r.status, 404)
                self.assertEqual(r.header("X-Request-Id"), rid)

    def test_insane_request_id_replaced(self):
        for rid in ("has spaces in it", "x" * 200, "a\tb", "<script>", "a;b=c", '"q"'):
            with self.subTest(rid[:20]):
                r = self.daemon.get("/health", headers={"X-Request-Id": rid})
                self.assertEqual(r.status, 200)
                got = r.header("X-Request-Id")
                self.assertTrue(got)
                self.assertNotEqual(got, rid)
                self.assertLessEqual(len(got), 64)
                self.assertRegex(got, r"^[A-Za-z0-9._:-]+$")

    # --- routing ---

    def test_unknown_route_404(self):
        for target in ("/no-such-route", "/login-as-guest/x", "/login-as-guestx", "/.well-known/x",
                       "/", "/player-data-x", "/%2e%2e/health"):
            with self.subTest(target):
                r = self.daemon.get(target)
                self.assertEqual(r.status, 404, r)
                self.assertTrue(r.header("X-Request-Id"))
                self.assertEqual(r.header("Access-Control-Allow-Origin"), "*")

    def test_wrong_method_405_with_allow(self):
        cases = [("DELETE", "/login-as-guest", {"GET", "POST"}),
                 ("PUT", "/refresh-access-token", {"GET", "POST"}),
                 ("DELETE", "/get-player-data", {"GET"}),
                 ("POST", "/health", {"GET"}),
                 ("PUT", "/.well-known/jwks.json", {"GET"}),
                 ("PATCH", "/login-as-guest", {"GET", "POST"})]
        for method, target, must in cases:
            with self.subTest(method=method, target=target):
                r = self.daemon.request(method, target)
                self.assertEqual(r.status, 405, r)
                allow = {m.strip().upper() for m in (r.header("Allow") or "").split(",")}
                self.assertTrue(must <= allow, "Allow %r lacks %r" % (r.header("Allow"), must))
                self.assertNotIn(method, allow)
                self.assertTrue(r.header("X-Request-Id"))
                self.assertEqual(r.header("Access-Control-Allow-Origin"), "*")

    def test_options_preflight(self):
        for target in ("/login-as-guest", "/refresh-access-token", "/set-player-data"):
            with self.subTest(target):
                r = self.daemon.request("OPTIONS", target, headers={
                    "Origin": "https://game.example",
                    "Access-Control-Request-Method": "POST",
                    "Access-Control-Request-Headers": "authorization, content-type"})
                self.assertEqual(r.status, 204, r)
                self.assertEqual(r.body, b"")
                methods = {m.strip().upper() for m in r.header("Access-Control-Allow-Methods").split(",")}
                self.assertIn("POST", methods)
                self.assertIn("GET", methods)
                allowed = {h.strip().lower() for h in r.header("Access-Control-Allow-Headers").split(",")}
                self.assertIn("authorization", allowed)
                self.assertIn("content-type", allowed)
                self.assertEqual(r.header("Access-Control-Allow-Origin"), "*")
                self.assertTrue(r.header("X-Request-Id"))

    # --- connections ---

    def test_keep_alive(self):
        conn = http.client.HTTPConnection("127.0.0.1", self.daemon.port, timeout=15)
        try:
            conn.request("GET", "/health")
            r1 = conn.getresponse()
            self.assertEqual(r1.status, 200)
            r1.read()
            self.assertNotEqual((r1.getheader("Connection") or "").lower(), "close")
            sock, local = conn.sock, conn.sock.getsockname()
            conn.request("GET", "/login-as-guest")
            r2 = conn.getresponse()
            self.assertEqual(r2.status, 200)
            self.assertIn("auth_token", json.loads(r2.read()))
            self.assertIs(conn.sock, sock, "the connection was not reused")
            self.assertEqual(conn.sock.getsockname(), local)
            # A POST with a body, then an error, then a GET, same connection.
            conn.request("POST", "/login-as-guest", body=b"{}",
                         headers={"Content-Type": "application/json"})
            r3 = conn.getresponse()
            r3.read()
            self.assertEqual(r3.status, 200)
            conn.request("GET", "/refresh-access-token?&refresh_token=x")
            r4 = conn.getresponse()
            self.assertEqual(r4.read(), b"Error: Failed to validate refresh token")
            self.assertEqual(r4.status, 401)
            conn.request("GET", "/health")
            r5 = conn.getresponse()
            r5.read()
            self.assertEqual(r5.status, 200)
            self.assertIs(conn.sock, sock)
        finally:
            conn.close()

    def test_pipelined_requests(self):
        s = socket.create_connection(("127.0.0.1", self.daemon.port), timeout=15)
        try:
            s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Request-Id: pipe-1\r\n\r\n"
                      b"GET /nope HTTP/1.1\r\nHost: x\r\nX-Request-Id: pipe-2\r\n\r\n"
                      b"GET /health HTTP/1.1\r\nHost: x\r\nX-Request-Id: pipe-3\r\nConnection: close\r\n\r\n")
            data = b""
            while True:
                c = s.recv(65536)
                if not c:
                    break
                data += c
        finally:
            s.close()
        got = []
        while data:
            r, data = parse_response(data)
            got.append((r.status, r.header("X-Request-Id")))
        self.assertEqual(got, [(200, "pipe-1"), (404, "pipe-2"), (200, "pipe-3")])

    def test_idle_connections_do_not_block_others(self):
        socks = []
        try:
            for i in range(50):
                s = socket.create_connection(("127.0.0.1", self.daemon.port), timeout=15)
                if i % 2:
                    # Half of them stall in the middle of a request.
                    s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n")
                socks.append(s)
            g = self.daemon.new_guest()
            self.assertIn("auth_token", g)
            r = self.daemon.get("/refresh-access-token?&refresh_token=" + g["refresh_token"])
            self.assertEqual(r.status, 200, r)
        finally:
            for s in socks:
                s.close()
        self.assertEqual(self.daemon.get("/health").status, 200)


class CorsOrigin(DaemonTest, unittest.TestCase):
    SETTINGS = {"cors_allow_origin": "https://game.example"}

    def test_every_response_uses_configured_origin(self):
        for label, status, r in sample_responses(self.daemon):
            with self.subTest(label):
                self.assertIsNotNone(r, "closed without a response")
                self.assertEqual(r.status, status, r)
                self.assertEqual(r.header("Access-Control-Allow-Origin"), "https://game.example")
                self.assertTrue(r.header("X-Request-Id"))

    def test_preflight(self):
        r = self.daemon.request("OPTIONS", "/login-as-guest", headers={
            "Origin": "https://game.example", "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type"})
        self.assertEqual(r.status, 204)
        self.assertEqual(r.header("Access-Control-Allow-Origin"), "https://game.example")


class AccessLog(DaemonTest, unittest.TestCase):
    """The access log: one line per request, with route and status, and never
    a query string, secret or token (ASVS 7.1.1; API.md A.1 "keeps secrets
    out of URLs and logs")."""

    def test_one_line_per_request_without_secrets(self):
        d = self.daemon
        marker = "QueryMarker7Zq"
        sent = []  # (request id, route, status)

        def req(rid, method, target, route, status, **kw):
            headers = dict(kw.pop("headers", {}), **{"X-Request-Id": rid})
            r = d.request(method, target, headers=headers, **kw)
            self.assertEqual(r.status, status, "%s: %r" % (rid, r))
            sent.append((rid, route, str(status)))
            return r

        g = req("log-1", "GET", "/login-as-guest", "/login-as-guest", 200).json()
        uid, secret = g["user_id"], g["guest_secret"]
        g2 = req("log-2", "GET", "/login-as-guest?&user_id=%s&guest_secret=%s" % (uid, secret),
                 "/login-as-guest", 200).json()
        g3 = req("log-3", "POST", "/login-as-guest", "/login-as-guest", 200,
                 body={"user_id": uid, "guest_secret": secret}).json()
        req("log-4", "GET", "/login-as-guest?&user_id=%s&guest_secret=%sX" % (uid, secret),
            "/login-as-guest", 401)
        f = req("log-5", "GET", "/refresh-access-token?&refresh_token=" + g["refresh_token"],
                "/refresh-access-token", 200).json()
        req("log-6", "GET", "/refresh-access-token?&refresh_token=" + g2["refresh_token"] + "x",
            "/refresh-access-token", 401)
        req("log-7", "GET", "/set-player-data?&player_name=" + marker, "/set-player-data", 200,
            headers={"Authorization": f["auth_token"]})
        req("log-8", "GET", "/get-player-data", "/get-player-data", 200,
            headers={"Authorization": "Bearer " + g3["auth_token"]})
        req("log-9", "GET", "/get-player-data?&token=" + g3["auth_token"], "/get-player-data", 401,
            headers={"Authorization": g3["refresh_token"]})
        req("log-10", "POST", "/refresh-access-token", "/refresh-access-token", 200,
            body="refresh_token=" + f["refresh_token"],
            headers={"Content-Type": "application/x-www-form-urlencoded"})
        req("log-11", "GET", "/no-such-route?guest_secret=" + secret, None, 404)
        req("log-12", "DELETE", "/login-as-guest?guest_secret=" + secret, "/login-as-guest", 405)

        ids = {rid for rid, _, _ in sent}
        lines = wait_for(lambda: (lambda ls: ls if ids <= {l.get("request_id") for l in ls} else None)(
            access_lines(d)))
        self.assertTrue(lines, "access lines missing:\n" + d.log_text()[-3000:])
        for rid, route, status in sent:
            with self.subTest(rid):
                mine = [l for l in lines if l.get("request_id") == rid]
                self.assertEqual(len(mine), 1, mine)
                if route:
                    self.assertEqual(mine[0].get("route"), route)
                self.assertEqual(mine[0].get("status"), status)

        text = d.log_text()
        secrets = {"guest secret": secret, "player name from the query": marker}
        for name, tok in (("auth", g["auth_token"]), ("auth2", g2["auth_token"]), ("auth3", g3["auth_token"]),
                          ("refreshed auth", f["auth_token"]), ("refresh", g["refresh_token"]),
                          ("refresh2", g2["refresh_token"]), ("refresh3", g3["refresh_token"]),
                          ("refreshed refresh", f["refresh_token"])):
            secrets[name + " token"] = tok
            secrets[name + " token signature"] = tok.rsplit(".", 1)[1]
        for name, value in secrets.items():
            with self.subTest(name):
                self.assertNotIn(value, text, "the log contains the %s" % name)
        for needle in ("guest_secret=", "refresh_token=", "player_name=", "token=", "?&"):
            with self.subTest(needle):
                self.assertNotIn(needle, text)

    def test_requests_refused_for_size_are_logged(self):
        d = self.daemon
        before = len(access_lines(d))
        d.get("/health?" + "a" * (MAX_URL + 10), headers={"X-Request-Id": "size-414"})
        d.get("/health", headers={"X-Request-Id": "size-431", "X-Pad": "a" * (MAX_HEADERS + 1024)})
        oversized_body_request(d)
        far_oversized_responses(d)  # each read until the daemon closed the connection
        d.get("/health", headers={"X-Request-Id": "size-end"})
        lines = wait_for(lambda: (lambda ls: ls if "size-end" in {l.get("request_id") for l in ls}
                                  else None)(access_lines(d)))
        self.assertTrue(lines, "no access line for the marker request")
        new = lines[before:]
        # The three refusals the daemon answers itself carry their status.
        statuses = sorted(l.get("status") for l in new if l.get("status") != "-")
        self.assertEqual(statuses, ["200", "413", "414", "431"], "access lines: %r" % (new,))
        # libmicrohttpd's own refusals are logged by it, with the status sent.
        text = d.log_text()
        self.assertIn("HTTP response code is 414", text)
        self.assertIn("HTTP response code is 431", text)
        # A request refused after its request line still gets an access line,
        # with a request id and the client address.
        refused = [l for l in new if l.get("status") == "-"]
        self.assertTrue(refused, "access lines: %r" % (new,))
        for l in refused:
            self.assertNotEqual(l.get("request_id"), "-", l)
            self.assertEqual(l.get("client"), "127.0.0.1", l)


class JsonLog(unittest.TestCase):

    def test_every_line_is_a_json_object(self):
        d = Daemon({"log_format": "json"})
        try:
            d.start()
            g = d.new_guest()
            d.get("/refresh-access-token?&refresh_token=" + g["refresh_token"])
            d.get("/refresh-access-token?&refresh_token=bad")
            d.get("/get-player-data", headers={"Authorization": g["auth_token"]})
            d.get("/nope", headers={"X-Request-Id": "json-404"})
            d.get("/health?" + "a" * (MAX_URL + 10))
            d.request("OPTIONS", "/login-as-guest")
            d.stop()
            lines = d.log_text().splitlines()
            self.assertGreater(len(lines), 6)
            access = []
            for line in lines:
                with self.subTest(line=line[:80]):
                    obj = json.loads(line)
                    self.assertIsInstance(obj, dict)
                    if obj.get("msg") == "access":
                        access.append(obj)
            self.assertGreaterEqual(len(access), 7)
            mine = [a for a in access if a.get("request_id") == "json-404"]
            self.assertEqual(len(mine), 1)
            self.assertEqual(str(mine[0].get("status")), "404")
            for a in access:
                self.assertIn("route", a)
                self.assertIn("status", a)
        finally:
            d.cleanup()


class IdleTimeout(DaemonTest, unittest.TestCase):
    SETTINGS = {"idle_timeout": "2s"}
    BOUND = 20  # generous: a functional check, not a timing one

    def assertClosed(self, s):
        s.settimeout(self.BOUND)
        data = b""
        try:
            while True:
                c = s.recv(65536)
                if not c:
                    return data
                data += c
        except ConnectionResetError:
            return data
        except socket.timeout:
            self.fail("connection still open after %d s (idle_timeout 2s)" % self.BOUND)

    def test_silent_connection_closed(self):
        s = socket.create_connection(("127.0.0.1", self.daemon.port))
        try:
            self.assertEqual(self.assertClosed(s), b"")
        finally:
            s.close()

    def test_idle_keep_alive_connection_closed(self):
        s = socket.create_connection(("127.0.0.1", self.daemon.port), timeout=15)
        try:
            s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
            r = recv_response(s)
            self.assertEqual(r.status, 200)
            self.assertEqual(self.assertClosed(s), b"")
        finally:
            s.close()
        self.assertEqual(self.daemon.get("/health").status, 200)


if __name__ == "__main__":
    unittest.main()
