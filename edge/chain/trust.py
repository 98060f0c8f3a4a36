"""What a chain must still hold: the producer and heads recorded outside the store.

`chain verify` checks a store against itself (links, roots, signatures), but
a store can be consistent and still wrong: its tail cut off, wiped and
restarted, or re-signed under another key. Those are only visible against
something kept elsewhere:

* a trust file (`--trust`): the chain id, the producer and the head seen by
  the last successful verify, like ssh's known_hosts (trust on first use);
* the edge's inbox (inbox.db next to chain.db): the height of the last block
  the edge wrote (`flushed_height`) and the hub's anchor receipts, each
  naming a height and hash of ours that the hub has committed to.

A head recorded anywhere must still be in the store with the same hash.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
from dataclasses import asdict, dataclass
from pathlib import Path

from edge.chain.store import ChainStore, readonly_uri

_HEX64 = re.compile(r"[0-9a-f]{64}")
_MAX_TRUST_BYTES = 4096


@dataclass(frozen=True)
class Head:
    """A head the store must still hold: its height, its hash when known, and who says so."""

    height: int
    hash: str | None
    source: str


@dataclass(frozen=True)
class TrustRecord:
    chain: str
    producer: str
    height: int
    hash: str

    @staticmethod
    def parse(raw: bytes, where: str) -> TrustRecord:
        """A trust file's record; ValueError naming the defect (it is input, so checked)."""
        if len(raw) > _MAX_TRUST_BYTES:
            raise ValueError(f"{where} is larger than {_MAX_TRUST_BYTES} bytes")
        try:
            doc = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            raise ValueError(f"{where} is not JSON: {exc}") from None
        if not isinstance(doc, dict) or set(doc) != {"chain", "producer", "height", "hash"}:
            raise ValueError(f"{where} must hold exactly chain, producer, height and hash")
        chain, producer, height, hash_ = doc["chain"], doc["producer"], doc["height"], doc["hash"]
        if not isinstance(chain, str) or not 0 < len(chain) <= 128:
            raise ValueError(f"{where}: chain must be a string of 1..128 characters")
        for name, value in (("producer", producer), ("hash", hash_)):
            if not isinstance(value, str) or not _HEX64.fullmatch(value):
                raise ValueError(f"{where}: {name} must be 64 lowercase hex digits")
        if isinstance(height, bool) or not isinstance(height, int) or not 0 <= height < 1 << 53:
            raise ValueError(f"{where}: height must be an integer in 0..2^53")
        return TrustRecord(chain, producer, height, hash_)

    def head(self) -> Head:
        return Head(self.height, self.hash, "trust file")


def load_trust(path: Path) -> TrustRecord | None:
    """The record in `path`, None when the file does not exist yet (first use)."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:  # a directory, no permission
        raise ValueError(f"cannot read trust file {path}: {exc.strerror or exc}") from None
    return TrustRecord.parse(raw, f"trust file {path}")


def save_trust(record: TrustRecord, path: Path) -> None:
    """Write atomically (temp file, fsync, rename): a crash leaves the old or the new record."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o644)
    with os.fdopen(fd, "w") as fh:
        fh.write(json.dumps(asdict(record), sort_keys=True) + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def inbox_heads(inbox: Path, producer: str) -> list[Head]:
    """Heads the edge's inbox records: the last flushed height and every anchored block.

    Opened read-only; a missing inbox records nothing. ValueError when the
    file is there but cannot be read as the edge's inbox.
    """
    if not inbox.exists():
        return []
    try:
        db = sqlite3.connect(readonly_uri(inbox), uri=True)
    except sqlite3.DatabaseError as exc:
        raise ValueError(f"inbox {inbox} cannot be opened: {exc}") from None
    heads: list[Head] = []
    try:
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if "meta" in tables:
            row = db.execute("SELECT v FROM meta WHERE k = 'flushed_height'").fetchone()
            if row is not None and str(row[0]).lstrip("-").isdigit() and len(str(row[0])) < 20:
                heads.append(Head(int(row[0]), None, "edge inbox's last written block"))
        if "receipts" in tables:
            for main_height, raw in db.execute(
                    "SELECT main_height, raw FROM receipts ORDER BY main_height"):
                tx = _anchored(raw)
                if tx is not None and tx[0] == producer:
                    heads.append(Head(tx[1], tx[2], f"anchor receipt (main height {main_height})"))
    except sqlite3.DatabaseError as exc:
        raise ValueError(f"inbox {inbox} cannot be read: {exc}") from None
    finally:
        db.close()
    return heads


def _anchored(raw: object) -> tuple[str, int, str] | None:
    """(edge, height, hash) of a stored receipt; None for anything else."""
    try:
        tx = json.loads(raw)["tx"]
        edge, height, hash_ = tx["edge"], tx["height"], tx["hash"]
    except (TypeError, ValueError, KeyError):
        return None
    if (isinstance(edge, str) and isinstance(hash_, str) and isinstance(height, int)
            and not isinstance(height, bool) and 0 <= height < 1 << 53):
        return edge, height, hash_
    return None


def head_problem(store: ChainStore, heads: list[Head]) -> tuple[int, str] | None:
    """(height, reason) for the first recorded head the store no longer holds; None if all are."""
    top = store.height()
    for head in heads:
        if top < head.height:
            return head.height, (f"tail truncated: the store ends at height {top} but the "
                                 f"{head.source} records height {head.height}")
        if head.hash is not None:
            stored = store.header_bytes(head.height)
            if stored is None or stored[0] != head.hash:
                return head.height, f"block {head.height} differs from the {head.source}"
    return None
