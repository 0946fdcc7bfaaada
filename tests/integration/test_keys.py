"""Signing keys (API.md A.3, A.4; DESIGN.md "Keys"): first start on an empty
database, what the JWKS may and may not hold, keys surviving restarts, the
operator's `gatehouse keys rotate` against a running daemon, timed rotation
with pre-publication, ES256, switching algorithm, and what the database holds
of a guest secret."""
import base64
import hashlib
import hmac
import json
import os
import re
import time
import unittest

import gh
from gh import Daemon, DaemonTest, jwt_parts, b64url_decode, VALGRIND

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

PRIVATE_MEMBERS = {"d", "p", "q", "dp", "dq", "qi", "k", "oth", "r", "t"}
RSA_MEMBERS = {"kty", "kid", "use", "alg", "n", "e"}
EC_MEMBERS = {"kty", "kid", "use", "alg", "crv", "x", "y"}


# ---- helpers ----

def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def header_kid(token):
    return jwt_parts(token)[0]["kid"]


def jwks(d):
    r = d.get("/.well-known/jwks.json")
    assert r.status == 200, r
    return r.json()["keys"]


def jwks_kids(d):
    return [k["kid"] for k in jwks(d)]


def keys_list(d):
    """Rows of `gatehouse keys list` as dicts: kid, use, alg, state."""
    r = d.cli("keys", "list")
    assert r.returncode == 0, (r.returncode, r.stdout, r.stderr)
    lines = [l for l in r.stdout.splitlines() if l.strip()]
    assert lines, r.stdout
    assert re.match(r"^KID\s+USE\s+ALG\s+STATE\s+SIGNS FROM\s+CREATED\s*$", lines[0]), lines[0]
    rows = []
    for l in lines[1:]:
        f = l.split()
        rows.append({"kid": f[0], "use": f[1], "alg": f[2], "state": f[3]})
    return rows


def rows_of(rows, use):
    return {r["kid"]: r for r in rows if r["use"] == use}


def authorized(d, token):
    return d.get("/get-player-data", headers={"Authorization": token}).status


def refresh(d, refresh_token):
    return d.post("/refresh-access-token", body={"refresh_token": refresh_token})




class JwksChecks:
    """Mixin for TestCases: checks of the published key set."""

    def check_jwk(self, k):
        self.assertFalse(set(k) & PRIVATE_MEMBERS, "private member in the JWKS: %r" % k)
        self.assertEqual(k["use"], "sig")
        if k["kty"] == "RSA":
            self.assertEqual(set(k), RSA_MEMBERS)
            self.assertEqual(k["alg"], "RS256")
            n = b64url_decode(k["n"])
            self.assertEqual(len(n), 256, "RSA 2048 modulus")
            self.assertTrue(n[0] & 0x80)
            self.assertEqual(b64url_decode(k["e"]), b"\x01\x00\x01")
        elif k["kty"] == "EC":
            self.assertEqual(set(k), EC_MEMBERS)
            self.assertEqual(k["alg"], "ES256")
            self.assertEqual(k["crv"], "P-256")
            x, y = b64url_decode(k["x"]), b64url_decode(k["y"])
            self.assertEqual((len(x), len(y)), (32, 32))
            # The point is on the curve (cryptography refuses it otherwise).
            ec.EllipticCurvePublicNumbers(int.from_bytes(x, "big"), int.from_bytes(y, "big"),
                                          ec.SECP256R1()).public_key()
        else:
            self.fail("unexpected kty in the JWKS: %r" % k)
        for v in k.values():
            self.assertNotIn("PRIVATE", str(v))

    def check_jwks(self, d, refresh_tokens=()):
        keys = jwks(d)
        self.assertTrue(keys)
        for k in keys:
            self.check_jwk(k)
        kids = [k["kid"] for k in keys]
        self.assertEqual(len(kids), len(set(kids)), "duplicate kid in the JWKS")
        for rt in refresh_tokens:
            self.assertNotIn(header_kid(rt), kids, "the refresh key is published")
        return keys


class Scenario(JwksChecks, unittest.TestCase):
    """One daemon per test method, always cleaned up."""

    def new_daemon(self, settings=None, fresh=False):
        d = Daemon(settings, fresh=fresh)
        self.addCleanup(d.cleanup)
        return d

    def finish(self, d):
        d.stop()


# ---- first start, restarts ----

