"""The loop's I/O: read what the edges pushed, record main blocks, publish signals, serve proofs.

A period (or a scoring epoch) is recorded as its own main block: the same
chain, key, height sequence and locking as the anchoring blocks
(hub.service.mainchain), with the records as its transactions. Its own
block, rather than extra leaves in the next anchoring block, so that a
period's records are together under one header, are made exactly when the
period is computed, and an anchoring block keeps its one shape of leaf that
edges' receipt checks expect. ``main_runs`` has the period as its primary
key, so two workers (or the schedule and an operator) cannot record a
period twice: the loser finds the recorded one.

An edge checks a record with nothing but the hub's pinned id: the header's
chain, producer and signature, and the RFC 6962 inclusion proof of the
canonical transaction under the header's root (hub.period.proofs).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

from prometheus_client import Counter
from sqlalchemy import func, insert, select, text
from sqlalchemy.exc import IntegrityError

from edge.chain.block import BlockHeader, make_block
from edge.chain.keys import PrivateKey
from edge.chain.merkle import levels, proof_from_levels
from edge.protocol.canonical import canonical
from edge.sync.receipts import MAIN_CHAIN
from hub.period.config import LoopFile
from hub.period.models import MainRecord, MainRun, PeriodReport
from hub.period.pipeline import LoopConfig, PeriodError, PeriodOutcome, run_period
from hub.period.records import RegionalReport
from hub.period.reports import Grouping, PushedTx, collect
from hub.period.supervisors import NodeStats, epoch_record
from hub.service import prices
from hub.service.db import Database
from hub.service.errors import HubError, NotFound
from hub.service.mainchain import MAIN_LOCK, next_position
from hub.service.models import Alarm, Edge, EdgeBlock, EdgeTx, MainBlock

log = logging.getLogger("hub.period")

SKIPPED = Counter("carbon_period_skipped_total",
                  "Bids and readings the allocation loop skipped, by reason", ["reason"])
RUNS = Counter("carbon_period_runs_total", "Periods and epochs the loop ran, by outcome",
               ["kind", "outcome"])
#: Only these transactions are parsed; the rest of an edge's chain is skipped unread.
_WANTED = (b'"type":"bid"', b'"type":"meter_reading"')


class PeriodRefused(HubError):
    """400: a period or epoch that cannot be run (not aligned, in the future, bad data)."""

    status = 400


def _aligned(start: int, length: int, what: str, now_ms: int) -> None:
    if start % length:
        raise PeriodRefused(f"bad_{what}", f"{what} {start} is not a multiple of {length} s")
    if start * 1000 > now_ms:
        raise PeriodRefused(f"future_{what}", f"{what} {start} has not started yet")


# -- reading what the edges pushed ---------------------------------------------------------
def pushed_txs(db: Database, since_ms: int) -> Iterator[PushedTx]:
    """Bids and meter readings in edge blocks the hub received from ``since_ms`` on."""
    with db.session() as s:
        rows = s.execute(
            select(EdgeTx.edge_id, EdgeTx.height, EdgeTx.data, Edge.site)
            .join(EdgeBlock, (EdgeBlock.edge_id == EdgeTx.edge_id)
                  & (EdgeBlock.height == EdgeTx.height))
            .join(Edge, Edge.edge_id == EdgeTx.edge_id)
            .where(EdgeBlock.received_ms >= since_ms, Edge.status == "active")
            .order_by(EdgeTx.edge_id, EdgeTx.height, EdgeTx.idx)
        ).yield_per(2000)
        for edge, height, data, site in rows:
            raw = bytes(data)
            if not any(w in raw for w in _WANTED):
                continue
            try:
                tx = json.loads(raw)
            except ValueError:
                continue  # the edge signed it; the hub stored it canonical: cannot happen
            yield PushedTx(edge, height, site, tx)


# -- making a main block with records ------------------------------------------------------
def _append(s, key: PrivateKey, now_ms: int, kind: str, start: int,  # noqa: ANN001
            records: list[dict[str, Any]]) -> tuple[BlockHeader, bool]:
    """The main block recording (kind, start), made now or found; (header, made now)."""
    if s.bind.dialect.name == "postgresql":
        s.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": MAIN_LOCK})
    done = s.get(MainRun, (kind, start))
    if done is not None:
        return BlockHeader.from_bytes(bytes(s.get(MainBlock, done.main_height).header)), False
    last = s.execute(select(MainBlock).order_by(MainBlock.height.desc()).limit(1)).scalar()
    height, prev, ts = next_position(last, key, now_ms)
    block = make_block(chain=MAIN_CHAIN, height=height, prev=prev, txs=records, ts=ts, key=key)
    h = block.header
    s.execute(insert(MainBlock), [{"height": h.height, "hash": h.hash(), "header": h.to_bytes(),
                                   "ntx": h.ntx}])
    s.execute(insert(MainRecord), [{"main_height": h.height, "idx": i, "kind": r["type"],
                                    "data": raw} for i, (r, raw) in
                                   enumerate(zip(records, block.txs, strict=True))])
    s.execute(insert(MainRun), [{"kind": kind, "start": start, "main_height": h.height}])
    return h, True


def record_block(db: Database, key: PrivateKey, now_ms: int, kind: str, start: int,
                 records: list[dict[str, Any]],
                 reports: tuple[RegionalReport, ...] = ()) -> tuple[BlockHeader, bool]:
    for attempt in range(3):
        try:
            with db.session() as s:
                header, made = _append(s, key, now_ms, kind, start, records)
                if made and reports:
                    s.execute(insert(PeriodReport), [
                        {"period": start, "region": r.region, "data": canonical(r.tx())}
                        for r in reports])
            return header, made
        except IntegrityError:
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


# -- the period -----------------------------------------------------------------------------
def loop_config(loop: LoopFile) -> LoopConfig:
    return LoopConfig(period_s=loop.period_s, p_low=loop.p_low, p_high=loop.p_high,
                      rounds=loop.rounds, max_entities=loop.max_entities)


def compute_period(db: Database, loop: LoopFile, period: int,
                   since_ms: int) -> PeriodOutcome | None:
    """The pipeline on what the edges pushed from wall time ``since_ms`` on (nothing written)."""
    txs = list(pushed_txs(db, since_ms))
    grouping = Grouping(loop.regions, loop.intensities, loop.default_intensity_g_kwh)
    reports, skipped = collect(txs, period, grouping)
    for reason, n in skipped.items():
        SKIPPED.labels(reason=reason).inc(n)
    nodal, site_bus = None, {}
    if loop.trace is not None and any(r.entities for r in reports):
        from hub.period.trace import metered_draw_w, nodal_intensities

        net = _network(loop.trace.network)
        draw = metered_draw_w(txs, period * 1000, (period + loop.period_s) * 1000,
                              loop.trace.buses)
        nodal = nodal_intensities(period, net, loop.trace.network, draw, loop.trace.buses)
        for k, bus in sorted(loop.trace.buses.items(), key=lambda kv: ("/" in kv[0], kv[0])):
            site_bus.setdefault(k.split("/")[0], str(bus))
    out = run_period(period, reports, loop_config(loop), nodal, site_bus)
    if out is not None and loop.signal_offset:
        shift = loop.signal_offset * loop.period_s
        for f in out.signals.values():
            f["valid_from"] += shift
            f["valid_to"] += shift
    return out


def _network(name: str):  # noqa: ANN202 - a pandapowerNet
    from pathlib import Path

    from hub.carbon.errors import CarbonInputError
    from hub.carbon.networks import builtin_cases, load_case, load_network_json

    try:
        if name in builtin_cases():
            return load_case(name)
        return load_network_json(Path(name).read_text(encoding="utf-8"))
    except (OSError, CarbonInputError) as exc:
        raise PeriodError(f"trace: network {name!r}: {exc}") from None


def run_period_now(db: Database, key: PrivateKey, loop: LoopFile, period: int,
                   market_ms: int, now_ms: int, since_ms: int) -> dict[str, Any]:
    """Compute, record and publish one period; a recorded period is answered as it is.

    ``market_ms`` decides whether the period has started; ``now_ms`` (wall time)
    stamps the block and the signals; blocks received from wall time ``since_ms``
    on are read.
    """
    _aligned(period, loop.period_s, "period", market_ms)
    with db.session() as s:
        done = s.get(MainRun, ("period", period))
    if done is not None:
        return {"created": False, **period_view(db, period)}
    try:
        out = compute_period(db, loop, period, since_ms)
    except PeriodError as exc:
        RUNS.labels(kind="period", outcome="refused").inc()
        raise PeriodRefused("bad_period", str(exc)) from None
    if out is None:
        RUNS.labels(kind="period", outcome="empty").inc()
        return {"created": False, "period": period, "main_height": None, "block": None,
                "reports": [], "signals": []}
    _, made = record_block(db, key, now_ms, "period", period, out.txs(), out.reports)
    signals = []
    if made:
        signals = [prices.publish(db, key, fields, now_ms) for fields in out.signals.values()]
        RUNS.labels(kind="period", outcome="recorded").inc()
        log.info("period %d recorded: %d regions, %d signals", period, len(out.reports),
                 len(signals))
    return {"created": made, **period_view(db, period), "signals": signals}


# -- the scoring epoch ---------------------------------------------------------------------
def epoch_stats(db: Database, start_ms: int, end_ms: int) -> list[NodeStats]:
    with db.session() as s:
        nodes = s.scalars(select(Edge.edge_id).where(Edge.status == "active")).all()
        made = {e: (n, t) for e, n, t in s.execute(
            select(EdgeBlock.edge_id, func.count(), func.coalesce(func.sum(EdgeBlock.ntx), 0))
            .where(EdgeBlock.received_ms >= start_ms, EdgeBlock.received_ms < end_ms)
            .group_by(EdgeBlock.edge_id)).all()}
        bad_epoch = dict(s.execute(
            select(Alarm.edge_id, func.count())
            .where(Alarm.ts_ms >= start_ms, Alarm.ts_ms < end_ms).group_by(Alarm.edge_id)).all())
        bad_ever = dict(s.execute(
            select(Alarm.edge_id, func.count()).where(Alarm.ts_ms < end_ms)
            .group_by(Alarm.edge_id)).all())
    return [NodeStats(e, int(made.get(e, (0, 0))[0]), int(made.get(e, (0, 0))[1]),
                      int(bad_epoch.get(e, 0)), int(bad_ever.get(e, 0))) for e in nodes]


def run_epoch_now(db: Database, key: PrivateKey, loop: LoopFile, epoch: int,
                  now_ms: int) -> dict[str, Any]:
    """Score the epoch and record inputs and supervisors; a recorded epoch is answered as is."""
    sc = loop.scoring
    _aligned(epoch, sc.epoch_s, "epoch", now_ms)
    if (epoch + sc.epoch_s) * 1000 > now_ms:
        raise PeriodRefused("epoch_not_over", f"epoch {epoch} ends at {epoch + sc.epoch_s}; "
                            "it is scored once it is over")
    with db.session() as s:
        done = s.get(MainRun, ("epoch", epoch))
    if done is None:
        rec = epoch_record(epoch, sc.epoch_s,
                           epoch_stats(db, epoch * 1000, (epoch + sc.epoch_s) * 1000),
                           sc.s, sc.gamma_milli)
        if rec is None:
            RUNS.labels(kind="epoch", outcome="empty").inc()
            raise PeriodRefused("no_nodes", "no active edge to score")
        _, made = record_block(db, key, now_ms, "epoch", epoch, [rec.tx()])
        RUNS.labels(kind="epoch", outcome="recorded" if made else "raced").inc()
    return supervisors_view(db, epoch)


# -- views with proofs ----------------------------------------------------------------------
def block_export(s, height: int) -> dict[str, Any]:  # noqa: ANN001
    """A main block's header and its records, each with its inclusion proof."""
    row = s.get(MainBlock, height)
    data = [bytes(d) for d in s.scalars(select(MainRecord.data).where(
        MainRecord.main_height == height).order_by(MainRecord.idx)).all()]
    tree = levels(data) if data else [[]]
    return {"header": json.loads(bytes(row.header)),
            "txs": [{"index": i, "tx": json.loads(d),
                     "proof": [p.hex() for p in proof_from_levels(tree, i)]}
                    for i, d in enumerate(data)]}


def period_view(db: Database, period: int) -> dict[str, Any]:
    with db.session() as s:
        done = s.get(MainRun, ("period", period))
        if done is None:
            raise NotFound("no_period", f"period {period} has not been recorded")
        reports = [json.loads(bytes(d)) for d in s.scalars(
            select(PeriodReport.data).where(PeriodReport.period == period)
            .order_by(PeriodReport.region)).all()]
        return {"period": period, "main_height": done.main_height,
                "block": block_export(s, done.main_height), "reports": reports}


def supervisors_view(db: Database, epoch: int | None = None) -> dict[str, Any]:
    """The supervisors of an epoch (the latest recorded when None) with the record's proof."""
    with db.session() as s:
        q = select(MainRun).where(MainRun.kind == "epoch")
        q = q.where(MainRun.start == epoch) if epoch is not None else q.order_by(
            MainRun.start.desc()).limit(1)
        done = s.execute(q).scalar()
        if done is None:
            raise NotFound("no_supervisors", "no scoring epoch has been recorded")
        block = block_export(s, done.main_height)
    entry = block["txs"][0]
    return {"epoch": done.start, "main_height": done.main_height,
            "supervisors": entry["tx"]["supervisors"],
            "record": {"header": block["header"], **entry}}
