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

The queue is kept in runs: one row per ``add`` (an ingest batch: up to a few
thousand transactions packed into one blob as ``edge.chain.packed`` packs
them, with the message id each one records), not a row per transaction.
Why: every transaction went through SQLite three times (inserted with its
batch, read into a block, deleted when the block was on disk), about 3.4 us
of CPU a transaction on the development host, a tenth of the edge's whole
cost per message at full ingest rate; per run it is one row each time. A transaction's place in the
queue (``PendingTx.id``) is its run's id and its index in the run
(``run << 32 | index``), so places only grow, as the row ids did; the run at
the head may be partly in blocks already (``done`` of its ``n``).
"""

from __future__ import annotations

import struct
from collections import Counter
from collections.abc import Iterable
from typing import Any, NamedTuple

from pydantic import BaseModel

from edge.chain.packed import pack, unpack
from edge.protocol.transactions import tx_bytes
from edge.runtime.inbox.db import Database

#: bits of a place that hold the index in its run
INDEX_BITS = 32
_INDEX = (1 << INDEX_BITS) - 1


class PendingTx(NamedTuple):
    """One queued transaction (a tuple: a block reads a thousand of them at once)."""

    id: int  # its place in the queue: run << INDEX_BITS | index
    tx: bytes
    added_ms: int


_new = tuple.__new__  # a NamedTuple's own constructor is a Python call per row


def _ids(blob: bytes) -> tuple[int, ...]:
    return struct.unpack(f">{len(blob) // 8}q", blob)


class Pending:
    def __init__(self, db: Database) -> None:
        self.db = db
        self._from_rows()

    def _from_rows(self) -> None:
        """Move the queue of an inbox made before runs (a ``pending`` table of one row per
        transaction) into runs of one, in order, with their times and message ids."""
        conn = self.db.conn
        cols = {r[1] for r in conn.execute("PRAGMA table_info(pending)")}
        if not cols:
            return
        msg = "msg_id" if "msg_id" in cols else "NULL"
        with self.db.write() as db:
            rows = db.execute(f"SELECT tx, added_ms, {msg} FROM pending ORDER BY id").fetchall()
            db.executemany(
                "INSERT INTO pending_runs (txs, n, added_ms, msg_ids) VALUES (?, 1, ?, ?)",
                [(pack([bytes(t)]), a, struct.pack(">q", m or 0)) for t, a, m in rows])
            db.execute("DROP TABLE pending")

    def add(self, txs: Iterable[BaseModel | dict[str, Any] | bytes], added_ms: int,
            counts: Counter[str] | None = None, msg_ids: Iterable[int | None] | None = None
            ) -> None:
        """Queue transactions (models, messages as signed, or canonical bytes) for a block.

        ``msg_ids`` names the accepted message each one records, where there is one.
        """
        rows = [t if isinstance(t, bytes) else tx_bytes(t) for t in txs]
        ids = list(msg_ids) if msg_ids is not None else [None] * len(rows)
        if len(ids) != len(rows):
            raise ValueError(f"{len(rows)} transactions but {len(ids)} message ids")
        if len(rows) > _INDEX:  # a place holds the index in its run in INDEX_BITS bits
            raise ValueError(f"{len(rows)} transactions in one run; at most {_INDEX}")
        with self.db.write() as db:
            if rows:
                db.execute("INSERT INTO pending_runs (txs, n, added_ms, msg_ids)"
                           " VALUES (?, ?, ?, ?)",
                           (pack(rows), len(rows), added_ms,
                            struct.pack(f">{len(ids)}q", *[m or 0 for m in ids])))
            if counts:
                self.db.bump(counts)

    def head(self, limit: int) -> list[PendingTx]:
        """The first ``limit`` transactions waiting (fewer if fewer wait), oldest first."""
        out: list[PendingTx] = []
        if limit <= 0:
            return out
        with self.db.lock:
            cur = self.db.conn.execute(
                "SELECT id, txs, n, done, added_ms FROM pending_runs ORDER BY id")
            try:
                for run, blob, n, done, added in cur:
                    txs = unpack(blob, n)
                    for i in range(done, min(n, done + limit - len(out))):
                        out.append(_new(PendingTx, (run << INDEX_BITS | i, txs[i], added)))
                    if len(out) >= limit:
                        break
            finally:
                cur.close()
        return out

    def stats(self) -> tuple[int, int | None]:
        """(number of pending txs, added_ms of the oldest)."""
        n, oldest = self.db.read(
            "SELECT COALESCE(SUM(n - done), 0), MIN(added_ms) FROM pending_runs")[0]
        return n, oldest

    def drop(self, upto_id: int, flushed_height: int) -> None:
        """Forget the txs now in block ``flushed_height`` and remember that height."""
        self.drop_many([(upto_id, flushed_height)])

    def drop_many(self, cuts: list[tuple[int, int]]) -> None:
        """``drop`` for consecutive blocks, (place of the block's last tx, height) each, in
        one write."""
        with self.db.write() as db:
            prev = db.execute("SELECT MAX(last_msg) FROM flushed").fetchone()[0] or 0
            for upto_id, flushed_height in cuts:
                run, last_index = upto_id >> INDEX_BITS, upto_id & _INDEX
                for rid, ids in db.execute("SELECT id, msg_ids FROM pending_runs WHERE id <= ?",
                                           (run,)).fetchall():
                    covered = _ids(ids) if rid < run else _ids(ids)[:last_index + 1]
                    prev = max(prev, max(covered, default=0))
                db.execute("INSERT OR REPLACE INTO flushed (height, last_msg, flushed_ms)"
                           " VALUES (?, ?, ?)", (flushed_height, prev, self.db.clock.wall_ms()))
                db.execute("DELETE FROM pending_runs WHERE id < ? OR (id = ? AND n <= ?)",
                           (run, run, last_index + 1))
                db.execute("UPDATE pending_runs SET done = ? WHERE id = ?",
                           (last_index + 1, run))
            if cuts:
                db.execute("INSERT INTO meta (k, v) VALUES ('flushed_height', ?) ON CONFLICT (k)"
                           " DO UPDATE SET v = excluded.v", (str(cuts[-1][1]),))

    def flushed_height(self) -> int:
        return int(self.db.meta("flushed_height", "-1") or -1)