class FirstStart(Scenario):

    def test_empty_database_gets_keys_and_they_survive_a_crash(self):
        d = self.new_daemon(fresh=True)
        self.assertFalse(os.path.exists(d.settings.get("database_path", "")))
        d.start()
        keys = self.check_jwks(d)
        self.assertEqual([k["kty"] for k in keys], ["RSA"])
        g = d.new_guest()
        h, p = jwt_parts(g["auth_token"])
        self.assertEqual(h["alg"], "RS256")
        self.assertEqual(h["kid"], keys[0]["kid"])
        self.assertEqual(authorized(d, g["auth_token"]), 200)
        self.check_jwks(d, [g["refresh_token"]])
        self.assertEqual(jwt_parts(g["refresh_token"])[0]["alg"], "HS256")

        rows = keys_list(d)
        access, refr = rows_of(rows, "access"), rows_of(rows, "refresh")
        self.assertEqual(list(access), [h["kid"]])
        self.assertEqual(access[h["kid"]]["state"], "current")
        self.assertEqual(access[h["kid"]]["alg"], "RS256")
        self.assertEqual(list(refr), [header_kid(g["refresh_token"])])
        self.assertEqual(refr[header_kid(g["refresh_token"])]["state"], "current")
        self.assertEqual(refr[header_kid(g["refresh_token"])]["alg"], "HS256")

        # Keys that signed handed-out tokens were on disk before they signed.
        d.kill9()
        d.start()
        self.assertEqual(jwks_kids(d), [h["kid"]])
        self.assertEqual(authorized(d, g["auth_token"]), 200)
        r = refresh(d, g["refresh_token"])
        self.assertEqual(r.status, 200, r)
        self.assertEqual(header_kid(r.json()["auth_token"]), h["kid"])
        self.assertEqual(header_kid(d.new_guest()["auth_token"]), h["kid"])
        self.finish(d)

    def test_es256_first_start(self):
        d = self.new_daemon({"signing_alg": "ES256"}, fresh=True).start()
        keys = self.check_jwks(d)
        self.assertEqual([k["kty"] for k in keys], ["EC"])
        g = d.new_guest()
        h, p = jwt_parts(g["auth_token"])
        self.assertEqual(h, {"alg": "ES256", "kid": keys[0]["kid"], "typ": "JWT"})
        self.assertEqual(len(b64url_decode(g["auth_token"].split(".")[2])), 64,
                         "ES256 signatures are raw r||s")
        self.assertEqual(authorized(d, g["auth_token"]), 200)
        self.check_jwks(d, [g["refresh_token"]])
        r = d.get("/.well-known/openid-configuration").json()
        self.assertEqual(r["id_token_signing_alg_values_supported"], ["ES256"])
        rows = rows_of(keys_list(d), "access")
        self.assertEqual(rows[h["kid"]]["alg"], "ES256")
        self.assertEqual(rows[h["kid"]]["state"], "current")
        self.finish(d)


class Restart(Scenario):

    def test_tokens_and_keys_survive_a_clean_restart(self):
        d = self.new_daemon().start()
        before = jwks_kids(d)
        g = d.new_guest()
        d.stop()
        d.start()
        self.assertEqual(jwks_kids(d), before)
        self.assertEqual(authorized(d, g["auth_token"]), 200)
        r = refresh(d, g["refresh_token"])
        self.assertEqual(r.status, 200, r)
        self.assertEqual(authorized(d, r.json()["auth_token"]), 200)
        self.assertEqual(header_kid(d.new_guest()["auth_token"]), header_kid(g["auth_token"]))
        self.finish(d)


# ---- what the JWKS holds and what the daemon accepts ----

def forge(header, claims, sign):
    si = b64url(json.dumps(header).encode()) + "." + b64url(json.dumps(claims).encode())
    return si + "." + b64url(sign(si.encode()))


