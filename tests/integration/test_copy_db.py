"""`gatehouse copy-db --from FILE --to DATABASE`: moving an existing SQLite
deployment into a new database (README "Running many nodes"). A daemon makes
guests, sessions (one logged out), a ban, documents (bytes as sent, member
order and white space kept), and a platform identity planted in the table;
the copy prints counts equal to the source's tables, and a daemon on the
copy serves every one of them: old access tokens verify (the keys came too),
old refresh tokens refresh, the logged-out session stays ended, the ban
holds, documents come back byte for byte at the same versions, and new
sessions get ids after the copied ones. A second copy into the now non-empty
target is refused and changes nothing; a missing source is an error.

The target is a new SQLite file here; with GH_TEST_DATABASE_URL (a
PostgreSQL role allowed to create databases) the same checks run against a
fresh PostgreSQL database as well."""
import os
import shutil
import subprocess
import tempfile
import unittest

import gh
from gh import Daemon, jwt_parts
import pgutil

# The copy serves the same tokens only under the same issuer (tests pick ports).
ISSUER = {"issuer_url": "https://auth.example.test"}
DOC = b'{ "z": 1,  "a": [1, 2.50, "\\u00e9"] }'


def authorized(d, token):
    return d.get("/get-player-data", headers={"Authorization": token}).status


def refresh(d, token):
    return d.post("/refresh-access-token", body={"refresh_token": token})


class CopyDb(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="gatehouse-copydb-")
        # The source is SQLite whatever the suite's back end.
        src = cls.src = Daemon(dict(ISSUER, database_path=os.path.join(cls.tmp, "src", "g.db")))
        src.start()
        cls.guests = [src.new_guest() for _ in range(3)]
        a, b, c = cls.guests
        hdr = {"Authorization": a["auth_token"], "Content-Type": "application/json"}
        for key in ("save", "settings"):
            r = src.request("PUT", src.path("/player-data/" + key), headers=hdr, body=DOC)
            assert r.status == 201, r
        r = src.request("PUT", src.path("/player-data/save"), headers=hdr, body=DOC)
        assert r.status == 200, r
        cls.versions = {"save": r.json()["version"]}
        # b logs out (an ended session), c is banned.
        r = src.post("/logout", body={"refresh_token": b["refresh_token"]})
        assert r.status == 200, r
        r = src.cli("user", "ban", c["user_id"])
        assert r.returncode == 0, r.stderr
        # a's second session, and a Steam identity for a.
        cls.second = refresh(src, a["refresh_token"]).json()
        src.stop()
        gh.db_write(src, "INSERT INTO identities (provider, subject, user_id, created_at) "
                    "VALUES ('steam', '76561190000000001', ?, 1800000000)", (a["user_id"],))
        cls.src_db = src.settings["database_path"]
        cls.counts = {t: gh.db_rows(cls.src_db, "SELECT count(*) FROM " + t)[0][0]
                      for t in ("users", "identities", "sessions", "signing_keys",
                                "player_data")}

    @classmethod
    def tearDownClass(cls):
        cls.src.cleanup()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def copy(self, to, settings=None):
        s = {"database_path": os.path.join(self.tmp, "unused.db")}
        s.update(settings or {})
        args = [gh.BIN, "copy-db", "--from", self.src_db, "--to", to]
        for k, v in s.items():
            args += ["--set", "%s=%s" % (k, v)]
        return subprocess.run(args, capture_output=True, text=True, timeout=120)

    def check_copy(self, to, node_settings):
        r = self.copy(to, node_settings.get("copy_settings"))
        self.assertEqual(r.returncode, 0, r.stderr)
        c = self.counts
        self.assertIn("users %d, identities %d, sessions %d, signing keys %d, documents %d "
                      "(counts verified)" % (c["users"], c["identities"], c["sessions"],
                                             c["signing_keys"], c["player_data"]), r.stdout)
        d = node_settings["daemon"]()
        try:
            d.start()
            a, b, c_ = self.guests
            # Old access tokens verify under the copied keys; no new key was made.
            self.assertEqual(authorized(d, self.second["auth_token"]), 200)
            kids = {k["kid"] for k in d.get("/.well-known/jwks.json").json()["keys"]}
            self.assertIn(jwt_parts(a["auth_token"])[0]["kid"], kids)
            # The live session refreshes; the logged-out one stays ended; the ban holds.
            r = refresh(d, self.second["refresh_token"])
            self.assertEqual(r.status, 200, r)
            self.assertEqual(refresh(d, b["refresh_token"]).status, 401)
            self.assertEqual(refresh(d, c_["refresh_token"]).status, 403)
            # Documents byte for byte, at their versions.
            hdr = {"Authorization": r.json()["auth_token"]}
            g = d.get("/player-data/save", headers=hdr)
            self.assertEqual((g.status, g.body), (200, DOC))
            self.assertEqual(g.header("ETag"), '"%d"' % self.versions["save"])
            # The identity came along: a's account lists it.
            acc = d.get("/get-user", headers=hdr)
            self.assertEqual(acc.status, 200, acc)
            self.assertEqual(acc.json().get("steam_id"), "76561190000000001")
            # New sessions follow the copied ones.
            new = d.new_guest()
            self.assertGreater(jwt_parts(new["refresh_token"])[1]["sid"],
                               jwt_parts(self.second["refresh_token"])[1]["sid"])
            d.stop()
        finally:
            d.cleanup()
        # A second copy into it is refused, and leaves it as it was.
        r = self.copy(to, node_settings.get("copy_settings"))
        self.assertEqual(r.returncode, 1, r.stdout)
        self.assertIn("not empty", r.stderr)

    def test_into_a_new_sqlite_file(self):
        to = os.path.join(self.tmp, "copy", "gatehouse.db")
        self.check_copy(to, {"daemon": lambda: Daemon(dict(ISSUER, database_path=to), fresh=True)})
        # the copy plus the one guest made on it
        self.assertEqual(gh.db_rows(to, "SELECT count(*) FROM users")[0][0],
                         self.counts["users"] + 1)

    def test_into_postgresql(self):
        pg = pgutil.fresh_database(self)   # skips without GH_TEST_DATABASE_URL
        self.check_copy(pg.url, {"daemon": lambda: pg.node(ISSUER),
                                 "copy_settings": pg.password_settings()})
        r = self.copy(pg.url, pg.password_settings())
        self.assertNotIn(pg.password, r.stdout + r.stderr)

    def test_refusals(self):
        r = self.copy(os.path.join(self.tmp, "never.db"))
        self.assertEqual(r.returncode, 0, r.stderr)
        # a source that is not there; no --from
        r = subprocess.run([gh.BIN, "copy-db", "--from", os.path.join(self.tmp, "nope.db"),
                            "--to", os.path.join(self.tmp, "x.db")],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 1)
        self.assertFalse(os.path.exists(os.path.join(self.tmp, "x.db")))
        r = subprocess.run([gh.BIN, "copy-db", "--to", os.path.join(self.tmp, "y.db")],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 2)
        self.assertIn("usage: gatehouse copy-db", r.stderr)


if __name__ == "__main__":
    unittest.main()
