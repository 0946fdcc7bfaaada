"""Files and keys at rest (issue 14): every file gatehouse creates is
owner-only whatever the umask (database, -wal, -shm, its directory, backups),
another user cannot read them, loose modes are warned about; signing keys
encrypted at rest under key_encryption_key_file (AES-256-GCM, HKDF-SHA256),
so that no private or HMAC key can be read from the database, its WAL or a
backup; a wrong or missing key-encryption key stops start-up and changes
nothing; `keys encrypt|decrypt|rekey` move a database on and off it with the
tokens it signed still valid."""
import hashlib
import os
import shutil
import stat
import subprocess
import unittest

import gh
from gh import Daemon, db_rows

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

PREFIX = b"ghenc1:"
SUFFIXES = ("", "-wal", "-shm")
CAN_SWITCH_USER = os.geteuid() == 0 and shutil.which("runuser") is not None


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def other_user_reads(path):
    """Whether user nobody can read path (as root: runuser)."""
    r = subprocess.run(["runuser", "-u", "nobody", "--", "cat", path],
                       capture_output=True, timeout=30)
    return r.returncode == 0 and len(r.stdout) > 0


def unwrap(ikm, kid, use, blob):
    """Opens a sealed key as keywrap.h describes: an independent reading of
    the format (HKDF-SHA256, AES-256-GCM, kid and use as associated data)."""
    assert blob.startswith(PREFIX), blob[:16]
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
               info=b"gatehouse signing-key wrap v1").derive(ikm)
    aad = b"gatehouse-key-v1\0" + kid.encode() + b"\0" + use.encode() + b"\0"
    body = blob[len(PREFIX):]
    return AESGCM(key).decrypt(body[:12], body[12:], aad)


def key_rows(where):
    return db_rows(where, "SELECT kid, use, material FROM signing_keys")


def file_bytes(db):
    out = b""
    for s in SUFFIXES:
        if os.path.exists(db + s):
            with open(db + s, "rb") as f:
                out += f.read()
    return out


def digests(db):
    """The database file's digest, and its WAL's when it holds anything
    (reading rows from Python leaves an empty one)."""
    out = {}
    for s in ("", "-wal"):
        if os.path.exists(db + s) and os.path.getsize(db + s):
            with open(db + s, "rb") as f:
                out[s] = hashlib.sha256(f.read()).hexdigest()
    return out


class Umask022:
    """Runs each test (and the daemons it starts) under umask 022."""

    def setUp(self):
        self.old_umask = os.umask(0o022)
        self.daemons = []

    def tearDown(self):
        os.umask(self.old_umask)
        for d in self.daemons:
            d.cleanup()

    def daemon(self, settings=None, fresh=True):
        d = Daemon(settings, fresh=fresh)
        self.daemons.append(d)
        return d

    def open_path_to(self, d):
        """Lets other users reach the files (not read them): the test
        directory and the database's directory become 0711, as an
        operator's own directories might be, so only the files' modes
        stand between another user and the keys."""
        os.chmod(d.dir, 0o711)
        os.chmod(os.path.dirname(d.settings["database_path"]), 0o711)


