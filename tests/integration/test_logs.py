"""The log stream as journald and log pipelines read it (issues 13 and 14):
journald priority prefixes, JSON numbers, the access log's outcome, W3C
trace context, valid UTF-8 and JSON whatever a client sends, rate-limited
lines a client can cause, and slow readers cut by write_timeout."""
import json
import os
import re
import socket
import time
import unittest

from gh import Daemon, SANITIZER, VALGRIND

WAIT = 120 if (VALGRIND or SANITIZER) else 60  # bounded waits, never timing assertions

LOGFMT = re.compile(r'(\w+)=("(?:[^"\\]|\\.)*"|\S*)')

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT = "00f067aa0ba902b7"


def logfmt(line):
    out = {}
    for k, v in LOGFMT.findall(line):
        out[k] = json.loads(v) if v.startswith('"') else v
    return out


def raw_lines(d):
    with open(d.log_path, "rb") as f:
        return f.read().splitlines()


def json_lines(d):
    """Every line of a log_format json daemon, parsed; fails on any line that
    is not UTF-8 or not a JSON object."""
    out = []
    for raw in raw_lines(d):
        text = raw.decode("utf-8")  # raises on invalid UTF-8
        obj = json.loads(text)
        assert isinstance(obj, dict), text
        out.append(obj)
    return out


def wait_until(pred, timeout=WAIT, interval=0.1):
    end = time.monotonic() + timeout
    while True:
        v = pred()
        if v or time.monotonic() > end:
            return v
        time.sleep(interval)


def send_raw(d, data, read_timeout=5):
    """Sends bytes on a new connection; reads until the daemon closes it."""
    s = socket.create_connection(("127.0.0.1", d.port))
    s.settimeout(read_timeout)
    out = b""
    try:
        try:
            s.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            return out
        while True:
            try:
                c = s.recv(65536)
            except (socket.timeout, ConnectionResetError):
                break
            if not c:
                break
            out += c
        return out
    finally:
        s.close()


def access_of(lines, rid):
    return [l for l in lines if l.get("msg") == "access" and l.get("request_id") == rid]


class Journald(unittest.TestCase):
    """JOURNAL_STREAM naming stderr (as systemd sets it) turns on the
    sd-daemon(3) priority prefixes; naming another file leaves them off."""

    def start(self, matching, settings=None):
        d = Daemon(settings)
        self.addCleanup(d.cleanup)
        open(d.log_path, "ab").close()  # the file the daemon's stderr will be
        st = os.stat(d.log_path)
        d.env["JOURNAL_STREAM"] = "%d:%d" % (st.st_dev, st.st_ino + (0 if matching else 1))
        return d.start()

    def test_priority_prefixes(self):
        d = self.start(True, {"max_connections_per_ip": "2"})
        d.new_guest()
        # A warning: a connection refused by the per-address cap, from an
        # address of its own (127.0.0.3).
        held = []
        try:
            for _ in range(2):
                s = socket.socket()
                s.bind(("127.0.0.3", 0))
                s.connect(("127.0.0.1", d.port))
                s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
                s.settimeout(WAIT)
                self.assertTrue(s.recv(4096).startswith(b"HTTP/1.1 200"))
                held.append(s)
            s = socket.socket()
            s.bind(("127.0.0.3", 0))
            s.connect(("127.0.0.1", d.port))
            s.close()
        finally:
            for s in held:
                s.close()
        wait_until(lambda: b"level=warn" in b"".join(raw_lines(d)))
        d.stop()
        prio = {"debug": "<7>", "info": "<6>", "warn": "<4>", "error": "<3>"}
        seen = set()
        for raw in raw_lines(d):
            line = raw.decode("utf-8")
            m = re.match(r"<(\d)>", line)
            self.assertTrue(m, "no priority prefix: %r" % line)
            level = logfmt(line[3:]).get("level")
            self.assertEqual(m.group(0), prio[level], line)
            seen.add(level)
        self.assertTrue({"info", "warn"} <= seen, seen)

    def test_no_prefix_when_stderr_is_not_the_journal(self):
        d = self.start(False)
        d.get("/health")
        d.stop()
        lines = raw_lines(d)
        self.assertTrue(lines)
        for raw in lines:
            self.assertTrue(raw.startswith(b"ts="), raw)


