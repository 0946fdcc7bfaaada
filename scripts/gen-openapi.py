"""Generates docs/openapi.json, the OpenAPI 3.1 description of every route:

    python3 scripts/gen-openapi.py [OUT]

Edit this script, not the JSON, when a route changes; tests/integration/
test_openapi.py fails while the router and the document disagree."""
import json
import os
import subprocess
import sys

OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "docs", "openapi.json")

TEXT = "text/plain; charset=utf-8"
JSON = "application/json"
FORM = "application/x-www-form-urlencoded"


def _error_table():
    """The daemon's error table (`gatehouse routes --json`): the one place each
    error's status and bodies are written (src/reply.c)."""
    binary = os.environ.get("GH_TEST_BIN") or os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "build", "gatehouse")
    out = subprocess.run([binary, "routes", "--json"], check=True, capture_output=True).stdout
    return json.loads(out)["errors"]


ERRORS = _error_table()


def C(name):
    """The compat (plain-text) body of an error row."""
    return ERRORS[name]["compat"]


def A(name):
    """The API Gateway message of an error row."""
    return ERRORS[name]["apigw"]


def J(name):
    """gatehouse's JSON body of an error row."""
    return {"error": ERRORS[name]["slug"], "message": ERRORS[name]["message"]}


def ref(kind, name):
    return {"$ref": "#/components/%s/%s" % (kind, name)}


def sref(name):
    return ref("schemas", name)


def rref(name):
    return ref("responses", name)


def common_headers(extra=None):
    h = {
        "X-Request-Id": ref("headers", "X-Request-Id"),
        "Access-Control-Allow-Origin": ref("headers", "Access-Control-Allow-Origin"),
    }
    if extra:
        h.update(extra)
    return h


def retry_after():
    return {"Retry-After": ref("headers", "Retry-After")}


def etag_header(required=True):
    return {"ETag": ref("headers", "ETag") if required else ref("headers", "ETag-If-Exists")}


def response(description, content=None, headers=None):
    r = {"description": description, "headers": common_headers(headers)}
    if content:
        r["content"] = content
    return r


def text_response(description, strings, headers=None):
    schema = {"type": "string", "enum": list(strings)}
    return response(description, {TEXT: {"schema": schema,
                                         "example": strings[0]}}, headers)


def json_response(description, schema, headers=None, example=None):
    media = {"schema": schema}
    if example is not None:
        media["example"] = example
    return response(description, {JSON: media}, headers)


def error_schema(slugs, base="Error"):
    """Error (or a derived shape) with the slugs this response may carry."""
    return {"allOf": [sref(base),
                      {"properties": {"error": {"enum": list(slugs)}}}]}


def apigw_schema(messages):
    return {"allOf": [sref("ApiGatewayMessage"),
                      {"properties": {"message": {"enum": list(messages)}}}]}


# ---------------------------------------------------------------- schemas

UUID_PATTERN = "^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$"
KEY_PATTERN = "^[A-Za-z0-9_.-]{1,128}$"

schemas = {
    "UserId": {
        "type": "string",
        "format": "uuid",
        "pattern": UUID_PATTERN,
        "description": "A lowercase UUIDv4.",
        "examples": ["4f9b3a7e-2c1d-4e8f-9a6b-0c5d7e1f2a3b"],
    },
    "UnixTime": {
        "type": "integer",
        "description": "Seconds since the Unix epoch.",
        "examples": [1795534683],
    },
    "GuestSecret": {
        "type": "string",
        "minLength": 73,
        "maxLength": 73,
        "pattern": "^[0-9a-f-]{73}$",
        "description": "`<uuid4>-<uuid4>` (73 characters). The same secret logs the guest in "
                       "for ever; gatehouse stores only its SHA-256 digest.",
    },
    "Jwt": {
        "type": "string",
        "pattern": "^[A-Za-z0-9_-]+\\.[A-Za-z0-9_-]+\\.[A-Za-z0-9_-]+$",
        "description": "A compact JWS.",
    },
    "TokenResponse": {
        "type": "object",
        "description": "A token pair of one session (API.md A.2). The access token (`auth_token`) "
                       "is signed with the published keys (RS256 by default, header `kid`), with "
                       "claims `sub`, `iss`, `kid`, `aud` `gamebackend`, `scope` (`guest` or "
                       "`authenticated`), `iat`, `nbf`, `exp`. The refresh token has `aud` and "
                       "`scope` `refresh`, `access_token_scope`, `jti` and `sid`, is signed with "
                       "an internal key, and is only ever verified by gatehouse.",
        "required": ["user_id", "auth_token", "refresh_token", "auth_token_expires_in",
                     "refresh_token_expires_in"],
        "properties": {
            "user_id": sref("UserId"),
            "auth_token": {"$ref": "#/components/schemas/Jwt",
                           "description": "The access token (default lifetime 900 s)."},
            "refresh_token": {"$ref": "#/components/schemas/Jwt",
                              "description": "The refresh token; each refresh spends it and "
                                             "issues the next one of the same session."},
            "auth_token_expires_in": {"type": "integer", "minimum": 1,
                                      "description": "Seconds until `auth_token` expires."},
            "refresh_token_expires_in": {"type": "integer", "minimum": 1,
                                         "description": "Seconds until the refresh token "
                                                        "expires; refreshing never extends "
                                                        "the session (default 6 days)."},
            "guest_secret": sref("GuestSecret"),
        },
    },
    "GuestTokenResponse": {
        "description": "A guest login: the token pair plus the guest's secret (new, or "
                       "echoed).",
        "allOf": [sref("TokenResponse"), {"required": ["guest_secret"]}],
        "examples": [{
            "user_id": "4f9b3a7e-2c1d-4e8f-9a6b-0c5d7e1f2a3b",
            "guest_secret": "0d4c1f7e-9b2a-4c3d-8e5f-6a7b8c9d0e1f-"
                            "1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d",
            "auth_token": "eyJhbGciOiJSUzI1NiIsImtpZCI6Ii4uLiIsInR5cCI6IkpXVCJ9.e30.c2ln",
            "refresh_token": "eyJhbGciOiJIUzI1NiIsImtpZCI6Ii4uLiIsInR5cCI6IkpXVCJ9.e30.c2ln",
            "auth_token_expires_in": 900,
            "refresh_token_expires_in": 518400,
        }],
    },
    "GuestLoginParameters": {
        "type": "object",
        "description": "No member: create a new guest. `user_id` and `guest_secret`: log "
                       "that guest in. Values are strings; other members are ignored but "
                       "must be strings too.",
        "properties": {
            "user_id": sref("UserId"),
            "guest_secret": sref("GuestSecret"),
        },
        "additionalProperties": {"type": "string"},
    },
    "RefreshParameters": {
        "type": "object",
        "required": ["refresh_token"],
        "properties": {"refresh_token": sref("Jwt")},
        "additionalProperties": {"type": "string"},
    },
    "PlayerNameParameters": {
        "type": "object",
        "required": ["player_name"],
        "properties": {"player_name": {"type": "string", "minLength": 1}},
        "additionalProperties": {"type": "string"},
    },
    "StringParameters": {
        "type": "object",
        "description": "Any parameters, as strings (none is needed).",
        "additionalProperties": {"type": "string"},
    },
    "ApiGatewayMessage": {
        "type": "object",
        "description": "API Gateway's error shape: its JWT authorizer answers "
                       "`{\"message\":\"Unauthorized\"}` and `{\"message\":\"Forbidden\"}`, its "
                       "request validator `{\"message\": \"Missing required request parameters: "
                       "[name]\"}`.",
        "required": ["message"],
        "properties": {"message": {"type": "string"}},
    },
    "Error": {
        "type": "object",
        "description": "gatehouse's own error shape (API.md B): a stable slug and a human "
                       "text.",
        "required": ["error", "message"],
        "properties": {
            "error": {"type": "string", "description": "A stable, machine-readable slug.",
                      "examples": ["unauthorized"]},
            "message": {"type": "string"},
        },
    },
    "ErrorWithIndex": {
        "description": "An error about one write of a batch names it by `index` (from 0); "
                       "errors about the whole body have no `index`.",
        "allOf": [sref("Error"), {
            "properties": {"index": {"type": "integer", "minimum": 0, "maximum": 24}}}],
    },
    "SessionsEnded": {
        "type": "object",
        "required": ["user_id", "sessions_ended"],
        "properties": {
            "user_id": sref("UserId"),
            "sessions_ended": {"type": "integer", "minimum": 0},
        },
        "examples": [{"user_id": "4f9b3a7e-2c1d-4e8f-9a6b-0c5d7e1f2a3b", "sessions_ended": 1}],
    },
    "Account": {
        "type": "object",
        "description": "What gatehouse knows about a user (API.md D.2); `gatehouse user show` "
                       "prints the same object.",
        "required": ["user_id", "created_at", "has_guest_secret", "steam_id", "apple_id",
                     "google_play_id", "facebook_id", "oidc", "sessions", "banned_until"],
        "properties": {
            "user_id": sref("UserId"),
            "created_at": sref("UnixTime"),
            "has_guest_secret": {"type": "boolean"},
            "steam_id": {"type": ["string", "null"]},
            "apple_id": {"type": ["string", "null"]},
            "google_play_id": {"type": ["string", "null"]},
            "facebook_id": {"type": ["string", "null"]},
            "oidc": {"type": "object", "description": "Linked OIDC providers: name to subject.",
                     "additionalProperties": {"type": "string"}},
            "sessions": {"type": "integer", "minimum": 0,
                         "description": "Live sessions (refreshable)."},
            "banned_until": {"type": ["integer", "null"],
                             "description": "Unix seconds while banned, else null."},
        },
    },
    "DeleteResult": {
        "type": "object",
        "required": ["user_id", "deleted"],
        "properties": {"user_id": sref("UserId"), "deleted": {"const": True}},
    },
    "Export": {
        "type": "object",
        "description": "Everything stored about the user, never a secret, digest, token or "
                       "key (API.md D.2).",
        "required": ["user", "identities", "sessions", "player_data"],
        "properties": {
            "user": sref("Account"),
            "identities": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["provider", "subject"],
                    "properties": {
                        "provider": {"type": "string",
                                     "description": "`steam`, `apple`, `google_play`, "
                                                    "`facebook` or `oidc:<name>`."},
                        "subject": {"type": "string"},
                    },
                },
            },
            "sessions": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["session_id", "created_at", "expires_at", "ended_at"],
                    "properties": {
                        "session_id": {"type": "integer"},
                        "created_at": sref("UnixTime"),
                        "expires_at": sref("UnixTime"),
                        "ended_at": {"type": ["integer", "null"]},
                    },
                },
            },
            "player_data": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["key", "version", "updated_at", "value"],
                    "properties": {
                        "key": sref("DocumentKey"),
                        "version": sref("DocumentVersion"),
                        "updated_at": sref("UnixTime"),
                        "value": {"description": "The stored JSON value."},
                    },
                },
            },
        },
    },
    "PlayerData": {
        "type": "object",
        "description": "The sample backend's answer (API.md A.5): `PlayerName` only when the "
                       "document `player_name` holds a JSON string.",
        "required": ["UserID"],
        "properties": {
            "UserID": sref("UserId"),
            "PlayerName": {"type": "string"},
        },
        "examples": [{"UserID": "4f9b3a7e-2c1d-4e8f-9a6b-0c5d7e1f2a3b",
                      "PlayerName": "John Doe"}],
    },
    "DocumentKey": {
        "type": "string",
        "pattern": KEY_PATTERN,
        "minLength": 1,
        "maxLength": 128,
        "description": "1 to 128 of `A-Z a-z 0-9 _ . -` (after percent-decoding).",
    },
    "DocumentVersion": {
        "type": "integer",
        "minimum": 1,
        "description": "Positive, strictly increasing per user and key, never reused (even "
                       "after a delete). The ETag is `\"<version>\"`.",
    },
    "DocumentWriteResult": {
        "type": "object",
        "required": ["key", "version", "updated_at"],
        "properties": {
            "key": sref("DocumentKey"),
            "version": sref("DocumentVersion"),
            "updated_at": sref("UnixTime"),
        },
        "examples": [{"key": "savegame", "version": 1, "updated_at": 1795534683}],
    },
    "DocumentListItem": {
        "type": "object",
        "required": ["key", "version", "size", "updated_at"],
        "properties": {
            "key": sref("DocumentKey"),
            "version": sref("DocumentVersion"),
            "size": {"type": "integer", "minimum": 1, "description": "Bytes stored."},
            "updated_at": sref("UnixTime"),
        },
    },
    "DocumentList": {
        "type": "object",
        "required": ["items", "next_cursor"],
        "properties": {
            "items": {"type": "array", "items": sref("DocumentListItem"),
                      "description": "By key, bytewise."},
            "next_cursor": {"type": ["string", "null"],
                            "description": "Opaque; pass it as `cursor` for the next page. "
                                           "Null on the last page."},
        },
    },
    "BatchWrite": {
        "type": "object",
        "required": ["key", "value"],
        "properties": {
            "key": sref("DocumentKey"),
            "value": {"description": "Any JSON value; stored byte for byte as sent."},
            "if_match": {"type": "string",
                         "description": "`\"<version>\"` (quotes included) or `*`: write only "
                                        "when the document is at that version (exists)."},
            "if_none_match": {"const": "*",
                              "description": "Write only when the key is absent."},
        },
        "not": {"required": ["if_match", "if_none_match"],
                "properties": {"if_match": {}, "if_none_match": {}}},
        "additionalProperties": False,
    },
    "BatchRequest": {
        "type": "object",
        "required": ["writes"],
        "properties": {
            "writes": {"type": "array", "minItems": 1, "maxItems": 25,
                       "items": sref("BatchWrite"),
                       "description": "1 to 25 writes with unique keys."},
        },
        "additionalProperties": False,
        "examples": [{"writes": [
            {"key": "savegame", "value": {"level": 5}, "if_match": "\"2\""},
            {"key": "settings", "value": {"music": 0.5}, "if_none_match": "*"}]}],
    },
    "BatchResult": {
        "type": "object",
        "required": ["results"],
        "properties": {
            "results": {"type": "array", "items": sref("DocumentWriteResult"),
                        "description": "One per write, in request order."},
        },
    },
    "PreconditionFailed": {
        "type": "object",
        "description": "A failed `If-Match`/`If-None-Match` (API.md D.4): `version` is the "
                       "current version, or null when the document does not exist.",
        "required": ["error", "version"],
        "properties": {
            "error": {"const": "precondition_failed"},
            "message": {"type": "string"},
            "version": {"type": ["integer", "null"], "minimum": 1},
        },
        "examples": [{"error": "precondition_failed",
                      "message": "The document changed or does not exist", "version": 2}],
    },
    "BatchPreconditionFailed": {
        "description": "The first write of a batch whose precondition failed; nothing was "
                       "written.",
        "allOf": [sref("PreconditionFailed"), {
            "required": ["index", "key"],
            "properties": {
                "index": {"type": "integer", "minimum": 0, "maximum": 24},
                "key": sref("DocumentKey"),
            },
        }],
    },
    "Jwk": {
        "type": "object",
        "description": "A public key; never a private member (`d`, `p`, `q`, ...).",
        "required": ["kty", "kid", "alg", "use"],
        "properties": {
            "kty": {"enum": ["RSA", "EC"]},
            "kid": {"type": "string"},
            "alg": {"type": "string", "examples": ["RS256", "ES256"]},
            "use": {"const": "sig"},
            "n": {"type": "string", "description": "RSA modulus (base64url)."},
            "e": {"type": "string", "description": "RSA exponent (base64url)."},
            "crv": {"type": "string", "description": "EC curve (`P-256`)."},
            "x": {"type": "string"},
            "y": {"type": "string"},
        },
    },
    "Jwks": {
        "type": "object",
        "description": "The signing key, the previous key(s) still needed to verify live "
                       "tokens, and the next key once pre-published (API.md A.4).",
        "required": ["keys"],
        "properties": {"keys": {"type": "array", "items": sref("Jwk"), "minItems": 1}},
    },
    "OpenIdConfiguration": {
        "type": "object",
        "required": ["issuer", "jwks_uri", "id_token_signing_alg_values_supported",
                     "scopes_supported"],
        "properties": {
            "issuer": {"type": "string", "format": "uri",
                       "description": "`issuer_url`, byte-exact, no trailing slash: the "
                                      "tokens' `iss`."},
            "jwks_uri": {"type": "string", "format": "uri",
                         "description": "`<issuer>/.well-known/jwks.json`."},
            "id_token_signing_alg_values_supported": {"type": "array",
                                                      "items": {"type": "string"}},
            "scopes_supported": {"type": "array", "items": {"enum": ["guest",
                                                                      "authenticated"]}},
        },
        "examples": [{
            "issuer": "https://login.example.com",
            "jwks_uri": "https://login.example.com/.well-known/jwks.json",
            "id_token_signing_alg_values_supported": ["RS256"],
            "scopes_supported": ["guest", "authenticated"]}],
    },
    "Health": {
        "type": "object",
        "required": ["status"],
        "properties": {"status": {"const": "ok"}},
    },
    "Ready": {
        "type": "object",
        "required": ["status"],
        "properties": {
            "status": {"enum": ["ready", "unavailable"]},
            "reason": {"enum": ["no signing key", "database"],
                       "description": "Why it is not ready (503 only)."},
        },
    },
}

