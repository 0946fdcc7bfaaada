"""Checks the shape of the source tree (README "Layout"), so that it cannot
drift back:

    python3 scripts/check-layout.py

- no include cycle between modules (a module is its header in
  include/gatehouse/ and the .c files that implement it: src/NAME.c,
  src/base/NAME.c or src/NAME/*.c);
- no SQLite call outside the SQLite back end (src/store/sqlite*.c), no libpq
  outside the PostgreSQL back end (src/store/pg*.c and its pg_int.h);
- no OpenSSL header and no hash in a route handler (src/handlers/);
- no .c file in src/ over 900 lines.
Prints each problem and exits 1, or prints a one-line summary."""
import os
import re
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
MAX_LINES = 900
INCLUDE = re.compile(r'^\s*#\s*include\s+"(?:gatehouse/)?([a-z_0-9]+)\.h"', re.M)


def module_of_source(rel):
    parts = rel.split("/")  # src/..., include/gatehouse/...
    if parts[0] == "include":
        return parts[-1][:-2]
    if len(parts) == 2:
        return parts[1][:-2]
    if parts[1] == "base":
        return parts[2][:-2]
    if parts[1] == "store" and parts[2].startswith("sqlite"):
        return "store"
    return parts[1]


def sources():
    for top in ("src", "include/gatehouse"):
        for d, _, files in os.walk(os.path.join(ROOT, top)):
            for f in files:
                if f.endswith((".c", ".h")):
                    path = os.path.join(d, f)
                    yield os.path.relpath(path, ROOT), path


def main():
    problems = []
    deps = {}
    nfiles = 0
    for rel, path in sources():
        nfiles += 1
        with open(path, encoding="utf-8") as f:
            text = f.read()
        mod = module_of_source(rel)
        # Headers private to a module (src/http/internal.h) belong to it.
        for inc in INCLUDE.findall(text):
            if inc in ("internal", "banned"):
                continue
            target = inc if os.path.exists(os.path.join(ROOT, "include", "gatehouse",
                                                        inc + ".h")) else None
            if target and target != mod:
                deps.setdefault(mod, set()).add(target)
        if rel.endswith(".c"):
            n = text.count("\n")
            if n > MAX_LINES:
                problems.append("%s: %d lines (at most %d: split it by what it holds)"
                                % (rel, n, MAX_LINES))
            if re.search(r"\bsqlite3_", text) and not re.match(r"src/store/sqlite", rel):
                problems.append("%s: calls SQLite outside the SQLite back end" % rel)
        if (re.search(r"#\s*include\s*<libpq|\bPQ[a-z]+[A-Z]?\w*\s*\(", text)
                and not re.match(r"src/store/pg", rel)):
            problems.append("%s: uses libpq outside the PostgreSQL back end" % rel)
        if rel.startswith("src/handlers/") and (
                re.search(r"#\s*include\s*<openssl/", text) or
                re.search(r"\b(gh_sha256|EVP_\w+|CRYPTO_memcmp|HMAC)\b", text)):
            problems.append("%s: a handler holds crypto (the session layer does)" % rel)
    # Cycles in the module graph (depth-first search, reporting each once).
    state, stack, seen_cycles = {}, [], set()

    def visit(m):
        state[m] = 1
        stack.append(m)
        for d in sorted(deps.get(m, ())):
            if state.get(d) == 1:
                cyc = stack[stack.index(d):] + [d]
                key = frozenset(cyc)
                if key not in seen_cycles:
                    seen_cycles.add(key)
                    problems.append("include cycle: " + " -> ".join(cyc))
            elif d not in state:
                visit(d)
        stack.pop()
        state[m] = 2

    for m in sorted(deps):
        if m not in state:
            visit(m)
    for p in problems:
        print(p)
    if problems:
        return 1
    print("layout ok: %d files, %d modules, no include cycle" % (nfiles, len(deps)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
