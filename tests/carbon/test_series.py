"""A day of hourly traces: per-hour balance, day totals, failed hours, restored base."""

from __future__ import annotations

import pytest

from hub.carbon.errors import CarbonInputError, Reason, rejected_count
from hub.carbon.networks import load_case
from hub.carbon.series import trace_series

LOAD = [0.6, 0.55, 0.5, 0.5, 0.55, 0.65, 0.8, 0.9, 0.95, 1.0, 1.0, 0.98,
        0.95, 0.93, 0.92, 0.95, 1.0, 1.05, 1.1, 1.05, 0.95, 0.85, 0.75, 0.65]
PV = [0, 0, 0, 0, 0, 0.05, 0.2, 0.4, 0.6, 0.8, 0.9, 1.0,
      1.0, 0.9, 0.8, 0.6, 0.4, 0.2, 0.05, 0, 0, 0, 0, 0]


@pytest.fixture(scope="module")
def day():
    import pandapower as pp

    net = load_case("case33bw")
    pp.create_sgen(net, 17, p_mw=0.5)
    base = net.load.p_mw.copy()
    rep = trace_series(net, {"load": LOAD, "sgen": PV},
                       {"ext_grids": {"0": {"t_per_mwh": 0.6}}}, name="case33bw")
    return net, base, rep


def test_every_hour_balances_in_grams(day):
    _, _, rep = day
    assert len(rep.hours) == 24 and rep.day.hours_traced == 24
    for h in rep.hours:
        t = h.totals
        assert t.load_carbon_g_per_h + t.loss_carbon_g_per_h == t.generator_emissions_g_per_h
        assert len(h.bus_intensity_g_per_kwh) == len(rep.buses) == 33


def test_load_follows_the_profile_and_pv_cleans_the_noon(day):
    _, base, rep = day
    for h in (0, 9, 18):
        assert rep.hours[h].totals.load_mw == pytest.approx(base.sum() * LOAD[h], rel=1e-9)
    night, noon = rep.hours[2], rep.hours[12]
    assert max(night.bus_intensity_g_per_kwh) == min(night.bus_intensity_g_per_kwh) == 600
    assert min(noon.bus_intensity_g_per_kwh) < 600


def test_day_totals_and_consumers_add_up(day):
    _, _, rep = day
    d = rep.day
    assert d.generator_emissions_g == sum(h.totals.generator_emissions_g_per_h for h in rep.hours)
    assert d.load_carbon_g + d.loss_carbon_g == d.generator_emissions_g
    assert sum(s.carbon_g for s in rep.sinks) == d.load_carbon_g
    assert len(rep.sinks) == 32
    s0 = next(s for s in rep.sinks if s.index == 0)
    assert s0.energy_kwh == pytest.approx(100.0 * sum(LOAD), rel=1e-9)  # load 0 is 0.1 MW


def test_network_is_back_at_its_base_afterwards(day):
    net, base, _ = day
    assert net.load.p_mw.equals(base)
    assert net.sgen.p_mw.iloc[0] == 0.5


def test_a_failing_hour_is_reported_and_the_others_still_count():
    profile = {"load": [1.0] * 24}
    profile["load"][5] = 40.0  # the feeder cannot carry this
    rep = trace_series(load_case("case33bw"), profile)
    failed = [h for h in rep.hours if not h.converged]
    assert [h.hour for h in failed] == [5]
    assert "did not converge" in failed[0].error
    assert rep.day.hours_traced == 23
    assert rep.day.generator_emissions_g == 23 * rep.hours[0].totals.generator_emissions_g_per_h


@pytest.mark.parametrize(
    "profile, field",
    [
        ({"load": []}, "profile.load"),
        ({"load": [1.0] * 8785}, "profile.load"),  # longer than a leap year
        ({"load": [1.0] * 23 + [-0.5]}, "profile.load.23"),
        ({"load": [1.0] * 24, "sgen": [1.0] * 25}, "profile.sgen"),
        ({"load": [1.0] * 23 + [float("inf")]}, "profile.load.23"),
        ({"loads": [1.0] * 24}, "profile.load"),
        ("24 ones", "profile"),
    ],
)
def test_bad_profiles_are_refused(profile, field):
    before = rejected_count(Reason.BAD_PROFILE)
    with pytest.raises(CarbonInputError) as err:
        trace_series(load_case("case33bw"), profile)
    assert err.value.field == field
    assert rejected_count(Reason.BAD_PROFILE) == before


