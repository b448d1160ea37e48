"""Black-box tests of jobs and the organization report (spec §2.4, §6.12) through a PyJWT client.

Each test class starts its own Twofold server (``pingid_harness.TwofoldServer``:
``TWOFOLD_BIN``, default ``target/debug/twofold`` under the repository root) on a free
loopback port with a fresh data directory.  No ``twofold.toml`` is written, so SMS codes
land in the file outbox ``<data-dir>/outbox.jsonl``.  The client (``pingid_harness.Client``)
knows only the ``pingid.properties`` file the server writes: it signs every request with
PyJWT (HS256) and verifies every signed answer with ``jwt.decode``, like Ping's Python
sample.

``OrgReportTest`` builds an organization through the API:

* a user without devices (with an email address, so ``orgEmail`` has a value),
* a user with one SMS device (``offlinepairing``) who is ACTIVE and in bypass for the
  ``web`` service (``addservice`` + ``userbypass``, a day ahead, epoch milliseconds),
* a user with an SMS device and a YubiKey (key material imported with
  ``twofold yubikey import``; the OTP made by ``devices_yubico.SoftYubiKey``),
* a user who signed in once (``startauthentication`` -> SMS code from the outbox ->
  ``authoffline``), so ``lastTrxTime`` is set,
* a user named ``=SUM(1)``, which a spreadsheet would run as a formula,

then runs ``createjob {jobType: USER_REPORTS}``, polls ``getjobstatus`` (bounded) until
``done`` and downloads ``getorgreport`` as JSON and as CSV: HTTP 200,
``Content-Type: application/octet-stream`` exactly, the raw file (not a JWS).  The tests
check the documented 19 columns, their JSON types and values, and that the CSV says the
same thing (header row, ``yyyy/MM/dd HH:mm:ss`` UTC times, empty cells for null, a
leading ``'`` before a formula).

``ReportErrorsTest`` checks the errors on a server that never ran a report job:
``getorgreport`` -> 400/40002, ``getjobstatus`` with an unknown token -> 400/40001,
``createjob`` with another jobType -> 400/20542.

Run with:  python3 -m unittest discover -s tests/python -v
      or:  python3 -m unittest tests/python/test_reports.py -v   (from the repository root)
Requires:  Python 3.11+, PyJWT and cryptography (pip install pyjwt cryptography).  A missing
           package fails every test here with that message: nothing is skipped.
"""

import csv
import datetime
import io
import json
import os
import re
import sys
import time
import unittest
import urllib.error
import urllib.request
from pathlib import Path

_HERE = Path(__file__).resolve().parent
if str(_HERE) not in sys.path:
    # The helper modules sit beside this file; also when run as tests/python/test_reports.py.
    sys.path.insert(0, str(_HERE))

from devices_yubico import SoftYubiKey
from pingid_harness import (
    Client,
    Response,
    TwofoldServer,
    failure_count,
    missing_packages_message,
    only_digits,
    read_outbox,
)

SUITE = "test_reports.py"
REQUIRED_MODULES = ("jwt", "cryptography")  # cryptography: AES for devices_yubico

HTTP_TIMEOUT_S = 40.0
DELIVERY_WAIT_S = 10.0
JOB_WAIT_S = 30.0
TIME_SLACK_MS = 5000
DAY_MS = 24 * 3600 * 1000

DEFAULT_ORG = "default"
YUBIKEY_SERIAL = "5550001"
YUBIKEY_PUBLIC_ID = "cccccbcdefgh"
YUBIKEY_PRIVATE_ID_HEX = "010203040506"

BYPASS_NUMBER = "+13035550123"
YUBI_USER_NUMBER = "+13035550124"
SIGNED_IN_NUMBER = "+13035550125"

# The users of the report scenario.
NO_DEVICE_USER = "rpt-nodevice"
NO_DEVICE_EMAIL = "nodevice@example.org"
BYPASS_USER = "rpt-bypass"
YUBIKEY_USER = "rpt-sms-yubikey"
SIGNED_IN_USER = "rpt-signed-in"
FORMULA_USER = "=SUM(1)"