class PublishedKeys(JwksChecks, DaemonTest, unittest.TestCase):

    def test_jwks_members_and_no_refresh_key(self):
        d = self.daemon
        g = d.new_guest()
        r = d.get("/.well-known/jwks.json")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.header("Content-Type"), "application/json")
        self.assertEqual(set(r.json()), {"keys"})
        self.assertRegex(r.header("Cache-Control") or "", r"max-age=3600\b")
        for k in r.json()["keys"]:
            self.assertNotEqual(k.get("kty"), "oct", "a symmetric key is published")
            self.assertNotIn("HS256", (k.get("alg"),))
        self.check_jwks(d, [g["refresh_token"]])
        self.assertIn(header_kid(g["auth_token"]), jwks_kids(d))

    def test_forged_tokens_are_refused(self):
        d = self.daemon
        g = d.new_guest()
        h, claims = jwt_parts(g["auth_token"])
        jwk = [k for k in jwks(d) if k["kid"] == h["kid"]][0]
        pub = rsa.RSAPublicNumbers(int.from_bytes(b64url_decode(jwk["e"]), "big"),
                                   int.from_bytes(b64url_decode(jwk["n"]), "big")).public_key()
        pem = pub.public_bytes(serialization.Encoding.PEM,
                               serialization.PublicFormat.SubjectPublicKeyInfo)
        other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        eck = ec.generate_private_key(ec.SECP256R1())

        def es256(data):
            r, s = decode_dss_signature(eck.sign(data, ec.ECDSA(hashes.SHA256())))
            return r.to_bytes(32, "big") + s.to_bytes(32, "big")

        later = dict(claims, exp=claims["exp"] + 3600)
        forged = {
            "alg none": forge({"alg": "none", "kid": h["kid"], "typ": "JWT"}, claims,
                              lambda s: b""),
            "HS256 keyed with the public PEM": forge(
                {"alg": "HS256", "kid": h["kid"], "typ": "JWT"}, claims,
                lambda s: hmac.new(pem, s, hashlib.sha256).digest()),
            "HS256 keyed with the JWK n": forge(
                {"alg": "HS256", "kid": h["kid"], "typ": "JWT"}, claims,
                lambda s: hmac.new(json.dumps(jwk).encode(), s, hashlib.sha256).digest()),
            "RS256 by a foreign key": forge(h, claims, lambda s: other.sign(
                s, padding.PKCS1v15(), hashes.SHA256())),
            "ES256 by a foreign key": forge(dict(h, alg="ES256"), claims, es256),
            "payload changed": ".".join([g["auth_token"].split(".")[0],
                                         b64url(json.dumps(later).encode()),
                                         g["auth_token"].split(".")[2]]),
            "refresh token": g["refresh_token"],
        }
        for what, tok in forged.items():
            for auth in (tok, "Bearer " + tok):
                r = d.get("/get-player-data", headers={"Authorization": auth})
                self.assertEqual(r.status, 401, "%s: %r" % (what, r))
                self.assertEqual(r.json(), {"message": "Unauthorized"})
        self.assertEqual(authorized(d, g["auth_token"]), 200)

    @gh.sqlite_only("reads the database files' bytes")
    def test_database_holds_no_guest_secret(self):
        d = self.daemon
        guests = [d.new_guest() for _ in range(3)]
        for g in guests:
            r = d.get("/login-as-guest?&user_id=%s&guest_secret=%s"
                      % (g["user_id"], g["guest_secret"]))
            self.assertEqual(r.status, 200, r)
            r = d.post("/login-as-guest", body={"user_id": g["user_id"],
                                                "guest_secret": g["guest_secret"]})
            self.assertEqual(r.status, 200, r)
        db = d.settings["database_path"]
        data = b""
        for path in (db, db + "-wal", db + "-journal"):
            if os.path.exists(path):
                with open(path, "rb") as f:
                    data += f.read()
        for g in guests:
            secret = g["guest_secret"].encode()
            for form in (secret, secret.upper(), secret.replace(b"-", b""),
                         secret.decode().encode("utf-16-le")):
                self.assertNotIn(form, data, "raw guest secret in the database files")
            self.assertNotIn(secret[:36], data, "half of a guest secret in the database")
            self.assertNotIn(secret[37:], data, "half of a guest secret in the database")
            digest = hashlib.sha256(secret).digest()
            self.assertTrue(digest in data or digest.hex().encode() in data,
                            "the SHA-256 digest of the secret is not stored (wrong files?)")
            # Nor do the logs hold a secret or a token.
            log = d.log_text()
            self.assertNotIn(g["guest_secret"], log)
            self.assertNotIn(g["auth_token"].split(".")[2], log)
            self.assertNotIn(g["refresh_token"].split(".")[2], log)


# ---- the operator's emergency rotation ----

