"""One market period of the allocation loop as a library call: regional reports in,
allocation, ladder costs, adders, revised clearing and the price signal out.

This is the pure core of the loop P1 runs each period (the hub's
pipeline that collects the reports, records the result on the main chain and
publishes the signal is separate work): it does no I/O, so the same call
serves an operator by hand, a scheduler, or a test.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from hub.allocation import dcopf
from hub.allocation.ladder import DEFAULT_TIERS, LadderResult, Tiers, ladder
from hub.allocation.market import Entity, Market, MarketGame
from hub.allocation.owen import OwenResult, owen
from hub.allocation.signal import price_signal


@dataclass(frozen=True)
class RegionalReport:
    """What one region's organiser reports for the period: its entities' opened bids
    and quantity bounds (every entity's ``region`` must be this region)."""

    region: str
    entities: tuple[Entity, ...]


@dataclass(frozen=True)
class PeriodResult:
    market: Market
    allocation: OwenResult
    ladder: LadderResult
    signal: dict


def allocate_period(
    reports: Sequence[RegionalReport],
    interval: str,
    network: dcopf.Network | None = None,
    tiers: Tiers = DEFAULT_TIERS,
    method: str = "auto",
    rounds: int = 8,
    seed: int = 0,
    interval_s: int = 3600,
) -> PeriodResult:
    """Clear the period carbon-blind, allocate its emissions (regions are the unions),
    price them on the ladder, clear the revised quotations and build the signal."""
    regions = [r.region for r in reports]
    if len(set(regions)) != len(regions):
        raise ValueError("reports: one report per region")
    for r in reports:
        for e in r.entities:
            if e.region != r.region:
                raise ValueError(f"{e.id}: reported by region {r.region!r} but belongs to "
                                 f"{e.region!r}")
    ents = [e for r in reports for e in r.entities]
    market = Market(tuple(e for e in ents if e.side == "gen"),
                    tuple(e for e in ents if e.side == "load"), network, interval_s,
                    tuple(regions))
    game = MarketGame(market)
    res = owen(game, method=method, rounds=rounds, seed=seed)
    lad = ladder(market, res, tiers)
    sig = price_signal(lad, tiers, interval, res.method, res.grand_value)
    return PeriodResult(market, res, lad, sig)
