"""Our access tokens checked by an independent verifier built the way API
Gateway's JWT authorizer and aws-jwt-verify work (API.md A.3, A.4): it is
configured with nothing but an issuer URL and an audience, fetches
<issuer>/.well-known/openid-configuration over HTTP, follows jwks_uri, picks
the key by kid (refetching the JWKS once on an unknown kid), and verifies
signature, iss, aud and exp with Debian's python3-jwt (PyJWT) and
python3-cryptography. No gatehouse code takes part in the verification."""
import json
import re
import time
import unittest
import urllib.request

import jwt
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from gh import Daemon, DaemonTest, jwt_parts

AUDIENCE = "gamebackend"
PRIVATE_MEMBERS = ("d", "p", "q", "dp", "dq", "qi", "k", "oth")

# Talk to the loopback daemon directly, whatever proxy the environment names.
urllib.request.install_opener(urllib.request.build_opener(urllib.request.ProxyHandler({})))


def http_get(url):
    """(status, headers with lower-case names, body bytes) of a plain GET."""
    req = urllib.request.Request(url, headers={"Accept": "application/json"})
    with urllib.request.urlopen(req, timeout=15) as r:
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()


def media_type(headers):
    return (headers.get("content-type") or "").split(";")[0].strip().lower()


class JwtAuthorizer:
    """Verifies access tokens of one issuer like an API gateway would."""

    def __init__(self, issuer, audience=AUDIENCE):
        self.issuer = issuer
        self.audience = audience
        status, self.discovery_headers, body = http_get(
            issuer + "/.well-known/openid-configuration")
        assert status == 200, status
        self.discovery = json.loads(body)
        self.algorithms = list(self.discovery["id_token_signing_alg_values_supported"])
        # Caches the key set; refetches it once when a token names an unknown kid
        # (what aws-jwt-verify does after an emergency rotation).
        self.jwks_client = jwt.PyJWKClient(self.discovery["jwks_uri"])

    def verify(self, token):
        header = jwt.get_unverified_header(token)
        if header.get("alg") not in self.algorithms:
            raise jwt.InvalidAlgorithmError("alg %r not announced by the issuer"
                                            % header.get("alg"))
        jwk = self.jwks_client.get_signing_key(header.get("kid"))
        data = jwk._jwk_data
        if data.get("use", "sig") != "sig":
            raise jwt.InvalidKeyError("key is not a signing key")
        if data.get("alg") not in (None, header["alg"]):
            raise jwt.InvalidAlgorithmError("token alg differs from the key's alg")
        return jwt.decode(token, jwk.key, algorithms=self.algorithms,
                          audience=self.audience, issuer=self.issuer,
                          options={"require": ["exp", "iat", "iss", "aud", "sub"]})


def verify_with_jwks(token, jwks, algorithms, issuer, audience=AUDIENCE):
    """The same check with keys built by hand from a JWKS document."""
    kid = jwt.get_unverified_header(token).get("kid")
    for k in jwks["keys"]:
        if k.get("kid") == kid:
            key = (RSAAlgorithm if k["kty"] == "RSA" else ECAlgorithm).from_jwk(json.dumps(k))
            return jwt.decode(token, key, algorithms=algorithms, audience=audience,
                              issuer=issuer, options={"require": ["exp", "iat", "iss", "aud"]})
    raise jwt.InvalidTokenError("kid %r not in the JWKS" % kid)


