"""Receipts and anchored proofs served by the hub (checked by edge.sync.receipts).

A receipt proves an edge head is committed to by a hub-signed main block.
An anchored transaction proof goes further: transaction -> its edge block
header (inclusion proof) -> the edge headers up to an anchored head (each
`prev` is the hash of the one before) -> a receipt for that head.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select

from edge.chain.block import BlockHeader
from edge.chain.merkle import levels, proof_from_levels
from edge.protocol.canonical import canonical
from hub.service.db import Database
from hub.service.errors import NotFound
from hub.service.models import EdgeBlock, EdgeTx, MainBlock, MainEntry

MAX_RECEIPTS = 100
#: Most edge headers an anchored proof carries between a block and its anchor.
MAX_LINK = 10_000


def _receipt(s, main_height: int, index: int, cache: dict[int, Any]) -> dict[str, Any]:  # noqa: ANN001
    if main_height not in cache:
        row = s.get(MainBlock, main_height)
        entries = [
            {"edge": e, "height": h, "hash": hx}
            for e, h, hx in s.execute(
                select(MainEntry.edge_id, MainEntry.edge_height, MainEntry.edge_hash)
                .where(MainEntry.main_height == main_height)
                .order_by(MainEntry.idx)
            )
        ]
        tree = levels([canonical(e) for e in entries])
        cache[main_height] = (json.loads(bytes(row.header)), entries, tree)
    header, entries, tree = cache[main_height]
    return {
        "header": header,
        "index": index,
        "tx": entries[index],
        "proof": [p.hex() for p in proof_from_levels(tree, index)],
    }


def receipts_for(db: Database, edge_id: str, after: int = -1,
                 limit: int = MAX_RECEIPTS) -> list[dict[str, Any]]:
    """Receipts for `edge_id` from main blocks above `after`, oldest first."""
    cache: dict[int, Any] = {}
    with db.session() as s:
        rows = s.execute(
            select(MainEntry.main_height, MainEntry.idx)
            .where(MainEntry.edge_id == edge_id, MainEntry.main_height > after)
            .order_by(MainEntry.main_height)
            .limit(limit)
        ).all()
        return [_receipt(s, h, i, cache) for h, i in rows]


def edge_block(db: Database, edge_id: str, height: int) -> dict[str, Any]:
    with db.session() as s:
        row = s.get(EdgeBlock, (edge_id, height))
        if row is None:
            raise NotFound("no_block", f"edge has no block at height {height}")
        txs = s.scalars(
            select(EdgeTx.data).where(EdgeTx.edge_id == edge_id, EdgeTx.height == height)
            .order_by(EdgeTx.idx)
        ).all()
    return {"hash": row.hash, "header": json.loads(bytes(row.header)),
            "txs": [json.loads(bytes(t)) for t in txs]}


def edge_leaves(db: Database, edge_id: str, since: int = 0) -> list[tuple[str, int, int, bytes]]:
    """Every transaction of an edge's blocks the hub holds from height ``since`` on, as
    (edge id, height, index, leaf bytes) in chain order: what the carbon book reads
    (hub.carbonmarket.carbonbids)."""
    with db.session() as s:
        rows = s.execute(
            select(EdgeTx.height, EdgeTx.idx, EdgeTx.data)
            .where(EdgeTx.edge_id == edge_id, EdgeTx.height >= since)
            .order_by(EdgeTx.height, EdgeTx.idx)
        ).all()
    return [(edge_id, h, i, bytes(d)) for h, i, d in rows]


def tx_proof(db: Database, edge_id: str, height: int, idx: int) -> dict[str, Any]:
    """A transaction with its proof to its edge header and, when anchored, to a main block."""
    with db.session() as s:
        row = s.get(EdgeBlock, (edge_id, height))
        if row is None:
            raise NotFound("no_block", f"edge has no block at height {height}")
        leaves = [bytes(t) for t in s.scalars(
            select(EdgeTx.data).where(EdgeTx.edge_id == edge_id, EdgeTx.height == height)
            .order_by(EdgeTx.idx)
        )]
        if not 0 <= idx < len(leaves):
            raise NotFound("no_tx", f"block {height} has {len(leaves)} transactions, no {idx}")
        doc: dict[str, Any] = {
            "header": json.loads(bytes(row.header)),
            "index": idx,
            "tx": json.loads(leaves[idx]),
            "proof": [p.hex() for p in proof_from_levels(levels(leaves), idx)],
            "anchor": None,
        }
        anchor = s.execute(
            select(MainEntry.main_height, MainEntry.idx, MainEntry.edge_height)
            .where(MainEntry.edge_id == edge_id, MainEntry.edge_height >= height,
                   MainEntry.edge_height <= height + MAX_LINK)
            .order_by(MainEntry.edge_height, MainEntry.main_height)
            .limit(1)
        ).first()
        if anchor is not None:
            main_height, entry_idx, anchored_height = anchor
            link = [json.loads(bytes(h)) for h in s.scalars(
                select(EdgeBlock.header)
                .where(EdgeBlock.edge_id == edge_id, EdgeBlock.height > height,
                       EdgeBlock.height <= anchored_height)
                .order_by(EdgeBlock.height)
            )]
            doc["anchor"] = {"link": link, "receipt": _receipt(s, main_height, entry_idx, {})}
    return doc


def header_of(obj: dict[str, Any]) -> BlockHeader:
    return BlockHeader.from_bytes(canonical(obj))
