#!/usr/bin/env python3
"""Writes the seed corpora under tests/fuzz/corpus/ (run from the repository
root: python3 tests/fuzz/make_seeds.py). The output is committed; run this
again only to change the seeds.

No secret or private key ever lands in a seed: token seeds are unsigned
header.payload text (the token targets sign them at run time with keys they
make at start-up, see fuzz_token.c) or carry a dummy signature, and the JWKS
seeds hold public keys of key pairs thrown away at once."""

import base64
import json
import os
import shutil

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, "corpus")

NOW = 1800000000
USER = "0b0e7c4e-7f43-4c39-9d2a-3f3d4f0a1b2c"
SECRET = "q3Jx0m9PzVt1bW7cYk2fHs4nLd8aRu6e"  # a guest secret's shape, not a real one
ISSUER = "https://id.example.com/prod"


def b64(data):
    if isinstance(data, str):
        data = data.encode()
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def jws(header, payload, sig=None):
    h = header if isinstance(header, str) else json.dumps(header, separators=(",", ":"))
    p = payload if isinstance(payload, str) else json.dumps(payload, separators=(",", ":"))
    s = b64(h) + "." + b64(p)
    return s if sig is None else s + "." + sig


def write(target, name, data):
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


def params():
    # byte 0: Content-Type (0 none and no body, 1 json, 2 form, 3 json;charset,
    # 4 form;charset, 5 text/plain, 6 body without type, 7 " Application/JSON")
    t = "params"
    write(t, "unity_guest_login", b"\x00/prod/login-as-guest?&user_id=%s&guest_secret=%s"
          % (USER.encode(), SECRET.encode()))
    write(t, "unreal_guest_login", b"\x00/login-as-guest?user_id=%s&guest_secret=%s"
          % (USER.encode(), SECRET.encode()))
    write(t, "refresh_query", "\x00/refresh-access-token?&refresh_token=" +
          jws({"alg": "HS256", "kid": "k1", "typ": "JWT"}, {"sub": USER}, "c2ln"))
    write(t, "json_guest_login", "\x01/prod/login-as-guest\n" +
          json.dumps({"user_id": USER, "guest_secret": SECRET}))
    write(t, "form_guest_login", "\x02/login-as-guest\nuser_id=%s&guest_secret=%s" % (USER, SECRET))
    write(t, "json_steam", "\x03/login-with-steam\n" +
          json.dumps({"steam_auth_token": "140000006A7B0C1D" * 8, "link_to_existing_user": "true"}))
    write(t, "form_charset_facebook", "\x04/login-with-facebook?\nfacebook_access_token=EAAB%2Bx"
          "Yz0&facebook_user_id=10158812345678901&player_name=Jane+Doe")
    write(t, "text_plain", "\x05/logout\nrefresh_token=abc")
    write(t, "body_without_type", "\x06/logout\n{}")
    write(t, "json_upper_type", "\x07/login-with-oidc\n" +
          json.dumps({"provider": "google", "id_token": "eyJ.eyJ.sig", "player_name": "caf\u00e9"}))
    write(t, "json_escapes", "\x01/login-with-apple-id\n"
          '{"apple_auth_token":"a\\u00e9\\ud83d\\ude00\\n","player_name":"\\u0041"}')
    write(t, "query_and_form", "\x02/player-data?limit=10&cursor=abc%3D\nplatform=steam")
    write(t, "encoded_and_fragment", "\x00/get-user?user_id=a%2Bb&x%5Fy=%26%3D%2B&n=caf%C3%A9#frag&z=1")
    write(t, "empty_pairs", "\x00/x?&&a=1&&b&c=&")
    write(t, "json_not_object", "\x01/x\n[\"user_id\"]")


