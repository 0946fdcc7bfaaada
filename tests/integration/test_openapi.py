"""docs/openapi.json against the router and the running daemon (README "HTTP
interface"): GET /openapi.json serves the file byte for byte (also under
base_path); the document's (method, path) operations are exactly the
router's routes (`gatehouse routes`); the document is well formed (OpenAPI
3.1.0, unique operationIds, responses everywhere, every $ref resolves, every
path parameter declared); and real answers of the daemon have a documented
status, content type, required headers and a body with the documented shape
(a tiny checker for type/required/properties, no external library)."""
import json
import os
import re
import subprocess
import tempfile
import unittest

from gh import Daemon, DaemonTest

REPO = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
DOC_PATH = os.path.join(REPO, "docs", "openapi.json")
HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
TAGS = {"compat", "account", "storage", "issuer", "operations", "forward-auth", "admin"}
JSON = "application/json"
TEXT = "text/plain; charset=utf-8"

# API.md's exact plain-text strings, by route, that the document must list.
COMPAT_STRINGS = {
    ("GET", "/login-as-guest"): {
        "400": ["Error: No guest_secret in query string", "Error: Invalid request"],
        "401": ["Error: Could not validate user"],
        "403": ["Error: User is banned"],
        "429": ["Error: Too many requests"],
    },
    ("POST", "/login-as-guest"): {
        "400": ["Error: No guest_secret in query string", "Error: Invalid request"],
        "401": ["Error: Could not validate user"],
        "403": ["Error: User is banned"],
        "429": ["Error: Too many requests"],
    },
    ("GET", "/refresh-access-token"): {
        "400": ["Error: Invalid request"],
        "401": ["Error: Failed to validate refresh token"],
        "403": ["Error: User is banned"],
        "429": ["Error: Too many requests"],
    },
    ("POST", "/refresh-access-token"): {
        "400": ["Error: Invalid request"],
        "401": ["Error: Failed to validate refresh token"],
        "403": ["Error: User is banned"],
        "429": ["Error: Too many requests"],
    },
}


def read_doc_bytes():
    with open(DOC_PATH, "rb") as f:
        return f.read()


def load_doc():
    return json.loads(read_doc_bytes().decode("utf-8"))


def pointer(doc, ref):
    """The node a local $ref ("#/a/b") names; KeyError when it names nothing."""
    if not ref.startswith("#/"):
        raise KeyError("not a local reference: " + ref)
    node = doc
    for part in ref[2:].split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        if isinstance(node, list):
            node = node[int(part)]
        elif isinstance(node, dict) and part in node:
            node = node[part]
        else:
            raise KeyError(ref)
    return node


def deref(doc, node):
    """Follows $ref chains (Reference Objects) to the node they name."""
    seen = set()
    while isinstance(node, dict) and "$ref" in node:
        ref = node["$ref"]
        if ref in seen:
            raise KeyError("reference cycle at " + ref)
        seen.add(ref)
        node = pointer(doc, ref)
    return node


def all_refs(node, where="#"):
    """(where, ref) of every $ref in the document."""
    if isinstance(node, dict):
        for k, v in node.items():
            if k == "$ref" and isinstance(v, str):
                yield where, v
            else:
                yield from all_refs(v, where + "/" + k)
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from all_refs(v, "%s/%d" % (where, i))


def operations(doc):
    """(METHOD, path, operation, path item) of every operation."""
    for path, item in doc.get("paths", {}).items():
        for method, op in item.items():
            if method in HTTP_METHODS:
                yield method.upper(), path, op, item


def route_differences(routes, documented):
    """None when equal, else a message naming both differences."""
    missing, extra = sorted(routes - documented), sorted(documented - routes)
    if not missing and not extra:
        return None
    return ("docs/openapi.json and the router (`gatehouse routes`) disagree:\n"
            "  routes the document lacks: %s\n"
            "  documented operations the router lacks: %s"
            % (", ".join("%s %s" % r for r in missing) or "none",
               ", ".join("%s %s" % r for r in extra) or "none"))


