"""Ed25519 signature verification (RFC 8032, section 5.1.7) in pure Python.

The gateway only verifies (the edge signs with `cryptography`), so there is
no secret here and constant time does not matter. Points are in extended
twisted Edwards coordinates (X:Y:Z:T); [s]B - [k]A is one double-and-add
pass over both scalars (Straus/Shamir), then compared by encoding with R,
the cofactorless check that `cryptography`/OpenSSL make as well. Inputs are
checked as the RFC asks: s < L, canonical point encodings.
"""

from gateway.sha512 import sha512

P = (1 << 255) - 19
L = (1 << 252) + 27742317777372353535851937790883648493
D = 37095705934669439343138083508754565189542113879843219016388785533085940283555
D2 = 2 * D % P
SQRT_M1 = 19681161376707505956807079304988542015446066515923890162744021073123829784752
_BY = 46316835694926478169428394003475163141307993866256225615783033603165251855960
_BX = 15112221349535400772501151409588531511454012693041857206046113283949847762202
B = (_BX, _BY, 1, _BX * _BY % P)
ZERO = (0, 1, 1, 0)


def _add(p, q):
    x1, y1, z1, t1 = p
    x2, y2, z2, t2 = q
    a = (y1 - x1) * (y2 - x2) % P
    b = (y1 + x1) * (y2 + x2) % P
    c = t1 * D2 * t2 % P
    d = 2 * z1 * z2 % P
    e, f, g, h = b - a, d - c, d + c, b + a
    return (e * f % P, g * h % P, f * g % P, e * h % P)


def _double(p):
    x1, y1, z1, _ = p
    a = x1 * x1 % P
    b = y1 * y1 % P
    c = 2 * z1 * z1 % P
    h = a + b
    e = h - (x1 + y1) * (x1 + y1) % P
    g = a - b
    f = c + g
    return (e * f % P, g * h % P, f * g % P, e * h % P)


def _inv(x):
    return pow(x, P - 2, P)


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
    x = u * pow(v, 3, P) * pow(u * pow(v, 7, P), (P - 5) // 8, P) % P
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


def _double_mul(s, pa, k, pb):
    """[s]pa + [k]pb in one double-and-add pass over the bits of both scalars."""
    table = (ZERO, pa, pb, _add(pa, pb))
    r = ZERO
    for i in range(252, -1, -1):  # both scalars are below L < 2**253
        r = _double(r)
        j = ((s >> i) & 1) | (((k >> i) & 1) << 1)
        if j:
            r = _add(r, table[j])
    return r


def verify(public, message, signature):
    """True when `signature` (64 bytes) is `public`'s (32 bytes) Ed25519 signature of `message`."""
    if len(public) != 32 or len(signature) != 64:
        return False
    try:
        a = decode(public)
        decode(signature[:32])  # R must be a canonical point too
    except ValueError:
        return False
    s = int.from_bytes(signature[32:], "little")
    if s >= L:
        return False
    k = int.from_bytes(sha512(signature[:32] + public + message), "little") % L
    neg_a = ((P - a[0]) % P, a[1], a[2], (P - a[3]) % P)
    return encode(_double_mul(s, B, k, neg_a)) == signature[:32]
