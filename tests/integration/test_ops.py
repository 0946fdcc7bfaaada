"""Production operation (DESIGN.md "Operations contract"): the systemd notify
protocol (READY, RELOADING, STOPPING, WATCHDOG) seen by a listener on
$NOTIFY_SOCKET; make install and the systemd unit (systemd-analyze verify and
security, man -l); graceful shutdown under a load of concurrent requests; online
backups taken while writes go on, restored and checked; /metrics in Prometheus
text format (promtool) with counters that move, on the main or an admin
listener; SIGHUP reloads; the log formats and what the log must never hold; and
the start-up refusals; secrets through $CREDENTIALS_DIRECTORY (LoadCredential=).

A real systemd is not available in CI: the notify protocol is checked with a
datagram socket of our own and the unit with systemd-analyze --offline.

make install runs the repository Makefile with BUILD set to the directory of
GH_TEST_BIN and `-o BUILD/gatehouse` (never remake it), so the binary
installed is exactly the binary under test (the ASan build too: its
BUILD/asan/gatehouse is installed as BUILD=.../asan).

Timing: waits are polls with generous bounds (longer under valgrind); nothing
asserts how fast anything is, only that it happens."""
import base64
import hashlib
import json
import os
import random
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import tempfile
import threading
import time
import unittest

import gh
from gh import Daemon, DaemonTest, VALGRIND, START_TIMEOUT, free_port

REPO = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
JSON = "application/json"
SLOW = 4 if VALGRIND else 1  # scales the functional waits under valgrind


def wait_for(pred, timeout, what, interval=0.05):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(interval)
    raise AssertionError("timed out after %ss waiting for %s" % (timeout, what))


def auth(token, ctype=None):
    h = {"Authorization": token}
    if ctype:
        h["Content-Type"] = ctype
    return h


def put_doc(d, token, key, value):
    return d.request("PUT", d.path("/player-data/" + key), auth(token, JSON),
                     json.dumps(value).encode())


def get_doc(d, token, key):
    return d.request("GET", d.path("/player-data/" + key), auth(token))


def binary_version():
    out = subprocess.run([gh.BIN, "version"], capture_output=True, text=True, timeout=30).stdout
    m = re.match(r"gatehouse (\S+)", out)
    assert m, out
    return m.group(1)


def no_crash_report(testcase, text):
    for bad in ("Traceback", "AddressSanitizer", "LeakSanitizer", "runtime error:",
                "Segmentation fault", "core dumped"):
        testcase.assertNotIn(bad, text)


_next_addr = [0]


def fresh_addr():
    """A client address (X-Forwarded-For from the trusted 127.0.0.1) no other
    request of this file uses: its own rate-limit bucket (RFC 2544 range)."""
    _next_addr[0] += 1
    n = _next_addr[0]
    return "198.19.%d.%d" % (n >> 8, n & 255)


# ---------------------------------------------------------------------------
# systemd notify protocol


class NotifyListener:
    """A datagram socket standing in for systemd's $NOTIFY_SOCKET. A thread
    collects every message as a list of lines; on_ready runs (in the thread)
    each time READY=1 arrives, before the next message is read."""

    def __init__(self, on_ready=None):
        self.dir = tempfile.mkdtemp(prefix="gh-notify-")
        self.path = os.path.join(self.dir, "notify")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.sock.settimeout(0.2)
        self.messages = []  # lists of "NAME=value" lines, in arrival order
        self.on_ready = on_ready
        self.ready_results = []
        self.lock = threading.Lock()
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self.done.is_set():
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                continue
            except OSError:
                return
            lines = data.decode("utf-8", "replace").split("\n")
            lines = [ln for ln in lines if ln]
            with self.lock:
                self.messages.append(lines)
            if "READY=1" in lines and self.on_ready:
                self.ready_results.append(self.on_ready())

    def lines(self):
        """Every line received, flattened, in order."""
        with self.lock:
            return [ln for m in self.messages for ln in m]

    def count(self, line):
        return self.lines().count(line)

    def wait_count(self, line, n, timeout):
        try:
            return wait_for(lambda: self.count(line) >= n, timeout,
                            "%d x %s on $NOTIFY_SOCKET" % (n, line))
        except AssertionError as e:
            raise AssertionError("%s; received: %r" % (e, self.lines()))

    def close(self):
        self.done.set()
        self.thread.join(5)
        self.sock.close()
        shutil.rmtree(self.dir, ignore_errors=True)


class Notify(unittest.TestCase):

    def setUp(self):
        self.daemon = None
        self.listener = None

    def tearDown(self):
        if self.daemon:
            self.daemon.cleanup()
        if self.listener:
            self.listener.close()

    def start(self, env=None, on_ready=None):
        self.listener = NotifyListener(on_ready)
        e = {"NOTIFY_SOCKET": self.listener.path}
        e.update(env or {})
        self.daemon = Daemon(env=e)
        return self.daemon

    def health_now(self):
        try:
            return self.daemon.request("GET", "/health", timeout=10).status
        except OSError as e:
            return repr(e)

    def test_ready_reload_stopping(self):
        d = self.start(on_ready=self.health_now)
        d.start()
        n = self.listener
        n.wait_count("READY=1", 1, START_TIMEOUT)
        # /health was asked the moment READY=1 arrived.
        wait_for(lambda: n.ready_results, 30, "the /health probe at READY=1")
        self.assertEqual(n.ready_results[0], 200,
                         "READY=1 was sent before /health answered 200")
        self.assertTrue(any(ln.startswith("STATUS=") for ln in n.lines()), n.lines())

        # SIGHUP: RELOADING=1, then READY=1 again.
        before = len(n.lines())
        d.proc.send_signal(signal.SIGHUP)
        n.wait_count("READY=1", 2, 30 * SLOW)
        after = n.lines()[before:]
        self.assertIn("RELOADING=1", after, after)
        self.assertLess(after.index("RELOADING=1"), after.index("READY=1"), after)
        self.assertEqual(n.ready_results[-1], 200)
        self.assertEqual(d.get("/health").status, 200)

        # SIGTERM: STOPPING=1, sent before the process ended (d.stop waits
        # for the exit and asserts status 0; the datagram is queued by then).
        before = len(n.lines())
        d.stop()
        n.wait_count("STOPPING=1", 1, 10)
        after = n.lines()[before:]
        self.assertIn("STOPPING=1", after)
        self.assertNotIn("READY=1", after[after.index("STOPPING=1"):])
        # No watchdog was asked for (no WATCHDOG_USEC): no WATCHDOG=1.
        self.assertEqual(n.count("WATCHDOG=1"), 0, n.lines())

    def test_watchdog_pings(self):
        d = self.start(env={"WATCHDOG_USEC": "400000"})
        d.start()
        # Every WATCHDOG_USEC/2 = 0.2 s: at least 3 within about 2 s; the
        # bound here is generous (only that they keep coming is asserted).
        self.listener.wait_count("WATCHDOG=1", 3, 20 * SLOW)
        d.stop()

    def test_watchdog_for_own_pid(self):
        # WATCHDOG_PID names the daemon itself (as systemd sets it): a shell
        # exports its own pid and execs the daemon, which keeps that pid.
        d = self.start(env={"WATCHDOG_USEC": "400000"})
        plain = d.command
        d.command = lambda *a: ["sh", "-c", 'WATCHDOG_PID=$$; export WATCHDOG_PID; exec "$@"',
                                "sh"] + plain(*a)
        d.start()
        self.listener.wait_count("WATCHDOG=1", 3, 20 * SLOW)
        d.stop()

    def test_watchdog_for_another_pid_is_silent(self):
        # WATCHDOG_PID names another process (this test runner): the watchdog
        # is not ours, and the daemon must not ping.
        d = self.start(env={"WATCHDOG_USEC": "400000", "WATCHDOG_PID": str(os.getpid())})
        d.start()
        self.listener.wait_count("READY=1", 1, START_TIMEOUT)
        time.sleep(2 * SLOW)
        self.assertEqual(self.listener.count("WATCHDOG=1"), 0, self.listener.lines())
        d.stop()


# ---------------------------------------------------------------------------
# make install, the unit, the man page


def build_dir():
    """The BUILD whose $(BUILD)/gatehouse is the binary under test."""
    return os.path.dirname(os.path.abspath(gh.BIN))


def make_install(testcase, **variables):
    b = build_dir()
    cmd = ["make", "-s", "-o", b + "/gatehouse", "BUILD=" + b]
    cmd += ["%s=%s" % kv for kv in variables.items()] + ["install"]
    r = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=120)
    testcase.assertEqual(r.returncode, 0, "%s\n%s%s" % (cmd, r.stdout, r.stderr))
    return r


def client_files(prefix):
    """What make install adds for the C client library (issue 17)."""
    return {prefix + "/" + f for f in (
        "lib/libgatehouse-client.a", "lib/libgatehouse-client.so.1",
        "lib/libgatehouse-client.so", "lib/pkgconfig/gatehouse-client.pc",
        "include/gatehouse/client.h")}


def tree(root):
    out = set()
    for dirpath, dirs, files in os.walk(root):
        for f in files:
            out.add(os.path.relpath(os.path.join(dirpath, f), root))
    return out


