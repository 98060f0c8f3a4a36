"""The input journal: every input that decides the edge chain's blocks, in the order taken.

An edge's chain is a function of its inputs and of the moments they were
taken: the gateway messages admitted (with their receipt times and the
market time admission judged them at), the clock ticks that closed gates and
cleared rounds, the anchor receipts and price signals the hub sent, the
meter readings of a Modbus poller, and the wall times the blocks were cut
at. Ed25519 signatures and the organiser's keys are derived, not drawn, so
nothing else is random. With ``[site] journal = true`` the service appends
one JSON line per input to ``data_dir/journal.jsonl``, under the market lock
that already orders these inputs (so the file's order is the order the
inbox saw them in), and ``edge.runtime.replay`` rebuilds the chain from it.

Line kinds (``k``): ``config`` (the configuration the edge runs with: the
first line, and again at each restart), ``start``, ``batch`` (admitted
messages of one write), ``tick`` (a market tick that wrote something),
``block`` (a block cut), ``receipts``, ``prices``, ``meter``. Every line
but ``config`` carries ``now`` (market ms) and ``wall`` (wall ms) as the
edge's clock read them.

Append-only, line-buffered, never read by the running edge: a crash loses at
most the line being written, and replay reports that as a divergence.
"""

from __future__ import annotations

import base64
import json
import os
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from edge.chain.block import Block
from edge.runtime.inbox.messages import Stored

VERSION = 1


def _payload(raw: bytes) -> dict[str, str]:
    """A payload as text where it is UTF-8 (admitted messages are JSON), else base64."""
    try:
        return {"p": raw.decode("utf-8")}
    except UnicodeDecodeError:
        return {"p64": base64.b64encode(raw).decode("ascii")}


def payload_of(item: dict[str, Any]) -> bytes:
    """The exact bytes of a journalled message (inverse of ``_payload``)."""
    if "p64" in item:
        return base64.b64decode(item["p64"])
    return str(item["p"]).encode("utf-8")


class Journal:
    """Append-only JSON lines beside the inbox; one ``write`` per input taken."""

    def __init__(self, path: str | os.PathLike[str], config: dict[str, Any]) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._fh = open(self.path, "a", encoding="utf-8", buffering=1)  # noqa: SIM115
        # at every start, so a restart with another configuration replays with that one
        self.write("config", v=VERSION, config=config)

    def write(self, kind: str, **fields: Any) -> None:
        line = json.dumps({"k": kind, **fields}, separators=(",", ":"), sort_keys=True)
        with self._lock:
            if not self._fh.closed:
                self._fh.write(line + "\n")

    def close(self) -> None:
        with self._lock:
            self._fh.close()

    # the inputs, one method each -------------------------------------------------------
    def start(self, now_ms: int, wall_ms: int) -> None:
        self.write("start", now=now_ms, wall=wall_ms)

    def batch(self, now_ms: int, wall_ms: int, stored: Sequence[Stored]) -> None:
        """The admitted messages of one inbox write (``now``: the time admission used)."""
        self.write("batch", now=now_ms, wall=wall_ms, msgs=[
            {"type": s.acc.type, "gw": s.acc.gw, "recv": s.recv_ms, **_payload(s.payload)}
            for s in stored])

    def tick(self, now_ms: int, wall_ms: int) -> None:
        self.write("tick", now=now_ms, wall=wall_ms)

    def block(self, now_ms: int, wall_ms: int, block: Block) -> None:
        """A block cut at ``wall`` (its ts is the later of that and its parent's)."""
        self.write("block", now=now_ms, wall=wall_ms, height=block.height,
                   hash=block.header.hash(), ntx=len(block.txs))

    def receipts(self, now_ms: int, wall_ms: int, receipts: list[dict[str, Any]]) -> None:
        self.write("receipts", now=now_ms, wall=wall_ms, receipts=receipts)

    def prices(self, now_ms: int, wall_ms: int, signals: list[dict[str, Any]]) -> None:
        self.write("prices", now=now_ms, wall=wall_ms, signals=signals)

    def meter(self, now_ms: int, wall_ms: int, tx: dict[str, Any]) -> None:
        self.write("meter", now=now_ms, wall=wall_ms, tx=tx)


class JournalError(ValueError):
    """A journal line cannot be read (one sentence: which line and why)."""


def read(path: str | os.PathLike[str], max_line: int = 16 * 1024 * 1024
         ) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, entry) of every line; the first must be the ``config`` line."""
    with open(path, "rb") as fh:
        for n, raw in enumerate(fh, start=1):
            if len(raw) > max_line:
                raise JournalError(f"line {n} is longer than {max_line} bytes")
            try:
                entry = json.loads(raw.decode("utf-8"))
            except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
                raise JournalError(f"line {n} is not JSON text: {str(exc)[:200]}") from None
            if not isinstance(entry, dict) or not isinstance(entry.get("k"), str):
                raise JournalError(f"line {n} has no kind (k)")
            if n == 1 and (entry["k"] != "config" or entry.get("v") != VERSION):
                raise JournalError(f"line 1 is not a version {VERSION} config line")
            yield n, entry
