"""Black-box tests of device pairing (spec §2.3, §3.2) through a PyJWT client.

Each test starts its own Twofold server (``TWOFOLD_BIN``, default
``target/debug/twofold`` under the repository root) on a free loopback port with a
fresh data directory whose ``twofold.toml`` sends

* email through a minimal SMTP server running in this process,
* voice calls through a minimal HTTP server playing Twilio's REST API, also in this
  process,
* SMS nowhere, so SMS codes land in the file outbox ``<data-dir>/outbox.jsonl``

(the listeners are in ``devices_fakes.py``).  The client only knows the
``pingid.properties`` file the server writes: it signs with ``jwt.encode`` and verifies
every JWS answer with ``jwt.decode``, like Ping's Python sample.  The authenticator
app's codes come from pyotp, an independent TOTP implementation.

Run with:  python3 -m unittest discover -s tests/python -v
Requires:  Python 3.11+, PyJWT and pyotp (pip install pyjwt pyotp).
"""

import base64
import datetime
import email.parser
import email.policy
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.error
import urllib.request
import uuid
import warnings
from pathlib import Path

import jwt
import pyotp

from devices_fakes import FakeSmtpServer, FakeTwilio

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_BIN = REPO_ROOT / "target" / "debug" / "twofold"
READY_TIMEOUT_S = 20.0
HTTP_TIMEOUT_S = 40.0
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

OUTBOX_KEYS = {"channel", "to", "subject", "body", "otp", "createdAt"}
SESSION_ID_RE = re.compile(r"^oacts_[A-Za-z0-9_-]+$")
UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
PAIRING_KEY_RE = re.compile(r"^[A-Z2-7]{4}( [A-Z2-7]{4})*( [A-Z2-7]{1,3})?$")
SIX_DIGITS_RE = re.compile(r"(?<!\d)\d{6}(?!\d)")
# Six single digits with something that is not a digit (". ", ", ", " ") between them.
SPOKEN_CODE_RE = re.compile(r"(?<!\d)\d(?:[^\d<>]{1,8}\d){5}(?!\d)")


# --------------------------------------------------------------------------
# Client side: what Ping's Python sample does
# --------------------------------------------------------------------------


def read_properties(path):
    props = {}
    with open(path, "r", encoding="utf-8", newline="") as f:
        for line in f.read().split("\n"):
            if not line or line.startswith("#"):
                continue
            name, value = line.split("=", 1)
            props[name] = value
    return props


def utc_timestamp():
    now = datetime.datetime.now(datetime.timezone.utc)
    return now.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


class Client:
    """A PingID API client that knows only one properties file."""

    def __init__(self, props):
        self.token = props["token"]
        self.org_alias = props["org_alias"]
        self.idp_url = props["idp_url"]
        self.key = base64.urlsafe_b64decode(props["use_base64_key"])

    def call(self, op, op_body):
        payload = {
            "reqHeader": {
                "locale": "en",
                "orgAlias": self.org_alias,
                "secretKey": self.token,
                "timestamp": utc_timestamp(),
                "version": "4.9.17",
            },
            "reqBody": op_body,
        }
        text = jwt.encode(payload, self.key, algorithm="HS256",
                          headers={"orgAlias": self.org_alias, "token": self.token})
        request = urllib.request.Request(
            self.idp_url + "/rest/4/" + op + "/do",
            data=text.encode("utf-8"),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT_S) as resp:
                status, body = resp.status, resp.read().decode("utf-8")
        except urllib.error.HTTPError as err:
            status, body = err.code, err.read().decode("utf-8")
        return Response(self, op, status, body)


class Response:
    def __init__(self, client, op, status, text):
        self.op = op
        self.status = status
        self.text = text
        self.is_jws = not text.lstrip().startswith("{")
        if self.is_jws:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                self.payload = jwt.decode(text, client.key, algorithms=["HS256"])
        else:
            self.payload = json.loads(text)
        self.body = self.payload["responseBody"]

    @property
    def error_id(self):
        return self.body.get("errorId")

    def __repr__(self):
        return "Response(%s, status=%r, body=%r)" % (self.op, self.status, self.body)


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def new_username(tag):
    return "py-%s-%s" % (tag, uuid.uuid4().hex[:10])


def toml_string(s):
    return json.dumps(s)  # a JSON string literal is a valid TOML basic string here