def test_two_workers_give_the_serial_result():
    """A 30-hour series (two chunks of 24 and 6) on a local cluster of two workers,
    with one failing hour: exactly the serial report, warm starts included (each chunk
    starts cold, so where it ran does not matter)."""
    from hub.cluster import dask_client

    load = [0.6 + 0.02 * h for h in range(30)]
    load[7] = 50.0  # this hour's power flow does not converge
    prof = {"load": load, "sgen": [1.0] * 30}
    serial = trace_series(load_case("case33bw"), prof, name="x")
    with dask_client(workers=2) as client:
        spread = trace_series(load_case("case33bw"), prof, name="x", client=client)
    assert not serial.hours[7].converged and serial.day.hours_traced == 29
    starts = [h.start for h in serial.hours]
    assert [h for h, s in enumerate(starts) if s == "cold"] == [0, 8, 24]
    assert starts[7] is None and starts.count("warm") == 26
    assert spread.model_dump() == serial.model_dump()


def test_chunks_folded_as_they_come_give_the_same_report():
    """Serial series are traced and summed chunk by chunk (a year never sits in memory).
    The chunk length decides where the warm starts restart cold, so another length gives
    the same report to the power flow's tolerance (a gram at most per hour), the failing
    hour included; the same length gives the same report bit for bit."""
    load = [0.6 + 0.02 * h for h in range(11)]
    load[4] = 50.0
    whole = trace_series(load_case("case33bw"), {"load": load}, name="x", chunk_hours=24)
    small = trace_series(load_case("case33bw"), {"load": load}, name="x", chunk_hours=3)
    again = trace_series(load_case("case33bw"), {"load": load}, name="x", chunk_hours=3)
    assert not whole.hours[4].converged and whole.day.hours_traced == 10
    assert again.model_dump() == small.model_dump()
    assert [h.start for h in whole.hours] == ["cold", "warm", "warm", "warm", None, "cold",
                                              "warm", "warm", "warm", "warm", "warm"]
    assert [h.start for h in small.hours] == ["cold", "warm", "warm", "cold", None, "cold",
                                              "cold", "warm", "warm", "cold", "warm"]
    for a, b in zip(small.hours, whole.hours, strict=True):
        assert a.converged == b.converged
        if a.totals is None:
            continue
        assert a.totals.loss_mw == pytest.approx(b.totals.loss_mw, rel=1e-7)
        assert abs(a.totals.loss_carbon_g_per_h - b.totals.loss_carbon_g_per_h) <= 1
        assert a.bus_intensity_g_per_kwh == pytest.approx(b.bus_intensity_g_per_kwh, abs=1)
    assert abs(small.day.load_carbon_g - whole.day.load_carbon_g) <= 10


def test_a_chunk_length_below_one_traces_hour_by_hour():
    # chunk_hours 0 once stepped by 1 but sliced [a:a+0]: every chunk empty, no hour traced
    load = [0.6, 0.7, 0.8]
    rep = trace_series(load_case("case33bw"), {"load": load}, name="x", chunk_hours=0)
    assert [h.hour for h in rep.hours] == [0, 1, 2]
    assert [h.start for h in rep.hours] == ["cold", "cold", "cold"]
    assert rep.day.hours_traced == 3


def test_profiles_of_other_lengths_and_dc():
    rep = trace_series(load_case("case33bw"), {"load": [1.0, 0.5, 0.8]}, dc=True)
    assert [h.hour for h in rep.hours] == [0, 1, 2]
    assert all(h.totals.loss_mw == 0 for h in rep.hours)  # DC power flow: lossless
    with pytest.raises(CarbonInputError, match="sgen has 2 hours"):
        trace_series(load_case("case33bw"), {"load": [1.0, 0.5, 0.8], "sgen": [1.0, 1.0]})
