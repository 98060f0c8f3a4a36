"""Sealed bids: the wire format against shared vectors, and every refusal with its reason code.

The vectors (tests/vectors/sealed.json) are pinned from edge/market/sealed.py,
but their steps are checked independently here: the X25519 shared secret is
RFC 7748 section 6.1's published value, the HKDF output is recomputed with a
hand-written RFC 5869 over the standard library's HMAC, and the ciphertext is
re-made from those with the bare AEAD.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

from edge.market import sealed as S
from edge.protocol.auth import add_signature
from edge.protocol.identity import PrivateKey, public_id

VECTORS = json.loads((Path(__file__).parents[1] / "vectors" / "sealed.json").read_text())
RFC7748_SHARED = "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742"


def hkdf_sha256(ikm: bytes, salt: bytes, info: bytes, n: int) -> bytes:
    """RFC 5869, written out."""
    prk = hmac.new(salt, ikm, hashlib.sha256).digest()
    out, t, i = b"", b"", 1
    while len(out) < n:
        t = hmac.new(prk, t + info + bytes([i]), hashlib.sha256).digest()
        out += t
        i += 1
    return out[:n]


@pytest.mark.parametrize("v", VECTORS["cases"], ids=lambda v: v["gw"])
def test_vectors_step_by_step(v):
    assert v["shared"] == RFC7748_SHARED
    okm = hkdf_sha256(bytes.fromhex(v["shared"]),
                      bytes.fromhex(v["ephemeral_public"] + v["organiser_public"]),
                      b"carbon-edge sealed bid v1", 44)
    assert (okm[:32].hex(), okm[32:].hex()) == (v["key"], v["nonce"])
    assert v["aad"] == f"carbon-edge sealed bid v1|{v['gw']}|{v['interval']}|{v['round']}"
    plain = v["price"].to_bytes(4, "big") + v["qty_wh"].to_bytes(4, "big")
    assert plain.hex() == v["plaintext"]
    ct = ChaCha20Poly1305(okm[:32]).encrypt(okm[32:], plain, v["aad"].encode())
    blob = bytes.fromhex(v["ephemeral_public"]) + ct
    assert blob.hex() == v["blob"] and len(blob) == 56
    assert hashlib.sha256(blob).hexdigest() == v["commitment"]
    assert hashlib.sha256(bytes.fromhex(v["organiser_public"])).hexdigest()[:16] == v["kid"]
    # and the module makes and opens exactly these
    key = S.OrganiserKey.from_private_bytes(v["interval"], v["round"],
                                            bytes.fromhex(v["organiser_private"]))
    eph = X25519PrivateKey.from_private_bytes(bytes.fromhex(v["ephemeral_private"]))
    assert S.seal(v["price"], v["qty_wh"], key.public, v["gw"], v["interval"], v["round"],
                  eph) == blob
    assert S.open_bid(blob, key, v["gw"]) == (v["price"], v["qty_wh"])
    assert key.kid == v["kid"] and S.commitment(blob) == v["commitment"]
    S.verify_opening(blob, v["commitment"], v["price"], v["qty_wh"], key.private_bytes,
                     v["gw"], v["interval"], v["round"])


def reason(fn, *args) -> str:
    with pytest.raises(S.SealedBidError) as e:
        fn(*args)
    return e.value.reason


def test_a_fresh_seal_opens_only_for_its_gateway_interval_and_round():
    key = S.OrganiserKey.generate(900, 1)
    blob = S.seal(95000, 1200, key.public, "gw-01", 900, 1)
    assert blob != S.seal(95000, 1200, key.public, "gw-01", 900, 1)  # a fresh key each time
    assert S.open_bid(blob, key, "gw-01") == (95000, 1200)
    assert reason(S.open_bid, blob, key, "gw-02") == S.DOES_NOT_OPEN
    assert reason(S.open_bid, blob, S.OrganiserKey(900, 2, key.private), "gw-01") == \
        S.DOES_NOT_OPEN  # another round
    assert reason(S.open_bid, blob, S.OrganiserKey(1800, 1, key.private), "gw-01") == \
        S.DOES_NOT_OPEN  # another interval
    assert reason(S.open_bid, blob, S.OrganiserKey.generate(900, 1), "gw-01") == S.DOES_NOT_OPEN
    tampered = blob[:40] + bytes([blob[40] ^ 1]) + blob[41:]
    assert reason(S.open_bid, tampered, key, "gw-01") == S.DOES_NOT_OPEN
    assert reason(S.open_bid, blob[:-1], key, "gw-01") == S.DOES_NOT_OPEN
    assert reason(S.open_bid, bytes(56), key, "gw-01") == S.DOES_NOT_OPEN  # low-order point
    with pytest.raises(ValueError, match="out of range"):
        S.seal(2**31, 1, key.public, "gw-01", 900, 1)


def test_stale_and_unknown_keys():
    old, now = S.OrganiserKey.generate(900, 0), S.OrganiserKey.generate(900, 1)
    known = {k.kid: k for k in (old, now)}
    S.check_key(now.kid, now, known)
    assert reason(S.check_key, old.kid, now, known) == S.STALE_KEY
    assert reason(S.check_key, S.OrganiserKey.generate(0, 0).kid, now, known) == S.UNKNOWN_KEY


def test_hash_mismatch_and_a_false_opening():
    key = S.OrganiserKey.generate(900, 0)
    blob = S.seal(50000, 700, key.public, "gw-01", 900, 0)
    other = S.seal(50000, 700, key.public, "gw-01", 900, 0)
    c = S.commitment(blob)
    args = (key.private_bytes, "gw-01", 900, 0)
    S.verify_opening(blob, c, 50000, 700, *args)
    assert reason(S.verify_opening, other, c, 50000, 700, *args) == S.HASH_MISMATCH
    assert reason(S.verify_opening, blob, c, 50001, 700, *args) == S.DOES_NOT_OPEN


def test_plaintext_bid_where_sealed_are_required():
    sealed = {"gw": "gw-01", "sealed": "00" * 56, "kid": "00" * 8}
    S.require_sealed(sealed, True)
    S.require_sealed({"price": 1, "qty_wh": 1}, False)
    assert reason(S.require_sealed, {"price": 1, "qty_wh": 1}, True) == S.PLAINTEXT_BID
    assert reason(S.require_sealed, {**sealed, "price": 1}, True) == S.PLAINTEXT_BID


def test_the_announcement_is_signed_by_the_edge():
    edge = PrivateKey.generate()
    key = S.OrganiserKey.generate(1800, 2)
    msg = S.announcement("s1", key, edge, 123)
    assert S.check_announcement(msg, public_id(edge.public_key())) == (1800, 2, key.public)
    other = public_id(PrivateKey.generate().public_key())
    assert reason(S.check_announcement, msg, other) == S.BAD_ANNOUNCEMENT
    forged = {**msg, "pub": S.OrganiserKey.generate(1800, 2).public.hex()}
    assert reason(S.check_announcement, forged, public_id(edge.public_key())) == \
        S.BAD_ANNOUNCEMENT
    # well signed, but not a usable key: still refused
    body = {k: v for k, v in msg.items() if k not in ("sig", "signer")}
    short = add_signature({**body, "pub": "ab"}, edge)
    assert reason(S.check_announcement, short, public_id(edge.public_key())) == \
        S.BAD_ANNOUNCEMENT
