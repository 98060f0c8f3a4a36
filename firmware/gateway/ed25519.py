"""Ed25519 signature verification (RFC 8032, section 5.1.7) in pure Python.

The gateway only verifies (the edge signs with `cryptography`), so there is
no secret here and constant time does not matter. Points are in extended
twisted Edwards coordinates (X:Y:Z:T); [s]B - [k]A is one pass over both
scalars with 4-tooth comb tables of B and of the key (Straus/Shamir), then
compared by encoding with R,
the cofactorless check that `cryptography`/OpenSSL make as well. Inputs are
checked as the RFC asks: s < L, a canonical public key; `Verifier` keeps a
decoded key for many messages.
"""

from gateway.field25519 import P, inv as _inv, power as _pow
from gateway.sha512 import sha512

L = (1 << 252) + 27742317777372353535851937790883648493
D = 37095705934669439343138083508754565189542113879843219016388785533085940283555
D2 = 2 * D % P
SQRT_M1 = 19681161376707505956807079304988542015446066515923890162744021073123829784752
_BY = 46316835694926478169428394003475163141307993866256225615783033603165251855960
_BX = 15112221349535400772501151409588531511454012693041857206046113283949847762202
B = (_BX, _BY, 1, _BX * _BY % P)
ZERO = (0, 1, 1, 0)


def _add(p, q):
    # every intermediate stays non-negative: MicroPython's big-int % is slower on negatives
    x1, y1, z1, t1 = p
    x2, y2, z2, t2 = q
    a = (y1 - x1 + P) * (y2 - x2 + P) % P
    b = (y1 + x1) * (y2 + x2) % P
    c = t1 * D2 % P * t2 % P
    d = 2 * z1 * z2 % P
    e, f, g, h = b - a + P, d - c + P, d + c, b + a
    return (e * f % P, g * h % P, f * g % P, e * h % P)


def _double(p):
    x1, y1, z1, _ = p
    a = x1 * x1 % P
    b = y1 * y1 % P
    c = 2 * z1 * z1 % P
    h = a + b
    xy = x1 + y1
    e = h + P - xy * xy % P
    g = a + P - b
    f = c + g
    return (e * f % P, g * h % P, f * g % P, e * h % P)


def encode(p):
    x, y, z, _ = p
    zi = _inv(z)
    x, y = x * zi % P, y * zi % P
    return (y | ((x & 1) << 255)).to_bytes(32, "little")


def decode(s):
    """A point from its 32-byte encoding; ValueError if it is not a canonical curve point."""
    if len(s) != 32:
        raise ValueError("point must be 32 bytes")
    y = int.from_bytes(s, "little")
    sign = y >> 255
    y &= (1 << 255) - 1
    if y >= P:
        raise ValueError("point y is not reduced")
    u, v = (y * y - 1) % P, (D * y * y + 1) % P
    v3 = v * v % P * v % P
    x = u * v3 % P * _pow(u * v3 % P * v3 % P * v % P, (P - 5) // 8) % P
    vxx = v * x * x % P
    if vxx == (P - u) % P:
        x = x * SQRT_M1 % P
    elif vxx != u:
        raise ValueError("not a point on the curve")
    if x == 0 and sign:
        raise ValueError("point x = 0 with the sign bit set")
    if x & 1 != sign:
        x = P - x
    return (x, y, 1, x * y % P)


def _table(p):
    """The comb table of p: entry j = sum of [2**(64*b)]p over the set bits b of j (0..15).

    Built once per key (192 doublings); then a scalar multiplication needs
    64 doublings instead of 256, shared by both scalars of a verification.
    """
    bases = [p]
    for _ in range(3):
        q = bases[-1]
        for _ in range(64):
            q = _double(q)
        bases.append(q)
    t = [ZERO]
    for j in range(1, 16):
        low = j & -j
        b = bases[(1, 2, 4, 8).index(low)]
        t.append(b if j == low else _add(t[j ^ low], b))
    return t


_B_TABLE = []


def _teeth(x, i):
    """Bits i, i+64, i+128 and i+192 of x as a 4-bit comb index."""
    return ((x >> i) & 1) | ((x >> (i + 63)) & 2) | ((x >> (i + 126)) & 4) | ((x >> (i + 189)) & 8)


def _double_mul(s, k, a_table):
    """[s]B + [k]A for scalars below 2**256 from the comb tables of B and A.

    64 shared doublings and at most one addition per scalar per step (about
    64 doublings and 120 additions instead of 253 and ~190 bit by bit).
    """
    if not _B_TABLE:
        _B_TABLE.extend(_table(B))
    bt = _B_TABLE
    r = ZERO
    for i in range(63, -1, -1):
        r = _double(r)
        j = _teeth(s, i)
        if j:
            r = _add(r, bt[j])
        j = _teeth(k, i)
        if j:
            r = _add(r, a_table[j])
    return r


class Verifier:
    """Ed25519 verification for one public key (32 bytes), decoded once.

    The gateway checks every downlink message against the one edge key, so
    the key's decoding and its comb table are paid once, not per message.
    Raises ValueError when `public` is not a canonical curve point.
    """

    def __init__(self, public):
        self.public = bytes(public)
        a = decode(self.public)
        self.neg_a_table = _table(((P - a[0]) % P, a[1], a[2], (P - a[3]) % P))

    def verify(self, message, signature):
        """True when `signature` (64 bytes) is this key's signature of `message` (RFC 8032 5.1.7).

        R is not decoded: the computed point's encoding is canonical, so a
        non-canonical or off-curve R can never equal it.
        """
        if len(signature) != 64:
            return False
        s = int.from_bytes(signature[32:], "little")
        if s >= L:
            return False
        r = bytes(signature[:32])
        k = int.from_bytes(sha512(r + self.public + message), "little") % L
        return encode(_double_mul(s, k, self.neg_a_table)) == r


def verify(public, message, signature):
    """True when `signature` (64 bytes) is `public`'s (32 bytes) Ed25519 signature of `message`."""
    if len(public) != 32:
        return False
    try:
        v = Verifier(public)
    except ValueError:
        return False
    return v.verify(message, signature)