# ---------------------------------------------------------------- headers

headers = {
    "X-Request-Id": {
        "description": "Sent on every response: the client's own `X-Request-Id` when it is 1 "
                       "to 64 of `A-Z a-z 0-9 - _ . :`, else one made by gatehouse. Log lines "
                       "of the request carry it.",
        "schema": {"type": "string"},
    },
    "Access-Control-Allow-Origin": {
        "description": "Sent on every response: the `cors_origin` setting (default `*`).",
        "schema": {"type": "string"},
    },
    "Retry-After": {
        "description": "Whole seconds (at least 1) to wait before trying again.",
        "required": True,
        "schema": {"type": "integer", "minimum": 1},
    },
    "ETag": {
        "description": "The document's version as an entity tag: `\"<version>\"`.",
        "required": True,
        "schema": {"type": "string", "pattern": "^\"[1-9][0-9]*\"$"},
    },
    "ETag-If-Exists": {
        "description": "The current version `\"<version>\"`, sent when the document exists.",
        "schema": {"type": "string", "pattern": "^\"[1-9][0-9]*\"$"},
    },
    "Cache-Control-No-Store": {
        "description": "`no-store`: token and account answers are never cached.",
        "schema": {"const": "no-store"},
    },
}


def cache_control(value):
    return {"Cache-Control": {"description": "`%s`." % value,
                              "schema": {"const": value}}}


NO_STORE = {"Cache-Control": ref("headers", "Cache-Control-No-Store")}

# ---------------------------------------------------------------- shared responses

SIZE_NOTE = (" A request far beyond the limits (more than libmicrohttpd's per-connection "
             "buffer) is refused by libmicrohttpd itself with its own HTML body, without "
             "gatehouse's headers, and the connection is closed.")