def first_difference(a, b):
    """Where two byte strings first differ, for a short failure message."""
    n = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
    return ("%d bytes served, %d in docs/openapi.json, first difference at byte %d: "
            "served %r, file %r" % (len(a), len(b), n, a[n:n + 60], b[n:n + 60]))


def router_routes(daemon):
    r = daemon.cli("routes")
    assert r.returncode == 0, r.stderr
    routes = set()
    for line in r.stdout.splitlines():
        if line.strip():
            method, path = line.split()
            routes.add((method, path))
    assert routes, "gatehouse routes printed nothing"
    return routes


# ---- a tiny JSON Schema checker: $ref, allOf, anyOf/oneOf, type, const,
#      enum, required, properties, items ----

def type_ok(value, t):
    if t == "null":
        return value is None
    if t == "boolean":
        return isinstance(value, bool)
    if t == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if t == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if t == "string":
        return isinstance(value, str)
    if t == "array":
        return isinstance(value, list)
    if t == "object":
        return isinstance(value, dict)
    raise AssertionError("unknown schema type %r" % t)


def check_schema(doc, schema, value, where="$"):
    """Problems of value against schema, as a list of strings."""
    if schema is True or schema == {}:
        return []
    if schema is False:
        return ["%s: no value is allowed here" % where]
    problems = []
    if "$ref" in schema:
        problems += check_schema(doc, pointer(doc, schema["$ref"]), value, where)
    for sub in schema.get("allOf", []):
        problems += check_schema(doc, sub, value, where)
    for key in ("anyOf", "oneOf"):
        if key in schema and all(check_schema(doc, s, value, where) for s in schema[key]):
            problems.append("%s: matches none of %s" % (where, key))
    if "type" in schema:
        types = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        if not any(type_ok(value, t) for t in types):
            return problems + ["%s: %r is not of type %s" % (where, value, types)]
    if "const" in schema and value != schema["const"]:
        problems.append("%s: %r is not %r" % (where, value, schema["const"]))
    if "enum" in schema and value not in schema["enum"]:
        problems.append("%s: %r is not one of %r" % (where, value, schema["enum"]))
    if isinstance(value, dict):
        for name in schema.get("required", []):
            if name not in value:
                problems.append("%s: required property %r missing" % (where, name))
        for name, sub in schema.get("properties", {}).items():
            if name in value:
                problems += check_schema(doc, sub, value[name], "%s.%s" % (where, name))
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        for i, v in enumerate(value):
            problems += check_schema(doc, schema["items"], v, "%s[%d]" % (where, i))
    return problems


class TinyChecker(unittest.TestCase):
    """The checker itself must catch what the response checks rely on."""

    def test_checker(self):
        doc = {"components": {"schemas": {"A": {
            "type": "object", "required": ["a"],
            "properties": {"a": {"type": "integer"}, "b": {"type": ["string", "null"]}}}}}}
        a = {"$ref": "#/components/schemas/A"}
        self.assertEqual(check_schema(doc, a, {"a": 1, "b": None}), [])
        self.assertTrue(check_schema(doc, a, {"b": "x"}))
        self.assertTrue(check_schema(doc, a, {"a": True}))
        self.assertTrue(check_schema(doc, a, {"a": 1, "b": 2}))
        self.assertTrue(check_schema(doc, a, []))
        both = {"allOf": [a, {"required": ["c"]}]}
        self.assertTrue(check_schema(doc, both, {"a": 1}))
        self.assertEqual(check_schema(doc, {"type": "array", "items": a}, [{"a": 1}]), [])
        self.assertTrue(check_schema(doc, {"type": "array", "items": a}, [{"a": "1"}]))
        self.assertTrue(check_schema(doc, {"enum": ["x"]}, "y"))
        self.assertTrue(check_schema(doc, {"const": "x"}, "y"))


