"""Ed25519 keys: generate, keep as PEM readable by the owner only, sign, check.

A producer is identified everywhere (block headers, the hub's registry,
signed messages) by the hex of its raw 32-byte public key: self-describing,
checkable offline, and short enough to read.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

PrivateKey = Ed25519PrivateKey
PublicKey = Ed25519PublicKey


class KeyFileError(Exception):
    """A key file that is missing, unreadable, malformed or too open."""


def generate_key() -> PrivateKey:
    return Ed25519PrivateKey.generate()


def public_id(key: PublicKey) -> str:
    """The hex of the raw public key: the producer's identity."""
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw).hex()


def public_key_from_id(key_id: str) -> PublicKey:
    try:
        raw = bytes.fromhex(key_id)
        return Ed25519PublicKey.from_public_bytes(raw)
    except ValueError as exc:
        raise KeyFileError(f"not an Ed25519 public key id: {key_id!r}") from exc


def save_private_key(
    key: PrivateKey, path: str | os.PathLike[str], overwrite: bool = False
) -> Path:
    """Write PKCS#8 PEM created with mode 0600, never widening an existing file."""
    path = Path(path)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if overwrite else os.O_EXCL)
    try:
        fd = os.open(path, flags, 0o600)
    except FileExistsError:
        raise KeyFileError(f"{path} exists; refusing to overwrite a key") from None
    with os.fdopen(fd, "wb") as fh:
        fh.write(pem)
        fh.flush()
        os.fsync(fh.fileno())
    os.chmod(path, 0o600)
    return path


def load_private_key(path: str | os.PathLike[str]) -> PrivateKey:
    """Load a PEM key, refusing one that others can read (as ssh does)."""
    path = Path(path)
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise KeyFileError(f"no key file at {path}") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise KeyFileError(
            f"{path} is readable by others (mode {stat.S_IMODE(mode):o}); run: chmod 600 {path}"
        )
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (ValueError, TypeError) as exc:
        raise KeyFileError(f"{path} is not an unencrypted PEM private key: {exc}") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyFileError(f"{path} holds a {type(key).__name__}, not an Ed25519 key")
    return key


def sign(key: PrivateKey, data: bytes) -> bytes:
    return key.sign(data)


def verify_signature(key_id: str, data: bytes, sig: bytes) -> bool:
    """True when `sig` is `key_id`'s signature of `data`; False for any defect."""
    try:
        public_key_from_id(key_id).verify(sig, data)
    except (InvalidSignature, KeyFileError):
        return False
    return True
