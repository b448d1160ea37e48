"""Push authentication end to end with the real binaries (issue 5 acceptance).

A real ``twofold`` server (``TWOFOLD_BIN``) and the real companion app
``twofold-authenticator`` (``TWOFOLD_AUTHENTICATOR_BIN``, default
``target/debug/twofold-authenticator``) talk over TCP; the PingID side is the PyJWT client
of ``pingid_harness``.  The companion pairs with the activation code ``adduser`` returns
(or with the QRRedirection link), then ``watch --auto approve|deny|ignore`` answers the
pushes that ``authonline {spAlias: web, userName, authType: CONFIRM}`` sends:

    approve -> 200 (with extendedOnlineDetails), deny -> 400 / 20516,
    ignore  -> 400 / 20522 after the push timeout (set to 3 s for the test).

Also: ``startauthentication {async: true}`` -> 30010 + numberForMatching, then
``authstatus`` until it is not 30010 (200 with the right number, 20585 with a wrong one);
the app's OTP (``twofold-authenticator otp``) accepted by ``authoffline``; the key file's
mode 0600.

Run with:  python3 -m unittest tests/python/test_push.py -v   (from the repository root)
"""

import base64
import os
import stat
import subprocess
import tempfile
import time
import unittest
from pathlib import Path

from pingid_harness import (REPO_ROOT, TwofoldServer, jwt, missing_packages_message,
                            new_username)

PUSH_TIMEOUT_S = 3


def authenticator_binary():
    path = os.environ.get("TWOFOLD_AUTHENTICATOR_BIN")
    if path:
        return Path(path)
    return REPO_ROOT / "target" / "debug" / "twofold-authenticator"