@gh.sqlite_only("the modes of the database files")
class FileModes(Umask022, unittest.TestCase):

    def test_daemon_creates_owner_only_files(self):
        d = self.daemon().start()
        g = d.new_guest()
        self.assertEqual(d.get("/get-player-data",
                               headers={"Authorization": g["auth_token"]}).status, 200)
        db = d.settings["database_path"]
        self.assertEqual(mode(os.path.dirname(db)), 0o700)
        for s in SUFFIXES:
            self.assertTrue(os.path.exists(db + s), db + s)
            self.assertEqual(mode(db + s), 0o600, db + s)
        self.assertIn(b"BEGIN PRIVATE KEY", file_bytes(db))  # plain keys: modes protect them
        if CAN_SWITCH_USER:
            self.open_path_to(d)
            for s in SUFFIXES:
                self.assertFalse(other_user_reads(db + s), db + s)
            # The check itself works: a file we let others read is read.
            probe = os.path.join(os.path.dirname(db), "probe")
            with open(probe, "w") as f:
                f.write("x")
            os.chmod(probe, 0o644)
            self.assertTrue(other_user_reads(probe))
        d.stop()
        self.assertNotIn("chmod 600", d.log_text())

    def test_backup_is_owner_only(self):
        d = self.daemon().start()
        d.new_guest()
        dest = os.path.join(d.dir, "backup.db")
        r = d.cli("backup", dest)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(mode(dest), 0o600)
        self.assertTrue(db_rows(dest, "SELECT count(*) FROM signing_keys")[0][0] >= 2)
        if CAN_SWITCH_USER:
            self.open_path_to(d)
            self.assertFalse(other_user_reads(dest))
        d.stop()

    def test_loose_database_modes_are_reported(self):
        d = self.daemon().start()
        d.stop()
        db = d.settings["database_path"]
        os.chmod(db, 0o644)
        d.start()
        d.stop()
        self.assertIn("database file '%s' has mode 644" % db, d.log_text())
        self.assertIn("chmod 600 '%s'" % db, d.log_text())
        r = d.cli("check-db")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("warning: '%s' has mode 644" % db, r.stdout)
        self.assertIn("chmod 600 '%s'" % db, r.stdout)
        for s in SUFFIXES:
            if os.path.exists(db + s):
                os.chmod(db + s, 0o600)
        r = d.cli("check-db")
        self.assertNotIn("warning", r.stdout)