class OperatorRotation(Scenario):

    def test_keys_rotate_while_running(self):
        d = self.new_daemon().start()
        old = d.new_guest()
        old_kid = header_kid(old["auth_token"])
        old_refresh_kid = header_kid(old["refresh_token"])
        self.assertEqual(rows_of(keys_list(d), "access")[old_kid]["state"], "current")

        r = d.cli("keys", "rotate")
        self.assertEqual(r.returncode, 0, r.stderr)
        rotated_at = time.time()
        # The key signs key_propagation (2 s) after the command, and the
        # daemon loads it within a second: 5 s, more under valgrind.
        pickup = 30 if VALGRIND or gh.SANITIZER else 5
        new = None
        while time.time() < rotated_at + pickup:
            g = d.new_guest()
            if header_kid(g["auth_token"]) != old_kid:
                new = g
                break
            time.sleep(0.2)
        self.assertIsNotNone(new, "the daemon still signs with the old key %d s after rotate"
                             % pickup)
        new_kid = header_kid(new["auth_token"])
        self.assertIn(new_kid, r.stdout, "keys rotate names the new key")
        # From now on every token carries the new kid.
        for _ in range(3):
            self.assertEqual(header_kid(d.new_guest()["auth_token"]), new_kid)

        kids = jwks_kids(d)
        self.assertIn(old_kid, kids)
        self.assertIn(new_kid, kids)
        self.check_jwks(d, [old["refresh_token"], new["refresh_token"]])
        self.assertEqual(authorized(d, old["auth_token"]), 200)
        self.assertEqual(authorized(d, new["auth_token"]), 200)
        r = refresh(d, old["refresh_token"])
        self.assertEqual(r.status, 200, r)
        self.assertEqual(header_kid(r.json()["auth_token"]), new_kid)
        self.assertEqual(authorized(d, r.json()["auth_token"]), 200)
        r = refresh(d, new["refresh_token"])
        self.assertEqual(r.status, 200, r)

        rows = keys_list(d)
        access = rows_of(rows, "access")
        self.assertEqual(access[old_kid]["state"], "previous")
        self.assertEqual(access[new_kid]["state"], "current")
        self.assertEqual([k for k, v in access.items() if v["state"] == "current"], [new_kid])
        refr = rows_of(rows, "refresh")
        self.assertIn(old_refresh_kid, refr)
        self.assertEqual(len([v for v in refr.values() if v["state"] == "current"]), 1)

        # The rotation is durable: a restart keeps both keys and the new signer.
        d.stop()
        d.start()
        kids = jwks_kids(d)
        self.assertIn(old_kid, kids)
        self.assertIn(new_kid, kids)
        self.assertEqual(header_kid(d.new_guest()["auth_token"]), new_kid)
        self.assertEqual(authorized(d, old["auth_token"]), 200)
        self.finish(d)


# ---- timed rotation ----

