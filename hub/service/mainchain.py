"""The hub's main chain: signed blocks committing to every edge's latest head.

Each main block is an ordinary edge.chain block with chain="main" signed by
the hub key; its transactions are {"edge", "height", "hash"} for each edge
whose head moved since it was last anchored, sorted by edge id, so the
Merkle tree over them is deterministic and any edge can prove its head is in
it. Several workers may run the schedule: the primary key on height lets
one of them win, and the others find nothing left to anchor.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, insert, select, text
from sqlalchemy.exc import IntegrityError

from edge.chain.block import GENESIS_PREV, BlockHeader, make_block
from edge.chain.keys import PrivateKey, public_id
from edge.sync.receipts import MAIN_CHAIN
from hub.service.db import Database
from hub.service.errors import IdentityError, NotFound
from hub.service.models import EdgeBlock, MainBlock, MainEntry

MAIN_LOCK = 0x6875625F6D61696E  # "hub_main"


@dataclass(frozen=True)
class MainBlockInfo:
    header: BlockHeader
    entries: list[dict[str, object]]

    def as_dict(self) -> dict[str, object]:
        return {"hash": self.header.hash(), "header": header_obj(self.header),
                "entries": self.entries}


def header_obj(header: BlockHeader) -> dict[str, object]:
    import json

    return json.loads(header.to_bytes())


def pending_heads(s) -> list[dict[str, object]]:  # noqa: ANN001
    """Edge heads not yet anchored, as main-chain transactions sorted by edge id."""
    heads = select(EdgeBlock.edge_id, func.max(EdgeBlock.height).label("h")).group_by(
        EdgeBlock.edge_id
    ).subquery()
    anchored = dict(
        s.execute(
            select(MainEntry.edge_id, func.max(MainEntry.edge_height)).group_by(MainEntry.edge_id)
        ).all()
    )
    rows = s.execute(
        select(EdgeBlock.edge_id, EdgeBlock.height, EdgeBlock.hash).join(
            heads, (EdgeBlock.edge_id == heads.c.edge_id) & (EdgeBlock.height == heads.c.h)
        )
    ).all()
    return sorted(
        ({"edge": e, "height": h, "hash": hx} for e, h, hx in rows if h > anchored.get(e, -1)),
        key=lambda t: t["edge"],
    )


def make_main_block(db: Database, key: PrivateKey, now_ms: int) -> MainBlockInfo | None:
    """Anchor every moved edge head in a new signed main block; None when nothing moved.

    IdentityError when `key` is not the key that signed the chain so far.
    """
    for _ in range(3):
        try:
            return _make_once(db, key, now_ms)
        except IntegrityError:
            continue  # another worker made this height: look again
    return None


def next_position(last: MainBlock | None, key: PrivateKey, now_ms: int) -> tuple[int, str, int]:
    """(height, prev hash, ts) of the block after `last`, which only the hub's own key extends.

    Every maker of main blocks (anchoring, the allocation loop) places its block with this.
    """
    if last is None:
        return 0, GENESIS_PREV, now_ms
    prev_header = BlockHeader.from_bytes(bytes(last.header))
    own = public_id(key.public_key())
    if prev_header.producer != own:
        raise IdentityError("wrong_hub_key", f"the main chain is signed by "
                            f"{prev_header.producer}, this key is {own}: use the hub's own key")
    return last.height + 1, last.hash, max(now_ms, prev_header.ts)


def _make_once(db: Database, key: PrivateKey, now_ms: int) -> MainBlockInfo | None:
    with db.session() as s:
        if db.dialect == "postgresql":  # one maker at a time across workers (SQLite: BEGIN
            s.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": MAIN_LOCK})  # IMMEDIATE)
        # The last block is read before the pending heads: if another maker commits in
        # between, our insert collides on the height and is retried, never double-anchored.
        last = s.execute(select(MainBlock).order_by(MainBlock.height.desc()).limit(1)).scalar()
        txs = pending_heads(s)
        if not txs:
            return None
        height, prev, ts = next_position(last, key, now_ms)
        block = make_block(chain=MAIN_CHAIN, height=height, prev=prev, txs=txs, ts=ts, key=key)
        h = block.header
        s.execute(insert(MainBlock), [{"height": h.height, "hash": h.hash(),
                                       "header": h.to_bytes(), "ntx": h.ntx}])
        s.execute(insert(MainEntry), [
            {"main_height": h.height, "idx": i, "edge_id": t["edge"], "edge_height": t["height"],
             "edge_hash": t["hash"]}
            for i, t in enumerate(txs)
        ])
    return MainBlockInfo(h, txs)


def _entries(s, height: int) -> list[dict[str, object]]:  # noqa: ANN001
    return [
        {"edge": e, "height": h, "hash": hx}
        for e, h, hx in s.execute(
            select(MainEntry.edge_id, MainEntry.edge_height, MainEntry.edge_hash)
            .where(MainEntry.main_height == height)
            .order_by(MainEntry.idx)
        )
    ]


def main_block(db: Database, height: int) -> MainBlockInfo:
    with db.session() as s:
        row = s.get(MainBlock, height)
        if row is None:
            raise NotFound("no_main_block", f"no main block at height {height}")
        return MainBlockInfo(BlockHeader.from_bytes(bytes(row.header)), _entries(s, height))


def producer(db: Database) -> str | None:
    """The public id that signed the genesis main block; None before the first one."""
    with db.session() as s:
        row = s.execute(select(MainBlock.header).where(MainBlock.height == 0)).first()
    return None if row is None else BlockHeader.from_bytes(bytes(row[0])).producer


def main_head(db: Database) -> BlockHeader | None:
    with db.session() as s:
        row = s.execute(select(MainBlock.header).order_by(MainBlock.height.desc()).limit(1)).first()
    return None if row is None else BlockHeader.from_bytes(bytes(row[0]))
