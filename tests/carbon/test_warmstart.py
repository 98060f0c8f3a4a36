"""Warm starts and cold retries of a series' power flows (hub.carbon.warmstart).

The reference for "does this start converge" is pandapower itself, called
directly with that start; the reference for an hour's carbon is a fresh
single-snapshot trace of the same hour (``report_network`` on a new network).
"""

from __future__ import annotations

import logging

import pandapower as pp
import pytest

from hub.carbon.analysis import report_network
from hub.carbon.networks import load_case
from hub.carbon.series import trace_series
from tests.carbon.nets import shifted_export_chain

#: hour 0: the generator exports alone; hour 1: the flow reverses (load on, generator off);
#: hour 2: a little less load.
PROFILE = {"load": [0.0, 1.0, 0.95], "gen": [1.0, 0.0, 0.0]}
SNAP = {"ext_grids": {"0": {"t_per_mwh": 0.9}}, "gens": {"0": {"t_per_mwh": 0.1}}}


def _hour(h: int) -> pp.pandapowerNet:
    net = shifted_export_chain()
    net.load.p_mw *= PROFILE["load"][h]
    net.load.q_mvar *= PROFILE["load"][h]
    net.gen.p_mw *= PROFILE["gen"][h]
    return net


def _converges(net: pp.pandapowerNet, **kw) -> bool:
    try:
        pp.runpp(net, **kw)
    except pp.LoadflowNotConverged:
        return False
    return True


@pytest.fixture(autouse=True)
def _quiet_pandapower():
    logging.disable(logging.WARNING)  # "numba cannot be imported", once per power flow
    yield
    logging.disable(logging.NOTSET)


@pytest.fixture(scope="module")
def series():
    return trace_series(shifted_export_chain(), PROFILE, SNAP, name="chain",
                        bus_intensities=False)


def test_the_references_fail_where_the_series_must_not():
    """What pandapower does on its own: hour 1 fails from a flat start and from hour 0's
    solution, and converges from DC angles."""
    assert not _converges(_hour(1), init="flat")
    net = _hour(0)
    pp.runpp(net, init="dc")
    net.load.p_mw, net.load.q_mvar = _hour(1).load.p_mw, _hour(1).load.q_mvar
    net.gen.p_mw = _hour(1).gen.p_mw
    assert not _converges(net, init="results")
    assert _converges(_hour(1), init="dc")


def test_every_hour_converges_with_the_start_that_worked(series):
    """Hour 0 starts cold (DC angles), hour 1's warm start fails and is retried cold,
    hour 2 starts warm from hour 1."""
    assert [h.converged for h in series.hours] == [True, True, True]
    assert [h.start for h in series.hours] == ["cold", "cold", "warm"]
    assert series.day.hours_traced == 3


@pytest.mark.parametrize("h", [0, 1, 2])
def test_each_hour_equals_a_fresh_trace_of_it(series, h):
    ref = report_network(_hour(h), SNAP).totals
    got = series.hours[h].totals
    for field in ("generation_mw", "load_mw", "loss_mw", "generator_emissions_t_per_h",
                  "load_carbon_t_per_h", "loss_carbon_t_per_h"):
        assert getattr(got, field) == pytest.approx(getattr(ref, field), rel=1e-7, abs=1e-9)
    assert abs(got.generator_emissions_g_per_h - ref.generator_emissions_g_per_h) <= 1


def test_a_failed_hour_is_followed_by_a_cold_start():
    """An hour without a solution (case33bw at 40 x its load) fails after both starts;
    the next hour does not start from its diverged iterate."""
    load = [1.0, 1.1, 40.0, 1.0, 0.9]
    rep = trace_series(load_case("case33bw"), {"load": load}, name="x", bus_intensities=False)
    assert [h.start for h in rep.hours] == ["cold", "warm", None, "cold", "warm"]
    assert not rep.hours[2].converged and "did not converge" in rep.hours[2].error
    ref = trace_series(load_case("case33bw"), {"load": load[3:]}, name="x",
                       bus_intensities=False)
    assert rep.hours[3].totals == ref.hours[0].totals  # both cold: bit for bit


def test_dc_power_flow_series_have_no_start():
    rep = trace_series(load_case("case33bw"), {"load": [1.0, 0.8]}, dc=True)
    assert [h.start for h in rep.hours] == [None, None]