# Spec §2.4: the columns in the documented order.
COLUMNS = [
    "username", "deviceID", "status", "userCreationTime", "orgEmail", "deviceCount",
    "deviceType", "deviceRole", "devicePairingDate", "deviceModel", "osVersion",
    "appVersion", "countryCode", "phoneNumber", "yubikeySerialNumber", "deviceEmail",
    "lastTrxTime", "bypassUntil", "lastDeviceTrxTime",
]
TIME_COLUMNS = {"userCreationTime", "devicePairingDate", "lastTrxTime", "bypassUntil",
                "lastDeviceTrxTime"}
INTEGER_COLUMNS = {"deviceCount"}
STRING_COLUMNS = set(COLUMNS) - TIME_COLUMNS - INTEGER_COLUMNS
# Columns that describe the device: null on the row of a user without devices.
DEVICE_COLUMNS = ["deviceID", "deviceType", "deviceRole", "devicePairingDate", "deviceModel",
                  "osVersion", "appVersion", "countryCode", "phoneNumber",
                  "yubikeySerialNumber", "deviceEmail", "lastDeviceTrxTime"]

OCTET_STREAM = "application/octet-stream"
JOB_DONE_RESULT = {"type": "JobResult", "status": "DONE"}
CSV_TIME_RE = re.compile(r"^\d{4}/\d{2}/\d{2} \d{2}:\d{2}:\d{2}$")
JWS_RE = re.compile(r"^\s*\"?[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_=-]+\"?\s*$")
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


# --------------------------------------------------------------------------
# Raw answers: a report download is a file, not an API answer
# --------------------------------------------------------------------------


class Answer:
    """One HTTP answer as it came: status, every header, the raw bytes.

    ``pingid_harness.Response`` parses an answer as soon as it is made, which a report
    file (raw JSON or CSV) is not; here ``body``, the responseBody verified by a
    ``Response``, is only worked out when a test asks for it.
    """

    def __init__(self, client, op, status, headers, data):
        self.op = op
        self.status = status
        self.headers = headers          # an http.client.HTTPMessage (case-insensitive)
        self.data = data                # the raw body bytes
        self._client = client
        self._body = None

    @property
    def text(self):
        return self.data.decode("utf-8", "replace")

    @property
    def signed(self):
        return not self.text.lstrip().startswith("{")

    @property
    def body(self):
        if self._body is None:
            self._body = Response(self._client, self.status, self.text.strip(),
                                  self.headers, op=self.op).body
        return self._body

    @property
    def error_id(self):
        return self.body.get("errorId")

    def content_types(self):
        return self.headers.get_all("Content-Type") or []

    def __repr__(self):
        try:
            shown = self.body
        except Exception:  # not an API answer (a report file, or garbage)
            shown = self.text[:500]
        return "<%s: HTTP %s %r>" % (self.op, self.status, shown)


class RawAnswerClient(Client):
    """A ``pingid_harness.Client`` whose ``fetch`` keeps the answer raw.

    ``Client.post`` decodes the body and folds the headers into a dict (one value per
    name); the downloads are checked on their bytes and on every ``Content-Type``
    header, so ``fetch`` signs with ``Client.sign`` and sends the request itself.
    """

    def fetch(self, op, op_body):
        """Sign ``op_body`` (HS256, the sample's headers), POST it; an ``Answer``."""
        request = urllib.request.Request(
            "%s/rest/4/%s/do" % (self.idp_url, op),
            data=self.sign(op_body).encode("ascii"),
            headers={"Content-Type": "application/json"},
            method="POST")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as resp:
                return Answer(self, op, resp.status, resp.headers, resp.read())
        except urllib.error.HTTPError as err:
            return Answer(self, op, err.code, err.headers, err.read())


def now_ms():
    return int(time.time() * 1000)


