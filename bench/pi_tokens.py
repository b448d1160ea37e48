#!/usr/bin/env python3
"""Write a privacyIDEA token import file for bench/compare-privacyidea.sh.

Run with the python of the privacyIDEA venv. It writes one TOTP token per bench user in the
format that `pi-tokenjanitor import privacyidea FILE --keyfile KEYFILE --user` reads (a
Fernet-encrypted JSON list of privacyIDEA's own token export dicts), so the tokens are created
in one management-CLI process instead of one admin REST call each.

The seeds follow `twofold seed --bench-key`: user `<prefix><n>` gets the first 20 bytes of
HMAC-SHA256(KEY, username) (TOTP, SHA-1, 6 digits, 30 s), so twofold-bench computes the same
codes for both servers.

--pin-hash-of PIN stores the PIN hash that privacyIDEA's default configuration produces
(its CryptContext with DEFAULT_HASH_ALGO_LIST / DEFAULT_HASH_ALGO_PARAMS, i.e. argon2 with its
default cost). The hash is computed once and stored for every token: verifying it costs the same
as verifying a separately salted hash, and computing 20,000 of them would take hours. Without
--pin-hash-of the tokens have no PIN hash at all, and privacyIDEA then compares the PIN part of
the password with the empty string instead of hashing it.
"""

import argparse
import hashlib
import hmac
import json
import sqlite3
import sys

from cryptography.fernet import Fernet


def default_pin_hash(pin: str) -> str:
    """The hash privacyIDEA's default configuration stores for `pin` (no PI_HASH_ALGO_* in pi.cfg)."""
    from passlib.context import CryptContext
    from privacyidea.lib import passlib_compat  # noqa: F401 - as privacyidea.lib.crypto does
    from privacyidea.lib.crypto import DEFAULT_HASH_ALGO_LIST, DEFAULT_HASH_ALGO_PARAMS

    return CryptContext(DEFAULT_HASH_ALGO_LIST, **DEFAULT_HASH_ALGO_PARAMS).hash(pin)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--db", required=True, help="the privacyIDEA SQLite file (for the user ids)")
    p.add_argument("--resolver", required=True, help="the internal SQL resolver holding the users")
    p.add_argument("--realm", required=True)
    p.add_argument("--users", type=int, required=True)
    p.add_argument("--prefix", default="user")
    p.add_argument("--bench-key", required=True)
    p.add_argument("--pin-hash-of", default=None, help="store privacyIDEA's default hash of this PIN")
    p.add_argument("--out", required=True, help="the encrypted token file to write")
    p.add_argument("--keyfile", required=True, help="where to write the Fernet key")
    args = p.parse_args()
    if not 1 <= args.users <= 2_000_000:
        sys.exit("--users must be in 1..2000000")

    table = f"users_{args.resolver}"
    with sqlite3.connect(args.db) as db:
        uids = dict(db.execute(f'SELECT username, id FROM "{table}"'))  # noqa: S608 - our own resolver name
    pin_hash = default_pin_hash(args.pin_hash_of) if args.pin_hash_of is not None else None
    key = args.bench_key.encode()
    tokens = []
    for n in range(args.users):
        name = f"{args.prefix}{n}"
        if name not in uids:
            sys.exit(f"user {name} is not in {table}")
        seed = hmac.new(key, name.encode(), hashlib.sha256).digest()[:20]
        tokens.append(
            {
                "serial": f"BENCH{n:08d}",
                "type": "totp",
                "otpkey": seed.hex(),
                "otplen": 6,
                "description": "twofold-bench",
                "_hashed_pin": pin_hash,
                "info_list": {"timeStep": "30", "hashlib": "sha1", "tokenkind": "software"},
                "user": {"login": name, "realm": args.realm, "resolver": args.resolver, "uid": str(uids[name])},
            }
        )
    fernet_key = Fernet.generate_key()
    with open(args.keyfile, "wb") as f:
        f.write(fernet_key)
    with open(args.out, "wb") as f:
        f.write(Fernet(fernet_key).encrypt(json.dumps(tokens).encode()))
    print(f"{len(tokens)} tokens, PIN hash: {pin_hash.split('$')[1:4] if pin_hash else 'none'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
