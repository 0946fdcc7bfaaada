"""Platform logins and linking (API.md A.2, B unlink, C.1-C.4; README "Platform
logins and linking"; security.md (a) E-I) against a local fake provider.

The fake (tests/fakeprovider, built next to the daemon under test) plays
Steam, Apple's JWKS, Google's token and verify calls, Facebook's Graph and
any OIDC issuer's JWKS on loopback; what it answers depends on the credential
(see its README). Apple and OIDC ID tokens are signed here with keys made for
the run, whose public halves the fake serves. Nothing needs the internet.

Covered, per provider (Steam, Apple, Google Play, Facebook, OIDC RS256 and
ES256): first login creates a user with the exact A.2 body; the same id logs
in to the same user; guest -> link -> same user, scope authenticated, guest
secret still works; link with a bad auth_token -> 401; a link flag other than
exactly "Yes" creates a user; relinking replaces the old id; link conflict
under both policies; unlink (200, 404, 409); POST form/JSON; bans. Then every
rejection path of C.2 with exact status and body, the JWKS cache (refetch
throttle, outages, fail closed), the no-stall property, client disconnects
mid-call, concurrent first logins, metrics and log hygiene."""
import hashlib
import hmac
import base64
import json
import os
import re
import select
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import unittest
import urllib.parse
import urllib.request
import uuid

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

import gh
from gh import Daemon, jwt_parts

# ---------------------------------------------------------------------------
# Constants of the fake (tests/fakeprovider/README.md) and the daemon's answers

STEAM_KEY = "steam-test-key"
GP_CLIENT_ID = "gp-client-id.apps.googleusercontent.com"
GP_SECRET = "gp-client-secret"
GP_APP_ID = "1234567890"
FB_APP_ID = "fb-app-123"
APPLE_ISS = "https://appleid.apple.com"
APPLE_AUD = "com.example.game"
APPLE_AUD_WEB = "com.example.game.web"

ERR_STEAM = "Error: Failed to validate Steam token"
ERR_TOKEN = "Error: Token validation error"
ERR_GP_GEN = "Error: Failed to generate Google Play bearer token"
ERR_GP_VAL = "Error: Failed to validate Google Play bearer token"
ERR_FB_APP = "Error: Token not linked to correct app"
ERR_FB_USER = "Error: User validation error"
ERR_LINK = "Error: Failed to authenticate with existing identity"
ERR_UNAVAIL = "Error: Platform unavailable"
ERR_CONFLICT = "Error: Identity already linked to another user"
ERR_NOT_ENABLED = "Error: Platform not enabled"
ERR_BANNED = "Error: User is banned"
TEXT = "text/plain; charset=utf-8"

BASE_FIELDS = {"user_id", "auth_token", "refresh_token", "auth_token_expires_in",
               "refresh_token_expires_in"}
UUID4 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")

# Provider calls time out quickly in most classes; the no-stall class uses 5 s.
PROVIDER_TIMEOUT = 3 if gh.VALGRIND else 2
# How many concurrent clients the concurrency tests run.
CONCURRENT = 8 if gh.VALGRIND else 20


def fake_binary():
    """.../<build>/gatehouse or .../<build>/asan/gatehouse -> .../<build>/tests/fakeprovider"""
    build = os.path.dirname(os.path.abspath(gh.BIN))
    if os.path.basename(build) == "asan":
        build = os.path.dirname(build)
    return os.path.join(build, "tests", "fakeprovider")


# ---------------------------------------------------------------------------
# The fake provider process (one per module)