def token_seeds():
    # byte 0 % 8: 0/7 as given ('h'); 1 2 3 re-signed RS256 ES256 HS256 ('a' 'b' 'c');
    # 4 5 6 "header\npayload" JSON, encoded and signed RS256 ES256 HS256 ('d' 'e' 'f')
    t = "token"
    access = {"sub": USER, "exp": NOW + 900, "iss": ISSUER, "kid": "fuzz-rs256",
              "aud": "gamebackend", "nbf": NOW, "iat": NOW, "scope": "guest"}
    write(t, "access_rs256", "a" + jws({"alg": "RS256", "kid": "fuzz-rs256", "typ": "JWT"}, access))
    es = dict(access, kid="fuzz-es256", scope="authenticated")
    write(t, "access_es256", "b" + jws({"alg": "ES256", "kid": "fuzz-es256", "typ": "JWT"}, es))
    refresh = {"sub": USER, "exp": NOW + 86400, "iss": ISSUER, "kid": "fuzz-hs256",
               "aud": "refresh", "nbf": NOW, "iat": NOW, "scope": "refresh",
               "access_token_scope": "guest", "jti": "AAAAAAAAAAAAAAAAAAAAAA", "sid": 42}
    write(t, "refresh_hs256", "c" + jws({"alg": "HS256", "kid": "fuzz-hs256", "typ": "JWT"}, refresh))
    foreign = {"iss": ISSUER, "aud": ["other", "com.example.game"], "exp": NOW + 60,
               "iat": NOW - 30, "nbf": NOW - 30, "sub": "player-123"}
    write(t, "foreign_rs256", "a" + jws({"alg": "RS256", "kid": "fuzz-rs256"}, foreign))
    write(t, "foreign_es256_unavailable", "b" + jws({"alg": "ES256", "kid": "unavailable"}, foreign))
    write(t, "json_access_rs256", "d" + json.dumps({"alg": "RS256", "kid": "fuzz-rs256"}) + "\n"
          + json.dumps(access))
    write(t, "json_access_es256", "e" + json.dumps({"alg": "ES256", "kid": "fuzz-es256", "typ": "jwt"})
          + "\n" + json.dumps(es))
    write(t, "json_refresh_hs256", "f" + json.dumps({"alg": "HS256", "kid": "fuzz-hs256"}) + "\n"
          + json.dumps(refresh))
    write(t, "json_foreign_array_aud", "d" + json.dumps({"alg": "RS256", "kid": "fuzz-rs256"}) + "\n"
          + json.dumps(foreign))
    write(t, "raw_alg_none", "h" + jws({"alg": "none", "kid": "fuzz-rs256"}, access, ""))
    write(t, "raw_hs256_confusion", "h" + jws({"alg": "HS256", "kid": "fuzz-rs256"}, access,
                                               b64(b"\x00" * 32)))
    write(t, "raw_bad_sig_es256", "h" + jws({"alg": "ES256", "kid": "fuzz-es256"}, es, b64(b"\x01" * 64)))
    write(t, "crit_header", "a" + jws({"alg": "RS256", "kid": "fuzz-rs256", "crit": ["x"]}, access))
    write(t, "duplicate_claim", "c" + jws({"alg": "HS256", "kid": "fuzz-hs256"},
                                           '{"sub":"%s","sub":"x","exp":1}' % USER))


def idtoken_seeds():
    # byte 0 % 8: 0/7 as given; 1/3 re-signed RS256, 2 ES256; 4/6 "header\npayload" JSON
    # signed RS256, 5 ES256. Bit 3: OIDC rules, else Apple's. Apple: 'a' 'b' 'd' 'g';
    # OIDC: 'i' (RS256) 'j' (ES256) 'l' 'm' (JSON) 'o' (as given)
    t = "idtoken"
    apple = {"iss": "https://appleid.apple.com", "aud": "com.example.game", "exp": NOW + 600,
             "iat": NOW, "sub": "001234.0123456789abcdef0123456789abcdef.1234",
             "nonce": "n-0S6_WzA2Mj", "email": "x@privaterelay.appleid.com",
             "email_verified": "true", "is_private_email": "true", "auth_time": NOW}
    write(t, "apple_rs256", "a" + jws({"kid": "fuzz-apple-rs", "alg": "RS256"}, apple))
    write(t, "apple_web_audience", "a" + jws({"kid": "fuzz-apple-rs", "alg": "RS256"},
                                              dict(apple, aud=["com.example.game.web"])))
    google = {"iss": "https://accounts.google.com", "azp": "x.apps.googleusercontent.com",
              "aud": "1234567890-example.apps.googleusercontent.com", "sub": "110169484474386276334",
              "email_verified": True, "iat": NOW, "nbf": NOW - 5, "exp": NOW + 3600}
    write(t, "oidc_rs256", "i" + jws({"alg": "RS256", "kid": "fuzz-apple-rs", "typ": "JWT"}, google))
    write(t, "oidc_es256", "j" + jws({"alg": "ES256", "kid": "fuzz-oidc-es", "typ": "JWT"}, google))
    write(t, "oidc_expired_leeway", "j" + jws({"alg": "ES256", "kid": "fuzz-oidc-es"},
                                               dict(google, exp=NOW - 59)))
    write(t, "apple_es256_not_allowed", "b" + jws({"alg": "ES256", "kid": "fuzz-oidc-es"}, apple))
    write(t, "apple_json", "d" + json.dumps({"kid": "fuzz-apple-rs", "alg": "RS256"}) + "\n"
          + json.dumps(apple))
    write(t, "oidc_json_rs256", "l" + json.dumps({"alg": "RS256", "kid": "fuzz-apple-rs"}) + "\n"
          + json.dumps(google))
    write(t, "oidc_json_es256_nbf", "m" + json.dumps({"alg": "ES256", "kid": "fuzz-oidc-es"}) + "\n"
          + json.dumps(dict(google, nbf=NOW + 29, iat=NOW + 31)))
    write(t, "apple_raw_dummy_sig", "g" + jws({"alg": "RS256", "kid": "fuzz-apple-rs"}, apple, b64(b"\x00" * 256)))
    write(t, "raw_dummy_sig", "o" + jws({"alg": "RS256", "kid": "fuzz-apple-rs"}, google, b64(b"\x00" * 256)))
    write(t, "unavailable_kid", "a" + jws({"alg": "RS256", "kid": "unavailable"}, apple))


