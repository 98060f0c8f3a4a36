"""Snapshots: what they change, and every way one can be refused (with its counter)."""

from __future__ import annotations

import pytest

from hub.carbon.analysis import trace_network
from hub.carbon.errors import CarbonInputError, Reason, rejected_count
from hub.carbon.networks import builtin_cases, load_case, load_network_json, network_to_json
from hub.carbon.snapshot import parse_snapshot


def test_snapshot_sets_loads_and_outputs():
    net = load_case("case9")
    t = trace_network(net, {"loads": {"0": {"p_mw": 60.0, "q_mvar": 10.0}},
                            "gens": {"1": {"p_mw": 90.0}}})
    assert net.res_load.p_mw.loc[0] == pytest.approx(60.0)
    assert net.res_load.q_mvar.loc[0] == pytest.approx(10.0)
    assert net.res_gen.p_mw.loc[1] == pytest.approx(90.0)
    assert t.graph.sink_p.sum() == pytest.approx(net.load.p_mw.sum())


def test_defaults_apply_to_sources_the_snapshot_leaves_out():
    net = load_case("case9")
    t = trace_network(net, {"defaults": {"gen": 0.3, "ext_grid": 0.7}})
    g, f = t.graph, t.flow
    assert set(f.source_intensity[g.source_element == "gen"]) == {0.3}
    assert set(f.source_intensity[g.source_element == "ext_grid"]) == {0.7}


def test_negative_load_feeds_in_with_the_other_intensity():
    net = load_case("case33bw")
    t = trace_network(net, {"loads": {"10": {"p_mw": -0.2}}, "defaults": {"other": 0.1}})
    g, f = t.graph, t.flow
    fed = g.source_element == "load"
    assert fed.sum() == 1 and g.source_p[fed][0] == pytest.approx(0.2)
    assert f.source_intensity[fed][0] == 0.1


@pytest.mark.parametrize(
    "snap, field, reason",
    [
        ({"loads": {"99": {"p_mw": 1.0}}}, "snapshot.loads.99", Reason.UNKNOWN_ELEMENT),
        ({"gens": {"7": {"p_mw": 1.0}}}, "snapshot.gens.7", Reason.UNKNOWN_ELEMENT),
        ({"loads": {"0": {"p_mw": "lots"}}}, "snapshot.loads.0.p_mw", Reason.BAD_SNAPSHOT),
        ({"loads": {"0": {"p_mw": float("nan")}}}, "snapshot.loads.0.p_mw", Reason.BAD_SNAPSHOT),
        ({"loads": {"zero": {"p_mw": 1.0}}}, "snapshot.loads.zero.[key]", Reason.BAD_SNAPSHOT),
        ({"gens": {"0": {"t_per_mwh": -0.1}}}, "snapshot.gens.0.t_per_mwh", Reason.BAD_SNAPSHOT),
        ({"gens": {"0": {"t_per_mwh": 0.5, "coal": {"a": 0, "b": 0.3, "c": 1, "mu": 0.7}}}},
         "snapshot.gens.0", Reason.BAD_SNAPSHOT),
        ({"gens": {"0": {"coal": {"a": 0, "b": 0.3, "c": 1, "mu": 7}}}},
         "snapshot.gens.0.coal.mu", Reason.BAD_SNAPSHOT),
        ({"ext_grids": {"0": {"p_mw": 5}}}, "snapshot.ext_grids.0.p_mw", Reason.BAD_SNAPSHOT),
        ({"load": {}}, "snapshot.load", Reason.BAD_SNAPSHOT),
        ([1, 2], "snapshot", Reason.BAD_SNAPSHOT),
    ],
)
def test_bad_snapshots_are_refused_by_field_and_counted_when_answered(snap, field, reason):
    net = load_case("case9")
    before = rejected_count(reason)
    load_before = net.load.p_mw.copy()
    with pytest.raises(CarbonInputError) as err:
        trace_network(net, snap)
    assert err.value.field == field
    assert err.value.reason == reason
    assert str(err.value).startswith(field)
    assert rejected_count(reason) == before
    assert net.load.p_mw.equals(load_before)  # nothing half-applied


def test_unknown_case_and_bad_network_json_are_refused():
    assert "case33bw" in builtin_cases() and "case9241pegase" in builtin_cases()
    before = rejected_count(Reason.UNKNOWN_CASE)
    with pytest.raises(CarbonInputError, match="'case33' is not a pandapower built-in case"):
        load_case("case33")
    assert rejected_count(Reason.UNKNOWN_CASE) == before
    before = rejected_count(Reason.BAD_NETWORK)
    with pytest.raises(CarbonInputError, match="not a pandapower network"):
        load_network_json('{"bus": 1}')
    with pytest.raises(CarbonInputError, match="not a pandapower network"):
        load_network_json("not json")
    assert rejected_count(Reason.BAD_NETWORK) == before


def test_network_json_round_trip_traces_the_same():
    a = trace_network(load_case("case5"))
    b = trace_network(load_network_json(network_to_json(load_case("case5"))))
    assert b.flow.generator_emissions == pytest.approx(a.flow.generator_emissions, rel=1e-12)
    assert b.flow.loss_carbon == pytest.approx(a.flow.loss_carbon, rel=1e-9)


def test_parse_snapshot_accepts_nothing_as_empty():
    assert parse_snapshot(None).loads == {}


def test_building_a_refusal_counts_nothing_answering_it_counts_once():
    from hub.carbon.errors import count
    from hub.carbon.limits import OverLimit

    before = rejected_count(Reason.BAD_SNAPSHOT)
    exc = CarbonInputError(Reason.BAD_SNAPSHOT, "made but never answered", "snapshot")
    over = OverLimit("case", "max_trace_buses", "too big")
    assert rejected_count(Reason.BAD_SNAPSHOT) == before
    count(exc)
    assert rejected_count(Reason.BAD_SNAPSHOT) == before + 1
    over_before = sum(rejected_count(r) for r in Reason)
    count(over)
    assert sum(rejected_count(r) for r in Reason) == over_before  # counted as over_limit
