"""Ingest batches of edge blocks: verify with the edge's own code, store once, refuse conflicts.

Rules (sync contract):
- blocks come in height order, consecutive, starting at any height <= head+1;
- a block already stored (same hash) is a duplicate: retries are idempotent;
- a different block at a stored height, validly signed by the edge, is
  equivocation (same parent as ours) or a fork (another parent): refused
  with 409 and an alarm; unsigned garbage there is just a bad block;
- a new block is checked by edge.chain.verify.check_block against its
  predecessor (signature, producer = the edge, Merkle root, link, height,
  time order) and stored with its transactions.
Blocks before a refused one are kept (nothing accepted is lost). Races
between hub workers end in a primary-key violation; the batch is then
re-read and retried, so the loser sees duplicates, never a 500.

One request is one transaction: its new headers go in as one multi-row
insert and its transactions in bulk (PostgreSQL: one binary COPY; SQLite:
one executemany), written after the batch is verified, together with the
alarm of a refused block, and the head answered is read in that transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.exc import IntegrityError

from edge.chain.block import BLOCK_VERSION, BlockHeader
from edge.chain.merkle import Hasher
from edge.chain.verify import check_block
from edge.protocol.canonical import canonical
from hub.service.alarms import record_alarm
from hub.service.db import Database
from hub.service.errors import BadBlock, Conflict, HubError
from hub.service.models import EdgeBlock, EdgeTx

RETRIES = 3
#: A block may be stamped at most this far ahead of the hub's clock.
FUTURE_SLACK_MS = 300_000
_INT_FIELDS = ("version", "height", "ts", "ntx")


@dataclass(frozen=True)
class Head:
    height: int
    hash: str

    def as_dict(self) -> dict[str, object]:
        return {"height": self.height, "hash": self.hash}


EMPTY_HEAD = Head(-1, "00" * 32)


@dataclass(frozen=True)
class IngestResult:
    accepted: int
    duplicates: int
    head: Head


@dataclass(frozen=True)
class Offered:
    header: BlockHeader
    header_raw: bytes
    txs: list[bytes]


def decode_block(obj: Any, fallback_height: int) -> Offered:
    """A block object from the wire as canonical bytes; BadBlock names what is wrong."""
    if not isinstance(obj, dict) or not isinstance(obj.get("header"), dict):
        raise BadBlock("bad_block", "block needs a header object", height=fallback_height,
                       problem="no header")
    raw_header, raw_txs = obj["header"], obj.get("txs", [])
    height = raw_header.get("height", fallback_height)
    height = height if isinstance(height, int) and not isinstance(height, bool) else fallback_height

    def bad(problem: str) -> BadBlock:
        return BadBlock("bad_block", f"block {height}: {problem}", height=height, problem=problem)

    for name in _INT_FIELDS:
        v = raw_header.get(name)
        if not isinstance(v, int) or isinstance(v, bool) or v < 0:
            raise bad(f"header.{name} must be a non-negative integer")
    if raw_header["version"] != BLOCK_VERSION:
        raise bad(f"header.version {raw_header['version']} is not supported (the hub reads "
                  f"version {BLOCK_VERSION})")
    if not isinstance(raw_txs, list):
        raise bad("txs must be a list")
    try:
        header_raw = canonical(raw_header)
        header = BlockHeader.from_bytes(header_raw)
        txs = [canonical(t) for t in raw_txs]
    except (TypeError, ValueError) as exc:
        raise bad(f"does not encode canonically: {exc}") from None
    return Offered(header, header_raw, txs)


def head_of(db: Database, edge_id: str) -> Head:
    with db.session() as s:
        row = s.execute(
            select(EdgeBlock.height, EdgeBlock.hash)
            .where(EdgeBlock.edge_id == edge_id)
            .order_by(EdgeBlock.height.desc())
            .limit(1)
        ).first()
    return EMPTY_HEAD if row is None else Head(row[0], row[1])


def ingest_batch(
    db: Database,
    edge_id: str,
    blocks: Sequence[Any],
    now_ms: int,
    hasher: Hasher | None = None,
) -> IngestResult:
    """Store the new blocks of a batch; raise BadBlock/Conflict after keeping the good prefix.

    `now_ms` is the hub clock's wall time (edge.clock.Clock): receipt stamps and the
    future-timestamp check.
    """
    for attempt in range(RETRIES):
        try:
            return _ingest_once(db, edge_id, blocks, now_ms, hasher)
        except IntegrityError:
            if attempt == RETRIES - 1:
                raise
    raise AssertionError("unreachable")


def _ingest_once(
    db: Database, edge_id: str, blocks: Sequence[Any], now_ms: int, hasher: Hasher | None
) -> IngestResult:
    accepted = duplicates = 0
    refusal: HubError | None = None
    new: list[Offered] = []
    with db.session() as s:
        head_row = s.execute(
            select(func.max(EdgeBlock.height)).where(EdgeBlock.edge_id == edge_id)
        ).scalar()
        head = -1 if head_row is None else int(head_row)
        first = None
        prev: BlockHeader | None = None
        stored: dict[int, tuple[str, bytes]] = {}
        for i, obj in enumerate(blocks):
            try:
                offered = decode_block(obj, (first if first is not None else head + 1) + i)
                h = offered.header
                if first is None:
                    first = h.height
                    if first > head + 1:
                        raise BadBlock("bad_block", f"gap: block {first} offered, hub head is "
                                       f"{head}", height=first, problem=f"gap after {head}")
                    lo = max(first - 1, 0)
                    stored = {
                        r.height: (r.hash, r.header)
                        for r in s.execute(
                            select(EdgeBlock.height, EdgeBlock.hash, EdgeBlock.header).where(
                                EdgeBlock.edge_id == edge_id,
                                EdgeBlock.height >= lo,
                                EdgeBlock.height <= first + len(blocks) - 1,
                            )
                        )
                    }
                    if first > 0 and first - 1 in stored:
                        prev = BlockHeader.from_bytes(bytes(stored[first - 1][1]))
                elif h.height != first + i:
                    raise BadBlock("bad_block", f"block {h.height} out of order: expected "
                                   f"{first + i}", height=h.height,
                                   problem=f"gap: expected height {first + i}")
                if h.height in stored:
                    stored_hash, stored_raw = stored[h.height]
                    if stored_hash == h.hash():
                        duplicates += 1
                        prev = BlockHeader.from_bytes(bytes(stored_raw))
                        continue
                    _refuse_conflict(s, edge_id, offered, stored_hash, stored, now_ms)
                if h.ts > now_ms + FUTURE_SLACK_MS:
                    raise BadBlock("bad_block", f"block {h.height}: timestamp in the future",
                                   height=h.height, problem="timestamp in the future")
                _, problem = check_block(h.height, h.hash(), offered.header_raw, offered.txs,
                                         prev, [edge_id], hasher)
                if problem:
                    raise BadBlock("bad_block", f"block {h.height}: {problem}", height=h.height,
                                   problem=problem)
                new.append(offered)
                accepted += 1
                prev = h
            except HubError as exc:
                refusal = exc
                break
        _store(s, db.dialect, edge_id, new, now_ms)
        head = _head_in(s, edge_id)
    if refusal is not None:
        refusal.extra.setdefault("accepted", accepted)
        raise refusal
    return IngestResult(accepted, duplicates, head)


def _head_in(s, edge_id: str) -> Head:  # noqa: ANN001
    row = s.execute(
        select(EdgeBlock.height, EdgeBlock.hash).where(EdgeBlock.edge_id == edge_id)
        .order_by(EdgeBlock.height.desc()).limit(1)
    ).first()
    return EMPTY_HEAD if row is None else Head(row[0], row[1])


def _refuse_conflict(s, edge_id: str, offered: Offered, stored_hash: str,  # noqa: ANN001
                     stored: dict[int, tuple[str, bytes]], now_ms: int) -> None:
    h = offered.header
    if h.producer != edge_id or not h.signature_ok():
        raise BadBlock("bad_block", f"block {h.height}: differs from the stored block and is not "
                       "signed by this edge", height=h.height, problem="signature does not verify")
    parent = stored.get(h.height - 1)
    same_parent = (h.prev == "00" * 32) if h.height == 0 else (
        parent is not None and parent[0] == h.prev
    )
    kind = "equivocation" if same_parent else "fork"
    record_alarm(s, kind=kind, edge_id=edge_id, height=h.height, stored_hash=stored_hash,
                 offered_hash=h.hash(), evidence=offered.header_raw, now_ms=now_ms)
    raise Conflict(kind, f"edge signed a different block at stored height {h.height}",
                   height=h.height, stored_hash=stored_hash, offered_hash=h.hash())


def _store(s, dialect: str, edge_id: str, new: list[Offered],  # noqa: ANN001
           now_ms: int) -> None:
    """The verified blocks of one request: headers in one insert, transactions in bulk."""
    if not new:
        return
    s.execute(insert(EdgeBlock), [
        {"edge_id": edge_id, "height": o.header.height, "hash": o.header.hash(),
         "prev": o.header.prev, "header": o.header_raw, "ntx": o.header.ntx,
         "received_ms": now_ms}
        for o in new
    ])
    rows = [(edge_id, o.header.height, i, t) for o in new for i, t in enumerate(o.txs)]
    if not rows:
        return
    if dialect == "postgresql":
        _copy_txs(s, rows)
    else:
        s.execute(insert(EdgeTx), [
            {"edge_id": e, "height": h, "idx": i, "data": t} for e, h, i, t in rows])


def _copy_txs(s, rows: list[tuple[str, int, int, bytes]]) -> None:  # noqa: ANN001
    """PostgreSQL's COPY (binary) on the session's own connection, inside its transaction.

    An executemany of the same rows costs PostgreSQL a parse, bind and plan per
    page of rows and the driver a text encoding of each bytea; COPY streams
    them. A key violation here is reported as SQLAlchemy's IntegrityError, so
    the caller's retry on a lost race between workers sees it as usual.
    """
    import psycopg

    conn = s.connection()
    raw = conn.connection.driver_connection
    try:
        with raw.cursor() as cur, cur.copy(
            "COPY edge_txs (edge_id, height, idx, data) FROM STDIN (FORMAT BINARY)"
        ) as copy:
            copy.set_types(["varchar", "int8", "int4", "bytea"])
            for row in rows:
                copy.write_row(row)
    except psycopg.errors.IntegrityError as exc:
        raise IntegrityError("COPY edge_txs", None, exc) from exc