def file_sha(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


# The files an install to PREFIX=/usr or /usr/local would touch on the real
# system: they must stay as they are (an install with DESTDIR writes there only).
REAL_PATHS = ["/usr/bin/gatehouse", "/usr/lib/systemd/system/gatehouse.service",
              "/etc/gatehouse/gatehouse.conf", "/usr/share/man/man8/gatehouse.8",
              "/usr/local/bin/gatehouse", "/usr/local/lib/systemd/system/gatehouse.service",
              "/usr/local/etc/gatehouse/gatehouse.conf",
              "/usr/local/share/man/man8/gatehouse.8"]


def real_state():
    out = {}
    for p in REAL_PATHS:
        try:
            st = os.stat(p)
            out[p] = (st.st_size, st.st_mtime_ns)
        except FileNotFoundError:
            out[p] = None
    return out


DOC_FILES = {"README.md", "LICENSE", "CHANGELOG.md", "openapi.json", "docs/API.md",
             "docs/DESIGN.md"}


def with_docs(prefix, files):
    return set(files) | {prefix + "share/doc/gatehouse/" + f for f in DOC_FILES}


class Install(unittest.TestCase):

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="gh-install-")

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def test_destdir_prefix_usr(self):
        dest = os.path.join(self.tmp, "dest")
        before = real_state()
        make_install(self, DESTDIR=dest, PREFIX="/usr")
        self.assertEqual(real_state(), before, "make install wrote outside DESTDIR")
        self.assertEqual(tree(dest), with_docs("usr/", {
            "usr/bin/gatehouse", "usr/lib/systemd/system/gatehouse.service",
            "etc/gatehouse/gatehouse.conf", "etc/gatehouse/key_encryption_key",
            "usr/share/man/man8/gatehouse.8"})
            | client_files("usr"))
        # The unit's key-encryption key: 32 random bytes only its owner reads,
        # kept by a second install.
        kek = os.path.join(dest, "etc/gatehouse/key_encryption_key")
        self.assertEqual(os.stat(kek).st_mode & 0o777, 0o600)
        self.assertEqual(os.path.getsize(kek), 32)
        kek_sha = file_sha(kek)
        # The documentation is the repository's, readable by all.
        for f in DOC_FILES:
            installed = os.path.join(dest, "usr/share/doc/gatehouse", f)
            src = os.path.join(REPO, f if f != "openapi.json" else "docs/openapi.json")
            self.assertEqual(file_sha(installed), file_sha(src), f)
            self.assertEqual(os.stat(installed).st_mode & 0o777, 0o644, f)
        self.assertEqual(os.stat(os.path.join(dest, "usr/share/man/man8/gatehouse.8")).st_mode
                         & 0o777, 0o644)
        binary = os.path.join(dest, "usr/bin/gatehouse")
        self.assertEqual(file_sha(binary), file_sha(gh.BIN),
                         "the installed binary is not the binary under test")
        self.assertTrue(os.access(binary, os.X_OK))
        unit = open(os.path.join(dest, "usr/lib/systemd/system/gatehouse.service")).read()
        self.assertRegex(unit, r"(?m)^ExecStart=/usr/bin/gatehouse serve .*"
                               r"--config /etc/gatehouse/gatehouse\.conf\s*$")
        settings = "\n".join(ln for ln in unit.split("\n") if not ln.startswith("#"))
        self.assertNotIn("/usr/local", settings)
        self.assertRegex(unit, r"(?m)^Type=notify$")
        self.assertRegex(unit, r"(?m)^WatchdogSec=")
        self.assertRegex(unit, r"(?m)^StateDirectory=gatehouse")
        self.assertRegex(unit, r"(?m)^(DynamicUser=yes|User=\S+)$")
        self.assertRegex(unit, r"(?m)^ExecReload=\S*kill -HUP \$MAINPID$")
        self.assertRegex(unit, r"(?m)^LoadCredential=key_encryption_key:"
                               r"/etc/gatehouse/key_encryption_key$")
        self.assertRegex(unit, r"(?m)^Environment=GATEHOUSE_KEY_ENCRYPTION_KEY_FILE="
                               r"key_encryption_key$")
        # The sample config, with database_path in the unit's StateDirectory.
        conf = os.path.join(dest, "etc/gatehouse/gatehouse.conf")
        installed = open(conf).read().split("\n")
        sample = open(os.path.join(REPO, "config/gatehouse.conf")).read().split("\n")
        self.assertEqual(len(installed), len(sample))
        diff = [(a, b) for a, b in zip(sample, installed) if a != b]
        self.assertEqual(diff, [("#database_path ./var/gatehouse.db",
                                 "database_path /var/lib/gatehouse/gatehouse.db")])
        r = subprocess.run([gh.BIN, "check-config", "--config", conf], capture_output=True,
                           text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("database_path /var/lib/gatehouse/gatehouse.db", r.stdout)
        self.assertNotIn(dest, unit)
        # No systemctl in what install runs.
        r = subprocess.run(["make", "-n", "-o", build_dir() + "/gatehouse",
                            "BUILD=" + build_dir(), "DESTDIR=" + dest, "PREFIX=/usr",
                            "install"], cwd=REPO, capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertNotIn("systemctl", r.stdout)
        make_install(self, DESTDIR=dest, PREFIX="/usr")
        self.assertEqual(file_sha(kek), kek_sha, "a second install replaced the key")

    def test_prefix_usr_local_sysconfdir(self):
        dest = os.path.join(self.tmp, "dest")
        make_install(self, DESTDIR=dest, PREFIX="/usr/local")
        self.assertEqual(tree(dest), with_docs("usr/local/", {
            "usr/local/bin/gatehouse", "usr/local/lib/systemd/system/gatehouse.service",
            "usr/local/etc/gatehouse/gatehouse.conf", "usr/local/etc/gatehouse/key_encryption_key",
            "usr/local/share/man/man8/gatehouse.8"})
            | client_files("usr/local"))
        pc = open(os.path.join(dest, "usr/local/lib/pkgconfig/gatehouse-client.pc")).read()
        self.assertIn("prefix=/usr/local\n", pc)
        self.assertNotIn(dest, pc)
        self.assertTrue(os.path.islink(os.path.join(dest, "usr/local/lib/libgatehouse-client.so")))
        unit = open(os.path.join(dest, "usr/local/lib/systemd/system/gatehouse.service")).read()
        self.assertRegex(unit, r"(?m)^ExecStart=/usr/local/bin/gatehouse serve .*"
                               r"--config /usr/local/etc/gatehouse/gatehouse\.conf\s*$")

    def test_install_strip(self):
        """INSTALL_STRIP=1 installs the binary stripped (install -s); it still runs."""
        if not shutil.which("readelf"):
            self.skipTest("readelf is not installed")
        dest = os.path.join(self.tmp, "dest")
        make_install(self, DESTDIR=dest, PREFIX="/usr", INSTALL_STRIP="1")
        binary = os.path.join(dest, "usr/bin/gatehouse")

        def sections(path):
            r = subprocess.run(["readelf", "-S", "-W", path], capture_output=True, text=True,
                               timeout=60)
            self.assertEqual(r.returncode, 0, r.stderr)
            return r.stdout

        self.assertIn(".symtab", sections(gh.BIN))
        self.assertNotIn(".symtab", sections(binary))
        self.assertLess(os.path.getsize(binary), os.path.getsize(gh.BIN))
        r = subprocess.run([binary, "version"], capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn(binary_version(), r.stdout)

    def test_installed_config_passes_strict_modes(self):
        """The installed sample config is 0644 (the unit's dynamic user reads it
        as another user): not writable by others, so strict modes accept it."""
        dest = os.path.join(self.tmp, "dest")
        make_install(self, DESTDIR=dest, PREFIX="/usr")
        conf = os.path.join(dest, "etc/gatehouse/gatehouse.conf")
        self.assertEqual(os.stat(conf).st_mode & 0o777, 0o644)
        r = subprocess.run([gh.BIN, "check-config", "--config", conf], capture_output=True,
                           text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_man_page_is_generated_from_the_settings_table(self):
        """docs/gatehouse.8 is docs/gatehouse.8.in with `check-config --man` in
        place of its marker (make check-man): every setting is in it, with the
        ENVIRONMENT, FILES and EXIT STATUS sections."""
        man = open(os.path.join(REPO, "docs", "gatehouse.8")).read()
        r = subprocess.run([gh.BIN, "check-config", "--man"], capture_output=True, text=True,
                           timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn(r.stdout, man, "docs/gatehouse.8 is stale: make docs/gatehouse.8")
        template = open(os.path.join(REPO, "docs", "gatehouse.8.in")).read()
        self.assertEqual(template.replace('.\\" @SETTINGS@\n', r.stdout), man)
        for section in ("SETTINGS", "ENVIRONMENT", "FILES", "EXIT STATUS", "SIGNALS"):
            self.assertRegex(man, r'(?m)^\.SH "?%s"?$' % section)
        sample = subprocess.run([gh.BIN, "check-config", "--sample"], capture_output=True,
                                text=True, timeout=60).stdout
        names = re.findall(r"(?m)^#([a-z_0-9]+) ", sample)
        self.assertGreater(len(names), 50)
        for name in names:
            self.assertRegex(man, r"(?m)^\.B %s \\fR\(default" % re.escape(name.replace("_", "_")),
                             name)
        for var in ("GATEHOUSE_CONFIG", "GATEHOUSE_STEAM_WEB_API_KEY",
                    "GATEHOUSE_GOOGLE_PLAY_CLIENT_SECRET"):
            self.assertIn(var, man)
        r = subprocess.run(["make", "-s", "-o", build_dir() + "/gatehouse",
                            "BUILD=" + build_dir(), "check-man"], cwd=REPO, capture_output=True,
                           text=True, timeout=120)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)

    def test_missing_build_dependencies_say_what_to_run(self):
        """Without the libraries' development packages the build stops before
        compiling anything and names the command that installs them."""
        b = os.path.join(self.tmp, "build")
        r = subprocess.run(["make", "-s", "BUILD=" + b, "PKGS=gatehouse-no-such-library",
                            b + "/gatehouse"], cwd=REPO, capture_output=True, text=True,
                           timeout=120)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("make deps", r.stdout + r.stderr)
        self.assertFalse(os.path.exists(os.path.join(b, "obj")), "it compiled anyway")

    def test_man_page_renders(self):
        if not shutil.which("man"):
            self.skipTest("man is not installed")
        dest = os.path.join(self.tmp, "dest")
        make_install(self, DESTDIR=dest, PREFIX="/usr")
        env = dict(os.environ, MANWIDTH="80", MANPAGER="cat", PAGER="cat")
        r = subprocess.run(["man", "-l", os.path.join(dest, "usr/share/man/man8/gatehouse.8")],
                           capture_output=True, text=True, env=env, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        text = re.sub(r".\x08", "", r.stdout)
        self.assertIn("NAME", text)
        self.assertIn("gatehouse", text)
        for section in ("SETTINGS", "ENVIRONMENT", "FILES", "EXIT STATUS"):
            self.assertRegex(text, r"(?m)^%s$" % section)
        self.assertIn("GATEHOUSE_LISTEN_PORT", text.replace("\u2010\n", "").replace("-\n", ""))
        self.assertNotIn("warning", r.stderr.lower())

    def installed_unit(self):
        """make install PREFIX=<tmp>: a unit whose ExecStart exists, as
        systemd-analyze verify needs."""
        if not shutil.which("systemd-analyze"):
            self.skipTest("systemd-analyze is not installed")
        prefix = os.path.join(self.tmp, "prefix")
        make_install(self, PREFIX=prefix)
        return prefix, os.path.join(prefix, "lib/systemd/system/gatehouse.service")

    def test_systemd_analyze_verify(self):
        prefix, unit = self.installed_unit()
        if not shutil.which("man"):
            self.skipTest("man is not installed (verify checks Documentation=man:)")
        env = dict(os.environ, MANPATH=os.path.join(prefix, "share/man"))
        r = subprocess.run(["systemd-analyze", "verify", unit], capture_output=True,
                           text=True, env=env, timeout=120)
        self.assertEqual((r.returncode, r.stdout, r.stderr), (0, "", ""))

    def test_systemd_analyze_security(self):
        prefix, unit = self.installed_unit()
        r = subprocess.run(["systemd-analyze", "security", "--offline=true", unit],
                           capture_output=True, text=True, timeout=120)
        out = r.stdout + r.stderr
        m = re.search(r"Overall exposure level for gatehouse\.service: ([0-9]+(?:\.[0-9]+)?)",
                      out)
        self.assertTrue(m, out)
        score = float(m.group(1))
        self.assertLessEqual(score, 2.0, out)
        # The README quotes the score the unit gets.
        readme = open(os.path.join(REPO, "README.md")).read()
        q = re.search(r"systemd-analyze security gatehouse`\s+rates it\s+\*\*([0-9.]+)", readme)
        self.assertTrue(q, "README does not quote the systemd-analyze security score")
        self.assertEqual(float(q.group(1)), score)


class ShippedDocs(unittest.TestCase):
    """The documentation ships in the repository: nothing a user reads points
    outside it, and every relative link resolves."""

    FILES = ["README.md", "CHANGELOG.md", "docs/API.md", "docs/DESIGN.md", "docs/gatehouse.8",
             "docs/gatehouse.8.in", "config/gatehouse.conf", "config/gatehouse.service"]

    def test_no_pointer_outside_the_repository(self):
        for f in self.FILES:
            text = open(os.path.join(REPO, f)).read()
            self.assertNotIn("../shared", text, f)
            self.assertNotIn("/work/", text, f)

    def test_relative_links_resolve(self):
        seen = 0
        for f in ("README.md", "CHANGELOG.md", "docs/API.md", "docs/DESIGN.md"):
            text = open(os.path.join(REPO, f)).read()
            for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text):
                if re.match(r"[a-z]+:", target):
                    continue
                seen += 1
                path = os.path.normpath(os.path.join(REPO, os.path.dirname(f), target))
                self.assertTrue(os.path.exists(path), "%s links to %s" % (f, target))
        self.assertGreater(seen, 2)

    def test_api_keeps_the_section_labels_the_code_cites(self):
        """Comments in src/ cite the contract by section (API.md A.2, C.4, D.4):
        docs/API.md keeps those labels."""
        api = open(os.path.join(REPO, "docs", "API.md")).read()
        for label in ("A.1", "A.2", "A.2b", "A.3", "A.4", "A.5", "C.1", "C.2", "C.3", "C.4",
                      "D.1", "D.2", "D.3", "D.4"):
            self.assertRegex(api, r"(?m)^### %s " % re.escape(label))
        for part in ("A", "B", "C", "D", "E"):
            self.assertRegex(api, r"(?m)^## %s\. " % part)


class Credentials(unittest.TestCase):
    """Secrets through systemd's LoadCredential=: a relative *_file setting is
    read from $CREDENTIALS_DIRECTORY."""
    SECRET = "steam-publisher-key-0123456789abcdef"

    def setUp(self):
        self.creds = tempfile.mkdtemp(prefix="gh-creds-")
        self.addCleanup(shutil.rmtree, self.creds, True)
        self.settings = {"steam_app_id": "480", "steam_web_api_key_file": "steam_key",
                         "steam_api_url": "http://127.0.0.1:9"}

    def test_secret_from_credentials_directory(self):
        with open(os.path.join(self.creds, "steam_key"), "w") as f:
            f.write(self.SECRET + "\n")
        os.chmod(os.path.join(self.creds, "steam_key"), 0o400)
        d = Daemon(self.settings, env={"CREDENTIALS_DIRECTORY": self.creds})
        self.addCleanup(d.cleanup)
        d.start()
        r = d.get("/login-with-steam")
        self.assertNotEqual(r.text, "Error: Platform not enabled", r)
        r = d.cli("check-config", env={"CREDENTIALS_DIRECTORY": self.creds})
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertNotIn(self.SECRET, r.stdout + r.stderr)
        d.stop()
        self.assertNotIn(self.SECRET, d.log_text())

    def test_missing_credential_refuses(self):
        d = Daemon(self.settings, env={"CREDENTIALS_DIRECTORY": self.creds})
        self.addCleanup(d.cleanup)
        r = d.cli("check-config", env={"CREDENTIALS_DIRECTORY": self.creds})
        self.assertEqual(r.returncode, 2, r.stdout + r.stderr)
        self.assertIn("steam_web_api_key_file", r.stderr)
        self.assertIn(os.path.join(self.creds, "steam_key"), r.stderr)
        r = d.cli("serve", env={"CREDENTIALS_DIRECTORY": self.creds})
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("steam_web_api_key_file", r.stderr)


# ---------------------------------------------------------------------------
# SIGTERM under load

N_LOAD = 40 if VALGRIND else 200
N_USERS = 4 if VALGRIND else 10
IO_TIMEOUT = 120 if VALGRIND else 60


def read_response(sock):
    """Reads one HTTP response; returns (raw bytes, error or None). Stops
    once the status line, headers and Content-Length bytes of body are in."""
    buf = b""
    err = None
    while True:
        if complete_response(buf) is not None:
            break
        try:
            c = sock.recv(65536)
        except OSError as e:  # reset, timeout
            err = repr(e)
            break
        if not c:
            break
        buf += c
    return buf, err


def complete_response(buf):
    """(status, headers, body) when buf holds a whole response, else None."""
    end = buf.find(b"\r\n\r\n")
    if end < 0:
        return None
    head = buf[:end].decode("latin-1").split("\r\n")
    m = re.match(r"HTTP/1\.[01] (\d{3}) ", head[0] + " ")
    if not m:
        return None
    status = int(m.group(1))
    headers = {}
    for ln in head[1:]:
        k, _, v = ln.partition(":")
        headers[k.strip().lower()] = v.strip()
    body = buf[end + 4:]
    if status in (204, 304):
        return status, headers, b""
    if "content-length" not in headers:
        return None
    n = int(headers["content-length"])
    if len(body) < n:
        return None
    return status, headers, body[:n]


class LoadRequest:
    def __init__(self, i, method, target, body, token, delay):
        self.i = i
        self.method = method
        self.target = target
        self.body = body
        self.delay = delay
        b = body or b""
        hdr = "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: %s\r\n" % (method, target, token)
        if body is not None:
            hdr += "Content-Type: application/json\r\nContent-Length: %d\r\n" % len(b)
        self.data = hdr.encode() + b"\r\n" + b
        self.sent = False             # every byte was handed to the kernel
        self.sent_before_term = False  # ... before SIGTERM was sent
        self.answered_after_term = False
        self.raw = b""
        self.error = None
        self.response = None          # (status, headers, body) when complete

    @property
    def outcome(self):
        if self.response is not None:
            return "complete"
        if not self.raw:
            return "no response"
        return "cut"

    def describe(self):
        return "#%d %s %s sent=%s before_term=%s outcome=%s error=%s raw=%r" % (
            self.i, self.method, self.target, self.sent, self.sent_before_term,
            self.outcome, self.error, self.raw[:300])


class ShutdownUnderLoad(unittest.TestCase):

    def test_sigterm_during_concurrent_requests(self):
        # The signal must land while requests are in flight. On a loaded
        # machine a run can miss that window (all answered before the signal
        # is handled): such a run checked everything but the drain, so up to
        # three runs.
        for _ in range(3):
            if self.sigterm_scenario() > 0:
                return
        self.fail("no request was answered after the SIGTERM in three runs: "
                  "the drain was not exercised")

    def sigterm_scenario(self):
        """One run: load, SIGTERM, the checks; returns how many requests sent
        before the signal were answered after it."""
        shutdown_timeout = 30 if VALGRIND else 10
        d = Daemon({"shutdown_timeout": "%ds" % shutdown_timeout})
        self.addCleanup(d.cleanup)
        d.start()
        users = [d.new_guest()["auth_token"] for _ in range(N_USERS)]
        for j, tok in enumerate(users):
            r = put_doc(d, tok, "pre", {"user": j})
            self.assertIn(r.status, (200, 201), r)

        reqs = []
        rnd = random.Random(1234)
        spread = 0.5 if VALGRIND else 0.05
        for i in range(N_LOAD):
            tok = users[i % N_USERS]
            delay = rnd.uniform(0, spread)
            if i % 2 == 0:
                body = json.dumps({"i": i, "pad": "p" * (i % 97)}).encode()
                reqs.append(LoadRequest(i, "PUT", "/player-data/k%d" % i, body, tok, delay))
            else:
                reqs.append(LoadRequest(i, "GET", "/player-data/pre", None, tok, delay))

        go = threading.Event()
        term = threading.Event()
        sent_count = [0]
        lock = threading.Lock()
        connected = threading.Semaphore(0)

        def run(rq):
            # Half the requests connect first and wait, idle, for the burst
            # (the daemon has accepted them); the others connect when they send.
            s = None
            try:
                if rq.i % 4 < 2:
                    s = socket.create_connection(("127.0.0.1", d.port), timeout=IO_TIMEOUT)
                connected.release()
                go.wait()
                time.sleep(rq.delay)
                if s is None:
                    s = socket.create_connection(("127.0.0.1", d.port), timeout=IO_TIMEOUT)
            except OSError as e:
                rq.error = "connect: %r" % e
                connected.release()
                if s:
                    s.close()
                return
            try:
                try:
                    s.sendall(rq.data)
                except OSError as e:
                    rq.error = "send: %r" % e
                    return
                rq.sent = True
                rq.sent_before_term = not term.is_set()
                with lock:
                    sent_count[0] += 1
                rq.raw, rq.error = read_response(s)
                rq.response = complete_response(rq.raw)
                rq.answered_after_term = term.is_set()
            finally:
                s.close()

        threads = [threading.Thread(target=run, args=(rq,), daemon=True) for rq in reqs]
        for t in threads:
            t.start()
        try:
            for _ in threads:
                self.assertTrue(connected.acquire(timeout=60 * SLOW), "connections")
        finally:
            go.set()
        # SIGTERM once about half the requests are on the wire: the others
        # are still to come, and many of those sent are being answered.
        wait_for(lambda: sent_count[0] >= N_LOAD // 2, 60 * SLOW, "half the requests sent",
                 interval=0.001)
        term.set()  # set first: a request marked "sent before" really was
        d.proc.send_signal(signal.SIGTERM)
        try:
            rc = d.proc.wait(timeout=shutdown_timeout + 10 * SLOW)
        except subprocess.TimeoutExpired:
            self.fail("the daemon did not exit within shutdown_timeout (%ds):\n%s"
                      % (shutdown_timeout, d.log_text()[-4000:]))
        for t in threads:
            t.join(IO_TIMEOUT + 10)
        d.proc = None
        d.log.close()

        log = d.log_text()
        digest = "\ndaemon log (access lines: %d; outcome other than ok: %d):\n%s" % (
            log.count("msg=access"),
            len(re.findall(r"msg=access .*outcome=(?!ok)", log)),
            "\n".join(ln for ln in log.split("\n") if "msg=access" not in ln)[-3000:])
        try:
            d.check_clean_exit(rc)  # exit status 0, no sanitizer/valgrind report
        except AssertionError as e:
            raise AssertionError(str(e)[:3000] + digest)
        # Flushed: the write-ahead log was folded into the database file.
        wal = d.settings.get("database_path", "") + "-wal"  # SQLite
        self.assertFalse(os.path.exists(wal) and os.path.getsize(wal) > 0,
                         "the WAL was not checkpointed at exit")
        # Requests sent before the signal and answered after it: the drain.
        in_flight = sum(1 for rq in reqs if rq.sent_before_term and rq.answered_after_term)
        answered = [rq for rq in reqs if rq.response is not None]
        cut = [rq.describe() for rq in reqs if rq.outcome == "cut"]
        unanswered = [rq for rq in reqs if rq.sent_before_term and rq.outcome != "complete"]
        bad = [rq.describe() for rq in answered if rq.response[0] not in (200, 201)]

        # After a restart every write that was answered 2xx is there.
        acked = [rq for rq in answered if rq.method == "PUT" and rq.response[0] in (200, 201)]
        self.assertTrue(acked, "no write was answered before the shutdown")
        d.start()
        missing = []
        for rq in acked:
            r = get_doc(d, users[rq.i % N_USERS], "k%d" % rq.i)
            if r.status != 200 or r.body != rq.body:
                missing.append("k%d: %r" % (rq.i, r))
        d.stop()
        self.assertEqual(missing, [], "writes answered 2xx lost in the shutdown")

        self.assertEqual(cut, [], "connections cut mid-response" + digest)
        if unanswered:
            self.fail("%d requests sent before SIGTERM got no answer "
                      "(%d others were answered after the signal); on connections made "
                      "before the burst (idle, accepted): %r; connected at send time: "
                      "%r\nfirst: %s%s" % (
                          len(unanswered), in_flight,
                          [rq.i for rq in unanswered if rq.i % 4 < 2],
                          [rq.i for rq in unanswered if rq.i % 4 >= 2],
                          unanswered[0].describe(), digest))
        self.assertEqual(bad, [], "answers other than 2xx" + digest)
        for rq in answered:
            if rq.method == "GET":
                self.assertEqual(json.loads(rq.response[2]), {"user": rq.i % N_USERS},
                                 rq.describe())
        return in_flight


def accept_queue(port):
    """Connections waiting in the kernel's accept queue of the listener on
    127.0.0.1:port (rx_queue of a LISTEN socket in /proc/net/tcp)."""
    with open("/proc/net/tcp") as f:
        for ln in f:
            p = ln.split()
            if p[1] == "0100007F:%04X" % port and p[3] == "0A":
                return int(p[4].split(":")[1], 16)
    return 0


def hold_write_lock(test, db):
    """Holds SQLite's write lock on db from another connection (BEGIN
    IMMEDIATE): the daemon's writer waits on it (sqlite_busy_timeout).
    Returns release(); the test's cleanup calls it too, and a second call
    does nothing."""
    con = sqlite3.connect(db, timeout=10, isolation_level=None, check_same_thread=False)
    con.execute("BEGIN IMMEDIATE")
    held = [True]

    def release():
        if held[0]:
            held[0] = False
            con.execute("ROLLBACK")
            con.close()
    test.addCleanup(release)
    return release


class ShutdownWithQueuedConnections(unittest.TestCase):
    """A deterministic form of the load test: the writer is busy (its first
    write, a PUT, waits for a database lock held here), so further writes
    wait, fully sent, with their connections suspended, when SIGTERM comes:
    PUTs and refreshes in the writer's queue (they do not wait on a thread),
    new guest logins on the one write worker or in its queue. They reached
    the server: the contract is that they are answered."""

    @gh.sqlite_only("holds SQLite's write lock from outside")
    def test_requests_waiting_for_a_worker_are_answered(self):
        d = Daemon({"http_threads": "2", "write_workers": "1", "shutdown_timeout": "30s",
                    "sqlite_busy_timeout": "30s"})
        self.addCleanup(d.cleanup)
        d.start()
        token = d.new_guest()["auth_token"]
        refresh_tokens = [d.new_guest()["refresh_token"] for _ in range(2)]
        release = hold_write_lock(self, d.settings["database_path"])

        term = [False]
        reqs = []
        for i in range(6):
            if i % 3 == 1:
                reqs.append(LoadRequest(i, "POST", "/login-as-guest", None, token, 0))
            elif i % 3 == 2:
                body = json.dumps({"refresh_token": refresh_tokens[i // 3]}).encode()
                reqs.append(LoadRequest(i, "POST", "/refresh-access-token", body, token, 0))
            else:
                body = json.dumps({"q": i}).encode()
                reqs.append(LoadRequest(i, "PUT", "/player-data/q%d" % i, body, token, 0))

        def run(rq):
            try:
                s = socket.create_connection(("127.0.0.1", d.port), timeout=IO_TIMEOUT)
                s.sendall(rq.data)
            except OSError as e:
                rq.error = "connect/send: %r" % e
                return
            rq.sent = True
            rq.sent_before_term = d.proc is not None and d.proc.poll() is None and not term[0]
            try:
                rq.raw, rq.error = read_response(s)
                rq.response = complete_response(rq.raw)
            finally:
                s.close()

        threads = []
        for rq in reqs:
            t = threading.Thread(target=run, args=(rq,), daemon=True)
            t.start()
            threads.append(t)
            if rq.i <= 1:
                # Let the first occupy the writer, the second the write worker.
                wait_for(lambda: reqs[0].sent, 30 * SLOW, "the first request sent")
                time.sleep(0.5 * SLOW)
        wait_for(lambda: all(rq.sent for rq in reqs), 30 * SLOW, "the requests sent")
        # Read and queued behind the blocked worker (or still being accepted).
        time.sleep(0.5 * SLOW)
        queued = accept_queue(d.port)
        term[0] = True
        d.proc.send_signal(signal.SIGTERM)
        wait_for(lambda: "stopping" in d.log_text(), 30 * SLOW, "the daemon to start draining")
        release()
        rc = d.proc.wait(timeout=60 * SLOW)
        for t in threads:
            t.join(IO_TIMEOUT)
        d.proc = None
        d.log.close()
        d.check_clean_exit(rc)
        unanswered = [rq.describe() for rq in reqs if rq.outcome != "complete"]
        self.assertEqual(unanswered, [], "requests sent before SIGTERM (%d of them waiting "
                         "in the accept queue, the others for the writer or the worker) got "
                         "no answer" % queued)
        self.assertEqual([rq.response[0] for rq in reqs], [201, 200, 200] * (len(reqs) // 3))


class ShutdownLateRequest(unittest.TestCase):
    """A kept-alive connection can bring a request after the drain, while the
    daemon waits for its last write before it closes the server. The worker
    pools are stopped by then: a platform login gets 503 at once (it used
    to reach a pool that had been freed and set to NULL: a crash), and the
    write still reaches the disk. A new connection then is closed at once,
    and the log counts it at exit."""

    @gh.sqlite_only("holds SQLite's write lock from outside")
    def test_platform_login_after_the_drain_is_answered_503(self):
        secret = os.path.join(tempfile.mkdtemp(prefix="gatehouse-late-"), "steam.secret")
        self.addCleanup(shutil.rmtree, os.path.dirname(secret), True)
        with open(secret, "w") as f:
            f.write("late-test-key\n")
        d = Daemon({"shutdown_timeout": "1s", "sqlite_busy_timeout": "60s",
                    "steam_app_id": "480", "steam_web_api_key_file": secret,
                    "steam_api_url": "http://127.0.0.1:%d" % free_port()})
        self.addCleanup(d.cleanup)
        d.start()
        token = d.new_guest()["auth_token"]

        def request(method, target, body=None):
            b = body or b""
            hdr = "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: %s\r\n" % (
                method, target, token)
            if body is not None:
                hdr += "Content-Type: application/json\r\nContent-Length: %d\r\n" % len(b)
            return hdr.encode() + b"\r\n" + b

        # A connection kept alive from before the signal.
        kept = socket.create_connection(("127.0.0.1", d.port), timeout=IO_TIMEOUT)
        self.addCleanup(kept.close)
        kept.sendall(request("GET", "/get-player-data"))
        raw, err = read_response(kept)
        first = complete_response(raw)
        self.assertIsNotNone(first, (raw, err))
        self.assertNotEqual(first[1].get("connection"), "close")

        # A PUT held in the writer by a lock from outside: the drain times
        # out on it, and the stop then waits for it.
        release = hold_write_lock(self, d.settings["database_path"])
        held = socket.create_connection(("127.0.0.1", d.port), timeout=IO_TIMEOUT)
        self.addCleanup(held.close)
        held.sendall(request("PUT", "/player-data/late", b'{"late": 1}'))
        time.sleep(0.5 * SLOW)
        d.proc.send_signal(signal.SIGTERM)
        wait_for(lambda: "shutdown timeout" in d.log_text(), 30 * SLOW,
                 "the drain to give up on the held write")
        time.sleep(0.3 * SLOW)  # the stop is now waiting for the writer
        self.assertIsNone(d.proc.poll(), d.log_text()[-3000:])

        kept.sendall(request("POST", "/login-with-steam", b'{"steam_auth_token": "late"}'))
        raw, err = read_response(kept)
        late = complete_response(raw)
        self.assertIsNotNone(late, "no answer to the late login (%s):\n%s"
                             % (err, gh.log_digest(d.log_text())))
        self.assertEqual(late[0], 503, late)
        self.assertEqual(late[1].get("connection"), "close", late)

        # A new connection now: closed at once, unanswered (not left waiting).
        fresh = socket.create_connection(("127.0.0.1", d.port), timeout=IO_TIMEOUT)
        self.addCleanup(fresh.close)
        try:
            fresh.sendall(request("GET", "/get-player-data"))
        except OSError:
            pass  # already reset
        raw, err = read_response(fresh)
        self.assertEqual(raw, b"", "a connection made during the stop was answered")

        # The held PUT outlived shutdown_timeout, so its answer may be cut
        # when the server closes (the contract ends at the drain), but the
        # writer finishes it before the store closes: it is on disk.
        release()
        raw, err = read_response(held)
        put = complete_response(raw)
        if put is not None:
            self.assertEqual(put[0], 201, put)
        rc = d.proc.wait(timeout=60 * SLOW)
        d.proc = None
        d.log.close()
        d.check_clean_exit(rc)
        self.assertEqual(gh.db_rows(d, "SELECT value FROM player_data WHERE key='late'"),
                         [(b'{"late": 1}',)])
        self.assertIn("1 connection came after the drain began and was closed unanswered",
                      d.log_text())


# ---------------------------------------------------------------------------
# Backups


def corrupt_middle_pages(path, pages=3):
    """Overwrites a few pages in the middle of a SQLite file with garbage."""
    with open(path, "r+b") as f:
        head = f.read(100)
        psize = int.from_bytes(head[16:18], "big")
        psize = 65536 if psize == 1 else psize
        f.seek(0, os.SEEK_END)
        npages = f.tell() // psize
        assert npages >= pages + 2, "too small to corrupt: %d pages" % npages
        first = max(1, npages // 2 - pages // 2)
        rnd = random.Random(99)
        for p in range(first, first + pages):
            f.seek(p * psize)
            f.write(bytes(rnd.getrandbits(8) for _ in range(psize)))


@gh.sqlite_only("gatehouse backup and restore (PostgreSQL: pg_dump, test_pg)")
class Backup(unittest.TestCase):
    ISSUER = "http://gatehouse-backup.test"
    # The online-backup test writes a new key until the backup is done;
    # under valgrind a backup outlasted the default 1000 keys (413 on w1000).
    SETTINGS = {"issuer_url": ISSUER, "player_data_max_keys": "100000"}

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="gh-backup-")
        self.addCleanup(shutil.rmtree, self.tmp, True)
        self.d = Daemon(self.SETTINGS)
        self.addCleanup(self.d.cleanup)
        self.d.start()

    def test_online_backup_during_writes_restores(self):
        d = self.d
        g = d.new_guest()
        token = g["auth_token"]
        acked = []
        errors = []
        stop = threading.Event()

        def writer():
            n = 0
            while not stop.is_set():
                try:
                    r = put_doc(d, token, "w%d" % n, {"n": n})
                except OSError as e:
                    errors.append("w%d: %r" % (n, e))
                    return
                if r.status not in (200, 201):
                    errors.append("w%d: %r" % (n, r))
                    return
                acked.append(n)
                n += 1

        t = threading.Thread(target=writer)
        t.start()
        try:
            wait_for(lambda: len(acked) >= 20 or errors, 60 * SLOW, "20 acknowledged writes")
            before = set(acked)  # acknowledged before the backup command started
            path = os.path.join(self.tmp, "backup.db")
            r = d.cli("backup", path)
            n_after = len(acked)
            # Writes go on after the backup too.
            wait_for(lambda: len(acked) >= n_after + 5 or errors, 60 * SLOW,
                     "writes after the backup")
        finally:
            stop.set()
            t.join(60 * SLOW)
        self.assertEqual(errors, [])
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("backup written to %s" % path, r.stdout)
        self.assertTrue(os.path.isfile(path))
        self.assertEqual([f for f in os.listdir(self.tmp) if f != "backup.db"], [],
                         "the backup left temporary files")

        # The copy is healthy by SQLite's own check too.
        con = sqlite3.connect("file:%s?mode=ro" % path, uri=True)
        try:
            self.assertEqual(con.execute("PRAGMA integrity_check").fetchall(), [("ok",)])
            self.assertEqual(con.execute("PRAGMA journal_mode").fetchone()[0].lower(),
                             "delete", "a backup is one self-contained file")
        finally:
            con.close()
        r = d.cli("check-db", path)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("ok", r.stdout)

        # Restore: a fresh daemon on a copy of the backup.
        d2dir = tempfile.mkdtemp(prefix="gh-restore-")
        os.makedirs(os.path.join(d2dir, "db"))
        shutil.copyfile(path, os.path.join(d2dir, "db", "gatehouse.db"))
        d2 = Daemon(self.SETTINGS, keep_dir=d2dir)
        self.addCleanup(d2.cleanup)
        d2.start()
        # The user's token verifies there (the keys are in the database).
        present = {int(it["key"][1:]) for it in d2.documents(auth(token))
                   if it["key"].startswith("w")}
        self.assertEqual(before - present, set(),
                         "writes acknowledged before the backup began are missing")
        # One consistent snapshot: the writer is sequential, so the copy
        # holds exactly w0..wk for some k.
        self.assertEqual(present, set(range(len(present))))
        for n in sorted(before):
            r = get_doc(d2, token, "w%d" % n)
            self.assertEqual(r.status, 200, r)
            self.assertEqual(r.json(), {"n": n})
        # The restored daemon takes writes.
        self.assertIn(put_doc(d2, token, "after-restore", {"ok": 1}).status, (200, 201))
        d2.stop()

    def test_backup_refuses_an_existing_file(self):
        path = os.path.join(self.tmp, "exists.db")
        with open(path, "wb") as f:
            f.write(b"precious, not a database\n")
        st = os.stat(path)
        sha = file_sha(path)
        r = self.d.cli("backup", path)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("exists", r.stderr)
        self.assertEqual(file_sha(path), sha)
        self.assertEqual(os.stat(path).st_mtime_ns, st.st_mtime_ns)
        self.assertEqual(sorted(os.listdir(self.tmp)), ["exists.db"])

    def test_check_db(self):
        d = self.d
        g = d.new_guest()
        for n in range(40):
            self.assertIn(put_doc(d, g["auth_token"], "c%d" % n, {"n": n, "pad": "x" * 500})
                          .status, (200, 201))
        path = os.path.join(self.tmp, "good.db")
        r = d.cli("backup", path)
        self.assertEqual(r.returncode, 0, r.stderr)
        r = d.cli("check-db", path)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        # Without FILE: the configured database (the live one).
        r = d.cli("check-db")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)

        bad = os.path.join(self.tmp, "corrupt.db")
        shutil.copyfile(path, bad)
        corrupt_middle_pages(bad)
        r = d.cli("check-db", bad)
        self.assertEqual(r.returncode, 1, "a corrupted copy passed: " + r.stdout + r.stderr)

        text = os.path.join(self.tmp, "notes.txt")
        with open(text, "w") as f:
            f.write("this is not a database\n" * 200)
        r = d.cli("check-db", text)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)

        other = os.path.join(self.tmp, "other.db")
        con = sqlite3.connect(other)
        con.execute("CREATE TABLE t (x)")
        con.commit()
        con.close()
        r = d.cli("check-db", other)
        self.assertEqual(r.returncode, 1, "another application's database: " + r.stdout)
        self.assertIn("not a gatehouse database", r.stdout + r.stderr)

        r = d.cli("check-db", os.path.join(self.tmp, "missing.db"))
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        d.stop()


# ---------------------------------------------------------------------------
# Metrics

SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse_metrics(text):
    out = {}
    for ln in text.splitlines():
        if not ln or ln.startswith("#"):
            continue
        m = SAMPLE.match(ln)
        assert m, "unparsable sample line: %r" % ln
        labels = tuple(sorted(LABEL.findall(m.group(2) or "")))
        out[(m.group(1), labels)] = float(m.group(3))
    return out


def sample(metrics, name, **labels):
    return metrics.get((name, tuple(sorted(labels.items()))))


def promtool_check(testcase, body):
    r = subprocess.run(["promtool", "check", "metrics"], input=body, capture_output=True,
                       timeout=60)
    testcase.assertEqual((r.returncode, r.stdout, r.stderr), (0, b"", b""),
                         "promtool check metrics")


class Metrics(DaemonTest, unittest.TestCase):
    SETTINGS = {"refresh_reuse_grace": "0", "rate_limit_login": "3",
                "trusted_proxies": "127.0.0.1"}

    def scrape(self):
        r = self.daemon.get("/metrics")
        self.assertEqual(r.status, 200, r)
        return parse_metrics(r.text)

    def xget(self, target, **kw):
        """A request from a client address of its own (own rate-limit bucket)."""
        h = kw.pop("headers", {})
        h["X-Forwarded-For"] = fresh_addr()
        return self.daemon.get(target, headers=h, **kw)

    def test_format_and_promtool(self):
        d = self.daemon
        self.assertEqual(self.xget("/login-as-guest").status, 200)
        self.assertEqual(d.get("/no-such-route").status, 404)
        r = d.get("/metrics")
        self.assertEqual(r.status, 200)
        ctype = r.header("Content-Type")
        self.assertTrue(ctype.startswith("text/plain"), ctype)
        self.assertIn("version=0.0.4", ctype)
        if not shutil.which("promtool"):
            self.skipTest("promtool is not installed")
        promtool_check(self, r.body)
        m = parse_metrics(r.text)
        names = {k[0] for k in m}
        for family in ("gatehouse_http_requests_total",
                       "gatehouse_http_request_duration_seconds_bucket",
                       "gatehouse_http_request_duration_seconds_sum",
                       "gatehouse_http_request_duration_seconds_count",
                       "gatehouse_logins_total", "gatehouse_token_verifications_total",
                       "gatehouse_access_token_cache_hits_total",
                       "gatehouse_refresh_reuse_detected_total",
                       "gatehouse_rate_limited_total", "gatehouse_store_writes_total",
                       "gatehouse_store_lock_waits_total",
                       "gatehouse_store_commit_duration_seconds_count",
                       "gatehouse_users", "gatehouse_sessions_active",
                       "gatehouse_signing_keys",
                       "gatehouse_signing_key_activated_timestamp_seconds",
                       "gatehouse_token_refreshes_total", "process_cpu_seconds_total",
                       "process_resident_memory_bytes", "process_open_fds",
                       "process_max_fds", "process_start_time_seconds",
                       "gatehouse_build_info"):
            self.assertIn(family, names)
        for (name, labels) in m:
            self.assertTrue(name.startswith(("gatehouse_", "process_")), name)
            # Prometheus' conventions: the status label is code; no ages.
            self.assertNotIn("status", dict(labels), name)
            self.assertFalse(name.endswith("_age_seconds"), name)
            self.assertNotIn("busy", name)
            # Routes are templates, never raw paths.
            route = dict(labels).get("route")
            if route is not None:
                self.assertNotIn("no-such-route", route)

    def test_counters_move(self):
        d = self.daemon
        m0 = self.scrape()

        def delta(m1, name, **labels):
            return (sample(m1, name, **labels) or 0) - (sample(m0, name, **labels) or 0)

        r = self.xget("/login-as-guest")
        self.assertEqual(r.status, 200, r)
        g = r.json()
        # Refresh, then the same token again: with refresh_reuse_grace 0 a reuse.
        r = self.xget("/refresh-access-token?&refresh_token=" + g["refresh_token"])
        self.assertEqual(r.status, 200, r)
        r = self.xget("/refresh-access-token?&refresh_token=" + g["refresh_token"])
        self.assertEqual(r.status, 401, r)
        # A bad refresh token: the signature altered.
        h, p, s = g["refresh_token"].split(".")
        s = ("A" if s[0] != "A" else "B") + s[1:]
        r = self.xget("/refresh-access-token?&refresh_token=" + ".".join((h, p, s)))
        self.assertEqual(r.status, 401, r)
        # Rate limited: one client over its budget of 3.
        addr = fresh_addr()
        statuses = [d.get("/refresh-access-token?refresh_token=x",
                          headers={"X-Forwarded-For": addr}).status for _ in range(5)]
        self.assertIn(429, statuses)
        # A write (by a new guest: the reuse above ended g's session).
        r = self.xget("/login-as-guest")
        self.assertEqual(r.status, 200, r)
        g = r.json()
        r = put_doc(d, g["auth_token"], "m1", {"v": 1})
        self.assertIn(r.status, (200, 201), r)
        r = get_doc(d, g["auth_token"], "m1")
        self.assertEqual(r.status, 200, r)

        m1 = self.scrape()
        self.assertGreaterEqual(delta(m1, "gatehouse_http_requests_total",
                                      route="/login-as-guest", code="200"), 1)
        self.assertGreaterEqual(delta(m1, "gatehouse_http_request_duration_seconds_count",
                                      route="/login-as-guest"), 1)
        self.assertGreaterEqual(delta(m1, "gatehouse_http_requests_total",
                                      route="/refresh-access-token", code="401"), 2)
        self.assertGreaterEqual(delta(m1, "gatehouse_http_requests_total",
                                      route="/refresh-access-token", code="429"), 1)
        self.assertGreaterEqual(delta(m1, "gatehouse_http_requests_total",
                                      route="/player-data/{key}", code="201"), 1)
        self.assertGreaterEqual(delta(m1, "gatehouse_logins_total",
                                      method="guest_new", outcome="success"), 1)
        self.assertGreaterEqual(delta(m1, "gatehouse_token_refreshes_total",
                                      outcome="success"), 1)
        self.assertGreaterEqual(delta(m1, "gatehouse_token_refreshes_total",
                                      outcome="rejected"), 2)
        self.assertGreaterEqual(delta(m1, "gatehouse_token_verifications_total",
                                      type="refresh", outcome="invalid"), 1)
        self.assertGreaterEqual(delta(m1, "gatehouse_token_verifications_total",
                                      type="refresh", outcome="valid"), 1)
        self.assertGreaterEqual(delta(m1, "gatehouse_token_verifications_total",
                                      type="access", outcome="valid"), 2)
        # The read reused the write's token: verified once, remembered.
        self.assertGreaterEqual(delta(m1, "gatehouse_access_token_cache_hits_total"), 1)
        self.assertGreaterEqual(delta(m1, "gatehouse_refresh_reuse_detected_total"), 1)
        self.assertGreaterEqual(delta(m1, "gatehouse_rate_limited_total"), 1)
        self.assertGreaterEqual(delta(m1, "gatehouse_store_writes_total"), 1)
        self.assertGreaterEqual(delta(m1, "gatehouse_store_commit_duration_seconds_count"), 1)
        self.assertEqual(sample(m1, "gatehouse_signing_keys", use="access", state="current"), 1)
        self.assertEqual(sample(m1, "gatehouse_signing_keys", use="refresh", state="current"), 1)
        activated = sample(m1, "gatehouse_signing_key_activated_timestamp_seconds", use="access")
        self.assertIsNotNone(activated)
        self.assertLessEqual(activated, time.time() + 1)
        self.assertGreater(activated, time.time() - 86400)
        # Refreshes are not logins.
        self.assertIsNone(sample(m1, "gatehouse_logins_total", method="refresh",
                                 outcome="success"))
        # The process_* families describe this very process.
        self.assertGreater(sample(m1, "process_resident_memory_bytes"), 1 << 20)
        self.assertGreater(sample(m1, "process_open_fds"), 2)
        self.assertGreaterEqual(sample(m1, "process_max_fds"), sample(m1, "process_open_fds"))
        self.assertGreater(sample(m1, "process_cpu_seconds_total"), 0)
        started = sample(m1, "process_start_time_seconds")
        self.assertLessEqual(started, time.time() + 1)
        self.assertGreater(started, time.time() - 3600)
        self.assertEqual(sample(m1, "gatehouse_build_info", version=binary_version()), 1)
        self.assertEqual(binary_version(), "0.1.0")
        # Counted once a minute by a background thread: present only.
        self.assertIsNotNone(sample(m1, "gatehouse_users"))
        self.assertIsNotNone(sample(m1, "gatehouse_sessions_active"))
        self.assertIsNotNone(sample(m1, "gatehouse_store_lock_waits_total"))
        # No raw path as a route label.
        for (name, labels) in m1:
            route = dict(labels).get("route")
            self.assertNotIn("/player-data/m1", route or "")
        if shutil.which("promtool"):
            promtool_check(self, d.get("/metrics").body)


class BusyMetric(unittest.TestCase):

    @gh.sqlite_only("holds SQLite's write lock from outside")
    def test_busy_retries_counted(self):
        """A write that had to wait for the database lock (another process
        held it) and then succeeded is a busy retry: the metric moves."""
        d = Daemon()
        self.addCleanup(d.cleanup)
        d.start()
        token = d.new_guest()["auth_token"]
        before = sample(parse_metrics(d.get("/metrics").text), "gatehouse_store_lock_waits_total")
        release = hold_write_lock(self, d.settings["database_path"])
        result = []
        t = threading.Thread(target=lambda: result.append(put_doc(d, token, "busy", {"b": 1})))
        t.start()
        time.sleep(1)
        release()
        t.join(60 * SLOW)
        self.assertIn(result[0].status, (200, 201), result)
        after = sample(parse_metrics(d.get("/metrics").text), "gatehouse_store_lock_waits_total")
        self.assertGreater(after, before, "a write that waited for the lock was not counted")
        d.stop()


class MetricsListener(unittest.TestCase):

    def test_admin_listener(self):
        port = free_port()
        d = Daemon({"metrics_listen_address": "127.0.0.1:%d" % port})
        self.addCleanup(d.cleanup)
        d.start()
        admin = Daemon.__new__(Daemon)  # only for its request helper
        admin.port = port
        admin.settings = {}

        def admin_up():
            try:
                return admin.request("GET", "/health", timeout=5).status == 200
            except OSError:
                return False
        # The main listener (which start() polls) opens first, the admin one
        # right after it.
        wait_for(admin_up, START_TIMEOUT, "the admin listener")
        r = admin.request("GET", "/metrics")
        self.assertEqual(r.status, 200, r)
        self.assertIn("version=0.0.4", r.header("Content-Type"))
        self.assertIn("gatehouse_build_info", r.text)
        if shutil.which("promtool"):
            promtool_check(self, r.body)
        self.assertEqual(admin.request("GET", "/health").status, 200)
        self.assertEqual(admin.request("GET", "/ready").status, 200)
        # metrics_listen_address alone (no admin_token_file): no admin API, no console.
        for target in ("/login-as-guest", "/openapi.json", "/.well-known/jwks.json",
                       "/nothing", "/admin/stats", "/console"):
            self.assertEqual(admin.request("GET", target).status, 404, target)
        # Off the main listener.
        self.assertEqual(d.get("/metrics").status, 404)
        self.assertEqual(d.get("/health").status, 200)
        d.stop()


# ---------------------------------------------------------------------------
# SIGHUP reload

RELOAD_LINE = re.compile(r'reload: applied: ([^;"]*); needs a restart: ([^"\n]*)')


def names(text):
    return {n for n in re.split(r"[,\s]+", text.strip()) if n and n != "nothing"}


def limited(d, n):
    """n refresh attempts (no credentials) from one new client address."""
    addr = fresh_addr()
    return [d.get("/refresh-access-token?refresh_token=x",
                  headers={"X-Forwarded-For": addr}).status for _ in range(n)]


class Reload(unittest.TestCase):

    def test_sighup_applies_and_names_what_needs_a_restart(self):
        d = Daemon({"rate_limit_login": "1000", "trusted_proxies": "127.0.0.1"})
        self.addCleanup(d.cleanup)
        d.start()
        self.assertNotIn(429, limited(d, 3))
        fb = lambda: d.get("/login-with-facebook", headers={"X-Forwarded-For": fresh_addr()})
        r = fb()
        self.assertEqual((r.status, r.text), (404, "Error: Platform not enabled"))
        old_port = d.port
        new_port = free_port()
        d.settings.update({"rate_limit_login": "2", "log_level": "warn",
                           "listen_port": str(new_port), "facebook_app_id": "1234567890",
                           "facebook_graph_url": "http://127.0.0.1:9"})
        d.write_config()
        d.proc.send_signal(signal.SIGHUP)
        m = wait_for(lambda: RELOAD_LINE.search(d.log_text()), 30 * SLOW, "the reload log line")
        applied, restart = names(m.group(1)), names(m.group(2))
        self.assertIn("rate_limit_login", applied, m.group(0))
        self.assertIn("log_level", applied, m.group(0))
        self.assertIn("facebook_app_id", applied, m.group(0))
        self.assertIn("listen_port", restart, m.group(0))
        self.assertNotIn("listen_port", applied)
        # The provider is on now (the request has no token: not "not enabled").
        r = fb()
        self.assertNotEqual(r.text, "Error: Platform not enabled", r)
        log_len = len(d.log_text())
        # The new limit is in force: 2 pass, the 3rd is refused.
        self.assertEqual(limited(d, 3), [401, 401, 429])
        # Still on the old port, not on the new one.
        self.assertEqual(d.port, old_port)
        self.assertEqual(d.get("/health").status, 200)
        with self.assertRaises(OSError):
            socket.create_connection(("127.0.0.1", new_port), timeout=5).close()
        # log_level warn: no info (access) or debug lines for requests from here on.
        # (Judged by their request ids: an earlier request's access line may still
        # be written after this point, its request being completed late.)
        ids = []
        for target, status in (("/login-as-guest", 200), ("/nothing", 404)):
            r = d.get(target)
            self.assertEqual(r.status, status, r)
            ids.append(r.headers["x-request-id"])
        d.stop()  # every line written
        later = d.log_text()[log_len:]
        for line in later.splitlines():
            if any(i in line for i in ids):
                self.assertNotRegex(line, r"level=(info|debug)")

    def test_bad_config_changes_nothing(self):
        d = Daemon({"rate_limit_login": "2", "trusted_proxies": "127.0.0.1"})
        self.addCleanup(d.cleanup)
        d.start()
        d.settings.update({"rate_limit_login": "1000", "log_level": "error"})
        d.write_config()
        with open(d.config_path, "a") as f:
            f.write("no_such_setting 1\nrate_limit_login lots\n")
        d.proc.send_signal(signal.SIGHUP)
        wait_for(lambda: "reload: configuration error, nothing changed" in d.log_text(),
                 30 * SLOW, "the reload error in the log")
        self.assertNotRegex(d.log_text(), r"reload: applied")
        # Old settings: limit 2 per client, access lines still logged (debug).
        self.assertEqual(limited(d, 3), [401, 401, 429])
        log_len = len(d.log_text())
        self.assertEqual(d.get("/health").status, 200)
        wait_for(lambda: "msg=access" in d.log_text()[log_len:], 10 * SLOW,
                 "an access line (the old log_level)")
        d.new_guest()
        d.stop()


# ---------------------------------------------------------------------------
# Logs

LOGFMT_FIELD = re.compile(r'([a-zA-Z_]+)=("(?:[^"\\]|\\.)*"|\S*)')


def logfmt(line):
    out = {}
    for k, v in LOGFMT_FIELD.findall(line):
        out[k] = json.loads(v) if v.startswith('"') else v
    return out


def log_lines(d):
    return [ln for ln in d.log_text().split("\n") if ln.strip()]


class Logs(unittest.TestCase):

    def exercise(self, d):
        """Requests carrying every kind of secret; returns the secrets."""
        g = d.new_guest()
        secrets = [g["guest_secret"], g["auth_token"], g["refresh_token"]]
        q = "user_id=%s&guest_secret=%s" % (g["user_id"], g["guest_secret"])
        r = d.get("/login-as-guest?&" + q)
        self.assertEqual(r.status, 200)
        secrets += [r.json()["auth_token"], r.json()["refresh_token"], q]
        r = d.get("/refresh-access-token?&refresh_token=" + g["refresh_token"])
        self.assertEqual(r.status, 200)
        secrets += [r.json()["auth_token"], r.json()["refresh_token"]]
        self.assertEqual(d.get("/get-user", headers=auth(g["auth_token"])).status, 200)
        self.assertIn(put_doc(d, g["auth_token"], "doc", {"secret": "s3cr3t-value"}).status,
                      (200, 201))
        # A refused token and a bad guest secret are not logged either.
        h, p, s = g["auth_token"].split(".")
        bad = "%s.%s.%s" % (h, p, s[::-1])
        self.assertEqual(d.get("/get-user", headers=auth(bad)).status, 401)
        bad_secret = "x" * 73
        d.get("/login-as-guest?&user_id=%s&guest_secret=%s" % (g["user_id"], bad_secret))
        secrets += [bad, bad_secret, "s3cr3t-value"]
        self.assertEqual(d.get("/nothing?token=abc").status, 404)
        # Signature and payload parts of every token on their own.
        for t in list(secrets):
            if t.count(".") == 2:
                secrets += t.split(".")[1:]
        return secrets

    def key_material(self, d):
        rows = gh.db_rows(d, "SELECT material FROM signing_keys")
        out = []
        for (mat,) in rows:
            mat = bytes(mat)
            if b"-----BEGIN" in mat:
                out += [ln for ln in mat.decode().split("\n") if ln and "-----" not in ln]
            else:
                out += [mat.hex(), base64.urlsafe_b64encode(mat).decode().rstrip("="),
                        base64.b64encode(mat).decode().rstrip("=")]
        return out

    def assertNoSecrets(self, text, secrets):
        for s in secrets:
            self.assertNotIn(s, text, "the log holds a secret")
        self.assertNotIn("PRIVATE KEY", text)
        self.assertNotIn("guest_secret=", text)
        self.assertNotIn("refresh_token=", text)
        self.assertNotIn("token=abc", text)

    def test_json_lines_request_ids_and_no_secrets(self):
        d = Daemon({"log_format": "json", "log_level": "debug"})
        self.addCleanup(d.cleanup)
        d.start()
        secrets = self.exercise(d)
        r = d.get("/login-as-guest")
        rid = r.header("X-Request-Id")
        self.assertTrue(rid)
        # Far over the header limit: libmicrohttpd itself refuses it and says so.
        raw = d.raw(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 120000 +
                    b"\r\n\r\n")
        self.assertFalse(raw.startswith(b"HTTP/1.1 200"), raw[:200])
        self.assertEqual(d.get("/health").status, 200)
        d.stop()
        secrets += self.key_material(d)

        objs = []
        for ln in log_lines(d):
            try:
                o = json.loads(ln)
            except ValueError:
                self.fail("not a JSON line: %r" % ln)
            self.assertIsInstance(o, dict, ln)
            for k in ("ts", "level", "msg"):
                self.assertIn(k, o, ln)
            self.assertIn(o["level"], ("debug", "info", "warn", "error"), ln)
            objs.append(o)
        mhd = [o for o in objs if o["msg"].startswith("libmicrohttpd")]
        self.assertTrue(mhd, "no libmicrohttpd message was logged for the huge header")
        access = [o for o in objs if o["msg"] == "access"]
        self.assertTrue(access)
        for o in access:
            self.assertTrue(o.get("request_id") and o["request_id"] != "-", o)
            for k in ("method", "route", "status", "duration_ms"):
                self.assertIn(k, o)
        mine = [o for o in access if o["request_id"] == rid]
        self.assertEqual(len(mine), 1, access)
        self.assertEqual((mine[0]["method"], mine[0]["route"], mine[0]["status"]),
                         ("GET", "/login-as-guest", 200))  # a JSON number
        # Lines a handler logs while serving carry the request's id too.
        others = [o for o in objs if o["msg"] != "access" and o.get("request_id")]
        self.assertTrue(others, "no line besides the access log carried a request_id")
        self.assertNoSecrets(d.log_text(), secrets)

    def test_text_format_no_secrets(self):
        d = Daemon({"log_level": "debug"})
        self.addCleanup(d.cleanup)
        d.start()
        secrets = self.exercise(d)
        d.stop()
        secrets += self.key_material(d)
        lines = log_lines(d)
        for ln in lines:
            f = logfmt(ln)
            self.assertIn("ts", f, ln)
            self.assertIn(f.get("level"), ("debug", "info", "warn", "error"), ln)
            self.assertIn("msg", f, ln)
        access = [logfmt(ln) for ln in lines if logfmt(ln).get("msg") == "access"]
        self.assertTrue(access)
        for f in access:
            self.assertTrue(f.get("request_id"), f)
            self.assertNotIn("?", f.get("route", ""), f)
        self.assertNoSecrets(d.log_text(), secrets)

    def test_access_log_off(self):
        d = Daemon({"access_log": "off", "log_level": "debug"})
        self.addCleanup(d.cleanup)
        d.start()
        d.new_guest()
        self.assertEqual(d.get("/nothing").status, 404)
        d.stop()
        self.assertTrue(log_lines(d))
        self.assertEqual([ln for ln in log_lines(d) if logfmt(ln).get("msg") == "access"], [])

    def test_level_warn_hides_info(self):
        d = Daemon({"log_level": "warn"})
        self.addCleanup(d.cleanup)
        d.start()
        d.new_guest()
        self.assertEqual(d.get("/nothing").status, 404)
        self.assertEqual(d.get("/refresh-access-token?refresh_token=x").status, 401)
        d.stop()
        for ln in log_lines(d):
            self.assertIn(logfmt(ln).get("level"), ("warn", "error"), ln)


# ---------------------------------------------------------------------------
# Start-up refusals


class StartupRefusals(unittest.TestCase):

    def refused(self, d, *needles):
        try:
            r = d.cli("serve")
        except subprocess.TimeoutExpired:
            self.fail("the daemon started instead of refusing")
        self.assertNotEqual(r.returncode, 0, r.stderr)
        no_crash_report(self, r.stderr)
        for n in needles:
            self.assertIn(n, r.stderr)
        return r

    def test_listen_address_taken(self):
        d = Daemon()
        self.addCleanup(d.cleanup)
        s = socket.socket()
        self.addCleanup(s.close)
        s.bind(("127.0.0.1", d.port))
        s.listen(1)
        self.refused(d, "cannot listen on 127.0.0.1 port %d" % d.port, "Address already in use")

    def test_metrics_address_taken(self):
        s = socket.socket()
        self.addCleanup(s.close)
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        port = s.getsockname()[1]
        d = Daemon({"metrics_listen_address": "127.0.0.1:%d" % port})
        self.addCleanup(d.cleanup)
        self.refused(d, "port %d" % port, "Address already in use")

    def test_database_directory_not_writable(self):
        base = tempfile.mkdtemp(prefix="gh-notdir-")
        self.addCleanup(shutil.rmtree, base, True)
        plain = os.path.join(base, "plainfile")
        with open(plain, "w") as f:
            f.write("a regular file\n")
        # The database's directory would be under a regular file.
        d = Daemon({"database_path": os.path.join(plain, "db", "gatehouse.db")}, fresh=True)
        self.addCleanup(d.cleanup)
        r = self.refused(d, os.path.join(plain, "db"))
        self.assertRegex(r.stderr, r"not writable|cannot create directory")
        self.assertEqual(open(plain).read(), "a regular file\n")

    def test_database_file_directly_under_a_regular_file(self):
        base = tempfile.mkdtemp(prefix="gh-notdir-")
        self.addCleanup(shutil.rmtree, base, True)
        plain = os.path.join(base, "plainfile")
        with open(plain, "w") as f:
            f.write("a regular file\n")
        # database_path's directory is itself a regular file: the message
        # must say what is wrong with it, not only that the open failed.
        d = Daemon({"database_path": os.path.join(plain, "gatehouse.db")}, fresh=True)
        self.addCleanup(d.cleanup)
        r = self.refused(d, plain)
        self.assertRegex(r.stderr, r"not writable|not a directory|Not a directory")
        self.assertEqual(open(plain).read(), "a regular file\n")

    @unittest.skipIf(os.geteuid() == 0, "root may write anywhere: a mode-0500 "
                     "directory does not refuse it")
    def test_database_directory_read_only(self):
        base = tempfile.mkdtemp(prefix="gh-ro-")
        self.addCleanup(shutil.rmtree, base, True)
        ro = os.path.join(base, "ro")
        os.mkdir(ro, 0o500)
        self.addCleanup(os.chmod, ro, 0o700)
        d = Daemon({"database_path": os.path.join(ro, "gatehouse.db")}, fresh=True)
        self.addCleanup(d.cleanup)
        self.refused(d, ro, "not writable")

    def test_unreadable_key_material(self):
        d = Daemon()
        self.addCleanup(d.cleanup)
        d.start()
        d.stop()
        now = int(time.time())
        kid = gh.db_rows(d, "SELECT kid FROM signing_keys WHERE use='access' AND "
                            "activate_at <= ? ORDER BY activate_at DESC LIMIT 1", (now,))[0][0]
        garbage = (b"-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5IGF0IGFsbCwganVzdCBnYXJi"
                   b"YWdl\n-----END PRIVATE KEY-----\n")
        gh.db_write(d, "UPDATE signing_keys SET material=? WHERE kid=?", (garbage, kid))
        r = self.refused(d, kid, "refusing to start")
        self.assertIn("unreadable key material", r.stderr)
        # Nothing was replaced: the damaged key is still there, no new key made.
        self.assertEqual(gh.db_rows(d, "SELECT material FROM signing_keys WHERE kid=?",
                                    (kid,))[0][0], garbage)

    def test_network_file_system(self):
        # An NFS/SMB mount cannot be made here (no privileges, no server):
        # the classification behind this refusal is unit-tested in
        # tests/unit/test_store_fs.c (store_fs_is_network).
        self.skipTest("no network file system in CI; see tests/unit/test_store_fs.c")


if __name__ == "__main__":
    unittest.main()