@gh.sqlite_only("reads the database file's bytes and changes to it")
class KeyEncryption(Umask022, unittest.TestCase):

    def kek(self, d, name="kek", data=None):
        path = os.path.join(d.dir, name)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(data if data is not None else os.urandom(32))
        with open(path, "rb") as f:
            return path, f.read()

    def assert_all_sealed(self, where, ikm):
        rows = key_rows(where)
        self.assertGreaterEqual(len(rows), 2)
        plain = []
        for kid, use, material in rows:
            self.assertTrue(bytes(material).startswith(PREFIX), kid)
            p = unwrap(ikm, kid, use, bytes(material))
            if use == "access":
                self.assertIn(b"BEGIN PRIVATE KEY", p)
            else:
                self.assertEqual(len(p), 32)
            plain.append(p)
        return plain

    def test_fresh_database_is_encrypted(self):
        d = self.daemon()
        path, ikm = self.kek(d)
        d.settings["key_encryption_key_file"] = path
        d.start()
        g = d.new_guest()
        self.assertEqual(d.post("/refresh-access-token",
                                body={"refresh_token": g["refresh_token"]}).status, 200)
        db = d.settings["database_path"]
        plain = self.assert_all_sealed(d, ikm)
        dest = os.path.join(d.dir, "backup.db")
        self.assertEqual(d.cli("backup", dest).returncode, 0)
        d.stop()
        self.assert_all_sealed(dest, ikm)
        for blob in (file_bytes(db), file_bytes(dest)):
            self.assertNotIn(b"PRIVATE KEY", blob)
            for p in plain:
                self.assertNotIn(p, blob)
        # The sealed row is bound to its kid: moved to another, it does not open.
        kid, use, material = key_rows(d)[0]
        with self.assertRaises(Exception):
            unwrap(ikm, kid + "x", use, bytes(material))

    def test_wrong_or_missing_key_stops_start_and_changes_nothing(self):
        d = self.daemon()
        path, _ = self.kek(d)
        d.settings["key_encryption_key_file"] = path
        d.start()
        d.new_guest()
        d.stop()
        db = d.settings["database_path"]
        before = digests(db)
        cases = [("wrong key", self.kek(d, "other")[0], "cannot decrypt stored key"),
                 ("missing file", os.path.join(d.dir, "nope"), "key_encryption_key_file"),
                 ("short file", self.kek(d, "short", os.urandom(16))[0], "needs 32"),
                 ("no setting", "", "key_encryption_key_file is not set")]
        for name, kek, said in cases:
            with self.subTest(name):
                d.settings["key_encryption_key_file"] = kek
                d.write_config()
                r = d.cli("serve")
                self.assertNotEqual(r.returncode, 0)
                self.assertIn(said, r.stderr)
                self.assertIn("refusing to start", r.stderr)
                self.assertEqual(digests(db), before)
                self.assertEqual(len(key_rows(d)), 2)
        d.settings["key_encryption_key_file"] = path
        d.start()
        d.new_guest()
        d.stop()

    def test_encrypt_rekey_decrypt_an_existing_database(self):
        d = self.daemon().start()
        g = d.new_guest()
        d.stop()
        db = d.settings["database_path"]
        old_plain = {kid: bytes(m) for kid, _, m in key_rows(d)}
        self.assertTrue(any(m.startswith(b"-----BEGIN PRIVATE KEY") for m in old_plain.values()))
        path, ikm = self.kek(d)

        # Without the setting, encrypt refuses and changes nothing.
        r = d.cli("keys", "encrypt")
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("key_encryption_key_file", r.stderr)
        self.assertEqual({kid: bytes(m) for kid, _, m in key_rows(d)}, old_plain)

        r = d.cli("keys", "encrypt", "--set", "key_encryption_key_file=" + path)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("encrypted 2 of 2", r.stdout)
        plain = self.assert_all_sealed(d, ikm)
        self.assertEqual(sorted(plain), sorted(old_plain.values()))
        # Twice is fine: nothing left to do.
        r = d.cli("keys", "encrypt", "--set", "key_encryption_key_file=" + path)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("encrypted 0 of 2", r.stdout)

        # Restart with the key: tokens from before still verify and refresh.
        d.settings["key_encryption_key_file"] = path
        d.start()
        self.assertEqual(d.get("/get-player-data",
                               headers={"Authorization": g["auth_token"]}).status, 200)
        r = d.post("/refresh-access-token", body={"refresh_token": g["refresh_token"]})
        self.assertEqual(r.status, 200, r)
        g2 = r.json()
        d.stop()
        self.assertNotIn("keys encrypt", d.log_text())
        for p in plain:
            self.assertNotIn(p, file_bytes(db))

        # A rotation under the key stores sealed keys too.
        r = d.cli("keys", "rotate")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(len(self.assert_all_sealed(d, ikm)), 4)

        # rekey to a new file: the old one no longer opens them.
        new_path, new_ikm = self.kek(d, "kek2")
        r = d.cli("keys", "rekey", new_path)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("re-encrypted 4 of 4", r.stdout)
        self.assert_all_sealed(d, new_ikm)
        r = d.cli("keys", "list")
        self.assertNotEqual(r.returncode, 0)
        d.settings["key_encryption_key_file"] = new_path
        d.start()
        self.assertEqual(d.get("/get-player-data",
                               headers={"Authorization": g2["auth_token"]}).status, 200)
        d.stop()

        # decrypt: plain rows again, and the daemon runs without the setting.
        r = d.cli("keys", "decrypt")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("decrypted 4 of 4", r.stdout)
        rows = key_rows(d)
        self.assertFalse(any(bytes(m).startswith(PREFIX) for _, _, m in rows))
        for kid, _, m in rows:
            if kid in old_plain:
                self.assertEqual(bytes(m), old_plain[kid])
        d.settings["key_encryption_key_file"] = ""
        d.start()
        self.assertEqual(d.get("/get-player-data",
                                headers={"Authorization": g2["auth_token"]}).status, 200)
        d.stop()

    def test_plain_keys_under_a_key_are_used_and_warned_about(self):
        d = self.daemon().start()
        g = d.new_guest()
        d.stop()
        path, _ = self.kek(d)
        d.settings["key_encryption_key_file"] = path
        d.start()
        self.assertEqual(d.get("/get-player-data",
                               headers={"Authorization": g["auth_token"]}).status, 200)
        d.stop()
        self.assertIn("run 'gatehouse keys encrypt'", d.log_text())


if __name__ == "__main__":
    unittest.main()
