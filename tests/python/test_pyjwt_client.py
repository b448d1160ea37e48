"""Black-box tests of the Twofold server through a PyJWT client.

The client half of this file behaves like Ping Identity's Python sample
client: it knows nothing but the ``pingid.properties`` file (parsed line by
line with ``split('=', 1)``), decodes ``use_base64_key`` with
``base64.urlsafe_b64decode``, signs requests with ``jwt.encode`` and verifies
every JWS response with ``jwt.decode``.  Requests go out with urllib.

The suite starts the server itself (``TWOFOLD_BIN``, default
``target/debug/twofold`` under the repository root) on a free loopback port
with a fresh data directory, and stops it at the end.

Run with:  python3 -m unittest discover -s tests/python -v
Requires:  Python 3.11+, PyJWT (pip install pyjwt).
"""

import base64
import datetime
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.error
import urllib.request
import uuid
import warnings
from pathlib import Path

import jwt

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_BIN = REPO_ROOT / "target" / "debug" / "twofold"
READY_TIMEOUT_S = 20.0
HTTP_TIMEOUT_S = 30.0

PROPERTY_KEYS = {
    "use_base64_key",
    "use_signature",
    "token",
    "idp_url",
    "org_alias",
    "admin_url",
}

# Messages of the PingID error catalog that a user of these calls sees.
MSG_USER_DOES_NOT_EXIST = "User does not exist."
MSG_USER_EXISTS = "User already exists. Username should be unique within the organization."
MSG_USER_NOT_ACTIVE = "The user must be active for this operation."
MSG_NOT_AUTHORIZED = "You are not authorized for this request."
MSG_BAD_VALUES = "The input parameters have incorrect values."

UNIQUE_MSG_ID_RE = re.compile(r"^webs_[A-Za-z0-9_-]{43}$")
ACTIVATION_CODE_RE = re.compile(r"^[0-9]{12}$")


# --------------------------------------------------------------------------
# Client side: what Ping's Python sample does
# --------------------------------------------------------------------------


def parse_properties(text):
    """Parse a pingid.properties text the way the Python sample does."""
    props = {}
    for line in text.split("\n"):
        line = line.rstrip("\n")
        if not line or line.startswith("#"):
            continue
        name, value = line.split("=", 1)
        props[name] = value
    return props


def read_properties(path):
    with open(path, "r", encoding="utf-8", newline="") as f:
        return parse_properties(f.read())


def utc_timestamp():
    """The documented reqHeader timestamp: yyyy-MM-dd HH:mm:ss.SSS in UTC."""
    now = datetime.datetime.now(datetime.timezone.utc)
    return now.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


class SlashEscapingEncoder(json.JSONEncoder):
    """Writes '/' as '\\/' like .NET's JavaScriptSerializer (and PHP)."""

    def encode(self, o):
        return super().encode(o).replace("/", "\\/")


class Client:
    """A PingID API client that only knows one properties file."""

    def __init__(self, props):
        self.props = props
        self.token = props["token"]
        self.org_alias = props["org_alias"]
        self.idp_url = props["idp_url"]
        self.key = base64.urlsafe_b64decode(props["use_base64_key"])

    def req_header(self, **overrides):
        header = {
            "locale": "en",
            "orgAlias": self.org_alias,
            "secretKey": self.token,
            "timestamp": utc_timestamp(),
            "version": "4.9.17",
        }
        for name, value in overrides.items():
            if value is _OMIT:
                header.pop(name, None)
            else:
                header[name] = value
        return header

    def sign(self, op_body, *, alg="HS256", key=None, jws_headers=None,
             req_header=None, json_encoder=None):
        payload = {
            "reqHeader": req_header if req_header is not None else self.req_header(),
            "reqBody": op_body,
        }
        if jws_headers is None:
            jws_headers = {"orgAlias": self.org_alias, "token": self.token}
        with warnings.catch_warnings():
            # PyJWT warns that a 32-byte key is short for HS384/HS512; the
            # devices-management sample signs like that anyway.
            warnings.simplefilter("ignore")
            return jwt.encode(
                payload,
                self.key if key is None else key,
                algorithm=alg,
                headers=jws_headers,
                json_encoder=json_encoder,
            )

    def post(self, op, body_text):
        url = self.idp_url + "/rest/4/" + op + "/do"
        request = urllib.request.Request(
            url,
            data=body_text.encode("utf-8"),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT_S) as resp:
                return resp.status, resp.read().decode("utf-8"), dict(resp.headers)
        except urllib.error.HTTPError as err:
            return err.code, err.read().decode("utf-8"), dict(err.headers)

    def call(self, op, op_body, *, alg="HS256", **sign_args):
        """Sign, post and verify.  Returns a Response."""
        text = self.sign(op_body, alg=alg, **sign_args)
        status, body, headers = self.post(op, text)
        return Response(self, status, body, headers, alg)


