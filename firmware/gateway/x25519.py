"""X25519 (RFC 7748 section 5) in pure Python: the gateway's half of a sealed bid.

The Montgomery ladder over u-coordinates, as the RFC writes it. Python
big integers are not constant time, so the timing of a scalar
multiplication depends on the scalar; the scalar here is the ephemeral key
of one bid, whose plaintext becomes public at gate closure anyway
(docs/firmware.md, "Sealed bids").
"""

from gateway.field25519 import P, inv

A24 = 121665
BASE_U = 9


def _clamp(k):
    b = bytearray(k)
    b[0] &= 248
    b[31] &= 127
    b[31] |= 64
    return int.from_bytes(bytes(b), "little")


def x25519(scalar, u):
    """X25519(scalar, u) for 32-byte strings: the 32-byte u-coordinate of [clamp(k)]u."""
    if len(scalar) != 32 or len(u) != 32:
        raise ValueError("X25519 takes 32-byte scalars and u-coordinates")
    k = _clamp(scalar)
    x1 = int.from_bytes(u, "little") & ((1 << 255) - 1)
    x1 %= P
    x2, z2, x3, z3 = 1, 0, x1, 1
    swap = 0
    for t in range(254, -1, -1):
        kt = (k >> t) & 1
        if swap ^ kt:
            x2, x3, z2, z3 = x3, x2, z3, z2
        swap = kt
        a = x2 + z2
        aa = a * a % P
        b = x2 - z2 + P
        bb = b * b % P
        e = aa - bb + P
        c = x3 + z3
        d = x3 - z3 + P
        da = d * a % P
        cb = c * b % P
        s = da + cb
        x3 = s * s % P
        s = da - cb + P
        z3 = x1 * (s * s % P) % P
        x2 = aa * bb % P
        z2 = e * ((aa + A24 * e) % P) % P
    if swap:
        x2, z2 = x3, z3
    return (x2 * inv(z2) % P).to_bytes(32, "little")


def public_key(private):
    """The 32-byte public key of a 32-byte private key: X25519(k, 9)."""
    return x25519(private, BASE_U.to_bytes(32, "little"))
