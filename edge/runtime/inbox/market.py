"""Market records: signed round results and settlements, with their chain transactions.

A round result and (when final) its settlements are one write together with
their chain transactions, so after a crash the market either republishes a
round it recorded or clears it again, never half of it. A result is its signed
header (what the chain holds) and its fills block (edge.protocol.fills), stored
once, here, in a write of its own right after the header's (``store_block``).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from typing import Any

from edge.protocol.canonical import canonical
from edge.protocol.fills import decode, frame
from edge.runtime.inbox.db import Database
from edge.runtime.inbox.pending import Pending


class MarketRecords:
    def __init__(self, db: Database, pending: Pending) -> None:
        self.db = db
        self.pending = pending

    def record_round(self, interval: int, round_no: int, final: bool, result: dict[str, Any],
                     settlements: Sequence[dict[str, Any]], now_ms: int,
                     counts: Counter[str] | None = None) -> None:
        """A round's signed header and, when final, the settlements, with their chain txs:
        durable before the round is published. Its fills block follows (``store_block``);
        a block stored for the same round before (a round republished as final) goes in
        this write, so a header is never paired with a block it does not name."""
        with self.db.write() as db:
            db.execute(
                "INSERT OR REPLACE INTO results (interval, round, final, raw) VALUES (?,?,?,?)",
                (interval, round_no, int(final), canonical(result)),
            )
            db.execute("DELETE FROM result_fills WHERE interval = ? AND round = ?",
                       (interval, round_no))
            db.executemany(
                "INSERT OR REPLACE INTO settlements (interval, gw, raw) VALUES (?,?,?)",
                ((interval, s["gw"], canonical(s)) for s in settlements),
            )
            self.pending.add([result, *settlements], now_ms, counts)

    def store_block(self, interval: int, round_no: int, block: bytes) -> None:
        """A recorded round's fills block, committed without a sync of its own.

        Why: at 100,000 orders the block is 2.9 MB, and syncing it was most of the
        round's commit. It is a function of what is already durable (the bids, the price
        signal, the header that names its SHA-256), so it reaches the disk with the next
        durable commit or checkpoint, and a restart that finds a recorded round without
        its block recomputes it (``MarketService.recover``).
        """
        with self.db.write(durable=False) as db:
            db.execute(
                "INSERT OR REPLACE INTO result_fills (interval, round, block) VALUES (?,?,?)",
                (interval, round_no, block),
            )

    def without_block(self, interval: int) -> list[bytes]:
        """The signed headers (as stored) of one interval's recorded rounds that have no
        stored block."""
        rows = self.db.read(
            "SELECT r.raw FROM results r LEFT JOIN result_fills f USING (interval, round)"
            " WHERE r.interval = ? AND f.block IS NULL ORDER BY r.round", (interval,))
        return [r[0] for r in rows]

    def results(self, interval: int | None = None, limit: int = 20) -> list[dict[str, Any]]:
        """One interval's rounds in order, or the newest ``limit`` rounds of any interval."""
        if interval is None:
            rows = self.db.read(
                "SELECT raw FROM results ORDER BY interval DESC, round DESC LIMIT ?", (limit,))
        else:
            rows = self.db.read(
                "SELECT raw FROM results WHERE interval = ? ORDER BY round", (interval,))
        return [json.loads(r[0]) for r in rows]

    def frames(self, interval: int) -> dict[int, bytes]:
        """One interval's rounds that have a stored block, as their result frames by round
        number (to publish again)."""
        rows = self.db.read("SELECT r.round, r.raw, f.block FROM results r JOIN result_fills f "
                            "USING (interval, round) WHERE interval = ?", (interval,))
        return {rnd: frame(raw, block) for rnd, raw, block in rows}

    def fills(self, interval: int, round_no: int) -> list[dict[str, Any]]:
        """The decoded fills of one round ([] for none, or a round stored without a block)."""
        rows = self.db.read("SELECT block FROM result_fills WHERE interval = ? AND round = ?",
                            (interval, round_no))
        return decode(rows[0][0], interval) if rows else []

    def final_results(self, limit: int = 1000) -> list[dict[str, Any]]:
        rows = self.db.read(
            "SELECT raw FROM results WHERE final = 1 ORDER BY interval DESC LIMIT ?", (limit,))
        return [json.loads(r[0]) for r in reversed(rows)]

    def settlements(self, interval: int) -> list[dict[str, Any]]:
        rows = self.db.read(
            "SELECT raw FROM settlements WHERE interval = ? ORDER BY gw", (interval,))
        return [json.loads(r[0]) for r in rows]

    def unfinished_intervals(self) -> list[int]:
        """Intervals with at least one round but no final round."""
        rows = self.db.read(
            "SELECT interval FROM results GROUP BY interval HAVING MAX(final) = 0")
        return [r[0] for r in rows]