class AuthorizerChecks:
    """Checks shared by the RS256 and ES256 daemons (mixin)."""
    ALG = "RS256"
    KTY = "RSA"

    def issuer(self):
        return self.daemon.base_url

    def test_discovery_document(self):
        status, headers, body = http_get(self.issuer() + "/.well-known/openid-configuration")
        self.assertEqual(status, 200)
        self.assertEqual(media_type(headers), "application/json")
        doc = json.loads(body)
        self.assertEqual(doc["issuer"], self.issuer())
        self.assertFalse(doc["issuer"].endswith("/"), "issuer has a trailing slash")
        self.assertEqual(doc["jwks_uri"], doc["issuer"] + "/.well-known/jwks.json")
        algs = doc["id_token_signing_alg_values_supported"]
        self.assertIsInstance(algs, list)
        self.assertIn(self.ALG, algs)
        self.assertNotIn("HS256", algs, "the refresh algorithm is internal")
        self.assertNotIn("none", algs)
        self.assertEqual(doc["scopes_supported"], ["guest", "authenticated"])
        # The token's iss is byte-for-byte the discovery issuer.
        p = jwt_parts(self.daemon.new_guest()["auth_token"])[1]
        self.assertEqual(p["iss"], doc["issuer"])

    def test_jwks_document(self):
        v = JwtAuthorizer(self.issuer())
        status, headers, body = http_get(v.discovery["jwks_uri"])
        self.assertEqual(status, 200)
        self.assertEqual(media_type(headers), "application/json")
        m = re.search(r"(?:^|[,\s])max-age=(\d+)", headers.get("cache-control", ""))
        self.assertTrue(m, "JWKS without Cache-Control max-age: %r"
                        % headers.get("cache-control"))
        self.assertEqual(int(m.group(1)), 3600, "default jwks_max_age is 1h")
        jwks = json.loads(body)
        self.assertIsInstance(jwks["keys"], list)
        self.assertTrue(jwks["keys"])
        for k in jwks["keys"]:
            self.assertEqual(k["use"], "sig")
            self.assertIn(k["alg"], v.algorithms)
            self.assertFalse(set(k) & set(PRIVATE_MEMBERS), k)
            self.assertIn(k["kty"], ("RSA", "EC"))
        kid = jwt.get_unverified_header(self.daemon.new_guest()["auth_token"])["kid"]
        mine = [k for k in jwks["keys"] if k["kid"] == kid]
        self.assertEqual(len(mine), 1)
        self.assertEqual(mine[0]["kty"], self.KTY)
        self.assertEqual(mine[0]["alg"], self.ALG)

    def test_access_token_verifies(self):
        v = JwtAuthorizer(self.issuer())
        g = self.daemon.new_guest()
        self.assertEqual(jwt.get_unverified_header(g["auth_token"])["alg"], self.ALG)
        c = v.verify(g["auth_token"])
        self.assertEqual(c["sub"], g["user_id"])
        self.assertEqual(c["scope"], "guest")
        self.assertEqual(c["aud"], AUDIENCE)
        self.assertEqual(c["iss"], v.discovery["issuer"])
        self.assertEqual(c["exp"] - c["iat"], 900)
        self.assertLessEqual(c["nbf"], c["iat"])
        self.assertLess(abs(c["iat"] - time.time()), 60)
        # The same token through keys built by hand from the JWKS.
        _, _, body = http_get(v.discovery["jwks_uri"])
        c2 = verify_with_jwks(g["auth_token"], json.loads(body), v.algorithms, self.issuer())
        self.assertEqual(c2, c)

    def test_refreshed_and_relogin_access_tokens_verify(self):
        v = JwtAuthorizer(self.issuer())
        g = self.daemon.new_guest()
        r = self.daemon.get("/refresh-access-token?&refresh_token=" + g["refresh_token"])
        self.assertEqual(r.status, 200, r)
        c = v.verify(r.json()["auth_token"])
        self.assertEqual(c["sub"], g["user_id"])
        self.assertEqual(c["scope"], "guest")
        self.assertEqual(c["exp"] - c["iat"], 900)
        r = self.daemon.get("/login-as-guest?&user_id=%s&guest_secret=%s"
                            % (g["user_id"], g["guest_secret"]))
        self.assertEqual(r.status, 200, r)
        self.assertEqual(v.verify(r.json()["auth_token"])["sub"], g["user_id"])

    def test_refresh_token_is_not_an_access_token(self):
        v = JwtAuthorizer(self.issuer())
        g = self.daemon.new_guest()
        refresh = g["refresh_token"]
        with self.assertRaises(jwt.PyJWTError):
            v.verify(refresh)
        kid = jwt.get_unverified_header(refresh)["kid"]
        # Its key is never published: even a refetch does not find the kid.
        with self.assertRaises(jwt.PyJWKClientError):
            v.jwks_client.get_signing_key(kid)
        _, _, body = http_get(v.discovery["jwks_uri"])
        jwks = json.loads(body)
        self.assertNotIn(kid, [k["kid"] for k in jwks["keys"]])
        # Against every published key it fails too.
        for k in jwks["keys"]:
            key = (RSAAlgorithm if k["kty"] == "RSA" else ECAlgorithm).from_jwk(json.dumps(k))
            with self.assertRaises(jwt.InvalidTokenError):
                jwt.decode(refresh, key, algorithms=v.algorithms, audience=AUDIENCE,
                           issuer=self.issuer())
        # And its audience alone would refuse it.
        with self.assertRaises(jwt.InvalidAudienceError):
            jwt.decode(refresh, options={"verify_signature": False, "verify_aud": True},
                       audience=AUDIENCE,
                       algorithms=v.algorithms)

    def test_tampered_access_token_is_refused(self):
        v = JwtAuthorizer(self.issuer())
        tok = self.daemon.new_guest()["auth_token"]
        h, p, s = tok.split(".")
        claims = jwt_parts(tok)[1]
        claims["scope"] = "authenticated"
        p2 = jwt.utils.base64url_encode(json.dumps(claims).encode()).decode()
        with self.assertRaises(jwt.InvalidSignatureError):
            v.verify(h + "." + p2 + "." + s)
        with self.assertRaises(jwt.InvalidAudienceError):
            JwtAuthorizer(self.issuer(), audience="otherbackend").verify(tok)


