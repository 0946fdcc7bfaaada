"""The benchmark's own tools against the daemon they measure.

bench/gen-users.py fills the database of `make bench-bigdb` straight through
SQLite, with the daemon's schema and rules copied: this suite checks that the
daemon serves what it writes as its own (sampled guests log in with their
secrets, their player_name documents read back through both APIs, the usage
counters agree with a new write, check-db finds nothing), so a schema or rule
change that the generator misses fails here and not in a benchmark run."""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

import gh
from gh import BIN, Daemon

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
USERS = 300
SAMPLE = 12


@gh.sqlite_only("bench/gen-users.py writes a SQLite file")
class GenUsers(unittest.TestCase):

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="gatehouse-genusers-")
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.db = os.path.join(self.dir, "big.db")
        self.pool = os.path.join(self.dir, "big.pool")
        r = subprocess.run([sys.executable, os.path.join(ROOT, "bench", "gen-users.py"),
                            "--db", self.db, "-n", str(USERS), "--bin", BIN,
                            "--pool", self.pool, "--sample", str(SAMPLE)],
                           capture_output=True, text=True, timeout=120)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("users=%d player_data=%d " % (USERS, USERS), r.stdout)
        with open(self.pool) as f:
            self.guests = [line.rstrip("\n").split("\t")[:2] for line in f]
        self.assertEqual(len(self.guests), SAMPLE)

    def test_generated_guests_are_the_daemons_own(self):
        d = Daemon({"database_path": self.db, "rate_limit_login": 0})
        self.addCleanup(d.cleanup)
        d.start()
        for user_id, secret in self.guests:
            r = d.get("/login-as-guest?&user_id=%s&guest_secret=%s" % (user_id, secret))
            self.assertEqual(r.status, 200, r)
            token = r.json()["auth_token"]
            r = d.get("/get-player-data", headers={"Authorization": token})
            self.assertEqual(r.status, 200, r)
            j = r.json()
            self.assertEqual(j["UserID"], user_id)
            self.assertRegex(j["PlayerName"], r"^Player [0-9]+$")
            r = d.get("/player-data/player_name", headers={"Authorization": token})
            self.assertEqual(r.status, 200, r)
            self.assertEqual(r.header("etag"), '"1"')
            self.assertEqual(json.loads(r.body), j["PlayerName"])
            # The generated usage row counts that document: a second key is the second.
            r = d.request("PUT", "/player-data/extra",
                          {"Authorization": token, "Content-Type": "application/json"}, b"{}")
            self.assertEqual(r.status, 201, r)
            r = d.get("/player-data", headers={"Authorization": token})
            self.assertEqual(r.status, 200, r)
            self.assertEqual([it["key"] for it in r.json()["items"]], ["extra", "player_name"])
        # A wrong secret for a generated user is refused like any other.
        user_id, secret = self.guests[0]
        r = d.get("/login-as-guest?&user_id=%s&guest_secret=%s" % (user_id, "x" + secret[1:]))
        self.assertEqual(r.status, 401, r)
        self.assertNotIn(d.new_guest()["user_id"], [g[0] for g in self.guests])
        d.stop()
        r = d.cli("check-db")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)


if __name__ == "__main__":
    unittest.main()
