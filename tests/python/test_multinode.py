"""Several Twofold nodes on one PostgreSQL database (issue 7's acceptance).

Two ``twofold serve`` processes, each with its own port and data directory but the same
database (a new one under ``TWOFOLD_TEST_DATABASE_URL``) and the same master key file,
stand for two nodes behind a load balancer.  A PyJWT client signs with the one
``pingid.properties`` and sends each request to either node:

* ``startauthentication`` on node A, ``authoffline`` on node B -> 200 (sessions live in
  the database, not in a node);
* the same valid OTP sent at the same moment to both nodes (two sessions of one user,
  one per node) -> exactly one 200, the other refused, over several rounds (the TOTP
  step is taken by one conditional UPDATE);
* a report job run by whichever node claimed it is downloadable from both nodes;
* the real companion app (``twofold-authenticator``) paired and watching through node B
  approves a push that ``authonline`` on node A holds for it -> 200 (the push lives in the
  database; node B's answer reaches node A's held request through LISTEN/NOTIFY);
* node A killed with SIGKILL in the middle of 200 enrolments + authentications spread
  over both nodes -> every user, device and audit row whose request was answered 200 is
  in the database, and node B keeps answering.

Skipped (with the reason) when ``TWOFOLD_TEST_DATABASE_URL`` is not set; ``scripts/test``
sets it to a throwaway cluster whenever the PostgreSQL server binaries are installed.
Requires PyJWT and pyotp, and ``psql`` (beside the server binaries) to read the audit.
"""

import concurrent.futures
import os
import signal
import subprocess
import tempfile
import sys
import threading
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
SUITE = "the multi-node suite"
REQUIRED = ("jwt", "pyotp")
LOAD_USERS = 200
LOAD_WORKERS = 8
KILL_AFTER = 60  # node A dies once this many users finished


@unittest.skipUnless(TEST_DATABASE_URL, "TWOFOLD_TEST_DATABASE_URL is not set: no PostgreSQL "
                     "to share between nodes (scripts/test starts a throwaway cluster when the "
                     "PostgreSQL server binaries are installed)")