class FakeProvider:
    def __init__(self, directory):
        self.dir = directory
        self.log_path = os.path.join(directory, "fakeprovider.log")
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen([fake_binary(), "--port", "0", "--dir", directory],
                                     stdout=subprocess.PIPE, stderr=self.log)
        buf = b""
        deadline = time.time() + 20
        while b"\n" not in buf:
            left = deadline - time.time()
            ready = select.select([self.proc.stdout], [], [], max(left, 0))[0] if left > 0 else []
            if not ready:
                self.proc.kill()
                raise AssertionError("fakeprovider printed no port line")
            chunk = os.read(self.proc.stdout.fileno(), 256)
            if not chunk:
                raise AssertionError("fakeprovider exited at start: %s" % self.log_text())
            buf += chunk
        m = re.match(rb"^port (\d+)\n", buf)
        assert m, buf
        self.port = int(m.group(1))

    def url(self, path=""):
        return "http://127.0.0.1:%d%s" % (self.port, path)

    def call(self, path):
        with urllib.request.urlopen(self.url(path), timeout=10) as r:
            return json.loads(r.read())

    def control(self, target, mode):
        self.call("/_control?target=%s&mode=%s" % (target, mode))

    def count(self, target):
        return self.call("/_count?target=%s" % target)["fetches"]

    def reset(self):
        self.call("/_control?reset=1")

    def last_steam(self):
        return self.call("/_last/steam")

    def log_text(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def request_lines(self):
        return [ln for ln in self.log_text().splitlines()
                if not ln.startswith("fakeprovider: GET /_") and "listening" not in ln]

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError("fakeprovider did not stop on SIGTERM")
        finally:
            self.proc.stdout.close()
            self.log.close()
        assert rc == 0, "fakeprovider exit status %d" % rc


# ---------------------------------------------------------------------------
# Keys, key sets and ID tokens

class Keys:
    """Keys made once per run; their public halves are what the fake serves."""

    def __init__(self):
        def rsa_key():
            return rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.apple = rsa_key()
        self.apple2 = rsa_key()       # appears in Apple's JWKS only in the rotation test
        self.apple_ec = ec.generate_private_key(ec.SECP256R1())
        self.other = rsa_key()        # never published
        self.epic = rsa_key()
        self.es = ec.generate_private_key(ec.SECP256R1())
        self.es_rsa = rsa_key()       # published in the ES-only provider's set


KEYS = None
FAKE = None
TMP = None
SECRETS = {}


def jwk(key, kid, alg):
    pub = key.public_key()
    if isinstance(pub, rsa.RSAPublicKey):
        j = json.loads(RSAAlgorithm.to_jwk(pub))
    else:
        j = json.loads(ECAlgorithm.to_jwk(pub))
    j.update({"kid": kid, "alg": alg, "use": "sig"})
    return j


def apple_jwks(with_rotated=False):
    keys = [
        # An unparseable key first: the right key must still verify (security.md #74).
        {"kty": "RSA", "kid": "broken", "use": "sig", "alg": "RS256", "n": "!!!", "e": "AQAB"},
        jwk(KEYS.apple, "apple-k1", "RS256"),
        jwk(KEYS.apple_ec, "apple-ec", "ES256"),
    ]
    if with_rotated:
        keys.append(jwk(KEYS.apple2, "apple-k2", "RS256"))
    return {"keys": keys}


def write_json(name, doc):
    path = os.path.join(FAKE.dir, name)
    with open(path + ".tmp", "w") as f:
        json.dump(doc, f)
    os.replace(path + ".tmp", path)


def oidc_jwks_for(name):
    if name == "es":
        return {"keys": [jwk(KEYS.es, "es-k1", "ES256"), jwk(KEYS.es_rsa, "es-rsa", "RS256")]}
    return {"keys": [jwk(KEYS.epic, "%s-k1" % name, "RS256")]}


# The OIDC providers of the main class and of the JWKS outage class.
OIDC_MAIN = ("epic", "es", "claim")
OIDC_OUTAGE = ("d500", "dnotjson", "dhang", "dhuge", "dmissing", "stale")


def setUpModule():
    global KEYS, FAKE, TMP
    TMP = tempfile.mkdtemp(prefix="gatehouse-plat-")
    fake_dir = os.path.join(TMP, "fake")
    os.makedirs(fake_dir)
    KEYS = Keys()
    FAKE = FakeProvider(fake_dir)
    write_json("apple_jwks.json", apple_jwks())
    for name in OIDC_MAIN + OIDC_OUTAGE:
        write_json("oidc_%s_jwks.json" % name, oidc_jwks_for(name))
    # Trailing white space in a secret file is trimmed (API.md C.1).
    for name, value in (("steam", STEAM_KEY + "\n"), ("google", GP_SECRET + " \n"),
                        ("steam_wrong", "wrong-key\n")):
        path = os.path.join(TMP, name + ".secret")
        with open(path, "w") as f:
            f.write(value)
        SECRETS[name] = path


def tearDownModule():
    try:
        if FAKE:
            FAKE.stop()
    finally:
        shutil.rmtree(TMP, ignore_errors=True)


def now():
    return int(time.time())


def b64u(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def raw_jws(header, payload, sig=b""):
    h = b64u(json.dumps(header).encode())
    p = b64u(json.dumps(payload).encode())
    return "%s.%s.%s" % (h, p, b64u(sig) if isinstance(sig, bytes) else sig)


def sign(payload, key, kid, alg="RS256"):
    payload = {k: v for k, v in payload.items() if v is not None}
    return jwt.encode(payload, key, algorithm=alg, headers={"kid": kid})


def apple_claims(sub, **changes):
    t = now()
    c = {"iss": APPLE_ISS, "aud": APPLE_AUD, "sub": sub, "iat": t, "exp": t + 600,
         "email": "x@privaterelay.appleid.com", "email_verified": "true"}
    c.update(changes)
    return c


def apple_token(sub, key=None, kid="apple-k1", alg="RS256", **changes):
    return sign(apple_claims(sub, **changes), key or KEYS.apple, kid, alg)


OIDC_CONF = {
    "epic": {"iss": "https://epic.example", "aud": "epic-client", "key": "epic",
             "kid": "epic-k1", "alg": "RS256"},
    "es": {"iss": "https://es.example", "aud": "es-client", "key": "es",
           "kid": "es-k1", "alg": "ES256"},
    "claim": {"iss": "https://claim.example", "aud": "claim-client", "key": "epic",
              "kid": "claim-k1", "alg": "RS256"},
}
for _n in OIDC_OUTAGE:
    OIDC_CONF[_n] = {"iss": "https://%s.example" % _n, "aud": "%s-client" % _n, "key": "epic",
                     "kid": "%s-k1" % _n, "alg": "RS256"}


def oidc_token(provider, sub, key=None, kid=None, alg=None, **changes):
    conf = OIDC_CONF[provider]
    t = now()
    c = {"iss": conf["iss"], "aud": conf["aud"], "iat": t, "exp": t + 600}
    if provider == "claim":
        c.update({"sub": "not-the-subject", "uid": sub})
    else:
        c["sub"] = sub
    c.update(changes)
    return sign(c, key or getattr(KEYS, conf["key"]), kid or conf["kid"], alg or conf["alg"])


# ---------------------------------------------------------------------------
# Daemon settings

def oidc_settings(names):
    s = {"oidc_providers": ",".join(names)}
    for n in names:
        conf = OIDC_CONF[n]
        s["oidc_%s_issuer" % n] = conf["iss"]
        s["oidc_%s_jwks_url" % n] = FAKE.url("/oidc/%s/jwks" % n)
        s["oidc_%s_audiences" % n] = "other-client," + conf["aud"]
        if conf["alg"] != "RS256":
            s["oidc_%s_algs" % n] = conf["alg"]
    if "claim" in names:
        s["oidc_claim_subject_claim"] = "uid"
    return s


def platform_settings(**over):
    s = {
        "rate_limit_login": 0,
        "provider_timeout": PROVIDER_TIMEOUT,
        "steam_app_id": 480,
        "steam_web_api_key_file": SECRETS["steam"],
        "steam_api_url": FAKE.url(),
        "apple_app_ids": "%s,%s" % (APPLE_AUD, APPLE_AUD_WEB),
        "apple_keys_url": FAKE.url("/auth/keys"),
        "google_play_client_id": GP_CLIENT_ID,
        "google_play_client_secret_file": SECRETS["google"],
        "google_play_app_id": GP_APP_ID,
        "google_oauth_url": FAKE.url(),
        "google_games_url": FAKE.url(),
        "facebook_app_id": FB_APP_ID,
        "facebook_graph_url": FAKE.url(),
    }
    s.update(oidc_settings(OIDC_MAIN))
    s.update(over)
    return {k: v for k, v in s.items() if v is not None}


# ---------------------------------------------------------------------------
# Providers, as the generic tests see them

_ids = [0]
_ids_lock = threading.Lock()


def seq():
    with _ids_lock:
        _ids[0] += 1
        return _ids[0]


RUN = uuid.uuid4().hex[:8]


class Provider:
    key = route = id_field = platform = None
    oidc = None

    def new_id(self):
        raise NotImplementedError

    def cred(self, pid):
        raise NotImplementedError

    def extra_fields(self, pid):
        if self.oidc:
            return {"oidc_provider": self.oidc, "oidc_id": pid}
        return {self.id_field: pid}

    def get_user_value(self, account):
        if self.oidc:
            return account["oidc"].get(self.oidc)
        return account[self.id_field]


class Steam(Provider):
    key, route, id_field, platform = "steam", "/login-with-steam", "steam_id", "steam"

    def new_id(self):
        return str(76561198000000000 + int(RUN, 16) % 1000000 * 1000 + seq())

    def cred(self, pid):
        return {"steam_auth_token": "ok-" + pid}


class Apple(Provider):
    key, route, id_field, platform = "apple", "/login-with-apple-id", "apple_id", "apple"

    def new_id(self):
        return "%06d.%s%s.%04d" % (seq(), RUN, uuid.uuid4().hex[:24], seq() % 10000)

    def cred(self, pid):
        return {"apple_auth_token": apple_token(pid)}


class GooglePlay(Provider):
    key, route, id_field = "google_play", "/login-with-google-play", "google_play_id"
    platform = "google_play"

    def new_id(self):
        return "g%s%06d" % (RUN, seq())

    def cred(self, pid):
        return {"google_play_auth_token": "ok-" + pid}


class Facebook(Provider):
    key, route, id_field, platform = "facebook", "/login-with-facebook", "facebook_id", "facebook"

    def new_id(self):
        return "10%d%06d" % (int(RUN, 16) % 100000, seq())

    def cred(self, pid):
        return {"facebook_access_token": "ok-" + pid, "facebook_user_id": pid}


class Oidc(Provider):
    route = "/login-with-oidc"

    def __init__(self, name):
        self.oidc = name
        self.key = "oidc_" + name
        self.platform = "oidc:" + name

    def new_id(self):
        return "%s-%s-%d" % (self.oidc, uuid.uuid4().hex, seq())

    def cred(self, pid):
        return {"provider": self.oidc, "id_token": oidc_token(self.oidc, pid)}


STEAM, APPLE, GOOGLE, FACEBOOK = Steam(), Apple(), GooglePlay(), Facebook()
EPIC, ES = Oidc("epic"), Oidc("es")
PROVIDERS = (STEAM, APPLE, GOOGLE, FACEBOOK, EPIC, ES)


def query(params):
    return urllib.parse.urlencode(params, quote_via=urllib.parse.quote)


# ---------------------------------------------------------------------------
# Base class: one daemon per class, against the module's fake

class PlatformTest(unittest.TestCase):
    EXTRA = {}        # settings over platform_settings()
    ENV = None
    daemon = None

    @classmethod
    def settings(cls):
        return platform_settings(**cls.EXTRA)

    @classmethod
    def setUpClass(cls):
        cls.secrets_seen = set()
        cls.daemon = Daemon(cls.settings(), env=cls.ENV)
        try:
            cls.daemon.start()
        except BaseException:
            cls.daemon.cleanup()
            cls.daemon = None
            raise

    @classmethod
    def tearDownClass(cls):
        try:
            if cls.daemon and cls.daemon.proc:
                cls.daemon.stop()
        finally:
            if cls.daemon:
                cls.daemon.cleanup()

    def setUp(self):
        FAKE.reset()

    @property
    def d(self):
        return self.daemon

    # --- requests ---

    def remember(self, *values):
        for v in values:
            if isinstance(v, str) and len(v) >= 10:
                self.secrets_seen.add(v)

    def call(self, route, params, method="GET", timeout=30, d=None):
        d = d or self.daemon
        for k, v in params.items():
            if k in ("steam_auth_token", "apple_auth_token", "google_play_auth_token",
                     "facebook_access_token", "id_token", "auth_token"):
                self.remember(v)
                if k == "google_play_auth_token" and v.startswith("ok-"):
                    self.remember("at-" + v[3:])
        if method == "GET":
            r = d.get(route + "?" + query(params), timeout=timeout)
        elif method == "FORM":
            r = d.post(route, body=query(params), timeout=timeout,
                       headers={"Content-Type": "application/x-www-form-urlencoded"})
        else:
            r = d.post(route, body=dict(params), timeout=timeout)
        if r.status == 200 and r.header("Content-Type") == "application/json":
            j = r.json()
            self.remember(j.get("auth_token"), j.get("refresh_token"))
        return r

    def login(self, prov, pid, method="GET", d=None, **extra):
        p = prov.cred(pid)
        p.update(extra)
        return self.call(prov.route, p, method=method, d=d)

    def link(self, prov, pid, user, flag="Yes", d=None):
        return self.login(prov, pid, d=d, link_to_existing_user=flag,
                          auth_token=user["auth_token"])

    def guest_login(self, g, d=None):
        d = d or self.daemon
        return d.get("/login-as-guest?&user_id=%s&guest_secret=%s"
                     % (g["user_id"], g["guest_secret"]))

    def get_user(self, token, d=None):
        r = (d or self.daemon).get("/get-user", headers={"Authorization": token})
        self.assertEqual(r.status, 200, r)
        return r.json()

    def unlink(self, token, platform, d=None):
        return (d or self.daemon).post("/unlink-identity", body=query({"platform": platform}),
                                       headers={"Authorization": token,
                                                "Content-Type":
                                                "application/x-www-form-urlencoded"})

    # --- database ---

    def db(self, sql, *args, d=None):
        return gh.db_rows(d or self.daemon, sql, args)

    def owners(self, platform, pid, d=None):
        return [r[0] for r in self.db("SELECT user_id FROM identities WHERE provider=? "
                                      "AND subject=?", platform, pid, d=d)]

    # --- assertions ---

    def assertText(self, r, status, body, msg=None):
        self.assertEqual((r.status, r.body), (status, body.encode()), msg or r)
        self.assertEqual(r.header("Content-Type"), TEXT, msg)
        self.assertEqual(r.header("Access-Control-Allow-Origin"), "*", msg)

    def assertMissing(self, r, names):
        self.assertEqual(r.status, 400, r)
        self.assertEqual(r.body, ('{"message": "Missing required request parameters: [%s]"}'
                                  % names).encode())
        self.assertEqual(r.header("Content-Type"), "application/json")

    def assertLogin(self, r, prov, pid, user_id=None):
        """A platform login's 200: exactly the A.2 fields plus the platform's,
        scope authenticated. Returns the body."""
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.header("Content-Type"), "application/json")
        self.assertEqual(r.header("Access-Control-Allow-Origin"), "*")
        j = r.json()
        extra = prov.extra_fields(pid)
        self.assertEqual(set(j), BASE_FIELDS | set(extra), j)
        for k, v in extra.items():
            self.assertEqual(j[k], v)
        self.assertRegex(j["user_id"], UUID4)
        if user_id is not None:
            self.assertEqual(j["user_id"], user_id)
        for k in ("auth_token_expires_in", "refresh_token_expires_in"):
            self.assertIs(type(j[k]), int, k)
            self.assertGreater(j[k], 0, k)
        self.assertEqual(j["auth_token_expires_in"], 900)
        h, p = jwt_parts(j["auth_token"])
        self.assertEqual(h["alg"], "RS256")
        self.assertEqual((p["sub"], p["aud"], p["scope"]),
                         (j["user_id"], "gamebackend", "authenticated"))
        _, rp = jwt_parts(j["refresh_token"])
        self.assertEqual((rp["sub"], rp["aud"], rp["access_token_scope"]),
                         (j["user_id"], "refresh", "authenticated"))
        return j

    def expired_access_token(self, user_id):
        """A genuine access token of user_id, signed with the daemon's key, expired."""
        rows = self.db("SELECT kid, material FROM signing_keys WHERE use='access' "
                       "ORDER BY activate_at")
        kid, pem = rows[-1]
        key = serialization.load_pem_private_key(bytes(pem), password=None)
        t = now()
        claims = {"sub": user_id, "iss": "http://127.0.0.1:%d" % self.daemon.port, "kid": kid,
                  "aud": "gamebackend", "scope": "guest", "iat": t - 1000, "nbf": t - 1000,
                  "exp": t - 5}
        return jwt.encode(claims, key, algorithm="RS256", headers={"kid": kid})


# ---------------------------------------------------------------------------
# Generic tests, made once per provider

def g_first_login_creates_user(self, prov):
    pid = prov.new_id()
    self.assertEqual(self.owners(prov.platform, pid), [])
    users = self.db("SELECT count(*) FROM users")[0][0]
    j = self.assertLogin(self.login(prov, pid), prov, pid)
    self.assertEqual(self.owners(prov.platform, pid), [j["user_id"]])
    self.assertEqual(self.db("SELECT count(*) FROM users")[0][0], users + 1)
    self.assertEqual(self.db("SELECT count(*) FROM users WHERE user_id=?", j["user_id"])[0][0], 1)
    acct = self.get_user(j["auth_token"])
    self.assertEqual(prov.get_user_value(acct), pid)
    self.assertIs(acct["has_guest_secret"], False)
    # The refresh token refreshes to scope authenticated.
    r = self.d.get("/refresh-access-token?&refresh_token=" + j["refresh_token"])
    self.assertEqual(r.status, 200, r)
    self.assertEqual(r.json()["user_id"], j["user_id"])
    self.assertEqual(jwt_parts(r.json()["auth_token"])[1]["scope"], "authenticated")
    # The new access token works on the sample routes.
    r = self.d.get("/get-player-data", headers={"Authorization": j["auth_token"]})
    self.assertEqual((r.status, r.json()), (200, {"UserID": j["user_id"]}))


def g_same_id_same_user(self, prov):
    pid = prov.new_id()
    a = self.assertLogin(self.login(prov, pid), prov, pid)
    b = self.assertLogin(self.login(prov, pid), prov, pid, a["user_id"])
    self.assertNotEqual(a["refresh_token"], b["refresh_token"])
    self.assertEqual(self.owners(prov.platform, pid), [a["user_id"]])


def g_guest_link(self, prov):
    g = self.d.new_guest()
    pid = prov.new_id()
    j = self.assertLogin(self.link(prov, pid, g), prov, pid, g["user_id"])
    self.assertNotIn("guest_secret", j)
    self.assertEqual(self.owners(prov.platform, pid), [g["user_id"]])
    # The guest secret still logs in, with scope guest.
    r = self.guest_login(g)
    self.assertEqual(r.status, 200, r)
    self.assertEqual(r.json()["user_id"], g["user_id"])
    self.assertEqual(r.json()["guest_secret"], g["guest_secret"])
    self.assertEqual(jwt_parts(r.json()["auth_token"])[1]["scope"], "guest")
    # A plain platform login now reaches the same user.
    self.assertLogin(self.login(prov, pid), prov, pid, g["user_id"])
    acct = self.get_user(j["auth_token"])
    self.assertEqual(prov.get_user_value(acct), pid)
    self.assertIs(acct["has_guest_secret"], True)
    # The link's refresh token refreshes to scope authenticated.
    r = self.d.get("/refresh-access-token?&refresh_token=" + j["refresh_token"])
    self.assertEqual(r.status, 200, r)
    self.assertEqual(jwt_parts(r.json()["auth_token"])[1]["scope"], "authenticated")


def g_link_from_authenticated_scope(self, prov):
    """An access token of scope authenticated links too: a user made by
    another platform adds this one."""
    other = EPIC if prov is not EPIC else STEAM
    opid = other.new_id()
    owner = self.assertLogin(self.login(other, opid), other, opid)
    pid = prov.new_id()
    self.assertLogin(self.link(prov, pid, owner), prov, pid, owner["user_id"])
    self.assertLogin(self.login(prov, pid), prov, pid, owner["user_id"])
    self.assertLogin(self.login(other, opid), other, opid, owner["user_id"])


def g_link_bad_auth_token(self, prov):
    g = self.d.new_guest()
    bad = {
        "refresh token": g["refresh_token"],
        "expired access token": self.expired_access_token(g["user_id"]),
        "garbage": "garbage",
        "tampered": g["auth_token"][:-4] + ("AAAA" if not g["auth_token"].endswith("AAAA")
                                             else "BBBB"),
    }
    for what, tok in bad.items():
        with self.subTest(what):
            pid = prov.new_id()
            r = self.login(prov, pid, link_to_existing_user="Yes", auth_token=tok)
            self.assertText(r, 401, ERR_LINK)
            self.assertEqual(self.owners(prov.platform, pid), [], "nothing was linked")
    self.assertIsNone(prov.get_user_value(self.get_user(g["auth_token"])))


def g_link_of_deleted_user(self, prov):
    """A deleted user's still-unexpired access token links nothing (D.1: unknown)."""
    g = self.d.new_guest()
    r = self.d.post("/delete-user", headers={"Authorization": g["auth_token"]})
    self.assertEqual(r.status, 200, r)
    pid = prov.new_id()
    self.assertText(self.link(prov, pid, g), 401, ERR_LINK)
    self.assertEqual(self.owners(prov.platform, pid), [])


def g_link_flag_not_exactly_yes(self, prov):
    g = self.d.new_guest()
    for flag in ("yes", "true", "YES", "1", "Yes ", "Y"):
        with self.subTest(flag=flag):
            pid = prov.new_id()
            j = self.assertLogin(self.link(prov, pid, g, flag=flag), prov, pid)
            self.assertNotEqual(j["user_id"], g["user_id"])
            self.assertEqual(self.owners(prov.platform, pid), [j["user_id"]])
    # "Yes" without an auth_token: a new user as well.
    pid = prov.new_id()
    j = self.assertLogin(self.login(prov, pid, link_to_existing_user="Yes"), prov, pid)
    self.assertNotEqual(j["user_id"], g["user_id"])
    self.assertIsNone(prov.get_user_value(self.get_user(g["auth_token"])))


def g_relink_replaces(self, prov):
    g = self.d.new_guest()
    a, b = prov.new_id(), prov.new_id()
    self.assertLogin(self.link(prov, a, g), prov, a, g["user_id"])
    self.assertLogin(self.link(prov, b, g), prov, b, g["user_id"])
    self.assertEqual(self.owners(prov.platform, a), [])
    self.assertEqual(self.owners(prov.platform, b), [g["user_id"]])
    self.assertEqual(prov.get_user_value(self.get_user(g["auth_token"])), b)
    # The old id no longer logs in to this user: it makes a new one.
    j = self.assertLogin(self.login(prov, a), prov, a)
    self.assertNotEqual(j["user_id"], g["user_id"])
    self.assertLogin(self.login(prov, b), prov, b, g["user_id"])


def g_link_conflict(self, prov):
    """Default link_conflict login_existing (this class) or reject (LinkReject)."""
    pid = prov.new_id()
    owner = self.assertLogin(self.login(prov, pid), prov, pid)
    g = self.d.new_guest()
    r = self.link(prov, pid, g)
    if self.REJECT:
        self.assertText(r, 409, ERR_CONFLICT)
    else:
        self.assertLogin(r, prov, pid, owner["user_id"])
    # Neither account changed.
    self.assertEqual(self.owners(prov.platform, pid), [owner["user_id"]])
    self.assertIsNone(prov.get_user_value(self.get_user(g["auth_token"])))
    self.assertLogin(self.login(prov, pid), prov, pid, owner["user_id"])
    # Linking an id to the user who already holds it is no conflict.
    self.assertLogin(self.link(prov, pid, owner), prov, pid, owner["user_id"])


def g_unlink(self, prov):
    g = self.d.new_guest()
    pid = prov.new_id()
    j = self.assertLogin(self.link(prov, pid, g), prov, pid, g["user_id"])
    # Any scope: the guest's own (scope guest) access token unlinks.
    r = self.unlink(g["auth_token"], prov.platform)
    self.assertEqual(r.status, 200, r)
    self.assertEqual(r.header("Content-Type"), "application/json")
    self.assertEqual(r.json(), {"user_id": g["user_id"], "unlinked": prov.platform})
    self.assertEqual(self.owners(prov.platform, pid), [])
    self.assertIsNone(prov.get_user_value(self.get_user(j["auth_token"])))
    r = self.unlink(j["auth_token"], prov.platform)
    self.assertEqual(r.status, 404, r)
    self.assertEqual(r.json()["error"], "not_linked")
    # The guest secret still works; the platform id now makes a new user.
    self.assertEqual(self.guest_login(g).status, 200)
    n = self.assertLogin(self.login(prov, pid), prov, pid)
    self.assertNotEqual(n["user_id"], g["user_id"])


def g_unlink_last_method(self, prov):
    pid = prov.new_id()
    j = self.assertLogin(self.login(prov, pid), prov, pid)
    r = self.unlink(j["auth_token"], prov.platform)
    self.assertEqual(r.status, 409, r)
    self.assertEqual(r.header("Content-Type"), "application/json")
    self.assertEqual(r.json()["error"], "last_login_method")
    self.assertIn("message", r.json())
    self.assertEqual(self.owners(prov.platform, pid), [j["user_id"]])
    self.assertLogin(self.login(prov, pid), prov, pid, j["user_id"])
    # With a second link, the first may go; then the second is the last.
    other = STEAM if prov is not STEAM else EPIC
    opid = other.new_id()
    self.assertLogin(self.link(other, opid, j), other, opid, j["user_id"])
    r = self.unlink(j["auth_token"], prov.platform)
    self.assertEqual((r.status, r.json()), (200, {"user_id": j["user_id"],
                                                  "unlinked": prov.platform}))
    r = self.unlink(j["auth_token"], other.platform)
    self.assertEqual(r.status, 409, r)
    self.assertEqual(r.json()["error"], "last_login_method")


def g_post_form_and_json(self, prov):
    pid = prov.new_id()
    a = self.assertLogin(self.login(prov, pid, method="FORM"), prov, pid)
    self.assertLogin(self.login(prov, pid, method="JSON"), prov, pid, a["user_id"])
    self.assertLogin(self.login(prov, pid), prov, pid, a["user_id"])
    g = self.d.new_guest()
    pid = prov.new_id()
    p = prov.cred(pid)
    p.update({"link_to_existing_user": "Yes", "auth_token": g["auth_token"]})
    self.assertLogin(self.call(prov.route, p, method="JSON"), prov, pid, g["user_id"])


GENERIC = {
    "first_login_creates_user": g_first_login_creates_user,
    "same_id_same_user": g_same_id_same_user,
    "guest_link": g_guest_link,
    "link_from_authenticated_scope": g_link_from_authenticated_scope,
    "link_bad_auth_token": g_link_bad_auth_token,
    "link_of_deleted_user": g_link_of_deleted_user,
    "link_flag_not_exactly_yes": g_link_flag_not_exactly_yes,
    "relink_replaces_old_id": g_relink_replaces,
    "link_conflict": g_link_conflict,
    "unlink": g_unlink,
    "unlink_last_method": g_unlink_last_method,
    "post_form_and_json": g_post_form_and_json,
}


def with_generic(names, providers=PROVIDERS):
    def deco(cls):
        for prov in providers:
            for name in names:
                fn = GENERIC[name]

                def test(self, fn=fn, prov=prov):
                    fn(self, prov)
                test.__name__ = "test_%s_%s" % (prov.key, name)
                test.__doc__ = fn.__doc__
                setattr(cls, test.__name__, test)
        return cls
    return deco


# ---------------------------------------------------------------------------
# The main class: every provider on, default link_conflict

@with_generic(list(GENERIC))
class PlatformLogins(PlatformTest):
    REJECT = False

    # --- A.2 compat details ---

    def test_field_names_per_platform(self):
        names = {}
        for prov in PROVIDERS:
            pid = prov.new_id()
            j = self.assertLogin(self.login(prov, pid), prov, pid)
            names[prov.key] = sorted(set(j) - BASE_FIELDS)
        self.assertEqual(names, {
            "steam": ["steam_id"], "apple": ["apple_id"], "google_play": ["google_play_id"],
            "facebook": ["facebook_id"], "oidc_epic": ["oidc_id", "oidc_provider"],
            "oidc_es": ["oidc_id", "oidc_provider"]})

    def test_cache_control_and_request_id(self):
        pid = STEAM.new_id()
        r = self.login(STEAM, pid)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.header("Cache-Control"), "no-store")
        self.assertTrue(r.header("X-Request-Id"))
        r = self.call("/login-with-steam", {"steam_auth_token": "invalid"})
        self.assertText(r, 401, ERR_STEAM)
        self.assertTrue(r.header("X-Request-Id"))

    def test_get_user_shows_every_link(self):
        g = self.d.new_guest()
        ids = {}
        for prov in PROVIDERS:
            ids[prov.key] = prov.new_id()
            self.assertLogin(self.link(prov, ids[prov.key], g), prov, ids[prov.key],
                             g["user_id"])
        a = self.get_user(g["auth_token"])
        self.assertEqual(a["user_id"], g["user_id"])
        self.assertEqual((a["steam_id"], a["apple_id"], a["google_play_id"], a["facebook_id"]),
                         (ids["steam"], ids["apple"], ids["google_play"], ids["facebook"]))
        self.assertEqual(a["oidc"], {"epic": ids["oidc_epic"], "es": ids["oidc_es"]})
        self.assertIs(a["has_guest_secret"], True)
        # export-user-data lists the identities too.
        r = self.d.get("/export-user-data", headers={"Authorization": g["auth_token"]})
        self.assertEqual(r.status, 200, r)
        got = sorted((i["provider"], i["subject"]) for i in r.json()["identities"])
        self.assertEqual(got, sorted((p.platform, ids[p.key]) for p in PROVIDERS))

    def test_banned_user_gets_403_on_every_platform(self):
        g = self.d.new_guest()
        ids = {}
        for prov in PROVIDERS:
            ids[prov.key] = prov.new_id()
            self.assertLogin(self.link(prov, ids[prov.key], g), prov, ids[prov.key],
                             g["user_id"])
        r = self.d.cli("user", "ban", g["user_id"])
        self.assertEqual(r.returncode, 0, r.stderr)
        for prov in PROVIDERS:
            with self.subTest(prov.key):
                self.assertText(self.login(prov, ids[prov.key]), 403, ERR_BANNED)
        # A banned user's token links nothing either (a new id, linked to the banned user).
        pid = STEAM.new_id()
        r = self.link(STEAM, pid, g)
        self.assertIn(r.status, (401, 403), r)
        self.assertEqual(self.owners("steam", pid), [])

    def test_oidc_subject_claim_setting(self):
        prov = Oidc("claim")
        pid = prov.new_id()
        j = self.assertLogin(self.login(prov, pid), prov, pid)
        self.assertEqual(self.owners("oidc:claim", pid), [j["user_id"]])
        # Without the configured claim: refused (sub is not used instead).
        tok = sign({"iss": "https://claim.example", "aud": "claim-client", "sub": "s",
                    "exp": now() + 600}, KEYS.epic, "claim-k1")
        self.assertText(self.call("/login-with-oidc", {"provider": "claim", "id_token": tok}),
                        401, ERR_TOKEN)

    # --- missing parameters, disabled platforms ---

    def test_missing_parameters(self):
        cases = [
            ("/login-with-steam", {}, "steam_auth_token"),
            ("/login-with-steam", {"steam_auth_token": ""}, "steam_auth_token"),
            ("/login-with-steam", {"auth_token": "x", "link_to_existing_user": "Yes"},
             "steam_auth_token"),
            ("/login-with-apple-id", {}, "apple_auth_token"),
            ("/login-with-google-play", {}, "google_play_auth_token"),
            ("/login-with-facebook", {}, "facebook_access_token, facebook_user_id"),
            ("/login-with-facebook", {"facebook_user_id": "123"}, "facebook_access_token"),
            ("/login-with-facebook", {"facebook_access_token": "ok-1"}, "facebook_user_id"),
            ("/login-with-facebook", {"facebook_access_token": "ok-1", "facebook_user_id": ""},
             "facebook_user_id"),
            ("/login-with-oidc", {}, "provider, id_token"),
            ("/login-with-oidc", {"provider": "epic"}, "id_token"),
            ("/login-with-oidc", {"id_token": "x.y.z"}, "provider"),
        ]
        for route, params, names in cases:
            for method in ("GET", "FORM", "JSON"):
                with self.subTest(route=route, params=params, method=method):
                    self.assertMissing(self.call(route, params, method=method), names)
        # The exact body of the brief, byte for byte.
        r = self.d.get("/login-with-facebook")
        self.assertEqual(r.body, b'{"message": "Missing required request parameters: '
                                 b'[facebook_access_token, facebook_user_id]"}')

    def test_bad_input_on_platform_routes(self):
        """A.2b: duplicate parameters, a body that is not JSON or not an object
        of strings -> 400 Error: Invalid request; no provider call is made."""
        pid = STEAM.new_id()
        cases = [
            ("GET", "/login-with-steam?steam_auth_token=ok-%s&steam_auth_token=ok-1" % pid,
             None, None),
            ("POST", "/login-with-steam", {"Content-Type": "application/json"},
             '{"steam_auth_token": "ok-%s"' % pid),
            ("POST", "/login-with-steam", {"Content-Type": "application/json"},
             '{"steam_auth_token": 1}'),
            ("POST", "/login-with-steam", {"Content-Type": "application/json"},
             '["steam_auth_token"]'),
            ("POST", "/login-with-steam", {"Content-Type": "application/json"},
             '{"steam_auth_token": "ok-%s", "steam_auth_token": "ok-%s"}' % (pid, pid)),
            ("POST", "/login-with-facebook", {"Content-Type": "application/x-www-form-urlencoded"},
             "facebook_access_token=ok-1&facebook_user_id=1&facebook_user_id=2"),
        ]
        for method, target, headers, body in cases:
            with self.subTest(target=target, body=body):
                r = self.d.request(method, target, headers=headers, body=body)
                self.assertText(r, 400, "Error: Invalid request")
        self.assertEqual(self.owners("steam", pid), [])

    def test_preflight(self):
        for route in ("/login-with-steam", "/login-with-apple-id", "/login-with-google-play",
                      "/login-with-facebook", "/login-with-oidc", "/unlink-identity"):
            with self.subTest(route):
                r = self.d.request("OPTIONS", route, headers={
                    "Origin": "https://game.example", "Access-Control-Request-Method": "POST",
                    "Access-Control-Request-Headers": "authorization, content-type"})
                self.assertEqual(r.status, 204, r)
                methods = {m.strip().upper()
                           for m in (r.header("Access-Control-Allow-Methods") or "").split(",")}
                self.assertIn("POST", methods)
                allowed = {h.strip().lower()
                           for h in (r.header("Access-Control-Allow-Headers") or "").split(",")}
                self.assertTrue({"authorization", "content-type"} <= allowed, allowed)
                self.assertEqual(r.header("Access-Control-Allow-Origin"), "*")

    def test_unknown_oidc_provider_is_404(self):
        for name in ("nope", "EPIC", "epic ", "../epic", "oidc:epic", "d500"):
            with self.subTest(name):
                r = self.call("/login-with-oidc", {"provider": name,
                                                   "id_token": oidc_token("epic", "x")})
                self.assertText(r, 404, ERR_NOT_ENABLED)

    def test_oidc_token_of_another_provider(self):
        tok = oidc_token("epic", EPIC.new_id())
        self.assertText(self.call("/login-with-oidc", {"provider": "es", "id_token": tok}),
                        401, ERR_TOKEN)
        tok = oidc_token("es", ES.new_id())
        self.assertText(self.call("/login-with-oidc", {"provider": "epic", "id_token": tok}),
                        401, ERR_TOKEN)

    def test_unlink_parameters(self):
        g = self.d.new_guest()
        r = self.d.post("/unlink-identity", headers={"Authorization": g["auth_token"]},
                        body={})
        self.assertEqual(r.status, 400, r)
        r = self.d.post("/unlink-identity", body={"platform": "steam"})
        self.assertEqual(r.status, 401, r)
        self.assertEqual(r.json()["error"], "unauthorized")
        r = self.d.post("/unlink-identity", body={"platform": "steam"},
                        headers={"Authorization": g["refresh_token"]})
        self.assertEqual(r.status, 401, r)
        # JSON body works like the form.
        pid = STEAM.new_id()
        self.assertLogin(self.link(STEAM, pid, g), STEAM, pid, g["user_id"])
        r = self.d.post("/unlink-identity", body={"platform": "steam"},
                        headers={"Authorization": "Bearer " + g["auth_token"]})
        self.assertEqual((r.status, r.json()), (200, {"user_id": g["user_id"],
                                                      "unlinked": "steam"}))

    # --- Steam ---

    def steam(self, ticket, **kw):
        return self.call("/login-with-steam", {"steam_auth_token": ticket}, **kw)

    def test_steam_outbound_call(self):
        pid = STEAM.new_id()
        self.assertLogin(self.steam("ok-" + pid), STEAM, pid)
        self.assertEqual(FAKE.last_steam(), {"key": STEAM_KEY, "appid": "480",
                                             "ticket": "ok-" + pid, "identity": None})
        # A ticket full of URL syntax reaches Steam intact, as one parameter
        # (the fake names the player after everything behind "ok-").
        evil = "ok-1&appid=999&key=x#frag %s" % seq()
        self.assertLogin(self.steam(evil), STEAM, evil[3:])
        self.assertEqual(FAKE.last_steam(), {"key": STEAM_KEY, "appid": "480",
                                             "ticket": evil, "identity": None})

    def test_steam_family_sharing_uses_steamid(self):
        pid, owner = STEAM.new_id(), STEAM.new_id()
        j = self.assertLogin(self.steam("family-%s-%s" % (pid, owner)), STEAM, pid)
        self.assertEqual(self.owners("steam", pid), [j["user_id"]])
        self.assertEqual(self.owners("steam", owner), [])

    def test_steam_rejections(self):
        cases = ["invalid", "something-unknown", "pubban-" + STEAM.new_id(), "notok",
                 "nosteamid", "noresult-" + STEAM.new_id(),
                 "identity-required-" + STEAM.new_id()]
        for ticket in cases:
            with self.subTest(ticket):
                self.assertText(self.steam(ticket), 401, ERR_STEAM)
        self.assertEqual(self.db("SELECT count(*) FROM identities WHERE provider='steam' AND "
                                 "subject IN ('', 'hang')")[0][0], 0)

    def test_steam_empty_answer_is_malformed(self):
        """{} lacks Steam's "response" envelope altogether: a malformed reply,
        503 (API.md C.2), unlike an envelope whose params lack a result or a
        steamid, which Steam did answer (401)."""
        self.assertText(self.steam("empty"), 503, ERR_UNAVAIL)

    def test_steam_vac_banned_allowed_by_default(self):
        pid = STEAM.new_id()
        self.assertLogin(self.steam("vac-" + pid), STEAM, pid)

    def test_steam_provider_failures(self):
        for ticket in ("http500", "notjson", "huge", "hang"):
            with self.subTest(ticket):
                t0 = time.time()
                r = self.steam(ticket)
                self.assertText(r, 503, ERR_UNAVAIL)
                self.assertLess(time.time() - t0, PROVIDER_TIMEOUT + 20)
        self.assertEqual(self.owners("steam", "76561197960265728"), [])

    def test_steam_metrics(self):
        before = self.metrics()
        pid = STEAM.new_id()
        self.assertLogin(self.steam("ok-" + pid), STEAM, pid)
        self.assertText(self.steam("http500"), 503, ERR_UNAVAIL)
        self.assertText(self.steam("invalid"), 401, ERR_STEAM)
        after = self.metrics()

        def delta(name, **labels):
            key = (name, tuple(sorted(labels.items())))
            return after.get(key, 0) - before.get(key, 0)
        logins = "gatehouse_logins_total"
        self.assertEqual(delta(logins, method="steam", outcome="success"), 1)
        self.assertEqual(delta(logins, method="steam", outcome="provider_error"), 1)
        self.assertEqual(delta(logins, method="steam", outcome="rejected"), 1)
        calls = "gatehouse_provider_requests_total"
        self.assertEqual(delta(calls, provider="steam", outcome="ok"), 2)
        self.assertEqual(delta(calls, provider="steam", outcome="error"), 1)

    def metrics(self):
        r = self.d.get("/metrics")
        self.assertEqual(r.status, 200, r)
        out = {}
        for ln in r.text.splitlines():
            m = re.match(r'^([a-z_]+)\{(.*)\} (\S+)$', ln)
            if m:
                labels = tuple(sorted(re.findall(r'([a-z_]+)="([^"]*)"', m.group(2))))
                out[(m.group(1), labels)] = float(m.group(3))
        return out

    # --- Apple ---

    def apple(self, tok):
        return self.call("/login-with-apple-id", {"apple_auth_token": tok})

    def test_apple_accepts(self):
        t = now()
        cases = {
            "web services id": dict(aud=APPLE_AUD_WEB),
            "aud array containing ours": dict(aud=["com.other", APPLE_AUD]),
            "expired within clock_leeway": dict(exp=t - 10, iat=t - 600),
            "nbf within clock_leeway": dict(nbf=t + 10),
            "no nonce check": dict(nonce="whatever"),
            "no iat": dict(iat=None),
        }
        for what, changes in cases.items():
            with self.subTest(what):
                pid = APPLE.new_id()
                self.assertLogin(self.apple(apple_token(pid, **changes)), APPLE, pid)

    def test_apple_rejections(self):
        t = now()
        pid = APPLE.new_id()
        good = apple_token(pid)
        h, p, s = good.split(".")
        tampered_claims = apple_claims(APPLE.new_id())
        cases = {
            "bad signature (other key, right kid)": apple_token(pid, key=KEYS.other),
            "tampered payload": "%s.%s.%s" % (h, b64u(json.dumps(tampered_claims).encode()), s),
            "truncated signature": good[:-10],
            "unknown kid": apple_token(pid, kid="no-such-kid"),
            "unparseable key's kid": apple_token(pid, kid="broken"),
            "wrong audience": apple_token(pid, aud="com.other.app"),
            "aud array without ours": apple_token(pid, aud=["com.other.app", "x"]),
            "no aud": apple_token(pid, aud=None),
            "issuer with trailing slash": apple_token(pid, iss=APPLE_ISS + "/"),
            "issuer without scheme": apple_token(pid, iss="appleid.apple.com"),
            "issuer http": apple_token(pid, iss="http://appleid.apple.com"),
            "issuer suffix": apple_token(pid, iss=APPLE_ISS + ".evil"),
            "no iss": apple_token(pid, iss=None),
            "expired beyond clock_leeway": apple_token(pid, exp=t - 45, iat=t - 700),
            "no exp": apple_token(pid, exp=None),
            "nbf in the future": apple_token(pid, nbf=t + 120),
            "iat in the future": apple_token(pid, iat=t + 120),
            "no sub": apple_token(None),
            "empty sub": apple_token(""),
            "ES256 with an EC key from the set": apple_token(pid, key=KEYS.apple_ec,
                                                             kid="apple-ec", alg="ES256"),
            "RS512": apple_token(pid, alg="RS512"),
            "PS256": apple_token(pid, alg="PS256"),
            "alg none": raw_jws({"alg": "none", "kid": "apple-k1"}, apple_claims(pid)),
            "alg none with signature": raw_jws({"alg": "none", "kid": "apple-k1"},
                                               apple_claims(pid), b"x" * 32),
            "HS256 keyed with the public key": self.hs256_with_public_key(
                apple_claims(pid), KEYS.apple, "apple-k1"),
            "not a JWT": "not-a-jwt",
            "two segments": "%s.%s" % (h, p),
            "four segments": good + ".x",
        }
        for what, tok in cases.items():
            with self.subTest(what):
                self.assertText(self.apple(tok), 401, ERR_TOKEN)
        self.assertEqual(self.owners("apple", pid), [])

    def hs256_with_public_key(self, claims, key, kid):
        header = {"alg": "HS256", "kid": kid, "typ": "JWT"}
        pem = key.public_key().public_bytes(serialization.Encoding.PEM,
                                            serialization.PublicFormat.SubjectPublicKeyInfo)
        signing = "%s.%s" % (b64u(json.dumps(header).encode()),
                             b64u(json.dumps(claims).encode()))
        sig = hmac.new(pem, signing.encode(), hashlib.sha256).digest()
        return signing + "." + b64u(sig)

    # --- OIDC ---

    def oidc(self, provider, tok):
        return self.call("/login-with-oidc", {"provider": provider, "id_token": tok})

    def test_oidc_rejections(self):
        t = now()
        for name in ("epic", "es"):
            pid = "%s-%s" % (name, uuid.uuid4().hex)
            conf = OIDC_CONF[name]
            cases = {
                "wrong issuer": oidc_token(name, pid, iss=conf["iss"] + "/"),
                "wrong audience": oidc_token(name, pid, aud="someone-else"),
                "expired": oidc_token(name, pid, exp=t - 45, iat=t - 700),
                "nbf in the future": oidc_token(name, pid, nbf=t + 120),
                "no exp": oidc_token(name, pid, exp=None),
                "unknown kid": oidc_token(name, pid, kid="nope"),
                "alg none": raw_jws({"alg": "none", "kid": conf["kid"]},
                                    {"iss": conf["iss"], "aud": conf["aud"], "sub": pid,
                                     "exp": t + 600}),
            }
            if name == "epic":
                cases["other key, right kid"] = oidc_token(name, pid, key=KEYS.other)
                cases["HS256 keyed with the public key"] = self.hs256_with_public_key(
                    {"iss": conf["iss"], "aud": conf["aud"], "sub": pid, "exp": t + 600},
                    KEYS.epic, conf["kid"])
            else:
                # An RS256 token whose key is in the set is still refused by an
                # ES256-only provider.
                cases["RS256 on an ES256-only provider"] = oidc_token(
                    name, pid, key=KEYS.es_rsa, kid="es-rsa", alg="RS256")
                cases["other EC key, right kid"] = oidc_token(
                    name, pid, key=ec.generate_private_key(ec.SECP256R1()))
                cases["ES384 label"] = self.relabel(oidc_token(name, pid), "ES384")
            for what, tok in cases.items():
                with self.subTest(provider=name, case=what):
                    self.assertText(self.oidc(name, tok), 401, ERR_TOKEN)
            self.assertEqual(self.owners("oidc:" + name, pid), [])

    def relabel(self, tok, alg):
        h, p, s = tok.split(".")
        hdr = json.loads(base64.urlsafe_b64decode(h + "=" * (-len(h) % 4)))
        hdr["alg"] = alg
        return "%s.%s.%s" % (b64u(json.dumps(hdr).encode()), p, s)

    def test_oidc_audience_list(self):
        pid = EPIC.new_id()
        j = self.assertLogin(self.oidc("epic", oidc_token("epic", pid, aud="other-client")),
                             EPIC, pid)
        self.assertEqual(self.owners("oidc:epic", pid), [j["user_id"]])

    # --- Google Play ---

    def google(self, code):
        return self.call("/login-with-google-play", {"google_play_auth_token": code})

    def test_google_rejections(self):
        cases = [
            ("invalid", ERR_GP_GEN),
            ("unknown-code", ERR_GP_GEN),
            ("noaccesstoken", ERR_GP_GEN),
            ("wrongapp-" + GOOGLE.new_id(), ERR_GP_VAL),
            ("ok-noplayer-x", ERR_GP_VAL),
        ]
        for code, err in cases:
            with self.subTest(code):
                self.assertText(self.google(code), 401, err)

    def test_google_provider_failures(self):
        for code in ("http500", "notjson", "huge", "hang", "ok-verify500-x", "ok-verifyhang-x"):
            with self.subTest(code):
                self.assertText(self.google(code), 503, ERR_UNAVAIL)
        self.assertEqual(self.owners("google_play", "x"), [])
        self.assertEqual(self.owners("google_play", "hang"), [])

    def test_google_code_with_url_syntax(self):
        """Real server auth codes look like 4/0AX...: the code is form-encoded."""
        pid = "4/0AX+y=z&q%s" % seq()
        self.assertLogin(self.google("ok-" + pid), GOOGLE, pid)

    # --- Facebook ---

    def facebook(self, token, uid):
        return self.call("/login-with-facebook", {"facebook_access_token": token,
                                                  "facebook_user_id": uid})

    def test_facebook_rejections(self):
        uid = FACEBOOK.new_id()
        cases = [
            ("wrongapp-" + uid, uid, ERR_FB_APP),
            ("other-" + uid, uid, ERR_FB_USER),
            ("ok-" + uid, FACEBOOK.new_id(), ERR_FB_USER),  # the token names another user
            ("invalid", uid, ERR_FB_USER),
            ("noid-" + uid, uid, ERR_FB_USER),
        ]
        for token, user, err in cases:
            with self.subTest(token=token, user=user):
                self.assertText(self.facebook(token, user), 401, err)
        self.assertEqual(self.owners("facebook", uid), [])

    def test_facebook_provider_failures(self):
        uid = FACEBOOK.new_id()
        for token in ("http500", "notjson", "huge", "hang"):
            with self.subTest(token):
                self.assertText(self.facebook(token, uid), 503, ERR_UNAVAIL)
        self.assertEqual(self.owners("facebook", uid), [])

    def test_facebook_user_id_not_an_id_makes_no_call(self):
        before_calls = self.metrics()
        before_lines = len(FAKE.request_lines())
        for uid in ("../app", "app", "me", "1/../app", "1?fields=id", "1 2", "%2e%2e", "a" * 65,
                    "1#x"):
            with self.subTest(uid):
                self.assertText(self.facebook("ok-" + uid, uid), 401, ERR_FB_USER)
        time.sleep(0.3)
        self.assertEqual(FAKE.request_lines()[before_lines:], [])
        after = self.metrics()
        key = ("gatehouse_provider_requests_total",)
        for outcome in ("ok", "error"):
            k = key + (tuple(sorted({"provider": "facebook", "outcome": outcome}.items())),)
            self.assertEqual(after.get(k, 0), before_calls.get(k, 0), outcome)

    # --- concurrency ---

    def concurrent_logins(self, prov, pid, n):
        barrier = threading.Barrier(n)
        results = [None] * n
        creds = [prov.cred(pid) for _ in range(n)]

        def run(i):
            try:
                barrier.wait(timeout=30)
                results[i] = self.call(prov.route, creds[i], timeout=60)
            except Exception as e:  # reported below
                results[i] = e
        threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        return results

    def test_concurrent_first_logins_make_one_user(self):
        for prov in (STEAM, EPIC, FACEBOOK):
            with self.subTest(prov.key):
                pid = prov.new_id()
                users = self.db("SELECT count(*) FROM users")[0][0]
                results = self.concurrent_logins(prov, pid, CONCURRENT)
                for r in results:
                    self.assertIsInstance(r, gh.Response, r)
                    self.assertEqual(r.status, 200, r)
                ids = {r.json()["user_id"] for r in results}
                self.assertEqual(len(ids), 1, ids)
                self.assertEqual(self.owners(prov.platform, pid), list(ids))
                self.assertEqual(self.db("SELECT count(*) FROM users")[0][0], users + 1)

    def test_concurrent_links_of_one_new_id(self):
        """Several guests link the same new id at once: one of them gets it;
        the others log in as that one (login_existing)."""
        n = min(CONCURRENT, 8)
        guests = [self.d.new_guest() for _ in range(n)]
        pid = STEAM.new_id()
        barrier = threading.Barrier(n)
        results = [None] * n

        def run(i):
            barrier.wait(timeout=30)
            results[i] = self.link(STEAM, pid, guests[i])
        threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        self.assertTrue(all(r is not None and r.status == 200 for r in results), results)
        owner = self.owners("steam", pid)
        self.assertEqual(len(owner), 1)
        self.assertIn(owner[0], [g["user_id"] for g in guests])
        self.assertEqual({r.json()["user_id"] for r in results}, set(owner))

    # --- log hygiene (runs last in the class: zz) ---

    def test_zz_logs_never_hold_secrets(self):
        # One more of each, failures included, so that every path ran.
        g = self.d.new_guest()
        for prov in PROVIDERS:
            pid = prov.new_id()
            self.link(prov, pid, g)
        self.google("ok-verify500-" + GOOGLE.new_id())
        self.facebook("wrongapp-123456", "123456")
        self.steam("http500")
        self.remember(g["guest_secret"])
        log = self.d.log_text()
        self.assertIn("steam", log)  # the log is there and says something
        for secret in [STEAM_KEY, GP_SECRET] + sorted(self.secrets_seen):
            self.assertNotIn(secret, log, "the daemon log holds a secret")
        for secret in (STEAM_KEY, GP_SECRET):
            self.assertNotIn(secret.encode().hex(), log)


