"""The web console in a real browser: starts the daemon with an admin address
and a token file on free ports, then runs console.test.mjs (Debian's
chromium driven by playwright-core) against it.

    GH_TEST_BIN=$PWD/build/gatehouse /usr/bin/python3 tests/pyrun.py tests/browser

GH_TEST_PLAYWRIGHT: the playwright-core package directory (make browser
installs it under build/npm); GH_TEST_SCREENSHOTS=DIR: also write the
screenshots of the main pages there (make screenshots: docs/)."""
import json
import os
import secrets
import subprocess
import unittest

import gh

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
PLAYWRIGHT = os.environ.get("GH_TEST_PLAYWRIGHT",
                            os.path.join(ROOT, "build", "npm", "node_modules", "playwright-core"))
BROWSER_TIMEOUT = 600 if gh.VALGRIND else 120


class Console(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.admin_port = gh.free_port()
        cls.daemon = gh.Daemon({"admin_listen_address": "127.0.0.1:%d" % cls.admin_port})
        # Owner-only, as the daemon wants it; the token never goes into a
        # command line or the environment, only this file.
        cls.token = secrets.token_hex(32)
        cls.token_file = os.path.join(cls.daemon.dir, "admin-tokens")
        fd = os.open(cls.token_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write("console-test:%s\n" % cls.token)
        cls.daemon.settings["admin_token_file"] = cls.token_file
        cls.daemon.start()

    @classmethod
    def tearDownClass(cls):
        try:
            if cls.daemon.proc:
                cls.daemon.stop()
        finally:
            cls.daemon.cleanup()

    def test_console(self):
        # A player with a platform identity, as a Steam login would link it
        # (the browser test searches it by identity and unlinks it).
        linked = self.daemon.new_guest()
        subject = "76561198%09d" % secrets.randbelow(10 ** 9)
        gh.db_write(self.daemon, "INSERT INTO identities (provider, subject, user_id, created_at) "
                    "VALUES ('steam', ?, ?, 0)", (subject, linked["user_id"]))
        env = dict(os.environ)
        env.update({
            "GH_CONSOLE_URL": "http://127.0.0.1:%d" % self.admin_port,
            "GH_PUBLIC_URL": self.daemon.base_url,
            "GH_ADMIN_TOKEN_FILE": self.token_file,
            "GH_TEST_PLAYWRIGHT": PLAYWRIGHT,
            "GH_TEST_TMP": self.daemon.dir,
            "GH_DAEMON_PID": str(self.daemon.proc.pid),
            "GH_LINKED_PLAYER": json.dumps({"user_id": linked["user_id"], "subject": subject,
                                            "guest_secret": linked["guest_secret"]}),
        })
        r = subprocess.run(["node", os.path.join(HERE, "console.test.mjs")], env=env,
                           capture_output=True, text=True, timeout=BROWSER_TIMEOUT)
        print(r.stdout, end="")
        self.assertEqual(r.returncode, 0, "browser test failed:\n%s\n%s\ndaemon log:\n%s"
                         % (r.stdout[-4000:], r.stderr[-4000:], self.daemon.log_text()[-4000:]))
        # The console's actions were audited under the token's name, and the
        # token itself is in no log line.
        log = self.daemon.log_text()
        self.assertIn("actor=console-test", log)
        for action in ("ban", "unban", "delete"):
            self.assertRegex(log, r"msg=audit actor=console-test action=%s\b" % action)
        self.assertNotIn(self.token, log)
        self.assertNotIn(self.token, r.stdout + r.stderr)


if __name__ == "__main__":
    unittest.main()