responses = {
    # gatehouse's own routes (API.md B)
    "Unauthorized": json_response(
        "No access token, an invalid, expired or refresh token (`Missing or invalid access "
        "token`), or its user no longer exists (`No such user`).",
        error_schema(["unauthorized"]),
        example=J("TOKEN")),
    "Forbidden": json_response(
        "The user is banned (`banned`), or the token is genuine but of a scope these routes "
        "do not allow (`forbidden`).",
        error_schema(["banned", "forbidden"]),
        example=J("BANNED")),
    "RateLimited": json_response(
        "The client's token bucket is empty (`rate_limit_login` per `rate_limit_window`); "
        "refused before any processing.",
        error_schema(["rate_limited"]), retry_after(),
        example=J("RATE_LIMITED")),
    "Unavailable": json_response(
        "The database is busy or unusable; try again.",
        error_schema(["unavailable"]), retry_after(),
        example=J("UNAVAILABLE")),
    "PayloadTooLarge": json_response(
        "The request body is larger than `max_body_size` (64 KiB). A client that keeps "
        "streaming past it may instead see the connection closed.",
        error_schema(["payload_too_large"]),
        example=J("PAYLOAD_TOO_LARGE")),
    "UriTooLong": json_response(
        "The request target is longer than `max_url_size` (8 KiB)." + SIZE_NOTE,
        error_schema(["uri_too_long"]),
        example=J("URI_TOO_LONG")),
    "HeadersTooLarge": json_response(
        "The request headers are larger than `max_header_size` (16 KiB)." + SIZE_NOTE,
        error_schema(["headers_too_large"]),
        example=J("HEADERS_TOO_LARGE")),
    "UnsupportedMediaType": json_response(
        "The body is neither `application/json` nor `application/x-www-form-urlencoded`.",
        error_schema(["unsupported_media_type"]),
        example=J("UNSUPPORTED_MEDIA")),
    "UnsupportedMediaTypeJson": json_response(
        "The body must be `application/json`.",
        error_schema(["unsupported_media_type"]),
        example=J("BODY_NOT_JSON")),
    # compat identity routes (API.md A.2): plain text
    "CompatBanned": text_response("The user is banned (API.md D.1).", [C("BANNED")]),
    "CompatRateLimited": text_response(
        "The client's token bucket is empty; refused before any processing (a refresh token "
        "in the request is not spent).", [C("RATE_LIMITED")], retry_after()),
    "CompatUnavailable": text_response(
        "The database or the signing keys are not usable right now; try again.",
        [C("UNAVAILABLE")], retry_after()),
    "CompatPayloadTooLarge": text_response(
        "The request body is larger than `max_body_size` (64 KiB). A client that keeps "
        "streaming past it may instead see the connection closed.",
        [C("PAYLOAD_TOO_LARGE")]),
    "CompatUriTooLong": text_response(
        "The request target is longer than `max_url_size` (8 KiB)." + SIZE_NOTE,
        [C("URI_TOO_LONG")]),
    "CompatHeadersTooLarge": text_response(
        "The request headers are larger than `max_header_size` (16 KiB)." + SIZE_NOTE,
        [C("HEADERS_TOO_LARGE")]),
    "CompatUnsupportedMediaType": text_response(
        "The body is neither `application/json` nor `application/x-www-form-urlencoded`.",
        [C("UNSUPPORTED_MEDIA")]),
    # sample backend routes (API.md A.5): API Gateway's shapes
    "ApiGatewayUnauthorized": json_response(
        "No token, a bad or expired token, a refresh token (wrong `aud`), a deleted user, or "
        "a session that ended (logout, logout-all, ban, refresh-token reuse): what API "
        "Gateway's JWT authorizer answers.",
        apigw_schema([A("TOKEN")]), example={"message": A("TOKEN")}),
    "ApiGatewayForbidden": json_response(
        "A valid access token whose scope is not allowed, or a banned user.",
        apigw_schema([A("SCOPE")]), example={"message": A("SCOPE")}),
    "ApiGatewayUnavailable": json_response(
        "The database is busy or unusable; try again.",
        apigw_schema([A("UNAVAILABLE")]), retry_after(),
        example={"message": A("UNAVAILABLE")}),
    "ApiGatewayUriTooLong": json_response(
        "The request target is longer than `max_url_size` (8 KiB)." + SIZE_NOTE,
        apigw_schema([A("URI_TOO_LONG")]), example={"message": A("URI_TOO_LONG")}),
    "ApiGatewayHeadersTooLarge": json_response(
        "The request headers are larger than `max_header_size` (16 KiB)." + SIZE_NOTE,
        apigw_schema([A("HEADERS_TOO_LARGE")]),
        example={"message": A("HEADERS_TOO_LARGE")}),
    "ApiGatewayUnsupportedMediaType": json_response(
        "The body is neither `application/json` nor `application/x-www-form-urlencoded`.",
        apigw_schema([A("UNSUPPORTED_MEDIA")]),
        example={"message": A("UNSUPPORTED_MEDIA")}),
}

# ---------------------------------------------------------------- parameters

parameters = {
    "RequestId": {
        "name": "X-Request-Id", "in": "header", "required": False,
        "description": "Optional request id to correlate logs; echoed when sane.",
        "schema": {"type": "string", "maxLength": 64, "pattern": "^[A-Za-z0-9._:-]+$"},
    },
    "DocumentKey": {
        "name": "key", "in": "path", "required": True,
        "description": "The document key, 1 to 128 of `A-Z a-z 0-9 _ . -` after "
                       "percent-decoding; anything else (a `/` included) is 400 "
                       "`invalid_key`.",
        "schema": sref("DocumentKey"),
    },
}

# ---------------------------------------------------------------- helpers for operations

SEC = [{"accessToken": []}]
NOSEC = []

COMPAT_PARAM_NOTE = (
    " Parameters may come percent-encoded (Unreal, Godot) or raw (Unity), after a leading "
    "empty pair (`?&name=...`). A parameter given twice (also once in the query and once in "
    "the body), an invalid escape, invalid UTF-8 or a NUL byte is `400 Error: Invalid "
    "request`.")


def qparam(name, description, schema, required=False):
    return {"name": name, "in": "query", "required": required, "description": description,
            "schema": schema}


def params_body(schema_name, description, required=False):
    """The identity-style POST body: the same parameters as form or JSON."""
    return {
        "required": required,
        "description": description + " As `application/x-www-form-urlencoded` or as a JSON "
                       "object of strings (`application/json`, a charset parameter is "
                       "allowed). Invalid JSON, a JSON value that is not an object of strings, "
                       "or duplicate members is 400. The query string is read as well.",
        "content": {
            FORM: {"schema": sref(schema_name)},
            JSON: {"schema": sref(schema_name)},
        },
    }


def op(op_id, summary, tag, description, responses_, parameters_=None, security=None,
       request_body=None):
    o = {"operationId": op_id, "summary": summary, "description": description, "tags": [tag]}
    ps = list(parameters_ or []) + [ref("parameters", "RequestId")]
    o["parameters"] = ps
    if request_body:
        o["requestBody"] = request_body
    o["security"] = security if security is not None else NOSEC
    o["responses"] = responses_
    return o


def jsonstyle_limits(post):
    r = {"414": rref("UriTooLong"), "431": rref("HeadersTooLarge")}
    if post:
        r["413"] = rref("PayloadTooLarge")
    return r


def auth_responses():
    return {"401": rref("Unauthorized"), "403": rref("Forbidden"),
            "503": rref("Unavailable")}


def sorted_responses(d):
    return dict(sorted(d.items(), key=lambda kv: kv[0]))


# ---------------------------------------------------------------- operations

paths = {}


def add(path, method, o):
    paths.setdefault(path, {})[method] = o


# --- compat: /login-as-guest
GUEST_DESC = (
    "No parameters: create a new guest (a new `user_id` and `guest_secret`). `user_id` and "
    "`guest_secret`: log that guest in (scope `guest`), echoing the secret. `user_id` "
    "without `guest_secret` is 400. A wrong secret, an unknown or malformed `user_id`, or a "
    "user without a guest secret is 401. Errors are plain text (API.md A.2)." +
    COMPAT_PARAM_NOTE + " Rate limited (API.md D.3).")


def guest_responses(post):
    r = {
        "200": json_response("Logged in (or created): the token pair and the guest secret.",
                             sref("GuestTokenResponse"), NO_STORE),
        "400": text_response("`user_id` without `guest_secret`, or malformed parameters.",
                             [C("GUEST_NO_SECRET"),
                              C("INVALID_REQUEST")]),
        "401": text_response("Wrong secret, unknown or malformed `user_id`, or a user "
                             "without a guest secret.", [C("GUEST_INVALID")]),
        "403": rref("CompatBanned"),
        "414": rref("CompatUriTooLong"),
        "429": rref("CompatRateLimited"),
        "431": rref("CompatHeadersTooLarge"),
        "500": text_response("The new guest could not be stored.",
                             [C("GUEST_CREATE")]),
        "503": rref("CompatUnavailable"),
    }
    if post:
        r["413"] = rref("CompatPayloadTooLarge")
        r["415"] = rref("CompatUnsupportedMediaType")
    return sorted_responses(r)


GUEST_QUERY = [
    qparam("user_id", "The guest to log in; omit (with `guest_secret`) to create a new guest.",
           sref("UserId")),
    qparam("guest_secret", "The secret returned when the guest was created.",
           sref("GuestSecret")),
]

add("/login-as-guest", "get", op(
    "loginAsGuest", "Create a guest, or log a guest in", "compat",
    GUEST_DESC + " This is how the Unity, Unreal and Godot SDKs call it.",
    guest_responses(False), GUEST_QUERY))
add("/login-as-guest", "post", op(
    "loginAsGuestPost", "Create a guest, or log a guest in (parameters in the body)", "compat",
    GUEST_DESC + " POST keeps the secret out of URLs and logs (recommended).",
    guest_responses(True),
    request_body=params_body("GuestLoginParameters",
                             "The same parameters as the GET query string; an empty body "
                             "creates a new guest.")))

# --- compat: /refresh-access-token
REFRESH_DESC = (
    "Spends the refresh token and answers the next token pair of the same session: the new "
    "access token gets the refresh token's `access_token_scope`; the new refresh token keeps "
    "the session's original expiry. Reusing a spent token revokes the whole session, except "
    "the immediately previous token within `refresh_reuse_grace` (10 s), which gets a fresh "
    "pair of the same session (API.md B, D.1). Any invalid, expired, spent or revoked refresh "
    "token is 401 `Error: Failed to validate refresh token`." + COMPAT_PARAM_NOTE +
    " Rate limited (API.md D.3).")


def refresh_responses(post):
    r = {
        "200": json_response("The next token pair of the session.", sref("TokenResponse"),
                             NO_STORE),
        "400": response(
            "`refresh_token` missing or empty (API Gateway's JSON shape), or malformed "
            "parameters (plain text).",
            {JSON: {"schema": apigw_schema(
                        ["Missing required request parameters: [refresh_token]"]),
                    "example": {"message":
                                "Missing required request parameters: [refresh_token]"}},
             TEXT: {"schema": {"type": "string", "enum": [C("INVALID_REQUEST")]},
                    "example": C("INVALID_REQUEST")}}),
        "401": text_response("Invalid, expired, spent or revoked refresh token, or its user "
                             "was deleted.", [C("REFRESH_INVALID")]),
        "403": rref("CompatBanned"),
        "414": rref("CompatUriTooLong"),
        "429": rref("CompatRateLimited"),
        "431": rref("CompatHeadersTooLarge"),
        "503": rref("CompatUnavailable"),
    }
    if post:
        r["413"] = rref("CompatPayloadTooLarge")
        r["415"] = rref("CompatUnsupportedMediaType")
    return sorted_responses(r)


add("/refresh-access-token", "get", op(
    "refreshAccessToken", "Refresh the token pair", "compat", REFRESH_DESC,
    refresh_responses(False),
    [qparam("refresh_token", "The refresh token of the session.", sref("Jwt"), True)]))
add("/refresh-access-token", "post", op(
    "refreshAccessTokenPost", "Refresh the token pair (parameters in the body)", "compat",
    REFRESH_DESC, refresh_responses(True),
    request_body=params_body("RefreshParameters", "`refresh_token`.", required=True)))

# --- compat: platform logins (API.md A.2, C)
PLATFORM_DESC = (
    "Verifies the platform credential with the platform (API.md C.1), then: the platform "
    "id already linked logs in as its owner; else, with `link_to_existing_user=Yes` and a "
    "valid access token in `auth_token`, links it to that token's user (replacing an "
    "earlier id of this platform on that user); else creates a user. Scope `authenticated`. "
    "When `link_conflict` is `reject`, linking an id another user holds is 409. The "
    "platform call runs on a worker thread and never holds up other requests; a platform "
    "that is unreachable, slow (past `provider_timeout`), failing or answering nonsense is "
    "503. Errors are plain text (API.md C.2)." + COMPAT_PARAM_NOTE +
    " Rate limited (API.md D.3).")
