"""Loopback stand-ins for the gateways Twofold delivers codes through.

Used by ``test_devices.py``; written from scratch on the standard library:

* ``FakeSmtpServer``: a minimal SMTP server (EHLO/HELO, MAIL FROM, RCPT TO, DATA,
  RSET, NOOP, QUIT) that captures every message, and can refuse recipients with 554.
* ``FakeTwilio``: a minimal HTTP server playing Twilio's REST API
  (``POST /2010-04-01/Accounts/{sid}/Calls.json`` and ``Messages.json`` with HTTP basic
  auth); it answers 201 with a JSON body carrying a ``sid``, or 500, or never answers.

Both listen on 127.0.0.1 only, run in daemon threads, bound every loop (line counts,
message sizes, socket timeouts, waits) and stop with ``stop()``.
"""

import base64
import http.server
import json
import re
import secrets
import socket
import socketserver
import threading
import time
import urllib.parse

LOOPBACK = "127.0.0.1"
SOCKET_TIMEOUT_S = 20.0
MAX_LINE = 8192
MAX_COMMANDS = 200
MAX_DATA_BYTES = 1024 * 1024
MAX_HTTP_BODY = 64 * 1024
HANG_LIMIT_S = 30.0


class _LineTooLong(Exception):
    pass


# --------------------------------------------------------------------------
# SMTP
# --------------------------------------------------------------------------


class SmtpMessage:
    """One message as received: envelope plus the raw DATA (dot-stuffing undone)."""

    def __init__(self, helo, mail_from, rcpt_to, data):
        self.helo = helo
        self.mail_from = mail_from
        self.rcpt_to = list(rcpt_to)
        self.data = data

    def __repr__(self):
        return "SmtpMessage(from=%r, to=%r, %d bytes)" % (
            self.mail_from, self.rcpt_to, len(self.data))


def _path_argument(rest):
    """The address inside ``FROM:<a@b> PARAMS`` / ``TO:<a@b>``; None when malformed."""
    m = re.match(r"^\s*<([^<>]*)>", rest)
    if m:
        return m.group(1)
    parts = rest.split()
    return parts[0] if parts else None


