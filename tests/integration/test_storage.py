"""Versioned player storage (API.md B "Player storage" and D.4): documents per
user and key, exact bytes, versions and ETags, every precondition outcome of
PUT, GET and DELETE, listing with an opaque cursor, all-or-nothing batches,
key syntax, JSON rules, size and quota limits, 415, isolation between users,
the compat routes sharing the store, CORS, concurrent writers with one
If-Match, and kill -9 during a stream of acknowledged writes."""
import base64
import http.client
import json
import threading
import time
import unittest

from gh import Daemon, DaemonTest, Response, VALGRIND

JSON = "application/json"
MAX_DOC = 64 * 1024
MAX_DEPTH = 32
PAGING_KEYS = 120 if VALGRIND else 250
RACERS = 10
DURABILITY_ROUNDS = 3
DURABILITY_ACKS = 40 if VALGRIND else 500   # acknowledged writes before kill -9
DURABILITY_WRITERS = 3
ITEM_FIELDS = {"key", "version", "size", "updated_at"}
WRITE_FIELDS = {"key", "version", "updated_at"}


def etag(v):
    return '"%d"' % v


def jb(obj):
    return json.dumps(obj).encode()


def batch_body(*items):
    """A batch body built from raw item texts, so that value bytes are exact."""
    parts = []
    for it in items:
        parts.append(it if isinstance(it, bytes) else jb(it))
    return b'{"writes":[' + b",".join(parts) + b"]}"


def item(key, value, **cond):
    """One batch write with a raw JSON value (bytes) and optional precondition."""
    out = b'{"key":' + jb(key) + b',"value":' + value
    for k, v in cond.items():
        out += b',' + jb(k) + b':' + jb(v)
    return out + b"}"


class User:
    """One guest and its access token, with the player-data calls."""

    def __init__(self, daemon, guest=None):
        self.d = daemon
        self.g = guest or daemon.new_guest()
        self.id = self.g["user_id"]
        self.token = self.g["auth_token"]

    def hdrs(self, headers=None, ctype=JSON):
        h = {"Authorization": self.token}
        if ctype:
            h["Content-Type"] = ctype
        h.update(headers or {})
        return h

    def put(self, key, body, headers=None, ctype=JSON):
        if isinstance(body, str):
            body = body.encode()
        return self.d.request("PUT", self.d.path("/player-data/" + key),
                              self.hdrs(headers, ctype), body)

    def get(self, key, headers=None):
        return self.d.request("GET", self.d.path("/player-data/" + key),
                              self.hdrs(headers, None))

    def delete(self, key, headers=None):
        return self.d.request("DELETE", self.d.path("/player-data/" + key),
                              self.hdrs(headers, None))

    def list(self, query=""):
        return self.d.request("GET", self.d.path("/player-data" + query),
                              self.hdrs(None, None))

    def batch(self, body, ctype=JSON):
        return self.d.request("POST", self.d.path("/player-data-batch"),
                              self.hdrs(None, ctype), body)

    def list_all(self):
        """Every item, following the cursor."""
        return self.d.documents(self.hdrs(None, None))

    def snapshot(self):
        """{key: (version, bytes)} of all this user's documents."""
        out = {}
        for it in self.list_all():
            r = self.get(it["key"])
            assert r.status == 200, r
            out[it["key"]] = (it["version"], r.body)
        return out


class StorageAsserts:
    maxDiff = None

    def assertError(self, r, status, slug, what=""):
        self.assertEqual(r.status, status, "%s: %r" % (what, r))
        self.assertEqual(r.header("Content-Type"), JSON, what)
        j = r.json()
        self.assertEqual(j.get("error"), slug, "%s: %r" % (what, j))
        self.assertIsInstance(j.get("message"), str, what)
        return j

    def assertWritten(self, r, key, status=None, what=""):
        """A 200/201 write answer; returns its version."""
        self.assertIn(r.status, (200, 201) if status is None else (status,),
                      "%s: %r" % (what, r))
        self.assertEqual(r.header("Content-Type"), JSON)
        j = r.json()
        self.assertEqual(set(j), WRITE_FIELDS, j)
        self.assertEqual(j["key"], key)
        v = j["version"]
        self.assertIsInstance(v, int)
        self.assertGreater(v, 0)
        self.assertIsInstance(j["updated_at"], int)
        self.assertLess(abs(j["updated_at"] - time.time()), 3600, j)
        self.assertEqual(r.header("ETag"), etag(v), what)
        self.assertIn("etag", r.header("Access-Control-Expose-Headers").lower())
        return v

    def assertPrecondFailed(self, r, current, what=""):
        """412 with the current version (None: absent) and ETag when it exists."""
        j = self.assertError(r, 412, "precondition_failed", what)
        self.assertIn("version", j, what)
        self.assertEqual(j["version"], current, "%s: %r" % (what, j))
        if current is None:
            self.assertIsNone(r.header("ETag"), what)
        else:
            self.assertEqual(r.header("ETag"), etag(current), what)
        return j

    def assertDoc(self, u, key, body, version=None, what=""):
        """GET answers exactly body (bytes), with the version as ETag."""
        r = u.get(key)
        self.assertEqual(r.status, 200, "%s: %r" % (what, r))
        self.assertEqual(r.header("Content-Type"), JSON, what)
        self.assertEqual(r.body, body, what)
        self.assertRegex(r.header("ETag") or "", r'^"[1-9][0-9]*"$', what)
        if version is not None:
            self.assertEqual(r.header("ETag"), etag(version), what)
        return int(r.header("ETag").strip('"'))

    def assertAbsent(self, u, key, what=""):
        self.assertError(u.get(key), 404, "not_found", what)

    def create(self, u, key, body=b'{"n":1}'):
        return self.assertWritten(u.put(key, body), key, 201)


# --------------------------------------------------------------------------
# the main daemon: defaults, except that many guests are made

