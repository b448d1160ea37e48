"""What the Python suites share: a PingID client and a Twofold server to point it at.

The suites (``test_pyjwt_client.py``, ``test_devices.py``, ``test_authentication.py``)
test the server as a black box, the way Ping Identity's Python sample client uses the
PingID API.  This module holds the one copy of the pieces they all need:

* ``parse_properties`` / ``read_properties``: the ``pingid.properties`` file, parsed
  line by line with ``split('=', 1)`` like the sample does;
* ``Client`` and ``Response``: requests signed with PyJWT's ``jwt.encode`` (caller's
  choice of JWS header, algorithm, key, ``reqHeader`` and JSON encoder, or a raw
  payload / raw body) and answers verified with ``jwt.decode``;
* ``free_port``, ``new_username``, ``only_digits``, ``wrong_code``: small helpers;
* ``TwofoldServer``: the server binary (``TWOFOLD_BIN``, default ``target/debug/twofold``
  under the repository root) started on a free loopback port with a fresh data
  directory, waited for on ``/readyz``, stopped, and its directory removed or kept with
  its log printed when a test failed;
* ``TEST_DATABASE_URL`` / ``fresh_postgres_database`` / ``psql``: when
  ``TWOFOLD_TEST_DATABASE_URL`` names a PostgreSQL database (``scripts/test`` sets it to
  a throwaway cluster), every ``TwofoldServer`` gets a new database of its own there,
  created and dropped with ``psql``, so each suite runs on PostgreSQL as on SQLite;
* ``optional_import`` / ``missing_packages_message``: a missing Python package makes
  every test of a suite fail with the package's name and the install command instead
  of skipping anything;
* ``GatewayServerTestCase``: a base class that, for each test, starts the loopback
  SMTP and Twilio stand-ins of ``devices_fakes.py``, writes a ``twofold.toml`` that
  sends email and voice calls to them (SMS goes to ``<data-dir>/outbox.jsonl``) and
  starts a server with a client for it.

Standard library only, plus PyJWT (``pip install pyjwt``), imported here so that a
missing PyJWT is reported by ``missing_packages_message`` rather than at import time.
"""

import base64
import datetime
import glob
import importlib
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
import urllib.parse
import urllib.request
import uuid
import warnings
from pathlib import Path

from devices_fakes import FakeSmtpServer, FakeTwilio

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_BIN = REPO_ROOT / "target" / "debug" / "twofold"
READY_TIMEOUT_S = 20.0
HTTP_TIMEOUT_S = 30.0
# Suites whose calls wait on (possibly failing) delivery gateways allow more per call.
GATEWAY_HTTP_TIMEOUT_S = 40.0
CLI_TIMEOUT_S = 60.0

# A PostgreSQL database URL: servers then run on PostgreSQL (one new database each).
TEST_DATABASE_URL = os.environ.get("TWOFOLD_TEST_DATABASE_URL") or None

# Import name -> the name ``pip install`` takes.
PIP_NAMES = {"jwt": "pyjwt", "pyotp": "pyotp", "cryptography": "cryptography"}


# --------------------------------------------------------------------------
# Python packages
# --------------------------------------------------------------------------


def optional_import(name):
    """The module ``name``, or None when it cannot be imported.

    Suites bind their optional packages with it (``pyotp = optional_import("pyotp")``)
    and report what is missing with ``missing_packages_message`` in ``setUp``.
    """
    try:
        return importlib.import_module(name)
    except ImportError:
        return None


def missing_packages_message(suite, modules):
    """None when every module in ``modules`` imports; else why ``suite`` cannot run.

    The message names the missing packages and the ``pip install`` command that brings
    them, so that a test can ``self.fail(message)`` instead of being skipped.
    """
    missing = [m for m in modules if optional_import(m) is None]
    if not missing:
        return None
    pip_names = [PIP_NAMES.get(m, m) for m in missing]
    return ("%s cannot run: missing Python package(s): %s. Install them with: pip install %s"
            % (suite, ", ".join(pip_names), " ".join(pip_names)))


jwt = optional_import("jwt")


# --------------------------------------------------------------------------
# Client side: what Ping's Python sample does
# --------------------------------------------------------------------------


def parse_properties(text):
    """Parse a ``pingid.properties`` text the way the Python sample does.

    Lines are split on ``\\n`` only (a stray ``\\r`` stays in the value), empty lines and
    ``#`` comments are skipped, every other line must hold a ``name=value`` pair.
    """
    props = {}
    for line in text.split("\n"):
        if not line or line.startswith("#"):
            continue
        name, value = line.split("=", 1)
        props[name] = value
    return props