class RS256Authorizer(AuthorizerChecks, DaemonTest, unittest.TestCase):
    """Default settings: RSA 2048 keys, RS256 tokens."""

    def test_rsa_key_is_2048_bits(self):
        v = JwtAuthorizer(self.issuer())
        kid = jwt.get_unverified_header(self.daemon.new_guest()["auth_token"])["kid"]
        key = v.jwks_client.get_signing_key(kid).key
        self.assertEqual(key.key_size, 2048)
        self.assertEqual(key.public_numbers().e, 65537)


class ES256Authorizer(AuthorizerChecks, DaemonTest, unittest.TestCase):
    """signing_alg ES256 on a database that so far held RS256 keys."""
    SETTINGS = {"signing_alg": "ES256"}
    ALG = "ES256"
    KTY = "EC"

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        # When the RS256 key became current within this very second, the ES256
        # key takes over in the next one (keys activate in strict order).
        deadline = time.time() + 5
        while time.time() < deadline:
            if jwt_parts(cls.daemon.new_guest()["auth_token"])[0]["alg"] == "ES256":
                break
            time.sleep(0.2)

    def test_ec_key_is_p256(self):
        v = JwtAuthorizer(self.issuer())
        kid = jwt.get_unverified_header(self.daemon.new_guest()["auth_token"])["kid"]
        jwk = v.jwks_client.get_signing_key(kid)
        self.assertEqual(jwk._jwk_data["crv"], "P-256")
        self.assertEqual(jwk.key.curve.name, "secp256r1")