class JsonFields(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.daemon = Daemon({"log_format": "json"}).start()

    @classmethod
    def tearDownClass(cls):
        try:
            cls.daemon.stop()
        finally:
            cls.daemon.cleanup()

    def access(self, rid):
        return wait_until(lambda: access_of(json_lines(self.daemon), rid))

    def test_numbers_are_json_numbers(self):
        d = self.daemon
        d.get("/health", headers={"X-Request-Id": "num-1"})
        (a,) = self.access("num-1")
        self.assertIs(type(a["status"]), int)
        self.assertEqual(a["status"], 200)
        self.assertIn(type(a["duration_ms"]), (int, float))
        self.assertGreaterEqual(a["duration_ms"], 0)

    def test_outcome_says_what_happened(self):
        d = self.daemon
        d.get("/health", headers={"X-Request-Id": "oc-ok"})
        d.get("/nope", headers={"X-Request-Id": "oc-404"})
        d.get("/get-player-data", headers={"X-Request-Id": "oc-401", "Authorization": "x"})
        send_raw(d, b"GET /health HTTP/1.1\r\nHost: x\r\nX-Request-Id: oc-abort\r\n")  # never ends
        for rid, outcome, status in (("oc-ok", "ok", 200), ("oc-404", "client_error", 404),
                                     ("oc-401", "client_error", 401)):
            with self.subTest(rid):
                (a,) = self.access(rid)
                self.assertEqual((a["outcome"], a["status"]), (outcome, status))
        # A request that never got a complete answer: aborted, with why.
        aborted = wait_until(lambda: [l for l in json_lines(d) if l.get("msg") == "access"
                                      and l.get("outcome") == "aborted"])
        self.assertTrue(aborted)
        for a in aborted:
            self.assertIsNone(a["status"])
            self.assertIn(a.get("close_reason"), ("client_closed", "error", "read_error",
                                                  "idle_timeout", "no_answer"))
        outcomes = {l["outcome"] for l in json_lines(d) if l.get("msg") == "access"}
        self.assertLessEqual(outcomes, {"ok", "client_error", "server_error", "aborted"})

    def test_traceparent_accepted_echoed_logged(self):
        d = self.daemon
        tp = "00-%s-%s-01" % (TRACE, PARENT)
        r = d.get("/login-as-guest", headers={"traceparent": tp, "X-Request-Id": "tp-ok"})
        self.assertEqual(r.status, 200)
        tr = r.header("traceresponse")
        self.assertTrue(tr, r.headers)
        m = re.fullmatch(r"00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})", tr)
        self.assertTrue(m, tr)
        self.assertEqual(m.group(1), TRACE)
        self.assertNotEqual(m.group(2), PARENT)
        self.assertNotEqual(m.group(2), "0" * 16)
        self.assertEqual(m.group(3), "01")
        self.assertIn("traceresponse", r.header("access-control-expose-headers"))
        (a,) = self.access("tp-ok")
        self.assertEqual(a["trace_id"], TRACE)
        self.assertEqual(a["span_id"], m.group(2))
        # Every line the request wrote carries the trace id.
        for l in json_lines(d):
            if l.get("request_id") == "tp-ok":
                self.assertEqual(l.get("trace_id"), TRACE, l)
        # Not sampled: the flag comes back as sent.
        r = d.get("/health", headers={"traceparent": "00-%s-%s-00" % (TRACE, PARENT)})
        self.assertTrue(r.header("traceresponse").endswith("-00"))

    def test_malformed_traceparent_ignored(self):
        d = self.daemon
        bad = {
            "upper": "00-%s-%s-01" % (TRACE.upper(), PARENT),
            "zero-trace": "00-%s-%s-01" % ("0" * 32, PARENT),
            "zero-parent": "00-%s-%s-01" % (TRACE, "0" * 16),
            "version-ff": "ff-%s-%s-01" % (TRACE, PARENT),
            "version-01": "01-%s-%s-01" % (TRACE, PARENT),
            "short-trace": "00-%s-%s-01" % (TRACE[:-1], PARENT),
            "long": "00-%s-%s-01-x" % (TRACE, PARENT),
            "flags": "00-%s-%s-0g" % (TRACE, PARENT),
            "separator": "00_%s-%s-01" % (TRACE, PARENT),
            "empty": "",
        }
        for name, value in bad.items():
            with self.subTest(name):
                rid = "tp-bad-" + name
                r = d.get("/health", headers={"traceparent": value, "X-Request-Id": rid})
                self.assertEqual(r.status, 200)
                self.assertIsNone(r.header("traceresponse"))
                (a,) = self.access(rid)
                self.assertNotIn("trace_id", a)
        # Two traceparent headers: ignored too.
        out = send_raw(d, ("GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                           "traceparent: 00-%s-%s-01\r\ntraceparent: 00-%s-%s-01\r\n\r\n"
                           % (TRACE, PARENT, TRACE, PARENT)).encode())
        self.assertTrue(out.startswith(b"HTTP/1.1 200"), out[:80])
        self.assertNotIn(b"traceresponse:", out.lower())

    def test_raw_bytes_from_the_client_give_valid_json_lines(self):
        d = self.daemon
        junk = [b"\xc3", b"\xc3\x28", b"\xff\xfe", b"\xed\xa0\x80", b"\xf4\x90\x80\x80",
                b"\xe2\x82", b"\x7f", b"\xc2\x85", b'"\\', b"\x1b[31m"]
        reqs = []
        for j in junk:
            reqs += [
                b"GET" + j + b" /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                b"GET /hea" + j + b"lth HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                b"GET /health?a=" + j + b"&b" + j + b"=1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                b"GET /login-as-guest?&x=" + j + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX-Request-Id: a" + j
                + b"\r\nUser-Agent: " + j + b"\r\ntraceparent: 00-" + j * 4 + b"\r\n\r\n",
                b"POST /refresh-access-token HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                b"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: "
                + str(16 + len(j)).encode() + b"\r\n\r\nrefresh_token=x" + j + b"&",
                b"POST /refresh-access-token HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                b"Content-Type: application/json\r\nContent-Length: "
                + str(10 + len(j)).encode() + b"\r\n\r\n{\"" + j + b"\":\"x\"}!!",
                b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX-" + j + b": 1\r\n\r\n",
            ]
        for data in reqs:
            send_raw(d, data, read_timeout=3)
        d.get("/health", headers={"X-Request-Id": "utf8-end"})
        self.assertTrue(self.access("utf8-end"))
        lines = json_lines(d)  # every line: UTF-8, a JSON object
        methods = {l.get("method") for l in lines if l.get("msg") == "access"}
        self.assertIn("GET\\xc3(", methods)


class Floods(unittest.TestCase):
    """Lines a client can cause are rate-limited: at most 10 per 10 s and
    kind (1 for refused connections), plus one summary per interval."""

    def bound(self, elapsed, burst, kinds):
        windows = elapsed / 10.0 + 2
        return int(windows * (burst + 1) * kinds) + 10

    def test_malformed_request_flood_is_bounded(self):
        d = Daemon({"rate_limit_login": "0"})
        self.addCleanup(d.cleanup)
        d.start()
        before = len(raw_lines(d))
        n = 300
        t0 = time.monotonic()
        for i in range(n):
            send_raw(d, (b"GET /x HTTP/1.1\r\nBad Header\r\n\r\n", b"GARBAGE\r\n\r\n",
                         b"GET /x HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n"
                         b"Content-Length: 2\r\n\r\n", b"GET /%zz HTTP/1.1\r\n\r\n")[i % 4],
                     read_timeout=3)
        d.get("/health", headers={"X-Request-Id": "flood-end"})
        wait_until(lambda: b"flood-end" in b"".join(raw_lines(d)))
        d.stop()
        elapsed = time.monotonic() - t0
        new = [l.decode() for l in raw_lines(d)[before:]]
        # libmicrohttpd's lines and the access lines of malformed requests.
        self.assertLessEqual(len(new), self.bound(elapsed, 10, 2),
                             "%d lines for %d malformed requests in %.0f s" % (len(new), n, elapsed))
        self.assertTrue(any("suppressed" in l for l in new), new[-20:])

    def held_connection(self, d):
        """A kept-alive connection that was answered 200. The start-up checks'
        connections may still count against the per-address cap for a moment
        after they closed (seen under valgrind on a loaded machine): a refused
        one is tried again."""
        deadline = time.monotonic() + WAIT
        while True:
            s = socket.create_connection(("127.0.0.1", d.port))
            s.settimeout(WAIT)
            try:
                s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
                first = s.recv(4096)
            except (ConnectionResetError, BrokenPipeError):
                first = b""
            if first.startswith(b"HTTP/1.1 200"):
                return s
            s.close()
            self.assertLess(time.monotonic(), deadline, "no connection under the cap: %r" % first)
            time.sleep(0.2)

    def test_refused_connection_flood_is_bounded_and_named(self):
        d = Daemon({"max_connections_per_ip": "4", "rate_limit_login": "0",
                    "idle_timeout": "600s"})
        self.addCleanup(d.cleanup)
        d.start()
        before = len(raw_lines(d))
        held = []
        try:
            for _ in range(4):
                held.append(self.held_connection(d))
            t0 = time.monotonic()
            n = 300
            refused = 0
            for _ in range(n):
                s = socket.create_connection(("127.0.0.1", d.port))
                s.settimeout(WAIT)
                try:
                    s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
                    refused += s.recv(4096) == b""
                except (ConnectionResetError, BrokenPipeError):
                    refused += 1
                finally:
                    s.close()
            self.assertEqual(refused, n)
        finally:
            for s in held:
                s.close()
        d.stop()
        elapsed = time.monotonic() - t0
        new = [l.decode() for l in raw_lines(d)[before:]]
        ref = [l for l in new if "refused" in l]
        self.assertTrue(ref, new[-20:])
        self.assertLessEqual(len(ref), self.bound(elapsed, 1, 1), ref)
        self.assertTrue(any("max_connections_per_ip (4)" in l for l in ref), ref)
        self.assertFalse(any("Server reached connection limit" in l for l in new), new)
        self.assertFalse(any("the server has max_connections" in l for l in new), new)
        self.assertLessEqual(len(new), self.bound(elapsed, 1, 1) + 20, new[-30:])


def vm_rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


class SlowReaders(unittest.TestCase):
    """Clients that pipeline requests for a large answer (/openapi.json,
    about 230 KB) and never read are cut after write_timeout; the daemon's
    memory stays bounded meanwhile (one answer and libmicrohttpd's pool per
    connection)."""
    CONNS = 40 if (VALGRIND or SANITIZER) else 150
    PIPELINED = 30

    def test_stalled_readers_are_cut_and_memory_bounded(self):
        d = Daemon({"write_timeout": "2s", "idle_timeout": "3600s",
                    "max_connections_per_ip": "0", "rate_limit_login": "0"})
        self.addCleanup(d.cleanup)
        d.start()
        pid = d.proc.pid
        rss0 = vm_rss_kib(pid)
        req = b"GET /openapi.json HTTP/1.1\r\nHost: x\r\n\r\n" * self.PIPELINED
        socks = []
        peak = rss0
        try:
            for _ in range(self.CONNS):
                s = socket.socket()
                s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
                s.connect(("127.0.0.1", d.port))
                s.setblocking(False)
                try:
                    s.send(req)
                except BlockingIOError:
                    pass
                socks.append(s)
                peak = max(peak, vm_rss_kib(pid))
            pat = re.compile(r"closed (\d+) connection\(s\) whose client did not read")

            def cut():
                text = d.log_text()
                return sum(int(m) for m in pat.findall(text)) >= self.CONNS
            def watch():
                nonlocal peak
                peak = max(peak, vm_rss_kib(pid))
                return cut()
            self.assertTrue(wait_until(watch), "stalled readers not cut:\n" + d.log_text()[-2000:])
            # Cut means closed: reading now reaches the end, well short of
            # every answer asked for.
            full = self.PIPELINED * 200000
            for s in socks:
                s.setblocking(True)
                s.settimeout(WAIT)
                got = 0
                try:
                    while True:
                        c = s.recv(1 << 20)
                        if not c:
                            break
                        got += len(c)
                except ConnectionResetError:
                    pass
                self.assertLess(got, full)
            # Bounded: each stalled connection holds at most one answer
            # (about 230 KB) and libmicrohttpd's pool (about 40 KB); a
            # generous sanity bound of 1 MiB each. Not under ASan (its
            # quarantine keeps up to 256 MB of freed memory) or valgrind.
            if not (SANITIZER or VALGRIND):
                self.assertLess(peak - rss0, self.CONNS * 1024,
                                "VmRSS %d KiB -> peak %d KiB" % (rss0, peak))
            r = d.get("/health")
            self.assertEqual(r.status, 200)
        finally:
            for s in socks:
                s.close()
        d.stop()


if __name__ == "__main__":
    unittest.main()
