"""Transactions packed into one blob: each as its length (4 bytes, big-endian) and its bytes.

The one format for a run of transactions kept together on disk: a block's
transactions in the chain store, an ingest batch's in the inbox's queue.
One row per run instead of one per transaction is what makes either cheap
(see edge.chain.store and edge.runtime.inbox.pending). A stored blob is not
trusted: lengths that run past its end, or leave bytes over, are refused.
"""

from __future__ import annotations

import struct

_LEN = struct.Struct(">I")


def pack(txs: list[bytes]) -> bytes:
    return b"".join([_LEN.pack(len(t)) + t for t in txs])


def unpack_all(blob: bytes) -> list[bytes]:
    """Every transaction of a blob; ValueError when its lengths disagree with its bytes."""
    out, at, size = [], 0, len(blob)
    while at < size:
        if at + 4 > size:
            raise ValueError("a packed run ends inside a length")
        (k,) = _LEN.unpack_from(blob, at)
        at += 4
        if at + k > size:
            raise ValueError("a packed run is shorter than its lengths say")
        out.append(blob[at:at + k])
        at += k
    return out


def unpack(blob: bytes, n: int) -> list[bytes]:
    """The ``n`` transactions of a blob; ValueError unless it holds exactly that many."""
    out = unpack_all(blob)
    if len(out) != n:
        raise ValueError(f"a packed run holds {len(out)} transactions, not {n}")
    return out
