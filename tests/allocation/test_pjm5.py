"""The PJM-5 scenario data and the hourly study.

The paper's claims are qualitative; the tests assert them as such. Numbers the
code produced itself are labelled "regression pin": they only guard against
unintended change. The full day (several minutes on 2 cores) is slow-marked.
"""

from __future__ import annotations

from collections import Counter
from fractions import Fraction

import pytest

from hub.allocation.market import MarketGame
from hub.allocation.owen import owen_exact
from hub.allocation.pjm5 import load_scenario, run_hour, run_study, summarise, write_outputs


def _offers(sc, tech):
    return [Fraction(g["offer_usd_per_mwh"]) for g in sc.generators if g["tech"] == tech]


def test_scenario_matches_the_brief_and_the_offer_rule():
    sc = load_scenario()
    assert sc.network.buses == ("A", "B", "C", "D", "E")
    limits = {ln.id: ln.limit_w for ln in sc.network.lines}
    assert limits == {"A-B": 400_000_000, "A-D": None, "A-E": None, "B-C": None,
                      "C-D": None, "E-D": 240_000_000}
    techs = Counter(g["tech"] for g in sc.generators)
    assert techs == {"coal": 7, "wind": 3, "pv": 2, "gas": 2, "hydro": 1}
    assert {g["pmax_mw"] for g in sc.generators if g["tech"] in ("pv", "wind")} == {"200"}
    assert {ld["region"] for ld in sc.loads} == set("ABCDE")
    assert Counter(g["region"] for g in sc.generators)["A"] == 5
    assert Counter(ld["region"] for ld in sc.loads)["A"] == 4
    # PROVENANCE.md's rule: hydro cheapest; renewables above hydro and within or above
    # the coal range (their high quotations keep them out of the carbon-blind market).
    coal = _offers(sc, "coal")
    hydro = _offers(sc, "hydro")
    others = [Fraction(g["offer_usd_per_mwh"]) for g in sc.generators if g["tech"] != "hydro"]
    assert max(hydro) < min(others)
    for tech in ("pv", "wind"):
        assert all(o > max(hydro) and o >= min(coal) for o in _offers(sc, tech))
    m = sc.market(12)
    pv = [g for g in m.generators if g.tech == "pv"]
    assert [g.qmax_wh for g in pv] == [200_000_000, 200_000_000]  # noon factor 1.000
    assert all(g.qmax_wh == 0 for g in sc.market(0).generators if g.tech == "pv")


def test_renewable_offer_level_can_be_swept():
    sc = load_scenario().with_renewable_offer("12.5")
    m = sc.market(12)
    assert {g.price for g in m.generators if g.tech in ("pv", "wind")} == {12_500}
    assert {g.price for g in m.generators if g.tech == "hydro"} == {5_000}
    with pytest.raises(ValueError, match="renewable offer"):
        load_scenario().with_renewable_offer("-1")


@pytest.fixture(scope="module")
def evening():
    """Hour 18 (the evening peak), exact Owen values (about 10 s)."""
    return run_hour(load_scenario(), 18)


def test_evening_allocation_is_efficient_with_hydro_at_the_bottom(evening):
    m = load_scenario().market(18)
    assert m.clear().network_lp  # the evening peak congests a line
    res = owen_exact(MarketGame(m))
    assert sum(res.values) == m.emissions_mg(m.clear())  # exact efficiency
    al = evening["allocation_t"]
    gens = {e: v for e, v in al.items() if evening["sides"][e] == "gen"}
    assert min(gens, key=gens.get) == "hydro-a"
    assert all(gens[e] > gens["hydro-a"] for e in ("pv-a", "pv-c", "wind-a", "wind-d",
                                                   "wind-e"))
    # zero-carbon units displace coal, so their allocations are negative ...
    assert all(gens[e] < 0 for e in ("hydro-a", "pv-a", "pv-c", "wind-a", "wind-d", "wind-e"))
    # ... and emitting units that cleared more carry more: the two Brighton halves clear
    # fully in the carbon-blind market and share the largest allocation
    assert gens["brighton-1"] == pytest.approx(gens["brighton-2"])
    assert gens["brighton-1"] == max(gens.values())


def test_evening_with_and_without_adders(evening, tmp_path):
    h = evening
    # qualitative: the adders push coal above gas and emissions fall
    assert h["carbon_emissions_t"] < h["blind_emissions_t"]
    assert h["blind_gas_mwh"] == 0 and h["carbon_gas_mwh"] > 0
    # regression pins (the code's own figures, to catch unintended change)
    assert h["blind_emissions_t"] == pytest.approx(1148.937522096)
    assert h["carbon_emissions_t"] == pytest.approx(747.1952)
    assert h["carbon_gas_mwh"] == pytest.approx(518.8)
    assert h["blind_demand_mwh"] == pytest.approx(1470.0)
    rows = [h]
    summary = summarise(rows, load_scenario())
    assert summary["allocation"]["hydro_minimum_hours"] == [18]
    files = write_outputs(tmp_path, rows, summary)
    assert [f.name for f in files] == ["pjm5_hourly.csv", "pjm5.json", "pjm5_emissions.png",
                                       "pjm5_use.png", "pjm5_allocation_map.png"]
    for f in files[2:]:
        assert f.read_bytes()[:4] == b"\x89PNG"
    assert len((tmp_path / "pjm5_hourly.csv").read_text().splitlines()) == 2


@pytest.mark.slow
def test_full_day_shows_the_papers_effect():
    """All 24 hours (several minutes): the paper's qualitative claims, then pins."""
    rows, summary = run_study(range(24))
    change = summary["change"]
    assert summary["expected_effect"] == {"emissions_fall": True, "pv_rises": True,
                                          "wind_rises": True, "gas_rises": True}
    al = summary["allocation"]
    assert al["hydro_minimum_hours"] == list(range(24))
    assert al["renewables_above_hydro_hours"] == list(range(24))
    # allocation tracks the carbon-blind clearing: over the day, an emitting unit's or a
    # load's allocation rises and falls with what it cleared (mean rank correlation)
    assert al["tracking_mean"]["emitting_generators"] > 0.5
    assert al["tracking_mean"]["loads"] > 0.5
    assert summary["emissions_rise_hours"] == []
    # regression pins
    assert change["emissions_t"] == pytest.approx(-5974.063820708, rel=1e-9)
    assert change["gas_mwh"] == pytest.approx(1660.756218, rel=1e-9)
    assert change["wind_mwh"] == pytest.approx(2273.675919, rel=1e-9)
    assert change["pv_mwh"] == pytest.approx(382.475348, rel=1e-9)
