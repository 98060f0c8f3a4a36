"""One market period, computed: reports -> game -> Owen -> ladder -> revised clearing.

Pure: the game, the Owen value, the ladder and the revised clearing are
hub.allocation.period.allocate_period; this module turns the hub's reports
into its entities and its result into chain records and signals. The inputs
are the regional reports (and, when the carbon-flow trace
runs, its nodal intensities); the outputs are the main-chain records of the
period, in block order, and the unsigned price-signal fields per site. The
service signs, stores and publishes them (hub.period.store).

Choices (docs/hub.md, "The allocation loop"):
- the game is P1's market game: sellers are generators, buyers loads,
  the regions the unions; v(S) in mg CO2;
- Owen value exact while the enumeration is small (hub.allocation.owen's
  EXACT_LIMIT), else the stratified sampler seeded with the period start, so
  a period run twice gives the same numbers;
- the ladder's two tiers p_low/p_high are integers in $/t (= micro-currency
  per g), as the protocol's PriceSignal carries them;
- a load's adder is capped at the protocol's price bound (a bid minus that
  is 0 anyway); a generator whose offer plus adder passes the bound fails
  the period with a PeriodError naming it;
- the site's ``intensity_g_kwh`` in its signal is the trace's intensity at
  the site's bus when the trace runs, otherwise the average intensity of the
  revised clearing (its emissions over its volume).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from edge.protocol.canonical import canonical
from edge.protocol.types import MAX_PRICE
from hub.allocation.ladder import MG_PER_G, make_tiers, round_half_up
from hub.allocation.market import Entity
from hub.allocation.period import RegionalReport as AllocReport
from hub.allocation.period import allocate_period
from hub.period.records import (
    AdderRow,
    Adders,
    Allocation,
    AllocationRow,
    Clearing,
    ClearingRow,
    NodalIntensities,
    RegionalReport,
    ReportDigest,
)

#: The protocol's bound on a signal's intensity (g/kWh); a traced value past it is capped.
MAX_SIGNAL_INTENSITY = 100_000


class PeriodError(ValueError):
    """A period that cannot be allocated as reported; the message says why."""


@dataclass(frozen=True)
class LoopConfig:
    period_s: int = 900
    p_low: int = 20
    p_high: int = 40
    rounds: int = 8
    max_entities: int = 2000


@dataclass(frozen=True)
class PeriodOutcome:
    period: int
    reports: tuple[RegionalReport, ...]
    records: tuple[Any, ...]  # the main-chain records, block order
    signals: dict[str, dict[str, Any]] = field(default_factory=dict)  # site -> fields

    def txs(self) -> list[dict[str, Any]]:
        return [r.tx() for r in self.records]


def digest(report: RegionalReport) -> ReportDigest:
    """The chain's commitment to a report: SHA-256 of its canonical JSON."""
    return ReportDigest(period=report.period, region=report.region,
                        entities=len(report.entities),
                        sha256=hashlib.sha256(canonical(report.tx())).hexdigest())


def allocation_reports(reports: list[RegionalReport]) -> list[AllocReport]:
    """The reports as hub.allocation's game entities: sellers generators, buyers loads."""
    return [AllocReport(r.region, tuple(
        Entity(e.id, "gen", r.region, e.qmin_wh, e.qmax_wh, e.price, e.intensity_g_kwh)
        if e.side == "sell" else Entity(e.id, "load", r.region, e.qmin_wh, e.qmax_wh, e.price)
        for e in sorted(r.entities, key=lambda e: e.id))) for r in reports]


def run_period(
    period: int,
    reports: list[RegionalReport],
    cfg: LoopConfig,
    nodal: NodalIntensities | None = None,
    site_bus: dict[str, str] | None = None,
) -> PeriodOutcome | None:
    """The period's records and signals; None when nobody quoted."""
    reports = [r for r in reports if r.entities]
    if not reports:
        return None
    n = sum(len(r.entities) for r in reports)
    if n > cfg.max_entities:
        raise PeriodError(f"period {period}: {n} entities; at most {cfg.max_entities} "
                          "(max_entities in the allocation config)")
    try:
        got = allocate_period(allocation_reports(reports), str(period),
                              tiers=make_tiers(cfg.p_low, cfg.p_high), rounds=cfg.rounds,
                              seed=period, interval_s=cfg.period_s)
    except ValueError as exc:  # GameError included; an offer plus adder past 2^31
        raise PeriodError(f"period {period}: {exc}") from None
    market, res, lad = got.market, got.allocation, got.ladder
    ents = market.entities
    side = {e.id: ("sell" if e.side == "gen" else "buy") for e in ents}
    allocation = Allocation(
        period=period, method=res.method, seed=period if res.method == "sampled" else 0,
        rounds=res.rounds, total_mg=round_half_up(Fraction(res.grand_value)),
        rows=sorted((AllocationRow(id=r.entity.id, region=r.entity.region, side=side[r.entity.id],
                                   allocation_mg=round_half_up(r.allocation_g * MG_PER_G))
                     for r in lad.rows), key=lambda a: a.id))
    adders = Adders(
        period=period, p_low=cfg.p_low, p_high=cfg.p_high,
        rows=sorted((AdderRow(id=r.entity.id, q_wh=r.q_wh,
                              carbon_cost_micro=round_half_up(r.cost_micro),
                              adder=min(r.adder, MAX_PRICE), new_price=r.new_price)
                     for r in lad.rows), key=lambda a: a.id))
    blind, revised = lad.blind, lad.revised
    done = {**blind.gen_wh, **blind.load_wh}
    again = {**revised.gen_wh, **revised.load_wh}
    clearing = Clearing(
        period=period, blind_volume_wh=blind.volume_wh,
        blind_emissions_mg=market.emissions_mg(blind),
        revised_volume_wh=revised.volume_wh,
        revised_emissions_mg=lad.revised_market.emissions_mg(revised),
        relaxed=blind.relaxed or revised.relaxed,
        rows=[ClearingRow(id=i, blind_wh=done[i], revised_wh=again[i]) for i in sorted(done)])
    records: list[Any] = [digest(r) for r in reports] + [allocation, adders, clearing]
    if nodal is not None:
        records.append(nodal)
    return PeriodOutcome(period, tuple(reports), tuple(records),
                         _signals(period, reports, cfg, adders, clearing, nodal, site_bus or {}))


def _signals(period: int, reports: list[RegionalReport], cfg: LoopConfig, adders: Adders,
             clearing: Clearing, nodal: NodalIntensities | None,
             site_bus: dict[str, str]) -> dict[str, dict[str, Any]]:
    """Unsigned PriceSignal fields per site: its gateways' adders, valid for the period."""
    adder = {r.id: r.adder for r in adders.rows}
    average = (round_half_up(Fraction(clearing.revised_emissions_mg, clearing.revised_volume_wh))
               if clearing.revised_volume_wh else 0)
    by_site: dict[str, dict[str, int]] = {}
    for r in reports:
        for e in r.entities:
            by_site.setdefault(e.site, {})[e.gw] = adder[e.id]
    out = {}
    for site, gws in sorted(by_site.items()):
        intensity = average
        bus = site_bus.get(site)
        if nodal is not None and bus is not None and bus in nodal.buses:
            intensity = nodal.buses[bus]
        intensity = min(intensity, MAX_SIGNAL_INTENSITY)
        out[site] = {"v": 1, "type": "price", "site": site, "valid_from": period,
                     "valid_to": period + cfg.period_s, "p_low": cfg.p_low,
                     "p_high": cfg.p_high, "intensity_g_kwh": intensity, "adders": gws}
    return out
