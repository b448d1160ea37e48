"""Black-box tests of device pairing (spec §2.3, §3.2) through a PyJWT client.

Each test starts its own Twofold server (``TWOFOLD_BIN``, default
``target/debug/twofold`` under the repository root) on a free loopback port with a
fresh data directory whose ``twofold.toml`` sends

* email through a minimal SMTP server running in this process,
* voice calls through a minimal HTTP server playing Twilio's REST API, also in this
  process,
* SMS nowhere, so SMS codes land in the file outbox ``<data-dir>/outbox.jsonl``

(the listeners are in ``devices_fakes.py``; the per-test fixture is
``pingid_harness.GatewayServerTestCase``).  The client (``pingid_harness.Client``) only
knows the ``pingid.properties`` file the server writes: it signs with ``jwt.encode`` and
verifies every JWS answer with ``jwt.decode``, like Ping's Python sample.  The authenticator
app's and the HOTP hardware tokens' codes come from pyotp, an independent OATH
implementation; the YubiKey's OTPs are made in ``devices_yubico.py`` from key material the
test imports with ``twofold yubikey import`` (AES from the ``cryptography`` package).

Run with:  python3 -m unittest discover -s tests/python -v
      or:  python3 -m unittest tests/python/test_devices.py -v   (from the repository root)
Requires:  Python 3.11+, PyJWT, pyotp and cryptography
           (pip install pyjwt; pip install pyotp cryptography).  A missing package fails
           every test here with that message: nothing is skipped.
"""

import base64
import datetime
import email.parser
import email.policy
import os
import re
import sys
import time
import unittest
from pathlib import Path

_HERE = Path(__file__).resolve().parent
if str(_HERE) not in sys.path:
    # The helper modules sit beside this file; also when run as tests/python/test_devices.py.
    sys.path.insert(0, str(_HERE))

from devices_yubico import SoftYubiKey, crc16, modhex_decode, modhex_encode, plaintext
from pingid_harness import (
    GatewayServerTestCase,
    missing_packages_message,
    new_username,
    only_digits,
    optional_import,
    wrong_code,
)

pyotp = optional_import("pyotp")
SUITE = "test_devices.py"
REQUIRED_MODULES = ("jwt", "pyotp", "cryptography")  # cryptography: AES for devices_yubico

DELIVERY_WAIT_S = 10.0
MAX_SAFE_INTEGER = 2 ** 53

# Gateway settings written into twofold.toml.
MAIL_FROM = "no-reply@twofold.test"
MAIL_FROM_HEADER = "Twofold devices test <%s>" % MAIL_FROM
TWILIO_SID = "AC" + "0123456789abcdef" * 2
TWILIO_TOKEN = "tw-" + "5a" * 16
TWILIO_FROM = "+15550006789"
FAILING_TIMEOUT_S = 2
TIMEOUT_MARGIN_S = 2.5

SMS_NUMBER = "+13035551234"
VOICE_NUMBER = "+442079460000"

# The organization's stock: OATH hardware tokens (createorgtokens) and one YubiKey
# (`twofold yubikey import`).
DEFAULT_ORG = "default"
TOKEN_SERIAL = "TK-100"
RESYNC_TOKEN_SERIAL = "TK-101"
RESYNC_AHEAD = 30  # far beyond the normal HOTP look-ahead, inside a resync window
JOB_WAIT_S = 20.0
CLI_TIMEOUT_S = 60.0
YUBIKEY_SERIAL = "5550001"
YUBIKEY_PUBLIC_ID = "cccccbcdefgh"
YUBIKEY_PRIVATE_ID_HEX = "010203040506"
CREATE_OATH_DONE = {"type": "CreateOath", "status": "DONE", "duplicates": [],
                    "numberOfDuplicates": 0}

