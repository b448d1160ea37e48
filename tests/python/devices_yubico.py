"""A YubiKey stand-in for ``test_devices.py``: makes Yubico OTPs from known key material.

Written from the published OTP layout, on the standard library plus the ``cryptography``
package's AES (an implementation independent of the server's):

    plaintext (16 bytes) = private id (6)
                         | use counter (2, little-endian)
                         | timestamp (3, little-endian)
                         | session counter (1)
                         | random (2)
                         | CRC-16 (2, little-endian)

The CRC is the ones' complement of a CRC-16 with init 0xFFFF and the reflected
polynomial 0x8408 over the first 14 bytes; over all 16 bytes the same CRC then leaves the
residual 0xF0B8.  The block is AES-128 encrypted (one ECB block), modhex encoded and
prefixed with the key's modhex public id.
"""

import os

MODHEX_ALPHABET = "cbdefghijklnrtuv"
CRC_RESIDUAL = 0xF0B8
PLAINTEXT_LEN = 16


def modhex_encode(data):
    """Modhex of ``data``: two characters per byte, high nibble first."""
    return "".join(MODHEX_ALPHABET[b >> 4] + MODHEX_ALPHABET[b & 0x0F] for b in data)


def modhex_decode(text):
    """Bytes of a modhex string (lower or upper case); ValueError when malformed."""
    text = text.lower()
    if len(text) % 2:
        raise ValueError("odd modhex length: %r" % text)
    out = bytearray()
    for i in range(0, len(text), 2):
        hi, lo = MODHEX_ALPHABET.find(text[i]), MODHEX_ALPHABET.find(text[i + 1])
        if hi < 0 or lo < 0:
            raise ValueError("not modhex: %r" % text)
        out.append((hi << 4) | lo)
    return bytes(out)


def crc16(data):
    """CRC-16 as the Yubico OTP uses it (init 0xFFFF, reflected polynomial 0x8408), not inverted."""
    crc = 0xFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            if crc & 1:
                crc = (crc >> 1) ^ 0x8408
            else:
                crc >>= 1
    return crc


def plaintext(private_id, use_counter, timestamp, session_counter, rnd):
    """The 16-byte block before encryption, its CRC checked against the residual."""
    if len(private_id) != 6:
        raise ValueError("the private id is 6 bytes")
    if not 0 <= use_counter < 1 << 16 or not 0 <= timestamp < 1 << 24:
        raise ValueError("use counter or timestamp out of range")
    if not 0 <= session_counter < 1 << 8 or not 0 <= rnd < 1 << 16:
        raise ValueError("session counter or random out of range")
    head = (bytes(private_id)
            + use_counter.to_bytes(2, "little")
            + timestamp.to_bytes(3, "little")
            + bytes([session_counter])
            + rnd.to_bytes(2, "little"))
    block = head + ((~crc16(head)) & 0xFFFF).to_bytes(2, "little")
    assert len(block) == PLAINTEXT_LEN
    residual = crc16(block)
    if residual != CRC_RESIDUAL:
        raise AssertionError("CRC residual %#06x, expected %#06x" % (residual, CRC_RESIDUAL))
    return block


def aes128_ecb_encrypt(key, block):
    """One AES-128 block through the ``cryptography`` package."""
    try:
        from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
    except ImportError as err:  # pragma: no cover - reported by test_devices.py
        raise ImportError("YubiKey OTPs need the cryptography package: "
                          "pip install pyotp cryptography") from err
    if len(key) != 16 or len(block) != 16:
        raise ValueError("AES-128 takes a 16-byte key and one 16-byte block")
    encryptor = Cipher(algorithms.AES(bytes(key)), modes.ECB()).encryptor()
    return encryptor.update(bytes(block)) + encryptor.finalize()


def aes128_ecb_decrypt(key, block):
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
    decryptor = Cipher(algorithms.AES(bytes(key)), modes.ECB()).decryptor()
    return decryptor.update(bytes(block)) + decryptor.finalize()


class SoftYubiKey:
    """A YubiKey in Yubico OTP mode whose key material the test knows.

    Each ``otp()`` is one touch: the session counter rises; ``replug()`` starts a new
    power-up (use counter + 1, session counter back to 0).
    """

    def __init__(self, serial, public_id, private_id, aes_key, use_counter=1):
        modhex_decode(public_id)  # raises on a bad public id
        self.serial = str(serial)
        self.public_id = public_id.lower()
        self.private_id = bytes(private_id)
        self.aes_key = bytes(aes_key)
        self.use_counter = use_counter
        self.session_counter = 0
        self.timestamp = int.from_bytes(os.urandom(3), "little")

    @classmethod
    def random(cls, serial, public_id, private_id_hex):
        return cls(serial, public_id, bytes.fromhex(private_id_hex), os.urandom(16))

    def csv_line(self):
        """``serial,public_id,private_id_hex,aes_key_hex`` as `twofold yubikey import` reads it."""
        return "%s,%s,%s,%s" % (self.serial, self.public_id, self.private_id.hex(),
                                self.aes_key.hex())

    def replug(self):
        self.use_counter += 1
        self.session_counter = 0

    def otp(self):
        block = plaintext(self.private_id, self.use_counter, self.timestamp,
                          self.session_counter, int.from_bytes(os.urandom(2), "little"))
        self.session_counter = (self.session_counter + 1) & 0xFF
        self.timestamp = (self.timestamp + 8) & 0xFFFFFF  # ~8 Hz ticks between touches
        return self.public_id + modhex_encode(aes128_ecb_encrypt(self.aes_key, block))

    def decode(self, otp):
        """The plaintext block of one of this key's OTPs (for self-checks)."""
        if not otp.startswith(self.public_id) or len(otp) != len(self.public_id) + 32:
            raise ValueError("not an OTP of %s: %r" % (self.public_id, otp))
        return aes128_ecb_decrypt(self.aes_key, modhex_decode(otp[len(self.public_id):]))
