"""ChaCha20-Poly1305 AEAD (RFC 8439) in pure Python: encryption and tag of a sealed bid.

ChaCha20 works on 32-bit words (small integers on 64-bit ports); Poly1305
on 130-bit integers. Sizes here are tiny (an 8-byte bid, a short aad), so
clarity wins over speed. `open` exists for the tests' round trips; the
gateway only seals.
"""

_M32 = 0xFFFFFFFF
_P1305 = (1 << 130) - 5
_SIGMA = (0x61707865, 0x3320646E, 0x79622D32, 0x6B206574)  # "expand 32-byte k"


def _words(b):
    return [int.from_bytes(b[i:i + 4], "little") for i in range(0, len(b), 4)]


def _qr(s, a, b, c, d):
    s[a] = (s[a] + s[b]) & _M32
    x = s[d] ^ s[a]
    s[d] = ((x << 16) | (x >> 16)) & _M32
    s[c] = (s[c] + s[d]) & _M32
    x = s[b] ^ s[c]
    s[b] = ((x << 12) | (x >> 20)) & _M32
    s[a] = (s[a] + s[b]) & _M32
    x = s[d] ^ s[a]
    s[d] = ((x << 8) | (x >> 24)) & _M32
    s[c] = (s[c] + s[d]) & _M32
    x = s[b] ^ s[c]
    s[b] = ((x << 7) | (x >> 25)) & _M32


def chacha20_block(key, counter, nonce):
    """One 64-byte ChaCha20 key-stream block (RFC 8439 section 2.3)."""
    init = list(_SIGMA) + _words(key) + [counter & _M32] + _words(nonce)
    s = list(init)
    for _ in range(10):
        _qr(s, 0, 4, 8, 12)
        _qr(s, 1, 5, 9, 13)
        _qr(s, 2, 6, 10, 14)
        _qr(s, 3, 7, 11, 15)
        _qr(s, 0, 5, 10, 15)
        _qr(s, 1, 6, 11, 12)
        _qr(s, 2, 7, 8, 13)
        _qr(s, 3, 4, 9, 14)
    return b"".join(((x + y) & _M32).to_bytes(4, "little") for x, y in zip(s, init))


def chacha20(key, counter, nonce, data):
    out = bytearray(len(data))
    for i in range(0, len(data), 64):
        ks = chacha20_block(key, counter + i // 64, nonce)
        for j in range(min(64, len(data) - i)):
            out[i + j] = data[i + j] ^ ks[j]
    return bytes(out)


def poly1305(key, msg):
    """The 16-byte Poly1305 tag of `msg` under a one-time 32-byte key (section 2.5)."""
    r = int.from_bytes(key[:16], "little") & 0x0FFFFFFC0FFFFFFC0FFFFFFC0FFFFFFF
    s = int.from_bytes(key[16:32], "little")
    acc = 0
    for i in range(0, len(msg), 16):
        n = int.from_bytes(msg[i:i + 16] + b"\x01", "little")
        acc = (acc + n) * r % _P1305
    return ((acc + s) & ((1 << 128) - 1)).to_bytes(16, "little")


def _pad16(n):
    return bytes((16 - n % 16) % 16)


def _tag(key, nonce, aad, ct):
    otk = chacha20_block(key, 0, nonce)[:32]
    mac = (aad + _pad16(len(aad)) + ct + _pad16(len(ct))
           + len(aad).to_bytes(8, "little") + len(ct).to_bytes(8, "little"))
    return poly1305(otk, mac)


def encrypt(key, nonce, plaintext, aad):
    """ciphertext || 16-byte tag (section 2.8), for a 32-byte key and a 12-byte nonce."""
    if len(key) != 32 or len(nonce) != 12:
        raise ValueError("ChaCha20-Poly1305 takes a 32-byte key and a 12-byte nonce")
    ct = chacha20(key, 1, nonce, plaintext)
    return ct + _tag(key, nonce, aad, ct)


def decrypt(key, nonce, sealed, aad):
    """The plaintext of ciphertext || tag; ValueError when the tag does not match."""
    if len(sealed) < 16:
        raise ValueError("shorter than a tag")
    ct, tag = sealed[:-16], sealed[-16:]
    want = _tag(key, nonce, aad, ct)
    diff = 0
    for a, b in zip(want, tag):
        diff |= a ^ b
    if diff:
        raise ValueError("tag does not match")
    return chacha20(key, 1, nonce, ct)