class Response:
    def __init__(self, client, status, text, headers, alg):
        self.status = status
        self.text = text
        self.headers = headers
        self.is_jws = not text.lstrip().startswith("{")
        if self.is_jws:
            # Every JWS response must verify with the client's key and the
            # algorithm of the request (the Python sample pins the algorithm).
            self.jws_header = jwt.get_unverified_header(text)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # short-key warning for HS384/HS512
                self.payload = jwt.decode(text, client.key, algorithms=[alg])
        else:
            self.jws_header = None
            self.payload = json.loads(text)
        self.body = self.payload["responseBody"]

    @property
    def error_id(self):
        return self.body["errorId"]

    @property
    def error_msg(self):
        return self.body["errorMsg"]

    def __repr__(self):
        return "Response(status=%r, body=%r)" % (self.status, self.body)


_OMIT = object()


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def new_username(tag):
    return "py-%s-%s" % (tag, uuid.uuid4().hex[:10])


# --------------------------------------------------------------------------
# The suite
# --------------------------------------------------------------------------


class PyJwtClientTest(unittest.TestCase):
    maxDiff = None
    _had_failure = False
    proc = None

    # ---- server lifecycle -------------------------------------------------

    @classmethod
    def setUpClass(cls):
        cls.bin = Path(os.environ.get("TWOFOLD_BIN", str(DEFAULT_BIN)))
        if not cls.bin.is_absolute():
            cls.bin = REPO_ROOT / cls.bin
        if not cls.bin.exists():
            raise RuntimeError(
                "server binary %s not found: build it with "
                "`cargo build -p twofold-server` or set TWOFOLD_BIN" % cls.bin
            )
        cls.data_dir = tempfile.mkdtemp(prefix="twofold-pyjwt-")
        cls.port = free_port()
        cls.listen = "127.0.0.1:%d" % cls.port
        cls.log_path = os.path.join(cls.data_dir, "server.log")
        cls.log_file = open(cls.log_path, "wb")
        cls.proc = subprocess.Popen(
            [str(cls.bin), "--listen", cls.listen, "--data-dir", cls.data_dir],
            cwd=str(REPO_ROOT),
            stdout=cls.log_file,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        try:
            cls._wait_ready()
            cls.props_path = os.path.join(cls.data_dir, "pingid.properties")
            cls.props = read_properties(cls.props_path)
            cls.client = Client(cls.props)
        except BaseException:
            cls._stop_server(print_log=True)
            raise

    @classmethod
    def _wait_ready(cls):
        url = "http://%s/readyz" % cls.listen
        deadline = time.monotonic() + READY_TIMEOUT_S
        last_error = None
        while time.monotonic() < deadline:
            if cls.proc.poll() is not None:
                raise RuntimeError("server exited early with code %s" % cls.proc.returncode)
            try:
                with urllib.request.urlopen(url, timeout=2) as resp:
                    if resp.status == 200 and os.path.exists(
                        os.path.join(cls.data_dir, "pingid.properties")
                    ):
                        return
            except (urllib.error.URLError, OSError) as err:
                last_error = err
            time.sleep(0.1)
        raise RuntimeError(
            "server not ready within %.0f s (last error: %r)" % (READY_TIMEOUT_S, last_error)
        )

    @classmethod
    def _stop_server(cls, print_log):
        if cls.proc is not None and cls.proc.poll() is None:
            cls.proc.terminate()
            try:
                cls.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                cls.proc.kill()
                cls.proc.wait(timeout=10)
        cls.log_file.close()
        if print_log:
            with open(cls.log_path, "rb") as f:
                output = f.read().decode("utf-8", "replace")
            sys.stderr.write(
                "\n----- twofold server output (data dir %s) -----\n%s"
                "----- end of server output -----\n" % (cls.data_dir, output)
            )
        else:
            shutil.rmtree(cls.data_dir, ignore_errors=True)

    @classmethod
    def tearDownClass(cls):
        cls._stop_server(print_log=cls._had_failure)

    def run(self, result=None):
        before = len(result.failures) + len(result.errors) if result is not None else 0
        outcome = super().run(result)
        if result is not None and len(result.failures) + len(result.errors) > before:
            type(self)._had_failure = True
        return outcome

    # ---- helpers ------------------------------------------------------------

    def add_user(self, username, client=None, **extra):
        body = {"username": username, "activateUser": True, "role": "REGULAR"}
        body.update(extra)
        return (client or self.client).call("adduser", body)

    def get_user(self, username, **extra):
        body = {"userName": username, "getSameDeviceUsers": False}
        body.update(extra)
        return self.client.call("getuserdetails", body)

    def assertOk(self, resp):
        self.assertEqual(resp.status, 200, resp)
        self.assertTrue(resp.is_jws, resp.text)
        self.assertIs(type(resp.error_id), int, resp)
        self.assertEqual(resp.error_id, 200, resp)

    def assertError(self, resp, http_status, error_id, error_msg=None):
        self.assertEqual(resp.status, http_status, resp)
        self.assertIs(type(resp.error_id), int, resp)
        self.assertEqual(resp.error_id, error_id, resp)
        if error_msg is not None:
            self.assertEqual(resp.error_msg, error_msg, resp)

    def assertAddedPendingActivation(self, resp):
        self.assertOk(resp)
        code = resp.body["activationCode"]
        self.assertIsInstance(code, str, resp)
        self.assertRegex(code, ACTIVATION_CODE_RE)
        details = resp.body["userDetails"]
        self.assertEqual(details["status"], "PENDING_ACTIVATION", resp)
        self.assertIs(details["userEnabled"], False, resp)

    # ---- 1. the properties file -------------------------------------------

    def test_01_properties_file(self):
        with open(self.props_path, "rb") as f:
            raw = f.read()
        self.assertNotIn(b"\r", raw, "properties file must use LF line endings only")
        self.assertNotIn(b"\\", raw, "properties file must contain no backslash escapes")
        self.assertEqual(set(self.props), PROPERTY_KEYS)

        key_text = self.props["use_base64_key"]
        self.assertNotIn("+", key_text)
        self.assertNotIn("/", key_text)
        standard = base64.b64decode(key_text, validate=True)
        urlsafe = base64.urlsafe_b64decode(key_text)
        self.assertEqual(len(standard), 32)
        self.assertEqual(len(urlsafe), 32)
        self.assertEqual(standard, urlsafe)
        self.assertEqual(self.props["use_signature"], "true")
        self.assertTrue(self.props["idp_url"].startswith("http://" + self.listen), self.props)

    # ---- 2. adduser with the client variants --------------------------------

    def test_02_adduser_jws_header_variants(self):
        c = self.client
        variants = {
            "orgAlias": {"orgAlias": c.org_alias, "token": c.token},
            "org_alias": {"org_alias": c.org_alias, "token": c.token},
        }
        for name, headers in variants.items():
            with self.subTest(header=name):
                username = new_username("hdr")
                text = c.sign(
                    {"username": username, "activateUser": True, "role": "REGULAR"},
                    jws_headers=headers,
                )
                sent = jwt.get_unverified_header(text)
                self.assertEqual(sent.get("typ"), "JWT")  # PyJWT adds it
                self.assertIn(name, sent)
                status, body, headers_ = c.post("adduser", text)
                self.assertAddedPendingActivation(Response(c, status, body, headers_, "HS256"))

    def test_02_adduser_timestamp_and_version_variants(self):
        c = self.client
        variants = [
            ("space-utc", {"timestamp": "2024-01-02 03:04:05.678"}, None),
            ("iso-z", {"timestamp": "2024-01-02T03:04:05.678Z"}, None),
            # .NET JavaScriptSerializer writes "\/Date(1704164645678)\/" on the wire.
            ("dotnet-date", {"timestamp": "/Date(1704164645678)/"}, SlashEscapingEncoder),
            ("no-timestamp", {"timestamp": _OMIT}, None),
            ("numeric-version", {"version": 4.9}, None),
        ]
        for name, overrides, encoder in variants:
            with self.subTest(variant=name):
                username = new_username("ts")
                text = c.sign(
                    {"username": username, "activateUser": True, "role": "REGULAR"},
                    req_header=c.req_header(**overrides),
                    json_encoder=encoder,
                )
                if encoder is SlashEscapingEncoder:
                    payload_json = base64.urlsafe_b64decode(text.split(".")[1] + "==")
                    self.assertIn(b'"\\/Date(1704164645678)\\/"', payload_json)
                status, body, headers = c.post("adduser", text)
                self.assertAddedPendingActivation(Response(c, status, body, headers, "HS256"))

    # ---- 3. getuserdetails shape ---------------------------------------------

    def test_03_getuserdetails_shape(self):
        username = new_username("shape")
        self.assertAddedPendingActivation(
            self.add_user(username, fname="Ada", lname="Lovelace", email="ada@example.org")
        )

        resp = self.get_user(username.upper(), clientData="abc")
        self.assertOk(resp)
        body = resp.body
        self.assertRegex(body["uniqueMsgId"], UNIQUE_MSG_ID_RE)
        self.assertEqual(body["clientData"], "abc")
        self.assertEqual(body["sameDeviceUsersDetails"], [])

        d = body["userDetails"]
        self.assertIsInstance(d["userName"], str)
        self.assertEqual(d["userName"].lower(), username.lower())
        self.assertIs(type(d["userId"]), int)
        for field in ("fname", "lname", "email"):
            self.assertIn(field, d)
            self.assertTrue(d[field] is None or isinstance(d[field], str), (field, d[field]))
        self.assertEqual(d["fname"], "Ada")
        self.assertEqual(d["lname"], "Lovelace")
        self.assertEqual(d["email"], "ada@example.org")
        self.assertEqual(d["role"], "REGULAR")
        self.assertIsInstance(d["status"], str)
        self.assertIs(type(d["userEnabled"]), bool)
        self.assertIs(type(d["userInBypass"]), bool)
        self.assertIn("bypassExpiration", d)
        self.assertIsNone(d["bypassExpiration"])
        self.assertIn("lastLogin", d)
        self.assertIsNone(d["lastLogin"])
        self.assertEqual(d["spList"], [])
        self.assertEqual(d["deviceDetails"], [])
        self.assertEqual(d["devicesDetails"], [])
        self.assertEqual(d["lastTransactions"], [])

    def test_03_getuserdetails_client_data_absent_and_string_boolean(self):
        username = new_username("cd")
        self.assertAddedPendingActivation(self.add_user(username))
        resp = self.client.call(
            "getuserdetails", {"userName": username, "getSameDeviceUsers": "false"}
        )
        self.assertOk(resp)
        self.assertIn("clientData", resp.body)
        self.assertIsNone(resp.body["clientData"])
        self.assertRegex(resp.body["uniqueMsgId"], UNIQUE_MSG_ID_RE)
        self.assertEqual(resp.body["userDetails"]["status"], "PENDING_ACTIVATION")
        self.assertEqual(resp.body["sameDeviceUsersDetails"], [])

    def test_03_unique_msg_ids_differ(self):
        username = new_username("uid")
        self.assertAddedPendingActivation(self.add_user(username))
        ids = {self.get_user(username).body["uniqueMsgId"] for _ in range(3)}
        self.assertEqual(len(ids), 3, ids)

    # ---- 4. unknown user ------------------------------------------------------

    def test_04_getuserdetails_unknown_user(self):
        resp = self.get_user(new_username("ghost"))
        self.assertTrue(resp.is_jws, "a 10564 answer must be a signed JWS: %r" % resp.text)
        self.assertError(resp, 400, 10564, MSG_USER_DOES_NOT_EXIST)
        self.assertIn("userDetails", resp.body)
        self.assertIsNone(resp.body["userDetails"])
        self.assertRegex(resp.body["uniqueMsgId"], UNIQUE_MSG_ID_RE)
        self.assertIsNone(resp.body["clientData"])

    # ---- 5. bad signature and unknown token ------------------------------------

    def test_05_wrong_key_is_rejected_and_has_no_effect(self):
        username = new_username("badsig")
        wrong_key = secrets.token_bytes(32)
        self.assertNotEqual(wrong_key, self.client.key)
        text = self.client.sign(
            {"username": username, "activateUser": True, "role": "REGULAR"}, key=wrong_key
        )
        status, body, headers = self.client.post("adduser", text)
        # The server knows the token, so a signed answer (with the token's
        # real key) or plain JSON are both acceptable; Response verifies a JWS.
        resp = Response(self.client, status, body, headers, "HS256")
        self.assertError(resp, 401, 401, MSG_NOT_AUTHORIZED)

        lookup = self.get_user(username)
        self.assertError(lookup, 400, 10564, MSG_USER_DOES_NOT_EXIST)

    def test_05_unknown_token_gets_plain_json(self):
        c = self.client
        unknown = secrets.token_hex(16)
        self.assertNotEqual(unknown, c.token)
        text = c.sign(
            {"userName": new_username("x"), "getSameDeviceUsers": False},
            jws_headers={"orgAlias": c.org_alias, "token": unknown},
            req_header=c.req_header(secretKey=unknown),
        )
        status, body, _ = c.post("getuserdetails", text)
        self.assertEqual(status, 401, body)
        self.assertTrue(body.startswith("{"), "expected plain JSON, got %r" % body)
        parsed = json.loads(body)
        self.assertEqual(parsed["responseBody"]["errorId"], 401, parsed)
        self.assertEqual(parsed["responseBody"]["errorMsg"], MSG_NOT_AUTHORIZED, parsed)

    # ---- 6. HS512 and the response JWS header --------------------------------------

    def test_06_hs512_and_response_header(self):
        c = self.client
        username = new_username("hs512")
        resp = c.call(
            "adduser",
            {"username": username, "activateUser": True, "role": "REGULAR"},
            alg="HS512",
        )
        self.assertAddedPendingActivation(resp)
        self.assertEqual(resp.jws_header["alg"], "HS512")

        lookup = c.call("getuserdetails", {"userName": username}, alg="HS512")
        self.assertOk(lookup)
        self.assertEqual(lookup.jws_header["alg"], "HS512")

        plain = c.call("getuserdetails", {"userName": username})
        self.assertOk(plain)
        self.assertEqual(plain.jws_header["alg"], "HS256")

        for r in (resp, lookup, plain):
            with self.subTest(alg=r.jws_header.get("alg")):
                self.assertEqual(r.jws_header.get("org_alias"), self.props["org_alias"])
                self.assertEqual(r.jws_header.get("orgAlias"), self.props["org_alias"])
                self.assertEqual(r.jws_header.get("token"), self.props["token"])

    # ---- 7. auth-only token ---------------------------------------------------

    def test_07_auth_only_token_cannot_add_users(self):
        # --listen (same as the server's) only makes the printed idp_url point
        # at this server; the rest is the documented operator command.
        out = subprocess.run(
            [str(self.bin), "--listen", self.listen, "--data-dir", self.data_dir,
             "token", "create", "--org", "default", "--scope", "auth-only"],
            cwd=str(REPO_ROOT),
            capture_output=True,
            timeout=60,
        )
        self.assertEqual(out.returncode, 0, out.stderr.decode("utf-8", "replace"))
        props_path = os.path.join(self.data_dir, "auth-only.properties")
        with open(props_path, "wb") as f:
            f.write(out.stdout)
        props = read_properties(props_path)
        self.assertEqual(set(props), PROPERTY_KEYS, out.stdout)
        self.assertEqual(props["org_alias"], self.props["org_alias"])
        self.assertEqual(props["idp_url"], self.props["idp_url"])
        self.assertNotEqual(props["token"], self.props["token"])

        auth_client = Client(props)
        username = new_username("authonly")
        resp = self.add_user(username, client=auth_client)
        self.assertError(resp, 403, 403)
        self.assertIsInstance(resp.error_msg, str)

        self.assertError(self.get_user(username), 400, 10564, MSG_USER_DOES_NOT_EXIST)

    # ---- 8. concurrent adduser --------------------------------------------------

    def test_08_concurrent_adduser_one_winner(self):
        username = new_username("race")
        n = 20
        barrier = threading.Barrier(n)
        results = [None] * n

        def worker(i):
            text = self.client.sign(
                {"username": username, "activateUser": True, "role": "REGULAR"}
            )
            barrier.wait(timeout=30)
            try:
                status, body, headers = self.client.post("adduser", text)
                results[i] = Response(self.client, status, body, headers, "HS256")
            except Exception as err:  # reported below
                results[i] = err

        threads = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)

        errors = [r for r in results if not isinstance(r, Response)]
        self.assertEqual(errors, [])
        outcomes = sorted((r.status, r.error_id) for r in results)
        self.assertEqual(outcomes.count((200, 200)), 1, outcomes)
        self.assertEqual(outcomes.count((400, 10556)), n - 1, outcomes)
        for r in results:
            if r.error_id == 10556:
                self.assertEqual(r.error_msg, MSG_USER_EXISTS)
        self.assertOk(self.get_user(username))

    # ---- 9. edituser clears what is not sent ---------------------------------------

    def test_09_edituser_clears_unsent_fields(self):
        username = new_username("edit")
        self.assertAddedPendingActivation(
            self.add_user(username, fname="Grace", lname="Hopper", email="grace@example.org")
        )
        before = self.get_user(username)
        self.assertOk(before)
        self.assertEqual(before.body["userDetails"]["lname"], "Hopper")
        self.assertEqual(before.body["userDetails"]["email"], "grace@example.org")

        edit = self.client.call("edituser", {"userName": username, "fname": "Amazing"})
        self.assertOk(edit)

        after = self.get_user(username)
        self.assertOk(after)
        d = after.body["userDetails"]
        self.assertEqual(d["fname"], "Amazing")
        self.assertIn("lname", d)
        self.assertIsNone(d["lname"])
        self.assertIn("email", d)
        self.assertIsNone(d["email"])

    # ---- 10. bypass, activation codes and pairing status -------------------------------

    def test_10_pairingstatus(self):
        username = new_username("pair")
        added = self.add_user(username)
        self.assertAddedPendingActivation(added)
        code = added.body["activationCode"]

        resp = self.client.call("pairingstatus", {"activationCode": code})
        self.assertOk(resp)
        self.assertEqual(resp.body["pairingStatus"], "NOT_CLAIMED", resp)

        resp = self.client.call("pairingstatus", {"activationCode": "000000000000"})
        self.assertEqual(resp.body["pairingStatus"], "NOT_EXIST", resp)
        self.assertOk(resp)

    def test_10_userbypass_needs_active_user(self):
        username = new_username("bypass")
        self.assertAddedPendingActivation(self.add_user(username))
        in_one_hour_ms = int(time.time() * 1000) + 3600 * 1000
        resp = self.client.call(
            "userbypass", {"userName": username, "bypassUntil": in_one_hour_ms}
        )
        self.assertTrue(resp.is_jws, resp.text)
        self.assertError(resp, 400, 10576, MSG_USER_NOT_ACTIVE)

        after = self.get_user(username)
        self.assertOk(after)
        self.assertIs(after.body["userDetails"]["userInBypass"], False)
        self.assertIsNone(after.body["userDetails"]["bypassExpiration"])

    def test_10_getactivationcode_zero_hours(self):
        username = new_username("code")
        added = self.add_user(username)
        self.assertAddedPendingActivation(added)
        resp = self.client.call(
            "getactivationcode",
            {"userName": username, "deviceType": "MOBILE", "hoursUntilExpiration": 0},
        )
        self.assertTrue(resp.is_jws, resp.text)
        self.assertError(resp, 422, 422, MSG_BAD_VALUES)

        # The refused request did not replace the code issued by adduser.
        status = self.client.call(
            "pairingstatus", {"activationCode": added.body["activationCode"]}
        )
        self.assertOk(status)
        self.assertEqual(status.body["pairingStatus"], "NOT_CLAIMED", status)


if __name__ == "__main__":
    unittest.main(verbosity=2)
