"""Accepted gateway messages and the sequence windows that guard them.

``commit_batch`` is the one write path of accepted messages: the raw bytes,
their windows, the gaps they reveal, their chain transactions (a telemetry
digest, or the bid, carbon bid or peg request itself) and the batch's
counters, in one transaction. The MQTT acknowledgement is sent only after it
returns.

Raw messages are kept until they are on the chain and the chain is
anchored by the hub (``prune_anchored``); then the chain and the gateway's
own store are the record, and the inbox does not grow without bound.
Sequence windows live in their own table, so pruning never reopens a replay.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from typing import Any, NamedTuple

from edge.protocol.canonical import canonical
from edge.protocol.transactions import SealedBidCommitment, TelemetryDigest, tx_bytes
from edge.runtime.admission import Accepted, SeqWindow
from edge.runtime.inbox.db import Database
from edge.runtime.inbox.pending import Pending


class Stored(NamedTuple):
    """An accepted message as the batch writer hands it over (a tuple: one per message)."""

    acc: Accepted
    payload: bytes
    recv_ms: int


class Messages:
    def __init__(self, db: Database, pending: Pending) -> None:
        self.db = db
        self.pending = pending

    def commit_batch(self, stored: Sequence[Stored], counts: Counter[str],
                     now_ms: int = 0) -> list[bool]:
        """Persist a batch atomically; returns per message whether it was new.

        ``counts`` are counter increments (rejections of the same batch
        included) so that counters and messages never disagree after a crash.
        ``now_ms`` is the wall time the chain transactions start waiting.
        """
        new: list[bool] = []
        with self.db.write() as db:
            windows: dict[tuple[str, str], SeqWindow] = {}
            txs: list[bytes] = []
            ids: list[int] = []
            stored_ms = self.db.clock.wall_ms()
            top = db.execute("SELECT MAX(id) FROM inbox").fetchone()[0] or 0
            before = db.total_changes
            # one statement for the batch (a row already there is ignored: only a redelivery
            # the windows missed could be one)
            db.executemany(
                "INSERT OR IGNORE INTO inbox (gw, space, seq, type, interval, round, ts,"
                " recv_ms, stored_ms, raw) VALUES (?,?,?,?,?,?,?,?,?,?)",
                [(s.acc.gw, s.acc.space, s.acc.seq, s.acc.type, s.acc.raw.get("interval"),
                  s.acc.raw.get("round"), s.acc.raw["ts"], s.recv_ms, stored_ms, s.payload)
                 for s in stored])
            for s, msg_id in zip(stored, _new_ids(db, stored, top, db.total_changes - before),
                                 strict=True):
                a, raw = s.acc, s.acc.raw
                fresh = msg_id is not None
                new.append(fresh)
                if not fresh:
                    continue
                windows[(a.gw, a.space)] = a.window
                if a.gap is not None:
                    db.execute(
                        "INSERT INTO gaps (gw, space, first, last, recv_ms) VALUES (?,?,?,?,?)",
                        (a.gw, a.space, a.gap[0], a.gap[1], s.recv_ms),
                    )
                if a.type == "telemetry":
                    txs.append(TelemetryDigest.leaf(a.gw, a.seq, raw["ts"], s.payload))
                    ids.append(msg_id)
                elif a.type == "bid" and "sealed" in raw:
                    # the chain gets the blob's hash now, the blob after the gate closes
                    c = SealedBidCommitment.of(raw)
                    db.execute("INSERT INTO commitments (msg_id, interval, commitment)"
                               " VALUES (?,?,?)", (msg_id, c.interval, c.commitment))
                    txs.append(tx_bytes(c))
                    ids.append(msg_id)
                elif a.type in ("bid", "carbon_bid", "peg_spend", "peg_burn"):
                    # as tagged by the gateway: the hub builds its carbon book from carbon
                    # bids and forwards peg requests to the peg, which checks the tag again
                    txs.append(canonical(raw))
                    ids.append(msg_id)
            db.executemany(
                "INSERT INTO windows (gw, space, high, mask) VALUES (?,?,?,?) ON CONFLICT"
                " (gw, space) DO UPDATE SET high = excluded.high, mask = excluded.mask",
                ((g, sp, w.high, _mask_bytes(w.mask)) for (g, sp), w in windows.items()),
            )
            self.pending.add(txs, now_ms, counts, ids)
        return new

    def windows(self) -> dict[tuple[str, str], SeqWindow]:
        rows = self.db.read("SELECT gw, space, high, mask FROM windows")
        return {(g, s): SeqWindow(h, int.from_bytes(m, "big")) for g, s, h, m in rows}

    def bids(self, interval: int) -> list[dict[str, Any]]:
        """Every accepted bid of an interval in acceptance order (the book's history)."""
        rows = self.db.read(
            "SELECT raw FROM inbox WHERE type = 'bid' AND interval = ? ORDER BY id", (interval,))
        return [json.loads(r[0]) for r in rows]

    def sealed_bids(self, interval: int, round_no: int) -> list[tuple[dict[str, Any], str]]:
        """The sealed bids of one interval and round in acceptance order, each with the
        commitment recorded when it was accepted (what went to the chain)."""
        rows = self.db.read(
            "SELECT i.raw, c.commitment FROM inbox i JOIN commitments c ON c.msg_id = i.id"
            " WHERE i.type = 'bid' AND i.interval = ? AND i.round = ? ORDER BY i.id",
            (interval, round_no))
        return [(json.loads(r), c) for r, c in rows]

    def bid_intervals(self, since: int) -> list[int]:
        rows = self.db.read(
            "SELECT DISTINCT interval FROM inbox WHERE type = 'bid' AND interval >= ?"
            " ORDER BY interval", (since,))
        return [r[0] for r in rows]

    def last_telemetry(self) -> dict[str, dict[str, Any]]:
        """Each gateway's newest telemetry message (by sequence) for the status page."""
        rows = self.db.read(
            "SELECT i.gw, i.raw, i.recv_ms FROM inbox i JOIN (SELECT gw, MAX(seq) s FROM inbox"
            " WHERE type = 'telemetry' GROUP BY gw) m ON i.gw = m.gw AND i.seq = m.s"
            " AND i.space = 'data'")
        return {g: {**json.loads(r), "recv_ms": t} for g, r, t in rows}

    def gaps(self, limit: int = 100) -> list[dict[str, Any]]:
        rows = self.db.read(
            "SELECT gw, space, first, last, recv_ms FROM gaps ORDER BY id DESC LIMIT ?", (limit,))
        return [dict(zip(("gw", "space", "first", "last", "recv_ms"), r, strict=True))
                for r in rows]

    def prune_anchored(self, anchored_height: int, received_before_ms: int,
                       bids_before_interval: int) -> int:
        """Drop raw messages that are in blocks up to ``anchored_height`` (anchored by the hub)
        and were received before ``received_before_ms``; bids only once their interval is
        older than ``bids_before_interval`` (the market rebuilds books from them).

        Gaps older than the same horizon go too. Returns the messages dropped.
        """
        with self.db.write() as db:
            row = db.execute("SELECT MAX(last_msg) FROM flushed WHERE height <= ?",
                             (anchored_height,)).fetchone()
            upto = row[0] if row and row[0] is not None else 0
            cur = db.execute(
                "DELETE FROM inbox WHERE id <= ? AND recv_ms < ?"
                " AND (type != 'bid' OR interval < ?)",
                (upto, received_before_ms, bids_before_interval))
            n = cur.rowcount
            db.execute("DELETE FROM commitments WHERE interval < ? AND msg_id NOT IN"
                       " (SELECT id FROM inbox)", (bids_before_interval,))
            db.execute("DELETE FROM gaps WHERE recv_ms < ?", (received_before_ms,))
            db.execute("DELETE FROM flushed WHERE height < ?", (anchored_height,))
            if n:
                self.db.bump(Counter({"pruned_messages": n}))
        return n


def _new_ids(db: Any, stored: Sequence[Stored], top: int, inserted: int) -> list[int | None]:
    """The inbox id of each message of the batch whose row this insert added (None where
    the row was there already).

    When every row went in, they did so in order with consecutive ids (one connection, one
    transaction, AUTOINCREMENT) ending at ``last_insert_rowid()``: no read-back. Otherwise
    (a row was there already) the new rows are read back by their ids above ``top``.
    """
    if inserted == len(stored) and stored:
        last = db.execute("SELECT last_insert_rowid()").fetchone()[0]
        first = last - len(stored) + 1
        if first > top:
            return list(range(first, last + 1))
    new = {(g, sp, q): i for i, g, sp, q in db.execute(
        "SELECT id, gw, space, seq FROM inbox WHERE id > ?", (top,))}
    return [new.pop((s.acc.gw, s.acc.space, s.acc.seq), None) for s in stored]


def _mask_bytes(mask: int) -> bytes:
    return mask.to_bytes((mask.bit_length() + 7) // 8 or 1, "big")
