#!/usr/bin/python3
"""Helpers of bench/run.sh (loopback only, bounded time; standard library only).

  bench.py guests PORT N OUT          N new guests -> OUT (pool file)
  bench.py tokens PORT IN OUT         log every guest of IN in again -> OUT with
                                      fresh, unspent access and refresh tokens
  bench.py prefill PORT POOL NKEYS    PUT save1..saveNKEYS (1 KiB each) for every guest
  bench.py fsync DIR SECONDS          4 KiB pwrite + fdatasync loop on a file in DIR:
                                      prints "fsync_per_s=N p50_us=N p99_us=N"
  bench.py hold PORT N READY SECONDS  opens N keep-alive connections (one GET /health
                                      on each), touches READY, holds them until
                                      SIGTERM or SECONDS, then asks each again and
                                      prints "held=N alive=N opened_s=F"; with
                                      BENCH_HOLD_POOL=TOKENS the first request is an
                                      authenticated GET /get-player-data

A pool file has one guest per line, tab-separated:
user_id, guest_secret, auth_token, refresh_token (bench/wrk/common.lua reads it).
The files live in the run's temporary directory and are removed with it.
"""
import http.client
import json
import os
import resource
import signal
import socket
import sys
import time


def conn(port):
    return http.client.HTTPConnection("127.0.0.1", int(port), timeout=30)


def call(c, method, target, headers=None, body=None):
    c.request(method, target, body=body, headers=headers or {})
    r = c.getresponse()
    data = r.read()
    if r.status >= 300:
        raise SystemExit("bench.py: %s %s -> %d %s" % (method, target.split("?")[0], r.status,
                                                       data[:200]))
    return data


def write_pool(path, rows):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        for g in rows:
            f.write("%s\t%s\t%s\t%s\n" % (g["user_id"], g["guest_secret"], g["auth_token"],
                                         g["refresh_token"]))
    os.replace(tmp, path)


def read_pool(path):
    rows = []
    with open(path) as f:
        for line in f:
            p = line.rstrip("\n").split("\t")
            rows.append({"user_id": p[0], "guest_secret": p[1]})
    return rows


def cmd_guests(port, n, out):
    c = conn(port)
    write_pool(out, [json.loads(call(c, "GET", "/login-as-guest")) for _ in range(int(n))])


def cmd_tokens(port, src, out):
    c = conn(port)
    rows = []
    for g in read_pool(src):
        j = json.loads(call(c, "GET", "/login-as-guest?&user_id=%s&guest_secret=%s"
                            % (g["user_id"], g["guest_secret"])))
        j["guest_secret"] = g["guest_secret"]
        rows.append(j)
    write_pool(out, rows)


def cmd_prefill(port, pool, nkeys):
    c = conn(port)
    doc = ('{"inventory":"' + "x" * 1000 + '"}').encode()
    with open(pool) as f:
        tokens = [line.split("\t")[2] for line in f]
    for t in tokens:
        for k in range(1, int(nkeys) + 1):
            call(c, "PUT", "/player-data/save%d" % k, body=doc,
                 headers={"Authorization": t, "Content-Type": "application/json"})


def cmd_fsync(directory, seconds):
    path = os.path.join(directory, "fsync.probe")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    buf = os.urandom(4096)
    os.pwrite(fd, buf, 0)
    os.fsync(fd)
    lat = []
    end = time.monotonic() + float(seconds)
    start = time.monotonic()
    while True:
        t0 = time.monotonic()
        if t0 >= end:
            break
        os.pwrite(fd, buf, 0)
        os.fdatasync(fd)
        lat.append(time.monotonic() - t0)
    elapsed = time.monotonic() - start
    os.close(fd)
    os.unlink(path)
    lat.sort()
    pct = lambda p: lat[min(len(lat) - 1, int(len(lat) * p))] * 1e6
    print("fsync_per_s=%d p50_us=%d p99_us=%d" % (len(lat) / elapsed, pct(0.50), pct(0.99)))


def cmd_hold(port, n, ready, seconds):
    n = int(n)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = n + 256
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(want, hard), hard))
        if min(want, hard) < want:
            raise SystemExit("bench.py hold: open file limit %d is below %d" % (hard, want))
    req = b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    # BENCH_HOLD_POOL (a tokens pool): each connection's one request is an
    # authenticated get-player-data instead, as a game client's would be.
    first = [req]
    pool = os.environ.get("BENCH_HOLD_POOL")
    if pool:
        with open(pool) as f:
            toks = [line.rstrip("\n").split("\t")[2] for line in f if line.strip()]
        first = [("GET /get-player-data HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: %s\r\n\r\n"
                  % t).encode() for t in toks]
    t0 = time.monotonic()
    socks = []
    # Open in batches: connect, send, then read every answer of the batch.
    for base in range(0, n, 500):
        batch = []
        for _ in range(min(500, n - base)):
            s = socket.create_connection(("127.0.0.1", int(port)), timeout=30)
            s.sendall(first[(base + len(batch)) % len(first)])
            batch.append(s)
        for s in batch:
            if not read_answer(s):
                raise SystemExit("bench.py hold: no answer on connection %d" % len(socks))
            socks.append(s)
    opened = time.monotonic() - t0
    open(ready, "w").close()
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    deadline = time.monotonic() + float(seconds)
    while not stop and time.monotonic() < deadline:
        time.sleep(0.2)
    # Still open and usable? A second request on each.
    alive = 0
    for s in socks:
        try:
            s.settimeout(5)
            s.sendall(req)
            if read_answer(s):
                alive += 1
        except OSError:
            pass
    for s in socks:
        s.close()
    print("held=%d alive=%d opened_s=%.2f" % (n, alive, opened))


def read_answer(s):
    """Reads one small HTTP answer (headers + Content-Length body); True when 2xx."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = s.recv(4096)
        if not chunk:
            return False
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        k, _, v = line.partition(b":")
        if k.strip().lower() == b"content-length":
            length = int(v.strip())
    while len(rest) < length:
        chunk = s.recv(4096)
        if not chunk:
            return False
        rest += chunk
    return head.split(b" ")[1].startswith(b"2")


def main():
    cmds = {"guests": (cmd_guests, 3), "tokens": (cmd_tokens, 3), "prefill": (cmd_prefill, 3),
            "fsync": (cmd_fsync, 2), "hold": (cmd_hold, 4)}
    if len(sys.argv) < 2 or sys.argv[1] not in cmds or len(sys.argv) != cmds[sys.argv[1]][1] + 2:
        sys.exit(__doc__)
    fn, _ = cmds[sys.argv[1]]
    fn(*sys.argv[2:])


if __name__ == "__main__":
    main()
