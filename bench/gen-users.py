#!/usr/bin/python3
"""Fills a gatehouse database with N guest users that can really log in.

  bench/gen-users.py --db PATH [-n 10000000] [--bin build/gatehouse]
                     [--pool FILE] [--sample 10000] [--player-data 1.0]

The schema is the daemon's own: when PATH does not exist, `gatehouse migrate
--set database_path=PATH` creates it (the store runs its migrations; no signing
keys are made, the daemon makes them at its first start). Then, in one
transaction with journal_mode=OFF and synchronous=OFF, it inserts N rows into
`users` (user_id, guest_secret_hash = SHA-256 of the guest secret, created_at,
last_seen_at) exactly as store_guest_create() would, and, for the fraction
--player-data of them, the compat route's `player_name` document (a JSON string
in `player_data`, version 1, with users.data_seq/data_keys/data_bytes to match).
At the end the database is switched back to WAL, as the daemon expects.

User ids are version-4 UUIDs spread evenly over the whole UUID space in
ascending order (random low bits), so that the inserts append to the B-trees
(fast) while the ids cover the key space like random ones do: the daemon's own
new guests then land between them as they would in a real database. Each
guest secret is "<uuid4>-<uuid4>" (73 characters, the daemon's format), derived
from a random seed that is never written down: only the --sample guests picked
at random are written to --pool (user_id <TAB> guest_secret <TAB> - <TAB> -,
the pool format of bench/wrk/common.lua), for `bench.py tokens` and the wrk
scripts. Keep that file with the benchmark's temporary files.

Prints one line: "users=N player_data=M seconds=S rows_per_s=R db_bytes=B".
"""
import argparse
import hashlib
import os
import random
import sqlite3
import subprocess
import sys
import time


def uuid_of(b):
    h = b.hex()
    return "%s-%s-4%s-%s%s-%s" % (h[0:8], h[8:12], h[13:16], "89ab"[int(h[16], 16) & 3],
                                  h[17:20], h[20:32])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--db", required=True)
    ap.add_argument("-n", type=int, default=10_000_000)
    ap.add_argument("--bin", default="build/gatehouse")
    ap.add_argument("--pool")
    ap.add_argument("--sample", type=int, default=10000)
    ap.add_argument("--player-data", type=float, default=1.0)
    ap.add_argument("--batch", type=int, default=20000)
    a = ap.parse_args()
    n = a.n
    if n < 1 or n >= 1 << 48:
        sys.exit("gen-users: -n must be between 1 and 2^48")
    t0 = time.monotonic()

    if not os.path.exists(a.db):
        # Operator commands never create a database; migrate does.
        r = subprocess.run([a.bin, "migrate", "--set", "database_path=" + a.db,
                            "--set", "log_level=warn"], stdout=subprocess.DEVNULL)
        if r.returncode != 0 or not os.path.exists(a.db):
            sys.exit("gen-users: '%s migrate' could not create %s" % (a.bin, a.db))
    db = sqlite3.connect(a.db, isolation_level=None)
    cols = {row[1] for row in db.execute("PRAGMA table_info(users)")}
    need = {"user_id", "guest_secret_hash", "created_at", "last_seen_at"}
    if not need <= cols:
        sys.exit("gen-users: users lacks %s: schema changed, update gen-users.py"
                 % sorted(need - cols))
    quota = {"data_seq", "data_keys", "data_bytes"} <= cols
    if db.execute("SELECT count(*) FROM (SELECT 1 FROM users LIMIT 1)").fetchone()[0]:
        sys.exit("gen-users: %s already has users; give a new path" % a.db)
    db.execute("PRAGMA journal_mode=OFF")
    db.execute("PRAGMA synchronous=OFF")
    db.execute("PRAGMA locking_mode=EXCLUSIVE")
    db.execute("PRAGMA cache_size=-262144")
    db.execute("PRAGMA foreign_keys=OFF")

    seed = os.urandom(32)
    sample = set(random.sample(range(n), min(a.sample, n))) if a.pool else set()
    pool = open(a.pool + ".tmp", "w") if a.pool else None
    if pool:
        os.chmod(a.pool + ".tmp", 0o600)
    with_doc = max(0, min(n, int(n * a.player_data)))
    every = n / with_doc if with_doc else 0
    now = int(time.time())
    span = 30 * 86400
    if quota:
        ins_user = ("INSERT INTO users (user_id, guest_secret_hash, created_at, last_seen_at, "
                    "data_seq, data_keys, data_bytes) VALUES (?, ?, ?, ?, ?, ?, ?)")
    else:
        ins_user = ("INSERT INTO users (user_id, guest_secret_hash, created_at, last_seen_at) "
                    "VALUES (?, ?, ?, ?)")
    ins_doc = ("INSERT INTO player_data (user_id, key, value, version, updated_at) "
               "VALUES (?, 'player_name', ?, 1, ?)")
    step = (1 << 128) // n
    ndocs = 0
    next_doc = 0.0
    db.execute("BEGIN")
    for base in range(0, n, a.batch):
        users, docs = [], []
        for i in range(base, min(n, base + a.batch)):
            d = hashlib.blake2b(i.to_bytes(8, "little"), key=seed, digest_size=40).digest()
            uid_int = i * step + int.from_bytes(d[32:40], "little")
            user_id = uuid_of(uid_int.to_bytes(16, "big"))
            secret = uuid_of(d[0:16]) + "-" + uuid_of(d[16:32])
            digest = hashlib.sha256(secret.encode()).digest()
            t = now - span + i * span // n
            doc = None
            if with_doc and i >= next_doc:
                next_doc += every
                doc = b'"Player %d"' % i
                docs.append((user_id, doc, t))
            if quota:
                users.append((user_id, digest, t, t, 1 if doc else 0, 1 if doc else 0,
                              len(doc) if doc else 0))
            else:
                users.append((user_id, digest, t, t))
            if i in sample:
                pool.write("%s\t%s\t-\t-\n" % (user_id, secret))
        db.executemany(ins_user, users)
        if docs:
            db.executemany(ins_doc, docs)
            ndocs += len(docs)
        if base and base % (a.batch * 50) == 0:
            print("gen-users: %d of %d users (%.0f s)" % (base, n, time.monotonic() - t0),
                  file=sys.stderr)
    db.execute("COMMIT")
    db.execute("PRAGMA locking_mode=NORMAL")
    db.execute("PRAGMA journal_mode=WAL")
    db.close()
    if pool:
        pool.close()
        os.replace(a.pool + ".tmp", a.pool)
    secs = time.monotonic() - t0
    size = sum(os.path.getsize(a.db + s) for s in ("", "-wal") if os.path.exists(a.db + s))
    print("users=%d player_data=%d seconds=%.1f rows_per_s=%d db_bytes=%d"
          % (n, ndocs, secs, (n + ndocs) / secs, size))


if __name__ == "__main__":
    main()
