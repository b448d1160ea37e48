"""Black-box tests of authentication with one-time passcodes (spec §2.1, §5.1, §5.5, §5.6).

Each test starts its own Twofold server (``TWOFOLD_BIN``, default ``target/debug/twofold``
under the repository root) on a free loopback port with a fresh data directory whose
``twofold.toml`` sends email to a minimal SMTP server and voice calls to a minimal
Twilio-like HTTP server, both running in this process (``devices_fakes.py``); SMS is not
configured, so SMS codes land in ``<data-dir>/outbox.jsonl``.  The per-test fixture is
``pingid_harness.GatewayServerTestCase``.

The client (``pingid_harness.Client``) knows only the ``pingid.properties`` file the
server writes: it signs every request with PyJWT (HS256) and verifies every signed answer
with ``jwt.decode``.

For each OTP device type a fresh user pairs one device through the API, so that device is
the user's primary one, then signs in as spec §5.1 describes::

    startauthentication {spAlias:"web", userName}  -> 200, the type's 300xx flow status
    (read the code from the gateway, or compute it)
    authoffline {spAlias:"web", userName, otp, sessionId} -> 200, errorId 200

and ``getuserdetails`` then shows ``lastLogin`` as an epoch-millisecond integer.

Codes come from where a user would read them: the SMS outbox, the SMTP capture, the
TwiML of the fake Twilio call, pyotp (TOTP for the authenticator app, HOTP for an OATH
token from the organization's stock) and ``devices_yubico.SoftYubiKey`` (Yubico OTPs
from key material imported with ``twofold yubikey import``).  A code used to finish
pairing cannot also sign in, so the TOTP sign-in uses the step after the pairing step
(inside the server's ±1 step window) and the HOTP sign-in uses counter 1.

Also covered: §5.5 (``authonline`` with ``authType:"OTP"``, as the Safeguard plugin
calls it), §5.6 (backup authentication to an email address and to a phone number given
in the call), a wrong code (400 / 20513) and a code used twice (400 / 20545).

Run with:  python3 -m unittest discover -s tests/python -v
      or:  python3 -m unittest tests/python/test_authentication.py -v   (from the repository root)
Requires:  Python 3.11+, PyJWT, pyotp and cryptography.  A missing package fails every
           server test here with that message: nothing is skipped.
"""

import base64
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
    # The helper modules sit beside this file; also when run as tests/python/test_authentication.py.
    sys.path.insert(0, str(_HERE))

from devices_yubico import SoftYubiKey
from pingid_harness import (
    GatewayServerTestCase,
    new_username,
    only_digits,
    optional_import,
    wrong_code,
)

pyotp = optional_import("pyotp")

DELIVERY_WAIT_S = 10.0
JOB_WAIT_S = 20.0
CLI_TIMEOUT_S = 60.0
TIME_SLACK_MS = 5000

MAIL_FROM = "no-reply@twofold-auth.test"
TWILIO_SID = "AC" + "fedcba9876543210" * 2
TWILIO_TOKEN = "tw-" + "c3" * 16
TWILIO_FROM = "+15550004321"
GATEWAY_TIMEOUT_S = 10

SMS_NUMBER = "+13035550111"
VOICE_NUMBER = "+442079460111"
BACKUP_EMAIL = "backup@example.org"
BACKUP_PHONE = "+15550009999"

DEFAULT_ORG = "default"
TOKEN_SERIAL = "AUTH-TK-1"
YUBIKEY_SERIAL = "7770001"
YUBIKEY_PUBLIC_ID = "ccccdefghijk"
YUBIKEY_PRIVATE_ID_HEX = "a1a2a3a4a5a6"

WRONG_OTP_MSG = "Incorrect password. Please try again."

# Flow statuses of startauthentication by the primary device's type (spec §2.1, §4.1).
FLOW_STATUS = {
    "SMS": 30001,
    "Voice": 30002,
    "YubiKey": 30004,
    "Email": 30005,
    "Hardware Token": 30012,
    "Authenticator App": 30015,
}

SIX_DIGITS_RE = re.compile(r"(?<!\d)\d{6}(?!\d)")
# Six digits read one by one, separated by something that is not a digit or a tag.
SPOKEN_DIGITS_RE = re.compile(r"(?<!\d)\d(?:[^\d<>]{1,8}\d){5}(?!\d)")


def now_ms():
    return int(time.time() * 1000)


class DeliveryMark:
    """How much each gateway had received at one moment (codes after it are new)."""

    def __init__(self, outbox, mails, calls):
        self.outbox = outbox
        self.mails = mails
        self.calls = calls