OUTBOX_KEYS = {"channel", "to", "subject", "body", "otp", "createdAt"}
SESSION_ID_RE = re.compile(r"^oacts_[A-Za-z0-9_-]+$")
UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
PAIRING_KEY_RE = re.compile(r"^[A-Z2-7]{4}( [A-Z2-7]{4})*( [A-Z2-7]{1,3})?$")
SIX_DIGITS_RE = re.compile(r"(?<!\d)\d{6}(?!\d)")
# Six single digits with something that is not a digit (". ", ", ", " ") between them.
SPOKEN_CODE_RE = re.compile(r"(?<!\d)\d(?:[^\d<>]{1,8}\d){5}(?!\d)")


# --------------------------------------------------------------------------
# Fixture: one server + its gateways per test
# --------------------------------------------------------------------------


class _ServerTestCase(GatewayServerTestCase):
    """Starts the gateways and a server in setUp and stops them all in tearDown."""

    suite_name = SUITE
    required_modules = REQUIRED_MODULES
    data_dir_prefix = "twofold-devices-"
    mail_from = MAIL_FROM_HEADER
    twilio_sid = TWILIO_SID
    twilio_token = TWILIO_TOKEN
    twilio_from = TWILIO_FROM
    gateway_timeout_secs = 10

    # ---- API helpers --------------------------------------------------------

    def assertOk(self, resp):
        self.assertEqual(resp.status, 200, resp)
        self.assertEqual(resp.error_id, 200, resp)
        self.assertTrue(resp.is_jws, "a 200 answer must be a signed JWS: %r" % resp.text)

    def assertError(self, resp, status, error_id):
        self.assertEqual((resp.status, resp.error_id), (status, error_id), resp)
        self.assertIsInstance(resp.body.get("errorMsg"), str, resp)

    def add_user(self, username, **extra):
        body = {"username": username, "activateUser": True, "role": "REGULAR"}
        body.update(extra)
        resp = self.call("adduser", body)
        self.assertOk(resp)
        return resp

    def user_details(self, username):
        resp = self.call("getuserdetails", {"userName": username, "getSameDeviceUsers": False})
        self.assertOk(resp)
        return resp.body["userDetails"]

    def assertNoPrimaryDevice(self, details):
        """A device-less user: real PingID answers deviceDetails [] (spec §3.1 allows null)."""
        self.assertIn("deviceDetails", details)
        self.assertIn(details["deviceDetails"], ([], None), details)

    def assertDeviceIdentity(self, resp):
        """sessionId/deviceId/deviceUuid of a pairing start; returns (sessionId, id, uuid)."""
        body = resp.body
        self.assertRegex(body.get("sessionId") or "", SESSION_ID_RE, resp)
        device_id = body.get("deviceId")
        self.assertIs(type(device_id), int, resp)
        self.assertTrue(0 < device_id < MAX_SAFE_INTEGER, resp)
        self.assertRegex(body.get("deviceUuid") or "", UUID_RE, resp)
        return body["sessionId"], device_id, body["deviceUuid"]

    # ---- delivery helpers -----------------------------------------------------

    def wait_outbox(self, to, timeout=DELIVERY_WAIT_S):
        deadline = time.monotonic() + timeout
        while True:
            found = [e for e in self.outbox() if e.get("to") == to]
            if found:
                return found[-1]
            if time.monotonic() >= deadline:
                self.fail("no outbox.jsonl line to %s within %.0f s: %r"
                          % (to, timeout, self.outbox()))
            time.sleep(0.05)

    # ---- the organization's stock ---------------------------------------------

    def create_org_tokens(self, rows):
        """createorgtokens, then getjobstatus until the job is done (bounded); the result."""
        resp = self.call("createorgtokens", {"tokens": rows})
        self.assertOk(resp)
        job_token = resp.body.get("jobToken")
        self.assertIsInstance(job_token, str, resp)
        self.assertTrue(job_token, resp)
        deadline = time.monotonic() + JOB_WAIT_S
        seen = []
        while True:
            status = self.call("getjobstatus", {"jobToken": job_token})
            self.assertOk(status)
            seen.append(status.body.get("status"))
            if status.body.get("status") == "done":
                return status.body.get("jobResult")
            self.assertIn(status.body.get("status"), ("pending", "in_progress"),
                          "job %s: %r" % (job_token, status))
            if time.monotonic() >= deadline:
                self.fail("job %s not done within %.0f s: statuses %r"
                          % (job_token, JOB_WAIT_S, seen))
            time.sleep(0.1)

    def add_hotp_token(self, serial, far_ahead=None):
        """Adds one HOTP token with a fresh 160-bit seed to the stock; its pyotp twin.

        With ``far_ahead``, the seed is one whose code at that counter is none of the
        codes a normal pairing accepts (counters 0..10), so that code is surely refused.
        """
        while True:
            seed = os.urandom(20)
            twin = pyotp.HOTP(base64.b32encode(seed).decode("ascii"), digits=6)
            if far_ahead is None or twin.at(far_ahead) not in {twin.at(c) for c in range(11)}:
                break
        result = self.create_org_tokens([{
            "serialNumber": serial,
            "tokenType": "HOTP",
            "secretKey": seed.hex(),
            "otpLength": "6",
        }])
        self.assertEqual(result, CREATE_OATH_DONE)
        return twin

    def start_token_pairing(self, username, serial):
        start = self.call("startofflinepairing",
                          {"username": username, "type": "TOKEN", "pairingData": serial})
        self.assertOk(start)
        self.assertEqual(start.body.get("tokenType"), "HOTP", start)
        return self.assertDeviceIdentity(start)

    def assertTokenPaired(self, finish, serial, device_id):
        self.assertOk(finish)
        self.assertEqual(finish.body.get("embeddedParameters"),
                         {"oathSerialNumber": serial, "oathTokenType": "HOTP"}, finish)
        if finish.body.get("deviceId") is not None:
            self.assertEqual(finish.body["deviceId"], device_id, finish)

    def import_yubikeys(self, keys):
        """`twofold --data-dir <dir> yubikey import --org default <csv>` beside the server."""
        csv_path = os.path.join(self.data_dir, "devices-yubikeys.csv")
        with open(csv_path, "w", encoding="utf-8") as f:
            f.write("".join(k.csv_line() + "\n" for k in keys))
        done = self.server.run_cli(["--data-dir", self.data_dir, "yubikey", "import",
                                    "--org", DEFAULT_ORG, csv_path], timeout=CLI_TIMEOUT_S)
        out = done.stdout.decode("utf-8", "replace")
        err = done.stderr.decode("utf-8", "replace")
        self.assertEqual(done.returncode, 0, "%s\nstdout: %s\nstderr: %s" % (done.args, out, err))
        self.assertIn("imported %d YubiKeys" % len(keys), out, err)
        return out