def delivery_toml(smtp_port, twilio_base_url, timeout_secs):
    return "\n".join([
        "[delivery.default.email]",
        "host = %s" % toml_string("127.0.0.1"),
        "port = %d" % smtp_port,
        'tls = "none"',
        "from = %s" % toml_string(MAIL_FROM_HEADER),
        "timeout_secs = %d" % timeout_secs,
        "",
        "[delivery.default.voice]",
        'kind = "twilio"',
        "base_url = %s" % toml_string(twilio_base_url),
        "account_sid = %s" % toml_string(TWILIO_SID),
        "auth_token = %s" % toml_string(TWILIO_TOKEN),
        "from = %s" % toml_string(TWILIO_FROM),
        "timeout_secs = %d" % timeout_secs,
        "",
    ])


def digits_of(s):
    return re.sub(r"\D", "", s or "")


# --------------------------------------------------------------------------
# Fixture: one server + its gateways per test
# --------------------------------------------------------------------------


class _ServerTestCase(unittest.TestCase):
    """Starts the gateways and a server in setUp and stops them all in tearDown."""

    maxDiff = None
    smtp_refuses = False
    calls_mode = "ok"
    timeout_secs = 10

    def setUp(self):
        self.proc = None
        self.log_file = None
        self.smtp = None
        self.twilio = None
        self.data_dir = tempfile.mkdtemp(prefix="twofold-devices-")
        try:
            self.smtp = FakeSmtpServer(refuse_rcpt=self.smtp_refuses).start()
            self.twilio = FakeTwilio(TWILIO_SID, TWILIO_TOKEN, calls_mode=self.calls_mode).start()
            with open(os.path.join(self.data_dir, "twofold.toml"), "w", encoding="utf-8") as f:
                f.write(delivery_toml(self.smtp.port, self.twilio.base_url, self.timeout_secs))
            self._start_server()
        except BaseException:
            self.tearDown()
            self._cleanup_dir(keep=True)
            raise

    def _start_server(self):
        binary = Path(os.environ.get("TWOFOLD_BIN", str(DEFAULT_BIN)))
        if not binary.is_absolute():
            binary = REPO_ROOT / binary
        if not binary.exists():
            raise RuntimeError(
                "server binary %s not found: build it with "
                "`cargo build -p twofold-server` or set TWOFOLD_BIN" % binary)
        self.listen = "127.0.0.1:%d" % free_port()
        self.log_path = os.path.join(self.data_dir, "server.log")
        self.log_file = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            [str(binary), "--listen", self.listen, "--data-dir", self.data_dir],
            cwd=str(REPO_ROOT),
            stdout=self.log_file,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        url = "http://%s/readyz" % self.listen
        props_path = os.path.join(self.data_dir, "pingid.properties")
        deadline = time.monotonic() + READY_TIMEOUT_S
        last_error = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("server exited early with code %s" % self.proc.returncode)
            try:
                with urllib.request.urlopen(url, timeout=2) as resp:
                    if resp.status == 200 and os.path.exists(props_path):
                        self.client = Client(read_properties(props_path))
                        return
            except (urllib.error.URLError, OSError) as err:
                last_error = err
            time.sleep(0.1)
        raise RuntimeError("server not ready within %.0f s (last error: %r)"
                           % (READY_TIMEOUT_S, last_error))

    def tearDown(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        if self.log_file is not None:
            self.log_file.close()
            self.log_file = None
        if self.twilio is not None:
            self.twilio.stop()
            self.twilio = None
        if self.smtp is not None:
            self.smtp.stop()
            self.smtp = None

    def run(self, result=None):
        before = len(result.failures) + len(result.errors) if result is not None else 0
        outcome = super().run(result)
        failed = result is not None and len(result.failures) + len(result.errors) > before
        self._cleanup_dir(keep=failed)
        return outcome

    def _cleanup_dir(self, keep):
        data_dir = getattr(self, "data_dir", None)
        if data_dir is None or not os.path.isdir(data_dir):
            return
        if keep:
            log = os.path.join(data_dir, "server.log")
            output = ""
            if os.path.exists(log):
                with open(log, "rb") as f:
                    output = f.read().decode("utf-8", "replace")
            sys.stderr.write(
                "\n----- twofold server output (data dir %s kept) -----\n%s"
                "----- end of server output -----\n" % (data_dir, output))
        else:
            shutil.rmtree(data_dir, ignore_errors=True)

    # ---- API helpers --------------------------------------------------------

    def call(self, op, body):
        return self.client.call(op, body)

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

    def outbox_entries(self):
        path = os.path.join(self.data_dir, "outbox.jsonl")
        if not os.path.exists(path):
            return []
        with open(path, "r", encoding="utf-8") as f:
            text = f.read()
        entries = []
        for line in text.splitlines():
            if line.strip():
                entries.append(json.loads(line))
        return entries

    def wait_outbox(self, to, timeout=DELIVERY_WAIT_S):
        deadline = time.monotonic() + timeout
        while True:
            found = [e for e in self.outbox_entries() if e.get("to") == to]
            if found:
                return found[-1]
            if time.monotonic() >= deadline:
                self.fail("no outbox.jsonl line to %s within %.0f s: %r"
                          % (to, timeout, self.outbox_entries()))
            time.sleep(0.05)

    def wrong_code(self, code):
        """A code of the same length that differs from ``code`` in every digit."""
        return "".join(str((int(c) + 5) % 10) for c in code)


# --------------------------------------------------------------------------
# Working gateways
# --------------------------------------------------------------------------


class DevicePairingTest(_ServerTestCase):
    """Gateways that accept everything: one user pairs four devices."""

    def test_01_one_user_pairs_app_sms_email_voice(self):
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
        codes = {digits_of(s) for s in spoken}
        self.assertEqual(len(codes), 1, "different codes in one call: %r" % twiml)
        code = codes.pop()
        self.assertNotRegex(twiml, SIX_DIGITS_RE, "the code must be read digit by digit")

        finish = self.call("finalizeofflinepairing", {"sessionId": session, "otp": code})
        self.assertOk(finish)
        expected["Voice"] = (device_id, device_uuid)

        # ---- the user's devices ------------------------------------------------------
        details = self.user_details(username)
        self.assertEqual(details["status"], "ACTIVE", details)
        self.assertIs(details["userEnabled"], True, details)
        devices = details.get("devicesDetails")
        self.assertIsInstance(devices, list, details)
        self.assertEqual(sorted(d.get("type") for d in devices),
                         sorted(["Authenticator App", "SMS", "Email", "Voice"]), devices)
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
        self.assertEqual(len(set(ids)), 4, ids)
        for kind, (device_id, device_uuid) in expected.items():
            with self.subTest(device=kind):
                d = by_type[kind]
                self.assertIs(type(d["deviceId"]), int, d)
                self.assertTrue(0 < d["deviceId"] < MAX_SAFE_INTEGER, d)
                self.assertEqual(d["deviceId"], device_id, "deviceId of the pairing start")
                self.assertEqual(d.get("deviceUuid"), device_uuid, d)
                self.assertEqual(d.get("nickname"), "%s 1" % kind, d)

        self.assertEqual(by_type["Email"].get("email"), address, by_type["Email"])
        self.assertEqual(digits_of(by_type["SMS"].get("displayID")), digits_of(SMS_NUMBER),
                         by_type["SMS"])
        self.assertEqual(digits_of(by_type["Voice"].get("displayID")), digits_of(VOICE_NUMBER),
                         by_type["Voice"])

        # ---- each channel went where it was configured to go ----------------------------
        channels = [e.get("channel") for e in self.outbox_entries()]
        self.assertEqual(channels, ["sms"], "only SMS is unconfigured, so only SMS is in the outbox")
        self.assertEqual([r.kind for r in self.twilio.snapshot()], ["Calls"])
        self.assertEqual(len(self.smtp.snapshot()[0]), 1)

    def test_02_wrong_pairing_otp_is_20513(self):
        username = new_username("wrong")
        self.add_user(username)
        number = "+13035550142"

        start = self.call("startofflinepairing",
                          {"username": username, "type": "SMS", "pairingData": number})
        self.assertOk(start)
        session, device_id, _ = self.assertDeviceIdentity(start)
        otp = self.wait_outbox(number)["otp"]
        wrong = self.wrong_code(otp)
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
# Failing gateways
# --------------------------------------------------------------------------


class DeliveryFailureTest(_ServerTestCase):
    """Gateways that refuse (SMTP 554 on RCPT, Twilio 500) or never answer."""

    smtp_refuses = True
    calls_mode = "error"
    timeout_secs = FAILING_TIMEOUT_S

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
        self.assertEqual([e for e in self.outbox_entries() if e.get("channel") == "voice"], [],
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
        self.assertEqual([e for e in self.outbox_entries() if e.get("channel") == "email"], [])


if __name__ == "__main__":
    unittest.main(verbosity=2)
