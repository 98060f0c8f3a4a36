"""HMAC-SHA256 per RFC 2104, because the unix port has hashlib.sha256 but no hmac.

Checked against CPython's hmac and the RFC 4231 test cases (tests/firmware).
"""

import hashlib
from binascii import hexlify

BLOCK = 64
_IPAD = bytes(0x36 for _ in range(BLOCK))
_OPAD = bytes(0x5C for _ in range(BLOCK))


def _xor(key, pad):
    return bytes(k ^ p for k, p in zip(key, pad))


class HMAC:
    """Keyed once, used for many messages: the padded keys are computed one time."""

    def __init__(self, key):
        if len(key) > BLOCK:
            key = hashlib.sha256(key).digest()
        key = key + bytes(BLOCK - len(key))
        self._ikey = _xor(key, _IPAD)
        self._okey = _xor(key, _OPAD)

    def digest(self, msg):
        inner = hashlib.sha256(self._ikey)
        inner.update(msg)
        outer = hashlib.sha256(self._okey)
        outer.update(inner.digest())
        return outer.digest()

    def hexdigest(self, msg):
        return hexlify(self.digest(msg)).decode()


def hmac_sha256(key, msg):
    return HMAC(key).digest(msg)


def compare(a, b):
    """Constant-time comparison of two equal-length byte or str values."""
    if len(a) != len(b):
        return False
    if isinstance(a, str):
        a = a.encode()
    if isinstance(b, str):
        b = b.encode()
    r = 0
    for x, y in zip(a, b):
        r |= x ^ y
    return r == 0
