"""What the edge records from the central hub: anchor receipts, main-chain heads, prices.

Receipts: verified anchor receipts are recorded once per main height with
their chain transaction; the sync client resumes its cursor from
``last_receipt_height``, so a crash between pulling and recording loses
nothing and a receipt pulled twice is recorded once.

Main-chain heads are pinned: the first header the edge sees at a main height
is remembered, and a different header at the same height (the hub rewrote
its chain, or two hub keys sign) raises an alarm that stays on the status
page and in the counters. The receipt is still refused from the chain.

Price signals are stored once each with their chain transaction; the market
reads the newest valid for an interval.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections import Counter
from collections.abc import Iterable
from typing import Any

from edge.protocol.canonical import canonical
from edge.protocol.transactions import AnchorReceiptTx, tx_bytes
from edge.runtime.inbox.db import Database
from edge.runtime.inbox.pending import Pending

log = logging.getLogger("carbon_edge.inbox")


def header_hash(header: dict[str, Any]) -> str:
    """SHA-256 of a main header's canonical bytes (its block hash)."""
    return hashlib.sha256(canonical(header)).hexdigest()


class Receipts:
    def __init__(self, db: Database, pending: Pending) -> None:
        self.db = db
        self.pending = pending

    def add(self, receipts: Iterable[dict[str, Any]], now_ms: int) -> int:
        """Record verified receipts and their chain txs once each; return how many were new.

        A receipt whose main header differs from the one pinned at its height
        is not recorded; it raises a ``main_fork`` alarm instead.
        """
        added = 0
        alarms = 0
        with self.db.write() as db:
            for r in receipts:
                height = int(r["header"]["height"])
                h = header_hash(r["header"])
                pinned = db.execute("SELECT hash FROM main_heads WHERE height = ?",
                                    (height,)).fetchone()
                if pinned is None:
                    db.execute("INSERT INTO main_heads (height, hash, first_ms) VALUES (?,?,?)",
                               (height, h, now_ms))
                elif pinned[0] != h:
                    alarms += 1
                    detail = (f"main height {height}: header {h} differs from the pinned "
                              f"{pinned[0]}")
                    db.execute("INSERT INTO alarms (kind, detail, at_ms) VALUES (?,?,?)",
                               ("main_fork", detail, now_ms))
                    log.error("two main-chain headers at one height",
                              extra={"height": height, "pinned": pinned[0], "seen": h})
                    continue
                tx = tx_bytes(AnchorReceiptTx.of(r))
                cur = db.execute(
                    "INSERT OR IGNORE INTO receipts (main_height, raw) VALUES (?, ?)",
                    (height, tx))
                if cur.rowcount:
                    self.pending.add([tx], now_ms)
                    added += 1
            self.db.bump(Counter({"receipts": added, "alarms:main_fork": alarms}))
        return added

    def last_receipt_height(self) -> int:
        """Main-chain height of the newest recorded receipt, -1 when none."""
        row = self.db.read("SELECT MAX(main_height) FROM receipts")[0]
        return -1 if row[0] is None else int(row[0])

    def anchored_height(self) -> int:
        """The highest of our own heights a recorded receipt anchors, -1 when none."""
        best = -1
        for (raw,) in self.db.read("SELECT raw FROM receipts ORDER BY main_height DESC LIMIT 16"):
            best = max(best, int(json.loads(raw)["tx"]["height"]))
        return best

    def alarms(self, limit: int = 20) -> list[dict[str, Any]]:
        rows = self.db.read(
            "SELECT kind, detail, at_ms FROM alarms ORDER BY id DESC LIMIT ?", (limit,))
        return [{"kind": k, "detail": d, "at_ms": t} for k, d, t in rows]


class Prices:
    def __init__(self, db: Database, pending: Pending) -> None:
        self.db = db
        self.pending = pending

    def add(self, signal: dict[str, Any], now_ms: int) -> bool:
        """Store a verified price signal and its chain tx; False if already stored."""
        raw = canonical(signal)
        with self.db.write() as db:
            if db.execute("SELECT 1 FROM prices WHERE raw = ?", (raw,)).fetchone():
                return False
            db.execute(
                "INSERT INTO prices (valid_from, valid_to, ts, raw) VALUES (?,?,?,?)",
                (signal["valid_from"], signal["valid_to"], signal["ts"], raw),
            )
            self.pending.add([raw], now_ms, Counter({"prices": 1}))
        return True

    def for_interval(self, interval: int) -> dict[str, Any] | None:
        """The newest signal (by its own ts) valid for ``interval``."""
        rows = self.db.read(
            "SELECT raw FROM prices WHERE valid_from <= ? AND ? < valid_to"
            " ORDER BY ts DESC, id DESC LIMIT 1", (interval, interval))
        return json.loads(rows[0][0]) if rows else None

    def all_for(self, interval: int) -> list[dict[str, Any]]:
        """Every stored signal valid for ``interval``, newest first (``for_interval``'s
        order): the candidates for the one a recorded round cleared with."""
        rows = self.db.read(
            "SELECT raw FROM prices WHERE valid_from <= ? AND ? < valid_to"
            " ORDER BY ts DESC, id DESC", (interval, interval))
        return [json.loads(r[0]) for r in rows]

    def last_ts(self) -> int:
        """ts of the newest stored signal, -1 when none (the sync client's price cursor)."""
        row = self.db.read("SELECT MAX(ts) FROM prices")[0]
        return -1 if row[0] is None else int(row[0])
