"""The recipes of examples/ (issue 15), each run against the real daemon:
the token verifiers in C on libjwt, Node.js with jose and Python with PyJWT,
with real RS256 and ES256 tokens, after a key rotation, and against the
forgeries every verifier must refuse; and nginx with auth_request in front
of the sample backend, against genuine, bad, logged-out and banned tokens.

The C verifier and jose are built by `make examples` (a prerequisite of the
integration targets); nginx is Debian's, started here on a free loopback
port with its own prefix."""
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import unittest
import urllib.error
import urllib.request

from gh import Daemon, free_port, jwt_parts
from jwtforge import forgeries, resign

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EXAMPLES = os.path.join(ROOT, "examples")
VERIFY_C = os.path.join(EXAMPLES, "verify-c-libjwt", "verify-token")
VERIFY_NODE = os.path.join(ROOT, "build", "npm", "verify.mjs")
VERIFY_PY = os.path.join(EXAMPLES, "verify-python-pyjwt", "verify.py")
DEBIAN_PYTHON = "/usr/bin/python3"  # with Debian's python3-jwt
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"


def verifiers():
    """name -> command prefix (then ISSUER TOKEN, or --stdin ISSUER)."""
    missing = [p for p in (VERIFY_C, VERIFY_NODE) if not os.path.exists(p)]
    if missing:
        raise AssertionError("not built: %s (run `make examples`)" % ", ".join(missing))
    return {"c-libjwt": [VERIFY_C], "node-jose": ["node", VERIFY_NODE],
            "python-pyjwt": [DEBIAN_PYTHON, VERIFY_PY]}


def run(cmd, stdin=None):
    return subprocess.run(cmd, input=stdin, capture_output=True, text=True, timeout=60)


