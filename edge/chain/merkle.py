"""RFC 6962 Merkle trees (0x00 leaf prefix, 0x01 node prefix) and inclusion proofs.

The tree is built level by level with the last odd node promoted unchanged,
which gives exactly RFC 6962's MTH (split at the largest power of two below
n) while letting a back end hash a whole level in one batch: the hashing goes
through a `Hasher`, so the PL (edge.pl) can do it in hardware; on the CPU
the batch loops run in C over OpenSSL (edge.chain.native) where a compiler
is available, and in hashlib otherwise; both give identical bytes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Protocol

LEAF_PREFIX = b"\x00"
NODE_PREFIX = b"\x01"
EMPTY_ROOT = hashlib.sha256(b"").digest()


class Hasher(Protocol):
    """What the chain needs from a hashing back end (CPU, simulated PL, real PL)."""

    def sha256_many(self, msgs: Sequence[bytes]) -> list[bytes]: ...

    def leaf_hashes(self, leaves: Sequence[bytes]) -> list[bytes]: ...

    def node_hashes(self, digests: Sequence[bytes]) -> list[bytes]: ...


class CpuHasher:
    """hashlib in tight comprehensions: the reference, and the fallback when
    the native loop cannot be built."""

    def sha256_many(self, msgs: Sequence[bytes]) -> list[bytes]:
        h = hashlib.sha256
        return [h(m).digest() for m in msgs]

    def leaf_hashes(self, leaves: Sequence[bytes]) -> list[bytes]:
        h = hashlib.sha256
        return [h(b"\x00" + m).digest() for m in leaves]

    def node_hashes(self, digests: Sequence[bytes]) -> list[bytes]:
        if len(digests) % 2:
            raise ValueError("node_hashes needs an even number of digests")
        h = hashlib.sha256
        it = iter(digests)
        return [h(b"\x01" + left + right).digest() for left, right in zip(it, it, strict=True)]


CPU = CpuHasher()


def cpu_hasher() -> Hasher:
    """The fastest CPU hasher here: the native batch loop, else hashlib."""
    from edge.chain import native

    return native.load() or CPU


def leaf_hash(leaf: bytes) -> bytes:
    return hashlib.sha256(LEAF_PREFIX + leaf).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(NODE_PREFIX + left + right).digest()


def _next_level(level: list[bytes], hasher: Hasher) -> list[bytes]:
    even = len(level) & ~1
    parents = hasher.node_hashes(level[:even]) if even else []
    if len(level) % 2:
        parents.append(level[-1])
    return parents


def root_of_hashes(level: list[bytes], hasher: Hasher = CPU) -> bytes:
    """The root over already leaf-hashed entries."""
    if not level:
        return EMPTY_ROOT
    while len(level) > 1:
        level = _next_level(level, hasher)
    return level[0]


def merkle_root(leaves: Sequence[bytes], hasher: Hasher | None = None) -> bytes:
    """MTH(leaves) per RFC 6962, on `hasher` or else the fastest CPU hasher.

    A hasher that can hash a whole tree in one call (``merkle_root``: the native
    helper, or the PL dispatcher when the CPU takes the batch) does; one level a
    call otherwise."""
    if not leaves:
        return EMPTY_ROOT
    if hasher is None:
        hasher = cpu_hasher()
    whole_tree = getattr(hasher, "merkle_root", None)
    if whole_tree is not None:
        return whole_tree(leaves)
    return root_of_hashes(hasher.leaf_hashes(leaves), hasher)


def levels(leaves: Sequence[bytes], hasher: Hasher | None = None) -> list[list[bytes]]:
    """Every level of the tree, leaves' hashes first, root last."""
    hasher = hasher or cpu_hasher()
    out = [hasher.leaf_hashes(leaves)]
    while len(out[-1]) > 1:
        out.append(_next_level(out[-1], hasher))
    return out


def proof_from_levels(tree: list[list[bytes]], index: int) -> list[bytes]:
    """The audit path of leaf `index`, bottom up (RFC 6962 section 2.1.1)."""
    size = len(tree[0])
    if not 0 <= index < size:
        raise IndexError(f"leaf {index} outside a tree of {size}")
    path = []
    for level in tree[:-1]:
        sibling = index ^ 1
        if sibling < len(level):
            path.append(level[sibling])
        index >>= 1
    return path


def inclusion_proof(
    leaves: Sequence[bytes], index: int, hasher: Hasher | None = None
) -> list[bytes]:
    return proof_from_levels(levels(leaves, hasher), index)


class ProofError(ValueError):
    """An inclusion proof that is malformed for its tree size."""


def root_from_proof(leaf_digest: bytes, index: int, size: int, proof: Sequence[bytes]) -> bytes:
    """Recompute the root from a leaf hash and its path (RFC 9162 section 2.1.3.2)."""
    if not 0 <= index < size:
        raise ProofError(f"index {index} outside a tree of {size}")
    fn, sn, r = index, size - 1, leaf_digest
    for p in proof:
        if len(p) != 32:
            raise ProofError("a proof step is not 32 bytes")
        if sn == 0:
            raise ProofError("proof longer than the tree is deep")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("proof shorter than the tree is deep")
    return r


def verify_inclusion(
    leaf: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> bool:
    """True when `leaf` is entry `index` of the size-`size` tree with `root`."""
    try:
        return root_from_proof(leaf_hash(leaf), index, size, proof) == root
    except ProofError:
        return False
