"""Blocks that commit to two subtrees: root = node(MTH(left), MTH(right)).

The header is our chain's ``BlockHeader`` unchanged (version, chain id,
height, prev, root, ts, ntx, producer, Ed25519 signature); only its ``root``
is the RFC 6962 node hash (0x01 prefix) over the roots of two RFC 6962
subtrees instead of one tree over all transactions:

- carbon chain: ``eoc`` (emission accounting: quotas and positions, estimate
  beside verified value) and ``toc`` (carbon trades, peg locks and unlocks,
  the other chain's headers and oracle anchors);
- electricity chain: ``pv`` (PV and electricity trades: everything the edge
  market writes) and ``xc`` (cross-chain: peg mints, spends, burns, the other
  chain's headers and oracle anchors).

Which subtree a transaction belongs to follows from its ``kind`` (a
layout's ``left`` set); inside a subtree transactions keep block order. The
stored block is the flat transaction list, so ``ChainStore`` and
``verify_store`` (with ``root_of``) are reused as they are. A proof of one
transaction is its RFC 6962 audit path inside its subtree plus the root of
the sibling subtree (docs/carbon-market.md, "Two chains").
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from edge.chain.block import BLOCK_VERSION, Block, BlockHeader, encode_txs
from edge.chain.keys import PrivateKey, public_id, sign
from edge.chain.merkle import (
    ProofError,
    leaf_hash,
    levels,
    merkle_root,
    node_hash,
    proof_from_levels,
    root_from_proof,
)
from edge.chain.store import ChainStore
from edge.chain.verify import VerifyReport, verify_store
from edge.protocol.canonical import canonical


@dataclass(frozen=True)
class Layout:
    """Two named subtrees; transactions whose kind is in ``kinds`` go to ``kinds_side``."""

    left: str
    right: str
    kinds: frozenset[str]
    kinds_side: str

    def side_of(self, tx: Any) -> str:
        kind = tx.get("kind") if isinstance(tx, dict) else None
        other = self.right if self.kinds_side == self.left else self.left
        return self.kinds_side if kind in self.kinds else other

    def split(self, leaves: Sequence[bytes]) -> tuple[list[int], list[int]]:
        """Block positions of the left and of the right subtree's transactions."""
        left: list[int] = []
        right: list[int] = []
        for i, leaf in enumerate(leaves):
            (left if self.side_of(json.loads(leaf)) == self.left else right).append(i)
        return left, right

    def roots(self, leaves: Sequence[bytes]) -> tuple[bytes, bytes]:
        li, ri = self.split(leaves)
        return (merkle_root([leaves[i] for i in li]), merkle_root([leaves[i] for i in ri]))

    def root(self, leaves: Sequence[bytes]) -> bytes:
        return node_hash(*self.roots(leaves))


#: Carbon chain: emission accounting left, everything else (trades, peg, headers) right.
CARBON = Layout("eoc", "toc", frozenset({"accounting"}), "eoc")
#: Electricity chain: cross-chain transactions right, everything the edge writes left.
XC_KINDS = frozenset({"peg_mint", "peg_spend", "peg_burn", "xheader", "xanchor"})
ELECTRICITY = Layout("pv", "xc", XC_KINDS, "xc")
LAYOUTS = {"carbon": CARBON, "electricity": ELECTRICITY}


def make_block(*, layout: Layout, chain: str, height: int, prev: str, txs: Sequence[Any],
               ts: int, key: PrivateKey) -> Block:
    """Build and sign a block whose root is the node over the layout's two subtree roots."""
    leaves = encode_txs(txs)
    header = BlockHeader(BLOCK_VERSION, chain, height, prev, layout.root(leaves).hex(), ts,
                         len(leaves), public_id(key.public_key()))
    signed = BlockHeader(**{**asdict(header), "sig": sign(key, header.signing_bytes()).hex()})
    return Block(signed, leaves)


def tx_proof(layout: Layout, block: Block, position: int) -> dict[str, Any]:
    """Proof of the block's transaction at ``position``: subtree path + sibling root."""
    li, ri = layout.split(block.txs)
    if position in li:
        mine, other, side = li, ri, layout.left
    elif position in ri:
        mine, other, side = ri, li, layout.right
    else:
        raise IndexError(f"block {block.height} has no transaction {position}")
    leaves = [block.txs[i] for i in mine]
    index = mine.index(position)
    return {
        "header": json.loads(block.header.to_bytes()),
        "subtree": side,
        "index": index,
        "size": len(leaves),
        "tx": json.loads(block.txs[position]),
        "proof": [p.hex() for p in proof_from_levels(levels(leaves), index)],
        "sibling": merkle_root([block.txs[i] for i in other]).hex(),
    }


def check_tx_proof(layout: Layout, header: BlockHeader, doc: Any) -> str | None:
    """None when ``doc`` proves its tx under ``header``'s two-subtree root, else the problem."""
    if not isinstance(doc, dict):
        return "proof must be an object"
    try:
        side, index, size = doc["subtree"], doc["index"], doc["size"]
        leaf = canonical(doc["tx"])
        path = [bytes.fromhex(p) for p in doc["proof"]]
        sibling = bytes.fromhex(doc["sibling"])
    except (KeyError, TypeError, ValueError) as exc:
        return f"proof malformed: {exc}"
    if not all(isinstance(x, int) and not isinstance(x, bool) for x in (index, size)):
        return "index and size must be integers"
    if side not in (layout.left, layout.right) or layout.side_of(doc["tx"]) != side:
        return f"the transaction does not belong in subtree {side!r}"
    if len(sibling) != 32 or size > header.ntx:
        return "sibling root or subtree size malformed"
    try:
        sub = root_from_proof(leaf_hash(leaf), index, size, path)
    except ProofError as exc:
        return f"inclusion proof malformed: {exc}"
    root = node_hash(sub, sibling) if side == layout.left else node_hash(sibling, sub)
    if root.hex() != header.root:
        return "inclusion proof does not lead to the header's root"
    return None


class TwoTreeChain:
    """A chain of two-subtree blocks in a ``ChainStore`` (SQLite, one transaction per block)."""

    def __init__(self, path: str | os.PathLike[str], layout: Layout, chain_id: str,
                 key: PrivateKey | None = None) -> None:
        self.store = ChainStore(path)
        self.layout = layout
        self.chain_id = chain_id
        self.key = key

    def close(self) -> None:
        self.store.close()

    def append(self, txs: Sequence[Any], ts: int) -> Block:
        if self.key is None:
            raise RuntimeError("this chain was opened without its producer key (read-only)")
        head = self.store.head()
        block = make_block(layout=self.layout, chain=self.chain_id,
                           height=self.store.height() + 1, prev=self.store.head_hash(), txs=txs,
                           ts=max(ts, head.ts if head else 0), key=self.key)
        self.store.append(block)
        return block

    def blocks(self, start: int = 0) -> list[Block]:
        return [self.store.get(h) for h in range(start, self.store.height() + 1)]

    def headers(self, start: int, stop: int) -> list[dict[str, Any]]:
        """Headers of heights [start, stop] as JSON objects (for a light client)."""
        out = []
        for h in range(max(start, 0), stop + 1):
            stored = self.store.header_bytes(h)
            if stored is None:
                break
            out.append(json.loads(stored[1]))
        return out

    def verify(self, producers: Sequence[str] | None = None) -> VerifyReport:
        return verify_store(self.store, producers, root_of=self.layout.root)