class RotationSeenByAuthorizer(DaemonTest, unittest.TestCase):
    """`gatehouse keys rotate` (API.md A.4) as a gateway sees it: its cached key
    set lacks the new kid, it refetches, and both generations verify."""

    def test_emergency_rotation(self):
        d = self.daemon
        v = JwtAuthorizer(d.base_url)
        old = d.new_guest()
        old_kid = jwt.get_unverified_header(old["auth_token"])["kid"]
        self.assertEqual(v.verify(old["auth_token"])["sub"], old["user_id"])

        r = d.cli("keys", "rotate")
        self.assertEqual(r.returncode, 0, r.stderr)
        rotated_at = time.time()
        time.sleep(2.1)
        new = None
        while True:
            g = d.new_guest()
            if jwt.get_unverified_header(g["auth_token"])["kid"] != old_kid:
                new = g
                break
            if time.time() > rotated_at + 5:
                break
            time.sleep(0.2)
        self.assertIsNotNone(new, "still signing with the old key 5 s after keys rotate")
        new_kid = jwt.get_unverified_header(new["auth_token"])["kid"]

        # The verifier still holds the pre-rotation key set: unknown kid, refetch.
        c = v.verify(new["auth_token"])
        self.assertEqual(c["sub"], new["user_id"])
        self.assertEqual(c["exp"] - c["iat"], 900)
        self.assertEqual(c["scope"], "guest")
        # Tokens signed before the rotation keep verifying until they expire.
        self.assertEqual(v.verify(old["auth_token"])["sub"], old["user_id"])
        fresh = JwtAuthorizer(d.base_url)
        self.assertEqual(fresh.verify(old["auth_token"])["sub"], old["user_id"])
        self.assertEqual(fresh.verify(new["auth_token"])["sub"], new["user_id"])
        kids = [k["kid"] for k in json.loads(http_get(fresh.discovery["jwks_uri"])[2])["keys"]]
        self.assertIn(old_kid, kids)
        self.assertIn(new_kid, kids)
        self.assertEqual(fresh.discovery["issuer"], v.discovery["issuer"])


class IssuerUnderBasePath(unittest.TestCase):
    """base_path moves the issuer; the verifier only knows the issuer URL."""

    @classmethod
    def setUpClass(cls):
        cls.daemon = Daemon({"base_path": "/prod"}).start()

    @classmethod
    def tearDownClass(cls):
        try:
            cls.daemon.stop()
        finally:
            cls.daemon.cleanup()

    def test_verifies_under_base_path(self):
        issuer = "http://127.0.0.1:%d/prod" % self.daemon.port
        v = JwtAuthorizer(issuer)
        self.assertEqual(v.discovery["issuer"], issuer)
        r = self.daemon.request("GET", "/prod//login-as-guest")
        self.assertEqual(r.status, 200, r)
        g = r.json()
        self.assertEqual(v.verify(g["auth_token"])["sub"], g["user_id"])
        # A gateway configured with a trailing slash does not match: iss is exact.
        with self.assertRaises(jwt.InvalidIssuerError):
            jwt.decode(g["auth_token"], v.jwks_client.get_signing_key_from_jwt(
                g["auth_token"]).key, algorithms=v.algorithms, audience=AUDIENCE,
                issuer=issuer + "/")


class ConfiguredIssuerUrl(unittest.TestCase):
    """issuer_url set explicitly (the public name, here localhost) is the
    discovery issuer, the base of jwks_uri, and every token's iss."""

    @classmethod
    def setUpClass(cls):
        cls.daemon = Daemon()
        cls.issuer = "http://localhost:%d" % cls.daemon.port
        cls.daemon.settings["issuer_url"] = cls.issuer
        cls.daemon.start()

    @classmethod
    def tearDownClass(cls):
        try:
            cls.daemon.stop()
        finally:
            cls.daemon.cleanup()

    def test_verifies_with_configured_issuer(self):
        v = JwtAuthorizer(self.issuer)
        self.assertEqual(v.discovery["issuer"], self.issuer)
        self.assertEqual(v.discovery["jwks_uri"], self.issuer + "/.well-known/jwks.json")
        g = self.daemon.new_guest()
        c = v.verify(g["auth_token"])
        self.assertEqual(c["iss"], self.issuer)
        self.assertEqual(c["sub"], g["user_id"])
        # A verifier that trusts the listen address instead is refused.
        with self.assertRaises(jwt.InvalidIssuerError):
            other = "http://127.0.0.1:%d" % self.daemon.port
            jwt.decode(g["auth_token"], v.jwks_client.get_signing_key_from_jwt(
                g["auth_token"]).key, algorithms=v.algorithms, audience=AUDIENCE,
                issuer=other)


if __name__ == "__main__":
    unittest.main()
