"""``twofold migrate-data``: an installation moves from SQLite to PostgreSQL and its users
can still sign in (issue 7, item 5).

A server on the embedded SQLite enrols a user with an authenticator app and starts an
authentication (an audit row); it is stopped, ``twofold migrate-data --from sqlite://...
--to postgres://...`` copies the database into a new PostgreSQL database, and a server on
PostgreSQL with the same master key answers: the user, its device and the history are
there, and the next TOTP code signs the user in.  A second copy into the now non-empty
database is refused.

Skipped (with the reason) when ``TWOFOLD_TEST_DATABASE_URL`` is not set.
"""

import os
import sys
import time
import unittest
from pathlib import Path

_HERE = Path(__file__).resolve().parent
if str(_HERE) not in sys.path:
    sys.path.insert(0, str(_HERE))

from pingid_harness import (
    HTTP_TIMEOUT_S,
    TEST_DATABASE_URL,
    Client,
    TwofoldServer,
    drop_postgres_database,
    failure_count,
    fresh_postgres_database,
    missing_packages_message,
    new_username,
    optional_import,
    psql,
)

pyotp = optional_import("pyotp")


@unittest.skipUnless(TEST_DATABASE_URL, "TWOFOLD_TEST_DATABASE_URL is not set: no PostgreSQL "
                     "to migrate to (scripts/test starts a throwaway cluster when the PostgreSQL "
                     "server binaries are installed)")
class MigrateDataTest(unittest.TestCase):
    maxDiff = None

    def setUp(self):
        missing = missing_packages_message("the migrate-data suite", ("jwt", "pyotp"))
        if missing:
            self.fail(missing)
        self.servers = []
        self.db_name, self.db_url = fresh_postgres_database()

    def tearDown(self):
        for server in self.servers:
            server.stop()

    def run(self, result=None):
        before = failure_count(result)
        outcome = super().run(result)
        keep = failure_count(result) > before
        for server in getattr(self, "servers", []):
            server.cleanup(keep=keep)
        if getattr(self, "db_name", None) and not keep:
            drop_postgres_database(self.db_name)
        return outcome

    def ok(self, answer):
        self.assertEqual((answer.status, answer.error_id), (200, 200), answer)
        return answer.body

    def test_users_devices_and_history_survive_and_sign_in(self):
        old = TwofoldServer("twofold-migrate-sqlite-", sqlite=True)
        self.servers.append(old)
        old.start()
        props = old.read_properties()
        client = Client(props, timeout=HTTP_TIMEOUT_S)
        username = new_username("moved", prefix="mig")
        self.ok(client.call("adduser", {"username": username, "activateUser": True,
                                        "role": "REGULAR", "email": "moved@example.com"}))
        start = self.ok(client.call("authenticatorappstartpairing",
                                    {"username": username, "pairingType": "TOTP"}))
        totp = pyotp.parse_uri(start["pairingKeyUri"])
        step = int(time.time()) // totp.interval
        self.ok(client.call("authenticatorappfinishpairing",
                            {"sessionId": start["sessionId"], "otp": totp.at(step * totp.interval)}))
        started = client.call("startauthentication", {"spAlias": "web", "userName": username})
        self.assertEqual(started.status, 200, started)
        before = self.ok(client.call("getuserdetails", {"userName": username,
                                                         "getSameDeviceUsers": False}))
        old.stop()

        sqlite_url = "sqlite://" + os.path.join(old.data_dir, "twofold.db")
        done = old.run_cli(["migrate-data", "--from", sqlite_url, "--to", self.db_url])
        self.assertEqual(done.returncode, 0, done)
        out = done.stdout.decode()
        for line in ("users\t1 rows", "devices\t1 rows", "orgs\t1 rows", "api_tokens\t1 rows"):
            self.assertIn(line, out, out)
        audit = int(psql(self.db_url, "SELECT COUNT(*) FROM audit WHERE username = '%s'" % username))
        self.assertGreaterEqual(audit, 1, "the history came along")

        new = TwofoldServer("twofold-migrate-pg-", database_url=self.db_url,
                            master_key_file=os.path.join(old.data_dir, "master.key"))
        self.servers.append(new)
        new.start(wait_for_properties=False)
        moved = Client(dict(props, idp_url="http://%s/pingid" % new.listen), timeout=HTTP_TIMEOUT_S)
        after = self.ok(moved.call("getuserdetails", {"userName": username,
                                                       "getSameDeviceUsers": False}))
        self.assertEqual(after["userDetails"], before["userDetails"])
        session = moved.call("startauthentication", {"spAlias": "web", "userName": username})
        self.assertEqual(session.status, 200, session)
        self.ok(moved.call("authoffline", {"spAlias": "web", "userName": username,
                                           "otp": totp.at((step + 1) * totp.interval),
                                           "sessionId": session.body["sessionId"]}))

        again = old.run_cli(["migrate-data", "--from", sqlite_url, "--to", self.db_url])
        self.assertNotEqual(again.returncode, 0, again)
        self.assertIn("not empty", again.stderr.decode(), again)


if __name__ == "__main__":
    unittest.main(verbosity=2)