class TimedRotation(Scenario):
    """key_rotation_interval 12s, key_prepublish 6s, jwks_max_age 2s. Under
    valgrind the keys are ES256: generating an RSA key there takes longer
    than the whole pre-publication window."""
    INTERVAL, PREPUBLISH, MAX_AGE = 12, 6, 2

    def test_next_key_is_published_before_it_signs(self):
        alg = "ES256" if VALGRIND else "RS256"
        d = self.new_daemon({"key_rotation_interval": "%ds" % self.INTERVAL,
                         "key_prepublish": "%ds" % self.PREPUBLISH,
                         "jwks_max_age": "%ds" % self.MAX_AGE,
                         "access_token_ttl": 60,
                         "signing_alg": alg}).start()
        jwks_seen = {}     # kid -> time first seen in a JWKS response
        token_seen = {}    # kid -> time first seen in a token
        tokens = {}        # kid -> first guest whose access token it signed
        order = []         # signing kids in the order they took over
        next_state_seen = set()
        deadline = time.time() + 25
        while time.time() < deadline and len(order) < 3:
            r = d.get("/.well-known/jwks.json")
            self.assertEqual(r.status, 200)
            self.assertRegex(r.header("Cache-Control") or "", r"max-age=%d\b" % self.MAX_AGE)
            now = time.time()
            for k in r.json()["keys"]:
                self.check_jwk(k)
                jwks_seen.setdefault(k["kid"], now)
            g = d.new_guest()
            self.assertEqual(jwt_parts(g["auth_token"])[0]["alg"], alg)
            self.assertEqual(jwt_parts(g["auth_token"])[1]["exp"]
                             - jwt_parts(g["auth_token"])[1]["iat"], 60)
            kid = header_kid(g["auth_token"])
            # Publish before sign: the kid was in a JWKS response fetched earlier.
            self.assertIn(kid, jwks_seen, "token signed by a key never published before")
            if kid not in token_seen:
                token_seen[kid] = time.time()
                tokens[kid] = g
                order.append(kid)
            time.sleep(0.5)
        self.assertGreaterEqual(len(order), 2, "no timed rotation within 25 s: %r" % order)
        for kid in order[1:]:
            # It was published at least one JWKS cache period before it signed.
            self.assertLessEqual(jwks_seen[kid], token_seen[kid] - self.MAX_AGE,
                                 "key %s signed %.1f s after it was first published"
                                 % (kid, token_seen[kid] - jwks_seen[kid]))
        # Tokens of every generation still verify and refresh after the takeover.
        kids = jwks_kids(d)
        for kid in order:
            self.assertIn(kid, kids, "a key whose tokens are live left the JWKS")
            self.assertEqual(authorized(d, tokens[kid]["auth_token"]), 200)
            r = refresh(d, tokens[kid]["refresh_token"])
            self.assertEqual(r.status, 200, r)
            self.assertEqual(authorized(d, r.json()["auth_token"]), 200)
        # keys list names the superseded key previous and, once one is
        # pre-published, the next key next.
        access = rows_of(keys_list(d), "access")
        self.assertEqual(access[order[0]]["state"], "previous")
        deadline = time.time() + self.INTERVAL + 5
        while time.time() < deadline:
            access = rows_of(keys_list(d), "access")
            pending = [k for k, v in access.items() if v["state"] == "next"]
            if pending:
                # The rotator stores a key, then loads it: `keys list` may
                # read it in between. The daemon publishes it within moments,
                # well before it signs (checked above for every takeover).
                end = time.time() + 5
                while pending[0] not in jwks_kids(d) and time.time() < end:
                    time.sleep(0.1)
                self.assertIn(pending[0], jwks_kids(d))
                next_state_seen.add(pending[0])
                break
            time.sleep(0.5)
        self.assertTrue(next_state_seen, "keys list never showed a next key")
        self.assertEqual(len([v for v in access.values() if v["state"] == "current"]), 1)
        self.finish(d)


# ---- algorithm switch ----

class AlgorithmSwitch(Scenario):

    def test_rs256_database_switched_to_es256(self):
        d = self.new_daemon().start()
        old = d.new_guest()
        self.assertEqual(jwt_parts(old["auth_token"])[0]["alg"], "RS256")
        d.stop()
        d.settings["signing_alg"] = "ES256"
        d.start()
        # The ES256 key may only take over in the next second when the RS256
        # key became current within this one (keys activate in strict order).
        deadline = time.time() + 5
        while True:
            new = d.new_guest()
            h = jwt_parts(new["auth_token"])[0]
            if h["alg"] == "ES256" or time.time() > deadline:
                break
            time.sleep(0.2)
        self.assertEqual(h["alg"], "ES256")
        keys = self.check_jwks(d, [old["refresh_token"], new["refresh_token"]])
        by_kid = {k["kid"]: k for k in keys}
        self.assertEqual(by_kid[h["kid"]]["kty"], "EC")
        self.assertEqual(by_kid[header_kid(old["auth_token"])]["kty"], "RSA")
        algs = d.get("/.well-known/openid-configuration").json()[
            "id_token_signing_alg_values_supported"]
        self.assertEqual(sorted(algs), ["ES256", "RS256"])
        self.assertEqual(authorized(d, old["auth_token"]), 200)
        self.assertEqual(authorized(d, new["auth_token"]), 200)
        r = refresh(d, old["refresh_token"])
        self.assertEqual(r.status, 200, r)
        self.assertEqual(jwt_parts(r.json()["auth_token"])[0]["alg"], "ES256")
        rows = rows_of(keys_list(d), "access")
        self.assertEqual(rows[h["kid"]]["state"], "current")
        self.assertEqual(rows[h["kid"]]["alg"], "ES256")
        self.assertEqual(rows[header_kid(old["auth_token"])]["state"], "previous")
        self.finish(d)


if __name__ == "__main__":
    unittest.main()
