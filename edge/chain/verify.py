"""Check a whole stored chain and name the first bad height and why.

Everything is recomputed from the stored bytes: header canonical form,
height sequence, links, stored hash, transaction count, Merkle root,
signature, producer and time order. Nothing stored is trusted.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from edge.chain.block import GENESIS_PREV, BlockHeader
from edge.chain.merkle import Hasher, merkle_root
from edge.chain.store import ChainStore, CorruptBlock


@dataclass(frozen=True)
class VerifyReport:
    ok: bool
    blocks: int
    head: int
    bad_height: int | None = None
    reason: str | None = None

    def as_dict(self) -> dict[str, object]:
        return {
            "ok": self.ok,
            "blocks": self.blocks,
            "head": self.head,
            "bad_height": self.bad_height,
            "reason": self.reason,
        }


def check_block(
    height: int,
    stored_hash: str,
    header_raw: bytes,
    txs: list[bytes],
    prev: BlockHeader | None,
    producers: Iterable[str] | None = None,
    hasher: Hasher | None = None,
    root_of: Callable[[list[bytes]], bytes] | None = None,
) -> tuple[BlockHeader | None, str | None]:
    """Check one stored block against its predecessor; return (header, problem).

    ``root_of`` computes a block's root from its transactions when the chain
    commits to them otherwise than as one RFC 6962 tree (e.g. two subtrees).
    """
    try:
        h = BlockHeader.from_bytes(header_raw)
    except (ValueError, TypeError, UnicodeDecodeError) as exc:
        return None, f"header does not decode: {exc}"
    if h.height != height:
        return h, f"header says height {h.height}"
    want_prev = GENESIS_PREV if prev is None else prev.hash()
    if h.prev != want_prev:
        return h, "prev does not match the hash of the block before"
    if prev is not None and h.chain != prev.chain:
        return h, f"chain id {h.chain!r} differs from {prev.chain!r}"
    if prev is not None and h.ts < prev.ts:
        return h, "timestamp goes backwards"
    if stored_hash != h.hash():
        return h, "stored hash does not match the header"
    if h.ntx != len(txs):
        return h, f"header says {h.ntx} txs, store holds {len(txs)}"
    root = root_of(txs) if root_of is not None else merkle_root(txs, hasher)
    if root.hex() != h.root:
        return h, "Merkle root does not match the transactions"
    if producers is not None and h.producer not in set(producers):
        return h, f"producer {h.producer[:16]}... is not an allowed producer"
    if not h.signature_ok():
        return h, "signature does not verify"
    return h, None


def verify_store(
    store: ChainStore, producers: Iterable[str] | None = None, hasher: Hasher | None = None,
    root_of: Callable[[list[bytes]], bytes] | None = None,
) -> VerifyReport:
    allowed = None if producers is None else set(producers)
    prev: BlockHeader | None = None
    count = 0
    expected = 0
    for height, stored_hash, header_raw, txs in store.raw_rows():
        if height != expected:
            return VerifyReport(False, count, expected - 1, expected, f"height {expected} missing")
        if isinstance(txs, CorruptBlock):
            return VerifyReport(False, count, height - 1, height, f"transactions unreadable: {txs}")
        header, problem = check_block(height, stored_hash, header_raw, txs, prev, allowed, hasher,
                                      root_of)
        if problem:
            return VerifyReport(False, count, height - 1, height, problem)
        prev, count, expected = header, count + 1, expected + 1
    return VerifyReport(True, count, expected - 1)