class Document(unittest.TestCase):
    """The file itself, without a daemon."""

    @classmethod
    def setUpClass(cls):
        cls.raw = read_doc_bytes()
        cls.doc = load_doc()

    def test_encoding_and_layout(self):
        text = self.raw.decode("utf-8")  # UTF-8, or this raises
        self.assertTrue(text.endswith("}\n"), "the file ends with a newline")
        self.assertFalse(text.startswith("\ufeff"), "no byte order mark")
        for n, line in enumerate(text.split("\n")[:-1], 1):
            indent = len(line) - len(line.lstrip(" "))
            self.assertFalse(line[indent:indent + 1] == "\t", "line %d: tab" % n)
            self.assertEqual(indent % 2, 0, "line %d: not a 2-space indentation" % n)
            self.assertEqual(line, line.rstrip(), "line %d: trailing whitespace" % n)

    def test_header(self):
        self.assertEqual(self.doc["openapi"], "3.1.0")
        self.assertEqual(self.doc["info"]["title"], "gatehouse")
        self.assertEqual(self.doc["info"]["version"], "0.1.0")
        self.assertTrue(self.doc["info"].get("description"))
        self.assertTrue(self.doc["paths"])

    def test_operations(self):
        ids = {}
        for method, path, op, _ in operations(self.doc):
            name = "%s %s" % (method, path)
            self.assertTrue(path.startswith("/"), name)
            op_id = op.get("operationId")
            self.assertTrue(op_id, name + ": no operationId")
            self.assertNotIn(op_id, ids, "%s: operationId %r also used by %s"
                             % (name, op_id, ids.get(op_id)))
            ids[op_id] = name
            self.assertTrue(op.get("summary"), name + ": no summary")
            self.assertTrue(op.get("tags"), name + ": no tags")
            self.assertLessEqual(set(op["tags"]), TAGS, name)
            self.assertTrue(op.get("responses"), name + ": no response")
            for status in op["responses"]:
                self.assertRegex(status, r"^([1-5][0-9][0-9]|[1-5]XX|default)$", name)

    def test_every_parameter_and_header_has_a_typed_schema(self):
        """Clients and linters need a type beside a $ref or a const (Redocly's
        lint in `make openapi-lint` checks the same, with docs/redocly.yaml)."""
        doc = self.doc
        seen = []

        def check(obj, where):
            obj = deref(doc, obj)
            schema = obj.get("schema")
            self.assertIsNotNone(schema, where + ": no schema")
            self.assertIn("type", schema, where + ": the schema has no type")
            seen.append(where)

        def responses(rs, where):
            for code, r in rs.items():
                for name, h in deref(doc, r).get("headers", {}).items():
                    check(h, "%s %s header %s" % (where, code, name))

        for path, item in doc["paths"].items():
            for p in item.get("parameters", []):
                check(p, path)
            for method, operation in item.items():
                if method == "parameters":
                    continue
                for p in operation.get("parameters", []):
                    check(p, "%s %s" % (method, path))
                responses(operation.get("responses", {}), "%s %s" % (method, path))
        for name, p in doc["components"]["parameters"].items():
            check(p, "parameter " + name)
        for name, h in doc["components"]["headers"].items():
            check(h, "header " + name)
        self.assertGreater(len(seen), 50)

    def test_every_ref_resolves(self):
        bad = []
        for where, ref in all_refs(self.doc):
            try:
                pointer(self.doc, ref)
            except (KeyError, IndexError, ValueError):
                bad.append("%s -> %s" % (where, ref))
        self.assertEqual(bad, [], "unresolved $ref")

    def test_path_parameters_declared(self):
        for method, path, op, item in operations(self.doc):
            name = "%s %s" % (method, path)
            in_template = set(re.findall(r"\{([^}/]+)\}", path))
            declared = {}
            for p in item.get("parameters", []) + op.get("parameters", []):
                p = deref(self.doc, p)
                self.assertIn("name", p, name)
                self.assertIn(p.get("in"), ("query", "header", "path", "cookie"), name)
                if p["in"] == "path":
                    declared[p["name"]] = p
            self.assertEqual(set(declared), in_template,
                             "%s: path parameters of the template vs declared" % name)
            for p in declared.values():
                self.assertIs(p.get("required"), True, "%s: path parameter %s must be "
                              "required" % (name, p["name"]))

    def test_security(self):
        schemes = self.doc["components"]["securitySchemes"]
        token = schemes["accessToken"]
        self.assertEqual((token["type"], token["scheme"], token["bearerFormat"]),
                         ("http", "bearer", "JWT"))
        self.assertIn("Bearer", token["description"])
        for method, path, op, _ in operations(self.doc):
            for req in op.get("security", self.doc.get("security", [])):
                for scheme in req:
                    self.assertIn(scheme, schemes, "%s %s" % (method, path))

    def test_every_response_carries_request_id(self):
        for method, path, op, _ in operations(self.doc):
            for status, resp in op["responses"].items():
                resp = deref(self.doc, resp)
                hdr = resp.get("headers", {}).get("X-Request-Id")
                self.assertIsNotNone(hdr, "%s %s %s: no X-Request-Id" % (method, path, status))
                self.assertEqual(hdr, {"$ref": "#/components/headers/X-Request-Id"})

    def test_compat_error_strings(self):
        """API.md A.2's plain-text strings are listed for each compat route."""
        ops = {(m, p): op for m, p, op, _ in operations(self.doc)}
        for route, by_status in COMPAT_STRINGS.items():
            op = ops.get(route)
            if op is None:
                continue  # the route set is compared with the router elsewhere
            for status, strings in by_status.items():
                resp = deref(self.doc, op["responses"].get(status, {}))
                schema = deref(self.doc, resp.get("content", {}).get(TEXT, {}).get("schema", {}))
                for s in strings:
                    self.assertIn(s, schema.get("enum", []), "%s %s %s" % (route + (status,)))

    def test_storage_etags_and_retry_after(self):
        """ETag on storage answers that carry one; Retry-After on every 429 and 503."""
        for method, path, op, _ in operations(self.doc):
            for status, resp in op["responses"].items():
                hdrs = deref(self.doc, resp).get("headers", {})
                if status in ("429", "503"):
                    self.assertIn("Retry-After", hdrs, "%s %s %s" % (method, path, status))
                if path == "/player-data/{key}" and (status, method) in (
                        ("200", "GET"), ("304", "GET"), ("200", "PUT"), ("201", "PUT"),
                        ("412", "PUT"), ("412", "DELETE")):
                    self.assertIn("ETag", hdrs, "%s %s %s" % (method, path, status))


