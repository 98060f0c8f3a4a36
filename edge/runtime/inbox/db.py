"""The inbox database: one SQLite file, one connection, one write transaction.

WAL with synchronous=FULL: a commit is on disk when it returns. Every writer
of every concept (messages, pending transactions, market records, receipts,
prices) goes through ``write()``, which is re-entrant on the writing thread,
so a caller can make several concepts change in one atomic transaction
(an accepted bid, its window and its chain transaction; a round result, its
settlements and their chain transactions). Counters and small facts (meta)
belong to the database as a whole and are written in the same transactions.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from edge.clock import SYSTEM, Clock

SCHEMA = """
CREATE TABLE IF NOT EXISTS inbox (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
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
CREATE TABLE IF NOT EXISTS commitments (
    msg_id INTEGER PRIMARY KEY, interval INTEGER NOT NULL, commitment TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, n INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS gaps (
    id INTEGER PRIMARY KEY, gw TEXT NOT NULL, space TEXT NOT NULL,
    first INTEGER NOT NULL, last INTEGER NOT NULL, recv_ms INTEGER NOT NULL
);
-- the chain's queue in runs (edge.runtime.inbox.pending): txs packed, msg_ids 8 bytes each
CREATE TABLE IF NOT EXISTS pending_runs (
    id INTEGER PRIMARY KEY, txs BLOB NOT NULL, n INTEGER NOT NULL,
    done INTEGER NOT NULL DEFAULT 0, added_ms INTEGER NOT NULL, msg_ids BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS flushed (
    height INTEGER PRIMARY KEY, last_msg INTEGER NOT NULL, flushed_ms INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS results (
    interval INTEGER NOT NULL, round INTEGER NOT NULL, final INTEGER NOT NULL,
    raw BLOB NOT NULL, PRIMARY KEY (interval, round)
) WITHOUT ROWID;
-- a round's fills block (edge.protocol.fills), stored once: results and the chain hold
-- its signed header. A rowid table: a row of megabytes in a WITHOUT ROWID table took
-- about twice as long to write (measured at 2.9 MB: 9.4 ms against 5.4 ms).
CREATE TABLE IF NOT EXISTS result_fills (
    interval INTEGER NOT NULL, round INTEGER NOT NULL, block BLOB NOT NULL,
    PRIMARY KEY (interval, round)
);
CREATE TABLE IF NOT EXISTS settlements (
    interval INTEGER NOT NULL, gw TEXT NOT NULL, raw BLOB NOT NULL,
    PRIMARY KEY (interval, gw)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS prices (
    id INTEGER PRIMARY KEY, valid_from INTEGER NOT NULL, valid_to INTEGER NOT NULL,
    ts INTEGER NOT NULL, raw BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS receipts (main_height INTEGER PRIMARY KEY, raw BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS main_heads (
    height INTEGER PRIMARY KEY, hash TEXT NOT NULL, first_ms INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS alarms (
    id INTEGER PRIMARY KEY, kind TEXT NOT NULL, detail TEXT NOT NULL, at_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT NOT NULL) WITHOUT ROWID;
"""

#: Write-ahead-log pages after which a commit copies the log into the database itself: a
#: safety net only (64 MiB at 4 KiB pages). The edge service checkpoints from its clock
#: (``checkpoint``) on a connection of its own, so a commit (an ingest batch, a round's
#: result) appends to the log and syncs it, and never also copies the log back: SQLite's
#: default of 1,000 pages made about every other 100,000-order round do that, 9 ms of its
#: 33 (bench_clearing's interval round).
AUTOCHECKPOINT_PAGES = 16_384


class Database:
    """The connection, its lock and the one write transaction."""

    def __init__(self, path: str | os.PathLike[str], clock: Clock = SYSTEM,
                 busy_timeout_s: float = 5.0) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.clock = clock
        self.conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False,
                                    timeout=busy_timeout_s)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=FULL")
        self.conn.execute(f"PRAGMA wal_autocheckpoint={AUTOCHECKPOINT_PAGES}")
        self._checkpointer: sqlite3.Connection | None = None
        self._checkpointing = threading.Lock()  # the ticker and a caller of tick, one at a time
        self.conn.executescript(SCHEMA)
        self._ids_never_reused()
        self.lock = threading.RLock()
        self._depth = 0

    def _ids_never_reused(self) -> None:
        """Give an inbox made before message ids were AUTOINCREMENT the current table.

        Without it SQLite hands out ``MAX(id) + 1``, so once pruning has removed the newest
        rows a new message could take an id at or below an anchored block's last message
        and be pruned before any block holds it. The rebuild copies every row, ids kept.
        """
        sql = self.conn.execute(
            "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'inbox'").fetchone()[0]
        if "AUTOINCREMENT" in sql:
            return
        new = SCHEMA.split("CREATE TABLE IF NOT EXISTS inbox", 1)[1].split(";", 1)[0]
        with self.conn:
            self.conn.execute("BEGIN IMMEDIATE")
            self.conn.execute("ALTER TABLE inbox RENAME TO inbox_old")
            self.conn.execute(f"CREATE TABLE inbox {new}")
            self.conn.execute("INSERT INTO inbox SELECT * FROM inbox_old")
            self.conn.execute("DROP TABLE inbox_old")
            self.conn.executescript(SCHEMA)  # the indexes went with the old table

    def checkpoint(self) -> tuple[int, int]:
        """Copy what the write-ahead log holds into the database, without waiting for or
        blocking a writer (SQLite's PASSIVE checkpoint); (log pages, pages copied).

        On a connection of its own and outside ``lock``: writers go on while it copies
        (they append to the log), so the caller's thread pays the copy, not a commit.
        """
        with self._checkpointing:
            if self._checkpointer is None:
                self._checkpointer = sqlite3.connect(self.path, isolation_level=None,
                                                     check_same_thread=False, timeout=0)
            _busy, log, done = self._checkpointer.execute(
                "PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            return log, done

    def close(self) -> None:
        with self.lock, self._checkpointing:
            if self._checkpointer is not None:
                self._checkpointer.close()
            self.conn.close()

    @contextmanager
    def write(self, durable: bool = True) -> Iterator[sqlite3.Connection]:
        """One atomic write under the lock: BEGIN IMMEDIATE ... COMMIT, ROLLBACK on error.

        Nested use on the same thread joins the outer transaction, so writers of
        different concepts compose into one commit. ``durable=False`` commits without
        syncing the log (synchronous=NORMAL for this one transaction): still atomic, and
        on disk with the next durable commit or checkpoint, which sync the whole log. For
        what can be recomputed from what is already durable (a round's fills block).
        """
        with self.lock:
            if self._depth:
                self._depth += 1
                try:
                    yield self.conn
                finally:
                    self._depth -= 1
                return
            if not durable:
                self.conn.execute("PRAGMA synchronous=NORMAL")
                try:
                    with self.write() as conn:
                        yield conn
                finally:
                    self.conn.execute("PRAGMA synchronous=FULL")
                return
            self.conn.execute("BEGIN IMMEDIATE")
            self._depth = 1
            try:
                yield self.conn
            except BaseException:
                self._depth = 0
                self.conn.execute("ROLLBACK")
                raise
            try:
                self.conn.execute("COMMIT")
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
            finally:
                self._depth = 0

    def read(self, sql: str, args: tuple = ()) -> list[tuple]:
        with self.lock:
            return self.conn.execute(sql, args).fetchall()

    # -- counters and small facts ------------------------------------------------
    def bump(self, counts: Counter[str]) -> None:
        """Add to counters (inside the caller's write, or as a write of its own)."""
        rows = [(k, v) for k, v in counts.items() if v]
        if not rows:
            return
        with self.write() as db:
            db.executemany(
                "INSERT INTO counters (name, n) VALUES (?, ?) ON CONFLICT (name) DO UPDATE"
                " SET n = n + excluded.n", rows)

    def counters(self) -> dict[str, int]:
        return dict(self.read("SELECT name, n FROM counters ORDER BY name"))

    def set_meta(self, k: str, v: str) -> None:
        with self.write() as db:
            db.execute("INSERT INTO meta (k, v) VALUES (?, ?) ON CONFLICT (k) DO UPDATE"
                       " SET v = excluded.v", (k, v))

    def meta(self, k: str, default: str | None = None) -> str | None:
        rows = self.read("SELECT v FROM meta WHERE k = ?", (k,))
        return default if not rows else rows[0][0]
