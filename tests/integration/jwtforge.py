"""Forged and genuine-looking tokens for the forward-auth and recipe tests,
signed with a running daemon's REAL keys (read from its database), so each
forgery differs from a genuine token only in the attacked part."""
import base64
import hashlib
import hmac
import json
import time

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from gh import db_rows, jwt_parts


def b64u(data):
    if isinstance(data, str):
        data = data.encode()
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def db_keys(daemon):
    """{kid: (use, alg, key object or HMAC secret)} from the daemon's store."""
    rows = db_rows(daemon, "SELECT kid, use, alg, material FROM signing_keys")
    out = {}
    for kid, use, alg, material in rows:
        if alg == "HS256":
            out[kid] = (use, alg, bytes(material))
        else:
            out[kid] = (use, alg, serialization.load_pem_private_key(bytes(material), None))
    return out


def sign(header, payload, alg, key):
    si = b64u(json.dumps(header, separators=(",", ":"))) + "." + \
        b64u(json.dumps(payload, separators=(",", ":")))
    data = si.encode()
    if alg == "RS256":
        sig = key.sign(data, padding.PKCS1v15(), hashes.SHA256())
    elif alg == "ES256":
        r, s = decode_dss_signature(key.sign(data, ec.ECDSA(hashes.SHA256())))
        sig = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    elif alg == "HS256":
        sig = hmac.new(key, data, hashlib.sha256).digest()
    elif alg == "none":
        return si + "."
    else:
        raise ValueError(alg)
    return si + "." + b64u(sig)


def resign(daemon, token, header_changes=None, **claim_changes):
    """token with changed claims (None drops one), signed again by the key
    its kid names."""
    h, p = jwt_parts(token)
    h = dict(h, **(header_changes or {}))
    for k, v in claim_changes.items():
        if v is None:
            p.pop(k, None)
        else:
            p[k] = v
    _, alg, key = db_keys(daemon)[h["kid"]]
    return sign(h, p, alg, key)


def public_pem(daemon, kid):
    _, _, key = db_keys(daemon)[kid]
    return key.public_key().public_bytes(serialization.Encoding.PEM,
                                         serialization.PublicFormat.SubjectPublicKeyInfo)


def forgeries(daemon, access, refresh):
    """name -> a token every verifier must refuse, made from a genuine access
    token and refresh token of daemon."""
    h, p = jwt_parts(access)
    now = int(time.time())
    confusion = dict(h, alg="HS256")
    out = {
        # HS256 keyed with the published key's PEM: passes libjwt 1.10's
        # jwt_decode unless the algorithm is pinned to the key.
        "alg confusion": sign(confusion, p, "HS256", public_pem(daemon, h["kid"])),
        "alg none": sign(dict(h, alg="none"), p, "none", None),
        "expired": resign(daemon, access, exp=now - 60, iat=now - 1000, nbf=now - 1000),
        "not yet valid": resign(daemon, access, nbf=now + 3600),
        "wrong audience": resign(daemon, access, aud="refresh"),
        "wrong issuer": resign(daemon, access, iss=p["iss"] + "/"),
        "refresh token": refresh,
        "bad signature": access[:-6] + ("AAAAAA" if not access.endswith("AAAAAA") else "BBBBBB"),
        "unknown kid": sign(dict(h, kid="no-such-key"), p, h["alg"],
                            db_keys(daemon)[h["kid"]][2]),
        "garbage": "not.a.token",
    }
    return out