def read_properties(path):
    """``parse_properties`` of the file at ``path`` (UTF-8, line endings untouched)."""
    with open(path, "r", encoding="utf-8", newline="") as f:
        return parse_properties(f.read())


def utc_timestamp():
    """The documented reqHeader timestamp: ``yyyy-MM-dd HH:mm:ss.SSS`` in UTC."""
    now = datetime.datetime.now(datetime.timezone.utc)
    return now.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


# Passed as a ``Client.req_header`` override: leave that field out of the header.
OMIT = object()


class Client:
    """A PingID API client that knows nothing but one properties file.

    ``call(op, body)`` is what a sample does: sign ``{reqHeader, reqBody}`` with HS256
    and the ``use_base64_key`` (decoded with ``base64.urlsafe_b64decode``), POST it to
    ``{idp_url}/rest/4/{op}/do`` and verify the answer.  The steps are also usable one
    by one to send what a sample would not:

    * ``req_header(**overrides)``: the reqHeader with fields changed, or left out
      with ``OMIT`` (e.g. ``timestamp=OMIT``, ``version=4.9``);
    * ``sign(op_body, alg=, key=, jws_headers=, req_header=, json_encoder=)``: the
      compact JWS of a request, with any algorithm, key, JWS header and encoder;
    * ``sign_payload(payload, ...)``: the same for a whole payload of the caller's;
    * ``post(op, body_text)``: send any text; returns ``(status, text, headers)``.
    """

    def __init__(self, props, timeout=HTTP_TIMEOUT_S):
        self.props = props
        self.token = props["token"]
        self.org_alias = props["org_alias"]
        self.idp_url = props["idp_url"]
        self.key = base64.urlsafe_b64decode(props["use_base64_key"])
        self.timeout = timeout

    def req_header(self, **overrides):
        """The reqHeader a sample sends now; ``overrides`` replace fields, ``OMIT`` drops one."""
        header = {
            "locale": "en",
            "orgAlias": self.org_alias,
            "secretKey": self.token,
            "timestamp": utc_timestamp(),
            "version": "4.9.17",
        }
        for name, value in overrides.items():
            if value is OMIT:
                header.pop(name, None)
            else:
                header[name] = value
        return header

    def default_jws_headers(self):
        """The JWS header fields the samples add: ``orgAlias`` and ``token``."""
        return {"orgAlias": self.org_alias, "token": self.token}

    def sign_payload(self, payload, *, alg="HS256", key=None, jws_headers=None,
                     json_encoder=None):
        """The compact JWS of ``payload`` as given (no reqHeader/reqBody added).

        ``key`` defaults to the properties file's key, ``jws_headers`` to
        ``default_jws_headers()``; PyJWT adds ``alg`` and ``typ`` itself.
        """
        if jws_headers is None:
            jws_headers = self.default_jws_headers()
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

    def sign(self, op_body, *, alg="HS256", key=None, jws_headers=None,
             req_header=None, json_encoder=None):
        """The compact JWS of ``{reqHeader, reqBody: op_body}``.

        ``req_header`` defaults to ``req_header()`` (the current timestamp).
        """
        payload = {
            "reqHeader": req_header if req_header is not None else self.req_header(),
            "reqBody": op_body,
        }
        return self.sign_payload(payload, alg=alg, key=key, jws_headers=jws_headers,
                                 json_encoder=json_encoder)

    def post(self, op, body_text):
        """POST ``body_text`` to the operation's URL; ``(status, text, headers)``.

        An HTTP error status is returned like any other, not raised.
        """
        url = self.idp_url + "/rest/4/" + op + "/do"
        request = urllib.request.Request(
            url,
            data=body_text.encode("utf-8"),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as resp:
                return resp.status, resp.read().decode("utf-8"), dict(resp.headers)
        except urllib.error.HTTPError as err:
            return err.code, err.read().decode("utf-8"), dict(err.headers)

    def call(self, op, op_body, *, alg="HS256", **sign_args):
        """Sign (``sign`` takes ``sign_args``), post and verify; a ``Response``."""
        text = self.sign(op_body, alg=alg, **sign_args)
        status, body, headers = self.post(op, text)
        return Response(self, status, body, headers, alg, op=op)


class Response:
    """One answer: HTTP status, text, whether it is a JWS, its payload and responseBody.

    A JWS answer must verify with the client's key and the request's algorithm (the
    Python sample pins the algorithm), or the constructor raises; plain JSON (what a
    request with an unknown token gets) is parsed as is.
    """

    def __init__(self, client, status, text, headers=None, alg="HS256", op=None):
        self.op = op
        self.status = status
        self.text = text
        self.headers = headers
        self.is_jws = not text.lstrip().startswith("{")
        if self.is_jws:
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
        """``responseBody.errorId``, None when absent."""
        return self.body.get("errorId")

    @property
    def error_msg(self):
        """``responseBody.errorMsg``, None when absent."""
        return self.body.get("errorMsg")

    def __repr__(self):
        op = "" if self.op is None else "%s, " % self.op
        return "Response(%sstatus=%r, body=%r)" % (op, self.status, self.body)


# --------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------


def free_port():
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def new_username(tag, prefix="py"):
    """A username no other test uses: ``{prefix}-{tag}-{10 random hex digits}``."""
    return "%s-%s-%s" % (prefix, tag, uuid.uuid4().hex[:10])


def only_digits(text):
    """The digits of ``text`` (None counts as empty), e.g. to compare phone numbers."""
    return re.sub(r"\D", "", text or "")


def wrong_code(code):
    """A code of the same length that differs from ``code`` in every digit."""
    return "".join(str((int(c) + 5) % 10) for c in code)


def failure_count(result):
    """Failures plus errors recorded so far in a unittest result (0 for None)."""
    return len(result.failures) + len(result.errors) if result is not None else 0


# --------------------------------------------------------------------------
# The server
# --------------------------------------------------------------------------


def server_binary():
    """The ``twofold`` binary: ``TWOFOLD_BIN`` (relative to the repository root) or
    ``target/debug/twofold``; RuntimeError with the build command when it is missing."""
    binary = Path(os.environ.get("TWOFOLD_BIN", str(DEFAULT_BIN)))
    if not binary.is_absolute():
        binary = REPO_ROOT / binary
    if not binary.exists():
        raise RuntimeError(
            "server binary %s not found: build it with "
            "`cargo build -p twofold-server` or set TWOFOLD_BIN" % binary
        )
    return binary


# --------------------------------------------------------------------------
# PostgreSQL
# --------------------------------------------------------------------------


def psql_binary():
    """``psql``: ``TWOFOLD_PSQL``, else on PATH, else the newest /usr/lib/postgresql/*/bin."""
    explicit = os.environ.get("TWOFOLD_PSQL")
    if explicit:
        return explicit
    found = shutil.which("psql")
    if found:
        return found
    for bindir in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if os.access(os.path.join(bindir, "psql"), os.X_OK):
            return os.path.join(bindir, "psql")
    raise RuntimeError("TWOFOLD_TEST_DATABASE_URL is set but no psql was found (set TWOFOLD_PSQL)")


def psql(url, sql):
    """Run one SQL command on ``url``; its rows as unaligned text (``-At``)."""
    done = subprocess.run(
        [psql_binary(), "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-d", url, "-c", sql],
        capture_output=True, text=True, timeout=CLI_TIMEOUT_S, stdin=subprocess.DEVNULL)
    if done.returncode != 0:
        raise RuntimeError("psql %r failed: %s" % (sql, done.stderr.strip()))
    return done.stdout


def fresh_postgres_database(base_url=None):
    """Create a new database beside ``base_url``'s; returns ``(name, url)``."""
    base_url = base_url or TEST_DATABASE_URL
    name = "twofold_py_" + uuid.uuid4().hex[:16]
    psql(base_url, 'CREATE DATABASE "%s"' % name)
    url = urllib.parse.urlunsplit(urllib.parse.urlsplit(base_url)._replace(path="/" + name))
    return name, url


def drop_postgres_database(name, base_url=None):
    """Drop a database made by ``fresh_postgres_database`` (closing its connections)."""
    psql(base_url or TEST_DATABASE_URL, 'DROP DATABASE IF EXISTS "%s" WITH (FORCE)' % name)


class TwofoldServer:
    """One ``twofold`` process on a free loopback port with its own data directory.

    The constructor finds the binary and makes the data directory (so a test can
    write ``twofold.toml`` there first); ``start()`` launches the server, its output
    going to ``<data-dir>/server.log``, and waits until ``/readyz`` answers 200 and
    ``pingid.properties`` exists; ``stop()`` terminates it (kills it after 10 s);
    ``cleanup(keep)`` removes the directory, or keeps it and prints the server's log
    to stderr when a test failed.
    """

    def __init__(self, data_dir_prefix="twofold-", database_url=None, master_key_file=None,
                 sqlite=False):
        """``database_url``: a database shared with other servers (several nodes); by
        default a new one under ``TWOFOLD_TEST_DATABASE_URL`` when that is set (unless
        ``sqlite``), else the data directory's SQLite file.  ``master_key_file``: another
        node's key."""
        self.binary = server_binary()
        self.data_dir = tempfile.mkdtemp(prefix=data_dir_prefix)
        self.owned_database = None
        if database_url is None and TEST_DATABASE_URL and not sqlite:
            self.owned_database, database_url = fresh_postgres_database()
        self.database_url = database_url
        self.env = dict(os.environ)
        self.env.pop("TWOFOLD_DATABASE_URL", None)
        if database_url:
            # The flags read TWOFOLD_* variables: operator commands see the same database.
            self.env["TWOFOLD_DATABASE_URL"] = database_url
        if master_key_file:
            self.env["TWOFOLD_MASTER_KEY_FILE"] = str(master_key_file)
        self.log_path = os.path.join(self.data_dir, "server.log")
        self.props_path = os.path.join(self.data_dir, "pingid.properties")
        self.port = None
        self.listen = None
        self.proc = None
        self._log_file = None

    def start(self, ready_timeout=READY_TIMEOUT_S, wait_for_properties=True):
        """Launch the server and wait for it; RuntimeError if it exits or is not ready.
        A second node on a shared database writes no properties file: pass
        ``wait_for_properties=False``."""
        self.wait_for_properties = wait_for_properties
        self.port = free_port()
        self.listen = "127.0.0.1:%d" % self.port
        self._log_file = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            [str(self.binary), "--listen", self.listen, "--data-dir", self.data_dir],
            cwd=str(REPO_ROOT),
            env=self.env,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        self._wait_ready(ready_timeout)
        return self

    def _wait_ready(self, timeout):
        url = "http://%s/readyz" % self.listen
        deadline = time.monotonic() + timeout
        last_error = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("server exited early with code %s" % self.proc.returncode)
            try:
                with urllib.request.urlopen(url, timeout=2) as resp:
                    if resp.status == 200 and (not self.wait_for_properties
                                               or os.path.exists(self.props_path)):
                        return
            except (urllib.error.URLError, OSError) as err:
                last_error = err
            time.sleep(0.1)
        raise RuntimeError(
            "server not ready within %.0f s (last error: %r)" % (timeout, last_error)
        )

    def read_properties(self):
        """The ``pingid.properties`` the server wrote into its data directory."""
        return read_properties(self.props_path)

    def client(self, timeout=HTTP_TIMEOUT_S):
        """A ``Client`` of the server's ``pingid.properties``."""
        return Client(self.read_properties(), timeout=timeout)

    def run_cli(self, args, timeout=CLI_TIMEOUT_S):
        """Run ``twofold ARGS`` (an operator command) from the repository root.

        No standard input, output captured; the ``subprocess.CompletedProcess``
        (``.args`` is the command line).
        """
        return subprocess.run(
            [str(self.binary)] + [str(a) for a in args],
            cwd=str(REPO_ROOT),
            env=self.env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=timeout,
        )

    def stop(self):
        """Terminate the server (kill it if it is still there after 10 s); idempotent."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

    def cleanup(self, keep):
        """Remove the data directory (and an owned database); with ``keep``, leave them
        and print the server log."""
        if self.owned_database and not keep:
            drop_postgres_database(self.owned_database)
            self.owned_database = None
        if not os.path.isdir(self.data_dir):
            return
        if keep:
            output = ""
            if os.path.exists(self.log_path):
                with open(self.log_path, "rb") as f:
                    output = f.read().decode("utf-8", "replace")
            sys.stderr.write(
                "\n----- twofold server output (data dir %s kept) -----\n%s"
                "----- end of server output -----\n" % (self.data_dir, output)
            )
        else:
            shutil.rmtree(self.data_dir, ignore_errors=True)


# --------------------------------------------------------------------------
# Delivery gateways and one server per test
# --------------------------------------------------------------------------


def delivery_toml(smtp_port, twilio_base_url, *, mail_from, twilio_sid, twilio_token,
                  twilio_from, timeout_secs):
    """The ``twofold.toml`` that sends the default organization's email to
    ``127.0.0.1:smtp_port`` (no TLS) and its voice calls to a Twilio API at
    ``twilio_base_url``; SMS stays unconfigured (so it goes to the file outbox)."""
    q = json.dumps  # a JSON string literal is a valid TOML basic string for these values
    return "\n".join([
        "[delivery.default.email]",
        "host = %s" % q("127.0.0.1"),
        "port = %d" % smtp_port,
        'tls = "none"',
        "from = %s" % q(mail_from),
        "timeout_secs = %d" % timeout_secs,
        "",
        "[delivery.default.voice]",
        'kind = "twilio"',
        "base_url = %s" % q(twilio_base_url),
        "account_sid = %s" % q(twilio_sid),
        "auth_token = %s" % q(twilio_token),
        "from = %s" % q(twilio_from),
        "timeout_secs = %d" % timeout_secs,
        "",
    ])


def read_outbox(data_dir):
    """The entries of ``<data_dir>/outbox.jsonl`` in order ([] before the first one)."""
    path = os.path.join(data_dir, "outbox.jsonl")
    if not os.path.exists(path):
        return []
    with open(path, "r", encoding="utf-8") as f:
        return [json.loads(line) for line in f.read().splitlines() if line.strip()]


class GatewayServerTestCase(unittest.TestCase):
    """For each test: the gateway stand-ins, a ``twofold.toml`` and a server.

    ``setUp`` fails the test (nothing is skipped) when a package of
    ``required_modules`` is missing, then starts ``self.smtp`` (``FakeSmtpServer``)
    and ``self.twilio`` (``FakeTwilio``), writes ``twofold.toml`` with
    ``delivery_toml`` and starts ``self.server``; ``self.client`` signs for it and
    ``self.data_dir`` is its directory.  ``tearDown`` stops them all; the data
    directory is removed after a passing test and kept, with the server log printed,
    after a failing one.

    Subclasses set ``suite_name`` (for the missing-packages message),
    ``data_dir_prefix``, the ``twilio_*`` credentials and ``mail_from``; and may set
    ``smtp_refuses`` (554 on every RCPT), ``calls_mode`` (``"ok"``, ``"error"`` or
    ``"hang"``), ``gateway_timeout_secs`` and ``http_timeout_s``.
    """

    maxDiff = None
    suite_name = "this suite"
    required_modules = ("jwt", "pyotp", "cryptography")
    data_dir_prefix = "twofold-"
    http_timeout_s = GATEWAY_HTTP_TIMEOUT_S
    mail_from = None
    twilio_sid = None
    twilio_token = None
    twilio_from = None
    gateway_timeout_secs = 10
    smtp_refuses = False
    calls_mode = "ok"

    def setUp(self):
        self.server = None
        self.smtp = None
        self.twilio = None
        missing = missing_packages_message(self.suite_name, self.required_modules)
        if missing:
            self.fail(missing)
        try:
            self.server = TwofoldServer(self.data_dir_prefix)
            self.data_dir = self.server.data_dir
            self.smtp = FakeSmtpServer(refuse_rcpt=self.smtp_refuses).start()
            self.twilio = FakeTwilio(self.twilio_sid, self.twilio_token,
                                     calls_mode=self.calls_mode).start()
            with open(os.path.join(self.data_dir, "twofold.toml"), "w", encoding="utf-8") as f:
                f.write(delivery_toml(
                    self.smtp.port, self.twilio.base_url, mail_from=self.mail_from,
                    twilio_sid=self.twilio_sid, twilio_token=self.twilio_token,
                    twilio_from=self.twilio_from, timeout_secs=self.gateway_timeout_secs))
            self.server.start()
            self.client = self.server.client(timeout=self.http_timeout_s)
        except BaseException:
            self.tearDown()  # run() keeps the data directory: the test has an error
            raise

    def tearDown(self):
        if self.server is not None:
            self.server.stop()
        if self.twilio is not None:
            self.twilio.stop()
            self.twilio = None
        if self.smtp is not None:
            self.smtp.stop()
            self.smtp = None

    def run(self, result=None):
        before = failure_count(result)
        outcome = super().run(result)
        server = getattr(self, "server", None)
        if server is not None:
            server.cleanup(keep=failure_count(result) > before)
        return outcome

    def call(self, op, body):
        """``self.client.call(op, body)``: signed with HS256, the answer verified."""
        return self.client.call(op, body)

    def outbox(self):
        """The server's file outbox (SMS codes), ``read_outbox(self.data_dir)``."""
        return read_outbox(self.data_dir)