def config_seeds():
    t = "config"
    write(t, "sample_like", """# gatehouse configuration
listen_address 127.0.0.1
listen_port 8080
base_path /prod
issuer_url "https://id.example.com/prod"
max_body_size 64KiB
idle_timeout 30s
trusted_proxies 10.0.0.0/8, ::1
metrics_listen_address [::1]:9100
database_path /var/lib/gatehouse/gatehouse.db   # trailing comment
sqlite_synchronous normal
group_commit on
signing_alg ES256
access_token_ttl 15m
refresh_token_ttl 6d
key_rotation_interval 7d
key_prepublish 1d
log_level info
""")
    write(t, "platforms", """steam_app_id 480
steam_web_api_key_file steam.key
steam_identity gatehouse
steam_reject_vac_banned yes
apple_app_ids com.example.game, com.example.game.web
facebook_app_id 1234567890
google_play_client_id 1234-abc.apps.googleusercontent.com
google_play_app_id 123456789012
oidc_providers google, epic_games
oidc_google_issuer https://accounts.google.com
oidc_google_jwks_url https://www.googleapis.com/oauth2/v3/certs
oidc_google_audiences 1234-abc.apps.googleusercontent.com
oidc_epic_games_issuer "https://api.epicgames.dev/epic/oauth/v1"
oidc_epic_games_jwks_url https://api.epicgames.dev/epic/oauth/v1/.well-known/jwks.json
oidc_epic_games_audiences xyza7891
oidc_epic_games_subject_claim sub
oidc_epic_games_algs RS256, ES256
""")
    write(t, "bad_quoting", 'cors_allow_origin "*\nbase_path "/x" junk\n')
    write(t, "sets_style", "listen_port=9000\nbase_path=\nlog_format=json\nrate_limit_login=10\n")
    write(t, "empty_values", 'issuer_url ""\ncors_allow_origin ""\n\n   \n\t# comment\n')