class PairedDevice:
    """A paired device and how its owner gets the next sign-in code."""

    def __init__(self, kind, device_id, next_code, stale_code=None):
        self.kind = kind
        self.device_id = device_id
        self.next_code = next_code      # callable(mark) -> code for the sign-in
        self.stale_code = stale_code    # the code that finished pairing (OATH, YubiKey)


# --------------------------------------------------------------------------
# Fixture: gateways + one server per test
# --------------------------------------------------------------------------


class _AuthServerCase(GatewayServerTestCase):
    suite_name = "test_authentication.py"
    required_modules = ("jwt", "pyotp", "cryptography")  # cryptography: AES for devices_yubico
    data_dir_prefix = "twofold-auth-"
    mail_from = "Twofold auth test <%s>" % MAIL_FROM
    twilio_sid = TWILIO_SID
    twilio_token = TWILIO_TOKEN
    twilio_from = TWILIO_FROM
    gateway_timeout_secs = GATEWAY_TIMEOUT_S

    # ---- API -------------------------------------------------------------------

    def assertApproved(self, answer):
        self.assertEqual((answer.status, answer.error_id), (200, 200), answer)
        self.assertTrue(answer.is_jws, "a 200 answer must be a signed JWS: %r" % answer.text)

    def assertRefused(self, answer, status, error_id, message=None):
        self.assertEqual((answer.status, answer.error_id), (status, error_id), answer)
        self.assertTrue(answer.is_jws, "an answer to a valid token is signed: %r" % answer.text)
        self.assertIsInstance(answer.body.get("errorMsg"), str, answer)
        if message is not None:
            self.assertEqual(answer.body["errorMsg"], message, answer)

    def new_user(self, tag, **extra):
        username = new_username(tag, prefix="auth")
        body = {"username": username, "activateUser": True, "role": "REGULAR"}
        body.update(extra)
        self.assertApproved(self.call("adduser", body))
        return username

    def details(self, username):
        answer = self.call("getuserdetails", {"userName": username, "getSameDeviceUsers": False})
        self.assertApproved(answer)
        return answer.body["userDetails"]

    # ---- gateways -------------------------------------------------------------------

    def mark(self):
        return DeliveryMark(len(self.outbox()), len(self.smtp.snapshot()[0]),
                            len(self.twilio.snapshot()))

    def sms_code(self, number, mark):
        """The code of the first outbox SMS to ``number`` written after ``mark``."""
        deadline = time.monotonic() + DELIVERY_WAIT_S
        while True:
            fresh = [e for e in self.outbox()[mark.outbox:]
                     if e.get("channel") == "sms" and only_digits(e.get("to")) == only_digits(number)]
            if fresh:
                entry = fresh[0]
                code = entry.get("otp")
                self.assertIsInstance(code, str, entry)
                self.assertRegex(code, r"^\d{6}$", entry)
                self.assertIn(code, entry.get("body") or "", entry)
                return code
            if time.monotonic() > deadline:
                self.fail("no new SMS to %s in outbox.jsonl within %.0f s: %r"
                          % (number, DELIVERY_WAIT_S, self.outbox()))
            time.sleep(0.05)

    def email_code(self, address, mark):
        """The one six-digit code of the first email to ``address`` received after ``mark``."""
        deadline = time.monotonic() + DELIVERY_WAIT_S
        while True:
            fresh = [m for m in self.smtp.snapshot()[0][mark.mails:] if address in m.rcpt_to]
            if fresh:
                break
            if time.monotonic() > deadline:
                self.fail("no new email to %s within %.0f s: %r"
                          % (address, DELIVERY_WAIT_S, self.smtp.snapshot()[0]))
            time.sleep(0.05)
        message = email.parser.BytesParser(policy=email.policy.default).parsebytes(fresh[0].data)
        self.assertEqual([a.addr_spec for a in message["To"].addresses], [address])
        part = message.get_body(preferencelist=("plain", "html"))
        self.assertIsNotNone(part, fresh[0].data)
        codes = set(SIX_DIGITS_RE.findall(part.get_content()))
        self.assertEqual(len(codes), 1, "one six-digit code expected in %r" % part.get_content())
        return codes.pop()

    def voice_code(self, number, mark):
        """The code read digit by digit in the first call to ``number`` placed after ``mark``."""
        deadline = time.monotonic() + DELIVERY_WAIT_S
        while True:
            fresh = [r for r in self.twilio.snapshot()[mark.calls:]
                     if r.kind == "Calls" and only_digits(r.form.get("To")) == only_digits(number)]
            if fresh:
                break
            if time.monotonic() > deadline:
                self.fail("no new call to %s within %.0f s: %r"
                          % (number, DELIVERY_WAIT_S, self.twilio.snapshot()))
            time.sleep(0.05)
        call = fresh[0]
        self.assertTrue(call.authorization_ok, call)
        twiml = call.form.get("Twiml") or ""
        codes = {only_digits(s) for s in SPOKEN_DIGITS_RE.findall(twiml)}
        self.assertEqual(len(codes), 1, "one code read digit by digit expected in %r" % twiml)
        return codes.pop()

    # ---- pairing (spec §2.3), one device per user ---------------------------------------

    def pair_offline(self, username, kind, data):
        mark = self.mark()
        start = self.call("startofflinepairing",
                          {"username": username, "type": kind, "pairingData": data})
        self.assertApproved(start)
        return start, mark

    def pair_sms(self, username, number=SMS_NUMBER):
        start, mark = self.pair_offline(username, "SMS", number)
        finish = self.call("finalizeofflinepairing",
                           {"sessionId": start.body["sessionId"],
                            "otp": self.sms_code(number, mark)})
        self.assertApproved(finish)
        return PairedDevice("SMS", start.body["deviceId"],
                            lambda m: self.sms_code(number, m))

    def pair_voice(self, username, number=VOICE_NUMBER):
        start, mark = self.pair_offline(username, "VOICE", number)
        finish = self.call("finalizeofflinepairing",
                           {"sessionId": start.body["sessionId"],
                            "otp": self.voice_code(number, mark)})
        self.assertApproved(finish)
        return PairedDevice("Voice", start.body["deviceId"],
                            lambda m: self.voice_code(number, m))

    def pair_email(self, username, address):
        start, mark = self.pair_offline(username, "EMAIL", address)
        finish = self.call("finalizeofflinepairing",
                           {"sessionId": start.body["sessionId"],
                            "otp": self.email_code(address, mark)})
        self.assertApproved(finish)
        return PairedDevice("Email", start.body["deviceId"],
                            lambda m: self.email_code(address, m))

    def pair_authenticator_app(self, username):
        start = self.call("authenticatorappstartpairing",
                          {"username": username, "pairingType": "TOTP"})
        self.assertApproved(start)
        totp = pyotp.parse_uri(start.body["pairingKeyUri"])
        self.assertIsInstance(totp, pyotp.TOTP, start)
        step = int(time.time()) // totp.interval
        pairing_code = totp.at(step * totp.interval)
        finish = self.call("authenticatorappfinishpairing",
                           {"sessionId": start.body["sessionId"], "otp": pairing_code})
        self.assertApproved(finish)
        # The pairing used step S; the next step S+1 is inside the server's ±1 window
        # for the next 60 s at least, and after the last accepted step.
        next_code = totp.at((step + 1) * totp.interval)
        return PairedDevice("Authenticator App", start.body["deviceId"],
                            lambda m: next_code, stale_code=pairing_code)

    def pair_hotp_token(self, username, serial=TOKEN_SERIAL):
        seed = os.urandom(20)
        hotp = pyotp.HOTP(base64.b32encode(seed).decode("ascii"), digits=6)
        created = self.call("createorgtokens", {"tokens": [{
            "serialNumber": serial, "tokenType": "HOTP",
            "secretKey": seed.hex(), "otpLength": "6"}]})
        self.assertApproved(created)
        job = created.body.get("jobToken")
        self.assertIsInstance(job, str, created)
        deadline = time.monotonic() + JOB_WAIT_S
        while True:
            status = self.call("getjobstatus", {"jobToken": job})
            self.assertApproved(status)
            if status.body.get("status") == "done":
                self.assertEqual((status.body.get("jobResult") or {}).get("status"), "DONE",
                                 status)
                break
            self.assertIn(status.body.get("status"), ("pending", "in_progress"), status)
            if time.monotonic() > deadline:
                self.fail("createorgtokens job not done within %.0f s" % JOB_WAIT_S)
            time.sleep(0.1)
        start, _ = self.pair_offline(username, "TOKEN", serial)
        finish = self.call("finalizeofflinepairing",
                           {"sessionId": start.body["sessionId"], "otp": hotp.at(0)})
        self.assertApproved(finish)
        # Pairing consumed counter 0: the next code is counter 1.
        return PairedDevice("Hardware Token", start.body["deviceId"],
                            lambda m: hotp.at(1), stale_code=hotp.at(0))

    def pair_yubikey(self, username):
        key = SoftYubiKey.random(YUBIKEY_SERIAL, YUBIKEY_PUBLIC_ID, YUBIKEY_PRIVATE_ID_HEX)
        csv_path = os.path.join(self.data_dir, "auth-yubikeys.csv")
        with open(csv_path, "w", encoding="utf-8") as f:
            f.write(key.csv_line() + "\n")
        done = self.server.run_cli(["--data-dir", self.data_dir, "yubikey", "import",
                                    "--org", DEFAULT_ORG, csv_path], timeout=CLI_TIMEOUT_S)
        self.assertEqual(done.returncode, 0, "%s\nstdout: %s\nstderr: %s" % (
            done.args, done.stdout.decode("utf-8", "replace"),
            done.stderr.decode("utf-8", "replace")))
        pairing_otp = key.otp()
        paired = self.call("pairyubikey", {"username": username, "otp": pairing_otp})
        self.assertApproved(paired)
        return PairedDevice("YubiKey", paired.body["deviceId"],
                            lambda m: key.otp(), stale_code=pairing_otp)

    def assertSolePrimary(self, username, device):
        details = self.details(username)
        devices = details.get("devicesDetails")
        self.assertEqual([(d.get("type"), d.get("deviceId"), d.get("deviceRole"))
                          for d in devices],
                         [(device.kind, device.device_id, "PRIMARY")], details)
        self.assertEqual((details.get("deviceDetails") or {}).get("deviceId"),
                         device.device_id, details)
        self.assertEqual(details.get("status"), "ACTIVE", details)
        return details

    # ---- authentication (spec §2.1) ---------------------------------------------------

    def assertStarted(self, answer, flow_status, device=None):
        """A 300xx flow answer of startauthentication/authonline; returns its sessionId."""
        self.assertEqual((answer.status, answer.error_id), (200, flow_status), answer)
        self.assertTrue(answer.is_jws, "a 200 answer must be a signed JWS: %r" % answer.text)
        body = answer.body
        session = body.get("sessionId")
        self.assertIsInstance(session, str, answer)
        self.assertTrue(session, answer)
        self.assertIsInstance(body.get("userDevices"), list, answer)
        self.assertIs(type(body.get("multipleDevicesEnabled")), bool, answer)
        self.assertIsInstance(body.get("extendedAuthenticationDetails"), dict, answer)
        if device is not None:
            self.assertIn(device.device_id, [d.get("deviceId") for d in body["userDevices"]],
                          "the paired device is among userDevices: %r" % answer)
        return session

    def start(self, username):
        return self.call("startauthentication", {"spAlias": "web", "userName": username})

    def offline(self, username, otp, session, sp_alias="web"):
        return self.call("authoffline", {"spAlias": sp_alias, "userName": username,
                                         "otp": otp, "sessionId": session})

    def assertSignedIn(self, answer, session):
        self.assertApproved(answer)
        self.assertEqual(answer.body.get("sessionId"), session,
                         "authoffline echoes the sessionId (spec §2.1): %r" % answer)

    def assertLastLoginBetween(self, username, low_ms, high_ms):
        details = self.details(username)
        last = details.get("lastLogin")
        self.assertIs(type(last), int, "lastLogin must be an epoch-ms integer: %r" % details)
        self.assertGreaterEqual(last, low_ms - TIME_SLACK_MS, details)
        self.assertLessEqual(last, high_ms + TIME_SLACK_MS, details)