class Served(DaemonTest, unittest.TestCase):
    """The document the daemon serves, and the daemon's real answers."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.doc = load_doc()

    def test_served_byte_for_byte(self):
        r = self.daemon.get("/openapi.json")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.header("Content-Type"), JSON)
        self.assertTrue(r.header("X-Request-Id"))
        raw = read_doc_bytes()
        if r.body != raw:
            self.fail("GET /openapi.json is not docs/openapi.json (rebuild the daemon after "
                      "editing it): " + first_difference(r.body, raw))

    def test_generator_reads_the_error_table(self):
        """scripts/gen-openapi.py takes every error's status and bodies from the
        daemon's one error table (`gatehouse routes --json`): regenerating the
        document from this binary gives docs/openapi.json byte for byte."""
        with tempfile.TemporaryDirectory() as d:
            out = os.path.join(d, "openapi.json")
            subprocess.run(["python3", os.path.join(REPO, "scripts", "gen-openapi.py"), out],
                           check=True, capture_output=True,
                           env=dict(os.environ, GH_TEST_BIN=os.environ["GH_TEST_BIN"]))
            with open(out, "rb") as f:
                generated = f.read()
        raw = read_doc_bytes()
        if generated != raw:
            self.fail("scripts/gen-openapi.py no longer writes docs/openapi.json (run it after "
                      "changing the error table or a route): " + first_difference(generated, raw))

    def test_operations_are_the_router_routes(self):
        documented = {(m, p) for m, p, _, _ in operations(self.doc)}
        problem = route_differences(router_routes(self.daemon), documented)
        if problem:
            self.fail(problem)

    # ---- real answers against the document ----

    def operation(self, method, path):
        for m, p, op, _ in operations(self.doc):
            if (m, p) == (method, path):
                return op
        self.fail("%s %s is not documented" % (method, path))

    def assertDocumented(self, method, path, r):
        """r's status, content type, required headers and body are as the
        document says for the operation (method, path template)."""
        name = "%s %s -> %d" % (method, path, r.status)
        responses = self.operation(method, path)["responses"]
        resp = responses.get(str(r.status), responses.get("%dXX" % (r.status // 100),
                                                          responses.get("default")))
        self.assertIsNotNone(resp, "%s: status not documented (%s)"
                             % (name, ", ".join(sorted(responses))))
        resp = deref(self.doc, resp)
        self.assertTrue(r.header("X-Request-Id"), name)
        for h, spec in resp.get("headers", {}).items():
            if deref(self.doc, spec).get("required"):
                self.assertTrue(r.header(h), "%s: required header %s missing" % (name, h))
        content = resp.get("content")
        if not content:
            self.assertEqual(r.body, b"", name + ": a body where none is documented")
            return None
        ctype = r.header("Content-Type") or ""
        media = content.get(ctype)
        if media is None:
            base = ctype.split(";")[0].strip()
            media = next((m for t, m in content.items() if t.split(";")[0].strip() == base),
                         None)
        self.assertIsNotNone(media, "%s: content type %r not documented (%s)"
                             % (name, ctype, ", ".join(content)))
        if ctype.split(";")[0].strip() == JSON:
            value = r.json()
        elif ctype.startswith("text/plain") and "version=" not in ctype:
            value = r.text
        else:
            return None
        problems = check_schema(self.doc, media.get("schema", {}), value)
        self.assertEqual(problems, [], "%s: body %r" % (name, r.body[:300]))
        return value

    def test_identity_and_account_answers(self):
        d = self.daemon
        r = d.get("/login-as-guest")
        g = self.assertDocumented("GET", "/login-as-guest", r)
        self.assertEqual(r.status, 200)
        auth = {"Authorization": g["auth_token"]}
        r = d.post("/login-as-guest", body={"user_id": g["user_id"],
                                            "guest_secret": g["guest_secret"]})
        self.assertEqual(r.status, 200, r)
        self.assertDocumented("POST", "/login-as-guest", r)
        r = d.get("/login-as-guest?&user_id=" + g["user_id"])
        self.assertEqual(r.status, 400, r)
        self.assertDocumented("GET", "/login-as-guest", r)
        r = d.get("/login-as-guest?&user_id=%s&guest_secret=wrong" % g["user_id"])
        self.assertEqual(r.status, 401, r)
        self.assertDocumented("GET", "/login-as-guest", r)

        r = d.get("/refresh-access-token?&refresh_token=" + g["refresh_token"])
        self.assertEqual(r.status, 200, r)
        t = self.assertDocumented("GET", "/refresh-access-token", r)
        self.assertNotIn("guest_secret", t)
        for target in ("/refresh-access-token", "/refresh-access-token?&refresh_token=x"):
            r = d.get(target)
            self.assertIn(r.status, (400, 401), r)
            self.assertDocumented("GET", "/refresh-access-token", r)

        r = d.get("/get-user", headers=auth)
        self.assertEqual(r.status, 200, r)
        self.assertDocumented("GET", "/get-user", r)
        r = d.get("/get-user")
        self.assertEqual(r.status, 401, r)
        self.assertDocumented("GET", "/get-user", r)
        r = d.get("/export-user-data", headers=auth)
        self.assertEqual(r.status, 200, r)
        self.assertDocumented("GET", "/export-user-data", r)

        r = d.get("/set-player-data?&player_name=John%20Doe", headers=auth)
        self.assertEqual(r.status, 200, r)
        self.assertDocumented("GET", "/set-player-data", r)
        r = d.get("/set-player-data", headers=auth)
        self.assertEqual(r.status, 400, r)
        self.assertDocumented("GET", "/set-player-data", r)
        r = d.post("/get-player-data", headers=auth)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(self.assertDocumented("POST", "/get-player-data", r)["PlayerName"],
                         "John Doe")
        r = d.get("/get-player-data")
        self.assertEqual(r.status, 401, r)
        self.assertDocumented("GET", "/get-player-data", r)

        r = d.post("/logout", body={"refresh_token": t["refresh_token"]})
        self.assertEqual(r.status, 200, r)
        self.assertDocumented("POST", "/logout", r)
        r = d.post("/logout")
        self.assertEqual(r.status, 400, r)
        self.assertDocumented("POST", "/logout", r)
        r = d.post("/logout-all", headers=auth)
        self.assertEqual(r.status, 401, r)  # the logout above ended its session
        self.assertDocumented("POST", "/logout-all", r)
        r = d.post("/login-as-guest", body={"user_id": g["user_id"],
                                            "guest_secret": g["guest_secret"]})
        auth = {"Authorization": r.json()["auth_token"]}
        r = d.post("/logout-all", headers=auth)
        self.assertEqual(r.status, 200, r)
        self.assertDocumented("POST", "/logout-all", r)
        r = d.post("/login-as-guest", body={"user_id": g["user_id"],
                                            "guest_secret": g["guest_secret"]})
        auth = {"Authorization": r.json()["auth_token"]}
        r = d.post("/delete-user", headers=auth)
        self.assertEqual(r.status, 200, r)
        self.assertDocumented("POST", "/delete-user", r)
        r = d.get("/get-user", headers=auth)
        self.assertEqual(r.status, 401, r)
        self.assertDocumented("GET", "/get-user", r)

    def test_storage_answers(self):
        d = self.daemon
        g = d.new_guest()
        auth = {"Authorization": g["auth_token"]}
        put = dict(auth, **{"Content-Type": JSON, "If-None-Match": "*"})
        doc_path = d.path("/player-data/savegame")
        r = d.request("PUT", doc_path, put, b'{"level":3}')
        self.assertEqual(r.status, 201, r)
        w = self.assertDocumented("PUT", "/player-data/{key}", r)
        self.assertEqual(r.header("ETag"), '"%d"' % w["version"])
        r = d.request("PUT", doc_path, put, b'{"level":4}')
        self.assertEqual(r.status, 412, r)
        self.assertEqual(self.assertDocumented("PUT", "/player-data/{key}", r)["version"],
                         w["version"])
        r = d.request("PUT", doc_path, dict(auth, **{"Content-Type": JSON,
                                                     "If-Match": '"%d"' % w["version"]}),
                      b'{"level":4}')
        self.assertEqual(r.status, 200, r)
        w = self.assertDocumented("PUT", "/player-data/{key}", r)
        r = d.request("GET", doc_path, auth)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(self.assertDocumented("GET", "/player-data/{key}", r), {"level": 4})
        r = d.request("GET", doc_path, dict(auth, **{"If-None-Match": r.header("ETag")}))
        self.assertEqual(r.status, 304, r)
        self.assertDocumented("GET", "/player-data/{key}", r)
        r = d.request("GET", d.path("/player-data/bad%20key"), auth)
        self.assertEqual(r.status, 400, r)
        self.assertDocumented("GET", "/player-data/{key}", r)
        r = d.request("PUT", doc_path, dict(auth, **{"Content-Type": "text/plain"}), b"1")
        self.assertEqual(r.status, 415, r)
        self.assertDocumented("PUT", "/player-data/{key}", r)

        r = d.get("/player-data?limit=1", headers=auth)
        self.assertEqual(r.status, 200, r)
        self.assertDocumented("GET", "/player-data", r)
        r = d.get("/player-data")
        self.assertEqual(r.status, 401, r)
        self.assertDocumented("GET", "/player-data", r)

        batch = d.path("/player-data-batch")
        hdrs = dict(auth, **{"Content-Type": JSON})
        r = d.request("POST", batch, hdrs, {"writes": [
            {"key": "savegame", "value": {"level": 5}, "if_match": '"%d"' % w["version"]},
            {"key": "settings", "value": {"music": 0.5}, "if_none_match": "*"}]})
        self.assertEqual(r.status, 200, r)
        self.assertDocumented("POST", "/player-data-batch", r)
        r = d.request("POST", batch, hdrs, {"writes": [
            {"key": "other", "value": 1},
            {"key": "settings", "value": 2, "if_none_match": "*"}]})
        self.assertEqual(r.status, 412, r)
        j = self.assertDocumented("POST", "/player-data-batch", r)
        self.assertEqual((j["index"], j["key"]), (1, "settings"))
        r = d.request("POST", batch, hdrs, {"writes": []})
        self.assertEqual(r.status, 400, r)
        self.assertDocumented("POST", "/player-data-batch", r)

        r = d.request("DELETE", doc_path, dict(auth, **{"If-Match": '"1"'}))
        self.assertEqual(r.status, 412, r)
        self.assertDocumented("DELETE", "/player-data/{key}", r)
        r = d.request("DELETE", doc_path, auth)
        self.assertEqual(r.status, 204, r)
        self.assertDocumented("DELETE", "/player-data/{key}", r)
        r = d.request("DELETE", doc_path, auth)
        self.assertEqual(r.status, 404, r)
        self.assertDocumented("DELETE", "/player-data/{key}", r)

    def test_issuer_and_operations_answers(self):
        d = self.daemon
        for path in ("/.well-known/jwks.json", "/.well-known/openid-configuration",
                     "/health", "/ready", "/metrics", "/openapi.json"):
            r = d.get(path)
            self.assertEqual(r.status, 200, r)
            self.assertDocumented("GET", path, r)


class ServedUnderBasePath(unittest.TestCase):
    """With base_path /prod the same bytes are served under it, and the
    document's paths stay relative to it."""

    @classmethod
    def setUpClass(cls):
        cls.daemon = Daemon({"base_path": "/prod"}).start()

    @classmethod
    def tearDownClass(cls):
        try:
            cls.daemon.stop()
        finally:
            cls.daemon.cleanup()

    def test_same_bytes_under_base_path(self):
        r = self.daemon.request("GET", "/prod/openapi.json")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.header("Content-Type"), JSON)
        raw = read_doc_bytes()
        if r.body != raw:
            self.fail("GET /prod/openapi.json is not docs/openapi.json: "
                      + first_difference(r.body, raw))
        paths = list(json.loads(r.body)["paths"])
        self.assertEqual([p for p in paths if p == "/prod" or p.startswith("/prod/")], [])
        self.assertIn("/openapi.json", paths)
        self.assertEqual(self.daemon.request("GET", "/openapi.json").status, 404)

    def test_routes_are_the_same_under_base_path(self):
        documented = {(m, p) for m, p, _, _ in operations(load_doc())}
        problem = route_differences(router_routes(self.daemon), documented)
        if problem:
            self.fail(problem)


if __name__ == "__main__":
    unittest.main()
