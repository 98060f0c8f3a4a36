"""Sealed bids (P1): nobody reads a quote before its gate closes, anyone checks it after.

The edge, as the market's organiser, makes a fresh X25519 key per interval and
round and announces its public half in a message signed with the edge's
Ed25519 key. A gateway seals the price and quantity of its bid to that key:

    eph            = a fresh X25519 key of the gateway (one per bid)
    shared         = X25519(eph, organiser public key)
    key || nonce   = HKDF-SHA256(ikm=shared, salt=eph_pub || organiser_pub,
                                 info="carbon-edge sealed bid v1", 44 bytes)
    plaintext      = price (4 bytes) || qty_wh (4 bytes), unsigned big-endian
    aad            = "carbon-edge sealed bid v1|" gw "|" interval "|" round
    blob           = eph_pub (32 bytes) || ChaCha20-Poly1305(key, nonce, plaintext, aad)
                     (8 bytes of ciphertext + 16 bytes of tag: 56 bytes in all)
    commitment     = SHA-256(blob)

The edge records the commitment before the gate closes, opens the blobs only
after closure, publishes the opened bids with the result and, after closure,
the organiser's private key, so anyone can redo every opening and compare it
with its commitment. docs/market.md "Sealed bids" is the wire format for the
firmware; tests/vectors/sealed.json holds shared test vectors.

Why a key derived per bid and a nonce from HKDF: each blob has its own
ephemeral key, so key and nonce are never reused, and no nonce travels (as in
HPKE's base mode). Everything here is pure; `cryptography` does the
primitives. Refusals carry a reason code (``SealedBidError.reason``) that the
caller counts.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from edge.protocol.auth import add_signature, check_signature
from edge.protocol.errors import ProtocolError
from edge.protocol.identity import PrivateKey

from .clearing import LIMIT

VERSION = b"carbon-edge sealed bid v1"
KEY_BYTES = 32
TAG_BYTES = 16
PLAIN_BYTES = 8
BLOB_BYTES = KEY_BYTES + PLAIN_BYTES + TAG_BYTES
KID_BYTES = 8

#: Reason codes of refused sealed bids (the counter labels).
STALE_KEY = "stale_key"
UNKNOWN_KEY = "unknown_key"
DOES_NOT_OPEN = "does_not_open"
HASH_MISMATCH = "hash_mismatch"
PLAINTEXT_BID = "plaintext_bid"
BAD_ANNOUNCEMENT = "bad_announcement"


class SealedBidError(ValueError):
    """A sealed bid or key announcement refused; ``reason`` is one of the codes above."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def _raw(pub: X25519PublicKey) -> bytes:
    return pub.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_id(organiser_pub: bytes) -> str:
    """The short name a bid gives the organiser key it was sealed to: hex(SHA-256(pub)[:8])."""
    return hashlib.sha256(organiser_pub).digest()[:KID_BYTES].hex()


@dataclass(frozen=True)
class OrganiserKey:
    """The organiser's X25519 key of one interval and round."""

    interval: int
    round: int
    private: X25519PrivateKey

    @classmethod
    def generate(cls, interval: int, round_no: int) -> OrganiserKey:
        return cls(interval, round_no, X25519PrivateKey.generate())

    @classmethod
    def from_private_bytes(cls, interval: int, round_no: int, raw: bytes) -> OrganiserKey:
        return cls(interval, round_no, X25519PrivateKey.from_private_bytes(raw))

    @cached_property
    def public(self) -> bytes:
        return _raw(self.private.public_key())

    @property
    def private_bytes(self) -> bytes:
        """Published after the gate closes, so anyone can redo the openings."""
        return self.private.private_bytes(serialization.Encoding.Raw,
                                          serialization.PrivateFormat.Raw,
                                          serialization.NoEncryption())

    @cached_property
    def kid(self) -> str:
        return key_id(self.public)


def announcement(site: str, key: OrganiserKey, edge_key: PrivateKey, ts: int) -> dict[str, Any]:
    """The signed message that publishes the organiser's public key for (interval, round)."""
    body = {"v": 1, "type": "organiser_key", "site": site, "interval": key.interval,
            "round": key.round, "ts": ts, "pub": key.public.hex(), "kid": key.kid}
    return add_signature(body, edge_key)


def check_announcement(msg: Mapping[str, Any], edge_id: str) -> tuple[int, int, bytes]:
    """(interval, round, organiser public key) of an announcement signed by ``edge_id``."""
    try:
        check_signature(dict(msg), edge_id)
    except ProtocolError as exc:
        raise SealedBidError(BAD_ANNOUNCEMENT, f"organiser key announcement: {exc}") from None
    try:
        pub = bytes.fromhex(msg["pub"])
        interval, rnd = msg["interval"], msg["round"]
        ok = (msg.get("type") == "organiser_key" and len(pub) == KEY_BYTES
              and all(isinstance(v, int) and not isinstance(v, bool) and v >= 0
                      for v in (interval, rnd))
              and msg.get("kid") == key_id(pub))
    except (KeyError, TypeError, ValueError):
        ok = False
    if not ok:
        raise SealedBidError(BAD_ANNOUNCEMENT, "organiser key announcement is malformed")
    return interval, rnd, pub