class PushTest(unittest.TestCase):
    def setUp(self):
        message = missing_packages_message("test_push", ["jwt"])
        if message:
            self.fail(message)
        self.assertTrue(authenticator_binary().exists(),
                        "build it first: cargo build -p twofold-authenticator")
        self.server = TwofoldServer(data_dir_prefix="twofold-push-")
        self.server.start()
        self.addCleanup(self._cleanup)
        self.client = self.server.client(timeout=60)
        self.base = "http://%s" % self.server.listen
        self.keys = tempfile.mkdtemp(prefix="twofold-authenticator-")
        self.key_file = os.path.join(self.keys, "key.json")
        self.watchers = []
        self.org_set("push_timeout_secs=%d" % PUSH_TIMEOUT_S, "reachability_secs=5")

    def _cleanup(self):
        for proc in self.watchers:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=10)
        self.server.stop()
        failed = any(err for _, err in getattr(self._outcome, "errors", []) if err)
        self.server.cleanup(keep=failed)

    def org_set(self, *pairs):
        done = self.server.run_cli(["--data-dir", self.server.data_dir, "org", "set", "default"] + list(pairs))
        self.assertEqual(done.returncode, 0, done.stderr.decode())

    def app(self, *args, timeout=60):
        return subprocess.run(
            [str(authenticator_binary()), "--key-file", self.key_file] + list(args),
            stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout)

    def watch(self, *args):
        proc = subprocess.Popen(
            [str(authenticator_binary()), "--key-file", self.key_file, "watch"] + list(args),
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        self.watchers.append(proc)
        time.sleep(0.5)  # let its long-poll reach the server
        return proc

    def new_paired_user(self, **pair_args):
        name = new_username("push")
        added = self.client.call("adduser", {"userName": name, "activateUser": True})
        self.assertEqual(added.error_id, 200, added.body)
        code = added.body["activationCode"]
        args = ["pair", "--server", self.base, "--code", code]
        for k, v in pair_args.items():
            args += ["--" + k, v]
        done = self.app(*args)
        self.assertEqual(done.returncode, 0, done.stderr.decode() + done.stdout.decode())
        status = self.client.call("pairingstatus", {"activationCode": code})
        self.assertEqual(status.body["pairingStatus"], "SUCCESS")
        return name

    def confirm(self, name):
        return self.client.call("authonline", {"spAlias": "web", "userName": name,
                                               "authType": "CONFIRM",
                                               "formParameters": {"sp_name": "Payroll"}})

    def test_approve_deny_and_ignore(self):
        name = self.new_paired_user()
        mode = stat.S_IMODE(os.stat(self.key_file).st_mode)
        self.assertEqual(mode, 0o600)
        details = self.client.call("getuserdetails", {"userName": name}).body["userDetails"]
        self.assertEqual(details["status"], "ACTIVE")
        self.assertEqual(details["deviceDetails"]["type"], "Android")
        self.assertIs(details["deviceDetails"]["pushEnabled"], True)

        watcher = self.watch("--auto", "approve", "--count", "1")
        reply = self.confirm(name)
        self.assertEqual((reply.status, reply.error_id), (200, 200), reply.body)
        self.assertEqual(reply.body["extendedOnlineDetails"]["deviceType"], "Android")
        out = watcher.communicate(timeout=30)[0].decode()
        self.assertIn("from Payroll", out)
        self.assertIn("approved", out)

        watcher = self.watch("--auto", "deny", "--count", "1")
        reply = self.confirm(name)
        self.assertEqual((reply.status, reply.error_id), (400, 20516), reply.body)
        self.assertEqual(reply.body["errorMsg"], "Login rejected by the user.")
        watcher.communicate(timeout=30)

        watcher = self.watch("--auto", "ignore", "--count", "1")
        started = time.monotonic()
        reply = self.confirm(name)
        waited = time.monotonic() - started
        self.assertEqual((reply.status, reply.error_id), (400, 20522), reply.body)
        self.assertGreaterEqual(waited, PUSH_TIMEOUT_S - 0.5)
        watcher.communicate(timeout=30)

    def test_async_authstatus_and_number_matching(self):
        self.org_set("number_matching=true")
        name = self.new_paired_user()
        for right in (True, False):
            start = self.client.call("startauthentication",
                                     {"spAlias": "web", "userName": name, "async": True})
            self.assertEqual(start.error_id, 30010, start.body)
            number = start.body["extendedAuthenticationDetails"]["numberForMatching"]
            self.assertIsInstance(number, int)
            pick = number if right else (number % 89) + 11
            self.assertTrue(right or pick != number)
            watcher = self.watch("--auto", "approve", "--number", str(pick), "--count", "1")
            session = start.body["sessionId"]
            deadline = time.monotonic() + 20
            while True:
                status = self.client.call("authstatus", {"sessionId": session})
                if status.error_id != 30010 or time.monotonic() > deadline:
                    break
                time.sleep(0.3)
            expected = (200, 200) if right else (400, 20585)
            self.assertEqual((status.status, status.error_id), expected, status.body)
            watcher.communicate(timeout=30)

    def test_qr_link_pairing_and_the_app_otp(self):
        name = new_username("qr")
        added = self.client.call("adduser", {"userName": name, "activateUser": True})
        code = added.body["activationCode"]
        link = "%s/pingid/QRRedirection?%s" % (
            self.base, base64.b64encode(("act_code=%s" % code).encode()).decode())
        done = self.app("pair", link, "--no-push")
        self.assertEqual(done.returncode, 0, done.stderr.decode())
        start = self.client.call("startauthentication", {"spAlias": "web", "userName": name})
        self.assertEqual(start.error_id, 30003, start.body)
        otp = self.app("otp").stdout.decode().strip()
        self.assertRegex(otp, r"^\d{6}$")
        finish = self.client.call("authoffline", {"spAlias": "web", "userName": name, "otp": otp,
                                                  "sessionId": start.body["sessionId"]})
        self.assertEqual(finish.error_id, 200, finish.body)
        status = self.app("status")
        self.assertIn(name, status.stdout.decode())
        self.assertIn("push off", status.stdout.decode())


if __name__ == "__main__":
    unittest.main()
