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
    """Write PKCS#8 PEM created with mode 0600; never follows a symlink.

    A new key is created with O_EXCL (which refuses an existing name, a
    symlink included). An overwrite writes a fresh 0600 file beside it and
    renames it over the name, so a symlink planted at `path` is replaced
    itself and the file it points to is never written.
    """
    path = Path(path)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    if path.is_dir() and not path.is_symlink():
        raise KeyFileError(f"{path} is a directory")
    target = path.with_name(f".{path.name}.{os.getpid()}.tmp") if overwrite else path
    try:
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    except FileExistsError:
        raise KeyFileError(f"{target} exists; refusing to overwrite a key") from None
    except OSError as exc:
        raise KeyFileError(f"cannot write {target}: {exc.strerror or exc}") from None
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(pem)
            fh.flush()
            os.fsync(fh.fileno())
        if overwrite:
            os.replace(target, path)
    except BaseException:
        if overwrite:
            target.unlink(missing_ok=True)
        raise
    return path


#: a secret file (a PEM key, a hex HMAC key) is never larger than this
MAX_SECRET_BYTES = 64 * 1024


def check_secret_file(path: str | os.PathLike[str]) -> Path:
    """Refuse a secret file that is missing, not a regular file, or open to others.

    One policy for every secret the edge holds: its Ed25519 signing key, the
    gateways' HMAC keys and the MQTT TLS client key. Like ssh, a key that
    group or others may read (or write) is refused, not just warned about:
    whoever could read it can sign or tag as us.
    """
    path = Path(path)
    try:
        st = path.stat()
    except FileNotFoundError:
        raise KeyFileError(f"no key file at {path}") from None
    except OSError as exc:
        raise KeyFileError(f"cannot use key file {path}: {exc.strerror or exc}") from None
    if not stat.S_ISREG(st.st_mode):
        raise KeyFileError(f"{path} is not a regular file")
    if st.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise KeyFileError(
            f"{path} is readable by others (mode {stat.S_IMODE(st.st_mode):o}); "
            f"run: chmod 600 {path}"
        )
    if st.st_size > MAX_SECRET_BYTES:
        raise KeyFileError(f"{path} is {st.st_size} bytes, too large for a key")
    return path


def load_hmac_key(path: str | os.PathLike[str], nbytes: int = 32) -> bytes:
    """A gateway's HMAC key: a 0600 file holding 2*nbytes hex digits (whitespace around ok)."""
    path = check_secret_file(path)
    try:
        text = path.read_bytes().decode("ascii").strip()
    except UnicodeDecodeError:
        raise KeyFileError(f"{path} is not hex text") from None
    if len(text) != 2 * nbytes:
        raise KeyFileError(f"{path} holds {len(text)} characters; a key is {2 * nbytes} hex "
                           f"digits ({nbytes} bytes)")
    try:
        return bytes.fromhex(text)
    except ValueError:
        raise KeyFileError(f"{path} is not hex (0-9, a-f)") from None


def load_private_key(path: str | os.PathLike[str]) -> PrivateKey:
    """Load a PEM key, refusing one that others can read (as ssh does)."""
    path = check_secret_file(path)
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (ValueError, TypeError) as exc:
        raise KeyFileError(f"{path} is not an unencrypted PEM private key: {exc}") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyFileError(f"{path} holds a {type(key).__name__}, not an Ed25519 key")
    return key