def aad(gw: str, interval: int, round_no: int) -> bytes:
    """The associated data: binds a blob to its gateway, interval and round."""
    return b"%s|%s|%d|%d" % (VERSION, gw.encode("ascii"), interval, round_no)


def _key_nonce(shared: bytes, eph_pub: bytes, organiser_pub: bytes) -> tuple[bytes, bytes]:
    okm = HKDF(algorithm=hashes.SHA256(), length=44, salt=eph_pub + organiser_pub,
               info=VERSION).derive(shared)
    return okm[:32], okm[32:]


def seal(price: int, qty_wh: int, organiser_pub: bytes, gw: str, interval: int, round_no: int,
         ephemeral: X25519PrivateKey | None = None) -> bytes:
    """The 56-byte blob of a bid (``ephemeral`` only for test vectors: fresh by default)."""
    if not (0 <= price < LIMIT and 1 <= qty_wh < LIMIT):
        raise ValueError(f"price {price} or qty_wh {qty_wh} out of range")
    eph = ephemeral or X25519PrivateKey.generate()
    eph_pub = _raw(eph.public_key())
    shared = eph.exchange(X25519PublicKey.from_public_bytes(organiser_pub))
    key, nonce = _key_nonce(shared, eph_pub, organiser_pub)
    ct = ChaCha20Poly1305(key).encrypt(nonce, struct.pack(">II", price, qty_wh),
                                       aad(gw, interval, round_no))
    return eph_pub + ct


def commitment(blob: bytes) -> str:
    """What the chain records before the gate closes: hex(SHA-256(blob))."""
    return hashlib.sha256(blob).hexdigest()


def check_key(kid: str, current: OrganiserKey, known: Mapping[str, OrganiserKey]) -> None:
    """Refuse a bid sealed to any key but the current one: stale if ever announced, else unknown."""
    if kid == current.kid:
        return
    if kid in known:
        k = known[kid]
        raise SealedBidError(STALE_KEY, f"sealed to the key of interval {k.interval} round "
                                        f"{k.round}, not of interval {current.interval} round "
                                        f"{current.round}")
    raise SealedBidError(UNKNOWN_KEY, f"sealed to an unknown organiser key {kid!r}")


def open_bid(blob: bytes, key: OrganiserKey, gw: str) -> tuple[int, int]:
    """(price, qty_wh) of a blob sealed to ``key`` by ``gw``; DOES_NOT_OPEN otherwise."""
    if not isinstance(blob, bytes) or len(blob) != BLOB_BYTES:
        raise SealedBidError(DOES_NOT_OPEN, f"a sealed bid is {BLOB_BYTES} bytes")
    eph_pub, ct = blob[:KEY_BYTES], blob[KEY_BYTES:]
    try:
        shared = key.private.exchange(X25519PublicKey.from_public_bytes(eph_pub))
        k, nonce = _key_nonce(shared, eph_pub, key.public)
        plain = ChaCha20Poly1305(k).decrypt(nonce, ct, aad(gw, key.interval, key.round))
    except (InvalidTag, ValueError):
        raise SealedBidError(DOES_NOT_OPEN, "the sealed bid does not open with the organiser key "
                                            "for this gateway, interval and round") from None
    price, qty = struct.unpack(">II", plain)
    if not (price < LIMIT and 1 <= qty < LIMIT):
        raise SealedBidError(DOES_NOT_OPEN, f"opened bid out of range: price {price}, qty {qty}")
    return price, qty


def verify_opening(blob: bytes, committed: str, price: int, qty_wh: int, private: bytes,
                   gw: str, interval: int, round_no: int) -> None:
    """A verifier's check of one published opening against the chain's commitment.

    HASH_MISMATCH when the blob is not the committed one; DOES_NOT_OPEN when it
    does not open to the published price and quantity with the published key.
    """
    if commitment(blob) != committed:
        raise SealedBidError(HASH_MISMATCH, "the opened bid's blob is not the committed one")
    got = open_bid(blob, OrganiserKey.from_private_bytes(interval, round_no, private), gw)
    if got != (price, qty_wh):
        raise SealedBidError(DOES_NOT_OPEN, f"the blob opens to {got}, not to the published "
                                            f"({price}, {qty_wh})")


def require_sealed(bid: Mapping[str, Any], sealed_required: bool) -> None:
    """Refuse a plain-text price or quantity where the site requires sealed bids."""
    if sealed_required and ("sealed" not in bid or "price" in bid or "qty_wh" in bid):
        raise SealedBidError(PLAINTEXT_BID, "this site requires sealed bids: no plain price or "
                                            "quantity, a \"sealed\" blob instead")
