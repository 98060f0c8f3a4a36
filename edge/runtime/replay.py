"""Replay: rebuild an edge's chain from its input journal and compare it block by block.

A fresh edge is composed exactly as the service composes one (``EdgeService``
with the journal's configuration, a data folder of its own, a link that
publishes nowhere and a clock that reads what the journal says), and each
journal line is fed to the part that took it live: a batch to admission (so
every message is checked again: tag, time window, sequence, market refusal),
a tick to the market, receipts and prices to the inbox and the market, and a
block line cuts a block at the recorded wall time. Every block made is
compared with the recorded chain (or, without one, with the hash the journal
wrote down); the first difference stops the replay and says where: the
journal line, the height and the first header field that differs.

Equality means byte-identical headers, hence identical block hashes: same
transactions in the same order, same timestamps, same signatures (Ed25519 is
deterministic). The inbox's own bookkeeping (receipt and storage times,
counters) is not on the chain and is not compared.
"""

from __future__ import annotations

import queue
import shutil
import sqlite3
import tempfile
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from edge.chain.block import Block, BlockHeader
from edge.chain.store import ChainStore, StoreError
from edge.protocol import topics
from edge.protocol.transactions import MeterReading
from edge.runtime.config import Config
from edge.runtime.ingest import Incoming
from edge.runtime.journal import JournalError, payload_of, read
from edge.runtime.service import EdgeService

#: the largest time a journal line may carry (ms; what a double holds exactly)
MAX_MS = 2**53
#: the largest leap between two lines' market times: the market walks every interval of a
#: leap, so a hostile line must not make it walk for ever
MAX_LEAP_MS = 400 * 86_400_000


class ReplayClock:
    """Market and wall time as one journal line recorded them (not derived from each other)."""

    def __init__(self) -> None:
        self.now = 0
        self.wall = 0
        self.started = False

    def at(self, entry: dict[str, Any]) -> None:
        now, wall = entry.get("now"), entry.get("wall")
        if not all(isinstance(x, int) and 0 <= x < MAX_MS for x in (now, wall)):
            raise JournalError(f"now and wall must be whole ms from 0 to 2^53 "
                               f"(got {str(now)[:20]}, {str(wall)[:20]})")
        assert isinstance(now, int) and isinstance(wall, int)
        if self.started and abs(now - self.now) > MAX_LEAP_MS:
            raise JournalError(f"market time leaps {(now - self.now) // 86_400_000} days "
                               "from the line before")
        self.now, self.wall, self.started = now, wall, True

    def now_ms(self) -> int:
        return self.now

    def now_s(self) -> float:
        return self.now / 1000

    def wall_ms(self) -> int:
        return self.wall

    def at_wall_ms(self, wall_ms: float) -> int:
        return self.now + int(wall_ms) - self.wall

    def wall_seconds(self, sim_seconds: float) -> float:
        return sim_seconds


class NullLink:
    """The message bus of a replay: nothing comes in, what is published goes nowhere."""

    def __init__(self) -> None:
        self.inbound: queue.Queue[Incoming] = queue.Queue()
        self.connected = threading.Event()

    def start(self) -> None: ...

    def stop_taking(self) -> None: ...

    def stop(self) -> None: ...

    def ack(self, batch: Sequence[Incoming]) -> None: ...

    def publish(self, topic: str, payload: bytes, retain: bool) -> None: ...


@dataclass(frozen=True)
class Divergence:
    line: int
    height: int
    field: str
    detail: str

    def sentence(self) -> str:
        return (f"diverged at height {self.height} ({self.field}), journal line {self.line}: "
                f"{self.detail}")


@dataclass(frozen=True)
class Outcome:
    blocks: int
    lines: int
    divergence: Divergence | None

    @property
    def identical(self) -> bool:
        return self.divergence is None


class _Stop(Exception):
    def __init__(self, d: Divergence) -> None:
        super().__init__(d.sentence())
        self.divergence = d


