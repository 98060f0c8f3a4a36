"""HKDF with HMAC-SHA256 (RFC 5869): extract, then expand to `length` bytes."""

from gateway.hmac256 import HMAC


def hkdf_sha256(ikm, salt, info, length):
    if length > 255 * 32:
        raise ValueError("HKDF-SHA256 yields at most 8160 bytes")
    prk = HMAC(salt or bytes(32)).digest(ikm)
    mac = HMAC(prk)
    out, t, i = b"", b"", 1
    while len(out) < length:
        t = mac.digest(t + info + bytes([i]))
        out += t
        i += 1
    return out[:length]
