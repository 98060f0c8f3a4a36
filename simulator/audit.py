"""The market's part of a day's verdict, gathered from the edges after the day.

Per substation, the edge's chain is replayed into the binding book of every
interval of the day (simulator.books). From those books: whether each is a
best-response fixed point (simulator.fixedpoint), the same quotes cleared with
and without the carbon adders and the emissions of both (simulator.counterfactual),
and, at a sealed site, whether anything of a bid was readable before its gate
(simulator.sealing: the chain, the inbox, what the broker's observer saw).
The orchestrator hands over its `Day`; everything read here is read-only.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import replace
from typing import Any

from edge.market.book import apply_adders
from edge.market.rounds import cleared_limit
from simulator import invariants as inv
from simulator.books import FinalBook, read_chain, replay
from simulator.counterfactual import with_and_without
from simulator.fixedpoint import mover
from simulator.record import EmissionsRow, Invariant, RunRecord
from simulator.sealing import broker_leaks, chain_leaks, inbox_leaks


def _read(path: Any, sql: str, args: tuple = ()) -> list[tuple]:
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
    try:
        return con.execute(sql, args).fetchall()
    finally:
        con.close()


def limits_of(book: FinalBook, sc: Any) -> dict[str, int]:
    """Each participant's limit in the cleared terms (its own limit moved by its adder)."""
    gw = {g.id: g for g in sc.gateways}
    out = {}
    for o in book.orders:
        own = gw[o.id].buy_max if o.side == "buy" else gw[o.id].sell_min
        out[o.id] = cleared_limit(o.side, own, book.adders.get(o.id, 0))
    return out


def why_not(book: FinalBook, sc: Any) -> str | None:
    if book.mismatch:
        return f"the chain does not replay to the recorded clearing: {book.mismatch}"
    m = mover(apply_adders(book.orders, book.adders), limits_of(book, sc))
    return None if m is None else m[1]


def revisions_sent(logs: Iterable[tuple[str, str]]) -> set[tuple[str, int, int]]:
    """(gateway, interval, round) of every revision a firmware logged as sent (a "bid"
    event with round >= 1), from (gateway, log line) pairs."""
    out = set()
    for gw, line in logs:
        if '"bid"' not in line:
            continue
        try:
            m = json.loads(line)
        except ValueError:
            continue
        if isinstance(m, dict) and m.get("ev") == "bid" and (m.get("round") or 0) >= 1:
            out.add((gw, m["interval"], m["round"]))
    return out


def firmware_logs(day: Any) -> Iterator[tuple[str, str]]:
    """(gateway, line) of every line of every simulated gateway's firmware log."""
    for run in day.subs.values():
        for gw, d in run.fw_dirs.items():
            with contextlib.suppress(OSError):
                for line in (d / "firmware.log").read_text(errors="replace").splitlines():
                    yield gw, line


def late(book: FinalBook, sc: Any, sent: set[tuple[str, int, int]]) -> bool:
    """The participant that could still improve did send its revision for the next round:
    it reached the edge after that round had cleared (refused as round_not_open)."""
    if book.mismatch:
        return False
    m = mover(apply_adders(book.orders, book.adders), limits_of(book, sc))
    return m is not None and (m[0], book.interval, book.round + 1) in sent


def intensities(sc: Any) -> dict[str, int]:
    """A seller's intensity as the hub's allocation has it in the simulator (day.py)."""
    return {g.id: 0 if g.meter.pv_kwp > 0 else sc.market.default_intensity_g_kwh
            for g in sc.gateways}


def emissions(books: list[FinalBook], sc: Any, grid_g_kwh: int) -> list[EmissionsRow]:
    rows = []
    for b in books:
        w, wo = with_and_without(b.orders, b.adders, intensities(sc), grid_g_kwh)
        rows.append(EmissionsRow(b.substation, b.interval * 1000, max(b.adders.values(),
                                                                       default=0),
                                 w.price, w.volume_wh, w.emissions_g,
                                 wo.price, wo.volume_wh, wo.emissions_g))
    return rows


