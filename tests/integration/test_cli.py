"""The command line (DESIGN.md "Configuration", main): version, --help,
usage errors, configuration errors with file:line and exit status 2, the
precedence flag > environment > file > default, the committed sample config,
the built-in defaults, and serve refusing to start when it cannot listen or
cannot create its database."""
import os
import re
import shutil
import socket
import subprocess
import tempfile
import unittest

import gh
from gh import BIN, Daemon, VALGRIND, SANITIZER, START_TIMEOUT

REPO = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
SAMPLE = os.path.join(REPO, "config", "gatehouse.conf")


def clean_env(extra=None):
    """The caller's environment without any GATEHOUSE_* setting."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEHOUSE_")}
    env.update(gh.VALGRIND_ENV)
    env.update(extra or {})
    return env


class CliTest(unittest.TestCase):

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="gatehouse-cli-")
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.vg_dir = tempfile.mkdtemp(prefix="gatehouse-cli-vg-")
        self.addCleanup(shutil.rmtree, self.vg_dir, True)
        self.vg_count = 0

    def run_cli(self, *args, env=None, cwd=None):
        """Runs the binary (under valgrind when asked) with a clean environment
        plus env; fails on valgrind or sanitizer reports."""
        cmd = [BIN] + list(args)
        vg = None
        if VALGRIND:
            vg = os.path.join(self.vg_dir, "valgrind-%d.log" % self.vg_count)
            self.vg_count += 1
            cmd = ["valgrind", "--error-exitcode=99", "--leak-check=full",
                   "--show-leak-kinds=definite,indirect",
                   "--errors-for-leak-kinds=definite,indirect", "--log-file=" + vg] + cmd
        r = subprocess.run(cmd, capture_output=True, text=True, env=clean_env(env),
                           cwd=cwd or self.dir, timeout=START_TIMEOUT + 30)
        if vg:
            text = open(vg).read()
            m = re.search(r"ERROR SUMMARY: (\d+) errors", text)
            self.assertTrue(m and m.group(1) == "0",
                            "valgrind errors for %r:\n%s" % (args, text[-6000:]))
        if SANITIZER:
            for s in ("ERROR: AddressSanitizer", "runtime error:", "ERROR: LeakSanitizer"):
                self.assertNotIn(s, r.stderr, "sanitizer report for %r" % (args,))
        return r

    def write(self, name, text, mode=0o600):
        """A file in the test's directory; owner-only unless mode says otherwise
        (one that others can read gets a warning, one they can write is refused)."""
        path = os.path.join(self.dir, name)
        with open(path, "w") as f:
            f.write(text)
        os.chmod(path, mode)
        return path

    def effective(self, r):
        """check-config output as {name: value}."""
        self.assertEqual(r.returncode, 0, r.stderr)
        out = {}
        for line in r.stdout.splitlines():
            if line.strip() and not line.startswith("#"):
                name, _, value = line.partition(" ")
                out[name] = value.strip()
        return out

    def assertUsageError(self, r, *needles):
        self.assertEqual(r.returncode, 2, "exit status %d\nstdout: %s\nstderr: %s"
                         % (r.returncode, r.stdout, r.stderr))
        for n in needles:
            self.assertIn(n, r.stderr)


def seconds(value):
    m = re.fullmatch(r"(\d+)([smhd]?)", value)
    assert m, value
    return int(m.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}[m.group(2)]


class Commands(CliTest):

    def test_version(self):
        r = self.run_cli("version")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertRegex(r.stdout, r"^gatehouse \d+\.\d+\.\d+")

    def test_help_of_every_command(self):
        for args, words in ((["--help"], []), (["-h"], []),
                            (["serve", "--help"], ["serve"]),
                            (["check-config", "--help"], ["check-config", "--sample"]),
                            (["keys", "--help"], ["keys", "list", "rotate"]),
                            (["keys", "list", "--help"], ["list"]),
                            (["keys", "rotate", "--help"], ["rotate"]),
                            (["restore", "--help"], ["restore", "before-restore"]),
                            (["migrate", "--help"], ["migrate", "--status"]),
                            (["version", "--help"], ["version"])):
            r = self.run_cli(*args)
            self.assertEqual(r.returncode, 0, "%r: %s" % (args, r.stderr))
            self.assertRegex(r.stdout, r"(?m)^usage: gatehouse", args)
            for w in words:
                self.assertIn(w, r.stdout, args)
        # --help never runs the command: nothing was created here.
        self.assertEqual(os.listdir(self.dir), [])

    def test_top_level_help_lists_the_commands(self):
        for args in (["--help"], ["-h"]):
            r = self.run_cli(*args)
            self.assertEqual(r.returncode, 0, r.stderr)
            for w in ("serve", "check-config", "keys", "restore", "migrate", "version",
                      "--config", "--set"):
                self.assertIn(w, r.stdout, "%r does not mention %s:\n%s" % (args, w, r.stdout))

    def test_unknown_command(self):
        r = self.run_cli("frobnicate")
        self.assertUsageError(r, "frobnicate")
        self.assertIn("usage", r.stderr.lower())
        self.assertEqual(os.listdir(self.dir), [])

    def test_unknown_option_and_missing_arguments(self):
        for args in (["--frobnicate"], ["check-config", "--config"], ["check-config", "--set"],
                     ["keys"], ["keys", "frobnicate"]):
            r = self.run_cli(*args)
            self.assertUsageError(r)
            self.assertTrue(r.stderr.strip(), args)

    def test_set_errors(self):
        self.assertUsageError(self.run_cli("check-config", "--set", "frobnicate=1"),
                              "frobnicate")
        self.assertUsageError(self.run_cli("check-config", "--set", "listen_port"),
                              "listen_port")
        self.assertUsageError(self.run_cli("check-config", "--set", "listen_port=70000"),
                              "listen_port")


class ConfigErrors(CliTest):

    def conf(self, *lines):
        return self.write("bad.conf", "".join(l + "\n" for l in lines))

    def test_unknown_key_has_file_and_line(self):
        path = self.conf("# a comment", "", "listen_port 8081", "frobnicate_level 3",
                         "log_level info")
        r = self.run_cli("check-config", "--config", path)
        self.assertUsageError(r, "%s:4" % path, "frobnicate_level")
        self.assertEqual(r.stdout, "")

    def test_out_of_range_port(self):
        path = self.conf("listen_address 127.0.0.1", "listen_port 70000")
        self.assertUsageError(self.run_cli("check-config", "--config", path),
                              "%s:2" % path, "listen_port")
        path = self.conf("listen_port 0")
        self.assertUsageError(self.run_cli("check-config", "--config", path),
                              "%s:1" % path, "listen_port")

    def test_bad_and_out_of_range_durations(self):
        for value in ("15x", "1.5h", "-5", "15 m", "soon", ""):
            path = self.conf("# ttl", "access_token_ttl %s" % (value or '""'))
            self.assertUsageError(self.run_cli("check-config", "--config", path),
                                  "%s:2" % path, "access_token_ttl")
        path = self.conf("access_token_ttl 10")   # below 60
        self.assertUsageError(self.run_cli("check-config", "--config", path),
                              "%s:1" % path, "access_token_ttl")
        path = self.conf("key_rotation_interval 400d")  # above one year
        self.assertUsageError(self.run_cli("check-config", "--config", path),
                              "%s:1" % path, "key_rotation_interval")

    def test_bad_choices(self):
        for line in ("signing_alg HS256", "signing_alg none", "log_level loud",
                     "access_log maybe", "max_body_size 64KB"):
            path = self.conf("", line)
            name = line.split()[0]
            self.assertUsageError(self.run_cli("check-config", "--config", path),
                                  "%s:2" % path, name)

    def test_missing_config_file(self):
        path = os.path.join(self.dir, "nope.conf")
        self.assertUsageError(self.run_cli("check-config", "--config", path), path)

    def test_prepublish_must_be_shorter_than_rotation(self):
        r = self.run_cli("check-config", "--set", "key_rotation_interval=1h",
                         "--set", "key_prepublish=1h")
        self.assertUsageError(r, "key_prepublish")

    def test_prepublish_must_cover_jwks_max_age(self):
        # The documented rule (check-config --sample: key_prepublish "must be ...
        # at least jwks_max_age"; DESIGN.md: the next key is published at least
        # one JWKS cache period before it signs).
        r = self.run_cli("check-config", "--set", "key_prepublish=60",
                         "--set", "jwks_max_age=1h")
        self.assertUsageError(r, "key_prepublish")

    def test_bad_environment_value(self):
        r = self.run_cli("check-config", env={"GATEHOUSE_LISTEN_PORT": "http"})
        self.assertUsageError(r, "GATEHOUSE_LISTEN_PORT")

    def test_serve_refuses_unknown_key(self):
        port = socket.socket()
        port.bind(("127.0.0.1", 0))
        p = port.getsockname()[1]
        port.close()
        path = self.conf("listen_port %d" % p,
                         "database_path %s" % os.path.join(self.dir, "db", "g.db"),
                         "# next line is wrong", "signing_algorithm ES256")
        r = self.run_cli("serve", "--config", path)
        self.assertUsageError(r, "%s:4" % path, "signing_algorithm")
        self.assertFalse(os.path.exists(os.path.join(self.dir, "db")),
                         "serve touched the database despite a bad config")
        r = self.run_cli("--config", path)   # serve is the default command
        self.assertUsageError(r, "%s:4" % path, "signing_algorithm")


class ConfigMistakes(CliTest):
    """Configuration mistakes are fatal everywhere, and say what was meant."""

    def serve_port(self):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        p = s.getsockname()[1]
        s.close()
        return p

    def test_unknown_environment_variable_stops_serve(self):
        db = os.path.join(self.dir, "db", "g.db")
        r = self.run_cli("serve", "--set", "listen_port=%d" % self.serve_port(),
                         "--set", "database_path=" + db,
                         env={"GATEHOUSE_LISTEN_PROT": "9000"})
        self.assertUsageError(r, "GATEHOUSE_LISTEN_PROT", "did you mean GATEHOUSE_LISTEN_PORT?")
        self.assertFalse(os.path.exists(os.path.join(self.dir, "db")),
                         "serve touched the database despite a bad variable")

    def test_unknown_environment_variable_stops_every_command(self):
        for args in (("check-config",), ("keys", "list"), ("routes",)):
            r = self.run_cli(*args, env={"GATEHOUSE_DATABASE_FILE": "/tmp/x.db"})
            if args == ("routes",) and r.returncode == 0:
                continue  # routes reads no configuration
            self.assertUsageError(r, "GATEHOUSE_DATABASE_FILE")
        # Far from every setting: fatal, with no suggestion.
        r = self.run_cli("check-config", env={"GATEHOUSE_WHATEVER_THIS_IS": "1"})
        self.assertUsageError(r, "GATEHOUSE_WHATEVER_THIS_IS", "unknown variable")
        self.assertNotIn("did you mean", r.stderr)
        # The test tooling's old names are not the daemon's.
        r = self.run_cli("check-config", env={"GATEHOUSE_BIN": BIN})
        self.assertUsageError(r, "GATEHOUSE_BIN")

    def test_allowed_environment_variables(self):
        path = self.write("g.conf", "listen_port 8085\n")
        cfg = self.effective(self.run_cli("check-config", env={
            "GATEHOUSE_CONFIG": path, "GATEHOUSE_OIDC_PROVIDERS": "epic",
            "GATEHOUSE_OIDC_EPIC_ISSUER": "https://epic.example",
            "GATEHOUSE_OIDC_EPIC_JWKS_URL": "https://epic.example/jwks",
            "GATEHOUSE_OIDC_EPIC_AUDIENCES": "game"}))
        self.assertEqual(cfg["listen_port"], "8085")

    def test_did_you_mean_in_file_and_set(self):
        path = self.write("g.conf", "# tuning\nacess_token_ttl 600\n")
        r = self.run_cli("check-config", "--config", path)
        self.assertUsageError(r, "%s:2" % path, "did you mean 'access_token_ttl'?")
        r = self.run_cli("check-config", "--set", "listen_adress=0.0.0.0")
        self.assertUsageError(r, "did you mean 'listen_address'?")

    def test_name_equals_value_in_the_file(self):
        path = self.write("g.conf", "listen_port=9000\n")
        r = self.run_cli("check-config", "--config", path)
        self.assertUsageError(r, "%s:1" % path, "takes 'name value'", "'listen_port <value>'")
        self.assertNotIn("9000", r.stderr)  # a value may be a secret: never repeated

    def test_config_writable_by_others_stops_serve(self):
        db = os.path.join(self.dir, "db", "g.db")
        for mode in (0o664, 0o666, 0o646):
            path = self.write("g.conf", "listen_port %d\ndatabase_path %s\n"
                              % (self.serve_port(), db), mode=mode)
            r = self.run_cli("serve", "--config", path)
            self.assertUsageError(r, path, "chmod go-w")
            self.assertFalse(os.path.exists(os.path.join(self.dir, "db")),
                             "serve touched the database despite a writable config")
        # The file cannot turn the check off; the command line can.
        path = self.write("g.conf", "config_strict_modes off\n", mode=0o666)
        self.assertUsageError(self.run_cli("check-config", "--config", path), path)
        path = self.write("g.conf", "config_strict_modes off\n", mode=0o600)
        self.assertUsageError(self.run_cli("check-config", "--config", path),
                              "config_strict_modes")
        path = self.write("g.conf", "listen_port 8086\n", mode=0o666)
        cfg = self.effective(self.run_cli("check-config", "--config", path,
                                          "--set", "config_strict_modes=off"))
        self.assertEqual(cfg["listen_port"], "8086")
        cfg = self.effective(self.run_cli("check-config", "--config", path,
                                          env={"GATEHOUSE_CONFIG_STRICT_MODES": "off"}))
        self.assertEqual(cfg["listen_port"], "8086")

    def test_config_readable_by_others_warns(self):
        path = self.write("g.conf", "listen_port 8087\n", mode=0o644)
        r = self.run_cli("check-config", "--config", path)
        cfg = self.effective(r)
        self.assertEqual(cfg["listen_port"], "8087")
        warn = [ln for ln in r.stderr.splitlines() if "readable by other users" in ln]
        self.assertEqual(len(warn), 1, r.stderr)
        self.assertIn(path, warn[0])
        self.assertIn("chmod go-r", warn[0])
        # Owner-only: no warning.
        os.chmod(path, 0o600)
        r = self.run_cli("check-config", "--config", path)
        self.assertNotIn("readable by other users", r.stderr)


class Precedence(CliTest):

    def test_env_beats_file_and_flag_beats_env(self):
        path = self.write("g.conf", "listen_port 8081\nlog_level warn\n")
        cfg = self.effective(self.run_cli("check-config", "--config", path))
        self.assertEqual(cfg["listen_port"], "8081")
        self.assertEqual(cfg["log_level"], "warn")
        cfg = self.effective(self.run_cli("check-config", "--config", path,
                                          env={"GATEHOUSE_LISTEN_PORT": "9001"}))
        self.assertEqual(cfg["listen_port"], "9001")
        self.assertEqual(cfg["log_level"], "warn")
        cfg = self.effective(self.run_cli("check-config", "--config", path,
                                          "--set", "listen_port=9002",
                                          env={"GATEHOUSE_LISTEN_PORT": "9001"}))
        self.assertEqual(cfg["listen_port"], "9002")
        # Without a file, the environment alone.
        cfg = self.effective(self.run_cli("check-config", env={"GATEHOUSE_LISTEN_PORT": "9003"}))
        self.assertEqual(cfg["listen_port"], "9003")
        # The issuer derived from the effective port.
        self.assertEqual(cfg["issuer_url"], "http://127.0.0.1:9003")

    def test_file_syntax(self):
        path = self.write("g.conf", "# comment line\n"
                                    "\n"
                                    "   # indented comment\n"
                                    "listen_port 8084   # trailing comment\n"
                                    "cors_allow_origin \"https://a.example#frag\"\n"
                                    "base_path \"\"\r\n"
                                    "\tlog_level\twarn\n")
        cfg = self.effective(self.run_cli("check-config", "--config", path))
        self.assertEqual(cfg["listen_port"], "8084")
        self.assertEqual(cfg["cors_allow_origin"], "https://a.example#frag")
        self.assertIn(cfg["base_path"], ("", '""'))
        self.assertEqual(cfg["log_level"], "warn")

    def test_config_file_from_environment(self):
        path = self.write("g.conf", "listen_port 8082\n")
        cfg = self.effective(self.run_cli("check-config", env={"GATEHOUSE_CONFIG": path}))
        self.assertEqual(cfg["listen_port"], "8082")

    def test_effective_settings_load_back(self):
        path = self.write("g.conf", "listen_port 8083\nkey_prepublish 2d\n"
                                    "key_rotation_interval 14d\nbase_path /prod\n")
        r = self.run_cli("check-config", "--config", path)
        first = r.stdout
        again = self.write("again.conf", first)
        r2 = self.run_cli("check-config", "--config", again)
        self.assertEqual(r2.returncode, 0, r2.stderr)
        self.assertEqual(r2.stdout, first)


class SampleAndDefaults(CliTest):

    def test_committed_config_is_the_sample(self):
        r = self.run_cli("check-config", "--sample")
        self.assertEqual(r.returncode, 0, r.stderr)
        with open(SAMPLE) as f:
            self.assertEqual(r.stdout, f.read(),
                             "config/gatehouse.conf differs from check-config --sample")
        # The sample documents the defaults, whatever the environment says.
        r2 = self.run_cli("check-config", "--sample", env={"GATEHOUSE_LISTEN_PORT": "9001"})
        self.assertEqual(r2.stdout, r.stdout)

    def test_sample_loads_and_changes_nothing(self):
        defaults = self.effective(self.run_cli("check-config"))
        self.assertEqual(self.effective(self.run_cli("check-config", "--config", SAMPLE)),
                         defaults)
        # Every documented default, uncommented, is accepted and is the default.
        with open(SAMPLE) as f:
            text = f.read()
        uncommented = re.sub(r"(?m)^#([a-z_]+ )", r"\1", text)
        self.assertGreater(uncommented.count("\nlisten_port "), 0)
        path = self.write("uncommented.conf", uncommented)
        self.assertEqual(self.effective(self.run_cli("check-config", "--config", path)),
                         defaults)
        # And the sample names every setting check-config reports.
        for name in defaults:
            self.assertRegex(text, r"(?m)^#%s " % re.escape(name))

    def test_defaults_without_any_config(self):
        cfg = self.effective(self.run_cli("check-config"))
        self.assertEqual(cfg["listen_address"], "127.0.0.1")
        self.assertEqual(cfg["listen_port"], "8080")
        self.assertEqual(cfg["database_path"], "./var/gatehouse.db")
        self.assertEqual(cfg["issuer_url"], "http://127.0.0.1:8080")
        self.assertIn(cfg["base_path"], ("", '""'))
        self.assertEqual(cfg["signing_alg"], "RS256")
        self.assertEqual(seconds(cfg["access_token_ttl"]), 900)
        self.assertEqual(seconds(cfg["refresh_token_ttl"]), 6 * 86400)
        self.assertEqual(seconds(cfg["key_rotation_interval"]), 7 * 86400)
        self.assertEqual(seconds(cfg["refresh_reuse_grace"]), 10)
        self.assertEqual(cfg["cors_allow_origin"], "*")
        self.assertEqual(cfg["log_level"], "info")
        self.assertEqual(cfg["log_format"], "text")
        self.assertEqual(seconds(cfg["shutdown_timeout"]), 10)
        self.assertIn(cfg["access_log"], ("on", "true", "yes", "1"))
        # check-config reads no database and creates nothing.
        self.assertEqual(os.listdir(self.dir), [])


class ServeRefuses(CliTest):

    def test_port_already_taken(self):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        self.addCleanup(s.close)
        port = s.getsockname()[1]
        d = Daemon({"listen_port": port})
        self.addCleanup(d.cleanup)
        r = d.cli("serve")
        self.assertNotEqual(r.returncode, 0, "serve started on a taken port")
        self.assertNotEqual(r.returncode, 99, "valgrind errors on the failure path:\n"
                            + (open(d.vg_logs[-1]).read()[-4000:] if d.vg_logs else ""))
        self.assertIn(str(port), r.stderr)
        self.assertRegex(r.stderr.lower(), r"in use|cannot (listen|bind)")
        if SANITIZER:
            self.assertNotIn("Sanitizer", r.stderr)

    def test_database_directory_cannot_be_created(self):
        blocker = os.path.join(self.dir, "plainfile")
        open(blocker, "w").close()
        dbpath = os.path.join(blocker, "sub", "db.sqlite")
        d = Daemon({"database_path": dbpath}, fresh=True)
        self.addCleanup(d.cleanup)
        r = d.cli("serve")
        self.assertNotEqual(r.returncode, 0, "serve started without a usable database")
        self.assertNotEqual(r.returncode, 99, "valgrind errors on the failure path:\n"
                            + (open(d.vg_logs[-1]).read()[-4000:] if d.vg_logs else ""))
        self.assertIn(os.path.join(blocker, "sub"), r.stderr)
        self.assertTrue(os.path.isfile(blocker))
        if SANITIZER:
            self.assertNotIn("Sanitizer", r.stderr)


if __name__ == "__main__":
    unittest.main()
