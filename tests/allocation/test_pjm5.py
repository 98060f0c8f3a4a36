"""The PJM-5 scenario data and the hourly study (a few hours; all 24 are slow-marked)."""

from __future__ import annotations

from collections import Counter

import pytest

from hub.allocation.market import MarketGame
from hub.allocation.owen import owen_exact
from hub.allocation.pjm5 import load_scenario, run_study, write_outputs


def test_scenario_matches_the_brief():
    sc = load_scenario()
    assert sc.network.buses == ("A", "B", "C", "D", "E")
    limits = {ln.id: ln.limit_w for ln in sc.network.lines}
    assert limits == {"A-B": 400_000_000, "A-D": None, "A-E": None, "B-C": None,
                      "C-D": None, "E-D": 240_000_000}
    techs = Counter(g["tech"] for g in sc.generators)
    assert techs == {"coal": 7, "wind": 3, "pv": 2, "gas": 2, "hydro": 1}
    assert {g["pmax_mw"] for g in sc.generators if g["tech"] in ("pv", "wind")} == {"200"}
    assert {ld["region"] for ld in sc.loads} == set("ABCDE")
    m = sc.market(12)
    pv = [g for g in m.generators if g.tech == "pv"]
    assert [g.qmax_wh for g in pv] == [200_000_000, 200_000_000]  # noon factor 1.000
    assert sc.market(0).generators[4].qmax_wh == 0  # no PV at night


def test_hourly_allocation_is_efficient_on_the_network():
    m = load_scenario().market(18)
    res = owen_exact(MarketGame(m))
    assert sum(res.values) == m.emissions_mg(m.clear())
    assert m.clear().network_lp  # the evening peak congests a line


def test_two_hours_with_and_without_adders(tmp_path):
    rows, summary = run_study([12, 18])
    by = {r["hour"]: r for r in rows}
    # Evening peak: the E-D / A-B limits bind; adders push coal above gas and trim
    # price-responsive demand.
    h = by[18]
    assert h["blind_emissions_t"] == pytest.approx(1096.262269616)
    assert h["carbon_emissions_t"] == pytest.approx(802.444240676)
    assert h["blind_gas_mwh"] == 0 and h["carbon_gas_mwh"] == pytest.approx(276.352483)
    assert h["blind_demand_mwh"] == pytest.approx(1470.0)
    assert h["carbon_demand_mwh"] == pytest.approx(1310.0)
    # Noon: PV runs flat out either way; wind-d is priced out by its own adder.
    assert by[12]["blind_pv_mwh"] == by[12]["carbon_pv_mwh"] == 400.0
    assert by[12]["carbon_wind_mwh"] < by[12]["blind_wind_mwh"]
    assert summary["expected_effect"] == {"emissions_fall": True, "pv_rises": False,
                                          "wind_rises": False, "gas_rises": True}
    files = write_outputs(tmp_path, rows, summary)
    assert [f.name for f in files] == ["pjm5_hourly.csv", "pjm5.json", "pjm5_emissions.png",
                                       "pjm5_use.png"]
    assert all(f.stat().st_size > 0 for f in files)
    assert (tmp_path / "pjm5_emissions.png").read_bytes()[:4] == b"\x89PNG"
    assert len((tmp_path / "pjm5_hourly.csv").read_text().splitlines()) == 3


def test_full_day_reports_the_honest_outcome():
    """All 24 hours (a few seconds). Emissions fall over the day and gas use rises, but
    PV and wind use fall: the ladder charges zero-carbon units whose (negative) Owen
    value is above their type's minimum, and in hours 6, 7 and 14 that prices wind or
    PV out and emissions rise. docs/owen.md discusses this."""
    rows, summary = run_study(range(24))
    assert len(rows) == 24
    change = summary["change"]
    assert change["emissions_t"] == pytest.approx(-1662.184262407, rel=1e-9)
    assert change["gas_mwh"] == pytest.approx(777.655471, rel=1e-9)
    assert change["wind_mwh"] == pytest.approx(-293.94, rel=1e-9)
    assert change["pv_mwh"] == pytest.approx(-105.91, rel=1e-9)
    rises = [r["hour"] for r in rows if r["carbon_emissions_t"] > r["blind_emissions_t"]]
    assert rises == [6, 7, 14]
