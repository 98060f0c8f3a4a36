"""Ed25519 identities: a producer is the hex of its raw public key.

A producer is identified everywhere (block headers, the hub's registry,
signed messages, signed HTTP requests) by the hex of its raw 32-byte public
key: self-describing, checkable offline, and short enough to read. Signing
and checking live here, at the bottom of the stack, so the protocol, the
chain and the sync client share them without importing one another; key
files (PEM on disk, permissions) are `edge.chain.keys`.
"""

from __future__ import annotations

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

PrivateKey = Ed25519PrivateKey
PublicKey = Ed25519PublicKey


class BadKeyId(ValueError):
    """A string that is not the hex of a raw Ed25519 public key."""


def public_id(key: PublicKey) -> str:
    """The hex of the raw public key: the producer's identity."""
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw).hex()


def public_key_from_id(key_id: str) -> PublicKey:
    """The public key named by ``key_id``; BadKeyId when it names none."""
    try:
        return Ed25519PublicKey.from_public_bytes(bytes.fromhex(key_id))
    except (TypeError, ValueError) as exc:
        raise BadKeyId(f"not an Ed25519 public key id: {key_id!r}") from exc


def sign(key: PrivateKey, data: bytes) -> bytes:
    return key.sign(data)


def verify_signature(key_id: str, data: bytes, sig: bytes) -> bool:
    """True when `sig` is `key_id`'s signature of `data`; False for any defect."""
    try:
        public_key_from_id(key_id).verify(sig, data)
    except (InvalidSignature, BadKeyId):
        return False
    return True