class VerifierRecipes:
    """Mixin: one daemon (signing_alg ALG, issuer_url its real address) per class."""
    ALG = None

    @classmethod
    def setUpClass(cls):
        cls.verifiers = verifiers()
        cls.daemon = Daemon({"signing_alg": cls.ALG})
        cls.daemon.settings["issuer_url"] = "http://127.0.0.1:%d" % cls.daemon.port
        cls.daemon.start()
        cls.issuer = cls.daemon.settings["issuer_url"]

    @classmethod
    def tearDownClass(cls):
        try:
            if cls.daemon.proc:
                cls.daemon.stop()
        finally:
            cls.daemon.cleanup()

    def stdin_run(self, name, tokens, *options):
        """Runs a verifier over tokens in --stdin mode: its answer lines."""
        cmd = self.verifiers[name] + list(options) + ["--stdin", self.issuer]
        r = run(cmd, "".join(t + "\n" for t in tokens))
        self.assertEqual(r.returncode, 0, "%s: %s" % (name, r.stderr))
        lines = r.stdout.splitlines()
        self.assertEqual(len(lines), len(tokens), "%s: %r" % (name, r.stdout))
        return lines

    def assertVerified(self, name, line, g):
        self.assertTrue(line.startswith("ok "), "%s: %s" % (name, line))
        claims = json.loads(line[3:])
        self.assertEqual(claims["sub"], g["user_id"], name)
        self.assertEqual(claims["sid"], jwt_parts(g["refresh_token"])[1]["sid"], name)
        self.assertEqual(claims["aud"], "gamebackend", name)
        return claims

    def test_genuine_token_one_shot(self):
        g = self.daemon.new_guest()
        self.assertEqual(jwt_parts(g["auth_token"])[0]["alg"], self.ALG)
        for name, cmd in self.verifiers.items():
            with self.subTest(name):
                r = run(cmd + [self.issuer, g["auth_token"]])
                self.assertEqual(r.returncode, 0, "%s: %s" % (name, r.stderr))
                self.assertEqual(json.loads(r.stdout)["sub"], g["user_id"])
                r = run(cmd + [self.issuer, g["refresh_token"]])
                self.assertEqual(r.returncode, 1, "%s: %r" % (name, r))
                self.assertTrue(r.stderr.strip(), name + ": a refusal says why")
                self.assertEqual(r.stdout, "", name)
        r = run([VERIFY_C, "--help"])
        self.assertEqual(r.returncode, 0)
        self.assertIn("verify-token [options] ISSUER TOKEN", r.stdout)
        self.assertEqual(run([VERIFY_C]).returncode, 2)

    def test_forgeries_are_refused(self):
        g = self.daemon.new_guest()
        forged = forgeries(self.daemon, g["auth_token"], g["refresh_token"])
        forged["guest token, scope admin"] = resign(self.daemon, g["auth_token"], scope="admin")
        names = list(forged)
        for name in self.verifiers:
            lines = self.stdin_run(name, [g["auth_token"]] + [forged[n] for n in names])
            self.assertVerified(name, lines[0], g)
            for what, line in zip(names, lines[1:]):
                with self.subTest(name, forgery=what):
                    self.assertTrue(line.startswith("refused "), "%s, %s: %s"
                                    % (name, what, line))
                    if name == "c-libjwt" and what in ("alg confusion", "alg none"):
                        # Refused by the pin, not by luck: libjwt alone would
                        # accept the HS256 token keyed with the public PEM.
                        self.assertIn("algorithm does not match", line)

    def test_key_rotation(self):
        d = self.daemon
        before = d.new_guest()
        old_kid = jwt_parts(before["auth_token"])[0]["kid"]
        # The C verifier as a long-running server: the key set is cached,
        # fetched again on the new kid, and at most once per interval.
        c = subprocess.Popen(self.verifiers["c-libjwt"] + ["--verbose", "--stdin", self.issuer],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
        try:
            c.stdin.write(before["auth_token"] + "\n")
            c.stdin.flush()
            self.assertVerified("c-libjwt", c.stdout.readline().strip(), before)
            r = d.cli("keys", "rotate")
            self.assertEqual(r.returncode, 0, r.stderr)
            after = None
            deadline = time.time() + 30  # the daemon picks it up within 5 s
            while time.time() < deadline:
                after = d.new_guest()
                if jwt_parts(after["auth_token"])[0]["kid"] != old_kid:
                    break
                time.sleep(0.2)
            self.assertNotEqual(jwt_parts(after["auth_token"])[0]["kid"], old_kid)
            self.assertEqual(jwt_parts(after["auth_token"])[0]["alg"], self.ALG)
            unknown = forgeries(d, after["auth_token"], after["refresh_token"])["unknown kid"]
            for tok in (after["auth_token"], before["auth_token"], unknown, unknown):
                c.stdin.write(tok + "\n")
            c.stdin.close()
            lines = c.stdout.read().splitlines()
            err = c.stderr.read()
        finally:
            if c.poll() is None:
                c.kill()
            c.wait()
        self.assertEqual(len(lines), 4, lines)
        self.assertVerified("c-libjwt", lines[0], after)
        self.assertVerified("c-libjwt", lines[1], before)  # the previous key is published
        self.assertTrue(lines[2].startswith("refused unknown kid"), lines[2])
        self.assertTrue(lines[3].startswith("refused unknown kid"), lines[3])
        # The first fetch, one on the new kid, none on the forged kids.
        self.assertEqual(err.count("fetched the key set"), 2, err)
        # Every verifier, started afresh: both tokens verify.
        for name, cmd in self.verifiers.items():
            with self.subTest(name):
                lines = self.stdin_run(name, [after["auth_token"], before["auth_token"]])
                self.assertVerified(name, lines[0], after)
                self.assertVerified(name, lines[1], before)
        # PyJWT's client too refetches on the new kid within one process.
        lines = self.stdin_run("python-pyjwt", [before["auth_token"], after["auth_token"],
                                                unknown])
        self.assertVerified("python-pyjwt", lines[0], before)
        self.assertVerified("python-pyjwt", lines[1], after)
        self.assertTrue(lines[2].startswith("refused"), lines[2])


class RS256Recipes(VerifierRecipes, unittest.TestCase):
    ALG = "RS256"


class ES256Recipes(VerifierRecipes, unittest.TestCase):
    ALG = "ES256"


def wait_port(port, proc, what, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise AssertionError("%s exited at start (%s)" % (what, proc.returncode))
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise AssertionError("%s did not listen on %d" % (what, port))


class NginxRecipe(unittest.TestCase):
    """examples/nginx: Debian's nginx with auth_request in front of the
    sample backend, gatehouse under a base_path."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="gatehouse-nginx-")
        os.chmod(cls.tmp, 0o755)  # nginx's workers may run as another user
        cls.procs = []
        try:
            cls.daemon = Daemon({"base_path": "/gh"}).start()
            cls.backend_port, cls.port = free_port(), free_port()
            cls.backend_log = os.path.join(cls.tmp, "backend.log")
            open(cls.backend_log, "w").close()
            cls.backend = subprocess.Popen(
                [DEBIAN_PYTHON, os.path.join(EXAMPLES, "nginx", "backend.py"),
                 str(cls.backend_port), "--log", cls.backend_log])
            cls.procs.append(cls.backend)
            wait_port(cls.backend_port, cls.backend, "the sample backend")
            for t in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
                os.makedirs(os.path.join(cls.tmp, "tmp", t), mode=0o777)
                os.chmod(os.path.join(cls.tmp, "tmp", t), 0o777)
            with open(os.path.join(EXAMPLES, "nginx", "gatehouse-forward-auth.conf.template")) as f:
                conf = f.read()
            for k, v in {"@LISTEN@": "127.0.0.1:%d" % cls.port,
                         "@GATEHOUSE@": "127.0.0.1:%d" % cls.daemon.port,
                         "@BASE_PATH@": "/gh", "@BACKEND@": "127.0.0.1:%d" % cls.backend_port,
                         "@PREFIX@": cls.tmp}.items():
                conf = conf.replace(k, v)
            cls.conf = os.path.join(cls.tmp, "nginx.conf")
            with open(cls.conf, "w") as f:
                f.write(conf)
            base = [NGINX, "-p", cls.tmp, "-e", os.path.join(cls.tmp, "error.log"),
                    "-c", cls.conf]
            r = subprocess.run(base + ["-t"], capture_output=True, text=True, timeout=30)
            assert r.returncode == 0, "nginx -t: " + r.stderr
            cls.nginx = subprocess.Popen(base + ["-g", "daemon off;"],
                                         stderr=subprocess.DEVNULL)
            cls.procs.append(cls.nginx)
            wait_port(cls.port, cls.nginx, "nginx")
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        for p in reversed(cls.procs):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM if p is not getattr(cls, "nginx", None)
                              else signal.SIGQUIT)
                try:
                    p.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
        d = getattr(cls, "daemon", None)
        if d:
            try:
                if d.proc:
                    d.stop()
            finally:
                d.cleanup()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def get(self, path, headers=None):
        req = urllib.request.Request("http://127.0.0.1:%d%s" % (self.port, path),
                                     headers=headers or {})
        try:
            with urllib.request.urlopen(req, timeout=15) as r:
                return r.status, r.headers, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.headers, e.read()

    def backend_hits(self):
        with open(self.backend_log) as f:
            return [json.loads(line) for line in f if line.strip()]

    def assertRefusedBeforeBackend(self, status, headers, what):
        n = len(self.backend_hits())
        code, h, body = self.get("/api/items", headers)
        self.assertEqual(code, status, "%s: %r" % (what, body))
        self.assertEqual(json.loads(body),
                         {"message": "Unauthorized" if status == 401 else "Forbidden"}, what)
        self.assertEqual(len(self.backend_hits()), n, what + ": the backend saw it")

    def test_token_reaches_backend_with_identity(self):
        g = self.daemon.new_guest()
        sid = str(jwt_parts(g["auth_token"])[1]["sid"])
        for auth in (g["auth_token"], "Bearer " + g["auth_token"]):
            code, _, body = self.get("/api/items?x=1", {"Authorization": auth})
            self.assertEqual(code, 200, body)
            j = json.loads(body)
            self.assertEqual(j["path"], "/api/items?x=1")
            self.assertEqual(j["user_id"], g["user_id"])
            hdrs = {k.lower(): v for k, v in j["gatehouse_headers"].items()}
            self.assertEqual(hdrs["x-gatehouse-scope"], "guest")
            self.assertEqual(hdrs["x-gatehouse-session-id"], sid)
            self.assertEqual(hdrs["x-gatehouse-token-expires"],
                             str(jwt_parts(g["auth_token"])[1]["exp"]))

    def test_client_sent_identity_headers_never_reach_backend(self):
        g = self.daemon.new_guest()
        forged = {"X-Gatehouse-User-Id": "00000000-0000-4000-8000-000000000000",
                  "X-Gatehouse-Scope": "authenticated", "X-Gatehouse-Session-Id": "999999",
                  "X-Gatehouse-Token-Expires": "99999999999"}
        code, _, body = self.get("/api/items", dict(forged, Authorization=g["auth_token"]))
        self.assertEqual(code, 200, body)
        hdrs = {k.lower(): v for k, v in json.loads(body)["gatehouse_headers"].items()}
        self.assertEqual(hdrs["x-gatehouse-user-id"], g["user_id"])
        self.assertEqual(hdrs["x-gatehouse-scope"], "guest")
        self.assertNotEqual(hdrs["x-gatehouse-session-id"], "999999")
        self.assertNotEqual(hdrs["x-gatehouse-token-expires"], "99999999999")
        # A token without sid (signed before the upgrade): gatehouse sends no
        # session id, and the client's does not take its place.
        old = resign(self.daemon, g["auth_token"], sid=None)
        code, _, body = self.get("/api/items", dict(forged, Authorization=old))
        self.assertEqual(code, 200, body)
        hdrs = {k.lower(): v for k, v in json.loads(body)["gatehouse_headers"].items()}
        self.assertEqual(hdrs["x-gatehouse-user-id"], g["user_id"])
        self.assertNotIn("x-gatehouse-session-id", hdrs)

    def test_refused_before_the_backend(self):
        d = self.daemon
        self.assertRefusedBeforeBackend(401, {}, "no token")
        self.assertRefusedBeforeBackend(401, {"Authorization": "Bearer not.a.token"}, "garbage")
        g = d.new_guest()
        for what, tok in forgeries(d, g["auth_token"], g["refresh_token"]).items():
            with self.subTest(what):
                self.assertRefusedBeforeBackend(401, {"Authorization": tok}, what)
        # Logged out: refused at once, though the JWT is still unexpired.
        self.assertEqual(d.post("/logout", body={"refresh_token": g["refresh_token"]}).status,
                         200)
        self.assertRefusedBeforeBackend(401, {"Authorization": g["auth_token"]}, "logged out")
        # Banned: 403.
        g = d.new_guest()
        self.assertEqual(self.get("/api/items", {"Authorization": g["auth_token"]})[0], 200)
        self.assertEqual(d.cli("user", "ban", g["user_id"]).returncode, 0)
        self.assertRefusedBeforeBackend(403, {"Authorization": g["auth_token"]}, "banned")

    def test_scope_per_location(self):
        g = self.daemon.new_guest()
        n = len(self.backend_hits())
        code, _, body = self.get("/api/account/profile", {"Authorization": g["auth_token"]})
        self.assertEqual(code, 403, body)
        self.assertEqual(len(self.backend_hits()), n)
        tok = resign(self.daemon, g["auth_token"], scope="authenticated")
        code, _, body = self.get("/api/account/profile", {"Authorization": tok})
        self.assertEqual(code, 200, body)
        hdrs = {k.lower(): v for k, v in json.loads(body)["gatehouse_headers"].items()}
        self.assertEqual(hdrs["x-gatehouse-scope"], "authenticated")


if __name__ == "__main__":
    unittest.main()