def first_difference(mine: BlockHeader, theirs: BlockHeader) -> str | None:
    """The first header field (in header order) that differs, None when none does."""
    for f in fields(BlockHeader):
        if getattr(mine, f.name) != getattr(theirs, f.name):
            return f.name
    return None


def edge_key_path(recorded: Path, journal: Path) -> Path:
    """The edge key the journal names, or one of that name beside the data folder (a run
    folder that was moved)."""
    for p in (recorded, journal.parent.parent / recorded.name, journal.parent / recorded.name):
        if p.is_file():
            return p
    raise JournalError(f"the edge key {recorded} is missing (looked beside the journal too)")


def replay_config(raw: Any, journal: Path, data_dir: Path) -> Config:
    """The journal's configuration with a fresh data folder, no journal and nothing live."""
    if not isinstance(raw, dict) or not isinstance(raw.get("site"), dict):
        raise JournalError("the config line has no site section")
    try:
        cfg = Config.model_validate(raw)
    except ValueError as exc:
        detail = " ".join(str(exc).split())[:300]
        raise JournalError(f"the config line is not a valid configuration: {detail}") from None
    site = cfg.site.model_copy(update={
        "data_dir": data_dir, "journal": False,
        "edge_key": edge_key_path(cfg.site.edge_key, journal)})
    status = cfg.status.model_copy(update={"enabled": False})
    return cfg.model_copy(update={"site": site, "sync": None, "meters": [], "status": status})