LINK_PARAMS = [
    qparam("auth_token", "An access token (scope guest or authenticated) of the user to link "
           "to, with `link_to_existing_user=Yes`.", sref("Jwt")),
    qparam("link_to_existing_user", "Exactly `Yes` (with `auth_token`) to link.",
           {"type": "string"}),
]


def platform_schema(required, extra_props):
    props = {name: {"type": "string"} for name in required}
    props.update({"auth_token": sref("Jwt"), "link_to_existing_user": {"type": "string"}})
    props.update(extra_props)
    return {"type": "object", "required": list(required), "properties": props,
            "additionalProperties": {"type": "string"}}


def platform_responses(post, missing, rejections, id_field):
    ids = [id_field] if id_field else ["oidc_provider", "oidc_id"]
    token_schema = {"allOf": [sref("TokenResponse"), {
        "required": ids, "properties": {name: {"type": "string"} for name in ids}}]}
    r = {
        "200": json_response("Logged in, linked or created: the token pair and the platform "
                             "id.", token_schema, NO_STORE),
        "400": response(
            "A required parameter missing or empty (API Gateway's JSON shape), or malformed "
            "parameters (plain text).",
            {JSON: {"schema": apigw_schema(["Missing required request parameters: [%s]"
                                            % missing]),
                    "example": {"message": "Missing required request parameters: [%s]"
                                % missing}},
             TEXT: {"schema": {"type": "string", "enum": [C("INVALID_REQUEST")]},
                    "example": C("INVALID_REQUEST")}}),
        "401": text_response("The platform refused the credential, or the link token is "
                             "invalid.", rejections +
                             [C("LINK_FAILED")]),
        "403": rref("CompatBanned"),
        "404": text_response("The platform is not configured.",
                             [C("PLATFORM_DISABLED")]),
        "409": text_response("`link_conflict reject`: the platform id belongs to another "
                             "user.", [C("LINK_CONFLICT")]),
        "414": rref("CompatUriTooLong"),
        "429": rref("CompatRateLimited"),
        "431": rref("CompatHeadersTooLarge"),
        "503": text_response("The platform is unreachable, timed out, failed or answered "
                             "nonsense; or our side is briefly unable.",
                             [C("PLATFORM_UNAVAILABLE"), C("UNAVAILABLE")],
                             retry_after()),
    }
    if post:
        r["413"] = rref("CompatPayloadTooLarge")
        r["415"] = rref("CompatUnsupportedMediaType")
    return sorted_responses(r)


PLATFORMS = [
    ("/login-with-steam", "Steam", "loginWithSteam", ["steam_auth_token"], "steam_id",
     ["Error: Failed to validate Steam token"],
     "The hex ticket of `ISteamUser::GetAuthTicketForWebApi`, checked with "
     "`ISteamUserAuth/AuthenticateUserTicket` (publisher key, app id, `steam_identity`); "
     "publisher bans (and VAC bans with `steam_reject_vac_banned`) are refused."),
    ("/login-with-apple-id", "Sign in with Apple", "loginWithAppleId", ["apple_auth_token"],
     "apple_id", ["Error: Token validation error"],
     "The identity token, verified against Apple's JWKS: RS256, issuer "
     "`https://appleid.apple.com`, an audience among `apple_app_ids`, not expired."),
    ("/login-with-google-play", "Google Play Games", "loginWithGooglePlay",
     ["google_play_auth_token"], "google_play_id",
     ["Error: Failed to generate Google Play bearer token",
      "Error: Failed to validate Google Play bearer token"],
     "The one-time server auth code, exchanged for an access token, then checked with the "
     "application verify call; the platform id is `player_id`."),
    ("/login-with-facebook", "Facebook", "loginWithFacebook",
     ["facebook_access_token", "facebook_user_id"], "facebook_id",
     ["Error: User validation error", "Error: Token not linked to correct app"],
     "The access token, checked with two Graph calls: the user must be `facebook_user_id` "
     "and the app `facebook_app_id`."),
    ("/login-with-oidc", "an OpenID Connect provider", "loginWithOidc",
     ["provider", "id_token"], None, ["Error: Token validation error"],
     "An ID token of the configured provider `provider` (`oidc_providers`), verified like "
     "Apple's against its JWKS, issuer, audiences and algorithms (API.md C.4); the answer "
     "adds `oidc_provider` and `oidc_id`. An unknown provider is 404."),
]

for path, title, op_id, required, id_field, rejections, how in PLATFORMS:
    missing = ", ".join(required)
    query = [qparam(n, "Required.", {"type": "string"}, True) for n in required] + LINK_PARAMS
    add(path, "get", op(op_id, "Log in with " + title, "compat", how + " " + PLATFORM_DESC,
                        platform_responses(False, missing, rejections, id_field), query))
    add(path, "post", op(op_id + "Post", "Log in with %s (parameters in the body)" % title,
                         "compat", how + " " + PLATFORM_DESC,
                         platform_responses(True, missing, rejections, id_field),
                         request_body=params_body(op_id[0].upper() + op_id[1:] + "Parameters",
                                                  "The same parameters as the GET query.",
                                                  required=True)))
    schemas[op_id[0].upper() + op_id[1:] + "Parameters"] = platform_schema(required, {})

# --- compat: sample backend routes
APIGW_NOTE = (
    " Authenticated as API Gateway's JWT authorizer does (scopes `guest` and "
    "`authenticated`), with its error shapes. Not rate limited.")
SET_DESC = ("Stores the player's name (the player-data document `player_name`, a JSON "
            "string) (API.md A.5)." + APIGW_NOTE)
GET_DESC = ("The player's id and stored name; `PlayerName` is absent when nothing (or no "
            "JSON string) is stored under `player_name` (API.md A.5)." + APIGW_NOTE)


def set_player_responses(post):
    r = {
        "200": json_response("Stored.", {"const": "Successfully updated player data"},
                             example="Successfully updated player data"),
        "400": json_response(
            "`player_name` missing or empty, or malformed parameters.",
            apigw_schema(["Missing required request parameters: [player_name]",
                          "Invalid request", "Invalid player_name"]),
            example={"message": "Missing required request parameters: [player_name]"}),
        "401": rref("ApiGatewayUnauthorized"),
        "403": rref("ApiGatewayForbidden"),
        "413": json_response(
            "The name exceeds `player_data_max_document` or the player's storage quota" +
            (", or the request body is larger than `max_body_size`." if post else "."),
            apigw_schema(["Player data limit exceeded"] +
                         (["Request body too large"] if post else [])),
            example={"message": A("QUOTA")}),
        "414": rref("ApiGatewayUriTooLong"),
        "431": rref("ApiGatewayHeadersTooLarge"),
        "503": rref("ApiGatewayUnavailable"),
    }
    if post:
        r["415"] = rref("ApiGatewayUnsupportedMediaType")
    return sorted_responses(r)


def get_player_responses(post):
    r = {
        "200": json_response("The player's id and name.", sref("PlayerData")),
        "400": json_response("Malformed parameters.", apigw_schema([A("INVALID_REQUEST")]),
                             example={"message": A("INVALID_REQUEST")}),
        "401": rref("ApiGatewayUnauthorized"),
        "403": rref("ApiGatewayForbidden"),
        "414": rref("ApiGatewayUriTooLong"),
        "431": rref("ApiGatewayHeadersTooLarge"),
        "503": rref("ApiGatewayUnavailable"),
    }
    if post:
        r["413"] = json_response("The request body is larger than `max_body_size`.",
                                 apigw_schema([A("PAYLOAD_TOO_LARGE")]),
                                 example={"message": A("PAYLOAD_TOO_LARGE")})
        r["415"] = rref("ApiGatewayUnsupportedMediaType")
    return sorted_responses(r)


add("/set-player-data", "get", op(
    "setPlayerData", "Save the player's name (sample backend)", "compat", SET_DESC,
    set_player_responses(False),
    [qparam("player_name", "The name to store.", {"type": "string", "minLength": 1}, True)],
    SEC))
add("/set-player-data", "post", op(
    "setPlayerDataPost", "Save the player's name (sample backend, parameters in the body)",
    "compat", SET_DESC, set_player_responses(True), security=SEC,
    request_body=params_body("PlayerNameParameters", "`player_name`.", required=True)))
add("/get-player-data", "get", op(
    "getPlayerData", "Load the player's name (sample backend)", "compat", GET_DESC,
    get_player_responses(False), security=SEC))
add("/get-player-data", "post", op(
    "getPlayerDataPost", "Load the player's name (sample backend, POST)", "compat", GET_DESC,
    get_player_responses(True), security=SEC,
    request_body=params_body("StringParameters", "No parameter is needed.")))

# --- forward auth (API.md B "Forward auth")
FORWARD_DESC = (
    "For reverse proxies' sub-request authentication: nginx `auth_request`, Traefik "
    "`ForwardAuth`, Caddy `forward_auth`, Envoy's HTTP `ext_authz`, HAProxy. The proxy "
    "passes the client's `Authorization` (the raw token, or `Bearer <token>`; over 8 KiB is "
    "401); gatehouse verifies the access token as its own routes do (signature by the "
    "published key the `kid` names, the pinned algorithm, `exp`, `nbf`, `iss`, `aud`), then "
    "that its user exists and is not banned and that its session (`sid`) has not ended. "
    "`200` carries the identity in `X-Gatehouse-*` headers, which the proxy passes to the "
    "backend in place of any the client sent. `401` and `403` carry API Gateway's JWT "
    "authorizer bodies. `X-Original-Method`/`X-Original-URI` (nginx) and "
    "`X-Forwarded-Method`/`-Uri`/`-Host`/`-Proto` (Traefik, Caddy) are read for the debug "
    "log only; one longer than its bound (16 bytes for a method or protocol, 255 for a "
    "host, 8 KiB for a URI) is 400. `HEAD` answers the same without a body. Not rate "
    "limited (every sub-request comes from the proxy's address).")
FA_HEADERS = {
    "X-Gatehouse-User-Id": {"description": "The token's `sub`.", "required": True,
                            "schema": sref("UserId")},
    "X-Gatehouse-Scope": {"description": "The token's `scope`.", "required": True,
                          "schema": {"enum": ["guest", "authenticated"]}},
    "X-Gatehouse-Session-Id": {"description": "The token's `sid` (its session); absent for "
                               "a token signed before access tokens carried it.",
                               "schema": {"type": "string", "pattern": "^[1-9][0-9]*$"}},
    "X-Gatehouse-Token-Expires": {"description": "The token's `exp`, Unix seconds.",
                                  "required": True,
                                  "schema": {"type": "string", "pattern": "^[0-9]+$"}},
}
schemas["ForwardAuthResult"] = {
    "type": "object", "required": ["user_id", "scope", "expires"],
    "properties": {"user_id": sref("UserId"), "scope": {"enum": ["guest", "authenticated"]},
                   "expires": {"type": "integer"},
                   "session_id": {"type": "integer", "minimum": 1}}}