# ---------------------------------------------------------------------------
# link_conflict reject

@with_generic(["link_conflict", "guest_link", "relink_replaces_old_id"])
class LinkReject(PlatformTest):
    EXTRA = {"link_conflict": "reject"}
    REJECT = True

    def test_plain_login_of_a_held_id_still_logs_in(self):
        pid = STEAM.new_id()
        owner = self.assertLogin(self.login(STEAM, pid), STEAM, pid)
        # No link asked: no conflict.
        self.assertLogin(self.login(STEAM, pid), STEAM, pid, owner["user_id"])
        g = self.d.new_guest()
        self.assertLogin(self.login(STEAM, pid, link_to_existing_user="No",
                                    auth_token=g["auth_token"]), STEAM, pid, owner["user_id"])

    def test_concurrent_links_of_one_new_id(self):
        """security.md #97: several users link one new id at once; exactly one
        gets it, the others 409, one row."""
        n = min(CONCURRENT, 8)
        guests = [self.d.new_guest() for _ in range(n)]
        pid = EPIC.new_id()
        barrier = threading.Barrier(n)
        results = [None] * n

        def run(i):
            barrier.wait(timeout=30)
            results[i] = self.link(EPIC, pid, guests[i])
        threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        statuses = sorted(r.status for r in results)
        self.assertEqual(statuses, [200] + [409] * (n - 1), results)
        winner = [r.json()["user_id"] for r in results if r.status == 200][0]
        self.assertEqual(self.owners("oidc:epic", pid), [winner])
        for r in results:
            if r.status == 409:
                self.assertText(r, 409, ERR_CONFLICT)