def csv_time(ms):
    """The documented CSV form of an epoch-ms time: yyyy/MM/dd HH:mm:ss in UTC."""
    moment = datetime.datetime.fromtimestamp(ms // 1000, datetime.timezone.utc)
    return moment.strftime("%Y/%m/%d %H:%M:%S")


def expected_csv_cell(column, value):
    """What the CSV must hold for one JSON value of the same row (docs/api.md)."""
    if value is None:
        return ""
    if column in TIME_COLUMNS:
        return csv_time(value)
    if column in INTEGER_COLUMNS:
        return str(value)
    if value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


# --------------------------------------------------------------------------
# Fixture: one server per test class
# --------------------------------------------------------------------------


class _ServerCase(unittest.TestCase):
    maxDiff = None
    server = None
    data_dir = None
    client = None
    _had_failure = False

    @classmethod
    def setUpClass(cls):
        cls._had_failure = False
        if missing_packages_message(SUITE, REQUIRED_MODULES):
            return  # every test fails with the message (setUp)
        cls.server = TwofoldServer(data_dir_prefix="twofold-reports-")
        cls.data_dir = cls.server.data_dir
        try:
            cls.server.start()
            cls.client = RawAnswerClient(cls.server.read_properties(), timeout=HTTP_TIMEOUT_S)
        except BaseException:
            cls.server.stop()
            cls.server.cleanup(keep=True)
            raise

    @classmethod
    def tearDownClass(cls):
        if cls.server is not None:
            cls.server.stop()
            cls.server.cleanup(keep=cls._had_failure)
            cls.server = None

    def setUp(self):
        missing = missing_packages_message(SUITE, REQUIRED_MODULES)
        if missing:
            self.fail(missing)

    def run(self, result=None):
        before = failure_count(result)
        outcome = super().run(result)
        if failure_count(result) > before:
            type(self)._had_failure = True
        return outcome

    # ---- API ---------------------------------------------------------------------

    def call(self, op, body):
        return self.client.fetch(op, body)

    def assertApproved(self, answer):
        self.assertEqual((answer.status, answer.error_id), (200, 200), answer)
        self.assertTrue(answer.signed, "a 200 answer must be a signed JWS: %r" % answer.text)

    def assertRefused(self, answer, status, error_id):
        self.assertEqual((answer.status, answer.error_id), (status, error_id), answer)
        self.assertIs(type(answer.error_id), int, answer)

    def get_report(self, file_type):
        return self.call("getorgreport", {"fileType": file_type})


# --------------------------------------------------------------------------
# Errors, on a server that never ran a report job
# --------------------------------------------------------------------------


class ReportErrorsTest(_ServerCase):
    """No USER_REPORTS job is ever created on this class's server."""

    def test_getorgreport_before_any_job_is_40002(self):
        for file_type in ("JSON", "CSV"):
            with self.subTest(fileType=file_type):
                answer = self.get_report(file_type)
                self.assertRefused(answer, 400, 40002)
                self.assertNotIn(OCTET_STREAM, answer.content_types(), answer)

    def test_getjobstatus_unknown_token_is_40001(self):
        answer = self.call("getjobstatus", {"jobToken": "Ug9kRWxQ0vBd3sTn7yLc2HfA"})
        self.assertRefused(answer, 400, 40001)

    def test_createjob_other_job_type_is_20542(self):
        answer = self.call("createjob", {"jobType": "OTHER"})
        self.assertRefused(answer, 400, 20542)
        self.assertIsNone(answer.body.get("jobToken"), answer)
        # A refused job builds no report.
        self.assertRefused(self.get_report("JSON"), 400, 40002)


# --------------------------------------------------------------------------
# The report of an organization built through the API
# --------------------------------------------------------------------------


class OrgReportTest(_ServerCase):
    """One scenario (users, one USER_REPORTS job, both downloads), many checks."""

    _scenario = None
    _scenario_error = None

    def setUp(self):
        super().setUp()
        cls = type(self)
        if cls._scenario_error is not None:
            self.fail("the report scenario failed earlier: %s" % cls._scenario_error)
        if cls._scenario is None:
            try:
                cls._scenario = self.build_scenario()
            except BaseException as err:
                cls._scenario_error = "%s: %s" % (type(err).__name__, err)
                raise
        self.s = cls._scenario

    # ---- building the organization -------------------------------------------------

    def add_user(self, username, **extra):
        body = {"username": username, "activateUser": True, "role": "REGULAR"}
        body.update(extra)
        answer = self.call("adduser", body)
        self.assertApproved(answer)
        return answer

    def details(self, username):
        answer = self.call("getuserdetails", {"userName": username, "getSameDeviceUsers": False})
        self.assertApproved(answer)
        return answer.body["userDetails"]

    def pair_sms(self, username, number):
        answer = self.call("offlinepairing",
                           {"username": username, "type": "SMS", "pairingData": number})
        self.assertApproved(answer)
        device_id = answer.body.get("deviceId")
        self.assertIs(type(device_id), int, answer)
        return device_id

    def import_yubikey(self, key):
        """`twofold --data-dir <dir> yubikey import --org default <csv>` beside the server."""
        csv_path = os.path.join(self.data_dir, "reports-yubikeys.csv")
        with open(csv_path, "w", encoding="utf-8") as f:
            f.write(key.csv_line() + "\n")
        done = self.server.run_cli(["--data-dir", self.data_dir,
                                    "yubikey", "import", "--org", DEFAULT_ORG, csv_path])
        self.assertEqual(done.returncode, 0, "%s\nstdout: %s\nstderr: %s" % (
            done.args, done.stdout.decode("utf-8", "replace"),
            done.stderr.decode("utf-8", "replace")))

    def outbox(self):
        return read_outbox(self.data_dir)

    def sms_code(self, number, seen):
        """The code of the first outbox SMS to ``number`` after the first ``seen`` lines."""
        deadline = time.monotonic() + DELIVERY_WAIT_S
        while True:
            fresh = [e for e in self.outbox()[seen:]
                     if only_digits(e.get("to")) == only_digits(number)]
            if fresh:
                code = fresh[0].get("otp")
                self.assertIsInstance(code, str, fresh[0])
                return code
            if time.monotonic() >= deadline:
                self.fail("no new SMS to %s in outbox.jsonl within %.0f s: %r"
                          % (number, DELIVERY_WAIT_S, self.outbox()))
            time.sleep(0.05)

    def run_report_job(self):
        created = self.call("createjob", {"jobType": "USER_REPORTS"})
        self.assertApproved(created)
        token = created.body.get("jobToken")
        self.assertIsInstance(token, str, created)
        self.assertTrue(token, created)
        deadline = time.monotonic() + JOB_WAIT_S
        statuses = []
        while True:
            answer = self.call("getjobstatus", {"jobToken": token})
            self.assertApproved(answer)
            status = answer.body.get("status")
            statuses.append(status)
            if status == "done":
                return token, statuses, answer
            self.assertIn(status, ("pending", "in_progress"),
                          "job %s: %r" % (token, answer))
            if time.monotonic() >= deadline:
                self.fail("job %s not done within %.0f s: statuses %r"
                          % (token, JOB_WAIT_S, statuses))
            time.sleep(0.1)

    def build_scenario(self):
        s = {"started_ms": now_ms(), "devices": {}, "phones": {}}

        # A user without devices, with an email address.
        self.add_user(NO_DEVICE_USER, email=NO_DEVICE_EMAIL)

        # ACTIVE, one SMS device, in bypass for "web" until a day from now.
        self.add_user(BYPASS_USER)
        sms = self.pair_sms(BYPASS_USER, BYPASS_NUMBER)
        s["devices"][BYPASS_USER] = {sms: "SMS"}
        s["phones"][sms] = BYPASS_NUMBER
        self.assertApproved(self.call("addservice", {"userName": BYPASS_USER, "spAlias": "web"}))
        s["bypass_until"] = now_ms() + DAY_MS
        self.assertApproved(self.call("userbypass", {"userName": BYPASS_USER,
                                                     "bypassUntil": s["bypass_until"],
                                                     "spAliases": ["web"]}))
        web = [e for e in self.details(BYPASS_USER).get("spList") or []
               if e.get("spAlias") == "web"]
        self.assertEqual([(e.get("status"), e.get("bypassExpiration")) for e in web],
                         [("BYPASS", s["bypass_until"])],
                         "precondition: the user is in bypass for web")

        # An SMS device and a YubiKey.
        self.add_user(YUBIKEY_USER)
        sms = self.pair_sms(YUBIKEY_USER, YUBI_USER_NUMBER)
        s["phones"][sms] = YUBI_USER_NUMBER
        yubikey = SoftYubiKey.random(YUBIKEY_SERIAL, YUBIKEY_PUBLIC_ID, YUBIKEY_PRIVATE_ID_HEX)
        self.import_yubikey(yubikey)
        paired = self.call("pairyubikey", {"username": YUBIKEY_USER, "otp": yubikey.otp()})
        self.assertApproved(paired)
        self.assertIs(type(paired.body.get("deviceId")), int, paired)
        s["devices"][YUBIKEY_USER] = {sms: "SMS", paired.body["deviceId"]: "YubiKey"}

        # A user who signs in once with an SMS code.
        self.add_user(SIGNED_IN_USER)
        sms = self.pair_sms(SIGNED_IN_USER, SIGNED_IN_NUMBER)
        s["devices"][SIGNED_IN_USER] = {sms: "SMS"}
        s["phones"][sms] = SIGNED_IN_NUMBER
        s["signed_in_device"] = sms
        seen = len(self.outbox())
        started = self.call("startauthentication", {"spAlias": "web", "userName": SIGNED_IN_USER})
        self.assertEqual((started.status, started.error_id), (200, 30001), started)
        session = started.body.get("sessionId")
        self.assertIsInstance(session, str, started)
        code = self.sms_code(SIGNED_IN_NUMBER, seen)
        s["sign_in_from_ms"] = now_ms()
        done = self.call("authoffline", {"spAlias": "web", "userName": SIGNED_IN_USER,
                                         "otp": code, "sessionId": session})
        s["sign_in_to_ms"] = now_ms()
        self.assertApproved(done)

        # A username a spreadsheet would run as a formula.
        self.add_user(FORMULA_USER)

        s["users"] = [NO_DEVICE_USER, BYPASS_USER, YUBIKEY_USER, SIGNED_IN_USER, FORMULA_USER]
        s["devices"].setdefault(NO_DEVICE_USER, {})
        s["devices"].setdefault(FORMULA_USER, {})
        s["details"] = {u: self.details(u) for u in s["users"]}

        s["job_token"], s["job_statuses"], s["job_done"] = self.run_report_job()
        s["json_answer"] = self.get_report("JSON")
        s["csv_answer"] = self.get_report("CSV")
        s["finished_ms"] = now_ms()
        return s

    # ---- parsed reports ------------------------------------------------------------------

    def json_rows(self):
        answer = self.s["json_answer"]
        self.assertEqual(answer.status, 200, answer)
        document = json.loads(answer.data.decode("utf-8"))
        self.assertIsInstance(document, dict, answer.text[:500])
        self.assertEqual(list(document), ["data"], "JSON report is {\"data\":[...]}")
        self.assertIsInstance(document["data"], list, answer.text[:500])
        for row in document["data"]:
            self.assertIsInstance(row, dict, row)
        return document["data"]

    def csv_table(self):
        answer = self.s["csv_answer"]
        self.assertEqual(answer.status, 200, answer)
        text = answer.data.decode("utf-8")
        return list(csv.reader(io.StringIO(text, newline="")))

    def rows_by_user(self):
        by_user = {}
        for row in self.json_rows():
            by_user.setdefault(row.get("username"), []).append(row)
        return by_user

    def device_row(self, username, device_id):
        rows = [r for r in self.rows_by_user().get(username, [])
                if r.get("deviceID") == str(device_id)]
        self.assertEqual(len(rows), 1, "one row of %s / device %s: %r"
                         % (username, device_id, self.rows_by_user().get(username)))
        return rows[0]

    def only_row(self, username):
        rows = self.rows_by_user().get(username, [])
        self.assertEqual(len(rows), 1, "one row for %r: %r" % (username, rows))
        return rows[0]

    def assertTimeBetween(self, value, low_ms, high_ms, what):
        self.assertIs(type(value), int, "%s must be an epoch-ms integer: %r" % (what, value))
        self.assertGreaterEqual(value, low_ms - TIME_SLACK_MS, what)
        self.assertLessEqual(value, high_ms + TIME_SLACK_MS, what)

    # ---- the job -------------------------------------------------------------------------

    def test_job_runs_to_done(self):
        done = self.s["job_done"]
        self.assertEqual(done.body.get("status"), "done", done)
        self.assertEqual(done.body.get("jobResult"), JOB_DONE_RESULT, done)
        for status in self.s["job_statuses"][:-1]:
            self.assertIn(status, ("pending", "in_progress"), self.s["job_statuses"])

    # ---- the downloads ---------------------------------------------------------------------

    def assertRawFile(self, answer):
        self.assertEqual(answer.status, 200, answer)
        self.assertEqual(answer.content_types(), [OCTET_STREAM],
                         "Content-Type must be exactly %s" % OCTET_STREAM)
        self.assertNotRegex(answer.text, JWS_RE, "the report is the raw file, not a JWS")

    def test_json_download_is_a_raw_octet_stream(self):
        answer = self.s["json_answer"]
        self.assertRawFile(answer)
        self.assertTrue(answer.text.lstrip().startswith("{"), answer.text[:200])
        json.loads(answer.data.decode("utf-8"))

    def test_csv_download_is_a_raw_octet_stream(self):
        answer = self.s["csv_answer"]
        self.assertRawFile(answer)
        self.assertTrue(answer.text.startswith("username,"), answer.text[:200])

    # ---- JSON ----------------------------------------------------------------------------

    def test_json_has_one_row_per_user_and_device(self):
        got = sorted((r.get("username"), r.get("deviceID")) for r in self.json_rows())
        expected = []
        for user in self.s["users"]:
            devices = self.s["devices"][user]
            if devices:
                expected.extend((user, str(d)) for d in devices)
            else:
                expected.append((user, None))
        self.assertEqual(got, sorted(expected))

    def test_json_rows_have_every_column_with_its_type(self):
        for row in self.json_rows():
            with self.subTest(user=row.get("username"), device=row.get("deviceID")):
                self.assertEqual(sorted(row), sorted(COLUMNS), row)
                for column in STRING_COLUMNS:
                    self.assertIsInstance(row[column], (str, type(None)),
                                          "%s: %r" % (column, row))
                for column in TIME_COLUMNS | INTEGER_COLUMNS:
                    value = row[column]
                    self.assertTrue(value is None or type(value) is int,
                                    "%s must be an integer or null: %r" % (column, row))
                self.assertIs(type(row["deviceCount"]), int, row)
                self.assertIsInstance(row["username"], str, row)
                self.assertIsInstance(row["status"], str, row)
                self.assertIs(type(row["userCreationTime"]), int, row)

    def test_json_user_columns(self):
        for user in self.s["users"]:
            details = self.s["details"][user]
            devices = self.s["devices"][user]
            for row in self.rows_by_user().get(user, []):
                with self.subTest(user=user, device=row.get("deviceID")):
                    self.assertEqual(row["status"], details.get("status"), row)
                    self.assertEqual(row["deviceCount"], len(devices), row)
                    self.assertTimeBetween(row["userCreationTime"], self.s["started_ms"],
                                           self.s["finished_ms"], "userCreationTime")
                    if user == NO_DEVICE_USER:
                        self.assertEqual(row["orgEmail"], NO_DEVICE_EMAIL, row)
                    else:
                        self.assertIsNone(row["orgEmail"], "no email was given: %r" % row)
        for user in (BYPASS_USER, YUBIKEY_USER, SIGNED_IN_USER):
            for row in self.rows_by_user().get(user, []):
                self.assertEqual(row["status"], "ACTIVE", row)

    def test_json_user_without_devices_has_one_row_with_null_device_columns(self):
        for user in (NO_DEVICE_USER, FORMULA_USER):
            row = self.only_row(user)
            with self.subTest(user=user):
                self.assertEqual(row["deviceCount"], 0, row)
                for column in DEVICE_COLUMNS:
                    self.assertIsNone(row[column], "%s: %r" % (column, row))

    def test_json_device_columns(self):
        for user in (BYPASS_USER, YUBIKEY_USER, SIGNED_IN_USER):
            api_devices = {d.get("deviceId"): d
                           for d in self.s["details"][user].get("devicesDetails") or []}
            roles = []
            for device_id, kind in self.s["devices"][user].items():
                row = self.device_row(user, device_id)
                with self.subTest(user=user, device=device_id):
                    self.assertEqual(row["deviceType"], kind, row)
                    self.assertIn(row["deviceRole"], ("Primary", "Secondary"), row)
                    roles.append(row["deviceRole"])
                    api = api_devices.get(device_id)
                    self.assertIsNotNone(api, "getuserdetails lists device %s" % device_id)
                    self.assertEqual(row["deviceRole"], api.get("deviceRole", "").title(),
                                     "the report's role is the API's, in title case: %r / %r"
                                     % (row, api))
                    self.assertTimeBetween(row["devicePairingDate"], self.s["started_ms"],
                                           self.s["finished_ms"], "devicePairingDate")
                    self.assertIsNone(row["deviceEmail"], row)
                    if kind == "SMS":
                        number = self.s["phones"][device_id]
                        self.assertEqual(row["countryCode"], "1", row)
                        self.assertEqual(row["phoneNumber"], only_digits(number)[1:], row)
                        self.assertIsNone(row["yubikeySerialNumber"], row)
                    else:
                        self.assertEqual(row["yubikeySerialNumber"], YUBIKEY_PUBLIC_ID, row)
                        self.assertIsNone(row["countryCode"], row)
                        self.assertIsNone(row["phoneNumber"], row)
            self.assertEqual(sorted(roles).count("Primary"), 1,
                             "exactly one Primary device for %s: %r" % (user, roles))

    def test_json_bypass_user_sms_row(self):
        (device_id,) = self.s["devices"][BYPASS_USER]
        row = self.device_row(BYPASS_USER, device_id)
        self.assertEqual(row["deviceType"], "SMS", row)
        self.assertEqual(row["deviceRole"], "Primary", row)
        self.assertEqual(row["countryCode"], "1", row)
        self.assertEqual(row["phoneNumber"], "3035550123", row)
        self.assertEqual(row["status"], "ACTIVE", row)

    def test_json_yubikey_row(self):
        rows = [r for r in self.rows_by_user().get(YUBIKEY_USER, [])
                if r.get("deviceType") == "YubiKey"]
        self.assertEqual(len(rows), 1, self.rows_by_user().get(YUBIKEY_USER))
        self.assertEqual(rows[0]["yubikeySerialNumber"], "cccccbcdefgh", rows[0])
        self.assertEqual(rows[0]["deviceCount"], 2, rows[0])

    def test_json_bypass_until(self):
        for row in self.json_rows():
            with self.subTest(user=row.get("username"), device=row.get("deviceID")):
                if row["username"] == BYPASS_USER:
                    self.assertEqual(row["bypassUntil"], self.s["bypass_until"], row)
                else:
                    self.assertIsNone(row["bypassUntil"], row)

    def test_json_last_trx_time_only_for_the_user_who_signed_in(self):
        low, high = self.s["sign_in_from_ms"], self.s["sign_in_to_ms"]
        last_login = self.s["details"][SIGNED_IN_USER].get("lastLogin")
        for row in self.json_rows():
            with self.subTest(user=row.get("username"), device=row.get("deviceID")):
                if row["username"] == SIGNED_IN_USER:
                    self.assertTimeBetween(row["lastTrxTime"], low, high, "lastTrxTime")
                    self.assertEqual(row["lastTrxTime"], last_login,
                                     "lastTrxTime is getuserdetails' lastLogin: %r" % row)
                else:
                    self.assertIsNone(row["lastTrxTime"], row)

    def test_json_last_device_trx_time(self):
        row = self.device_row(SIGNED_IN_USER, self.s["signed_in_device"])
        self.assertTimeBetween(row["lastDeviceTrxTime"], self.s["sign_in_from_ms"],
                               self.s["sign_in_to_ms"], "lastDeviceTrxTime")
        # Devices paired with offlinepairing (no code) and never used to sign in.
        for user in (BYPASS_USER, YUBIKEY_USER):
            for device_id, kind in self.s["devices"][user].items():
                if kind == "SMS":
                    self.assertIsNone(self.device_row(user, device_id)["lastDeviceTrxTime"])

    def test_json_formula_username_is_not_altered(self):
        row = self.only_row(FORMULA_USER)
        self.assertEqual(row["username"], "=SUM(1)", row)

    # ---- CSV ------------------------------------------------------------------------------

    def test_csv_header_in_documented_order(self):
        table = self.csv_table()
        self.assertTrue(table, "the CSV report is empty")
        self.assertEqual(table[0], COLUMNS)

    def test_csv_has_as_many_rows_as_json(self):
        table = self.csv_table()
        self.assertEqual(len(table) - 1, len(self.json_rows()), table)
        for line in table[1:]:
            self.assertEqual(len(line), len(COLUMNS), line)

    def test_csv_rows_say_what_the_json_says(self):
        table = self.csv_table()
        header, lines = table[0], table[1:]
        self.assertEqual(header, COLUMNS)
        expected = sorted([expected_csv_cell(c, row[c]) for c in COLUMNS]
                          for row in self.json_rows())
        self.assertEqual(sorted(lines), expected)

    def test_csv_times_are_utc_seconds(self):
        table = self.csv_table()
        header, lines = table[0], table[1:]
        seen = 0
        for line in lines:
            cells = dict(zip(header, line))
            for column in TIME_COLUMNS:
                if cells.get(column):
                    seen += 1
                    self.assertRegex(cells[column], CSV_TIME_RE, "%s: %r" % (column, line))
            self.assertTrue(cells.get("userCreationTime"), line)
        self.assertGreater(seen, 0)
        # The bypass expiry we set, in the documented form.
        bypass = [dict(zip(header, line)) for line in lines if line[0] == BYPASS_USER]
        self.assertEqual([c["bypassUntil"] for c in bypass], [csv_time(self.s["bypass_until"])],
                         bypass)
        self.assertEqual([c["countryCode"] + "|" + c["phoneNumber"] for c in bypass],
                         ["1|3035550123"], bypass)

    def test_csv_formula_username_is_neutralized(self):
        table = self.csv_table()
        names = [line[0] for line in table[1:]]
        self.assertIn("'=SUM(1)", names)
        self.assertNotIn("=SUM(1)", names)

    def test_csv_empty_cells_for_unknown_values(self):
        table = self.csv_table()
        header = table[0]
        rows = [dict(zip(header, line)) for line in table[1:] if line[0] == NO_DEVICE_USER]
        self.assertEqual(len(rows), 1, rows)
        for column in DEVICE_COLUMNS + ["lastTrxTime", "bypassUntil"]:
            self.assertEqual(rows[0][column], "", "%s: %r" % (column, rows[0]))
        self.assertEqual(rows[0]["deviceCount"], "0", rows[0])
        self.assertEqual(rows[0]["orgEmail"], NO_DEVICE_EMAIL, rows[0])

    # ---- once a report exists --------------------------------------------------------------

    def test_getorgreport_other_file_type_is_20542(self):
        answer = self.get_report("XML")
        self.assertRefused(answer, 400, 20542)


if __name__ == "__main__":
    unittest.main()