class _SmtpHandler(socketserver.StreamRequestHandler):
    timeout = SOCKET_TIMEOUT_S

    def setup(self):
        super().setup()
        self.server.owner._track(self.connection, add=True)

    def finish(self):
        try:
            super().finish()
        finally:
            self.server.owner._track(self.connection, add=False)

    def _send(self, line):
        self.wfile.write(line.encode("ascii") + b"\r\n")
        self.wfile.flush()

    def _read_line(self):
        line = self.rfile.readline(MAX_LINE + 1)
        if len(line) > MAX_LINE:
            raise _LineTooLong()
        return line

    def handle(self):
        owner = self.server.owner
        try:
            self._session(owner)
        except (OSError, _LineTooLong):
            pass  # peer went away or timed out: nothing more to do

    def _session(self, owner):
        self._send("220 devices-fake-smtp ESMTP ready")
        helo = None
        mail_from = None
        rcpts = []
        for _ in range(MAX_COMMANDS):
            raw = self._read_line()
            if not raw:
                return
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            verb, _, rest = line.partition(" ")
            verb = verb.upper()
            owner._log_command(line)
            if verb == "EHLO":
                helo = rest.strip()
                mail_from, rcpts = None, []
                self._send("250-devices-fake-smtp greets %s" % (helo or "you"))
                self._send("250 8BITMIME")
            elif verb == "HELO":
                helo = rest.strip()
                mail_from, rcpts = None, []
                self._send("250 devices-fake-smtp")
            elif verb == "MAIL":
                if not rest.upper().startswith("FROM:"):
                    self._send("501 5.5.4 Syntax: MAIL FROM:<address>")
                    continue
                addr = _path_argument(rest[5:])
                if addr is None:
                    self._send("501 5.1.7 Bad sender address syntax")
                    continue
                mail_from, rcpts = addr, []
                self._send("250 2.1.0 OK")
            elif verb == "RCPT":
                if mail_from is None:
                    self._send("503 5.5.1 Need MAIL first")
                    continue
                if not rest.upper().startswith("TO:"):
                    self._send("501 5.5.4 Syntax: RCPT TO:<address>")
                    continue
                addr = _path_argument(rest[3:])
                if addr is None:
                    self._send("501 5.1.3 Bad recipient address syntax")
                    continue
                owner._record_rcpt(addr)
                if owner.refuse_rcpt:
                    self._send("554 5.7.1 <%s>: Recipient address rejected" % addr)
                    continue
                rcpts.append(addr)
                self._send("250 2.1.5 OK")
            elif verb == "DATA":
                if mail_from is None or not rcpts:
                    self._send("503 5.5.1 Need RCPT first")
                    continue
                self._send("354 End data with <CR><LF>.<CR><LF>")
                data = self._read_data()
                if data is None:
                    self._send("552 5.3.4 Message too big")
                    return
                owner._deliver(SmtpMessage(helo, mail_from, rcpts, data))
                mail_from, rcpts = None, []
                self._send("250 2.0.0 OK queued")
            elif verb == "RSET":
                mail_from, rcpts = None, []
                self._send("250 2.0.0 OK")
            elif verb == "NOOP":
                self._send("250 2.0.0 OK")
            elif verb == "QUIT":
                self._send("221 2.0.0 Bye")
                return
            else:
                self._send("502 5.5.2 Command not implemented")
        self._send("421 4.7.0 Too many commands")

    def _read_data(self):
        """Lines up to the lone '.', dot-stuffing removed; None when over the limit."""
        chunks = []
        size = 0
        while size <= MAX_DATA_BYTES:
            raw = self._read_line()
            if not raw:
                raise OSError("connection closed inside DATA")
            if raw in (b".\r\n", b".\n"):
                return b"".join(chunks)
            if raw.startswith(b"."):
                raw = raw[1:]
            chunks.append(raw)
            size += len(raw)
        return None


class _SmtpTcpServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True