class Documents(StorageAsserts, DaemonTest, unittest.TestCase):
    SETTINGS = {"rate_limit_login": 0}

    def user(self):
        return User(self.daemon)

    # ---- PUT preconditions ----

    def test_put_unconditional_create_then_replace(self):
        u = self.user()
        v1 = self.assertWritten(u.put("doc", b'{"a":1}'), "doc", 201)
        self.assertDoc(u, "doc", b'{"a":1}', v1)
        v2 = self.assertWritten(u.put("doc", b'[2]'), "doc", 200)
        self.assertGreater(v2, v1)
        self.assertDoc(u, "doc", b'[2]', v2)

    def test_put_if_match_right_version(self):
        u = self.user()
        v1 = self.create(u, "k")
        v2 = self.assertWritten(u.put("k", b'"two"', {"If-Match": etag(v1)}), "k", 200)
        self.assertGreater(v2, v1)
        self.assertDoc(u, "k", b'"two"', v2)

    def test_put_if_match_wrong_version(self):
        u = self.user()
        v1 = self.create(u, "k", b'1')
        v2 = self.assertWritten(u.put("k", b'2'), "k", 200)
        for stale in (v1, v2 + 1, v2 + 1000):
            self.assertPrecondFailed(u.put("k", b'3', {"If-Match": etag(stale)}), v2,
                                     "If-Match %d" % stale)
        self.assertDoc(u, "k", b'2', v2)

    def test_put_if_match_on_absent_key(self):
        u = self.user()
        self.assertPrecondFailed(u.put("nope", b'1', {"If-Match": etag(1)}), None)
        self.assertPrecondFailed(u.put("nope", b'1', {"If-Match": "*"}), None)
        self.assertAbsent(u, "nope")
        self.assertEqual(u.list_all(), [])

    def test_put_if_match_star_on_present_key(self):
        u = self.user()
        v1 = self.create(u, "k")
        v2 = self.assertWritten(u.put("k", b'true', {"If-Match": "*"}), "k", 200)
        self.assertGreater(v2, v1)
        self.assertDoc(u, "k", b'true', v2)

    def test_put_if_none_match_star(self):
        u = self.user()
        v1 = self.assertWritten(u.put("k", b'1', {"If-None-Match": "*"}), "k", 201)
        self.assertPrecondFailed(u.put("k", b'2', {"If-None-Match": "*"}), v1)
        self.assertDoc(u, "k", b'1', v1)

    def test_put_both_preconditions_is_400(self):
        u = self.user()
        self.assertError(u.put("k", b'1', {"If-Match": "*", "If-None-Match": "*"}), 400,
                         "invalid_request", "absent key")
        self.assertAbsent(u, "k")
        v = self.create(u, "k", b'1')
        self.assertError(u.put("k", b'2', {"If-Match": etag(v), "If-None-Match": "*"}), 400,
                         "invalid_request", "present key")
        self.assertDoc(u, "k", b'1', v)

    def test_put_malformed_preconditions_are_400(self):
        u = self.user()
        v = self.create(u, "k", b'1')
        for h in ({"If-Match": str(v)}, {"If-Match": 'W/"%d"' % v}, {"If-Match": '"abc"'},
                  {"If-Match": '"0"'}, {"If-Match": '"-1"'}, {"If-Match": '""'},
                  {"If-Match": ""}, {"If-None-Match": etag(v)}, {"If-None-Match": "**"}):
            self.assertError(u.put("k", b'2', h), 400, "invalid_request", repr(h))
        self.assertDoc(u, "k", b'1', v)

    # ---- GET ----

    def test_get_absent_is_404(self):
        u = self.user()
        self.assertAbsent(u, "missing")
        self.assertError(u.get("missing", {"If-None-Match": "*"}), 404, "not_found")

    def test_get_if_none_match(self):
        u = self.user()
        v = self.create(u, "k", b'{"x": 0.1}')
        for inm in (etag(v), "*", '"1", %s' % etag(v), '%s , "999999"' % etag(v)):
            r = u.get("k", {"If-None-Match": inm})
            self.assertEqual(r.status, 304, "%s: %r" % (inm, r))
            self.assertEqual(r.body, b"", inm)
            self.assertEqual(r.header("ETag"), etag(v), inm)
            self.assertIn("etag", r.header("Access-Control-Expose-Headers").lower())
        for inm in (etag(v + 1), '"%d", "%d"' % (v + 7, v + 8)):
            r = u.get("k", {"If-None-Match": inm})
            self.assertEqual(r.status, 200, "%s: %r" % (inm, r))
            self.assertEqual(r.body, b'{"x": 0.1}')
            self.assertEqual(r.header("ETag"), etag(v))
        # After a write the old ETag no longer matches.
        v2 = self.assertWritten(u.put("k", b'2'), "k", 200)
        r = u.get("k", {"If-None-Match": etag(v)})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.body, b'2')
        self.assertEqual(r.header("ETag"), etag(v2))

    def test_get_returns_exact_bytes(self):
        u = self.user()
        docs = {
            "ws": b' {  "a" : [ 1 ,2\t, 3 ] ,\n "b" : { } }\n',
            "num1": b'0.1',
            "num2": b'1.50',
            "num3": b'1E+2',
            "num4": b'-0',
            "num5": b'[1.0, 1e2, 1.500000000000000000001, -0.0]',
            "maxint": b'9223372036854775807',
            "minint": b'-9223372036854775808',
            "utf8": '"\u00e9\u20ac\U0001F600 \u4e2d\u6587"'.encode(),
            "escapes": b'"\\u00e9 \\ud83d\\ude00 \\n \\" \\\\ \\/"',
            "str": b'"x"',
            "null": b'null',
            "true": b'true',
            "empty_arr": b'[]',
            "empty_obj": b'{}',
            "order": b'{"z":1,"a":2,"m":3}',
        }
        for k, body in docs.items():
            v = self.assertWritten(u.put(k, body), k, 201, k)
            self.assertDoc(u, k, body, v, k)
        sizes = {it["key"]: it["size"] for it in u.list_all()}
        self.assertEqual(sizes, {k: len(b) for k, b in docs.items()})

    # ---- DELETE ----

    def test_delete_outcomes(self):
        u = self.user()
        self.assertError(u.delete("absent"), 404, "not_found", "absent, no If-Match")
        self.assertPrecondFailed(u.delete("absent", {"If-Match": etag(3)}), None,
                                 "absent, If-Match")
        self.assertPrecondFailed(u.delete("absent", {"If-Match": "*"}), None, "absent, *")
        # Unconditional.
        self.create(u, "a")
        r = u.delete("a")
        self.assertEqual(r.status, 204, r)
        self.assertEqual(r.body, b"")
        self.assertAbsent(u, "a")
        self.assertError(u.delete("a"), 404, "not_found", "deleted twice")
        # Right version.
        v = self.create(u, "b")
        self.assertEqual(u.delete("b", {"If-Match": etag(v)}).status, 204)
        self.assertAbsent(u, "b")
        # Wrong version: 412 with the current one, nothing deleted.
        v = self.create(u, "c", b'"c"')
        self.assertPrecondFailed(u.delete("c", {"If-Match": etag(v + 1)}), v)
        self.assertDoc(u, "c", b'"c"', v)
        # * on a present key.
        self.assertEqual(u.delete("c", {"If-Match": "*"}).status, 204)
        self.assertAbsent(u, "c")
        # Malformed If-Match.
        v = self.create(u, "d")
        self.assertError(u.delete("d", {"If-Match": str(v)}), 400, "invalid_request")
        self.assertDoc(u, "d", b'{"n":1}', v)
        self.assertEqual([it["key"] for it in u.list_all()], ["d"])

    # ---- versions ----

    def test_versions_strictly_increase_and_are_never_reused(self):
        u = self.user()
        seen = []
        v = self.create(u, "k")
        seen.append(v)
        for i in range(5):
            v = self.assertWritten(u.put("k", jb(i), {"If-Match": etag(v)}), "k", 200)
            seen.append(v)
        self.assertEqual(u.delete("k").status, 204)
        v = self.assertWritten(u.put("k", b'"again"'), "k", 201)
        seen.append(v)
        self.assertEqual(u.delete("k", {"If-Match": etag(v)}).status, 204)
        v = self.assertWritten(u.put("k", b'"third"', {"If-None-Match": "*"}), "k", 201)
        seen.append(v)
        self.assertEqual(seen, sorted(set(seen)), "strictly increasing: %r" % seen)
        # An ETag from before the delete never matches the new document.
        for old in seen[:-1]:
            self.assertPrecondFailed(u.put("k", b'0', {"If-Match": etag(old)}), v,
                                     "old version %d" % old)
        self.assertDoc(u, "k", b'"third"', v)

    # ---- keys ----

    def test_key_syntax(self):
        u = self.user()
        ok = ["a", "A", "0", "_", "-", ".", "..", "a.b-c_D9", "x" * 128]
        for k in ok:
            self.assertWritten(u.put(k, jb(k)), k, 201, k)
            self.assertDoc(u, k, jb(k), what=k)
        # Percent-decoding happens before the check: %41 is A, %2E%2E is "..".
        self.assertWritten(u.put("%41", b'"pct"'), "A", 200)
        self.assertDoc(u, "A", b'"pct"')
        self.assertWritten(u.put("%2e%2E", b'"dots"'), "..", 200)
        self.assertDoc(u, "..", b'"dots"')
        self.assertEqual(sorted(it["key"] for it in u.list_all()), sorted(ok))

    def test_bad_keys_are_400_and_touch_nothing(self):
        """D.4: a key that does not match [A-Za-z0-9_.-]{1,128} after
        percent-decoding is 400; nothing is stored and no other key changes."""
        u = self.user()
        for k in ("x", "a", "b", "ab"):
            self.create(u, k, jb("orig-" + k))
        before = u.snapshot()
        bad = ["x" * 129, "a%2Fb", "a/b", "%2Fx", "x%2F", "%2F%2Fx", "x%2F%2F", "../x",
               "%2E%2E%2Fx", "x/..", "x/../a", "..%2Fx", "%00", "a%00b", "x%00", "%FF", "%C3%A9",
               "a%20b", "a+b", "a;b", "a%3Fb", "a%23b", "a:b", "a%25b", "%", "%zz", "a%2",
               "~", "a%5Cb", "a,b", "a@b", "a%09b"]
        failures = []
        for k in bad:
            for method, fn in (("PUT", lambda: u.put(k, b'"evil"')),
                               ("PUT If-None-Match", lambda: u.put(
                                   k, b'"evil"', {"If-None-Match": "*"})),
                               ("GET", lambda: u.get(k)),
                               ("DELETE If-Match", lambda: u.delete(k, {"If-Match": "*"})),
                               ("DELETE", lambda: u.delete(k))):
                r = fn()
                if r.status != 400 or r.json().get("error") not in ("invalid_key",
                                                                    "invalid_request"):
                    failures.append("%s /player-data/%s -> %d %s"
                                    % (method, k, r.status, r.body[:80]))
            after = u.snapshot()
            if after != before:
                failures.append("/player-data/%s changed the documents: %r -> %r"
                                % (k, before, after))
                for key in before:                   # restore for the next key
                    u.put(key, before[key][1])
                for key in set(after) - set(before):
                    u.delete(key)
                before = u.snapshot()
        self.assertEqual(failures, [])

    # ---- list ----

    def test_list_empty(self):
        u = self.user()
        r = u.list()
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.header("Content-Type"), JSON)
        self.assertEqual(r.json(), {"items": [], "next_cursor": None})

    def test_list_items_and_bytewise_order(self):
        u = self.user()
        keys = ["b", "B", "a", "A", "-", ".", "0", "9", "_", "Z", "z", "a-", "a.", "a0",
                "aA", "a_", "aa", "-a", ".a", "Z_", "zz", "Zz", "zZ", "10", "1", "1-", "1.",
                "k" * 128]
        versions = {}
        for k in keys:
            body = jb({"key": k, "pad": "\u00e9" * len(k)})
            versions[k] = (self.assertWritten(u.put(k, body), k, 201, k), len(body))
        r = u.list()
        self.assertEqual(r.status, 200, r)
        j = r.json()
        self.assertEqual(set(j), {"items", "next_cursor"})
        self.assertIsNone(j["next_cursor"])
        got = [it["key"] for it in j["items"]]
        self.assertEqual(got, sorted(keys, key=lambda s: s.encode()))
        # Spot-check the bytewise rules: '-' < '.' < digits < upper < '_' < lower.
        for lo, hi in (("-", "."), (".", "0"), ("9", "A"), ("Z", "_"), ("_", "a"),
                       ("B", "a"), ("Z", "a"), ("1", "1-"), ("1.", "10")):
            self.assertLess(got.index(lo), got.index(hi), (lo, hi))
        for it in j["items"]:
            self.assertEqual(set(it), ITEM_FIELDS, it)
            v, size = versions[it["key"]]
            self.assertEqual(it["version"], v, it)
            self.assertEqual(it["size"], size, it)
            self.assertLess(abs(it["updated_at"] - time.time()), 3600, it)

    def fill(self, u, keys):
        """Writes keys in batches of 25 (values name their key)."""
        for i in range(0, len(keys), 25):
            chunk = keys[i:i + 25]
            r = u.batch(batch_body(*[item(k, jb(k)) for k in chunk]))
            self.assertEqual(r.status, 200, r)

    def paging_keys(self):
        alphabet = "ABCXYZabcxyz0189-._"
        keys = set()
        i = 0
        while len(keys) < PAGING_KEYS:
            n, s = i, ""
            while True:
                s += alphabet[n % len(alphabet)]
                n //= len(alphabet)
                if not n:
                    break
            keys.add(s + alphabet[(i * 7) % len(alphabet)] * (i % 3))
            i += 1
        return sorted(keys, key=lambda s: s.encode())

    def page_through(self, u, limit):
        got, pages, cursor = [], [], None
        while True:
            q = "?limit=%d" % limit if limit else ""
            if cursor is not None:
                q += ("&" if q else "?") + "cursor=" + cursor
            r = u.list(q)
            self.assertEqual(r.status, 200, r)
            j = r.json()
            pages.append(len(j["items"]))
            got += [it["key"] for it in j["items"]]
            cursor = j["next_cursor"]
            if cursor is None:
                return got, pages
            self.assertIsInstance(cursor, str)
            self.assertLessEqual(len(pages), PAGING_KEYS + 1, "paging does not end")

    def test_paging_with_cursor(self):
        u = self.user()
        keys = self.paging_keys()
        self.fill(u, list(reversed(keys)))
        n = len(keys)
        got, pages = self.page_through(u, 100)
        self.assertEqual(got, keys, "every key exactly once, in order")
        self.assertEqual(pages, [min(100, n - i) for i in range(0, n, 100)])
        # The default limit is 100.
        got, pages = self.page_through(u, None)
        self.assertEqual(got, keys)
        self.assertEqual(pages[0], 100)
        # A limit that divides the count: the last page is full, then null.
        lim = n // 5
        got, pages = self.page_through(u, lim)
        self.assertEqual(got, keys)
        self.assertEqual(pages, [lim] * 5)
        got, pages = self.page_through(u, 1000)
        self.assertEqual((got, pages), (keys, [n]))
        if not VALGRIND:
            got, pages = self.page_through(u, 1)
            self.assertEqual(got, keys)
            self.assertEqual(pages, [1] * n)
        # Writes between pages: a key after the cursor shows up, one before does not.
        r = u.list("?limit=10")
        j = r.json()
        first = [it["key"] for it in j["items"]]
        self.create(u, "zzzzzzzz")
        rest = []
        cursor = j["next_cursor"]
        while cursor:
            j = u.list("?limit=100&cursor=" + cursor).json()
            rest += [it["key"] for it in j["items"]]
            cursor = j["next_cursor"]
        self.assertEqual(first + rest, keys + ["zzzzzzzz"])

    def test_list_limit_bounds(self):
        u = self.user()
        for k in ("a", "b", "c"):
            self.create(u, k)
        for q in ("?limit=0", "?limit=1001", "?limit=-1", "?limit=abc", "?limit=1.5",
                  "?limit=5x", "?limit=99999999999999999999"):
            self.assertError(u.list(q), 400, "invalid_request", q)
        for q, n in (("?limit=1", 1), ("?limit=1000", 3), ("?limit=", 3), ("", 3),
                     ("?limit=2", 2), ("?limit=3", 3)):
            r = u.list(q)
            self.assertEqual(r.status, 200, "%s: %r" % (q, r))
            j = r.json()
            self.assertEqual(len(j["items"]), n, q)
            self.assertEqual(j["next_cursor"] is None, n == 3, q)

    def test_paging_longest_keys(self):
        u = self.user()
        keys = sorted("%s%s" % ("L" * 127, c) for c in "-.09AZ_az")
        self.fill(u, keys)
        got, pages = self.page_through(u, 1)
        self.assertEqual(got, keys)
        self.assertEqual(pages, [1] * len(keys))

    def test_tampered_cursor_is_400(self):
        u = self.user()
        for k in ("a", "b", "c"):
            self.create(u, k)
        cursor = u.list("?limit=1").json()["next_cursor"]
        self.assertIsInstance(cursor, str)

        def enc(raw):
            return base64.urlsafe_b64encode(raw).decode().rstrip("=")
        bad = [cursor + "!", "!" + cursor, cursor + "A", cursor[:-1] + "%25", "%25%25%25",
               "a", "@@@@", cursor + "====", enc(b"a/b"), enc(b"\x00"), enc(b"x" * 129),
               enc(b"x" * 400), enc("\u00e9".encode()), enc(b"\xff\xfe"), "A" * 5000]
        for c in bad:
            self.assertError(u.list("?cursor=" + c), 400, "invalid_cursor", c[:60])
        # The cursor still works.
        r = u.list("?limit=1&cursor=" + cursor)
        self.assertEqual(r.status, 200, r)
        self.assertEqual([it["key"] for it in r.json()["items"]], ["b"])

    # ---- batch ----

    def test_batch_success(self):
        u = self.user()
        v1 = self.create(u, "e1", b'"old1"')
        v2 = self.create(u, "e2", b'"old2"')
        values = [b'{ "a" : [1, 2.50],  "s":"}]\\"" }', b'0.1', b'"str \xc3\xa9 \\u00e9"',
                  b'null', b'[1.50 ,\n 2]', b'{"value": {"value": 1}}']
        r = u.batch(b' { "writes" : [ '
                    + item("n1", values[0], if_none_match="*") + b' , '
                    + item("e1", values[1], if_match=etag(v1)) + b',\n'
                    + item("e2", values[2], if_match="*") + b','
                    + item("u1", values[3]) + b','
                    + b'{"value" : ' + values[4] + b', "key":"ord"}, '
                    + b'{"key":"esc","\\u0076alue":' + values[5] + b'}'
                    + b' ] } ')
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.header("Content-Type"), JSON)
        j = r.json()
        self.assertEqual(set(j), {"results"})
        keys = ["n1", "e1", "e2", "u1", "ord", "esc"]
        self.assertEqual([x["key"] for x in j["results"]], keys)
        vs = []
        for x in j["results"]:
            self.assertEqual(set(x), WRITE_FIELDS, x)
            self.assertIsInstance(x["version"], int)
            self.assertLess(abs(x["updated_at"] - time.time()), 3600, x)
            vs.append(x["version"])
        self.assertEqual(vs, sorted(set(vs)), "versions rise in order")
        self.assertGreater(vs[0], max(v1, v2))
        for k, body, v in zip(keys, values, vs):
            self.assertDoc(u, k, body, v, k)

    def test_batch_failed_precondition_writes_nothing(self):
        u = self.user()
        v1 = self.create(u, "e1", b'"old1"')
        v2 = self.create(u, "e2", b'"old2"')
        before = u.snapshot()
        cases = [
            (2, "e2", v2, [item("f-new", b'1'), item("e1", b'2'),
                           item("e2", b'3', if_match=etag(v2 + 1)), item("f-new2", b'4')]),
            (1, "e1", v1, [item("f-new", b'1'), item("e1", b'2', if_none_match="*")]),
            (1, "absent", None, [item("e1", b'2', if_match=etag(v1)),
                                 item("absent", b'2', if_match=etag(v1))]),
            (0, "absent", None, [item("absent", b'2', if_match="*"), item("e2", b'5')]),
            (24, "e1", v1, [item("f%02d" % i, b'1') for i in range(24)]
             + [item("e1", b'0', if_match=etag(v2))]),
        ]
        for index, key, current, items in cases:
            r = u.batch(batch_body(*items))
            what = "index %d key %s" % (index, key)
            j = self.assertPrecondFailed(r, current, what)
            self.assertEqual(j.get("index"), index, j)
            self.assertEqual(j.get("key"), key, j)
            self.assertEqual(u.snapshot(), before, "nothing written (%s)" % what)
        # The same writes without the failing precondition all go through.
        r = u.batch(batch_body(item("f-new", b'1'), item("e1", b'2'), item("e2", b'3'),
                               item("f-new2", b'4')))
        self.assertEqual(r.status, 200, r)
        self.assertDoc(u, "e2", b'3')

    def test_batch_duplicate_keys(self):
        u = self.user()
        self.create(u, "a")
        before = u.snapshot()
        r = u.batch(batch_body(item("p", b'1'), item("q", b'2'), item("p", b'3')))
        j = self.assertError(r, 400, "invalid_request")
        self.assertEqual(j.get("index"), 2, j)
        r = u.batch(batch_body(item("a", b'1', if_match="*"), item("a", b'2', if_match="*")))
        j = self.assertError(r, 400, "invalid_request")
        self.assertEqual(j.get("index"), 1, j)
        self.assertEqual(u.snapshot(), before)

    def test_batch_counts(self):
        u = self.user()
        self.assertError(u.batch(b'{"writes":[]}'), 400, "invalid_request", "0 writes")
        r = u.batch(batch_body(*[item("k%02d" % i, b'1') for i in range(26)]))
        self.assertError(r, 400, "invalid_request", "26 writes")
        self.assertEqual(u.list_all(), [])
        r = u.batch(batch_body(*[item("k%02d" % i, jb(i)) for i in range(25)]))
        self.assertEqual(r.status, 200, r)
        self.assertEqual(len(r.json()["results"]), 25)
        self.assertEqual(len(u.list_all()), 25)

    def test_batch_bad_shape(self):
        u = self.user()
        for body in (b'', b'[]', b'null', b'{}', b'{"writes":{}}', b'{"writes":null}',
                     b'{"writes":"x"}', b'{"writes":[' + item("a", b'1') + b'],"extra":1}',
                     b'{"Writes":[' + item("a", b'1') + b']}',
                     b'{"writes":[' + item("a", b'1') + b']', b'{"writes":[' + item("a", b'1')
                     + b']} x', b'{"writes":[' + item("a", b'1') + b'],"writes":[]}'):
            self.assertError(u.batch(body), 400, "invalid_request", body[:60])
        self.assertEqual(u.list_all(), [])

    def test_batch_bad_item_has_index(self):
        u = self.user()
        good = item("good", b'1')
        bad_items = [
            b'1', b'"x"', b'[]', b'null',
            b'{"key":"a"}',                                # no value
            b'{"value":1}',                                # no key
            b'{"key":1,"value":1}',                        # key not a string
            b'{"key":"a/b","value":1}',                    # bad key
            b'{"key":"","value":1}',
            b'{"key":"' + b"x" * 129 + b'","value":1}',
            b'{"key":"%41","value":1}',
            b'{"key":"a","value":1,"if_match":"*","if_none_match":"*"}',
            b'{"key":"a","value":1,"if_match":"5"}',
            b'{"key":"a","value":1,"if_match":5}',
            b'{"key":"a","value":1,"if_none_match":"\\"3\\""}',
            b'{"key":"a","value":1,"foo":1}',              # unknown member
            b'{"key":"a","value":1,"If-Match":"*"}',
            b'{"key":"a","value":' + b"[" * (MAX_DEPTH + 1) + b"]" * (MAX_DEPTH + 1) + b'}',
        ]
        for bad in bad_items:
            for pos in (0, 1, 2):
                items = [good, item("good2", b'2'), item("good3", b'3')]
                items[pos] = bad
                r = u.batch(batch_body(*items))
                j = self.assertError(r, 400, "invalid_request", bad[:60])
                self.assertEqual(j.get("index"), pos, "%r: %r" % (bad[:60], j))
                self.assertEqual(u.list_all(), [], bad[:60])

    def test_batch_bad_value_json_rules(self):
        """Values breaking the document rules are bad items: 400 with index,
        nothing written (D.4)."""
        u = self.user()
        bad_values = [b'{"a":1,"a":2}', b'"\\ud800"', b'"\\udc00x"', b'"\\u0000"',
                      b'1e400', b'18446744073709551616', b'-9223372036854775809']
        failures = []
        for v in bad_values:
            r = u.batch(batch_body(item("good", b'1'), item("bad", v)))
            if r.status != 400 or r.json().get("index") != 1:
                failures.append("value %s -> %d %s" % (v, r.status, r.body))
            self.assertEqual(u.list_all(), [], v)
        self.assertEqual(failures, [])
        # Invalid UTF-8 makes the whole body invalid: 400 either way.
        for v in (b'"\xff"', b'"\xed\xa0\x80"', b'"\xc0\xaf"'):
            r = u.batch(batch_body(item("good", b'1'), item("bad", v)))
            self.assertEqual(r.status, 400, r)
            self.assertIn(r.json()["error"], ("invalid_request", "invalid_json"))
            self.assertEqual(u.list_all(), [], v)

    def test_batch_needs_json_content_type(self):
        u = self.user()
        body = batch_body(item("a", b'1'))
        for ct in (None, "text/plain", "application/x-www-form-urlencoded",
                   "application/jsonx"):
            self.assertError(u.batch(body, ctype=ct), 415, "unsupported_media_type", ct)
        self.assertEqual(u.list_all(), [])
        self.assertEqual(u.batch(body, ctype="application/json; charset=utf-8").status, 200)

    # ---- limits and JSON rules ----

    def test_document_size_limit(self):
        u = self.user()
        body = b'"' + b"a" * (MAX_DOC - 2) + b'"'
        self.assertEqual(len(body), 65536)
        v = self.assertWritten(u.put("big", body), "big", 201)
        self.assertDoc(u, "big", body, v)
        self.assertEqual(u.list_all()[0]["size"], 65536)
        over = b'"' + b"b" * (MAX_DOC - 1) + b'"'
        self.assertEqual(len(over), 65537)
        self.assertError(u.put("big", over), 413, "payload_too_large")
        self.assertError(u.put("big2", over), 413, "payload_too_large")
        self.assertDoc(u, "big", body, v)
        self.assertAbsent(u, "big2")

    def test_huge_bodies(self):
        u = self.user()
        for size in (200 * 1024, 4 * 1024 * 1024):
            body = b'"' + b"h" * (size - 2) + b'"'
            try:
                r = u.put("huge", body)
                self.assertError(r, 413, "payload_too_large", size)
            except OSError:
                pass  # closed while still streaming: allowed (A.2b)
            self.assertEqual(self.daemon.get("/health").status, 200)
        # A declared length far beyond the limit, without the body.
        out = self.daemon.raw(("PUT %s HTTP/1.1\r\nHost: x\r\nAuthorization: %s\r\n"
                               "Content-Type: application/json\r\n"
                               "Content-Length: 1000000000\r\n\r\n"
                               % (self.daemon.path("/player-data/huge"), u.token)).encode(),
                              read_timeout=5)
        if out:
            self.assertTrue(out.startswith(b"HTTP/1.1 413"), out[:200])
        self.assertAbsent(u, "huge")
        self.assertEqual(u.list_all(), [])

    def chunked_put(self, u, key, chunks):
        """A PUT with Transfer-Encoding: chunked; (status or None, raw answer)."""
        d = self.daemon
        data = ("PUT %s HTTP/1.1\r\nHost: x\r\nAuthorization: %s\r\n"
                "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n"
                "Connection: close\r\n\r\n" % (d.path("/player-data/" + key), u.token)).encode()
        for c in chunks:
            data += b"%x\r\n" % len(c) + c + b"\r\n"
        data += b"0\r\n\r\n"
        try:
            out = d.raw(data, read_timeout=10)
        except OSError:
            return None, b""
        if not out.startswith(b"HTTP/1.1 "):
            return None, out
        return int(out[9:12]), out

    def test_chunked_bodies(self):
        u = self.user()
        body = b'{"chunked": [' + b",".join(b"%d.50" % i for i in range(2000)) + b']}'
        chunks = [body[i:i + 1000] for i in range(0, len(body), 1000)]
        status, out = self.chunked_put(u, "ch", chunks)
        self.assertEqual(status, 201, out[:300])
        self.assertDoc(u, "ch", body)
        # Past the body limit without a Content-Length: 413 (or cut off).
        for size in (MAX_DOC + 1, 70000, 300000):
            big = b'"' + b"c" * (size - 2) + b'"'
            status, out = self.chunked_put(u, "ch2", [big[i:i + 8192]
                                                      for i in range(0, len(big), 8192)])
            if status is not None:
                self.assertEqual(status, 413, out[:300])
            self.assertEqual(self.daemon.get("/health").status, 200)
        self.assertAbsent(u, "ch2")
        self.assertEqual([it["key"] for it in u.list_all()], ["ch"])

    def test_depth_limit(self):
        u = self.user()
        arr = b"[" * MAX_DEPTH + b"]" * MAX_DEPTH
        obj = b'{"a":' * MAX_DEPTH + b'1' + b'}' * MAX_DEPTH
        mixed = b'[{"a":' * (MAX_DEPTH // 2) + b'0' + b'}]' * (MAX_DEPTH // 2)
        for k, body in (("arr", arr), ("obj", obj), ("mixed", mixed)):
            v = self.assertWritten(u.put(k, body), k, 201, k)
            self.assertDoc(u, k, body, v, k)
        # Brackets inside strings do not nest.
        for k, body in (("instr", b'["' + b"[" * 100 + b'{{{"]'),
                        ("escq", b'["\\"' + b"[" * 100 + b'", "\\\\", ' + b"[" * 31 + b"]" * 31
                         + b']')):
            v = self.assertWritten(u.put(k, body), k, 201, k)
            self.assertDoc(u, k, body, v, k)
        for what, body in (
                ("33 arrays", b"[" * (MAX_DEPTH + 1) + b"]" * (MAX_DEPTH + 1)),
                ("33 objects", b'{"a":' * (MAX_DEPTH + 1) + b'1' + b'}' * (MAX_DEPTH + 1)),
                ("10,000 arrays", b"[" * 10000 + b"]" * 10000),
                ("10,000 objects", b'{"a":' * 10000 + b'1' + b'}' * 10000),
                ("unbalanced", b"[" * 65000),
                ("string then deep", b'["]",' + b"[" * 40 + b"]" * 40 + b']')):
            self.assertError(u.put("deep", body), 400, "invalid_json", what)
            self.assertEqual(self.daemon.get("/health").status, 200, what)
        self.assertAbsent(u, "deep")
        v = self.assertWritten(u.put("after", b'[[1]]'), "after", 201)
        self.assertDoc(u, "after", b'[[1]]', v)

    def test_json_rules(self):
        u = self.user()
        v = self.create(u, "keep", b'"kept"')
        bad = [
            b'{"a":1,"a":2}', b'[{"x":{"b":1,"c":2,"b":1}}]', b'{"a":1,"\\u0061":2}',
            b'"\\ud800"', b'"\\udc00"', b'"\\ud800\\u0041"', b'"x\\udfff"', b'["\\ud800"]',
            b'"\\u0000"', b'"a\\u0000b"', b'{"\\u0000":1}',
            b'"\xff"', b'"\xc0\xaf"', b'"\xed\xa0\x80"', b'"\xe2\x82"', b'"\xf4\x90\x80\x80"',
            b'\xff', b'{"a\xfe":1}', b'"\x80"', b'"\xf8\x88\x80\x80\x80"',
            b'1e400', b'-1e400', b'[1e999]', b'{"n":1.7976931348623159e309}',
            b'18446744073709551616', b'9223372036854775808', b'-9223372036854775809',
            b'123456789012345678901234567890',
            b'', b' ', b'{', b'}', b'{}x', b'1 2', b'[] []', b'NaN', b'Infinity', b"'a'",
            b'{"a":1,}', b'[1,]', b'01', b'"\x01"', b'{a:1}', b'undefined',
        ]
        for body in bad:
            for key in ("fresh", "keep"):
                self.assertError(u.put(key, body), 400, "invalid_json", "%r on %s" % (body, key))
        self.assertAbsent(u, "fresh")
        self.assertDoc(u, "keep", b'"kept"', v)
        self.assertEqual([it["key"] for it in u.list_all()], ["keep"])

    def test_content_type(self):
        u = self.user()
        for ct in (None, "text/plain", "application/x-www-form-urlencoded", "text/json",
                   "application/jsonx", "application/json-patch+json", "multipart/form-data"):
            self.assertError(u.put("k", b'1', ctype=ct), 415, "unsupported_media_type", ct)
        self.assertAbsent(u, "k")
        for ct in ("application/json; charset=utf-8", "Application/JSON"):
            self.assertWritten(u.put("k", b'1', ctype=ct), "k", what=ct)

    # ---- auth and isolation ----

    def test_auth_required(self):
        u = self.user()
        self.create(u, "k")
        refresh = u.g["refresh_token"]
        for hdr in ({}, {"Authorization": "garbage"}, {"Authorization": "Bearer "},
                    {"Authorization": refresh}, {"Authorization": "Bearer " + refresh},
                    {"Authorization": u.token[:-4] + "AAAA"}):
            h = dict(hdr, **{"Content-Type": JSON})
            for m, t, b in (("GET", "/player-data/k", None), ("PUT", "/player-data/k", b'2'),
                            ("DELETE", "/player-data/k", None), ("GET", "/player-data", None),
                            ("POST", "/player-data-batch", batch_body(item("k", b'3')))):
                r = self.daemon.request(m, self.daemon.path(t), h, b)
                self.assertError(r, 401, "unauthorized", "%s %s %r" % (m, t, hdr))
        # Raw and Bearer tokens both work.
        r = self.daemon.request("GET", self.daemon.path("/player-data/k"),
                                {"Authorization": "Bearer " + u.token})
        self.assertEqual(r.status, 200, r)
        self.assertDoc(u, "k", b'{"n":1}')

    def test_banned_user_is_403(self):
        u = self.user()
        self.create(u, "k")
        r = self.daemon.cli("user", "ban", u.id)
        self.assertEqual(r.returncode, 0, r.stderr)
        for r in (u.get("k"), u.put("k", b'2'), u.delete("k"), u.list(),
                  u.batch(batch_body(item("k", b'3')))):
            self.assertError(r, 403, "banned")
        self.assertEqual(self.daemon.cli("user", "unban", u.id).returncode, 0)
        # The ban ended the session: its token stays refused (API.md D.1);
        # a new login reads the document untouched.
        self.assertError(u.get("k"), 401, "unauthorized")
        r = self.daemon.get("/login-as-guest?&user_id=%s&guest_secret=%s"
                            % (u.id, u.g["guest_secret"]))
        self.assertEqual(r.status, 200, r)
        u.token = r.json()["auth_token"]
        self.assertDoc(u, "k", b'{"n":1}')

    def test_writes_after_logout_and_delete_are_refused(self):
        """The writes check the token's session inside their own transaction
        (R_CHECK_IN_WRITE): the answers are the router's (401 "Session ended",
        401 "No such user") and nothing is written; a write with a bad body
        is still refused as such first; another live session still writes."""
        u = self.user()
        v = self.create(u, "k")
        other = User(self.daemon, self.daemon.request(
            "GET", self.daemon.path("/login-as-guest?&user_id=%s&guest_secret=%s"
                                    % (u.id, u.g["guest_secret"]))).json())
        r = self.daemon.post("/logout", body={"refresh_token": u.g["refresh_token"]})
        self.assertEqual(r.status, 200, r)
        for what, r in (("put", u.put("k", b'2')), ("put new", u.put("n", b'2')),
                        ("delete", u.delete("k")),
                        ("batch", u.batch(batch_body(item("k", b'3'), item("n", b'3'))))):
            j = self.assertError(r, 401, "unauthorized", what)
            self.assertEqual(j["message"], "Session ended", what)
        r = self.daemon.get("/set-player-data?player_name=x", headers={"Authorization": u.token})
        self.assertEqual((r.status, r.json()), (401, {"message": "Unauthorized"}), r)
        self.assertDoc(other, "k", b'{"n":1}', v)
        self.assertAbsent(other, "n")
        self.assertError(u.put("k", b'{bad'), 400, "invalid_json")
        v2 = self.assertWritten(other.put("k", b'4'), "k", 200)
        # The user deleted (through the other session): every write says so.
        r = self.daemon.post("/delete-user", headers={"Authorization": other.token})
        self.assertEqual(r.status, 200, r)
        for what, r in (("put", other.put("k", b'5')), ("delete", other.delete("k")),
                        ("batch", other.batch(batch_body(item("k", b'6'))))):
            j = self.assertError(r, 401, "unauthorized", what)
            self.assertEqual(j["message"], "No such user", what)
        self.assertGreater(v2, v)

    def test_users_are_isolated(self):
        a, b = self.user(), self.user()
        va = self.create(a, "secret", b'{"owner":"a"}')
        self.create(a, "shared", b'"a-shared"')
        before = a.snapshot()
        # B cannot read or see A's documents.
        self.assertAbsent(b, "secret")
        self.assertError(b.get("secret", {"If-None-Match": "*"}), 404, "not_found")
        self.assertEqual(b.list_all(), [])
        # B cannot overwrite or delete them, with or without A's version.
        self.assertPrecondFailed(b.put("secret", b'"b"', {"If-Match": etag(va)}), None)
        self.assertPrecondFailed(b.put("secret", b'"b"', {"If-Match": "*"}), None)
        self.assertError(b.delete("secret"), 404, "not_found")
        self.assertPrecondFailed(b.delete("secret", {"If-Match": etag(va)}), None)
        self.assertPrecondFailed(b.delete("secret", {"If-Match": "*"}), None)
        r = b.batch(batch_body(item("secret", b'"b"', if_match=etag(va))))
        self.assertEqual(self.assertPrecondFailed(r, None)["index"], 0)
        self.assertEqual(a.snapshot(), before)
        # B's writes go to B's own namespace.
        vb = self.assertWritten(b.put("secret", b'"b-own"', {"If-None-Match": "*"}),
                                "secret", 201)
        r = b.batch(batch_body(item("shared", b'"b-shared"', if_none_match="*")))
        self.assertEqual(r.status, 200, r)
        self.assertDoc(b, "secret", b'"b-own"', vb)
        self.assertEqual(a.snapshot(), before)
        # A's cursor given to B pages through B's keys only.
        cursor = a.list("?limit=1").json()["next_cursor"]
        self.assertIsNotNone(cursor)
        r = b.list("?cursor=" + cursor)
        self.assertEqual(r.status, 200, r)
        self.assertEqual([it["key"] for it in r.json()["items"]], ["shared"])
        # B deletes its own; A's stay.
        self.assertEqual(b.delete("secret").status, 204)
        self.assertEqual(b.delete("shared").status, 204)
        self.assertEqual(a.snapshot(), before)
        self.assertEqual(b.list_all(), [])

    # ---- compat routes share the store ----

    def test_compat_player_name_is_a_document(self):
        u = self.user()
        auth = {"Authorization": u.token}
        r = self.daemon.get("/set-player-data?&player_name=John%20Doe", headers=auth)
        self.assertEqual(r.status, 200, r)
        v1 = self.assertDoc(u, "player_name", b'"John Doe"')
        items = u.list_all()
        self.assertEqual([(it["key"], it["version"], it["size"]) for it in items],
                         [("player_name", v1, len(b'"John Doe"'))])
        # A string written through PUT is the compat PlayerName.
        v2 = self.assertWritten(u.put("player_name", b'"Jane \\u00e9"', {"If-Match": etag(v1)}),
                                "player_name", 200)
        self.assertGreater(v2, v1)
        r = self.daemon.get("/get-player-data", headers=auth)
        self.assertEqual(r.json(), {"UserID": u.id, "PlayerName": "Jane \u00e9"})
        # Non-string values mean no PlayerName.
        for body in (b'42', b'{"name":"x"}', b'["x"]', b'null', b'true'):
            self.assertWritten(u.put("player_name", body), "player_name", 200)
            r = self.daemon.get("/get-player-data", headers=auth)
            self.assertEqual(r.status, 200, r)
            self.assertEqual(r.json(), {"UserID": u.id}, body)
        # The compat route writes a new version over whatever was there.
        r = self.daemon.get("/set-player-data?&player_name=J%C3%B6rg", headers=auth)
        self.assertEqual(r.status, 200, r)
        r = u.get("player_name")
        self.assertEqual(json.loads(r.body), "J\u00f6rg")
        self.assertGreater(int(r.header("ETag").strip('"')), v2)
        # Deleting the document clears the name.
        self.assertEqual(u.delete("player_name").status, 204)
        r = self.daemon.get("/get-player-data", headers=auth)
        self.assertEqual(r.json(), {"UserID": u.id})

    # ---- CORS ----

    def test_cors(self):
        for target, methods in (("/player-data/x", ("PUT", "DELETE", "GET")),
                                ("/player-data-batch", ("POST",))):
            r = self.daemon.request("OPTIONS", self.daemon.path(target), {
                "Origin": "https://game.example", "Access-Control-Request-Method": methods[0],
                "Access-Control-Request-Headers": "authorization, content-type, if-match"})
            self.assertEqual(r.status, 204, r)
            allow = [m.strip() for m in (r.header("Access-Control-Allow-Methods") or "").split(",")]
            for m in methods:
                self.assertIn(m, allow, target)
            hdrs = [h.strip().lower()
                    for h in (r.header("Access-Control-Allow-Headers") or "").split(",")]
            for h in ("authorization", "content-type", "if-match", "if-none-match"):
                self.assertIn(h, hdrs, target)
            self.assertEqual(r.header("Access-Control-Allow-Origin"), "*")
        # Every answer carrying an ETag exposes it.
        u = self.user()
        r = u.put("x", b'1')
        v = self.assertWritten(r, "x", 201)
        answers = [r, u.get("x"), u.get("x", {"If-None-Match": etag(v)}),
                   u.put("x", b'2', {"If-Match": etag(v + 5)}),
                   u.put("x", b'2', {"If-None-Match": "*"})]
        for r in answers:
            self.assertTrue(r.header("ETag"), r)
            exposed = [h.strip().lower()
                       for h in (r.header("Access-Control-Expose-Headers") or "").split(",")]
            self.assertIn("etag", exposed, r)
            self.assertEqual(r.header("Access-Control-Allow-Origin"), "*")

    def test_methods(self):
        u = self.user()
        self.create(u, "k")
        for m, t in (("POST", "/player-data/k"), ("PATCH", "/player-data/k"),
                     ("PUT", "/player-data"), ("DELETE", "/player-data"),
                     ("GET", "/player-data-batch"), ("PUT", "/player-data-batch")):
            r = self.daemon.request(m, t, u.hdrs(), b'1')
            self.assertEqual(r.status, 405, "%s %s: %r" % (m, t, r))
        self.assertDoc(u, "k", b'{"n":1}')

    # ---- concurrency ----

    def race(self, requests):
        """Each request on its own open connection; headers go first, then
        all bodies at once after a barrier. Returns Responses (or exceptions)."""
        n = len(requests)
        barrier = threading.Barrier(n)
        results = [None] * n

        def worker(i):
            method, target, headers, body = requests[i]
            conn = http.client.HTTPConnection("127.0.0.1", self.daemon.port, timeout=120)
            try:
                conn.connect()
                conn.putrequest(method, target, skip_accept_encoding=True)
                for k, v in headers.items():
                    conn.putheader(k, v)
                conn.putheader("Content-Length", str(len(body)))
                conn.endheaders()
                barrier.wait(timeout=60)
                conn.send(body)
                r = conn.getresponse()
                results[i] = Response(r.status, {k.lower(): v for k, v in r.getheaders()},
                                      r.read())
            except Exception as e:  # reported by the caller
                results[i] = e
            finally:
                conn.close()

        threads = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(180)
        return results

    def check_one_winner(self, u, key, results, bodies, win_status):
        for r in results:
            self.assertIsInstance(r, Response, results)
        winners = [i for i, r in enumerate(results) if 200 <= r.status < 300]
        self.assertEqual(len(winners), 1, results)
        w = winners[0]
        v = self.assertWritten(results[w], key, win_status)
        for i, r in enumerate(results):
            if i != w:
                self.assertPrecondFailed(r, v, "loser %d" % i)
        self.assertDoc(u, key, bodies[w], v)
        return v

    def test_concurrent_if_match_one_winner(self):
        u = self.user()
        v = self.create(u, "race", b'"start"')
        target = self.daemon.path("/player-data/race")
        for n in [2, 2, 2, RACERS, RACERS]:
            bodies = [jb({"writer": i, "after": v}) for i in range(n)]
            results = self.race([("PUT", target, u.hdrs({"If-Match": etag(v)}), bodies[i])
                                 for i in range(n)])
            v = self.check_one_winner(u, "race", results, bodies, 200)

    def test_concurrent_if_none_match_one_creator(self):
        u = self.user()
        for round_ in range(3):
            key = "create%d" % round_
            target = self.daemon.path("/player-data/" + key)
            bodies = [jb({"creator": i}) for i in range(RACERS)]
            results = self.race([("PUT", target, u.hdrs({"If-None-Match": "*"}), bodies[i])
                                 for i in range(RACERS)])
            self.check_one_winner(u, key, results, bodies, 201)

    def test_concurrent_put_and_delete_one_winner(self):
        u = self.user()
        v = self.create(u, "pd", b'"start"')
        target = self.daemon.path("/player-data/pd")
        for _ in range(3):
            reqs = []
            for i in range(RACERS):
                if i % 2:
                    reqs.append(("DELETE", target, u.hdrs({"If-Match": etag(v)}, None), b""))
                else:
                    reqs.append(("PUT", target, u.hdrs({"If-Match": etag(v)}), jb(i)))
            results = self.race(reqs)
            for r in results:
                self.assertIsInstance(r, Response, results)
            winners = [i for i, r in enumerate(results) if 200 <= r.status < 300]
            self.assertEqual(len(winners), 1, results)
            w = winners[0]
            if w % 2:
                self.assertEqual(results[w].status, 204)
                current = None
                self.assertAbsent(u, "pd")
            else:
                current = self.assertWritten(results[w], "pd", 200)
                self.assertDoc(u, "pd", jb(w), current)
            for i, r in enumerate(results):
                if i != w:
                    self.assertPrecondFailed(r, current, "loser %d" % i)
            v = self.create(u, "pd", b'"again"') if current is None else current

    def test_concurrent_batches_one_winner(self):
        u = self.user()
        va = self.create(u, "ba", b'0')
        vb = self.create(u, "bb", b'0')
        target = self.daemon.path("/player-data-batch")
        bodies = [batch_body(item("ba", jb(i), if_match=etag(va)),
                             item("bb", jb(i), if_match=etag(vb))) for i in range(RACERS)]
        results = self.race([("POST", target, u.hdrs(), b) for b in bodies])
        for r in results:
            self.assertIsInstance(r, Response, results)
        winners = [i for i, r in enumerate(results) if r.status == 200]
        self.assertEqual(len(winners), 1, results)
        res = results[winners[0]].json()["results"]
        for i, r in enumerate(results):
            if i != winners[0]:
                j = self.assertPrecondFailed(r, res[0]["version"], "loser %d" % i)
                self.assertEqual((j["index"], j["key"]), (0, "ba"))
        self.assertDoc(u, "ba", jb(winners[0]), res[0]["version"])
        self.assertDoc(u, "bb", jb(winners[0]), res[1]["version"])


class EntityTagOverflow(StorageAsserts, DaemonTest, unittest.TestCase):
    """Versions in entity tags that do not fit 64 bits never match a stored
    version (a separate daemon: a sanitizer build may abort on them)."""
    SETTINGS = {"rate_limit_login": 0}

    HUGE = (2 ** 64, 2 ** 63, 10 ** 19, 99999999999999999999 - 1)

    def tags(self, v):
        """Entity tags of 19 or 20 digits: beyond int64, some wrap to v."""
        return [etag(h + v) for h in self.HUGE]

    def test_put_if_match(self):
        u = User(self.daemon)
        v = self.create(u, "k", b'"orig"')
        for tag in self.tags(v):
            r = u.put("k", b'"overwritten"', {"If-Match": tag})
            self.assertIn(r.status, (400, 412), "PUT If-Match %s (stored %d): %r" % (tag, v, r))
            self.assertDoc(u, "k", b'"orig"', v, tag)

    def test_delete_if_match(self):
        u = User(self.daemon)
        v = self.create(u, "k", b'"orig"')
        for tag in self.tags(v):
            r = u.delete("k", {"If-Match": tag})
            self.assertIn(r.status, (400, 412), "DELETE If-Match %s (stored %d): %r"
                          % (tag, v, r))
            self.assertDoc(u, "k", b'"orig"', v, tag)

    def test_batch_if_match(self):
        u = User(self.daemon)
        v = self.create(u, "k", b'"orig"')
        for tag in self.tags(v):
            r = u.batch(batch_body(item("k", b'"overwritten"', if_match=tag)))
            self.assertIn(r.status, (400, 412), "batch if_match %s (stored %d): %r"
                          % (tag, v, r))
            self.assertDoc(u, "k", b'"orig"', v, tag)

    def test_get_if_none_match(self):
        u = User(self.daemon)
        v = self.create(u, "k", b'"orig"')
        for tag in self.tags(v):
            r = u.get("k", {"If-None-Match": tag})
            self.assertEqual(r.status, 200, "GET If-None-Match %s (stored %d): %r"
                             % (tag, v, r))
            self.assertEqual(r.body, b'"orig"')


# --------------------------------------------------------------------------
# limits that need their own settings

class DocumentCap(StorageAsserts, DaemonTest, unittest.TestCase):
    """player_data_max_document on its own: the HTTP body limit is raised, so
    only the document rule answers 413."""
    SETTINGS = {"rate_limit_login": 0, "max_body_size": "1MiB"}

    def test_document_cap(self):
        u = User(self.daemon)
        ok = b'"' + b"a" * (MAX_DOC - 2) + b'"'
        v = self.assertWritten(u.put("doc", ok), "doc", 201)
        over = b'[' + b" " * (MAX_DOC - 1) + b']'
        self.assertEqual(len(over), 65537)
        self.assertError(u.put("doc", over), 413, "payload_too_large")
        self.assertError(u.put("doc2", over), 413, "payload_too_large")
        self.assertDoc(u, "doc", ok, v)
        self.assertAbsent(u, "doc2")

    def test_batch_oversized_value(self):
        u = User(self.daemon)
        v = self.create(u, "keep", b'1')
        ok = b'"' + b"a" * (MAX_DOC - 2) + b'"'
        over = b'"' + b"b" * (MAX_DOC - 1) + b'"'
        for pos in (0, 1, 2):
            items = [item("n0", b'0'), item("keep", b'2'), item("n2", ok)]
            items[pos] = item(["x0", "keep", "x2"][pos], over)
            j = self.assertError(u.batch(batch_body(*items)), 413, "payload_too_large", pos)
            self.assertEqual(j.get("index"), pos, j)
            self.assertEqual([it["key"] for it in u.list_all()], ["keep"])
            self.assertDoc(u, "keep", b'1', v)
        r = u.batch(batch_body(item("n0", ok), item("keep", ok)))
        self.assertEqual(r.status, 200, r)
        self.assertDoc(u, "n0", ok)


class SmallWriterCache(StorageAsserts, DaemonTest, unittest.TestCase):
    """sqlite_cache_size at its least (256 KiB, 64 pages): a batch and a
    stream of concurrent writes that dirty many times more pages than the
    writer's cache holds (SQLite spills them into the WAL before the
    commit) are all kept, byte for byte, across kill -9."""
    SETTINGS = {"rate_limit_login": 0, "max_body_size": "1MiB",
                "sqlite_cache_size": "256KiB"}

    def test_writes_larger_than_the_cache_are_kept(self):
        users = [User(self.daemon) for _ in range(4)]
        big = [b'"' + (b"%d" % i) * ((MAX_DOC - 8) // len(b"%d" % i)) + b'"' for i in range(12)]
        r = users[0].batch(batch_body(*[item("b%d" % i, v) for i, v in enumerate(big)]))
        self.assertEqual(r.status, 200, r)
        errors = []

        def writer(u, n):
            for i in range(n):
                v = b'{"u":"%s","i":%d,"pad":"%s"}' % (u.id.encode(), i, b"x" * 3000)
                r = u.put("k%d" % i, v)
                if r.status != 201:
                    errors.append(r)
        threads = [threading.Thread(target=writer, args=(u, 40)) for u in users[1:]]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(errors, [])
        before = [u.snapshot() for u in users]
        self.assertEqual(len(before[0]), len(big))
        self.assertEqual([len(b) for b in before[1:]], [40] * 3)
        self.daemon.kill9()
        self.daemon.start()
        self.assertEqual([u.snapshot() for u in users], before)
        for i, v in enumerate(big):
            self.assertDoc(users[0], "b%d" % i, v)


class Quotas(StorageAsserts, DaemonTest, unittest.TestCase):
    SETTINGS = {"rate_limit_login": 0, "player_data_max_keys": 5,
                "player_data_max_bytes": 2048}

    def test_keys_quota(self):
        u = User(self.daemon)
        for i in range(5):
            self.create(u, "k%d" % i, jb(i))
        self.assertError(u.put("k5", b'5'), 413, "quota_exceeded", "6th key")
        self.assertError(u.put("k5", b'5', {"If-None-Match": "*"}), 413, "quota_exceeded")
        self.assertAbsent(u, "k5")
        # Replacing an existing key still works.
        self.assertWritten(u.put("k2", b'"replaced"'), "k2", 200)
        self.assertDoc(u, "k2", b'"replaced"')
        # A batch that would add a key: 413 with its index, nothing written.
        r = u.batch(batch_body(item("k0", b'"b0"'), item("k1", b'"b1"'), item("new", b'1')))
        j = self.assertError(r, 413, "quota_exceeded")
        self.assertEqual(j.get("index"), 2, j)
        self.assertDoc(u, "k0", b'0')
        self.assertDoc(u, "k1", b'1')
        # The compat route is bound by the same quota.
        r = self.daemon.get("/set-player-data?&player_name=x", headers={"Authorization": u.token})
        self.assertEqual(r.status, 413, r)
        self.assertAbsent(u, "player_name")
        # A delete frees a slot, for exactly one key.
        self.assertEqual(u.delete("k0").status, 204)
        self.create(u, "k5")
        self.assertError(u.put("k6", b'6'), 413, "quota_exceeded")
        r = u.batch(batch_body(item("k1", b'"b1"'), item("k2", b'"b2"')))
        self.assertEqual(r.status, 200, r)
        self.assertEqual(sorted(it["key"] for it in u.list_all()),
                         ["k1", "k2", "k3", "k4", "k5"])
        # Another user has its own quota.
        w = User(self.daemon)
        for i in range(5):
            self.create(w, "k%d" % i)

    def test_bytes_quota(self):
        u = User(self.daemon)

        def doc(n):
            return b'"' + b"x" * (n - 2) + b'"'
        self.create(u, "a", doc(1000))
        self.create(u, "b", doc(1000))
        self.assertError(u.put("c", doc(100)), 413, "quota_exceeded", "2100 bytes")
        self.assertAbsent(u, "c")
        self.create(u, "c", doc(48))                    # exactly 2048
        self.assertError(u.put("d", b'1'), 413, "quota_exceeded", "2049 bytes")
        # Replacing counts the difference.
        self.assertError(u.put("a", doc(1001)), 413, "quota_exceeded", "grow a")
        self.assertDoc(u, "a", doc(1000))
        self.assertWritten(u.put("a", doc(900)), "a", 200)
        self.assertWritten(u.put("a", doc(1000)), "a", 200)
        # A batch over the quota: 413 with the index of the write that crosses it.
        self.assertEqual(u.delete("c").status, 204)
        r = u.batch(batch_body(item("d", doc(20)), item("e", doc(20)), item("f", doc(20))))
        j = self.assertError(r, 413, "quota_exceeded")
        self.assertEqual(j.get("index"), 2, j)
        self.assertEqual(sorted(it["key"] for it in u.list_all()), ["a", "b"])
        # Delete frees the bytes.
        self.assertEqual(u.delete("b").status, 204)
        self.create(u, "big", doc(1048))
        sizes = sum(it["size"] for it in u.list_all())
        self.assertEqual(sizes, 2048)


# --------------------------------------------------------------------------
# durability

class Durability(StorageAsserts, unittest.TestCase):

    def setUp(self):
        self.daemon = Daemon({"rate_limit_login": 0}).start()

    def tearDown(self):
        try:
            if self.daemon.proc:
                self.daemon.stop()
        finally:
            self.daemon.cleanup()

    @staticmethod
    def value(round_, w, i):
        """Distinct values with odd bytes: unicode, escapes, 0.1, whitespace."""
        kinds = [
            b'{"r":%d,"w":%d,"i":%d,"f":0.1,"g":1.50}' % (round_, w, i),
            ('"\u00e9\u20ac\U0001F600 %d-%d-%d \\u00e9 \\ud83d\\ude00"'
             % (round_, w, i)).encode(),
            b' [ %d , %d , %d , 1e2 ,"\\"]}" ]\n' % (round_, w, i),
            b'%d.%d0' % (round_ * 100000 + w * 10000 + i, i),
            b'{"pad":"' + b"p" * (i % 7 * 300) + b'","n":%d}' % i,
        ]
        return kinds[i % len(kinds)]

    def stream(self, users, round_):
        """Writers stream PUTs until the daemon dies; returns acknowledged
        writes {(user index, key): (version, bytes)}."""
        acked = {}
        lock = threading.Lock()
        enough = threading.Event()
        errors = []

        live = [len(users)]

        def writer(w):
            try:
                write_until_gone(w)
            finally:
                with lock:
                    live[0] -= 1
                    if not live[0]:
                        enough.set()

        def write_until_gone(w):
            u = users[w]
            i = 0
            while True:
                key = "r%d-w%d-%05d" % (round_, w, i)
                body = self.value(round_, w, i)
                try:
                    r = u.put(key, body)
                except (OSError, http.client.HTTPException):
                    return  # the daemon is gone
                if 200 <= r.status < 300:
                    v = r.json()["version"]
                    if r.status != 201 or r.header("ETag") != etag(v):
                        errors.append(("bad ack", key, r))
                    with lock:
                        acked[(w, key)] = (v, body)
                        if len(acked) >= DURABILITY_ACKS:
                            enough.set()
                else:
                    errors.append((key, r))
                    return
                i += 1

        threads = [threading.Thread(target=writer, args=(w,)) for w in range(len(users))]
        for t in threads:
            t.start()
        ok = enough.wait(timeout=300)
        self.daemon.kill9()
        for t in threads:
            t.join(60)
        self.assertTrue(ok, "the writers never reached %d acknowledged writes: %r"
                        % (DURABILITY_ACKS, errors[:3]))
        self.assertEqual(errors, [])
        with lock:
            return dict(acked)

    def verify(self, users, acked):
        listed = [{it["key"]: it for it in u.list_all()} for u in users]
        for (w, key), (v, body) in sorted(acked.items()):
            self.assertDoc(users[w], key, body, v, "acknowledged %s of writer %d" % (key, w))
            it = listed[w].get(key)
            self.assertIsNotNone(it, key)
            self.assertEqual((it["version"], it["size"]), (v, len(body)), key)

    def test_kill9_during_write_stream(self):
        users = [User(self.daemon) for _ in range(DURABILITY_WRITERS)]
        all_acked = {}
        for round_ in range(DURABILITY_ROUNDS):
            acked = self.stream(users, round_)
            self.assertGreaterEqual(len(acked), DURABILITY_ACKS)
            all_acked.update(acked)
            self.daemon.start()
            self.verify(users, all_acked)
            # The version sequence goes on above every acknowledged version.
            for w, u in enumerate(users):
                top = max(v for (ww, _), (v, _) in all_acked.items() if ww == w)
                v = self.assertWritten(u.put("after-%d" % round_, b'1'), "after-%d" % round_)
                self.assertGreater(v, top, "writer %d" % w)
        self.daemon.stop()
        self.daemon.start()
        self.verify(users, all_acked)


if __name__ == "__main__":
    unittest.main()
