"""Token verification attacks (API.md A.3, A.5, A.2 "Refresh"; notes/security.md
(a) A). Every attack is sent both as an access token to the sample player
routes (401 {"message":"Unauthorized"}) and as a refresh token to the refresh
route (401 "Error: Failed to validate refresh token").

Claim-level attacks are forged with the daemon's REAL keys, read from its
database: each forged token differs from a genuine one only in the attacked
part, so a rejection proves that exact check. Positive controls show that
the same forging code, without the attack, makes tokens the daemon accepts.
"""
import base64
import hashlib
import hmac
import json
import time
import unittest
import urllib.parse
import uuid

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

import gh
from gh import DaemonTest, b64url_decode, jwt_parts

ERR_REFRESH = "Error: Failed to validate refresh token"
TEXT = "text/plain; charset=utf-8"
UNAUTHORIZED = {"message": "Unauthorized"}
FORBIDDEN = {"message": "Forbidden"}
DROP = object()  # claim/header value meaning "leave this member out"




# ---- JWS helpers (hand-made, so any header, payload or signature is possible) ----

def b64u(data):
    if isinstance(data, str):
        data = data.encode()
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def seg(part):
    """A header or payload segment: a dict is compact JSON, str/bytes are raw
    JSON text (for duplicate members and other shapes a dict cannot hold)."""
    if isinstance(part, dict):
        part = json.dumps(part, separators=(",", ":"))
    return b64u(part)


def jws(header, payload, signer=None, sig=None):
    """header.payload.signature; signer(bytes) -> signature bytes, or a raw
    signature segment in sig."""
    signing_input = seg(header) + "." + seg(payload)
    if sig is None:
        sig = b64u(signer(signing_input.encode())) if signer else ""
    return signing_input + "." + sig


def rs_signer(key, hash_alg=None, pss=False):
    hash_alg = hash_alg or hashes.SHA256()

    def sign(data):
        if pss:
            return key.sign(data, padding.PSS(mgf=padding.MGF1(hash_alg),
                                              salt_length=hash_alg.digest_size), hash_alg)
        return key.sign(data, padding.PKCS1v15(), hash_alg)
    return sign


def hs_signer(secret, digest=hashlib.sha256):
    if isinstance(secret, str):
        secret = secret.encode()
    return lambda data: hmac.new(secret, data, digest).digest()


def with_changes(base, changes):
    d = dict(base)
    for k, v in changes.items():
        if v is DROP:
            d.pop(k, None)
        else:
            d[k] = v
    return d


def b64u_int(s):
    return int.from_bytes(b64url_decode(s), "big")


_attacker = {}


def attacker_rsa_key():
    if "key" not in _attacker:
        _attacker["key"] = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return _attacker["key"]