# --------------------------------------------------------------------------
# Working gateways
# --------------------------------------------------------------------------


class DevicePairingTest(_ServerTestCase):
    """Gateways that accept everything: one user pairs six devices."""

    def test_01_one_user_pairs_app_sms_email_voice_token_yubikey(self):
        username = new_username("dev")
        address = username + "@example.org"
        added = self.add_user(username, email=address)
        self.assertEqual(added.body["userDetails"]["status"], "PENDING_ACTIVATION", added)

        expected = {}  # type -> (deviceId, deviceUuid)

        # ---- 1. authenticator app ---------------------------------------------
        start = self.call("authenticatorappstartpairing",
                          {"username": username, "pairingType": "TOTP"})
        self.assertOk(start)
        session, device_id, device_uuid = self.assertDeviceIdentity(start)
        uri = start.body.get("pairingKeyUri")
        self.assertIsInstance(uri, str, start)
        self.assertTrue(uri.startswith("otpauth://totp/"), uri)
        totp = pyotp.parse_uri(uri)
        self.assertIsInstance(totp, pyotp.TOTP, uri)
        self.assertTrue(totp.issuer, "the key URI names no issuer: %s" % uri)
        self.assertEqual(totp.name, address, "account of %s should be the user's email" % uri)
        secret = totp.secret.upper().rstrip("=")
        self.assertRegex(secret, r"^[A-Z2-7]+$")
        self.assertGreaterEqual(len(secret), 16, "a TOTP secret of at least 80 bits")
        pairing_key = start.body.get("pairingKey")
        self.assertIsInstance(pairing_key, str, start)
        self.assertRegex(pairing_key, PAIRING_KEY_RE)
        grouped = " ".join(secret[i:i + 4] for i in range(0, len(secret), 4))
        self.assertEqual(pairing_key, grouped)

        finish = self.call("authenticatorappfinishpairing",
                           {"sessionId": session, "otp": totp.now()})
        self.assertOk(finish)
        if finish.body.get("deviceId") is not None:
            self.assertEqual(finish.body["deviceId"], device_id, finish)
        expected["Authenticator App"] = (device_id, device_uuid)
        self.assertEqual(self.user_details(username)["status"], "ACTIVE")

        # ---- 2. SMS, through the file outbox -------------------------------------
        start = self.call("startofflinepairing",
                          {"username": username, "type": "SMS", "pairingData": SMS_NUMBER})
        self.assertOk(start)
        session, device_id, device_uuid = self.assertDeviceIdentity(start)
        entry = self.wait_outbox(SMS_NUMBER)
        self.assertEqual(set(entry), OUTBOX_KEYS, entry)
        self.assertEqual(entry["channel"], "sms", entry)
        self.assertIsNone(entry["subject"], entry)
        otp = entry["otp"]
        self.assertIsInstance(otp, str, entry)
        self.assertRegex(otp, r"^\d{6}$")
        self.assertIn(otp, entry["body"])
        created = datetime.datetime.fromisoformat(entry["createdAt"].replace("Z", "+00:00"))
        age = abs((datetime.datetime.now(datetime.timezone.utc) - created).total_seconds())
        self.assertLess(age, 120, entry)

        finish = self.call("finalizeofflinepairing", {"sessionId": session, "otp": otp})
        self.assertOk(finish)
        expected["SMS"] = (device_id, device_uuid)

        # ---- 3. email, through the SMTP listener -----------------------------------
        start = self.call("startofflinepairing",
                          {"username": username, "type": "EMAIL", "pairingData": address})
        self.assertOk(start)
        session, device_id, device_uuid = self.assertDeviceIdentity(start)
        captured = self.smtp.wait_for_message(lambda m: address in m.rcpt_to, DELIVERY_WAIT_S)
        self.assertIsNotNone(captured, "no email to %s: %r" % (address, self.smtp.snapshot()))
        self.assertEqual(captured.mail_from, MAIL_FROM)
        self.assertEqual(captured.rcpt_to, [address])
        message = email.parser.BytesParser(policy=email.policy.default).parsebytes(captured.data)
        self.assertEqual([a.addr_spec for a in message["To"].addresses], [address])
        self.assertEqual([a.addr_spec for a in message["From"].addresses], [MAIL_FROM])
        subject = str(message["Subject"] or "")
        self.assertIn("code", subject.lower(), "Subject: %r" % subject)
        part = message.get_body(preferencelist=("plain", "html"))
        self.assertIsNotNone(part, captured.data)
        text = part.get_content()
        codes = set(SIX_DIGITS_RE.findall(text))
        self.assertEqual(len(codes), 1, "expected one 6-digit code in %r" % text)
        code = codes.pop()

        finish = self.call("finalizeofflinepairing", {"sessionId": session, "otp": code})
        self.assertOk(finish)
        expected["Email"] = (device_id, device_uuid)

        # ---- 4. voice, through the Twilio listener -----------------------------------
        start = self.call("startofflinepairing",
                          {"username": username, "type": "VOICE", "pairingData": VOICE_NUMBER})
        self.assertOk(start)
        session, device_id, device_uuid = self.assertDeviceIdentity(start)
        call = self.twilio.wait_for_request(
            lambda r: r.kind == "Calls" and r.form.get("To") == VOICE_NUMBER, DELIVERY_WAIT_S)
        self.assertIsNotNone(call, "no Calls.json POST to %s: %r"
                             % (VOICE_NUMBER, self.twilio.snapshot()))
        self.assertTrue(call.authorization_ok, "basic auth sid:token and the account sid in the path")
        self.assertEqual(call.account_sid, TWILIO_SID)
        self.assertEqual(call.form.get("From"), TWILIO_FROM, call.raw_form)
        twiml = call.form.get("Twiml")
        self.assertIsInstance(twiml, str, call.raw_form)
        self.assertIn("<Say", twiml)
        spoken = SPOKEN_CODE_RE.findall(twiml)
        self.assertTrue(spoken, "no code read digit by digit in %r" % twiml)
        codes = {only_digits(s) for s in spoken}
        self.assertEqual(len(codes), 1, "different codes in one call: %r" % twiml)
        code = codes.pop()
        self.assertNotRegex(twiml, SIX_DIGITS_RE, "the code must be read digit by digit")

        finish = self.call("finalizeofflinepairing", {"sessionId": session, "otp": code})
        self.assertOk(finish)
        expected["Voice"] = (device_id, device_uuid)

        # ---- 5. an HOTP hardware token from the organization's stock, API only -------
        hotp = self.add_hotp_token(TOKEN_SERIAL)
        session, device_id, device_uuid = self.start_token_pairing(username, TOKEN_SERIAL)
        finish = self.call("finalizeofflinepairing", {"sessionId": session, "otp": hotp.at(0)})
        self.assertTokenPaired(finish, TOKEN_SERIAL, device_id)
        expected["Hardware Token"] = (device_id, device_uuid)

        # ---- 6. a YubiKey whose key material the operator imported ---------------------
        yubikey = SoftYubiKey.random(YUBIKEY_SERIAL, YUBIKEY_PUBLIC_ID, YUBIKEY_PRIVATE_ID_HEX)
        self.import_yubikeys([yubikey])  # while the server runs
        yubikey_otp = yubikey.otp()
        self.assertTrue(yubikey_otp.startswith(YUBIKEY_PUBLIC_ID), yubikey_otp)
        self.assertEqual(len(yubikey_otp), len(YUBIKEY_PUBLIC_ID) + 32, yubikey_otp)
        paired = self.call("pairyubikey", {"username": username, "otp": yubikey_otp})
        self.assertOk(paired)
        device_id = paired.body.get("deviceId")
        self.assertIs(type(device_id), int, paired)
        self.assertTrue(0 < device_id < MAX_SAFE_INTEGER, paired)
        self.assertRegex(paired.body.get("deviceUuid") or "", UUID_RE, paired)
        expected["YubiKey"] = (device_id, paired.body["deviceUuid"])

        # ---- the user's devices ------------------------------------------------------
        details = self.user_details(username)
        self.assertEqual(details["status"], "ACTIVE", details)
        self.assertIs(details["userEnabled"], True, details)
        devices = details.get("devicesDetails")
        self.assertIsInstance(devices, list, details)
        self.assertEqual(sorted(d.get("type") for d in devices),
                         sorted(["Authenticator App", "SMS", "Email", "Voice",
                                 "Hardware Token", "YubiKey"]), devices)
        by_type = {d["type"]: d for d in devices}

        primaries = [d for d in devices if d.get("deviceRole") == "PRIMARY"]
        self.assertEqual(len(primaries), 1, devices)
        self.assertEqual(primaries[0]["type"], "Authenticator App",
                         "the first device paired is the primary one")
        for d in devices:
            if d is not primaries[0]:
                self.assertEqual(d.get("deviceRole"), "SECONDARY", d)
        self.assertIsInstance(details.get("deviceDetails"), dict, details)
        self.assertEqual(details["deviceDetails"].get("deviceId"), primaries[0]["deviceId"])

        ids = [d.get("deviceId") for d in devices]
        self.assertEqual(len(set(ids)), 6, ids)
        for kind, (device_id, device_uuid) in expected.items():
            with self.subTest(device=kind):
                d = by_type[kind]
                self.assertIs(type(d["deviceId"]), int, d)
                self.assertTrue(0 < d["deviceId"] < MAX_SAFE_INTEGER, d)
                self.assertEqual(d["deviceId"], device_id, "deviceId of the pairing start")
                self.assertEqual(d.get("deviceUuid"), device_uuid, d)
                self.assertEqual(d.get("nickname"), "%s 1" % kind, d)

        self.assertEqual(by_type["Email"].get("email"), address, by_type["Email"])
        self.assertEqual(only_digits(by_type["SMS"].get("displayID")), only_digits(SMS_NUMBER),
                         by_type["SMS"])
        self.assertEqual(only_digits(by_type["Voice"].get("displayID")), only_digits(VOICE_NUMBER),
                         by_type["Voice"])
        token = by_type["Hardware Token"]
        self.assertEqual(token.get("oathSerialNumber"), TOKEN_SERIAL, token)
        self.assertEqual(token.get("oathTokenType"), "HOTP", token)
        self.assertEqual(by_type["YubiKey"].get("displayID"), YUBIKEY_PUBLIC_ID, by_type["YubiKey"])

        # ---- each channel went where it was configured to go ----------------------------
        channels = [e.get("channel") for e in self.outbox()]
        self.assertEqual(channels, ["sms"], "only SMS is unconfigured, so only SMS is in the outbox")
        self.assertEqual([r.kind for r in self.twilio.snapshot()], ["Calls"])
        self.assertEqual(len(self.smtp.snapshot()[0]), 1)

        # ---- a second user: a drifted token, and the first YubiKey OTP replayed -------
        other = new_username("dev2")
        self.add_user(other)
        drifted = self.add_hotp_token(RESYNC_TOKEN_SERIAL, far_ahead=RESYNC_AHEAD)
        session, device_id, device_uuid = self.start_token_pairing(other, RESYNC_TOKEN_SERIAL)
        far = drifted.at(RESYNC_AHEAD)
        resp = self.call("finalizeofflinepairing", {"sessionId": session, "otp": far})
        self.assertError(resp, 400, 20513)
        resp = self.call("finalizeofflinepairing",
                         {"sessionId": session, "otp": far, "oathResync": True})
        self.assertEqual((resp.status, resp.error_id), (200, 30016), resp)
        self.assertTrue(resp.is_jws, "a 200 answer must be a signed JWS: %r" % resp.text)
        resp = self.call("finalizeofflinepairing",
                         {"sessionId": session, "otp": drifted.at(RESYNC_AHEAD + 1)})
        self.assertTokenPaired(resp, RESYNC_TOKEN_SERIAL, device_id)

        replayed = self.call("pairyubikey", {"username": other, "otp": yubikey_otp})
        self.assertTrue(replayed.is_jws, replayed.text)
        self.assertError(replayed, 400, 20532)

        other_devices = self.user_details(other)["devicesDetails"]
        self.assertEqual([(d.get("type"), d.get("deviceId"), d.get("deviceUuid"),
                           d.get("oathSerialNumber"), d.get("oathTokenType"))
                          for d in other_devices],
                         [("Hardware Token", device_id, device_uuid, RESYNC_TOKEN_SERIAL, "HOTP")],
                         other_devices)
        self.assertEqual(other_devices[0].get("deviceRole"), "PRIMARY", other_devices)

        # The first user still has the same six devices.
        after = self.user_details(username)["devicesDetails"]
        self.assertEqual(sorted((d["type"], d["deviceId"], d.get("deviceRole")) for d in after),
                         sorted((d["type"], d["deviceId"], d.get("deviceRole")) for d in devices),
                         after)

    def test_02_wrong_pairing_otp_is_20513(self):
        username = new_username("wrong")
        self.add_user(username)
        number = "+13035550142"

        start = self.call("startofflinepairing",
                          {"username": username, "type": "SMS", "pairingData": number})
        self.assertOk(start)
        session, device_id, _ = self.assertDeviceIdentity(start)
        otp = self.wait_outbox(number)["otp"]
        wrong = wrong_code(otp)
        self.assertNotEqual(wrong, otp)

        resp = self.call("finalizeofflinepairing", {"sessionId": session, "otp": wrong})
        self.assertTrue(resp.is_jws, resp.text)
        self.assertError(resp, 400, 20513)
        details = self.user_details(username)
        self.assertEqual(details["devicesDetails"], [], details)
        self.assertNoPrimaryDevice(details)
        self.assertEqual(details["status"], "PENDING_ACTIVATION", details)

        # The authenticator app's finish refuses a wrong code the same way.
        app = self.call("authenticatorappstartpairing",
                        {"username": username, "pairingType": "TOTP"})
        self.assertOk(app)
        app_session = app.body["sessionId"]
        totp = pyotp.parse_uri(app.body["pairingKeyUri"])
        now = time.time()
        near = {totp.at(now + k * totp.interval) for k in (-2, -1, 0, 1, 2)}
        bad = next(c for c in ("%06d" % n for n in range(0, 10 ** 6, 99991)) if c not in near)
        resp = self.call("authenticatorappfinishpairing", {"sessionId": app_session, "otp": bad})
        self.assertError(resp, 400, 20513)
        self.assertEqual(self.user_details(username)["devicesDetails"], [])

        # One wrong code leaves attempts: the right one still pairs the phone.
        resp = self.call("finalizeofflinepairing", {"sessionId": session, "otp": otp})
        self.assertOk(resp)
        details = self.user_details(username)
        self.assertEqual([(d["type"], d["deviceId"]) for d in details["devicesDetails"]],
                         [("SMS", device_id)], details)


