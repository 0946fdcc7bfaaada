#!/usr/bin/python3
"""Verifies gatehouse access tokens with PyJWT (Debian's python3-jwt, 2.6),
as a Python game backend would: the issuer's discovery document names the
key set, PyJWKClient keeps it cached, and jwt.decode checks the signature
with the algorithm pinned to the key and the claims (exp, nbf, iss, aud).

    verify.py ISSUER TOKEN      exit 0 and the claims as JSON, or 1 and why
    verify.py --stdin ISSUER    one token per line: "ok <claims>" / "refused <why>"

In your service, build one Verifier at start and call verify() per request.
"""
import json
import sys
import time
import urllib.request

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa

AUDIENCE = "gamebackend"
SCOPES = ("guest", "authenticated")
MAX_TOKEN = 8192
MAX_DOCUMENT = 1 << 20


def get_json(url, timeout=5):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        data = r.read(MAX_DOCUMENT + 1)
    if len(data) > MAX_DOCUMENT:
        raise ValueError("document too large")
    return json.loads(data)


class KeyClient(jwt.PyJWKClient):
    """PyJWKClient with a timeout and a size cap on fetches, and at most one
    refetch per refetch_interval for unknown kids (2.6 refetches on every
    miss, which lets forged kids make us hammer the issuer)."""

    def __init__(self, uri, refetch_interval=60, lifespan=3600):
        super().__init__(uri, cache_jwk_set=True, lifespan=lifespan)
        self.refetch_interval = refetch_interval
        self.last_refetch = 0.0

    def fetch_data(self):
        try:
            data = get_json(self.uri)
        except (OSError, ValueError) as e:
            raise jwt.PyJWKClientError("cannot fetch the key set: %s" % e)
        self.jwk_set_cache.put(data)
        return data

    def get_signing_key(self, kid):
        key = self.match_kid(self.get_signing_keys(), kid)
        if key is None and time.monotonic() - self.last_refetch >= self.refetch_interval:
            self.last_refetch = time.monotonic()
            key = self.match_kid(self.get_signing_keys(refresh=True), kid)
        if key is None:
            raise jwt.PyJWKClientError("unknown kid")
        return key


def pinned_alg(key):
    """The algorithm the key is for, never what the token's header says."""
    if isinstance(key, rsa.RSAPublicKey) and key.key_size >= 2048:
        return "RS256"
    if isinstance(key, ec.EllipticCurvePublicKey) and key.curve.name == "secp256r1":
        return "ES256"
    raise jwt.InvalidTokenError("unsupported key")


class Verifier:
    def __init__(self, issuer):
        self.issuer = issuer
        doc = get_json(issuer + "/.well-known/openid-configuration")
        if doc.get("issuer") != issuer or not doc.get("jwks_uri"):
            raise ValueError("the discovery document does not name this issuer")
        self.keys = KeyClient(doc["jwks_uri"])

    def verify(self, token):
        """The verified claims, or raises jwt.InvalidTokenError / PyJWKClientError."""
        if not token or len(token) > MAX_TOKEN:
            raise jwt.InvalidTokenError("no token, or longer than 8 KiB")
        key = self.keys.get_signing_key_from_jwt(token).key
        claims = jwt.decode(token, key, algorithms=[pinned_alg(key)], audience=AUDIENCE,
                            issuer=self.issuer,
                            options={"require": ["exp", "iss", "aud", "sub"]})
        if claims.get("scope") not in SCOPES:
            raise jwt.InvalidTokenError("scope not allowed")
        return claims


def main(argv):
    if "--help" in argv or len(argv) != 3:
        print(__doc__.strip())
        return 0 if "--help" in argv else 2
    stdin = argv[1] == "--stdin"
    issuer = argv[2] if stdin else argv[1]
    try:
        v = Verifier(issuer)
    except (OSError, ValueError) as e:
        print("verify.py: cannot read the issuer's documents: %s" % e, file=sys.stderr)
        return 1
    if not stdin:
        try:
            print(json.dumps(v.verify(argv[2]), sort_keys=True))
            return 0
        except (jwt.InvalidTokenError, jwt.PyJWKClientError, jwt.DecodeError) as e:
            print("verify.py: refused: %s: %s" % (type(e).__name__, e), file=sys.stderr)
            return 1
    for line in sys.stdin:
        try:
            print("ok " + json.dumps(v.verify(line.strip()), sort_keys=True), flush=True)
        except (jwt.InvalidTokenError, jwt.PyJWKClientError, jwt.DecodeError) as e:
            print("refused %s: %s" % (type(e).__name__, e), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