class Replayer:
    """One journal fed to a fresh edge, checked against a recorded chain."""

    def __init__(self, journal: Path, recorded: ChainStore | None, work: Path) -> None:
        self.journal = journal
        self.recorded = recorded
        self.lines: Iterator[tuple[int, dict[str, Any]]] = read(journal)
        try:
            _, first = next(self.lines)
        except StopIteration:
            raise JournalError(f"{journal} is empty") from None
        self.work = work
        self.cfg = replay_config(first.get("config"), journal, work)
        self.clock = ReplayClock()
        self.svc = self.build()
        self.started = False
        self.blocks = 0

    def build(self) -> EdgeService:
        """An edge as the service composes one, on the scratch folder (a restart reopens it)."""
        try:
            return EdgeService(self.cfg, clock=self.clock,  # type: ignore[arg-type]
                               link=NullLink())
        except Exception as exc:  # noqa: BLE001 - a bad key or config is the journal's defect
            raise JournalError(f"no edge can be built from the config line: "
                               f"{type(exc).__name__}: {str(exc)[:200]}") from None

    def close(self) -> None:
        if self.svc.market.organiser is not None:
            self.svc.market.organiser.close()
        self.svc.inbox.close()
        self.svc.store.close()

    def run(self) -> Outcome:
        n = 1
        try:
            for n, entry in self.lines:
                try:
                    if entry["k"] != "config":
                        self.clock.at(entry)
                    self.take(n, entry)
                except (KeyError, TypeError, ValueError, RecursionError) as exc:
                    if isinstance(exc, JournalError):
                        raise JournalError(f"line {n}: {exc}") from None
                    raise JournalError(f"line {n} ({entry.get('k')}) cannot be taken: "
                                       f"{type(exc).__name__}: {str(exc)[:200]}") from None
            self.check_end(n)
        except _Stop as stop:
            return Outcome(self.blocks, n, stop.divergence)
        return Outcome(self.blocks, n, None)

    # -- one line ----------------------------------------------------------------------
    def take(self, n: int, e: dict[str, Any]) -> None:
        svc, k = self.svc, e["k"]
        if k == "config":  # a restart follows: its edge is built with this configuration
            self.cfg = replay_config(e.get("config"), self.journal, self.work)
        elif k == "start":
            if self.started:  # a restart: a new edge on the same folder, as in the field
                self.close()
                self.svc = svc = self.build()
            self.started = True
            svc.blocks.recover()
            svc.market.recover(self.clock.now_s())
        elif k == "batch":
            self.batch(n, e)
        elif k == "tick":
            svc.market.tick(self.clock.now_s(), self.clock.now)
        elif k == "block":
            self.block(n, e)
        elif k == "receipts":
            svc.inbox.receipts.add(list(e["receipts"]), self.clock.wall)
        elif k == "prices":
            svc.market.take_prices(list(e["signals"]))
        elif k == "meter":
            svc.inbox.pending.add([MeterReading.model_validate(e["tx"])], self.clock.wall)
        else:
            raise JournalError(f"unknown kind {k!r}")

    def batch(self, n: int, e: dict[str, Any]) -> None:
        site = self.cfg.site.id
        msgs = [Incoming(topics.gateway(site, str(m["gw"]), str(m["type"])), payload_of(m),
                         0, 0, int(m["recv"])) for m in e["msgs"]]
        svc = self.svc
        out = svc.admitter.process(msgs, svc.inbox, svc.writer.on_accepted)
        if out.rejected:
            m, r = out.rejected[0]
            raise _Stop(Divergence(n, svc.store.height() + 1, "admission",
                                   f"a {r.gw} message recorded as admitted is refused on "
                                   f"replay ({r.reason}: {r.detail})"))

    def block(self, n: int, e: dict[str, Any]) -> None:
        height = int(e["height"])
        # exactly the journalled count: the live edge writes the line once the block is on
        # disk, after any batch committed while it was cut (service.EdgeService._cut_blocks)
        made = self.svc.blocks.flush(self.clock.wall, int(e["ntx"]))
        if made is None:
            raise _Stop(Divergence(n, height, "txs", "nothing was pending on replay"))
        if made.height != height:
            raise _Stop(Divergence(n, height, "height", f"replay cut height {made.height}"))
        self.compare(n, made, str(e.get("hash", "")))
        self.blocks += 1

    def compare(self, n: int, made: Block, journal_hash: str) -> None:
        h = made.height
        if self.recorded is None:
            if made.header.hash() != journal_hash:
                raise _Stop(Divergence(n, h, "hash", f"{made.header.hash()} on replay, "
                                                     f"{journal_hash} in the journal"))
            return
        if self.recorded.height() < h:
            raise _Stop(Divergence(n, h, "height", f"the recorded chain ends at height "
                                                   f"{self.recorded.height()}"))
        theirs = self.recorded.get(h)
        field = first_difference(made.header, theirs.header)
        if field is None and made.txs != theirs.txs:
            field = "txs"
        if field is not None:
            mine_v = getattr(made.header, field, len(made.txs))
            their_v = getattr(theirs.header, field, len(theirs.txs))
            raise _Stop(Divergence(n, h, field, f"{str(mine_v)[:40]} on replay, "
                                                f"{str(their_v)[:40]} recorded"))

    def check_end(self, n: int) -> None:
        if self.recorded is not None and self.recorded.height() > self.svc.store.height():
            raise _Stop(Divergence(n, self.svc.store.height() + 1, "end",
                                   f"the journal ends, the recorded chain goes on to height "
                                   f"{self.recorded.height()}"))


def replay(journal: Path, chain: Path | None = None) -> Outcome:
    """Rebuild the chain of one journal in a scratch folder; compare with ``chain`` if given."""
    work = Path(tempfile.mkdtemp(prefix="carbon-edge-replay-"))
    try:
        recorded = ChainStore(chain, readonly=True) if chain is not None else None
        if recorded is not None and not recorded.has_tables():
            recorded.close()
            raise JournalError(f"{chain} is not an edge chain")
    except (sqlite3.DatabaseError, StoreError) as exc:
        shutil.rmtree(work, ignore_errors=True)
        raise JournalError(f"{chain} is not an edge chain: {exc}") from None
    except JournalError:
        shutil.rmtree(work, ignore_errors=True)
        raise
    try:
        r = Replayer(journal, recorded, work)
        try:
            return r.run()
        finally:
            r.close()
    finally:
        if recorded is not None:
            recorded.close()
        shutil.rmtree(work, ignore_errors=True)