#: faults that cut gateways off their market for a while: their intervals' rounds are not
#: judged by the fixed-point invariant (the cut-off participant could not answer)
CUT_OFF = ("broker-restart", "gateway-reboot")


def under_fault(sc: Any, interval: int) -> bool:
    """Whether the rounds of `interval` (market s) overlap a cut-off fault: from its start
    to its duration plus two intervals (reconnecting takes up to 2 wall seconds)."""
    first = interval - sc.market.gate_s
    last = first + (sc.market.max_rounds - 1) * sc.market.round_s
    midnight = sc.day.start_ms // 1000 - sc.day.start_ms // 1000 % 86_400
    for f in sc.faults:
        if f.kind in CUT_OFF:
            h, m = (int(x) for x in f.at.split(":"))
            at = midnight + h * 3600 + m * 60
            if at <= last and first <= at + f.duration_s + 2 * sc.day.interval_s:
                return True
    return False


def gate_wall(sc: Any, clock: Any) -> Any:
    """(interval s, round) -> the wall ms at which that round's gate passes on `clock`."""
    def at(interval: int, rnd: int) -> float:
        sim_ms = (interval - sc.market.gate_s + rnd * sc.market.round_s) * 1000
        return clock.origin_wall_ms + (sim_ms - clock.origin_sim_ms) / clock.accel
    return at


def audit(day: Any, rec: RunRecord, grid_g_kwh: int) -> list[Invariant]:
    """Fill the record's emissions with and without adders; the market's invariants."""
    sc = day.sc
    first_s = sc.day.start_ms // 1000
    last_s = first_s + sc.day.intervals * sc.day.interval_s
    books: list[FinalBook] = []
    leaks: list[str] = []
    at = gate_wall(sc, day.clock)
    for s, run in day.subs.items():
        txs = read_chain(run.chain_path)
        books += [b for b in replay(s, txs, sc.market.max_rounds)
                  if first_s <= b.interval < last_s]
        if sc.market.sealed:
            leaks += chain_leaks(s, txs, at) + broker_leaks(s, day.observed.get(s, []), at)
            if run.remote is None:  # a real edge's inbox is its own; its chain is checked
                bids = [json.loads(r[0]) for r in _read(
                    run.edge.cfg.inbox_path,
                    "SELECT raw FROM inbox WHERE type = 'bid' ORDER BY id")]
                leaks += inbox_leaks(s, bids)
    rec.emissions_rows = emissions(books, sc, grid_g_kwh)
    with_g: dict[int, float] = defaultdict(float)
    without_g: dict[int, float] = defaultdict(float)
    for e in rec.emissions_rows:
        with_g[e.interval_ms] += e.emissions_with_g
        without_g[e.interval_ms] += e.emissions_without_g
    rec.emissions_with_adders_g = sorted(with_g.items())
    rec.emissions_without_adders_g = sorted(without_g.items())
    adder = {(e.substation, e.interval_ms): e.adder_max for e in rec.emissions_rows}
    rec.interval_rows = [replace(r, adder_max=adder.get((r.substation, r.interval_ms), 0))
                         for r in rec.interval_rows]
    checks = []
    if sc.market.strategy == "best-response":
        sent = revisions_sent(firmware_logs(day))
        faulted = [under_fault(sc, b.interval) for b in books]
        slow = [not f and late(b, sc, sent) for b, f in zip(books, faulted, strict=True)]
        judged = [b for b, f, w in zip(books, faulted, slow, strict=True) if not (f or w)]
        checks.append(inv.fixed_points(
            ((b.substation, b.interval * 1000, b) for b in judged), lambda b: why_not(b, sc),
            {"under a broker or gateway fault": sum(faulted),
             "whose mover's revision came after its round": sum(slow)}))
    if sc.market.sealed:
        checks.append(inv.sealed_before_closure(leaks))
    return checks
