"""The drop box through which the untrusted relayer hands proofs to a peg side.

One SQLite file per side. The relayer only inserts rows; the side takes
pending rows in order, checks each (a refused row costs only itself) and
marks it done or refused with the reason. Neither party trusts the other's
process: the relayer holds no chain key and the side re-checks everything.
"""

from __future__ import annotations

import json
import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edge.protocol.canonical import canonical

MAX_DOC = 1 << 20  # a header chain plus a proof: far below a MiB

_SCHEMA = """
CREATE TABLE IF NOT EXISTS submissions (
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,
    transfer TEXT NOT NULL,
    doc BLOB NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending',
    reason TEXT
);
CREATE INDEX IF NOT EXISTS submissions_state ON submissions (state, id);
"""


@dataclass(frozen=True)
class Submission:
    id: int
    kind: str
    transfer: str
    doc: Any
    state: str
    reason: str | None


class Submissions:
    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._db = sqlite3.connect(self.path, isolation_level=None, timeout=30)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        self._db.close()

    def submit(self, kind: str, transfer: str, doc: Any) -> int:
        raw = canonical(doc)
        if len(raw) > MAX_DOC:
            raise ValueError(f"submission of {len(raw)} bytes is over {MAX_DOC}")
        cur = self._db.execute(
            "INSERT INTO submissions (kind, transfer, doc) VALUES (?, ?, ?)", (kind, transfer, raw))
        return int(cur.lastrowid or 0)

    def _row(self, r: tuple[Any, ...]) -> Submission:
        try:
            doc = json.loads(r[3]) if len(r[3]) <= MAX_DOC else None
        except ValueError:
            doc = None
        return Submission(r[0], r[1], r[2], doc, r[4], r[5])

    def pending(self, limit: int = 1000) -> list[Submission]:
        rows = self._db.execute(
            "SELECT id, kind, transfer, doc, state, reason FROM submissions "
            "WHERE state = 'pending' ORDER BY id LIMIT ?", (limit,)).fetchall()
        return [self._row(r) for r in rows]

    def get(self, sid: int) -> Submission | None:
        r = self._db.execute("SELECT id, kind, transfer, doc, state, reason FROM submissions "
                             "WHERE id = ?", (sid,)).fetchone()
        return None if r is None else self._row(r)

    def mark(self, sid: int, state: str, reason: str | None = None) -> None:
        self._db.execute("UPDATE submissions SET state = ?, reason = ? WHERE id = ?",
                         (state, reason, sid))
