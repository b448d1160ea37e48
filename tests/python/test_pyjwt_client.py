"""Black-box tests of the Twofold server through a PyJWT client.

The client (``pingid_harness.Client``) behaves like Ping Identity's Python
sample client: it knows nothing but the ``pingid.properties`` file (parsed line
by line with ``split('=', 1)``), decodes ``use_base64_key`` with
``base64.urlsafe_b64decode``, signs requests with ``jwt.encode`` and verifies
every JWS response with ``jwt.decode``.  Requests go out with urllib.  The
tests here also send what a sample would not: other JWS headers, HS512, other
reqHeader timestamps and versions, a slash-escaping JSON encoder, a wrong key
and an unknown token.

The suite starts one server for all its tests (``pingid_harness.TwofoldServer``:
``TWOFOLD_BIN``, default ``target/debug/twofold`` under the repository root) on
a free loopback port with a fresh data directory, and stops it at the end.

Run with:  python3 -m unittest discover -s tests/python -v
      or:  python3 -m unittest tests/python/test_pyjwt_client.py -v   (from the repository root)
Requires:  Python 3.11+, PyJWT (pip install pyjwt).
"""

import base64
import json
import os
import re
import secrets
import sys
import threading
import time
import unittest
from pathlib import Path

import jwt

_HERE = Path(__file__).resolve().parent
if str(_HERE) not in sys.path:
    # pingid_harness sits beside this file; also when run as tests/python/test_pyjwt_client.py.
    sys.path.insert(0, str(_HERE))

from pingid_harness import (
    OMIT,
    Client,
    Response,
    TwofoldServer,
    failure_count,
    new_username,
    read_properties,
)

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


class SlashEscapingEncoder(json.JSONEncoder):
    """Writes '/' as '\\/' like .NET's JavaScriptSerializer (and PHP)."""

    def encode(self, o):
        return super().encode(o).replace("/", "\\/")


# --------------------------------------------------------------------------
# The suite
# --------------------------------------------------------------------------


class PyJwtClientTest(unittest.TestCase):
    maxDiff = None
    _had_failure = False
    server = None

    # ---- server lifecycle -------------------------------------------------

    @classmethod
    def setUpClass(cls):
        cls.server = TwofoldServer(data_dir_prefix="twofold-pyjwt-")
        cls.data_dir = cls.server.data_dir
        try:
            cls.server.start()
            cls.listen = cls.server.listen
            cls.props_path = cls.server.props_path
            cls.props = read_properties(cls.props_path)
            cls.client = Client(cls.props)
        except BaseException:
            cls.server.stop()
            cls.server.cleanup(keep=True)
            raise

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()
        cls.server.cleanup(keep=cls._had_failure)

    def run(self, result=None):
        before = failure_count(result)
        outcome = super().run(result)
        if failure_count(result) > before:
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
            ("no-timestamp", {"timestamp": OMIT}, None),
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
        out = self.server.run_cli(
            ["--listen", self.listen, "--data-dir", self.data_dir,
             "token", "create", "--org", "default", "--scope", "auth-only"],
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