def jwks_seeds():
    t = "jwks"
    keys = []
    try:
        from cryptography.hazmat.primitives.asymmetric import ec, rsa
        pub = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key().public_numbers()
        n = pub.n.to_bytes(256, "big")
        keys.append({"kty": "RSA", "kid": "W6WcOKB", "use": "sig", "alg": "RS256",
                     "n": b64(n), "e": b64(pub.e.to_bytes(3, "big"))})
        for i in range(200):  # one whose x starts with a zero byte, written short
            p = ec.generate_private_key(ec.SECP256R1()).public_key().public_numbers()
            if p.x < 1 << 248:
                break
        keys.append({"kty": "EC", "kid": "ec-short-x", "crv": "P-256", "use": "sig",
                     "x": b64(p.x.to_bytes((p.x.bit_length() + 7) // 8, "big")),
                     "y": b64(p.y.to_bytes(32, "big"))})
    except ImportError:
        pass
    write(t, "apple_like", json.dumps({"keys": keys}))
    write(t, "skipped_members", json.dumps({"keys": [
        {"kty": "oct", "kid": "x", "k": "AAAA"},
        {"kty": "RSA", "kid": "enc", "use": "enc", "n": "AQAB", "e": "AQAB"},
        {"kty": "RSA", "kid": "small", "alg": "RS256", "n": b64(b"\xff" * 128), "e": "AQAB"},
        {"kty": "EC", "kid": "wrong-alg", "alg": "RS256", "crv": "P-256", "x": "AA", "y": "AA"},
        {"kty": "EC", "kid": "p384", "crv": "P-384", "x": "AA", "y": "AA"},
        {"kty": "EC", "kid": "off-curve", "crv": "P-256", "x": b64(b"\x01" * 32), "y": b64(b"\x02" * 32)},
        {"kid": "no-kty"}, "not an object", 7]}))
    write(t, "not_a_set", '{"keys":{}}')
    write(t, "empty", '{"keys":[]}')


def provider_seeds():
    write("steam", "ok", "\x00\x00" + json.dumps({"response": {"params": {
        "result": "OK", "steamid": "76561197960287930", "ownersteamid": "76561197960287930",
        "vacbanned": False, "publisherbanned": False}}}))
    write("steam", "vac_banned", "\x00\x01" + json.dumps({"response": {"params": {
        "result": "OK", "steamid": "76561197960287930", "vacbanned": True}}}))
    write("steam", "invalid_ticket", "\x00\x00" + json.dumps(
        {"response": {"error": {"errorcode": 101, "errordesc": "Invalid ticket"}}}))
    write("steam", "forbidden", "\x05\x00" + "{}")
    write("google", "token_ok", "\x00\x00" + json.dumps({
        "access_token": "ya29.a0AfH6SMBexample", "expires_in": 3599, "scope": "openid",
        "token_type": "Bearer", "id_token": "eyJ.eyJ.sig"}))
    write("google", "token_invalid_grant", "\x00\x04" + json.dumps(
        {"error": "invalid_grant", "error_description": "Bad Request"}))
    write("google", "token_invalid_client", "\x00\x05" + json.dumps(
        {"error": "invalid_client", "error_description": "Unauthorized"}))
    write("google", "verify_ok", "\x01\x00" + json.dumps(
        {"kind": "games#applicationVerifyResponse", "player_id": "g0123456789012345678",
         "alternate_player_id": "0123456789"}))
    write("google", "verify_forbidden", "\x01\x06" + json.dumps(
        {"error": {"code": 403, "message": "The caller does not have permission"}}))
    write("facebook", "user_ok", "\x00" + json.dumps({"id": "10158812345678901", "name": "Jane"}))
    write("facebook", "app_ok", "\x00" + json.dumps(
        {"id": "1234567890", "name": "Example Game", "link": "https://www.facebook.com/games/?app_id=1"}))
    write("facebook", "oauth_error", "\x04" + json.dumps({"error": {
        "message": "Invalid OAuth access token.", "type": "OAuthException", "code": 190,
        "fbtrace_id": "A1b2C3"}}))


def jsoncheck_seeds():
    # Documents as games store them, and the shapes the quick check declines.
    t = "jsoncheck"
    write(t, "save", json.dumps({"level": 12, "hp": 87.5, "name": "Ren\u00e9",
                                 "inventory": [{"id": "sword", "n": 1}, {"id": "potion", "n": 3}],
                                 "flags": {"tutorial": True, "boss": False}, "pet": None},
                                ensure_ascii=False))
    write(t, "scalars", b'[0,-0,-12,1.5,-0.25,"",true,false,null,"a\\n\\t\\"b"]')
    write(t, "nested", b'{"a":{"b":{"c":[[[1]]]}}}')
    write(t, "escapes", b'{"k":"\\u0041\\ud83d\\ude00","e":1e5,"big":123456789012345678901}')
    write(t, "duplicates", b'{"a":1,"b":2,"a":3}')
    write(t, "bad", b'{"a":[1,2,}')
    write(t, "body", json.dumps({"user_id": USER, "guest_secret": SECRET}))
    write(t, "claims", json.dumps({"sub": USER, "exp": NOW + 900, "iss": ISSUER, "aud": "refresh",
                                   "nbf": NOW, "iat": NOW, "scope": "refresh", "sid": 7,
                                   "jti": "a\\nb", "ok": True, "none": None}))


if __name__ == "__main__":
    shutil.rmtree(CORPUS, ignore_errors=True)
    params()
    token_seeds()
    idtoken_seeds()
    config_seeds()
    jwks_seeds()
    provider_seeds()
    jsoncheck_seeds()
