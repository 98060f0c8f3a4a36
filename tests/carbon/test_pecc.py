"""The PECC coal-unit intensity model of P3, on values worked out by hand."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from hub.carbon.analysis import trace_network
from hub.carbon.networks import load_case
from hub.carbon.pecc import (
    CoalUnit,
    OperatingState,
    coal_consumption_g_per_kwh,
    coal_intensity_t_per_mwh,
)

UNIT = dict(a=0.0001, b=0.3, c=5.0, mu=0.7, phi=0.98, theta=0.0)


def test_known_value_at_300_mw():
    # w = 1000*(0.0001*300) + 1000*0.3 + 1000*5/300 = 30 + 300 + 16.667 = 346.667 g/kWh
    u = CoalUnit(**UNIT)
    assert coal_consumption_g_per_kwh(u, 300.0) == pytest.approx(346.6666667, rel=1e-9)
    # E = 44/12 * 0.7 * 0.98 * 346.667 / 1000 = 0.871982 t/MWh
    assert coal_intensity_t_per_mwh(u, 300.0) == pytest.approx(0.8719822, rel=1e-6)


def test_part_load_burns_more_per_kwh():
    # At 100 MW: w = 10 + 300 + 50 = 360 g/kWh; E = 44/12*0.686*0.36 = 0.905520
    u = CoalUnit(**UNIT)
    assert coal_consumption_g_per_kwh(u, 100.0) == pytest.approx(360.0, rel=1e-12)
    assert coal_intensity_t_per_mwh(u, 100.0) == pytest.approx(0.905520, rel=1e-6)


@pytest.mark.parametrize(
    "state, delta",
    [("normal", 1.0), ("shutdown", 0.0), ("deep_peak_shaving", 1.01), ("fast_ramping", 1.01)],
)
def test_operating_states_scale_the_consumption(state, delta):
    u = CoalUnit(**UNIT, state=state)
    assert u.state.delta == delta
    assert coal_consumption_g_per_kwh(u, 300.0) == pytest.approx(346.6666667 * delta, rel=1e-9)
    assert coal_intensity_t_per_mwh(u, 300.0) == pytest.approx(0.8719822 * delta, rel=1e-6)


def test_capture_and_idle_unit():
    assert coal_intensity_t_per_mwh(CoalUnit(**{**UNIT, "theta": 0.9}), 300.0) == pytest.approx(
        0.08719822, rel=1e-6)
    # a unit producing nothing has no per-kWh consumption (c/P would be infinite)
    assert coal_intensity_t_per_mwh(CoalUnit(**UNIT), 0.0) == 0.0
    assert OperatingState("shutdown").delta == 0.0


@pytest.mark.parametrize(
    "bad, field",
    [({"mu": 1.5}, "mu"), ({"a": -1.0}, "a"), ({"theta": 2.0}, "theta"),
     ({"state": "idle"}, "state"), ({"colour": "black"}, "colour")],
)
def test_bad_parameters_are_refused_by_field(bad, field):
    with pytest.raises(ValidationError) as err:
        CoalUnit(**{**UNIT, **bad})
    assert err.value.errors()[0]["loc"][0] == field


def test_coal_unit_in_a_trace_uses_its_solved_output():
    net = load_case("case9")
    t = trace_network(net, {"gens": {"0": {"p_mw": 150.0, "coal": UNIT},
                                     "1": {"t_per_mwh": 0.0}},
                            "ext_grids": {"0": {"coal": {**UNIT, "state": "fast_ramping"}}}})
    g, f = t.graph, t.flow
    gen0 = (g.source_element == "gen") & (g.source_index == 0)
    assert f.source_intensity[gen0][0] == pytest.approx(
        coal_intensity_t_per_mwh(CoalUnit(**UNIT), 150.0), rel=1e-12)
    slack = g.source_element == "ext_grid"
    p_slack = float(net.res_ext_grid.p_mw.iloc[0])
    assert g.source_p[slack][0] == pytest.approx(p_slack)
    # 1000*(0.0001 P + 0.3 + 5/P) * 1.01 at the slack's solved P
    w = 1.01 * 1000 * (0.0001 * p_slack + 0.3 + 5.0 / p_slack)
    assert f.source_intensity[slack][0] == pytest.approx(44 / 12 * 0.7 * 0.98 * w / 1000, rel=1e-9)
