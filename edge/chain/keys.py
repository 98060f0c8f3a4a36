"""Ed25519 key files: generate, keep as PEM readable by the owner only.

Signing, checking and the producer id (the hex of the raw public key) are
`edge.protocol.identity`; they are re-exported here for the key-file users.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from edge.protocol import identity
from edge.protocol.identity import (  # noqa: F401 - re-exported for key-file users
    PrivateKey,
    PublicKey,
    public_id,
    sign,
    verify_signature,
)


class KeyFileError(Exception):
    """A key file that is missing, unreadable, malformed or too open."""


def generate_key() -> PrivateKey:
    return Ed25519PrivateKey.generate()


def public_key_from_id(key_id: str) -> PublicKey:
    """As `identity.public_key_from_id`, failing with KeyFileError (as key-file users expect)."""
    try:
        return identity.public_key_from_id(key_id)
    except identity.BadKeyId as exc:
        raise KeyFileError(str(exc)) from exc


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
