"""The CPU hasher's batch loop in C over OpenSSL, compiled on first use.

hashlib's per-call cost dominates for short messages (a 100-byte leaf costs
more to call than to hash), so a Merkle tree built from Python runs at a
fraction of the machine's hashing speed. `merkle_batch.c` is only the loop;
the SHA-256 is libcrypto's. It is built with the system C compiler into a
cache keyed by the source's hash, and anything missing (no compiler, no
libcrypto) leaves `load()` returning None so callers fall back to hashlib.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import hashlib
import os
import shutil
import subprocess
import tempfile
from functools import lru_cache
from pathlib import Path

SOURCE = Path(__file__).with_name("merkle_batch.c")


def _cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "carbon-edge" / "native"


def _build() -> Path | None:
    cc = shutil.which(os.environ.get("CC", "cc")) or shutil.which("gcc")
    libcrypto = ctypes.util.find_library("crypto")
    if not cc or not libcrypto:
        return None
    digest = hashlib.sha256(SOURCE.read_bytes() + libcrypto.encode()).hexdigest()[:16]
    target = _cache_dir() / f"merkle_batch-{digest}.so"
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(suffix=".so", dir=target.parent)
    os.close(fd)
    cmd = [cc, "-O2", "-shared", "-fPIC", "-o", tmp, str(SOURCE), f"-l:{libcrypto}"]
    if subprocess.run(cmd, capture_output=True).returncode != 0:
        os.unlink(tmp)
        return None
    os.replace(tmp, target)  # atomic: concurrent first uses never load half a file
    return target


@lru_cache(maxsize=1)
def load() -> NativeHasher | None:
    if os.environ.get("CARBON_EDGE_NO_NATIVE"):
        return None
    try:
        path = _build()
        # PyDLL: the GIL stays held, as the loop reads the Python list in place.
        return NativeHasher(ctypes.PyDLL(str(path))) if path else None
    except OSError:
        return None


def _split(raw: bytes) -> list[bytes]:
    return [raw[i : i + 32] for i in range(0, len(raw), 32)]


class NativeHasher:
    """A `Hasher` (edge.chain.merkle) whose loops run in C."""

    def __init__(self, lib: ctypes.CDLL) -> None:
        self._lib = lib
        lib.hash_list.restype = ctypes.c_int
        lib.hash_list.argtypes = [ctypes.py_object, ctypes.c_ssize_t, ctypes.c_int, ctypes.c_char_p]
        lib.node_hashes.restype = None
        lib.root_of_hashes.restype = None

    def _hash_into(self, msgs, prefix: int) -> ctypes.Array:
        items = msgs if type(msgs) is list else list(msgs)
        out = ctypes.create_string_buffer(32 * len(items))
        self._lib.hash_list(items, len(items), prefix, out)  # raises TypeError for non-bytes
        return out

    def sha256_many(self, msgs) -> list[bytes]:
        return _split(self._hash_into(msgs, 0).raw)

    def leaf_hashes(self, leaves) -> list[bytes]:
        return _split(self._hash_into(leaves, 1).raw)

    def node_hashes(self, digests) -> list[bytes]:
        if len(digests) % 2:
            raise ValueError("node_hashes needs an even number of digests")
        k = len(digests) // 2
        out = ctypes.create_string_buffer(32 * k)
        self._lib.node_hashes(b"".join(digests), ctypes.c_size_t(k), out)
        return _split(out.raw)

    def merkle_root(self, leaves) -> bytes:
        """The whole tree in one call: nothing but the root comes back to Python."""
        level = self._hash_into(leaves, 1)
        root = ctypes.create_string_buffer(32)
        self._lib.root_of_hashes(level, ctypes.c_size_t(len(leaves)), root)
        return root.raw
