"""An append-only chain store on SQLite.

WAL with synchronous=FULL and one transaction per block: after a crash or a
power cut a block is either wholly there (header and every transaction) or
absent. `append` refuses anything that does not extend the head, so the
store can only ever hold one linear chain.

A block's transactions are one row (``block_txs``: packed, each as its
length and its bytes, as the inbox queues them), not a row each. Why: a row
per transaction cost about 2.4 us of CPU each on the development host, a
fifteenth of the edge's cost per message at full ingest rate, for rows that
are only ever read a block at a time. Blocks written before are read from
their rows in ``txs`` (never written any more). What is on disk is not
trusted: lengths that disagree with the bytes are a ``CorruptBlock``, which
``verify`` reports at its height.
"""

from __future__ import annotations

import os
import sqlite3
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

from edge.chain.block import GENESIS_PREV, Block, BlockHeader
from edge.chain.packed import pack, unpack_all

_SCHEMA = """
CREATE TABLE IF NOT EXISTS blocks (
    height INTEGER PRIMARY KEY,
    hash   TEXT NOT NULL UNIQUE,
    header BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS block_txs (
    height INTEGER PRIMARY KEY,
    data   BLOB NOT NULL
);
-- the transactions of blocks written before block_txs, a row each (read, never written)
CREATE TABLE IF NOT EXISTS txs (
    height INTEGER NOT NULL,
    idx    INTEGER NOT NULL,
    data   BLOB NOT NULL,
    PRIMARY KEY (height, idx)
) WITHOUT ROWID;
"""


def _blob(value: bytes | str) -> bytes:
    """Stored values as bytes, even if someone wrote text into the file by hand."""
    return value.encode("utf-8", "surrogateescape") if isinstance(value, str) else bytes(value)


class AppendError(ValueError):
    """A block that does not extend the stored head."""


class CorruptBlock(ValueError):
    """A stored block whose transactions cannot be read back (their lengths disagree)."""


def readonly_uri(path: Path) -> str:
    """An SQLite URI that reads `path` and never writes it or creates files beside it.

    mode=ro: SQLite never writes the database file, nor creates it. With no
    -wal file beside it no writer has the file open, and immutable=1 then
    also keeps SQLite from creating -wal/-shm files next to it.
    """
    live = Path(str(path) + "-wal").exists()
    return ("file:" + urllib.parse.quote(str(Path(path).absolute()))
            + ("?mode=ro" if live else "?mode=ro&immutable=1"))


class StoreError(ValueError):
    """A file that cannot be opened as a chain store (not SQLite, unreadable, a directory)."""


