"""A sealed bid (P1): the bid's price and quantity encrypted to the organiser's key.

The wire format is the edge's (docs/market.md "Sealed bids", edge/market/sealed.py):

    e, epk       = a fresh X25519 key per bid
    shared       = X25519(e, organiser_pub)            (all zero: refused)
    key || nonce = HKDF-SHA256(shared, salt = epk || organiser_pub,
                               info = "carbon-edge sealed bid v1", 44 bytes)
    blob         = epk || ChaCha20-Poly1305(key, nonce, price || qty_wh, aad)
    aad          = "carbon-edge sealed bid v1|<gw>|<interval>|<round>"

price and qty_wh are 4-byte unsigned big-endian. The gateway sends the blob
as hex with `kid`, the organiser key's short name.
"""

import hashlib
import os

from gateway.chacha20poly1305 import encrypt
from gateway.hkdf import hkdf_sha256
from gateway.x25519 import public_key, x25519

VERSION = b"carbon-edge sealed bid v1"
LIMIT = 1 << 31
BLOB_BYTES = 56


def aad(gw, interval, round_):
    return b"%s|%s|%d|%d" % (VERSION, gw.encode(), interval, round_)


def key_id(organiser_pub):
    """hex(SHA-256(pub)[:8]): the name a bid gives the organiser key it was sealed to."""
    return hashlib.sha256(organiser_pub).digest()[:8].hex()


def seal(price, qty_wh, organiser_pub, gw, interval, round_, ephemeral=None):
    """The 56-byte blob of a bid; `ephemeral` (32 bytes) only for test vectors."""
    if not (0 <= price < LIMIT and 1 <= qty_wh < LIMIT):
        raise ValueError("price %d or qty_wh %d out of range" % (price, qty_wh))
    if len(organiser_pub) != 32:
        raise ValueError("organiser key must be 32 bytes")
    eph = ephemeral if ephemeral is not None else os.urandom(32)
    epk = public_key(eph)
    shared = x25519(eph, organiser_pub)
    if shared == bytes(32):
        raise ValueError("organiser key is a low-order point")
    okm = hkdf_sha256(shared, epk + organiser_pub, VERSION, 44)
    plain = price.to_bytes(4, "big") + qty_wh.to_bytes(4, "big")
    return epk + encrypt(okm[:32], okm[32:], plain, aad(gw, interval, round_))


def commitment(blob):
    """hex(SHA-256(blob)): what the edge records on the chain before the gate closes."""
    return hashlib.sha256(blob).digest().hex()
