"""The CPU hasher's batch loops in C over OpenSSL, built at install time.

hashlib's per-call cost dominates for short messages (a 100-byte leaf costs
more to call than to hash), so a Merkle tree built from Python runs at a
fraction of the machine's hashing speed. `_sha256batch.c` holds only the
loops; the SHA-256 is libcrypto's. setup.py declares it as an optional
extension, so `pip install` (and `make setup`) compiles it once; nothing is
ever compiled at run time. Where it is missing (no compiler or libcrypto at
install time, or CARBON_EDGE_NO_NATIVE set) `load()` returns None, logs why
once (edge.extensions), and callers hash with hashlib.
"""

from __future__ import annotations

import logging
from functools import lru_cache
from types import ModuleType

from edge.extensions import missing, optional

log = logging.getLogger(__name__)

MODULE = "edge.chain._sha256batch"


def _split(raw: bytes) -> list[bytes]:
    return [raw[i : i + 32] for i in range(0, len(raw), 32)]


def status() -> str:
    """One line for `carbon-edge pl info`: which CPU hasher the chain uses and why."""
    if load() is not None:
        return "native (edge.chain._sha256batch over OpenSSL)"
    return f"hashlib fallback: {missing(MODULE)}"


@lru_cache(maxsize=1)
def load() -> NativeHasher | None:
    """The native hasher, or None (said once in the log) where it is not built."""
    lib = optional(MODULE, "native SHA-256 loop", "hashing with hashlib", log)
    return None if lib is None else NativeHasher(lib)


class NativeHasher:
    """A `Hasher` (edge.chain.merkle) whose loops run in C with the GIL released."""

    def __init__(self, lib: ModuleType) -> None:
        self._lib = lib

    def sha256_many(self, msgs) -> list[bytes]:
        return _split(self._lib.sha256_many(msgs))  # TypeError for non-bytes items

    def leaf_hashes(self, leaves) -> list[bytes]:
        return _split(self._lib.leaf_hashes(leaves))

    def node_hashes(self, digests) -> list[bytes]:
        if len(digests) % 2:
            raise ValueError("node_hashes needs an even number of digests")
        return _split(self._lib.node_hashes(b"".join(digests)))

    def merkle_root(self, leaves) -> bytes:
        """The whole tree in one call: nothing but the root comes back to Python."""
        return self._lib.merkle_root(leaves)

    def leaf_digests_raw(self, msgs) -> bytes:
        """SHA-256(0x00 || m) of each message, concatenated: the benchmark's floor loop."""
        return self._lib.leaf_hashes(msgs)