class FakeSmtpServer:
    """A loopback SMTP server that records what it receives.

    ``refuse_rcpt = True`` makes every RCPT TO answer ``554``.
    """

    def __init__(self, refuse_rcpt=False):
        self.refuse_rcpt = refuse_rcpt
        self.messages = []
        self.rcpt_attempts = []
        self.commands = []
        self._cond = threading.Condition()
        self._conns = set()
        self._server = _SmtpTcpServer((LOOPBACK, 0), _SmtpHandler)
        self._server.owner = self
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.1},
            name="fake-smtp", daemon=True)

    def start(self):
        self._thread.start()
        return self

    def stop(self):
        self._server.shutdown()
        self._server.server_close()
        with self._cond:
            conns = list(self._conns)
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self._thread.join(timeout=5)

    # called from handler threads
    def _track(self, conn, add):
        with self._cond:
            if add:
                self._conns.add(conn)
            else:
                self._conns.discard(conn)

    def _log_command(self, line):
        with self._cond:
            self.commands.append(line)

    def _record_rcpt(self, addr):
        with self._cond:
            self.rcpt_attempts.append(addr)
            self._cond.notify_all()

    def _deliver(self, message):
        with self._cond:
            self.messages.append(message)
            self._cond.notify_all()

    def wait_for_message(self, predicate, timeout):
        """The first captured message for which ``predicate`` is true, or None."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for m in self.messages:
                    if predicate(m):
                        return m
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self._cond.wait(left)

    def snapshot(self):
        with self._cond:
            return list(self.messages), list(self.rcpt_attempts), list(self.commands)


# --------------------------------------------------------------------------
# Twilio
# --------------------------------------------------------------------------


class TwilioRequest:
    def __init__(self, kind, account_sid, authorization_ok, form, raw_form):
        self.kind = kind                   # "Calls" or "Messages"
        self.account_sid = account_sid
        self.authorization_ok = authorization_ok
        self.form = form                   # {name: value} (last value wins)
        self.raw_form = raw_form           # [(name, value), ...]

    def __repr__(self):
        return "TwilioRequest(%s, auth_ok=%r, fields=%r)" % (
            self.kind, self.authorization_ok, sorted(self.form))


_TWILIO_PATH = re.compile(r"^/2010-04-01/Accounts/([^/]+)/(Calls|Messages)\.json$")


class _TwilioHandler(http.server.BaseHTTPRequestHandler):
    server_version = "devices-fake-twilio"
    timeout = SOCKET_TIMEOUT_S

    def log_message(self, format, *args):  # keep test output clean
        pass

    def _answer(self, status, obj):
        body = json.dumps(obj).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)
        self.close_connection = True

    def do_GET(self):
        self._answer(404, {"code": 20404, "message": "not found", "status": 404})

    def do_POST(self):
        owner = self.server.owner
        path = urllib.parse.urlsplit(self.path).path
        m = _TWILIO_PATH.match(path)
        length = int(self.headers.get("Content-Length") or 0)
        if length < 0 or length > MAX_HTTP_BODY:
            self._answer(413, {"code": 413, "message": "too large", "status": 413})
            return
        raw = self.rfile.read(length).decode("utf-8", "replace") if length else ""
        if m is None:
            self._answer(404, {"code": 20404, "message": "not found", "status": 404})
            return
        sid, kind = m.group(1), m.group(2)
        expected = "Basic " + base64.b64encode(
            ("%s:%s" % (owner.account_sid, owner.auth_token)).encode("utf-8")).decode("ascii")
        auth_ok = self.headers.get("Authorization") == expected and sid == owner.account_sid
        pairs = urllib.parse.parse_qsl(raw, keep_blank_values=True)
        form = dict(pairs)
        owner._record(TwilioRequest(kind, sid, auth_ok, form, pairs))
        if not auth_ok:
            self._answer(401, {"code": 20003, "message": "Authenticate", "status": 401})
            return
        mode = owner.calls_mode if kind == "Calls" else owner.messages_mode
        if mode == "hang":
            # Accept, read, then say nothing until the test ends (bounded).
            owner._release.wait(HANG_LIMIT_S)
            self.close_connection = True
            return
        if mode == "error":
            self._answer(500, {"code": 20500, "message": "Internal Server Error", "status": 500})
            return
        prefix = "CA" if kind == "Calls" else "SM"
        self._answer(201, {
            "sid": prefix + secrets.token_hex(16),
            "account_sid": sid,
            "to": form.get("To"),
            "from": form.get("From"),
            "status": "queued",
        })


class _TwilioHttpServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False


class FakeTwilio:
    """A loopback HTTP server answering like Twilio's Calls and Messages resources.

    ``calls_mode`` / ``messages_mode``: ``"ok"`` (201 + JSON with a sid), ``"error"``
    (500) or ``"hang"`` (read the request, never answer).
    """

    def __init__(self, account_sid, auth_token, calls_mode="ok", messages_mode="ok"):
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.calls_mode = calls_mode
        self.messages_mode = messages_mode
        self.requests = []
        self._cond = threading.Condition()
        self._release = threading.Event()
        self._server = _TwilioHttpServer((LOOPBACK, 0), _TwilioHandler)
        self._server.owner = self
        self.port = self._server.server_address[1]
        self.base_url = "http://%s:%d" % (LOOPBACK, self.port)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.1},
            name="fake-twilio", daemon=True)

    def start(self):
        self._thread.start()
        return self

    def stop(self):
        self._release.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def _record(self, request):
        with self._cond:
            self.requests.append(request)
            self._cond.notify_all()

    def wait_for_request(self, predicate, timeout):
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for r in self.requests:
                    if predicate(r):
                        return r
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self._cond.wait(left)

    def snapshot(self):
        with self._cond:
            return list(self.requests)