class TwoNodesTest(unittest.TestCase):
    maxDiff = None

    def setUp(self):
        missing = missing_packages_message(SUITE, REQUIRED)
        if missing:
            self.fail(missing)
        self.db_name, self.db_url = fresh_postgres_database()
        self.node_a = TwofoldServer("twofold-node-a-", database_url=self.db_url)
        key = os.path.join(self.node_a.data_dir, "master.key")
        self.node_b = TwofoldServer("twofold-node-b-", database_url=self.db_url, master_key_file=key)
        try:
            # A first, so only one node bootstraps the organization and the master key.
            self.node_a.start()
            self.node_b.start(wait_for_properties=False)
        except BaseException:
            self.tearDown()  # run() keeps both data directories: the test has an error
            raise
        props = self.node_a.read_properties()
        self.a = Client(props, timeout=HTTP_TIMEOUT_S)
        self.b = Client(dict(props, idp_url="http://%s/pingid" % self.node_b.listen),
                        timeout=HTTP_TIMEOUT_S)

    def tearDown(self):
        for node in (self.node_a, self.node_b):
            node.stop()

    def run(self, result=None):
        before = failure_count(result)
        outcome = super().run(result)
        keep = failure_count(result) > before
        for node in (getattr(self, "node_a", None), getattr(self, "node_b", None)):
            if node is not None:
                node.cleanup(keep=keep)
        if getattr(self, "db_name", None) and not keep:
            drop_postgres_database(self.db_name)
        return outcome

    # ---- helpers ---------------------------------------------------------------------

    def ok(self, answer):
        self.assertEqual((answer.status, answer.error_id), (200, 200), answer)
        return answer.body

    def enrol(self, username, adder, finisher):
        """adduser + authenticator pairing (start on `adder`, finish on `finisher`);
        returns the TOTP and the step the pairing used."""
        self.ok(adder.call("adduser", {"username": username, "activateUser": True,
                                       "role": "REGULAR"}))
        start = self.ok(adder.call("authenticatorappstartpairing",
                                   {"username": username, "pairingType": "TOTP"}))
        totp = pyotp.parse_uri(start["pairingKeyUri"])
        step = int(time.time()) // totp.interval
        self.ok(finisher.call("authenticatorappfinishpairing",
                              {"sessionId": start["sessionId"], "otp": totp.at(step * totp.interval)}))
        return totp, step

    @staticmethod
    def start(client, username):
        return client.call("startauthentication", {"spAlias": "web", "userName": username})

    @staticmethod
    def offline(client, username, otp, session):
        return client.call("authoffline", {"spAlias": "web", "userName": username, "otp": otp,
                                           "sessionId": session})

    # ---- tests -----------------------------------------------------------------------

    def test_start_on_a_finish_on_b(self):
        username = new_username("ab", prefix="mn")
        totp, step = self.enrol(username, self.a, self.b)
        started = self.start(self.a, username)
        self.assertEqual(started.status, 200, started)
        session = started.body["sessionId"]
        done = self.offline(self.b, username, totp.at((step + 1) * totp.interval), session)
        self.ok(done)
        self.assertEqual(done.body.get("sessionId"), session, done)
        # Node A sees the login node B recorded.
        details = self.ok(self.a.call("getuserdetails", {"userName": username,
                                                          "getSameDeviceUsers": False}))
        self.assertIs(type(details["userDetails"].get("lastLogin")), int, details)

    def test_same_otp_on_both_nodes_is_accepted_once(self):
        for round_no in range(5):
            username = new_username("race%d" % round_no, prefix="mn")
            totp, step = self.enrol(username, self.a, self.a)
            code = totp.at((step + 1) * totp.interval)
            sessions = [self.start(c, username).body["sessionId"] for c in (self.a, self.b)]
            barrier = threading.Barrier(2)

            def send(client, session):
                barrier.wait()
                return self.offline(client, username, code, session)

            with concurrent.futures.ThreadPoolExecutor(2) as pool:
                answers = list(pool.map(send, (self.a, self.b), sessions))
            outcome = sorted((a.status, a.error_id) for a in answers)
            self.assertEqual(outcome[0], (200, 200), answers)
            self.assertEqual(outcome[1][0], 400, answers)
            self.assertNotEqual(outcome[1][1], 200, answers)

    def test_a_push_started_on_a_is_approved_through_b(self):
        binary = Path(os.environ.get("TWOFOLD_AUTHENTICATOR_BIN")
                      or _HERE.parent.parent / "target" / "debug" / "twofold-authenticator")
        self.assertTrue(binary.exists(), "build it first: cargo build -p twofold-authenticator")
        keys = tempfile.mkdtemp(prefix="twofold-mn-authenticator-")
        key_file = os.path.join(keys, "key.json")
        node_b_url = "http://%s" % self.node_b.listen
        username = new_username("push", prefix="mn")
        added = self.ok(self.a.call("adduser", {"userName": username, "activateUser": True}))
        paired = subprocess.run([str(binary), "--key-file", key_file, "pair", "--server", node_b_url,
                                 "--code", added["activationCode"]],
                                stdin=subprocess.DEVNULL, capture_output=True, timeout=60)
        self.assertEqual(paired.returncode, 0, paired.stderr.decode() + paired.stdout.decode())
        watcher = subprocess.Popen([str(binary), "--key-file", key_file, "watch", "--auto", "approve",
                                    "--count", "1"],
                                   stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT)
        try:
            time.sleep(0.5)  # its long-poll reaches node B
            started = time.monotonic()
            held = self.a.call("authonline", {"spAlias": "web", "userName": username,
                                              "authType": "CONFIRM"})
            waited = time.monotonic() - started
            self.ok(held)
            self.assertIn("extendedOnlineDetails", held.body)
            out = watcher.communicate(timeout=30)[0].decode()
            self.assertEqual(watcher.returncode, 0, out)
            # Woken by node B's NOTIFY, not only by node A's own periodic re-read.
            print("  push started on A, approved through B: answered in %.2f s" % waited)
        finally:
            if watcher.poll() is None:
                watcher.kill()
                watcher.wait(timeout=10)

    def test_report_job_built_on_one_node_is_served_by_both(self):
        username = new_username("report", prefix="mn")
        self.ok(self.a.call("adduser", {"username": username, "activateUser": True,
                                        "role": "REGULAR"}))
        token = self.ok(self.a.call("createjob", {"jobType": "USER_REPORTS"}))["jobToken"]
        deadline = time.monotonic() + 30
        while True:  # whichever node's worker claims the job, both see its status
            status = self.ok(self.b.call("getjobstatus", {"jobToken": token}))["status"]
            if status == "done":
                break
            self.assertIn(status, ("pending", "in_progress"))
            self.assertLess(time.monotonic(), deadline, "job not done in 30 s")
            time.sleep(0.1)
        for client in (self.a, self.b):
            status, text, _ = client.post("getorgreport", client.sign({"fileType": "CSV"}))
            self.assertEqual(status, 200, text)
            self.assertIn(username, text)

    def test_sigkill_of_one_node_loses_no_committed_row(self):
        clients = (self.a, self.b)
        results = {}  # username -> list of completed steps ("user", "device", "login")
        finished = [0]
        lock = threading.Lock()
        killed = threading.Event()

        def run(i):
            username = new_username("load%03d" % i, prefix="mn")
            done = []
            results[username] = done
            def call(k, op, body):
                # Spread over both nodes; a request that cannot reach its node (or loses
                # it mid-way) goes to the other one, as a load balancer would send it.
                try:
                    return clients[(i + k) % 2].call(op, body)
                except OSError:
                    return self.b.call(op, body)

            try:
                if call(0, "adduser", {"username": username, "activateUser": True,
                                            "role": "REGULAR"}).status != 200:
                    return
                done.append("user")
                start = call(1, "authenticatorappstartpairing",
                                     {"username": username, "pairingType": "TOTP"})
                if start.status != 200:
                    return
                totp = pyotp.parse_uri(start.body["pairingKeyUri"])
                step = int(time.time()) // totp.interval
                finish = call(0, "authenticatorappfinishpairing",
                                      {"sessionId": start.body["sessionId"],
                                       "otp": totp.at(step * totp.interval)})
                if finish.status != 200:
                    return
                done.append("device")
                started = call(1, "startauthentication", {"spAlias": "web", "userName": username})
                if started.status != 200:
                    return
                answer = call(0, "authoffline", {"spAlias": "web", "userName": username,
                                                 "otp": totp.at((step + 1) * totp.interval),
                                                 "sessionId": started.body["sessionId"]})
                if answer.status == 200:
                    done.append("login")
            except OSError:
                return  # node B failed too: nothing is promised for this user
            finally:
                with lock:
                    finished[0] += 1
                    if finished[0] == KILL_AFTER and not killed.is_set():
                        killed.set()
                        os.kill(self.node_a.proc.pid, signal.SIGKILL)

        with concurrent.futures.ThreadPoolExecutor(LOAD_WORKERS) as pool:
            list(pool.map(run, range(LOAD_USERS)))
        self.assertTrue(killed.is_set())
        self.node_a.proc.wait(timeout=10)
        self.assertEqual(self.node_a.proc.returncode, -signal.SIGKILL)

        logged_in = [u for u, d in results.items() if "login" in d]
        paired = [u for u, d in results.items() if "device" in d]
        added = [u for u, d in results.items() if "user" in d]
        # Only the users in flight when node A died may be incomplete: node B carried on.
        self.assertGreaterEqual(len(logged_in), LOAD_USERS - 2 * LOAD_WORKERS,
                                "node B kept answering after the kill")

        def rows(sql):
            return set(filter(None, psql(self.db_url, sql).splitlines()))

        users = rows("SELECT username FROM users")
        devices = rows("SELECT u.username FROM devices d JOIN users u ON u.id = d.user_id")
        audited = rows("SELECT username FROM audit WHERE op = 'authoffline' AND error_id = 200")
        sys.stderr.write("\n  load: %d users, %d added, %d paired, %d signed in; node A killed after %d\n"
                         % (LOAD_USERS, len(added), len(paired), len(logged_in), KILL_AFTER))
        self.assertEqual(sorted(set(added) - users), [], "committed users lost")
        self.assertEqual(sorted(set(paired) - devices), [], "committed devices lost")
        self.assertEqual(sorted(set(logged_in) - audited), [], "committed audit rows lost")

        # The surviving node keeps answering, including for users node A created.
        for username in logged_in[:5]:
            details = self.ok(self.b.call("getuserdetails", {"userName": username,
                                                             "getSameDeviceUsers": False}))
            self.assertEqual(details["userDetails"]["status"], "ACTIVE", details)
        fresh = new_username("after", prefix="mn")
        self.enrol(fresh, self.b, self.b)


if __name__ == "__main__":
    unittest.main(verbosity=2)