def forward_auth_responses(head):
    ok_headers = dict(NO_STORE, **FA_HEADERS)
    if head:
        ok = response("Allowed: the identity is in the headers; no body.", None, ok_headers)
    else:
        ok = json_response("Allowed: the identity is in the headers (and the body).",
                           sref("ForwardAuthResult"), ok_headers,
                           example={"user_id": "4f9b3a7e-2c1d-4e8f-9a6b-0c5d7e1f2a3b",
                                    "scope": "guest", "expires": 1767225600,
                                    "session_id": 42})
    r = {
        "200": ok,
        "400": json_response("`scope` is not a comma-separated list of `guest` and "
                             "`authenticated` (at most 8, 256 bytes), a forwarded header "
                             "is over its bound, or the query is malformed: the proxy's "
                             "configuration is wrong.",
                             apigw_schema([A("BAD_FORWARD"), A("INVALID_REQUEST")]),
                             example={"message": A("BAD_FORWARD")}),
        "401": json_response(
            "No token, garbage, a bad signature, an unknown key, `alg: none`, expired, not "
            "yet valid, wrong issuer or audience, a refresh token, an ended session or a "
            "deleted user: API Gateway's authorizer answer.",
            apigw_schema([A("TOKEN")]), example={"message": A("TOKEN")}),
        "403": json_response("A banned user, or a scope `?scope=` does not list.",
                             apigw_schema([A("SCOPE")]), example={"message": A("SCOPE")}),
        "414": rref("ApiGatewayUriTooLong"),
        "431": rref("ApiGatewayHeadersTooLarge"),
        "503": rref("ApiGatewayUnavailable"),
    }
    if head:
        r = {k: (v if k == "200" else
                 response(deref_description(v) + " No body (HEAD).", None,
                          retry_after() if k == "503" else None))
             for k, v in r.items()}
    return sorted_responses(r)


def deref_description(v):
    if "$ref" in v:
        return responses[v["$ref"].rsplit("/", 1)[1]]["description"]
    return v["description"]


FA_PARAMS = [
    qparam("scope", "Comma-separated scopes of which the token must hold one (`guest`, "
           "`authenticated`), set per location in the proxy's config; absent: either.",
           {"type": "string", "maxLength": 256}),
    {"name": "Authorization", "in": "header", "required": False,
     "description": "The client's access token, raw or `Bearer <token>`, at most 8 KiB.",
     "schema": {"type": "string", "maxLength": 8192}},
]
add("/forward-auth", "get", op(
    "forwardAuth", "Authenticate a proxied request (forward auth)", "forward-auth",
    FORWARD_DESC, forward_auth_responses(False), FA_PARAMS, SEC))
add("/forward-auth", "head", op(
    "forwardAuthHead", "Authenticate a proxied request (forward auth, HEAD)", "forward-auth",
    FORWARD_DESC, forward_auth_responses(True), FA_PARAMS, SEC))

# --- account
LIMITED = " Rate limited with the login routes (API.md D.3)."

logout_responses = {
    "200": json_response("The session is over: `sessions_ended` is 1, or 0 when it had "
                         "already ended.", sref("SessionsEnded")),
    "400": json_response("`refresh_token` missing or empty (`missing_parameter`), or "
                         "malformed parameters (`invalid_request`).",
                         error_schema(["missing_parameter", "invalid_request"]),
                         example={"error": "missing_parameter",
                                  "message": "Missing required request parameters: "
                                             "[refresh_token]"}),
    "401": json_response("An invalid or expired refresh token (`Invalid or expired refresh "
                         "token`), or its user no longer exists (`No such user`).",
                         error_schema(["unauthorized"]),
                         example=J("REFRESH_INVALID")),
    "415": rref("UnsupportedMediaType"),
    "429": rref("RateLimited"),
    "503": rref("Unavailable"),
}
logout_responses.update(jsonstyle_limits(True))
add("/logout", "post", op(
    "logout", "End one session", "account",
    "Ends the session of the refresh token: any token of the session, current or spent, "
    "ends it. Its access tokens are refused by gatehouse's routes and `/forward-auth` from "
    "the next request on; backends that verify the JWT themselves accept them until they "
    "expire (API.md D.1). "
    "`refresh_token` may come in a JSON or form body or in the query string." + LIMITED,
    sorted_responses(logout_responses),
    [qparam("refresh_token", "The refresh token (when not in the body).", sref("Jwt"))],
    request_body=params_body("RefreshParameters", "`refresh_token`.")))

r = {"200": json_response("The link is gone.", {
         "type": "object", "required": ["user_id", "unlinked"],
         "properties": {"user_id": sref("UserId"), "unlinked": {"type": "string"}}},
         example={"user_id": "4f9b3a7e-2c1d-4e8f-9a6b-0c5d7e1f2a3b", "unlinked": "steam"}),
     "400": json_response("`platform` missing (`missing_parameter`), not one of steam, apple, "
                          "google_play, facebook or oidc:<configured name> "
                          "(`invalid_platform`), or malformed parameters.",
                          error_schema(["missing_parameter", "invalid_platform",
                                        "invalid_request"])),
     "404": json_response("Nothing of that platform is linked to the user.",
                          error_schema(["not_linked"])),
     "409": json_response("It is the user's last way to log in (no guest secret, no other "
                          "link).", error_schema(["last_login_method"]),
                          example=J("LAST_METHOD")),
     "415": rref("UnsupportedMediaType"),
     "429": rref("RateLimited")}
r.update(auth_responses())
r.update(jsonstyle_limits(True))
add("/unlink-identity", "post", op(
    "unlinkIdentity", "Remove a platform link", "account",
    "Removes the token's user's link to `platform` (`steam`, `apple`, `google_play`, "
    "`facebook` or `oidc:<name>`), unless it is the last way to log in (API.md C.3). "
    "`platform` may come in a JSON or form body or in the query string." + LIMITED,
    sorted_responses(r),
    [qparam("platform", "The platform to unlink (when not in the body).", {"type": "string"})],
    security=SEC,
    request_body=params_body("UnlinkParameters", "`platform`.")))
schemas["UnlinkParameters"] = {"type": "object", "properties": {"platform": {"type": "string"}},
                               "additionalProperties": {"type": "string"}}

r = {"200": json_response("Every live session of the user ended.", sref("SessionsEnded")),
     "429": rref("RateLimited")}
r.update(auth_responses())
r.update(jsonstyle_limits(True))
add("/logout-all", "post", op(
    "logoutAll", "End every session of the user", "account",
    "Ends all sessions of the token's user; no body. Their access tokens are refused by "
    "gatehouse's routes and `/forward-auth` from the next request on; backends that verify "
    "the JWT themselves accept them until they expire (API.md D.1)." + LIMITED, sorted_responses(r), security=SEC))

r = {"200": json_response("The account.", sref("Account"), NO_STORE),
     "429": rref("RateLimited")}
r.update(auth_responses())
r.update(jsonstyle_limits(False))
add("/get-user", "get", op(
    "getUser", "Show the account", "account",
    "The token's user: id, creation time, whether it has a guest secret, linked platform "
    "ids, live sessions and ban (API.md D.2)." + LIMITED, sorted_responses(r), security=SEC))

r = {"200": json_response("The user, its links, sessions and player data are erased.",
                          sref("DeleteResult")),
     "429": rref("RateLimited")}
r.update(auth_responses())
r.update(jsonstyle_limits(True))
add("/delete-user", "post", op(
    "deleteUser", "Delete the account", "account",
    "Erases the token's user, its platform links, sessions and player data; its access "
    "tokens stop working at once, and it is unknown from then on (API.md B, D.2)." + LIMITED,
    sorted_responses(r), security=SEC))

r = {"200": json_response(
        "Everything stored about the user, as one JSON document.", sref("Export"),
        dict(NO_STORE, **{"Content-Disposition": {
            "description": "`attachment; filename=\"user-data.json\"`.",
            "schema": {"type": "string"}}})),
     "429": rref("RateLimited")}
r.update(auth_responses())
r.update(jsonstyle_limits(False))
add("/export-user-data", "get", op(
    "exportUserData", "Export the account's data", "account",
    "The account, its identities, sessions and player documents; never a secret, digest, "
    "token or key (API.md D.2)." + LIMITED, sorted_responses(r), security=SEC))

# --- storage
STORAGE_NOTE = " Not rate limited."

r = {"200": json_response("One page of the player's documents.", sref("DocumentList"),
                          cache_control("private, no-cache")),
     "400": json_response("`limit` not 1 to 1000 or malformed parameters "
                          "(`invalid_request`), or a cursor this API did not issue "
                          "(`invalid_cursor`).",
                          error_schema(["invalid_request", "invalid_cursor"]),
                          example=J("INVALID_CURSOR"))}
r.update(auth_responses())
r.update(jsonstyle_limits(False))
add("/player-data", "get", op(
    "listPlayerData", "List the player's documents", "storage",
    "Keys with version, size and update time, by key bytewise, a page at a time (API.md "
    "D.4)." + STORAGE_NOTE, sorted_responses(r),
    [qparam("cursor", "`next_cursor` of the previous page.", {"type": "string"}),
     qparam("limit", "Items per page.", {"type": "integer", "minimum": 1, "maximum": 1000,
                                         "default": 100})],
    SEC))

KEY_ERR_EXAMPLE = J("INVALID_KEY")
NOT_FOUND = json_response("No document under this key.", error_schema(["not_found"]),
                          example=J("DOC_NOT_FOUND"))
IF_MATCH = {"name": "If-Match", "in": "header", "required": False,
            "description": "`\"<version>\"` or `*`: act only when the document is at that "
                           "version (or exists); else 412. Any other form is 400.",
            "schema": {"type": "string", "examples": ["\"3\"", "*"]}}
IF_NONE_MATCH_PUT = {"name": "If-None-Match", "in": "header", "required": False,
                     "description": "`*`: create only, 412 when the key exists. Any other "
                                    "value is 400; sending it together with `If-Match` is "
                                    "400.",
                     "schema": {"const": "*"}}
IF_NONE_MATCH_GET = {"name": "If-None-Match", "in": "header", "required": False,
                     "description": "Entity tags (`\"<version>\"`, comma-separated) or `*`: "
                                    "304 when one matches the current version.",
                     "schema": {"type": "string"}}
PRECOND = json_response("The precondition failed; nothing was changed. `ETag` carries the "
                        "current version when the document exists.",
                        sref("PreconditionFailed"), etag_header(False))

