"""Regional reports: the quotations of one period, from the bids the edges put on their chains.

An edge records every accepted gateway bid as a transaction of its own chain
and pushes its blocks to the hub, so the hub holds each region's opened bids
with the edge's signature over them. For a period the hub keeps, per site and
gateway, the gateway's last quote (highest round, then highest sequence
number): the book's rule that a later quote replaces the earlier one. A
region is a site, or the group the hub config puts the site in.

Bids are quantities without a lower bound (qmin 0). Sellers' emission
intensities are not in a bid: they come from the hub config (per gateway,
per site, or a default), which is where a regulator's registry of the units
would be plugged in.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from edge.protocol.messages import Bid
from hub.period.records import RegionalReport, ReportEntity


@dataclass(frozen=True)
class PushedTx:
    """One transaction of a stored edge block, with where it came from."""

    edge: str
    height: int
    site: str | None  # the edge's registered site
    tx: Any


@dataclass(frozen=True)
class Grouping:
    """How sites map to regions and where sellers' intensities come from.

    ``regions``: site -> region (a site not listed is its own region).
    ``intensities``: "site/gw" or "site" -> g CO2 per kWh of a seller;
    ``default_intensity`` for the rest.
    """

    regions: Mapping[str, str]
    intensities: Mapping[str, int]
    default_intensity: int = 0

    def region_of(self, site: str) -> str:
        return self.regions.get(site, site)

    def intensity_of(self, site: str, gw: str) -> int:
        got = self.intensities.get(f"{site}/{gw}")
        return self.intensities.get(site, self.default_intensity) if got is None else got


def is_bid_for(tx: Any, period: int) -> bool:
    """Cheap pre-filter before validation: a bid object naming this period."""
    return isinstance(tx, dict) and tx.get("type") == "bid" and tx.get("interval") == period


def collect(
    txs: Iterable[PushedTx], period: int, grouping: Grouping
) -> tuple[list[RegionalReport], Counter[str]]:
    """The period's regional reports (sorted by region) and the bids skipped, by reason.

    A bid that fails the protocol's own Bid model, or whose site is not the
    site its edge is registered for, is skipped and counted; it costs only
    itself.
    """
    skipped: Counter[str] = Counter()
    last: dict[tuple[str, str], tuple[tuple[int, int], Bid, PushedTx]] = {}
    for p in txs:
        if not is_bid_for(p.tx, period):
            continue
        try:
            bid = Bid.model_validate(p.tx)
        except ValidationError:
            skipped["bad_bid"] += 1
            continue
        if p.site is not None and bid.site != p.site:
            skipped["site_mismatch"] += 1
            continue
        key = (bid.site, bid.gw)
        rank = (bid.round, bid.seq)
        if key not in last or rank > last[key][0]:
            last[key] = (rank, bid, p)
    by_region: dict[str, list[ReportEntity]] = {}
    for (site, gw), (_, bid, p) in sorted(last.items()):
        ent = ReportEntity(
            id=f"{site}/{gw}", site=site, gw=gw, side=bid.side, qmin_wh=0,
            qmax_wh=bid.qty_wh, price=bid.price,
            intensity_g_kwh=grouping.intensity_of(site, gw) if bid.side == "sell" else 0,
            edge=p.edge, height=p.height,
        )
        by_region.setdefault(grouping.region_of(site), []).append(ent)
    reports = [RegionalReport(period=period, region=r, entities=ents)
               for r, ents in sorted(by_region.items())]
    return reports, skipped
