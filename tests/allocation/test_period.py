"""The allocation loop's pure core: regional reports in, allocation, adders and signal out."""

from __future__ import annotations

import pytest

from hub.allocation import dcopf
from hub.allocation.market import Entity
from hub.allocation.period import RegionalReport, allocate_period


def test_the_documented_market_example_by_region():
    """docs/owen.md's worked example, reported by its two regions: coal's adder
    18,278 and town's 8,531 micro-$/kWh were worked by hand there."""
    north = RegionalReport("north", (
        Entity("coal", "gen", "north", 0, 100_000, 20_000, 950, tech="coal"),
        Entity("town", "load", "north", 0, 80_000, 90_000)))
    south = RegionalReport("south", (
        Entity("gas", "gen", "south", 0, 100_000, 40_000, 400, tech="gas"),
        Entity("pv", "gen", "south", 0, 50_000, 0, 0, tech="pv"),
        Entity("mill", "load", "south", 0, 60_000, 50_000)))
    net = dcopf.Network(("north", "south"), (dcopf.Line("N-S", "north", "south", 0.1, 30_000),),
                        "north")
    out = allocate_period([north, south], "h12", net)
    assert out.ladder.adders() == {"coal": 18278, "town": 8531, "gas": 3900, "pv": 0,
                                   "mill": 0}
    assert out.signal["interval"] == "h12" and out.signal["total_mg"] == 85_500_000
    assert sum(out.allocation.values) == 85_500_000


def test_an_entity_reported_by_the_wrong_region_is_refused():
    bad = RegionalReport("north", (Entity("x", "gen", "south", 0, 1, 1, 1),))
    with pytest.raises(ValueError, match="belongs to"):
        allocate_period([bad], "h0")
    with pytest.raises(ValueError, match="one report per region"):
        allocate_period([RegionalReport("a", ()), RegionalReport("a", ())], "h0")