class ChainStore:
    """The edge's chain on disk; `readonly=True` for checkers that must never write to it."""

    def __init__(self, path: str | os.PathLike[str], readonly: bool = False) -> None:
        self.path = Path(path)
        self.readonly = readonly
        try:
            if readonly:
                # no journal-mode or schema statements either: they would be writes
                self._db = sqlite3.connect(readonly_uri(self.path), uri=True, isolation_level=None,
                                           check_same_thread=False)
                self._db.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
            else:
                self._db = sqlite3.connect(self.path, isolation_level=None,
                                           check_same_thread=False)
                self._db.execute("PRAGMA journal_mode=WAL")
                self._db.execute("PRAGMA synchronous=FULL")
                self._db.executescript(_SCHEMA)
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"cannot open {self.path} as a chain store: {exc}") from None

    def has_tables(self) -> bool:
        """False for an SQLite file without the chain's tables (a wiped or foreign file)."""
        names = {r[0] for r in self._db.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table'")}
        return "blocks" in names and bool({"block_txs", "txs"} & names)

    def integrity_problems(self) -> list[str]:
        """SQLite's own page-level check (`PRAGMA integrity_check`): [] when sound."""
        try:
            rows = [r[0] for r in self._db.execute("PRAGMA integrity_check(20)")]
        except sqlite3.DatabaseError as exc:
            return [str(exc)]
        return [] if rows == ["ok"] else rows

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> ChainStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- reading ---------------------------------------------------------
    def height(self) -> int:
        """Height of the head, -1 when empty."""
        row = self._db.execute("SELECT MAX(height) FROM blocks").fetchone()
        return -1 if row[0] is None else row[0]

    def head(self) -> BlockHeader | None:
        row = self._db.execute(
            "SELECT header FROM blocks ORDER BY height DESC LIMIT 1"
        ).fetchone()
        return None if row is None else BlockHeader.from_bytes(_blob(row[0]))

    def genesis(self) -> BlockHeader | None:
        """The header at height 0: whose key produces this chain (None when empty)."""
        stored = self.header_bytes(0)
        return None if stored is None else BlockHeader.from_bytes(stored[1])

    def head_hash(self) -> str:
        row = self._db.execute("SELECT hash FROM blocks ORDER BY height DESC LIMIT 1").fetchone()
        return GENESIS_PREV if row is None else row[0]

    def header_bytes(self, height: int) -> tuple[str, bytes] | None:
        row = self._db.execute(
            "SELECT hash, header FROM blocks WHERE height = ?", (height,)
        ).fetchone()
        return None if row is None else (row[0], _blob(row[1]))

    def tx_bytes(self, height: int) -> list[bytes]:
        """A block's transactions as stored; ``CorruptBlock`` if they cannot be read back."""
        row = self._db.execute("SELECT data FROM block_txs WHERE height = ?",
                               (height,)).fetchone()
        if row is not None:
            try:
                return unpack_all(_blob(row[0]))
            except ValueError as exc:
                raise CorruptBlock(f"block {height}: {exc}") from None
        rows = self._db.execute(
            "SELECT data FROM txs WHERE height = ? ORDER BY idx", (height,)
        ).fetchall()
        return [_blob(r[0]) for r in rows]

    def get(self, height: int) -> Block:
        stored = self.header_bytes(height)
        if stored is None:
            raise KeyError(f"no block at height {height}")
        return Block(BlockHeader.from_bytes(stored[1]), tuple(self.tx_bytes(height)))

    def raw_rows(self) -> Iterator[tuple[int, str, bytes, list[bytes] | CorruptBlock]]:
        """Every stored record as it is on disk, for `verify` (a block's transactions that
        cannot be read back come as their ``CorruptBlock``)."""
        for height, hash_, header in self._db.execute(
            "SELECT height, hash, header FROM blocks ORDER BY height"
        ):
            try:
                txs: list[bytes] | CorruptBlock = self.tx_bytes(height)
            except CorruptBlock as exc:
                txs = exc
            yield height, hash_, _blob(header), txs

    # -- writing ---------------------------------------------------------
    def append(self, block: Block) -> None:
        """Store `block` atomically; it must extend the current head."""
        self.append_many([block])

    def append_many(self, blocks: list[Block]) -> None:
        """Store consecutive blocks in one transaction (one fsync); the first must extend the
        current head and each the one before it. All are stored, or none."""
        if self.readonly:
            raise AppendError("the store is open read-only")
        expected_height, prev = self.height() + 1, self.head_hash()
        for block in blocks:
            h = block.header
            if h.height != expected_height:
                raise AppendError(f"height {h.height}, expected {expected_height}")
            if h.prev != prev:
                raise AppendError(f"block {h.height} does not link to the stored head")
            if h.ntx != len(block.txs):
                raise AppendError(f"block {h.height} says {h.ntx} txs but has {len(block.txs)}")
            expected_height, prev = h.height + 1, h.hash()
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            for block in blocks:
                h = block.header
                db.execute(
                    "INSERT INTO blocks (height, hash, header) VALUES (?, ?, ?)",
                    (h.height, h.hash(), h.to_bytes()),
                )
                db.execute("INSERT INTO block_txs (height, data) VALUES (?, ?)",
                           (h.height, pack(list(block.txs))))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