# --------------------------------------------------------------------------
# §5.1 for each OTP device type
# --------------------------------------------------------------------------


class StandardAuthenticationTest(_AuthServerCase):
    """startauthentication -> code -> authoffline, one user per device type."""

    def sign_in_with_primary(self, username, device):
        self.assertSolePrimary(username, device)
        self.assertIsNone(self.details(username).get("lastLogin"),
                          "a user who never signed in has lastLogin null")

        mark = self.mark()
        answer = self.start(username)
        session = self.assertStarted(answer, FLOW_STATUS[device.kind], device)

        if device.stale_code is not None:
            # The code that finished pairing cannot also sign in.
            stale = self.offline(username, device.stale_code, session)
            self.assertEqual(stale.status, 400, stale)
            self.assertNotEqual(stale.error_id, 200, stale)

        code = device.next_code(mark)
        before = now_ms()
        done = self.offline(username, code, session)
        after = now_ms()
        self.assertSignedIn(done, session)
        self.assertLastLoginBetween(username, before, after)
        return done

    def test_sms(self):
        username = self.new_user("sms")
        self.sign_in_with_primary(username, self.pair_sms(username))

    def test_voice(self):
        username = self.new_user("voice")
        self.sign_in_with_primary(username, self.pair_voice(username))

    def test_email(self):
        username = self.new_user("email")
        address = username + "@example.org"
        self.sign_in_with_primary(username, self.pair_email(username, address))

    def test_authenticator_app(self):
        username = self.new_user("app")
        self.sign_in_with_primary(username, self.pair_authenticator_app(username))

    def test_hotp_hardware_token(self):
        username = self.new_user("token")
        done = self.sign_in_with_primary(username, self.pair_hotp_token(username))
        self.assertEqual(done.body.get("embeddedParameters"),
                         {"oathSerialNumber": TOKEN_SERIAL, "oathTokenType": "HOTP"}, done)

    def test_yubikey(self):
        username = self.new_user("yubikey")
        self.sign_in_with_primary(username, self.pair_yubikey(username))