class TokenAttackBase(DaemonTest):
    """One daemon per class; a fresh guest (live session) per test, so forged
    refresh tokens carry a real session id and its current jti."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        rows = gh.db_rows(cls.daemon, "SELECT kid, use, alg, material FROM signing_keys "
                                      "ORDER BY activate_at")
        access = [r for r in rows if r[1] == "access"]
        refresh = [r for r in rows if r[1] == "refresh"]
        assert access and refresh, "seed database lacks signing keys: %r" % (rows,)
        cls.access_kid, _, cls.access_alg, pem = access[-1]
        cls.access_key = serialization.load_pem_private_key(bytes(pem), password=None)
        cls.refresh_kid, _, cls.refresh_alg, secret = refresh[-1]
        cls.refresh_secret = bytes(secret)
        assert cls.access_alg == "RS256" and cls.refresh_alg == "HS256"
        assert len(cls.refresh_secret) == 32
        cls.issuer = "http://127.0.0.1:%d" % cls.daemon.port

    def setUp(self):
        self.guest = self.daemon.new_guest()
        self.ah, self.ac = jwt_parts(self.guest["auth_token"])
        self.rh, self.rc = jwt_parts(self.guest["refresh_token"])
        # The keys read from the store are the ones the daemon signs with.
        self.assertEqual(self.ah["kid"], self.access_kid)
        self.assertEqual(self.rh["kid"], self.refresh_kid)

    def tearDown(self):
        # Whatever was attempted, the genuine guest is unharmed and no
        # forged set-player-data call wrote anything.
        r = self.daemon.get("/get-player-data", headers={"Authorization": self.guest["auth_token"]})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json(), {"UserID": self.guest["user_id"]})

    # --- building tokens ---

    def now(self):
        return int(time.time())

    def access_claims(self, **changes):
        return with_changes(self.ac, changes)

    def refresh_claims(self, **changes):
        return with_changes(self.rc, changes)

    def access_header(self, **changes):
        return with_changes({"alg": "RS256", "kid": self.access_kid, "typ": "JWT"}, changes)

    def refresh_header(self, **changes):
        return with_changes({"alg": "HS256", "kid": self.refresh_kid, "typ": "JWT"}, changes)

    def forge_access(self, header=None, payload=None, **changes):
        """Signed with the daemon's real access key."""
        return jws(header or self.access_header(),
                   payload if payload is not None else self.access_claims(**changes),
                   rs_signer(self.access_key))

    def forge_refresh(self, header=None, payload=None, **changes):
        """Signed with the daemon's real refresh HMAC key."""
        return jws(header or self.refresh_header(),
                   payload if payload is not None else self.refresh_claims(**changes),
                   hs_signer(self.refresh_secret))

    # --- assertions ---

    def refresh_with(self, tok):
        return self.daemon.get("/refresh-access-token?&refresh_token="
                               + urllib.parse.quote(tok, safe=""))

    def assertRefreshRejected(self, tok, msg=None):
        r = self.refresh_with(tok)
        self.assertEqual(r.status, 401, "%s: %r" % (msg, r))
        self.assertEqual(r.header("Content-Type"), TEXT, msg)
        self.assertEqual(r.text, ERR_REFRESH, msg)

    def player_requests(self, tok):
        yield "get raw", self.daemon.get("/get-player-data", headers={"Authorization": tok})
        yield "get bearer", self.daemon.get("/get-player-data",
                                            headers={"Authorization": "Bearer " + tok})
        yield "set raw", self.daemon.get("/set-player-data?player_name=x",
                                         headers={"Authorization": tok})

    def assertPlayerRejected(self, tok, msg=None, status=401, body=UNAUTHORIZED):
        for how, r in self.player_requests(tok):
            self.assertEqual(r.status, status, "%s (%s): %r" % (msg, how, r))
            self.assertEqual(r.header("Content-Type"), "application/json", msg)
            self.assertEqual(r.json(), body, "%s (%s)" % (msg, how))

    def assertBothRejected(self, access_tok, refresh_tok, msg=None):
        with self.subTest(msg, route="player"):
            self.assertPlayerRejected(access_tok, msg)
        with self.subTest(msg, route="refresh"):
            self.assertRefreshRejected(refresh_tok, msg)


class Controls(TokenAttackBase, unittest.TestCase):
    """The forging code makes tokens the daemon accepts when nothing is wrong."""

    def test_forged_access_token_without_attack_is_accepted(self):
        tok = self.forge_access(iat=self.now(), nbf=self.now())
        r = self.daemon.get("/get-player-data", headers={"Authorization": tok})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json(), {"UserID": self.guest["user_id"]})

    def test_forged_refresh_token_without_attack_is_accepted(self):
        r = self.refresh_with(self.forge_refresh())
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["user_id"], self.guest["user_id"])

    def test_genuine_tokens_accepted(self):
        r = self.daemon.get("/get-player-data", headers={"Authorization": self.guest["auth_token"]})
        self.assertEqual(r.status, 200, r)
        r = self.refresh_with(self.guest["refresh_token"])
        self.assertEqual(r.status, 200, r)