# --------------------------------------------------------------------------
# The YubiKey stand-in itself (no server)
# --------------------------------------------------------------------------


class YubicoOtpGeneratorTest(unittest.TestCase):
    """The OTPs the pairing test sends are well formed, checked without the server."""

    def setUp(self):
        missing = missing_packages_message(SUITE, REQUIRED_MODULES)
        if missing:
            self.fail(missing)

    def test_crc16_check_value_and_residual(self):
        # CRC-16/X-25 (this CRC, complemented) of "123456789" is 0x906E.
        self.assertEqual((~crc16(b"123456789")) & 0xFFFF, 0x906E)
        block = plaintext(bytes.fromhex(YUBIKEY_PRIVATE_ID_HEX), 0x1234, 0xABCDEF, 7, 0x5A5A)
        self.assertEqual(len(block), 16)
        self.assertEqual(block[:14], bytes.fromhex("010203040506" "3412" "efcdab" "07" "5a5a"))
        self.assertEqual(crc16(block), 0xF0B8)
        self.assertEqual(int.from_bytes(block[14:], "little"), (~crc16(block[:14])) & 0xFFFF)

    def test_modhex(self):
        self.assertEqual(modhex_encode(bytes(range(16))),
                         "cccbcdcecfcgchcicjckclcncrctcucv")
        self.assertEqual(modhex_encode(b"\x0f\xf0"), "cvvc")
        self.assertEqual(modhex_decode("CVVC"), b"\x0f\xf0")
        self.assertEqual(modhex_decode(YUBIKEY_PUBLIC_ID), bytes.fromhex("000001023456"))

    def test_otp_decrypts_back(self):
        key = SoftYubiKey.random(YUBIKEY_SERIAL, YUBIKEY_PUBLIC_ID, YUBIKEY_PRIVATE_ID_HEX)
        first, second = key.otp(), key.otp()
        self.assertNotEqual(first, second)
        for i, otp in enumerate((first, second)):
            self.assertRegex(otp, r"^[cbdefghijklnrtuv]{44}$")
            block = key.decode(otp)
            self.assertEqual(block[:6], bytes.fromhex(YUBIKEY_PRIVATE_ID_HEX))
            self.assertEqual(int.from_bytes(block[6:8], "little"), 1)  # use counter
            self.assertEqual(block[11], i)  # session counter
            self.assertEqual(crc16(block), 0xF0B8)
        line = key.csv_line().split(",")
        self.assertEqual(line[:3], [YUBIKEY_SERIAL, YUBIKEY_PUBLIC_ID, YUBIKEY_PRIVATE_ID_HEX])
        self.assertRegex(line[3], r"^[0-9a-f]{32}$")