# ---------------------------------------------------------------------------
# Our own misconfiguration is not the player's fault

class WrongGoogleClient(PlatformTest):
    """Google refusing our client (wrong secret: 401 invalid_client) is a
    server misconfiguration: 503, logged, and never a 401 for the player."""
    EXTRA = {"google_play_client_secret_file": None}
    ENV = {"GATEHOUSE_GOOGLE_PLAY_CLIENT_SECRET": "not-the-secret"}

    def test_invalid_client_is_503(self):
        pid = GOOGLE.new_id()
        r = self.call("/login-with-google-play", {"google_play_auth_token": "ok-" + pid})
        self.assertText(r, 503, ERR_UNAVAIL)
        self.assertIn("check google_play_client_id", self.d.log_text())
        self.assertNotIn("not-the-secret", self.d.log_text())


# ---------------------------------------------------------------------------
# Steam options: steam_identity, steam_reject_vac_banned, keys from the environment

class SteamOptions(PlatformTest):
    EXTRA = {"steam_identity": "gatehouse-test", "steam_reject_vac_banned": "on",
             "steam_web_api_key_file": None, "google_play_client_secret_file": None}
    ENV = {"GATEHOUSE_STEAM_WEB_API_KEY": STEAM_KEY,
           "GATEHOUSE_GOOGLE_PLAY_CLIENT_SECRET": GP_SECRET}

    def test_identity_is_sent(self):
        pid = STEAM.new_id()
        r = self.call("/login-with-steam", {"steam_auth_token": "identity-required-" + pid})
        self.assertLogin(r, STEAM, pid)
        self.assertEqual(FAKE.last_steam(), {"key": STEAM_KEY, "appid": "480",
                                             "ticket": "identity-required-" + pid,
                                             "identity": "gatehouse-test"})

    def test_vac_banned_refused_when_on(self):
        pid = STEAM.new_id()
        self.assertText(self.call("/login-with-steam", {"steam_auth_token": "vac-" + pid}),
                        401, ERR_STEAM)
        self.assertText(self.call("/login-with-steam", {"steam_auth_token": "pubban-" + pid}),
                        401, ERR_STEAM)
        self.assertEqual(self.owners("steam", pid), [])

    def test_google_secret_from_environment(self):
        pid = GOOGLE.new_id()
        self.assertLogin(self.call("/login-with-google-play",
                                   {"google_play_auth_token": "ok-" + pid}), GOOGLE, pid)
        log = self.d.log_text()
        self.assertNotIn(GP_SECRET, log)
        self.assertNotIn(STEAM_KEY, log)

    def test_wrong_web_api_key_is_503(self):
        d = Daemon(platform_settings(steam_web_api_key_file=SECRETS["steam_wrong"]))
        try:
            d.start()
            r = self.call("/login-with-steam", {"steam_auth_token": "ok-" + STEAM.new_id()},
                          d=d)
            self.assertText(r, 503, ERR_UNAVAIL)
            self.assertEqual(FAKE.last_steam()["key"], "wrong-key")
            self.assertNotIn("wrong-key", d.log_text())
            d.stop()
        finally:
            d.cleanup()


