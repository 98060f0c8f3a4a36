"""Pending chain transactions: the unflushed block, in arrival order.

``add`` is the one way a transaction enters the chain's queue, called inside
the same write as the record it belongs to (an accepted message, a round
result, a receipt, a price signal), so a record and its chain transaction
are never one without the other. ``added_ms`` is WALL time: it ages the
unflushed block, whose trigger and timestamp follow the wall clock even when
the market clock is accelerated.

When a block is cut, ``drop`` forgets its transactions and remembers, per
flushed height, the newest accepted message it covers; that is what lets
``Messages.prune_anchored`` know which raw messages are on the chain.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any, NamedTuple

from pydantic import BaseModel

from edge.protocol.transactions import tx_bytes
from edge.runtime.inbox.db import Database


class PendingTx(NamedTuple):
    """One queued transaction (a tuple: a block reads a thousand of them at once)."""

    id: int
    tx: bytes
    added_ms: int


_new = tuple.__new__  # a NamedTuple's own constructor is a Python call per row


class Pending:
    def __init__(self, db: Database) -> None:
        self.db = db

    def add(self, txs: Iterable[BaseModel | dict[str, Any] | bytes], added_ms: int,
            counts: Counter[str] | None = None, msg_ids: Iterable[int | None] | None = None
            ) -> None:
        """Queue transactions (models, messages as signed, or canonical bytes) for a block.

        ``msg_ids`` names the accepted message each one records, where there is one.
        """
        rows = [t if isinstance(t, bytes) else tx_bytes(t) for t in txs]
        ids = list(msg_ids) if msg_ids is not None else [None] * len(rows)
        with self.db.write() as db:
            db.executemany("INSERT INTO pending (tx, added_ms, msg_id) VALUES (?, ?, ?)",
                           ((t, added_ms, m) for t, m in zip(rows, ids, strict=True)))
            if counts:
                self.db.bump(counts)

    def head(self, limit: int) -> list[PendingTx]:
        rows = self.db.read("SELECT id, tx, added_ms FROM pending ORDER BY id LIMIT ?", (limit,))
        return [_new(PendingTx, r) for r in rows]  # tx is a BLOB: sqlite3 gives bytes

    def stats(self) -> tuple[int, int | None]:
        """(number of pending txs, added_ms of the oldest)."""
        n, oldest = self.db.read("SELECT COUNT(*), MIN(added_ms) FROM pending")[0]
        return n, oldest

    def drop(self, upto_id: int, flushed_height: int) -> None:
        """Forget the txs now in block ``flushed_height`` and remember that height."""
        self.drop_many([(upto_id, flushed_height)])

    def drop_many(self, cuts: list[tuple[int, int]]) -> None:
        """``drop`` for consecutive blocks, (last pending id, height) each, in one write."""
        with self.db.write() as db:
            prev = db.execute("SELECT MAX(last_msg) FROM flushed").fetchone()[0]
            for upto_id, flushed_height in cuts:
                last = db.execute("SELECT MAX(msg_id) FROM pending WHERE id <= ?",
                                  (upto_id,)).fetchone()[0]
                prev = max(last or 0, prev or 0)
                db.execute("INSERT OR REPLACE INTO flushed (height, last_msg, flushed_ms)"
                           " VALUES (?, ?, ?)", (flushed_height, prev, self.db.clock.wall_ms()))
                db.execute("DELETE FROM pending WHERE id <= ?", (upto_id,))
            if cuts:
                db.execute("INSERT INTO meta (k, v) VALUES ('flushed_height', ?) ON CONFLICT (k)"
                           " DO UPDATE SET v = excluded.v", (str(cuts[-1][1]),))

    def flushed_height(self) -> int:
        return int(self.db.meta("flushed_height", "-1") or -1)