r = {"200": response("The document, exactly the bytes stored by PUT.",
                     {JSON: {"schema": {"description": "Any JSON value."}}},
                     dict(etag_header(), **cache_control("private, no-cache"))),
     "304": response("`If-None-Match` matched the current version; no body.",
                     headers=dict(etag_header(), **cache_control("private, no-cache"))),
     "400": json_response("The key is not valid.", error_schema(["invalid_key"]),
                          example=KEY_ERR_EXAMPLE),
     "404": NOT_FOUND}
r.update(auth_responses())
r.update(jsonstyle_limits(False))
add("/player-data/{key}", "get", op(
    "getPlayerDocument", "Read a document", "storage",
    "The document under `key`, byte for byte as written, with its version as `ETag` (API.md "
    "D.4)." + STORAGE_NOTE, sorted_responses(r), [IF_NONE_MATCH_GET], SEC))

r = {"200": json_response("Replaced an existing document.", sref("DocumentWriteResult"),
                          etag_header()),
     "201": json_response("Created the document.", sref("DocumentWriteResult"),
                          etag_header()),
     "400": json_response(
         "The key is not valid (`invalid_key`); the body is not one JSON value in valid "
         "UTF-8, has duplicate members, a lone surrogate or `\\u0000`, or nests deeper than "
         "`player_data_max_depth` (32) (`invalid_json`); malformed or conflicting "
         "preconditions (`invalid_request`).",
         error_schema(["invalid_key", "invalid_json", "invalid_request"]),
         example=KEY_ERR_EXAMPLE),
     "412": PRECOND,
     "413": json_response(
         "The document is larger than `player_data_max_document` (64 KiB; 65,536 bytes are "
         "accepted) or the request body than `max_body_size` (`payload_too_large`), or the "
         "player's keys (`player_data_max_keys`, 1000) or bytes (`player_data_max_bytes`, "
         "1 MiB) would exceed the quota (`quota_exceeded`).",
         error_schema(["payload_too_large", "quota_exceeded"]),
         example=J("QUOTA")),
     "415": rref("UnsupportedMediaTypeJson")}
r.update(auth_responses())
r.update(jsonstyle_limits(False))
add("/player-data/{key}", "put", op(
    "putPlayerDocument", "Write a document", "storage",
    "Creates or replaces the document under `key` with the body, stored as the exact bytes "
    "sent. Optimistic concurrency: `If-Match: \"<version>\"` writes only over that version, "
    "`If-None-Match: *` only creates (API.md D.4)." + STORAGE_NOTE,
    sorted_responses(r), [IF_MATCH, IF_NONE_MATCH_PUT], SEC,
    {"required": True,
     "description": "Any JSON value (object, array, string, number, true, false, null).",
     "content": {JSON: {"schema": {"description": "Any JSON value."},
                        "example": {"level": 3, "gold": 120}}}}))

r = {"204": response("Deleted; no body."),
     "400": json_response("The key is not valid (`invalid_key`), or a malformed `If-Match` "
                          "(`invalid_request`).",
                          error_schema(["invalid_key", "invalid_request"]),
                          example=KEY_ERR_EXAMPLE),
     "404": response("No document under this key (and no `If-Match`).",
                     NOT_FOUND["content"]),
     "412": PRECOND}
r.update(auth_responses())
r.update(jsonstyle_limits(False))
add("/player-data/{key}", "delete", op(
    "deletePlayerDocument", "Delete a document", "storage",
    "Deletes the document under `key`, optionally only at the version named by `If-Match`. "
    "With `If-Match`, an absent document is 412 (API.md D.4)." + STORAGE_NOTE,
    sorted_responses(r), [IF_MATCH], SEC))

r = {"200": json_response("Every write done, in one transaction.", sref("BatchResult")),
     "400": json_response(
         "The body is not `{\"writes\": [...]}` with 1 to 25 writes, or one write is bad "
         "(its `index` given): not an object with `key`, `value` and at most one "
         "precondition, an invalid key, a repeated key, a malformed precondition, or a value "
         "breaking the JSON rules of PUT. Nothing is written.",
         error_schema(["invalid_request"], "ErrorWithIndex"),
         example={"error": "invalid_request", "message": "Keys in a batch must be unique",
                  "index": 1}),
     "412": json_response("A write's precondition failed (the first such write is named); "
                          "nothing is written. `ETag` carries its current version when its "
                          "document exists.",
                          sref("BatchPreconditionFailed"), etag_header(False)),
     "413": json_response(
         "A value is larger than `player_data_max_document` (`payload_too_large`, with its "
         "`index`), the request body is larger than `max_body_size` (`payload_too_large`), "
         "or the writes would exceed the player's quota (`quota_exceeded`, with `index`). "
         "Nothing is written.",
         error_schema(["payload_too_large", "quota_exceeded"], "ErrorWithIndex"),
         example={"error": "payload_too_large",
                  "message": "The document is larger than player_data_max_document",
                  "index": 0}),
     "415": rref("UnsupportedMediaTypeJson")}
r.update(auth_responses())
r.update(jsonstyle_limits(False))
add("/player-data-batch", "post", op(
    "writePlayerDataBatch", "Write several documents at once", "storage",
    "1 to 25 writes with unique keys, each with its own optional precondition, all or "
    "nothing (API.md D.4). Each value is stored as the exact bytes sent." + STORAGE_NOTE,
    sorted_responses(r), security=SEC,
    request_body={"required": True,
                  "content": {JSON: {"schema": sref("BatchRequest")}}}))

# --- issuer
ISSUER_LIMITS = {"414": rref("UriTooLong"), "431": rref("HeadersTooLarge")}
PUBLIC_CC = {"Cache-Control": {"description": "`public, max-age=<jwks_max_age>`.",
                               "schema": {"type": "string"}}}
r = {"200": json_response("The public signing keys.", sref("Jwks"), PUBLIC_CC)}
r.update(ISSUER_LIMITS)
add("/.well-known/jwks.json", "get", op(
    "getJwks", "Public signing keys (JWKS)", "issuer",
    "The public keys that verify access tokens, for any JWT library or API Gateway's JWT "
    "authorizer (API.md A.4). Refresh-token keys are internal and never listed.",
    sorted_responses(r)))
r = {"200": json_response("The discovery document.", sref("OpenIdConfiguration"),
                          PUBLIC_CC)}
r.update(ISSUER_LIMITS)
add("/.well-known/openid-configuration", "get", op(
    "getOpenIdConfiguration", "OpenID discovery document", "issuer",
    "Issuer, JWKS URL, signing algorithms and scopes (API.md A.4). `issuer_url` is set "
    "independently of `base_path`: it is the public URL under which `/.well-known/*` is "
    "reachable.", sorted_responses(r)))

# --- operations
OPS_LIMITS = {"414": rref("UriTooLong"), "431": rref("HeadersTooLarge")}
r = {"200": json_response("The daemon is alive.", sref("Health"),
                          example={"status": "ok"})}
r.update(OPS_LIMITS)
add("/health", "get", op(
    "getHealth", "Liveness", "operations",
    "Answers as long as the daemon serves requests. Also served on the admin listener "
    "when `admin_listen_address` (or its older name `metrics_listen_address`) is set.",
    sorted_responses(r)))
r = {"200": json_response("The database and the signing keys are usable.", sref("Ready"),
                          example={"status": "ready"}),
     "503": json_response("Not ready: no active signing key, or the database does not "
                          "answer.", sref("Ready"), headers=retry_after(),
                          example={"status": "unavailable", "reason": "database"})}
r.update(OPS_LIMITS)
add("/ready", "get", op(
    "getReady", "Readiness", "operations",
    "Whether requests can be served: the database answers and signing keys are active. "
    "Also served on the admin listener.",
    sorted_responses(r)))
r = {"200": response("Prometheus text exposition format 0.0.4.",
                     {"text/plain; version=0.0.4; charset=utf-8": {"schema": {
                         "type": "string"}}}),
     "404": json_response("`admin_listen_address` (or `metrics_listen_address`) is set: the "
                          "metrics are served on that admin address only.",
                          error_schema(["not_found"]),
                          example=J("NO_ROUTE"))}
r.update(OPS_LIMITS)
add("/metrics", "get", op(
    "getMetrics", "Prometheus metrics", "operations",
    "Requests by route and status, latencies, logins, token verifications, refresh-token "
    "reuse, rate-limit refusals, database writes, users, sessions, signing keys, build "
    "info, admin API requests. With `admin_listen_address` (or `metrics_listen_address`) set "
    "it is served there (with `/health` and `/ready`) and not on the main listener.",
    sorted_responses(r)))
r = {"200": response("This document, byte for byte `docs/openapi.json`.",
                     {JSON: {"schema": {"type": "object", "required": ["openapi", "paths"],
                                        "properties": {"openapi": {"type": "string"},
                                                       "paths": {"type": "object"}}}}},
                     cache_control("public, max-age=3600"))}
r.update(OPS_LIMITS)
add("/openapi.json", "get", op(
    "getOpenApi", "This OpenAPI description", "operations",
    "The OpenAPI 3.1 description of every route, compiled into the daemon. Paths in it are "
    "relative to `base_path`.", sorted_responses(r)))

# --- the admin API and console (admin listener only)
ADMIN_SEC = [{"adminToken": []}]
headers["Content-Security-Policy"] = {
    "description": "On the admin listener's answers: `default-src 'none'; script-src 'self'; "
                   "style-src 'self'; img-src 'self'; connect-src 'self'; base-uri 'none'; "
                   "form-action 'none'; frame-ancestors 'none'`.",
    "required": True, "schema": {"type": "string"}}
headers["X-Frame-Options"] = {"description": "`DENY`.", "required": True,
                              "schema": {"const": "DENY"}}
headers["Referrer-Policy"] = {"description": "`no-referrer`.", "required": True,
                              "schema": {"const": "no-referrer"}}
headers["Cache-Control-Admin"] = {"description": "`no-store`.", "required": True,
                                  "schema": {"const": "no-store"}}


def admin_headers(extra=None):
    h = {"X-Request-Id": ref("headers", "X-Request-Id"),
         "Content-Security-Policy": ref("headers", "Content-Security-Policy"),
         "X-Frame-Options": ref("headers", "X-Frame-Options"),
         "Referrer-Policy": ref("headers", "Referrer-Policy"),
         "Cache-Control": ref("headers", "Cache-Control-Admin")}
    if extra:
        h.update(extra)
    return h


def admin_json(description, schema, example=None, extra=None):
    media = {"schema": schema}
    if example is not None:
        media["example"] = example
    return {"description": description, "headers": admin_headers(extra),
            "content": {JSON: media}}


