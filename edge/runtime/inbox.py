"""The edge's durable state on SQLite: accepted messages first, then everything derived.

One database file, WAL, synchronous=FULL: a message counts as accepted only
once the transaction holding it (with its sequence window, its counters and
the chain transactions it produces) is committed, and only then is its
MQTT PUBACK sent. After SIGKILL or a power cut either the whole batch is
there or none of it, and an un-acknowledged message is redelivered by the
broker and recognised by its sequence number.

The same file holds what must change together with accepted messages: the
pending chain transactions (the unflushed block), market results and
settlements, price signals, gaps and counters. Keeping them in one file is
what makes "a result and its chain transactions" one atomic write.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from edge.clock import SYSTEM, Clock
from edge.protocol.canonical import canonical
from edge.protocol.transactions import AnchorReceiptTx, TelemetryDigest, tx_bytes
from edge.runtime.admission import Accepted, SeqWindow

_SCHEMA = """
CREATE TABLE IF NOT EXISTS inbox (
    id       INTEGER PRIMARY KEY,
    gw       TEXT NOT NULL,
    space    TEXT NOT NULL,
    seq      INTEGER NOT NULL,
    type     TEXT NOT NULL,
    interval INTEGER,
    round    INTEGER,
    ts       INTEGER NOT NULL,
    recv_ms  INTEGER NOT NULL,
    stored_ms INTEGER NOT NULL,
    raw      BLOB NOT NULL,
    UNIQUE (gw, space, seq)
);
CREATE INDEX IF NOT EXISTS inbox_bids ON inbox (interval, id) WHERE type = 'bid';
CREATE INDEX IF NOT EXISTS inbox_recv ON inbox (recv_ms);
CREATE TABLE IF NOT EXISTS windows (
    gw TEXT NOT NULL, space TEXT NOT NULL, high INTEGER NOT NULL, mask BLOB NOT NULL,
    PRIMARY KEY (gw, space)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, n INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS gaps (
    id INTEGER PRIMARY KEY, gw TEXT NOT NULL, space TEXT NOT NULL,
    first INTEGER NOT NULL, last INTEGER NOT NULL, recv_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS pending (
    id INTEGER PRIMARY KEY, tx BLOB NOT NULL, added_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS results (
    interval INTEGER NOT NULL, round INTEGER NOT NULL, final INTEGER NOT NULL,
    raw BLOB NOT NULL, PRIMARY KEY (interval, round)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS settlements (
    interval INTEGER NOT NULL, gw TEXT NOT NULL, raw BLOB NOT NULL,
    PRIMARY KEY (interval, gw)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS prices (
    id INTEGER PRIMARY KEY, valid_from INTEGER NOT NULL, valid_to INTEGER NOT NULL,
    ts INTEGER NOT NULL, raw BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS receipts (main_height INTEGER PRIMARY KEY, raw BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT NOT NULL) WITHOUT ROWID;
"""


@dataclass(frozen=True)
class Stored:
    """An accepted message as the batch writer hands it over."""

    acc: Accepted
    payload: bytes
    recv_ms: int


@dataclass(frozen=True)
class PendingTx:
    id: int
    tx: bytes
    added_ms: int


class Inbox:
    """The state database. ``now_ms`` arguments of the pending-tx writers are WALL time:
    they age the unflushed block, whose trigger and timestamp follow the wall clock even
    when the market clock is accelerated."""

    def __init__(self, path: str | os.PathLike[str], clock: Clock = SYSTEM) -> None:
        self.path = Path(path)
        self.clock = clock
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)
        self.lock = threading.RLock()

    def close(self) -> None:
        with self.lock:
            self._db.close()

    # -- the one write path of accepted messages -------------------------
    def commit_batch(
        self,
        stored: Sequence[Stored],
        counts: Counter[str],
        extra_txs: Sequence[dict[str, Any]] = (),
        now_ms: int = 0,
    ) -> list[bool]:
        """Persist a batch atomically; returns per message whether it was new.

        ``counts`` are counter increments (rejections of the same batch
        included) so that counters and messages never disagree after a crash.
        """
        new: list[bool] = []
        with self._write() as db:
            windows: dict[tuple[str, str], SeqWindow] = {}
            txs: list[bytes] = []
            stored_ms = self.clock.wall_ms()
            for s in stored:
                a, raw = s.acc, s.acc.raw
                cur = db.execute(
                    "INSERT OR IGNORE INTO inbox (gw, space, seq, type, interval, round, ts,"
                    " recv_ms, stored_ms, raw) VALUES (?,?,?,?,?,?,?,?,?,?)",
                    (a.gw, a.space, a.seq, a.type, raw.get("interval"), raw.get("round"),
                     raw["ts"], s.recv_ms, stored_ms, s.payload),
                )
                fresh = cur.rowcount == 1
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
                    txs.append(tx_bytes(TelemetryDigest.of(a.gw, a.seq, raw["ts"], s.payload)))
                elif a.type == "bid":
                    txs.append(canonical(raw))
            txs.extend(canonical(t) for t in extra_txs)
            db.executemany(
                "INSERT INTO windows (gw, space, high, mask) VALUES (?,?,?,?) ON CONFLICT"
                " (gw, space) DO UPDATE SET high = excluded.high, mask = excluded.mask",
                ((g, sp, w.high, _mask_bytes(w.mask)) for (g, sp), w in windows.items()),
            )
            db.executemany(
                "INSERT INTO pending (tx, added_ms) VALUES (?, ?)", ((t, now_ms) for t in txs)
            )
            self._bump(counts)
        return new

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One atomic write under the lock: BEGIN IMMEDIATE, then COMMIT, or ROLLBACK on error."""
        with self.lock:
            db = self._db
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")

    def _bump(self, counts: Counter[str]) -> None:
        self._db.executemany(
            "INSERT INTO counters (name, n) VALUES (?, ?) ON CONFLICT (name) DO UPDATE"
            " SET n = n + excluded.n",
            [(k, v) for k, v in counts.items() if v],
        )

    def count(self, counts: Counter[str]) -> None:
        with self.lock:
            self._bump(counts)

    # -- reading accepted messages ---------------------------------------
    def windows(self) -> dict[tuple[str, str], SeqWindow]:
        with self.lock:
            rows = self._db.execute("SELECT gw, space, high, mask FROM windows").fetchall()
        return {(g, s): SeqWindow(h, int.from_bytes(m, "big")) for g, s, h, m in rows}

    def bids(self, interval: int) -> list[dict[str, Any]]:
        """Every accepted bid of an interval in acceptance order (the book's history)."""
        with self.lock:
            rows = self._db.execute(
                "SELECT raw FROM inbox WHERE type = 'bid' AND interval = ? ORDER BY id",
                (interval,),
            ).fetchall()
        return [json.loads(r[0]) for r in rows]

    def bid_intervals(self, since: int) -> list[int]:
        with self.lock:
            rows = self._db.execute(
                "SELECT DISTINCT interval FROM inbox WHERE type = 'bid' AND interval >= ?"
                " ORDER BY interval",
                (since,),
            ).fetchall()
        return [r[0] for r in rows]

    def message_count(self, kind: str | None = None) -> int:
        with self.lock:
            if kind is None:
                return self._db.execute("SELECT COUNT(*) FROM inbox").fetchone()[0]
            return self._db.execute(
                "SELECT COUNT(*) FROM inbox WHERE type = ?", (kind,)
            ).fetchone()[0]

    def keys_of(self, kind: str) -> list[tuple[str, int]]:
        """(gw, seq) of every stored message of a kind, for loss checks."""
        with self.lock:
            return [tuple(r) for r in self._db.execute(
                "SELECT gw, seq FROM inbox WHERE type = ? ORDER BY id", (kind,))]

    def last_telemetry(self) -> dict[str, dict[str, Any]]:
        """Each gateway's newest telemetry message (by sequence) for the status page."""
        with self.lock:
            rows = self._db.execute(
                "SELECT i.gw, i.raw, i.recv_ms FROM inbox i JOIN (SELECT gw, MAX(seq) s FROM inbox"
                " WHERE type = 'telemetry' GROUP BY gw) m ON i.gw = m.gw AND i.seq = m.s"
                " AND i.space = 'data'"
            ).fetchall()
        return {g: {**json.loads(r), "recv_ms": t} for g, r, t in rows}

    def counters(self) -> dict[str, int]:
        with self.lock:
            return dict(self._db.execute("SELECT name, n FROM counters ORDER BY name").fetchall())

    def gaps(self, limit: int = 100) -> list[dict[str, Any]]:
        with self.lock:
            rows = self._db.execute(
                "SELECT gw, space, first, last, recv_ms FROM gaps ORDER BY id DESC LIMIT ?",
                (limit,),
            ).fetchall()
        return [dict(zip(("gw", "space", "first", "last", "recv_ms"), r, strict=True))
                for r in rows]

    # -- pending chain transactions (the unflushed block) -----------------
    def add_txs(self, txs: Iterable[BaseModel | dict[str, Any]], now_ms: int,
                counts: Counter[str] | None = None) -> None:
        with self._write() as db:
            db.executemany("INSERT INTO pending (tx, added_ms) VALUES (?, ?)",
                           ((tx_bytes(t), now_ms) for t in txs))
            if counts:
                self._bump(counts)

    def pending_head(self, limit: int) -> list[PendingTx]:
        with self.lock:
            rows = self._db.execute(
                "SELECT id, tx, added_ms FROM pending ORDER BY id LIMIT ?", (limit,)
            ).fetchall()
        return [PendingTx(i, bytes(t), a) for i, t, a in rows]

    def pending_stats(self) -> tuple[int, int | None]:
        """(number of pending txs, added_ms of the oldest)."""
        with self.lock:
            n, oldest = self._db.execute("SELECT COUNT(*), MIN(added_ms) FROM pending").fetchone()
        return n, oldest

    def drop_pending(self, upto_id: int, flushed_height: int) -> None:
        """Forget the txs now in block ``flushed_height`` and remember that height."""
        with self._write() as db:
            db.execute("DELETE FROM pending WHERE id <= ?", (upto_id,))
            self._set_meta("flushed_height", str(flushed_height))

    # -- market records ----------------------------------------------------
    def record_round(
        self,
        interval: int,
        round_no: int,
        final: bool,
        result: dict[str, Any],
        settlements: Sequence[dict[str, Any]],
        now_ms: int,
        counts: Counter[str] | None = None,
    ) -> None:
        """A signed round result (and, when final, the settlements) with their chain txs."""
        with self._write() as db:
            db.execute(
                "INSERT OR REPLACE INTO results (interval, round, final, raw) VALUES (?,?,?,?)",
                (interval, round_no, int(final), canonical(result)),
            )
            db.executemany(
                "INSERT OR REPLACE INTO settlements (interval, gw, raw) VALUES (?,?,?)",
                ((interval, s["gw"], canonical(s)) for s in settlements),
            )
            db.executemany(
                "INSERT INTO pending (tx, added_ms) VALUES (?, ?)",
                ((canonical(t), now_ms) for t in [result, *settlements]),
            )
            if counts:
                self._bump(counts)

    def results(self, interval: int | None = None, limit: int = 20) -> list[dict[str, Any]]:
        with self.lock:
            if interval is None:
                rows = self._db.execute(
                    "SELECT raw FROM results ORDER BY interval DESC, round DESC LIMIT ?", (limit,)
                ).fetchall()
            else:
                rows = self._db.execute(
                    "SELECT raw FROM results WHERE interval = ? ORDER BY round", (interval,)
                ).fetchall()
        return [json.loads(r[0]) for r in rows]

    def final_results(self, limit: int = 1000) -> list[dict[str, Any]]:
        with self.lock:
            rows = self._db.execute(
                "SELECT raw FROM results WHERE final = 1 ORDER BY interval DESC LIMIT ?", (limit,)
            ).fetchall()
        return [json.loads(r[0]) for r in reversed(rows)]

    def settlements(self, interval: int) -> list[dict[str, Any]]:
        with self.lock:
            rows = self._db.execute(
                "SELECT raw FROM settlements WHERE interval = ? ORDER BY gw", (interval,)
            ).fetchall()
        return [json.loads(r[0]) for r in rows]

    def unfinished_intervals(self) -> list[int]:
        """Intervals with at least one round but no final round."""
        with self.lock:
            rows = self._db.execute(
                "SELECT interval FROM results GROUP BY interval HAVING MAX(final) = 0"
            ).fetchall()
        return [r[0] for r in rows]

    # -- price signals -------------------------------------------------------
    def add_receipts(self, receipts: Iterable[dict[str, Any]], now_ms: int) -> int:
        """Record verified anchor receipts and their chain txs once each; return how many were new.

        The receipts table, not the sync client's cursor file, is what the edge
        has durably recorded: the sync loop resumes its receipt cursor from
        `last_receipt_height`, so a crash between pulling and recording loses
        nothing, and a receipt pulled twice is recorded once.
        """
        added = 0
        with self._write() as db:
            for r in receipts:
                tx = tx_bytes(AnchorReceiptTx.of(r))
                cur = db.execute(
                    "INSERT OR IGNORE INTO receipts (main_height, raw) VALUES (?, ?)",
                    (int(r["header"]["height"]), tx),
                )
                if cur.rowcount:
                    db.execute("INSERT INTO pending (tx, added_ms) VALUES (?, ?)", (tx, now_ms))
                    added += 1
            if added:
                self._bump(Counter({"receipts": added}))
        return added

    def last_receipt_height(self) -> int:
        """Main-chain height of the newest recorded receipt, -1 when none."""
        with self.lock:
            row = self._db.execute("SELECT MAX(main_height) FROM receipts").fetchone()
        return -1 if row[0] is None else int(row[0])

    def add_price(self, signal: dict[str, Any], now_ms: int) -> bool:
        """Store a verified price signal and its chain tx; False if already stored."""
        raw = canonical(signal)
        with self._write() as db:
            if db.execute("SELECT 1 FROM prices WHERE raw = ?", (raw,)).fetchone():
                return False
            db.execute(
                "INSERT INTO prices (valid_from, valid_to, ts, raw) VALUES (?,?,?,?)",
                (signal["valid_from"], signal["valid_to"], signal["ts"], raw),
            )
            db.execute("INSERT INTO pending (tx, added_ms) VALUES (?, ?)", (raw, now_ms))
            self._bump(Counter({"prices": 1}))
        return True

    def price_for(self, interval: int) -> dict[str, Any] | None:
        """The newest signal (by its own ts) valid for ``interval``."""
        with self.lock:
            row = self._db.execute(
                "SELECT raw FROM prices WHERE valid_from <= ? AND ? < valid_to"
                " ORDER BY ts DESC, id DESC LIMIT 1",
                (interval, interval),
            ).fetchone()
        return None if row is None else json.loads(row[0])

    def latest_price(self) -> dict[str, Any] | None:
        with self.lock:
            row = self._db.execute("SELECT raw FROM prices ORDER BY ts DESC, id DESC LIMIT 1"
                                   ).fetchone()
        return None if row is None else json.loads(row[0])

    # -- small facts ---------------------------------------------------------
    def _set_meta(self, k: str, v: str) -> None:
        self._db.execute(
            "INSERT INTO meta (k, v) VALUES (?, ?) ON CONFLICT (k) DO UPDATE SET v = excluded.v",
            (k, v),
        )

    def set_meta(self, k: str, v: str) -> None:
        with self.lock:
            self._set_meta(k, v)

    def meta(self, k: str, default: str | None = None) -> str | None:
        with self.lock:
            row = self._db.execute("SELECT v FROM meta WHERE k = ?", (k,)).fetchone()
        return default if row is None else row[0]

    def prune(self, before_ms: int) -> int:
        """Drop accepted messages received before ``before_ms`` (their digests are on the chain).

        Bids are kept while their interval might still be rebuilt; sequence
        windows live in their own table, so pruning never reopens a replay.
        """
        with self.lock:
            cur = self._db.execute(
                "DELETE FROM inbox WHERE recv_ms < ? AND type != 'bid'", (before_ms,)
            )
            return cur.rowcount


def _mask_bytes(mask: int) -> bytes:
    return mask.to_bytes((mask.bit_length() + 7) // 8 or 1, "big")