class SignatureAttacks(TokenAttackBase, unittest.TestCase):

    def test_alg_none_variants(self):
        for alg in ("none", "None", "NONE", "nOnE"):
            ah = self.access_header(alg=alg)
            rh = self.refresh_header(alg=alg)
            ap, rp = self.access_claims(), self.refresh_claims()
            # A signature that is valid for the real key over the same input.
            a_valid = b64u(rs_signer(self.access_key)((seg(ah) + "." + seg(ap)).encode()))
            r_valid = b64u(hs_signer(self.refresh_secret)((seg(rh) + "." + seg(rp)).encode()))
            cases = {
                "empty signature": (jws(ah, ap, sig=""), jws(rh, rp, sig="")),
                "no signature segment": (seg(ah) + "." + seg(ap), seg(rh) + "." + seg(rp)),
                "junk signature": (jws(ah, ap, sig=b64u(b"junk")), jws(rh, rp, sig=b64u(b"junk"))),
                "real key's signature": (jws(ah, ap, sig=a_valid), jws(rh, rp, sig=r_valid)),
                "no kid, empty signature": (jws({"alg": alg, "typ": "JWT"}, ap, sig=""),
                                            jws({"alg": alg, "typ": "JWT"}, rp, sig="")),
            }
            for name, (a, r) in cases.items():
                self.assertBothRejected(a, r, "alg %r, %s" % (alg, name))

    def public_key_encodings(self):
        jwks = self.daemon.get("/.well-known/jwks.json").json()
        jwk = [k for k in jwks["keys"] if k["kid"] == self.access_kid][0]
        pub = rsa.RSAPublicNumbers(b64u_int(jwk["e"]), b64u_int(jwk["n"])).public_key()
        # The published key is the stored private key's public half.
        self.assertEqual(pub.public_numbers(), self.access_key.public_key().public_numbers())
        spki = pub.public_bytes(serialization.Encoding.PEM,
                                serialization.PublicFormat.SubjectPublicKeyInfo)
        pkcs1 = pub.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.PKCS1)
        der = pub.public_bytes(serialization.Encoding.DER,
                               serialization.PublicFormat.SubjectPublicKeyInfo)
        assert spki.endswith(b"\n")
        return {
            "SPKI PEM with trailing newline": spki,
            "SPKI PEM without trailing newline": spki.rstrip(b"\n"),
            "PKCS#1 PEM": pkcs1,
            "PKCS#1 PEM without trailing newline": pkcs1.rstrip(b"\n"),
            "SPKI DER": der,
            "JWK JSON": json.dumps(jwk, separators=(",", ":")).encode(),
            "raw modulus": b64url_decode(jwk["n"]),
        }

    def test_hs256_keyed_with_public_key(self):
        for name, secret in self.public_key_encodings().items():
            signer = hs_signer(secret)
            a = jws(self.access_header(alg="HS256"), self.access_claims(), signer)
            r1 = jws(self.refresh_header(kid=self.access_kid), self.refresh_claims(), signer)
            r2 = jws(self.refresh_header(), self.refresh_claims(), signer)
            self.assertBothRejected(a, r1, name + " (access kid)")
            with self.subTest(name, route="refresh", kid="refresh"):
                self.assertRefreshRejected(r2, name + " (refresh kid)")

    def test_signed_by_a_different_key(self):
        other = attacker_rsa_key()
        a = jws(self.access_header(), self.access_claims(), rs_signer(other))
        r = jws(self.refresh_header(), self.refresh_claims(), hs_signer(b"\x00" * 32))
        self.assertBothRejected(a, r, "different key, same kid and alg")
        # RS256 refresh token signed by a foreign RSA key, under either kid.
        for kid in (self.refresh_kid, self.access_kid):
            with self.subTest(kid=kid):
                self.assertRefreshRejected(
                    jws(self.refresh_header(alg="RS256", kid=kid), self.refresh_claims(),
                        rs_signer(other)), "RS256 refresh token, foreign key")

    def test_refresh_kid_with_rs256(self):
        # kid names the refresh (HMAC) key, alg says RS256, signed with the
        # real access RSA key: the key decides the algorithm.
        hdr = self.refresh_header(alg="RS256")
        a = jws(hdr, self.access_claims(), rs_signer(self.access_key))
        r = jws(hdr, self.refresh_claims(), rs_signer(self.access_key))
        self.assertBothRejected(a, r, "refresh kid + RS256")
        # Converse: access kid with HS256, MAC'd with the real refresh key.
        hdr = self.access_header(alg="HS256")
        a = jws(hdr, self.access_claims(), hs_signer(self.refresh_secret))
        r = jws(hdr, self.refresh_claims(), hs_signer(self.refresh_secret))
        self.assertBothRejected(a, r, "access kid + HS256 with the refresh key")

    def test_other_algorithms_with_the_real_keys(self):
        variants = [
            ("RS384", rs_signer(self.access_key, hashes.SHA384())),
            ("RS512", rs_signer(self.access_key, hashes.SHA512())),
            ("PS256", rs_signer(self.access_key, hashes.SHA256(), pss=True)),
        ]
        for alg, signer in variants:
            with self.subTest(alg=alg):
                self.assertPlayerRejected(
                    jws(self.access_header(alg=alg), self.access_claims(), signer), alg)
        for alg, digest in (("HS384", hashlib.sha384), ("HS512", hashlib.sha512)):
            with self.subTest(alg=alg):
                self.assertRefreshRejected(
                    jws(self.refresh_header(alg=alg), self.refresh_claims(),
                        hs_signer(self.refresh_secret, digest)), alg)

    def test_tampered_payload_keeps_signature(self):
        victim = self.daemon.new_guest()
        h, _, s = self.guest["auth_token"].split(".")
        rh, _, rs = self.guest["refresh_token"].split(".")
        cases = {
            "sub": ({"sub": victim["user_id"]}, {"sub": victim["user_id"]}),
            "scope": ({"scope": "authenticated"}, {"access_token_scope": "authenticated"}),
            "exp": ({"exp": self.ac["exp"] + 86400}, {"exp": self.rc["exp"] + 86400}),
        }
        for name, (ach, rch) in cases.items():
            a = h + "." + seg(self.access_claims(**ach)) + "." + s
            r = rh + "." + seg(self.refresh_claims(**rch)) + "." + rs
            self.assertBothRejected(a, r, "tampered " + name)
        # The victim's data was not touched by the forged set-player-data.
        r = self.daemon.get("/get-player-data", headers={"Authorization": victim["auth_token"]})
        self.assertEqual(r.json(), {"UserID": victim["user_id"]})
        # Tampered header (typ changed), same signature.
        a = seg(self.access_header(typ="at+jwt")) + "." + self.guest["auth_token"].split(".", 1)[1]
        r = seg(self.refresh_header(typ="at+jwt")) + "." + self.guest["refresh_token"].split(".", 1)[1]
        self.assertBothRejected(a, r, "tampered header")

    def test_truncated_and_mangled(self):
        at, rt = self.guest["auth_token"], self.guest["refresh_token"]

        def variants(tok):
            h, p, s = tok.split(".")
            return {
                "last char dropped": tok[:-1],
                "ten chars dropped": tok[:-10],
                "signature removed, dot kept": h + "." + p + ".",
                "two segments": h + "." + p,
                "header only": h,
                "header and dot": h + ".",
                "half": tok[:len(tok) // 2],
                "signature doubled": tok + s,
                "fourth segment": tok + "." + s,
                "five segments (JWE shape)": ".".join([h, p, s, p, s]),
                "dots only": "..",
                "extra char": tok + "A",
                "padding added": tok + "==",
                "whitespace inside": h + ".\t" + p + "." + s,
            }
        av, rv = variants(at), variants(rt)
        for name in av:
            self.assertBothRejected(av[name], rv[name], name)

    def test_oversized_token_under_the_http_limits(self):
        # ~5.5 KB, with a junk signature: fits the URL and header limits.
        pad = "A" * 3500
        a = jws(self.access_header(), self.access_claims(pad=pad), sig=b64u(b"x" * 256))
        r = jws(self.refresh_header(), self.refresh_claims(pad=pad), sig=b64u(b"x" * 32))
        self.assertLess(len(r), 7000)
        self.assertBothRejected(a, r, "5.5 KB token")

    def test_100kb_token(self):
        pad = "A" * (100 * 1024)
        a = jws(self.access_header(), self.access_claims(pad=pad), rs_signer(self.access_key))
        r = jws(self.refresh_header(), self.refresh_claims(pad=pad), hs_signer(self.refresh_secret))
        self.assertGreater(len(a), 100 * 1024)
        # In the Authorization header it is over max_header_size (16 KiB).
        for how, resp in self.player_requests(a):
            with self.subTest(how):
                self.assertEqual(resp.status, 431, "%s: %r" % (how, resp))
        # In the query string it is over max_url_size (8 KiB).
        self.assertEqual(self.refresh_with(r).status, 414)
        # The daemon keeps serving.
        self.assertEqual(self.daemon.get("/health").status, 200)


class ClaimAttacks(TokenAttackBase, unittest.TestCase):

    def test_unknown_kid(self):
        kid = str(uuid.uuid4())
        a = self.forge_access(header=self.access_header(kid=kid), kid=kid)
        r = self.forge_refresh(header=self.refresh_header(kid=kid), kid=kid)
        self.assertBothRejected(a, r, "unknown kid")

    def test_hostile_kid_values(self):
        for kid in ("", "../../dev/null", "' OR '1'='1", "a\u0000b", "k" * 5000, 1, None,
                    {"kid": self.access_kid}, [self.access_kid],
                    self.access_kid.upper(), self.access_kid + " "):
            a = self.forge_access(header=self.access_header(kid=kid))
            rk = kid if not isinstance(kid, list) else [self.refresh_kid]
            r = self.forge_refresh(header=self.refresh_header(kid=rk))
            self.assertBothRejected(a, r, "kid %r" % (kid if not isinstance(kid, str) else kid[:40],))

    def test_missing_kid(self):
        a = self.forge_access(header=self.access_header(kid=DROP))
        r = self.forge_refresh(header=self.refresh_header(kid=DROP))
        self.assertBothRejected(a, r, "no kid in header")
        a = self.forge_access(header=self.access_header(kid=DROP), kid=DROP)
        r = self.forge_refresh(header=self.refresh_header(kid=DROP), kid=DROP)
        self.assertBothRejected(a, r, "no kid anywhere")

    def test_expired(self):
        now = self.now()
        a = self.forge_access(exp=now - 1, iat=now - 901, nbf=now - 901)
        r = self.forge_refresh(exp=now - 1, iat=now - 901, nbf=now - 901)
        self.assertBothRejected(a, r, "exp = now - 1")

    def test_not_yet_valid(self):
        now = self.now()
        a = self.forge_access(nbf=now + 3600)
        r = self.forge_refresh(nbf=now + 3600)
        self.assertBothRejected(a, r, "nbf = now + 3600")

    def test_without_exp(self):
        self.assertBothRejected(self.forge_access(exp=DROP), self.forge_refresh(exp=DROP), "no exp")
        for bad in ("9999999999", None, True, [self.ac["exp"]]):
            self.assertBothRejected(self.forge_access(exp=bad), self.forge_refresh(exp=bad),
                                    "exp %r" % (bad,))

    def test_wrong_issuer(self):
        port = self.daemon.port
        for iss in (self.issuer + "/", "https://127.0.0.1:%d" % port, "http://evil.example",
                    "http://localhost:%d" % port, "HTTP://127.0.0.1:%d" % port,
                    self.issuer + "/prod", "", DROP):
            self.assertBothRejected(self.forge_access(iss=iss), self.forge_refresh(iss=iss),
                                    "iss %r" % ("<missing>" if iss is DROP else iss,))

    def test_wrong_audience(self):
        for aud in ("gamebackend2", "GameBackend", "other-game", "", DROP):
            with self.subTest(aud="<missing>" if aud is DROP else aud, route="player"):
                self.assertPlayerRejected(self.forge_access(aud=aud), "aud %r" % (aud,))
        for aud in ("gamebackend", "refresh2", "Refresh", "", DROP):
            with self.subTest(aud="<missing>" if aud is DROP else aud, route="refresh"):
                self.assertRefreshRejected(self.forge_refresh(aud=aud), "aud %r" % (aud,))

    def test_refresh_token_as_access_token(self):
        self.assertPlayerRejected(self.guest["refresh_token"], "genuine refresh token")
        # Refresh-shaped claims signed with the real access key.
        self.assertPlayerRejected(self.forge_access(payload=self.refresh_claims(kid=self.access_kid)),
                                  "refresh claims, access key")
        # Access claims MAC'd with the real refresh key under the refresh kid.
        self.assertPlayerRejected(self.forge_refresh(payload=self.access_claims(kid=self.refresh_kid)),
                                  "access claims, refresh key")

    def test_access_token_as_refresh_token(self):
        self.assertRefreshRejected(self.guest["auth_token"], "genuine access token")
        # Full refresh claims (live session, current jti) but signed as an
        # access token with the real RSA key.
        self.assertRefreshRejected(
            self.forge_access(payload=self.refresh_claims(kid=self.access_kid)),
            "refresh claims signed with the access key")
        # Access claims under the refresh key.
        self.assertRefreshRejected(
            self.forge_refresh(payload=self.access_claims(kid=self.refresh_kid)),
            "access claims signed with the refresh key")

    def test_duplicate_members(self):
        victim = self.daemon.new_guest()["user_id"]
        now = self.now()

        def dup(claims, name, first, second):
            body = json.dumps(with_changes(claims, {name: DROP}), separators=(",", ":"))
            return body[:-1] + ',"%s":%s,"%s":%s}' % (name, json.dumps(first), name,
                                                      json.dumps(second))
        ac, rc = self.access_claims(), self.refresh_claims()
        cases = {
            "sub": (dup(ac, "sub", ac["sub"], victim), dup(rc, "sub", rc["sub"], victim)),
            "sub reversed": (dup(ac, "sub", victim, ac["sub"]), dup(rc, "sub", victim, rc["sub"])),
            "exp": (dup(ac, "exp", now - 10, ac["exp"]), dup(rc, "exp", now - 10, rc["exp"])),
            "aud": (dup(ac, "aud", "refresh", "gamebackend"), dup(rc, "aud", "gamebackend", "refresh")),
            "scope": (dup(ac, "scope", "admin", "guest"),
                      dup(rc, "access_token_scope", "guest", "authenticated")),
        }
        for name, (a, r) in cases.items():
            self.assertBothRejected(self.forge_access(payload=a), self.forge_refresh(payload=r),
                                    "duplicate " + name)
        # Duplicate header members.
        ah = '{"alg":"none","alg":"RS256","kid":"%s","typ":"JWT"}' % self.access_kid
        rh = '{"alg":"none","alg":"HS256","kid":"%s","typ":"JWT"}' % self.refresh_kid
        self.assertBothRejected(self.forge_access(header=ah), self.forge_refresh(header=rh),
                                "duplicate alg")
        ah = '{"alg":"RS256","kid":"x","kid":"%s","typ":"JWT"}' % self.access_kid
        rh = '{"alg":"HS256","kid":"x","kid":"%s","typ":"JWT"}' % self.refresh_kid
        self.assertBothRejected(self.forge_access(header=ah), self.forge_refresh(header=rh),
                                "duplicate kid")

    def test_malformed_json_segments(self):
        ac = json.dumps(self.access_claims(), separators=(",", ":"))
        rc = json.dumps(self.refresh_claims(), separators=(",", ":"))
        cases = {
            "payload is an array": ("[%s]" % ac, "[%s]" % rc),
            "payload is a string": (json.dumps(ac), json.dumps(rc)),
            "trailing bytes": (ac + "x", rc + "x"),
            "truncated JSON": (ac[:-1], rc[:-1]),
            "invalid UTF-8": (ac[:-1].encode() + b',"x":"\xff"}', rc[:-1].encode() + b',"x":"\xff"}'),
            "NUL in a claim": (ac[:-1] + ',"x":"a\\u0000b"}', rc[:-1] + ',"x":"a\\u0000b"}'),
        }
        for name, (a, r) in cases.items():
            self.assertBothRejected(self.forge_access(payload=a), self.forge_refresh(payload=r), name)
        self.assertBothRejected(self.forge_access(header="[]"), self.forge_refresh(header="[]"),
                                "header is an array")
        # crit header naming an unknown extension.
        self.assertBothRejected(self.forge_access(header=self.access_header(crit=["x"], x=1)),
                                self.forge_refresh(header=self.refresh_header(crit=["x"], x=1)),
                                "crit header")

    def test_bad_sub(self):
        for sub in (str(uuid.uuid4()).upper(), "admin", "", 1, DROP):
            self.assertBothRejected(self.forge_access(sub=sub), self.forge_refresh(sub=sub),
                                    "sub %r" % ("<missing>" if sub is DROP else sub,))

    def test_refresh_claims_tampered_and_resigned(self):
        # Forged with the real key but naming another session or jti, or
        # granting a scope the session never had.
        cases = {
            "unknown jti": self.forge_refresh(jti="A" * 22),
            "other session": self.forge_refresh(sid=self.rc["sid"] + 100000),
            "access_token_scope admin": self.forge_refresh(access_token_scope="admin"),
            "no jti": self.forge_refresh(jti=DROP),
            "no sid": self.forge_refresh(sid=DROP),
            "scope guest": self.forge_refresh(scope="guest"),
        }
        for name, tok in cases.items():
            with self.subTest(name):
                self.assertRefreshRejected(tok, name)
        # The unknown jti looked like a stolen token being reused: the session
        # is revoked, and its access token is refused from then on (D.1).
        r = self.daemon.get("/get-player-data", headers={"Authorization": self.guest["auth_token"]})
        self.assertEqual(r.status, 401, r)
        # The account itself is unharmed: a new login (checked by tearDown).
        g = self.daemon.get("/login-as-guest?&user_id=%s&guest_secret=%s"
                            % (self.guest["user_id"], self.guest["guest_secret"]))
        self.assertEqual(g.status, 200, g)
        self.guest = g.json()


class ScopeNotAllowed(TokenAttackBase, unittest.TestCase):
    """API.md A.5: a valid access token whose scope is not allowed -> 403."""

    def test_scope_not_allowed_is_forbidden(self):
        for scope in ("admin", "GUEST", "refresh", DROP):
            tok = self.forge_access(scope=scope)
            with self.subTest(scope="<missing>" if scope is DROP else scope):
                self.assertPlayerRejected(tok, "scope %r" % (scope,), status=403, body=FORBIDDEN)

    def test_authenticated_scope_is_allowed(self):
        tok = self.forge_access(scope="authenticated")
        r = self.daemon.get("/get-player-data", headers={"Authorization": tok})
        self.assertEqual(r.status, 200, r)


if __name__ == "__main__":
    unittest.main()