responses["AdminUnauthorized"] = admin_json(
    "No `Authorization: Bearer <admin token>`, or not one of `admin_token_file`'s tokens. "
    "Counted in `gatehouse_admin_requests_total{outcome=\"unauthorized\"}`.",
    error_schema(["unauthorized"]), J("ADMIN_TOKEN"),
    {"WWW-Authenticate": {"description": "`Bearer realm=\"gatehouse admin\"`.",
                          "schema": {"type": "string"}}})
responses["AdminBadRequest"] = admin_json(
    "A malformed id or parameter (`invalid_request`, its message says which).",
    error_schema(["invalid_request"]),
    {"error": "invalid_request", "message": "user_id must be a UUID"})
responses["AdminUserNotFound"] = admin_json("No such user.", error_schema(["user_not_found"]),
                                            J("USER_NOT_FOUND"))
responses["AdminUnavailable"] = admin_json("The database is busy or unusable; try again.",
                                           error_schema(["unavailable"]), J("UNAVAILABLE"),
                                           retry_after())
parameters["AdminUserId"] = {"name": "user_id", "in": "path", "required": True,
                             "description": "The user's id.", "schema": sref("UserId")}
parameters["AdminLimit"] = qparam("limit", "Page size, 1 to 100 (default 20).",
                                  {"type": "integer", "minimum": 1, "maximum": 100,
                                   "default": 20})
schemas["AdminUserSummary"] = {
    "type": "object",
    "required": ["user_id", "created_at", "last_seen_at", "banned_until", "banned", "guest"],
    "properties": {
        "user_id": sref("UserId"), "created_at": sref("UnixTime"),
        "last_seen_at": {"type": "integer", "description": "Last login or refresh (Unix "
                                                           "seconds, kept to the hour)."},
        "banned_until": {"type": ["integer", "null"],
                         "description": "Unix seconds while banned, else null."},
        "banned": {"type": "boolean"},
        "guest": {"type": "boolean", "description": "A guest secret and no platform identity."},
    },
}
schemas["AdminUserList"] = {
    "type": "object", "required": ["users", "next_cursor"],
    "properties": {"users": {"type": "array", "maxItems": 100,
                             "items": sref("AdminUserSummary")},
                   "next_cursor": {"type": ["string", "null"], "maxLength": 64,
                                   "description": "Pass as `cursor` for the next page; null "
                                                  "on the last."}},
}
schemas["AdminUser"] = {
    "type": "object",
    "required": ["user_id", "created_at", "last_seen_at", "banned", "banned_until", "guest",
                 "has_guest_secret", "identities", "live_sessions", "sessions_total",
                 "sessions", "documents", "player_name"],
    "properties": {
        "user_id": sref("UserId"), "created_at": sref("UnixTime"),
        "last_seen_at": {"type": "integer"},
        "banned": {"type": "boolean"}, "banned_until": {"type": ["integer", "null"]},
        "guest": {"type": "boolean"}, "has_guest_secret": {"type": "boolean"},
        "identities": {"type": "array", "items": {
            "type": "object", "required": ["provider", "subject"],
            "properties": {"provider": {"type": "string"}, "subject": {"type": "string"}}}},
        "live_sessions": {"type": "integer", "minimum": 0},
        "sessions_total": {"type": "integer", "minimum": 0},
        "sessions": {"type": "array", "maxItems": 100,
                     "description": "The latest 100 sessions, newest first. No client address "
                                    "is kept.",
                     "items": {
                         "type": "object",
                         "required": ["session_id", "created_at", "last_used_at",
                                      "expires_at", "ended_at", "live"],
                         "properties": {
                             "session_id": {"type": "integer"},
                             "created_at": sref("UnixTime"),
                             "last_used_at": {"type": "integer",
                                              "description": "Its last refresh, or its "
                                                             "creation."},
                             "expires_at": sref("UnixTime"),
                             "ended_at": {"type": ["integer", "null"]},
                             "live": {"type": "boolean"}}}},
        "documents": {"type": "object", "required": ["count", "bytes"],
                      "properties": {"count": {"type": "integer"},
                                     "bytes": {"type": "integer"}}},
        "player_name": {"type": ["string", "null"],
                        "description": "The compat `player_name` document."},
    },
}
schemas["AdminDocuments"] = {
    "type": "object", "required": ["documents", "next_cursor"],
    "properties": {
        "documents": {"type": "array", "maxItems": 100, "items": {
            "type": "object", "required": ["key", "version", "updated_at", "size", "value"],
            "properties": {"key": {"type": "string"}, "version": {"type": "integer"},
                           "updated_at": sref("UnixTime"), "size": {"type": "integer"},
                           "value": {"type": "string",
                                     "description": "The stored JSON text, as text."}}}},
        "next_cursor": {"type": ["string", "null"],
                        "description": "Pass as `after` for the next page; null on the last."},
    },
}
schemas["AdminBan"] = {
    "type": "object", "additionalProperties": False,
    "properties": {"until": {
        "type": ["string", "integer", "null"], "maxLength": 40, "minimum": 0,
        "maximum": 253402300799,
        "description": "When the ban ends: an RFC 3339 time or Unix seconds, in the future; "
                       "absent or null: for good."}},
    "examples": [{"until": "2027-01-31T00:00:00Z"}],
}
schemas["AdminKeys"] = {
    "type": "object", "required": ["keys"],
    "properties": {"keys": {"type": "array", "items": {
        "type": "object",
        "required": ["kid", "use", "alg", "state", "created_at", "activate_at", "retire_at"],
        "properties": {
            "kid": {"type": "string"}, "use": {"enum": ["access", "refresh"]},
            "alg": {"enum": ["RS256", "ES256", "HS256"]},
            "state": {"enum": ["next", "current", "previous"]},
            "created_at": sref("UnixTime"), "activate_at": sref("UnixTime"),
            "retire_at": {"type": ["integer", "null"],
                          "description": "When the next key of its use takes over signing."}},
    }}},
}
ADMIN_ERRS = {"401": rref("AdminUnauthorized"), "503": rref("AdminUnavailable"),
              "414": rref("UriTooLong"), "431": rref("HeadersTooLarge")}
USER_ERRS = dict(ADMIN_ERRS, **{"400": rref("AdminBadRequest"),
                                "404": rref("AdminUserNotFound")})
ADMIN_NOTE = (" Admin listener only (`admin_listen_address`), with an admin token; on the "
              "main listener every `/admin/` path is 404.")


def admin_op(path, method, op_id, summary, description, ok, errs, params=None, body=None,
             audited=True):
    r = dict(errs)
    r["200"] = ok
    if method == "post":
        r["413"] = rref("PayloadTooLarge")
    d = description + (" Written to the log as one audit line (`msg=audit actor=NAME "
                       "action=...`)." if audited else "") + ADMIN_NOTE
    o = op(op_id, summary, "admin", d, sorted_responses(r), params, ADMIN_SEC, body)
    add(path, method, o)


admin_op("/admin/users", "get", "adminSearchUsers", "Search users",
         "By `user_id`, by platform identity (`identity=provider:subject`, e.g. "
         "`steam:7656...` or `oidc:google:1234`), or page through users in creation order "
         "within `created_after` and `created_before` (RFC 3339 or Unix seconds, exclusive).",
         admin_json("The users found.", sref("AdminUserList")),
         dict(ADMIN_ERRS, **{"400": admin_json(
             "A malformed or unknown parameter (`invalid_request`), or a cursor not made by "
             "this route (`invalid_cursor`).", error_schema(["invalid_request",
                                                             "invalid_cursor"]))}),
         [qparam("user_id", "One user by id.", sref("UserId")),
          qparam("identity", "One user by platform identity: `provider:subject`.",
                 {"type": "string", "maxLength": 320}),
          qparam("created_after", "Users created after this time.",
                 {"type": "string", "maxLength": 40}),
          qparam("created_before", "Users created before this time.",
                 {"type": "string", "maxLength": 40}),
          ref("parameters", "AdminLimit"),
          qparam("cursor", "The `next_cursor` of the page before.",
                 {"type": "string", "maxLength": 64})], audited=False)
admin_op("/admin/users/{user_id}", "get", "adminGetUser", "Show one user",
         "The user with identities, sessions (created, last used, ended), ban state, "
         "document count and size, and player name.",
         admin_json("The user.", sref("AdminUser")), USER_ERRS, audited=False)
admin_op("/admin/users/{user_id}/documents", "get", "adminListDocuments",
         "List a user's documents",
         "The user's player-data documents with their values (the compat `player_name` "
         "document among them), by key, a page at a time.",
         admin_json("A page of documents.", sref("AdminDocuments")),
         dict(USER_ERRS, **{"400": admin_json(
             "A malformed or unknown parameter, or an `after` longer than a key.",
             error_schema(["invalid_request", "invalid_cursor"]))}),
         [qparam("after", "The key after which the page starts (the `next_cursor` before).",
                 {"type": "string", "maxLength": 128}), ref("parameters", "AdminLimit")],
         audited=False)
admin_op("/admin/users/{user_id}/export", "get", "adminExportUser", "Export a user's data",
         "The same JSON as the user's own `GET /export-user-data`.",
         admin_json("Everything stored about the user.", sref("Export"), extra={
             "Content-Disposition": {"description": "`attachment; filename=\"user-data-<id>."
                                                    "json\"`.", "schema": {"type": "string"}}}),
         USER_ERRS)
admin_op("/admin/users/{user_id}/ban", "post", "adminBanUser", "Ban a user",
         "Refuses the user's logins, refreshes and access tokens until `until`, or for good, "
         "and ends every session (as `gatehouse user ban`).",
         admin_json("Banned.", {"type": "object",
                                "required": ["user_id", "banned", "banned_until", "forever",
                                             "sessions_ended"],
                                "properties": {"user_id": sref("UserId"),
                                               "banned": {"const": True},
                                               "banned_until": sref("UnixTime"),
                                               "forever": {"type": "boolean"},
                                               "sessions_ended": {"type": "integer"}}}),
         dict(USER_ERRS, **{"400": admin_json(
             "A malformed id, body or `until` (`invalid_request`, `invalid_json`).",
             error_schema(["invalid_request", "invalid_json"])),
             "415": admin_json("A body that is not `application/json`.",
                               error_schema(["unsupported_media_type"]), J("BODY_NOT_JSON"))}),
         body={"required": False, "description": "`until`; no body bans for good.",
               "content": {JSON: {"schema": sref("AdminBan")}}})
admin_op("/admin/users/{user_id}/unban", "post", "adminUnbanUser", "Lift a user's ban",
         "Lifts any ban (as `gatehouse user unban`); ended sessions stay ended.",
         admin_json("Not banned.", {"type": "object", "required": ["user_id", "banned"],
                                    "properties": {"user_id": sref("UserId"),
                                                   "banned": {"const": False}}}), USER_ERRS)