# --------------------------------------------------------------------------
# Failing gateways
# --------------------------------------------------------------------------


class DeliveryFailureTest(_ServerTestCase):
    """Gateways that refuse (SMTP 554 on RCPT, Twilio 500) or never answer."""

    smtp_refuses = True
    calls_mode = "error"
    gateway_timeout_secs = FAILING_TIMEOUT_S

    def start_and_time(self, body):
        t0 = time.monotonic()
        resp = self.call("startofflinepairing", body)
        return resp, time.monotonic() - t0

    def assertNoDeviceOfType(self, username, kind):
        details = self.user_details(username)
        self.assertEqual([d for d in details["devicesDetails"] if d.get("type") == kind], [],
                         details)
        self.assertEqual(details["devicesDetails"], [], details)
        self.assertNoPrimaryDevice(details)

    def assertVoiceFails(self, username):
        resp, elapsed = self.start_and_time(
            {"username": username, "type": "VOICE", "pairingData": VOICE_NUMBER})
        self.assertTrue(resp.is_jws, resp.text)
        self.assertError(resp, 400, 20558)
        self.assertLess(elapsed, FAILING_TIMEOUT_S + TIMEOUT_MARGIN_S,
                        "answer within timeout_secs = %d plus a margin" % FAILING_TIMEOUT_S)
        calls = [r for r in self.twilio.snapshot() if r.kind == "Calls"]
        self.assertGreaterEqual(len(calls), 1, "the gateway was never tried")
        self.assertLessEqual(len(calls), 3, "at most 3 attempts: %r" % calls)
        for c in calls:
            self.assertTrue(c.authorization_ok, c)
            self.assertEqual(c.form.get("To"), VOICE_NUMBER, c.raw_form)
        self.assertNoDeviceOfType(username, "Voice")
        self.assertEqual([e for e in self.outbox() if e.get("channel") == "voice"], [],
                         "a failed call must not fall back to the outbox")

    def test_01_voice_gateway_500_is_20558(self):
        username = new_username("v500")
        self.add_user(username)
        self.assertVoiceFails(username)

    def test_02_voice_gateway_silent_is_20558(self):
        self.twilio.calls_mode = "hang"
        username = new_username("vhang")
        self.add_user(username)
        self.assertVoiceFails(username)

    def test_03_email_gateway_refusal_is_20558(self):
        username = new_username("mail554")
        address = username + "@example.org"
        self.add_user(username)
        resp, elapsed = self.start_and_time(
            {"username": username, "type": "EMAIL", "pairingData": address})
        self.assertTrue(resp.is_jws, resp.text)
        self.assertError(resp, 400, 20558)
        self.assertLess(elapsed, FAILING_TIMEOUT_S + TIMEOUT_MARGIN_S)
        messages, rcpts, _ = self.smtp.snapshot()
        self.assertIn(address, rcpts, "the SMTP server was never asked")
        self.assertEqual(messages, [])
        self.assertNoDeviceOfType(username, "Email")
        self.assertEqual([e for e in self.outbox() if e.get("channel") == "email"], [])


if __name__ == "__main__":
    unittest.main(verbosity=2)
