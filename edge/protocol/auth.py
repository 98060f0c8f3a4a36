"""Tags for gateway messages and signatures for edge and hub messages.

Gateway tag (kept plain so MicroPython's hashlib can build it, RFC 2104):
    tag = hex(HMAC-SHA256(key, canonical(message without "tag")))
with the gateway's 32-byte provisioned key. Edge and hub messages carry
    signer = hex(raw Ed25519 public key), sig = hex(Ed25519(canonical(message without "sig")))
so anyone holding the public key can check a clearing result or a price
signal offline.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
from typing import Any

from edge.protocol.canonical import Encoded, canonical, encoded, join, members
from edge.protocol.errors import ProtocolError, Reason
from edge.protocol.identity import PrivateKey, public_id, sign, verify_signature

KEY_BYTES = 32


def _body(obj: dict[str, Any], member: str) -> bytes:
    return canonical({k: v for k, v in obj.items() if k != member})


@functools.lru_cache(maxsize=4096)
def _keyed(key: bytes) -> hmac.HMAC:
    return hmac.new(key, digestmod=hashlib.sha256)


def tag_over(key: bytes, body: bytes) -> str:
    """hex(HMAC-SHA256(key, body)). The keyed state (the key's inner and outer pads
    hashed) is made once per key and copied per message: about 1.1 us a telemetry
    message here against 2.0 us for ``hmac.digest``, which keys OpenSSL's HMAC anew on
    every call. A site has at most a few thousand gateway keys, so the cache is bounded
    by the configuration, not by what gateways send."""
    h = _keyed(key).copy()
    h.update(body)
    return h.hexdigest()


def tag_for(obj: dict[str, Any], key: bytes) -> str:
    """The HMAC tag a gateway with `key` attaches to `obj`."""
    return tag_over(key, _body(obj, "tag"))


def add_tag(obj: dict[str, Any], key: bytes) -> dict[str, Any]:
    """A copy of `obj` carrying its tag."""
    return {**obj, "tag": tag_for(obj, key)}


def check_tag(obj: dict[str, Any], key: bytes) -> None:
    """Raise BAD_TAG unless `obj["tag"]` was made with `key` over these exact contents."""
    given = obj.get("tag")
    if not isinstance(given, str) or not hmac.compare_digest(given, tag_for(obj, key)):
        raise ProtocolError(Reason.BAD_TAG, "HMAC tag does not match the gateway's key", "tag")


def add_signature(obj: dict[str, Any], key: PrivateKey) -> dict[str, Any]:
    """A copy of `obj` with `signer` and `sig` set by `key`."""
    body = {k: v for k, v in obj.items() if k not in ("sig", "signer")}
    body["signer"] = public_id(key.public_key())
    return {**body, "sig": sign(key, canonical(body)).hex()}


def sign_encoded(obj: dict[str, Any], key: PrivateKey) -> Encoded:
    """``add_signature`` with the signed message's canonical bytes attached, its members
    encoded once for both the signature and the message."""
    body = {k: v for k, v in obj.items() if k not in ("sig", "signer")}
    body["signer"] = public_id(key.public_key())
    parts = members(body)
    sig = sign(key, join(parts)).hex()
    return encoded({**body, "sig": sig}, {**parts, "sig": b'"%s"' % sig.encode("ascii")})


def check_signature(obj: dict[str, Any], signer: str | None = None) -> None:
    """Raise BAD_SIGNATURE unless `obj` is signed by its signer (and that is `signer`, if given)."""
    claimed = obj.get("signer")
    if signer is not None and claimed != signer:
        raise ProtocolError(Reason.BAD_SIGNATURE, "signed by an unexpected key", "signer")
    try:
        sig = bytes.fromhex(obj.get("sig", ""))
    except ValueError:
        raise ProtocolError(Reason.BAD_SIGNATURE, "signature is not hex", "sig") from None
    if not isinstance(claimed, str) or not verify_signature(claimed, _body(obj, "sig"), sig):
        raise ProtocolError(Reason.BAD_SIGNATURE, "Ed25519 signature does not verify", "sig")