# --------------------------------------------------------------------------
# §5.5 OTP only (Safeguard) and §5.6 backup authentication
# --------------------------------------------------------------------------


class OtpOnlyAndBackupTest(_AuthServerCase):

    def test_authonline_otp_then_authoffline(self):
        username = self.new_user("safeguard")
        device = self.pair_sms(username)
        mark = self.mark()
        answer = self.call("authonline",
                           {"spAlias": "web", "userName": username, "authType": "OTP"})
        # The primary device is SMS: the code was just texted (30001), as in §5.1.
        session = self.assertStarted(answer, FLOW_STATUS["SMS"], device)
        code = device.next_code(mark)
        before = now_ms()
        done = self.offline(username, code, session)
        self.assertSignedIn(done, session)
        self.assertLastLoginBetween(username, before, now_ms())

    def backup(self, username, device_type, device_data):
        return self.call("authonline", {
            "authType": "ONE_TIME_DEVICE", "spAlias": "rescuecode", "userName": username,
            "deviceType": device_type, "deviceData": device_data})

    def test_backup_to_email_address(self):
        username = self.new_user("backup-mail")
        self.pair_sms(username)
        mark = self.mark()
        answer = self.backup(username, "Email", BACKUP_EMAIL)
        self.assertEqual((answer.status, answer.error_id), (200, 30005), answer)
        self.assertTrue(answer.is_jws, answer.text)
        session = answer.body.get("sessionId")
        self.assertIsInstance(session, str, answer)
        self.assertTrue(session, answer)
        code = self.email_code(BACKUP_EMAIL, mark)
        self.assertEqual(self.outbox()[mark.outbox:], [],
                         "the backup code goes to the address given, not the user's phone")
        done = self.offline(username, code, session, sp_alias="rescuecode")
        self.assertSignedIn(done, session)

    def test_backup_to_phone_number(self):
        username = self.new_user("backup-sms")
        self.pair_sms(username)
        mark = self.mark()
        answer = self.backup(username, "SMS", BACKUP_PHONE)
        self.assertEqual((answer.status, answer.error_id), (200, 30001), answer)
        self.assertTrue(answer.is_jws, answer.text)
        session = answer.body.get("sessionId")
        self.assertIsInstance(session, str, answer)
        self.assertTrue(session, answer)
        code = self.sms_code(BACKUP_PHONE, mark)
        self.assertEqual([only_digits(e.get("to")) for e in self.outbox()[mark.outbox:]],
                         [only_digits(BACKUP_PHONE)],
                         "one SMS, to the number given, not to the user's paired phone")
        done = self.offline(username, code, session, sp_alias="rescuecode")
        self.assertSignedIn(done, session)


# --------------------------------------------------------------------------
# Refusals
# --------------------------------------------------------------------------


class RefusedCodeTest(_AuthServerCase):

    def test_wrong_code_is_20513_and_the_right_one_still_works(self):
        username = self.new_user("wrong")
        device = self.pair_sms(username)
        mark = self.mark()
        session = self.assertStarted(self.start(username), FLOW_STATUS["SMS"], device)
        code = device.next_code(mark)
        wrong = wrong_code(code)
        self.assertNotEqual(wrong, code)

        refused = self.offline(username, wrong, session)
        self.assertRefused(refused, 400, 20513, WRONG_OTP_MSG)
        self.assertIsNone(self.details(username).get("lastLogin"),
                          "a refused code is not a login")

        self.assertSignedIn(self.offline(username, code, session), session)

    def test_same_code_twice_is_20545(self):
        username = self.new_user("replay")
        device = self.pair_sms(username)
        mark = self.mark()
        session = self.assertStarted(self.start(username), FLOW_STATUS["SMS"], device)
        code = device.next_code(mark)

        self.assertSignedIn(self.offline(username, code, session), session)
        again = self.offline(username, code, session)
        self.assertRefused(again, 400, 20545)


if __name__ == "__main__":
    unittest.main(verbosity=2)
