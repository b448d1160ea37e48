"""Held pushes against the real server: N authonline requests waiting at once.

Starts the real ``twofold`` binary (``TWOFOLD_BIN``, default ``target/release/twofold``)
on a fresh data directory, pairs N users through the device API (each with its own
Ed25519 key, as N phones would), then sends N ``authonline {authType: CONFIRM}`` at once
with the PyJWT client while N simulated phones long-poll and approve. Prints how many got
200, how long it took, and the server's resident memory (``/proc/<pid>/status``) before,
at peak (sampled every 50 ms, and ``VmHWM``) and after.

    cargo build --release -p twofold-server
    python3 bench/push_hold.py --users 1000

Needs PyJWT and cryptography (``pip install pyjwt cryptography``). A measuring tool, not
a test: it is not run by ``scripts/test``.
"""

import argparse
import base64
import hashlib
import json
import os
import secrets
import sys
import threading
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests" / "python"))

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey  # noqa: E402
from cryptography.hazmat.primitives import serialization  # noqa: E402

import pingid_harness  # noqa: E402


def rss_kib(pid, field="VmRSS"):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def post_json(url, body, headers=None, timeout=60):
    data = json.dumps(body).encode()
    req = urllib.request.Request(url, data, {"content-type": "application/json", **(headers or {})})
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        return json.loads(resp.read())


class Phone:
    def __init__(self, base, device_id, key):
        self.base, self.device_id, self.key = base, device_id, key

    def signed(self, method, path, body=b""):
        ts = str(int(time.time() * 1000))
        nonce = base64.urlsafe_b64encode(secrets.token_bytes(24)).decode().rstrip("=")
        text = "\n".join(["TWOFOLD-DEVICE-V1", method, path, str(self.device_id), ts, nonce,
                          hashlib.sha256(body).hexdigest()])
        sig = base64.b64encode(self.key.sign(text.encode())).decode()
        headers = {"x-twofold-device": str(self.device_id), "x-twofold-timestamp": ts,
                   "x-twofold-nonce": nonce, "x-twofold-signature": sig,
                   "content-type": "application/json"}
        req = urllib.request.Request(self.base + path, body if method == "POST" else None, headers,
                                     method=method)
        with urllib.request.urlopen(req, timeout=60) as resp:
            return json.loads(resp.read())

    def approve_next(self):
        while True:
            listed = self.signed("GET", "/device/v1/pushes?wait=25")
            if listed["pushes"]:
                body = json.dumps({"pushId": listed["pushes"][0]["pushId"], "decision": "approve",
                                   "number": None}).encode()
                return self.signed("POST", "/device/v1/pushes/answer", body)["outcome"]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--users", type=int, default=1000)
    args = parser.parse_args()
    if "TWOFOLD_BIN" not in os.environ:
        os.environ["TWOFOLD_BIN"] = str(HERE.parent / "target" / "release" / "twofold")
    threading.stack_size(512 * 1024)
    server = pingid_harness.TwofoldServer(data_dir_prefix="twofold-push-hold-")
    server.start()
    try:
        done = server.run_cli(["--data-dir", server.data_dir, "org", "set", "default",
                               "push_timeout_secs=300", "reachability_secs=300"])
        assert done.returncode == 0, done.stderr
        client = server.client(timeout=600)
        base = "http://" + server.listen
        phones = []
        started = time.monotonic()
        for i in range(args.users):
            name = "hold%05d" % i
            code = client.call("adduser", {"userName": name, "activateUser": True}).body["activationCode"]
            key = Ed25519PrivateKey.generate()
            public = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
            post_json(base + "/device/v1/pair/claim", {"activationCode": code})
            reg = post_json(base + "/device/v1/pair/register", {
                "activationCode": code, "publicKey": base64.b64encode(public).decode(),
                "platform": "Android", "facts": {"pushEnabled": True}})
            phone = Phone(base, reg["deviceId"], key)
            phone.signed("POST", "/device/v1/pair/finish")
            phones.append((name, phone))
        print("paired %d users in %.1f s" % (args.users, time.monotonic() - started))
        pid = server.proc.pid
        before = rss_kib(pid)
        peak = [before]
        stop = threading.Event()

        def sample():
            while not stop.is_set():
                peak[0] = max(peak[0], rss_kib(pid))
                time.sleep(0.05)

        results = []
        lock = threading.Lock()

        def sign_in(name):
            reply = client.call("authonline", {"spAlias": "web", "userName": name, "authType": "CONFIRM"})
            with lock:
                results.append(reply.error_id)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        started = time.monotonic()
        held = [threading.Thread(target=sign_in, args=(n,)) for n, _ in phones]
        for t in held:
            t.start()
        answering = [threading.Thread(target=p.approve_next) for _, p in phones]
        for t in answering:
            t.start()
        for t in held + answering:
            t.join()
        elapsed = time.monotonic() - started
        stop.set()
        sampler.join()
        after = rss_kib(pid)
        hwm = rss_kib(pid, "VmHWM")
        ok = sum(1 for r in results if r == 200)
        print("%d of %d held authonline answered 200 in %.1f s" % (ok, args.users, elapsed))
        print("server RSS: before %.1f MiB, peak %.1f MiB (VmHWM %.1f MiB), after %.1f MiB"
              % (before / 1024, peak[0] / 1024, hwm / 1024, after / 1024))
        return 0 if ok == args.users else 1
    finally:
        server.stop()
        server.cleanup(keep=False)


if __name__ == "__main__":
    sys.exit(main())