# ---------------------------------------------------------------------------
# No platform configured

class NoPlatforms(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.daemon = Daemon({"rate_limit_login": 0}).start()

    @classmethod
    def tearDownClass(cls):
        try:
            cls.daemon.stop()
        finally:
            cls.daemon.cleanup()

    def test_every_platform_route_is_404(self):
        cases = [
            ("/login-with-steam", {"steam_auth_token": "ok-1"}),
            ("/login-with-apple-id", {"apple_auth_token": "a.b.c"}),
            ("/login-with-google-play", {"google_play_auth_token": "ok-1"}),
            ("/login-with-facebook", {"facebook_access_token": "ok-1", "facebook_user_id": "1"}),
            ("/login-with-oidc", {"provider": "epic", "id_token": "a.b.c"}),
        ]
        for route, params in cases:
            for method in ("GET", "POST"):
                with self.subTest(route=route, method=method):
                    if method == "GET":
                        r = self.daemon.get(route + "?" + query(params))
                    else:
                        r = self.daemon.post(route, body=params)
                    self.assertEqual((r.status, r.body), (404, ERR_NOT_ENABLED.encode()), r)
                    self.assertEqual(r.header("Content-Type"), TEXT)

    def test_partial_google_settings_are_refused(self):
        """Google Play needs client id, secret file and app id all set: a
        partial set is a configuration error, never a half-working route."""
        d = Daemon({"google_play_client_id": GP_CLIENT_ID, "google_play_app_id": GP_APP_ID})
        try:
            r = d.cli("check-config")
            self.assertNotEqual(r.returncode, 0, r.stdout)
            self.assertIn("google_play", r.stderr)
        finally:
            d.cleanup()


class Reload(unittest.TestCase):
    """README: provider settings change with a reload (SIGHUP)."""

    def setUp(self):
        FAKE.reset()

    def reload(self, d, changes, probe, done):
        d.settings.update(changes)
        d.write_config()
        d.proc.send_signal(signal.SIGHUP)
        deadline = time.time() + 60
        while True:
            r = probe()
            if done(r) or time.time() > deadline:
                return r
            time.sleep(0.2)

    def test_sighup_turns_a_platform_on(self):
        d = Daemon(platform_settings(facebook_app_id=None))
        try:
            d.start()

            def fb():
                return d.get("/login-with-facebook?facebook_access_token=ok-5&facebook_user_id=5")
            r = fb()
            self.assertEqual((r.status, r.body), (404, ERR_NOT_ENABLED.encode()), r)
            r = self.reload(d, {"facebook_app_id": FB_APP_ID, "steam_identity": "gatehouse-test"},
                            fb, lambda r: r.status != 404)
            self.assertEqual(r.status, 200, r)
            self.assertEqual(r.json()["facebook_id"], "5")
            # The Steam change came with the same reload.
            r = d.get("/login-with-steam?steam_auth_token=identity-required-6")
            self.assertEqual(r.status, 200, r)
            self.assertEqual(FAKE.last_steam()["identity"], "gatehouse-test")
            d.stop()
        finally:
            d.cleanup()

    def test_sighup_turns_a_platform_off_and_clears_steam_identity(self):
        d = Daemon(platform_settings(steam_identity="gatehouse-test"))
        try:
            d.start()
            self.assertEqual(d.get("/login-with-steam?steam_auth_token=ok-5").status, 200)
            self.assertEqual(FAKE.last_steam()["identity"], "gatehouse-test")
            # steam_identity back to empty ("" in the file): no identity is sent.
            r = self.reload(d, {"steam_identity": ""},
                            lambda: (d.get("/login-with-steam?steam_auth_token=ok-7"),
                                     FAKE.last_steam()),
                            lambda r: r[1]["identity"] != "gatehouse-test")
            self.assertEqual(r[0].status, 200, r[0])
            self.assertEqual(r[1]["identity"], None, "steam_identity \"\" after a reload")
            # facebook_app_id emptied: the route is off.
            r = self.reload(d, {"facebook_app_id": ""},
                            lambda: d.get("/login-with-facebook?facebook_access_token=ok-5"
                                          "&facebook_user_id=5"),
                            lambda r: r.status != 200)
            self.assertEqual((r.status, r.body), (404, ERR_NOT_ENABLED.encode()), r)
            d.stop()
        finally:
            d.cleanup()


# ---------------------------------------------------------------------------
# JWKS cache: refetch throttle on an unknown kid, outages with cached keys

class JwksRefetch(PlatformTest):
    INTERVAL = 5 if gh.VALGRIND else 2
    EXTRA = {"jwks_refetch_interval": INTERVAL, "jwks_cache_ttl": "1h"}

    def apple(self, tok):
        return self.call("/login-with-apple-id", {"apple_auth_token": tok})

    def wait_interval(self):
        time.sleep(self.INTERVAL + 1.2)

    def tearDown(self):
        write_json("apple_jwks.json", apple_jwks())
        FAKE.reset()

    def test_unknown_kid_refetches_once_per_interval(self):
        pid = APPLE.new_id()
        self.assertLogin(self.apple(apple_token(pid)), APPLE, pid)
        self.wait_interval()
        c0 = FAKE.count("apple")
        for _ in range(5):
            self.assertText(self.apple(apple_token(pid, kid="unknown-kid")), 401, ERR_TOKEN)
        self.assertEqual(FAKE.count("apple"), c0 + 1, "exactly one refetch in the interval")
        # The known kid needs no fetch.
        self.assertLogin(self.apple(apple_token(pid)), APPLE, pid)
        self.assertEqual(FAKE.count("apple"), c0 + 1)
        self.wait_interval()
        for _ in range(3):
            self.assertText(self.apple(apple_token(pid, kid="unknown-kid-2")), 401, ERR_TOKEN)
        self.assertEqual(FAKE.count("apple"), c0 + 2, "one more after the interval")

    def test_rotation_is_picked_up_by_the_refetch(self):
        pid = APPLE.new_id()
        self.assertLogin(self.apple(apple_token(pid)), APPLE, pid)
        write_json("apple_jwks.json", apple_jwks(with_rotated=True))
        self.wait_interval()
        c0 = FAKE.count("apple")
        j = self.assertLogin(self.apple(apple_token(pid, key=KEYS.apple2, kid="apple-k2")),
                             APPLE, pid)
        self.assertEqual(FAKE.count("apple"), c0 + 1)
        self.assertEqual(self.owners("apple", pid), [j["user_id"]])

    def test_outage_cached_kid_works_unknown_kid_503(self):
        pid = APPLE.new_id()
        self.assertLogin(self.apple(apple_token(pid)), APPLE, pid)
        for mode in ("http500", "hang", "notjson", "huge", "missing"):
            with self.subTest(mode):
                FAKE.control("apple", mode)
                self.wait_interval()
                # Not cached: the refetch fails, so fail closed.
                self.assertText(self.apple(apple_token(pid, kid="rotated-" + mode)), 503,
                                ERR_UNAVAIL)
                # Cached keys keep working during the outage.
                self.assertLogin(self.apple(apple_token(pid)), APPLE, pid)
        FAKE.control("apple", "ok")
        self.wait_interval()
        # Reachable again: an unknown kid is an ordinary bad token.
        self.assertText(self.apple(apple_token(pid, kid="still-unknown")), 401, ERR_TOKEN)
        self.assertLogin(self.apple(apple_token(pid)), APPLE, pid)


class JwksOutage(PlatformTest):
    """Key sets never fetched yet while the endpoint fails: 503 (fail closed);
    an expired cache whose refresh fails keeps its keys."""
    EXTRA = {"jwks_refetch_interval": 2, "jwks_cache_ttl": 2}

    @classmethod
    def settings(cls):
        s = {k: v for k, v in platform_settings(**cls.EXTRA).items()
             if not k.startswith("oidc_")}
        s.update(oidc_settings(OIDC_OUTAGE))
        return s

    def tearDown(self):
        FAKE.reset()

    def oidc(self, name, pid, **kw):
        return self.call("/login-with-oidc", {"provider": name,
                                              "id_token": oidc_token(name, pid, **kw)})

    def test_fresh_cache_endpoint_down_is_503_then_recovers(self):
        modes = {"d500": "http500", "dnotjson": "notjson", "dhang": "hang", "dhuge": "huge",
                 "dmissing": "missing"}
        for name, mode in modes.items():
            with self.subTest(name):
                FAKE.control("oidc_" + name, mode)
                pid = "%s-%s" % (name, uuid.uuid4().hex)
                self.assertText(self.oidc(name, pid), 503, ERR_UNAVAIL)
                self.assertEqual(self.owners("oidc:" + name, pid), [])
                FAKE.control("oidc_" + name, "ok")
                prov = Oidc(name)
                deadline = time.time() + 30
                while True:
                    r = self.oidc(name, pid)
                    if r.status != 503 or time.time() > deadline:
                        break
                    time.sleep(0.5)
                self.assertLogin(r, prov, pid)

    def test_apple_fresh_cache_endpoint_down_is_503(self):
        FAKE.control("apple", "http500")
        pid = APPLE.new_id()
        self.assertText(self.call("/login-with-apple-id", {"apple_auth_token": apple_token(pid)}),
                        503, ERR_UNAVAIL)
        FAKE.control("apple", "ok")
        deadline = time.time() + 30
        while True:
            r = self.call("/login-with-apple-id", {"apple_auth_token": apple_token(pid)})
            if r.status != 503 or time.time() > deadline:
                break
            time.sleep(0.5)
        self.assertLogin(r, APPLE, pid)

    def test_expired_cache_keeps_its_keys_while_the_endpoint_fails(self):
        prov = Oidc("stale")
        pid = prov.new_id()
        self.assertLogin(self.oidc("stale", pid), prov, pid)
        for mode in ("http500", "hang", "notjson"):
            with self.subTest(mode):
                FAKE.control("oidc_stale", mode)
                c0 = FAKE.count("oidc_stale")
                time.sleep(3.2)  # past jwks_cache_ttl
                self.assertLogin(self.oidc("stale", pid), prov, pid)
                self.assertGreater(FAKE.count("oidc_stale"), c0, "a refresh was tried")
                FAKE.control("oidc_stale", "ok")


# ---------------------------------------------------------------------------
# No stall: a hanging provider never slows requests that need none

class NoStall(PlatformTest):
    TIMEOUT = 5
    EXTRA = {"provider_timeout": TIMEOUT}
    HANGING = 20

    def hang_logins(self, n, results):
        def run(i):
            t0 = time.time()
            try:
                r = self.daemon.get("/login-with-steam?steam_auth_token=hang",
                                    timeout=4 * self.TIMEOUT + 60)
            except Exception as e:
                r = e
            results[i] = (r, time.time() - t0)
        threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
        for t in threads:
            t.start()
        return threads

    def test_guest_logins_flow_while_platform_logins_hang(self):
        d = self.daemon
        results = [None] * self.HANGING
        threads = self.hang_logins(self.HANGING, results)
        time.sleep(0.5)  # the hanging logins are in
        t_start = time.time()
        latencies = []
        # A stream of guest logins, relogins and player-data calls for ~half the timeout.
        while time.time() - t_start < self.TIMEOUT / 2:
            t0 = time.time()
            g = d.new_guest()
            self.assertEqual(self.guest_login(g).status, 200)
            r = d.get("/set-player-data?player_name=x", headers={"Authorization": g["auth_token"]})
            self.assertEqual(r.status, 200, r)
            latencies.append(time.time() - t0)
        still_hanging = sum(1 for x in results if x is None)
        self.assertGreaterEqual(len(latencies), 1)
        # Generous bound: each round trip (three requests) well before the
        # provider timeout; under a stall they would wait for it.
        self.assertLess(max(latencies), self.TIMEOUT * 0.6, latencies)
        self.assertEqual(still_hanging, self.HANGING,
                         "the platform logins were hanging throughout the guest stream")
        for t in threads:
            t.join(4 * self.TIMEOUT + 90)
        for r, _ in results:
            self.assertIsInstance(r, gh.Response, r)
            self.assertText(r, 503, ERR_UNAVAIL)
        self.assertEqual(self.owners("steam", "76561197960265728"), [])
        # Afterwards everything works as before.
        pid = STEAM.new_id()
        self.assertLogin(self.call("/login-with-steam", {"steam_auth_token": "ok-" + pid}),
                         STEAM, pid)


class QueueBound(PlatformTest):
    """One platform worker and more hanging logins than it can take: a login
    that waited a whole provider_timeout for the worker is answered 503 at
    once instead of waiting another timeout behind the others (README
    "Platform logins and linking"). Without the bound the last of HANGING
    would be answered after HANGING timeouts."""
    TIMEOUT = PROVIDER_TIMEOUT
    EXTRA = {"provider_timeout": TIMEOUT, "provider_workers": 1}
    HANGING = 5
    hang_logins = NoStall.hang_logins

    def test_queued_logins_do_not_wait_a_timeout_each(self):
        results = [None] * self.HANGING
        for t in self.hang_logins(self.HANGING, results):
            t.join(self.HANGING * self.TIMEOUT + 90)
        for r, _ in results:
            self.assertIsInstance(r, gh.Response, r)
            self.assertText(r, 503, ERR_UNAVAIL)
        # A bound, not a timing: the old behaviour needs HANGING timeouts.
        slowest = max(t for _, t in results)
        self.assertLess(slowest, (self.HANGING - 1) * self.TIMEOUT, [t for _, t in results])
        self.assertIn("for a platform worker: answered 503", self.daemon.log_text())


class Disconnects(unittest.TestCase):
    """Clients that go away during a platform call, and a stop while calls
    hang: nothing leaks (valgrind, ASan), the daemon keeps serving and stops
    cleanly."""

    def setUp(self):
        FAKE.reset()
        self.d = Daemon(platform_settings(provider_timeout=PROVIDER_TIMEOUT))
        self.d.start()

    def tearDown(self):
        self.d.cleanup()

    def provider_errors(self):
        r = self.d.get("/metrics")
        m = re.search(r'^gatehouse_logins_total\{method="steam",outcome="provider_error"\} (\d+)$',
                      r.text, re.M)
        return int(m.group(1)) if m else 0

    def send_and_close(self, target, wait=0.3):
        s = socket.create_connection(("127.0.0.1", self.d.port))
        s.sendall(("GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % target).encode())
        time.sleep(wait)
        s.close()

    def test_client_disconnects_mid_call(self):
        n = 5
        for _ in range(n):
            self.send_and_close("/login-with-steam?steam_auth_token=hang")
        # Abruptly, with a reset.
        s = socket.create_connection(("127.0.0.1", self.d.port))
        s.sendall(b"GET /login-with-google-play?google_play_auth_token=hang HTTP/1.1\r\n"
                  b"Host: x\r\n\r\n")
        time.sleep(0.2)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        s.close()
        # The daemon keeps serving meanwhile.
        self.assertEqual(self.d.get("/login-as-guest").status, 200)
        deadline = time.time() + PROVIDER_TIMEOUT * 3 + 60
        while self.provider_errors() < n and time.time() < deadline:
            time.sleep(0.2)
        self.assertEqual(self.provider_errors(), n)
        g = self.d.new_guest()
        self.assertEqual(self.d.get("/get-player-data",
                                    headers={"Authorization": g["auth_token"]}).status, 200)
        pid = STEAM.new_id()
        r = self.d.get("/login-with-steam?steam_auth_token=ok-" + pid)
        self.assertEqual(r.status, 200, r)
        time.sleep(0.5)
        self.d.stop()   # clean exit; no leaks under valgrind

    def test_stop_while_calls_hang(self):
        results = []

        def run():
            try:
                results.append(self.d.get("/login-with-facebook?facebook_access_token=hang"
                                          "&facebook_user_id=1", timeout=120))
            except Exception as e:
                results.append(e)
        threads = [threading.Thread(target=run) for _ in range(4)]
        for t in threads:
            t.start()
        time.sleep(0.5)
        self.d.stop()   # asserts exit 0, no sanitizer or valgrind reports
        for t in threads:
            t.join(120)
        for r in results:
            # Either the provider timeout's 503 or a closed connection.
            if isinstance(r, gh.Response):
                self.assertEqual(r.status, 503, r)


if __name__ == "__main__":
    unittest.main()