admin_op("/admin/users/{user_id}/sessions/end-all", "post", "adminEndAllSessions",
         "End every session of a user",
         "Ends every live session; their refresh tokens stop working at once (as `gatehouse "
         "sessions revoke`).", admin_json("Ended.", sref("SessionsEnded")), USER_ERRS)
admin_op("/admin/users/{user_id}/sessions/{session_id}/end", "post", "adminEndSession",
         "End one session of a user", "Ends one live session of the user.",
         admin_json("Ended.", {"type": "object",
                               "required": ["user_id", "session_id", "sessions_ended"],
                               "properties": {"user_id": sref("UserId"),
                                              "session_id": {"type": "integer"},
                                              "sessions_ended": {"const": 1}}}),
         dict(USER_ERRS, **{"404": admin_json(
             "No such user (`user_not_found`), or no such live session of it "
             "(`session_not_found`).", error_schema(["user_not_found", "session_not_found"]))}),
         [{"name": "session_id", "in": "path", "required": True,
           "description": "The session's id.",
           "schema": {"type": "integer", "minimum": 1, "maximum": 999999999999999999}}])
admin_op("/admin/users/{user_id}/delete", "post", "adminDeleteUser", "Delete a user",
         "Erases the user, identities, sessions and player data (as `gatehouse user delete`).",
         admin_json("Deleted.", sref("DeleteResult")), USER_ERRS)
admin_op("/admin/users/{user_id}/identities/{provider}/unlink", "post", "adminUnlinkIdentity",
         "Unlink a platform identity",
         "Removes the user's link to `provider`, unless it is the last way to log in (the "
         "rules of `POST /unlink-identity`).",
         admin_json("Unlinked.", {"type": "object", "required": ["user_id", "unlinked"],
                                  "properties": {"user_id": sref("UserId"),
                                                 "unlinked": {"type": "string"}}}),
         dict(USER_ERRS, **{
             "400": admin_json("A malformed id, or not a configured platform "
                               "(`invalid_platform`).",
                               error_schema(["invalid_request", "invalid_platform"])),
             "404": admin_json("No such user, or nothing of that platform is linked.",
                               error_schema(["user_not_found", "not_linked"])),
             "409": admin_json("It is the user's last way to log in.",
                               error_schema(["last_login_method"]), J("LAST_METHOD"))}),
         [{"name": "provider", "in": "path", "required": True,
           "description": "`steam`, `apple`, `google_play`, `facebook` or `oidc:<name>`.",
           "schema": {"type": "string", "maxLength": 128}}])
admin_op("/admin/keys", "get", "adminListKeys", "List the signing keys",
         "Every signing key: kid, use, algorithm, state, activation and retirement times; "
         "never key material.", admin_json("The keys.", sref("AdminKeys")), ADMIN_ERRS,
         audited=False)
admin_op("/admin/keys/rotate", "post", "adminRotateKeys", "Rotate the signing keys now",
         "A new access key and refresh key sign from now on; the old ones stay published "
         "until no token they signed can be live (as `gatehouse keys rotate`).",
         admin_json("The keys after the rotation.", sref("AdminKeys")), ADMIN_ERRS)
admin_op("/admin/stats", "get", "adminStats", "Counts",
         "Users, guests, live sessions and player-data documents.",
         admin_json("The counts.", {"type": "object",
                                    "required": ["users", "guests", "active_sessions",
                                                 "documents"],
                                    "properties": {k: {"type": "integer", "minimum": 0}
                                                   for k in ("users", "guests",
                                                             "active_sessions",
                                                             "documents")}}),
         ADMIN_ERRS, audited=False)
CONSOLE_OK = {"description": "The file, with its media type.", "headers": admin_headers(),
              "content": {"text/html; charset=utf-8": {"schema": {"type": "string"}},
                          "text/css; charset=utf-8": {"schema": {"type": "string"}},
                          "text/javascript; charset=utf-8": {"schema": {"type": "string"}},
                          "application/octet-stream": {"schema": {"type": "string"}}}}
CONSOLE_404 = admin_json("No such file.", error_schema(["not_found"]), J("NO_ROUTE"))
add("/console", "get", op(
    "getConsole", "The web console", "admin",
    "The console's page (built into the daemon), on the admin listener only; no token: the "
    "page asks for one and sends it in `Authorization` to `/admin/`.",
    sorted_responses({"200": CONSOLE_OK, "404": CONSOLE_404}), None, NOSEC))
add("/console/{key}", "get", op(
    "getConsoleFile", "A file of the web console", "admin",
    "One of the console's built-in files (`app.js`, `app.css`, ...), on the admin listener "
    "only; no token.", sorted_responses({"200": CONSOLE_OK, "404": CONSOLE_404}),
    [{"name": "key", "in": "path", "required": True, "description": "The file's name.",
      "schema": {"type": "string", "maxLength": 128}}], NOSEC))
for _p in [p for p in paths if p.startswith("/admin/users/{user_id}")]:
    paths[_p] = dict([("parameters", [ref("parameters", "AdminUserId")])] +
                     list(paths[_p].items()))

paths["/player-data/{key}"] = dict([("parameters", [ref("parameters", "DocumentKey")])] +
                                   list(paths["/player-data/{key}"].items()))

# ---------------------------------------------------------------- document

doc = {
    "openapi": "3.1.0",
    "info": {
        "title": "gatehouse",
        "version": "0.1.0",
        "description": (
            "Identity provider and player-data backend for games, in one C daemon on one "
            "SQLite file. It speaks the HTTP contract of AWS's Guidance for Custom Game "
            "Backend Hosting, so that guidance's stock Unity, Unreal and Godot SDKs log in "
            "against it unchanged, and any backend that verifies JWTs the way API Gateway's "
            "JWT authorizer does accepts its access tokens.\n\n"
            "Three error families: the compat identity routes (`compat` tag, "
            "`/login-as-guest`, `/refresh-access-token`) answer `text/plain; charset=utf-8` "
            "bodies `Error: ...` with the upstream strings, and API Gateway's JSON "
            "`{\"message\": ...}` for a missing parameter; the sample backend routes "
            "(`/set-player-data`, `/get-player-data`) answer API Gateway's "
            "`{\"message\": ...}`; gatehouse's own routes answer "
            "`{\"error\": \"<slug>\", \"message\": ...}`.\n\n"
            "Every path lives under the optional `base_path` setting (see the server "
            "variable); repeated slashes collapse (`/prod//login-as-guest` works). Every "
            "response carries `X-Request-Id` and `Access-Control-Allow-Origin`. `OPTIONS` "
            "answers CORS preflights on every route (204, allowing `Authorization`, "
            "`Content-Type`, `If-Match`, `If-None-Match`, `X-Request-Id`); another method "
            "not listed here is 405 with `Allow`; an unknown path is 404 "
            "`{\"error\":\"not_found\",...}`. The wire contract is API.md."),
        "license": {"name": "MIT", "identifier": "MIT"},
    },
    "servers": [{
        "url": "{origin}{base_path}",
        "description": "The daemon: `listen_address`:`listen_port` (or the public URL of "
                       "the proxy in front of it) and the `base_path` setting.",
        "variables": {
            "origin": {"default": "http://127.0.0.1:8080"},
            "base_path": {"default": "",
                          "description": "The `base_path` setting, e.g. `/prod`; empty by "
                                         "default."},
        },
    }],
    "tags": [
        {"name": "compat", "description": "The AWS guidance's identity routes and sample "
                                          "backend, as its SDKs call them (API.md A)."},
        {"name": "account", "description": "Sessions and the player's account (API.md B, "
                                           "D.1, D.2)."},
        {"name": "storage", "description": "Versioned JSON documents per player and key "
                                           "(API.md D.4)."},
        {"name": "issuer", "description": "What verifiers of access tokens fetch (API.md "
                                          "A.4)."},
        {"name": "forward-auth", "description": "Authentication for your own backends "
                                                "behind a reverse proxy (API.md B)."},
        {"name": "operations", "description": "Health, readiness, metrics and this "
                                              "document."},
        {"name": "admin", "description": "The admin API and web console, on the admin "
                                         "listener only (`admin_listen_address`); every "
                                         "`/admin/` operation needs an admin token."},
    ],
    "paths": paths,
    "components": {
        "securitySchemes": {
            "accessToken": {
                "type": "http",
                "scheme": "bearer",
                "bearerFormat": "JWT",
                "description": "An access token (`auth_token`, scope `guest` or "
                               "`authenticated`) in `Authorization`. The raw token without "
                               "`Bearer ` is accepted too, as the SDKs send it "
                               "(`Authorization: <JWT>`). A refresh token is never accepted "
                               "as an access token.",
            },
            "adminToken": {
                "type": "http",
                "scheme": "bearer",
                "description": "A token of `admin_token_file` in `Authorization: Bearer "
                               "<token>` (admin listener only).",
            },
        },
        "schemas": schemas,
        "responses": responses,
        "parameters": parameters,
        "headers": headers,
    },
}



def typed_schemas(doc):
    """Every parameter and header gets a schema with a type (clients and
    linters need one beside a $ref or a const): taken from the referenced
    schema, or from the const's JSON type."""
    schemas = doc["components"]["schemas"]

    def type_of(schema):
        if "type" in schema:
            return schema["type"]
        if "$ref" in schema:
            return type_of(schemas[schema["$ref"].rsplit("/", 1)[1]])
        if "const" in schema or "enum" in schema:
            vs = [schema["const"]] if "const" in schema else schema["enum"]
            kinds = {"boolean" if isinstance(v, bool) else "integer" if isinstance(v, int)
                     else "number" if isinstance(v, float) else "string" for v in vs}
            if len(kinds) == 1:
                return kinds.pop()
        raise AssertionError("no type for the schema %r" % (schema,))

    def fix(obj):
        if "$ref" in obj:
            return
        schema = obj.get("schema")
        assert schema is not None, "a parameter or header without a schema: %r" % (obj,)
        if "type" not in schema:
            obj["schema"] = dict(schema, type=type_of(schema))

    def walk_responses(responses):
        for r in responses.values():
            for h in r.get("headers", {}).values():
                fix(h)

    for item in doc["paths"].values():
        for p in item.get("parameters", []):
            fix(p)
        for method, operation in item.items():
            if method == "parameters":
                continue
            for p in operation.get("parameters", []):
                fix(p)
            walk_responses(operation.get("responses", {}))
    for p in doc["components"]["parameters"].values():
        fix(p)
    for h in doc["components"]["headers"].values():
        fix(h)
    walk_responses(doc["components"]["responses"])


typed_schemas(doc)
text = json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
assert "??" not in text
with open(OUT, "w", encoding="utf-8") as f:
    f.write(text)
print("wrote", OUT, len(text), "bytes")
