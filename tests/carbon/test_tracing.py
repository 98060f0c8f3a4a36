"""Invariants and hand-worked values of proportional-sharing carbon tracing (P3)."""

from __future__ import annotations

import numpy as np
import pandapower as pp
import pytest

from hub.carbon.analysis import report_network, run_power_flow, trace_network, trace_solved
from hub.carbon.errors import CarbonInputError, Reason, rejected_count
from hub.carbon.flowgraph import build_flow_graph
from hub.carbon.networks import load_case
from hub.carbon.report import apportion, build_report
from hub.carbon.tracing import gross_throughflow, tracing_matrix
from tests.carbon.nets import three_winding, two_source_feeder

REL = 1e-9


def balance_gap(flow) -> float:
    """|load carbon + loss carbon - generator emissions| relative to the emissions."""
    total = flow.generator_emissions
    return abs(flow.load_carbon + flow.loss_carbon - total) / total


@pytest.fixture(scope="module")
def ieee33():
    net = load_case("case33bw")
    run_power_flow(net)
    return net


def test_ieee33_base_case_matches_published_power_flow(ieee33):
    # Baran & Wu's 33-bus feeder: 202.7 kW of losses, minimum voltage 0.9131 pu at bus 18.
    losses_kw = 1000 * ieee33.res_line.pl_mw.sum()
    assert losses_kw == pytest.approx(202.7, abs=0.1)
    assert ieee33.res_bus.vm_pu.min() == pytest.approx(0.913, abs=1e-3)
    assert int(ieee33.res_bus.vm_pu.idxmin()) == 17  # bus 18 counted from 1


def test_ieee33_traced_losses_are_the_power_flow_losses(ieee33):
    t = trace_solved(ieee33)
    assert t.graph.virtual_loss.sum() == pytest.approx(ieee33.res_line.pl_mw.sum(), rel=1e-12)
    # every line of the feeder is lossy: one virtual node each
    assert t.graph.n_nodes == 33 + 32
    assert t.graph.n_bus_nodes == 33


def test_radial_feeder_with_one_source_has_its_intensity_everywhere(ieee33):
    t = trace_solved(ieee33, _snap(ext_grids={"0": {"t_per_mwh": 0.731}}))
    assert np.all(np.isfinite(t.flow.intensity))
    np.testing.assert_allclose(t.flow.intensity, 0.731, rtol=1e-12)
    # and every load carries that intensity, up to the power flow's own mismatch
    # (shares use the outflow sum T_i, which differs from P_i by the PF tolerance)
    np.testing.assert_allclose(t.flow.sink_carbon, 0.731 * t.graph.sink_p, rtol=1e-6)
    assert balance_gap(t.flow) < REL


def test_ieee33_with_pv_conserves_carbon_and_dilutes_downstream():
    net = load_case("case33bw")
    pp.create_sgen(net, 17, p_mw=0.4)  # PV at the feeder's far end
    pp.create_sgen(net, 32, p_mw=0.3)
    pp.create_sgen(net, 24, p_mw=0.2)
    t = trace_network(net, {"ext_grids": {"0": {"t_per_mwh": 0.6}},
                            "sgens": {"2": {"t_per_mwh": 0.9}}})
    f = t.flow
    assert balance_gap(f) < REL
    assert f.generator_emissions == pytest.approx(
        0.6 * net.res_ext_grid.p_mw.sum() + 0.9 * 0.2, rel=1e-12)
    node = t.graph.bus_node
    assert f.intensity[node[0]] == pytest.approx(0.6, rel=1e-12)
    # The end bus with 0.4 MW of zero-carbon PV and 0.09 MW of load takes nothing from
    # upstream: it is carbon-free, and where its export meets grid power they mix.
    assert f.intensity[node[17]] == 0.0
    e = f.intensity[: t.graph.n_bus_nodes]
    assert ((e > 0.0) & (e < 0.6 - 1e-6)).any()  # where PV meets grid power
    assert net.res_line.loc[net.line.to_bus == 17, "p_to_mw"].iloc[0] > 0  # it exports
    # per-source loss carbon and per-branch loss carbon add up to the same total
    assert f.source_loss_carbon.sum() == pytest.approx(f.loss_carbon, rel=1e-12)
    np.testing.assert_allclose(f.branch_carbon_in - f.branch_carbon_out, f.branch_loss_carbon,
                               atol=1e-12)


def test_two_sources_mix_in_proportion_on_lossless_lines():
    net = two_source_feeder()
    t = trace_network(net, {"ext_grids": {"0": {"t_per_mwh": 0.9}}, "sgens": {"0": {}}})
    g, f = t.graph, t.flow
    assert g.n_nodes == 3  # lossless lines: no virtual node
    e1 = (2.0 * 0.9 + 1.0 * 0.0) / 3.0
    assert f.intensity[g.bus_node[0]] == pytest.approx(0.9, rel=1e-9)
    assert f.intensity[g.bus_node[1]] == pytest.approx(e1, rel=1e-6)
    assert f.intensity[g.bus_node[2]] == pytest.approx(e1, rel=1e-6)
    assert f.through_flow[g.bus_node[1]] == pytest.approx(3.0, rel=1e-6)
    np.testing.assert_allclose(f.sink_carbon, [2.0 * e1, 1.0 * e1], rtol=1e-6)
    assert f.loss_carbon == 0.0


def test_negative_loss_branch_is_a_zero_carbon_virtual_source():
    net = two_source_feeder(r_ohm_per_km=-0.3)
    t = trace_network(net, {"ext_grids": {"0": {"t_per_mwh": 0.9}}})
    g, f = t.graph, t.flow
    assert (g.branch_loss < 0).all()
    assert g.virtual_gain.sum() == pytest.approx(-net.res_line.pl_mw.sum(), rel=1e-9)
    assert f.loss_carbon == 0.0
    assert balance_gap(f) < REL
    # the surplus dilutes: bus 2 is cleaner than bus 1 although it has no source of its own
    assert f.intensity[g.bus_node[2]] < f.intensity[g.bus_node[1]]


def test_three_winding_transformer_gets_a_star_point():
    net = three_winding()
    t = trace_network(net, {"ext_grids": {"0": {"t_per_mwh": 0.5}}})
    g, f = t.graph, t.flow
    assert g.n_nodes == 3 + 1
    rep = build_report("t3w", g, f)
    (br,) = rep.branches
    assert br.element == "trafo3w" and len(br.buses) == 3
    assert br.loss_mw == pytest.approx(net.res_trafo3w.pl_mw.iloc[0], rel=1e-9)
    assert balance_gap(f) < REL
    # MV gets grid power mixed with its own PV; LV only grid power through the star point.
    mv, lv = g.bus_node[1], g.bus_node[2]
    assert f.intensity[lv] == pytest.approx(0.5, rel=1e-9)
    assert f.intensity[mv] < 0.5


@pytest.mark.parametrize("case", ["case5", "case118"])
def test_meshed_cases_conserve_carbon(case):
    net = load_case(case)
    run_power_flow(net)
    rng = np.random.default_rng(7)
    g = build_flow_graph(net)
    snap = {"gens": {str(i): {"t_per_mwh": float(rng.uniform(0, 1.1))} for i in net.gen.index},
            "ext_grids": {"0": {"t_per_mwh": 0.95}}}
    t = trace_solved(net, _snap(**snap))
    f = t.flow
    assert balance_gap(f) < REL
    assert f.source_loss_carbon.sum() == pytest.approx(f.loss_carbon, rel=1e-12)
    # nodal intensities lie between the cleanest and the dirtiest source
    e = f.intensity[np.isfinite(f.intensity)]
    assert e.min() >= f.source_intensity.min() - 1e-12
    assert e.max() <= f.source_intensity.max() + 1e-12
    # the through-flow of every node equals its inflow plus generation (the PF balance)
    inflow = np.bincount(g.edge_dst, g.edge_flow, g.n_nodes)
    inflow += np.bincount(g.source_node, g.source_p, g.n_nodes) + g.virtual_gain
    np.testing.assert_allclose(f.through_flow, inflow, rtol=1e-6, atol=1e-6)


def test_zero_carbon_units_give_zero_carbon_everywhere():
    net = load_case("case118")
    snap = {"gens": {str(i): {"t_per_mwh": 0.0} for i in net.gen.index},
            "ext_grids": {"0": {"t_per_mwh": 0.0}}}
    t = trace_network(net, snap)
    f = t.flow
    assert f.generator_emissions == 0.0
    for arr in (f.carbon_rate, f.sink_carbon, f.branch_carbon_in, f.branch_loss_carbon,
                f.source_loss_carbon):
        assert np.all(arr == 0.0)
    assert np.all(f.intensity[np.isfinite(f.intensity)] == 0.0)
    rep = build_report("zero", t.graph, f)
    assert all(s.carbon_g_per_h == 0 for s in rep.sinks)


def test_sparse_solve_matches_the_textbook_formula_with_a_dense_inverse(ieee33):
    """R_Load_i = (P_Load_i / P_i) e_i^T A_u^-1 diag(P_G) E_G, written out on a small case."""
    pp.create_sgen(ieee33, 20, p_mw=0.25)
    try:
        run_power_flow(ieee33)
        t = trace_solved(ieee33, _snap(sgens={"0": {"t_per_mwh": 0.2}}))
    finally:
        ieee33.sgen.drop(ieee33.sgen.index, inplace=True)
        run_power_flow(ieee33)
    g, f = t.graph, t.flow
    n = g.n_nodes
    a_inv = np.linalg.inv(tracing_matrix(g, gross_throughflow(g)).toarray())
    p_g = np.bincount(g.source_node, g.source_p, n)
    pe = np.bincount(g.source_node, g.source_p * f.source_intensity, n)
    p = a_inv @ p_g
    r = a_inv @ pe
    np.testing.assert_allclose(f.through_flow, p, rtol=1e-10)
    np.testing.assert_allclose(f.carbon_rate, r, rtol=1e-10)
    expected = g.sink_p / p[g.sink_node] * r[g.sink_node]
    np.testing.assert_allclose(f.sink_carbon, expected, rtol=1e-6)  # P_i vs T_i: PF mismatch


def test_negative_generator_output_is_traced_as_a_sink():
    net = load_case("case89pegase")  # two gens run at negative output
    t = trace_network(net)
    g, f = t.graph, t.flow
    drawing = g.sink_element == "gen"
    assert drawing.sum() == (net.res_gen.p_mw < 0).sum() > 0
    assert np.all(f.sink_carbon[drawing] > 0)
    assert balance_gap(f) < REL


def test_report_grams_add_up_exactly():
    net = load_case("case118")
    rep = report_network(net, {"gens": {str(i): {"t_per_mwh": 0.3 + 0.01 * i}
                                        for i in net.gen.index}}, name="case118")
    tot = rep.totals
    assert sum(s.emission_g_per_h for s in rep.sources) == tot.generator_emissions_g_per_h
    assert sum(s.carbon_g_per_h for s in rep.sinks) == tot.load_carbon_g_per_h
    assert sum(b.loss_carbon_g_per_h for b in rep.branches) == tot.loss_carbon_g_per_h
    assert sum(s.loss_carbon_g_per_h for s in rep.sources) == tot.loss_carbon_g_per_h
    assert tot.load_carbon_g_per_h + tot.loss_carbon_g_per_h == tot.generator_emissions_g_per_h
    assert tot.generator_emissions_g_per_h == round(tot.generator_emissions_t_per_h * 1e6)
    for s in rep.sinks:
        assert abs(s.carbon_g_per_h - s.carbon_t_per_h * 1e6) <= 1.0
    assert len(rep.buses) == 118 and rep.totals.min_vm_pu is not None


def test_apportion_keeps_the_total_and_stays_within_one():
    values = np.array([0.4, 0.4, 0.4, 2.5, 7.7])
    out = apportion(values, 11)
    assert out.sum() == 11
    assert np.all(np.abs(out - values) < 1.0)
    assert apportion(np.array([0.5, 0.5]), 1).sum() == 1
    assert apportion(np.array([]), 0).size == 0
    for bad in (np.array([1.0, np.inf]), np.array([np.nan]), np.array([2.0**63])):
        with pytest.raises(OverflowError, match="beyond 64 bits"):  # never a wrapped number
            apportion(bad, 1)


def test_broken_power_balance_is_refused():
    net = load_case("case33bw")
    run_power_flow(net)
    net.res_load.loc[5, "p_mw"] += 0.05  # a result that no longer balances
    before = rejected_count(Reason.UNBALANCED)
    with pytest.raises(CarbonInputError, match="power balance at bus 6 is off by 0.05 MW"):
        trace_solved(net)
    assert rejected_count(Reason.UNBALANCED) == before


def test_unsolved_network_is_refused():
    net = load_case("case5")
    with pytest.raises(CarbonInputError, match="no converged power-flow results"):
        trace_solved(net)


def test_diverging_power_flow_is_refused_with_a_sentence():
    net = load_case("case33bw")
    before = rejected_count(Reason.NOT_CONVERGED)
    with pytest.raises(CarbonInputError, match="did not converge") as err:
        trace_network(net, {"loads": {"17": {"p_mw": 400.0}}})
    assert err.value.field == "snapshot"
    assert rejected_count(Reason.NOT_CONVERGED) == before


def test_out_of_service_bus_has_no_intensity():
    net = load_case("case33bw")
    net.line.loc[net.line.to_bus == 17, "in_service"] = False  # cut bus 17 off
    rep = report_network(net, name="cut")
    dead = next(b for b in rep.buses if b.bus == 17)
    assert dead.intensity_t_per_mwh is None and dead.through_flow_mw is None
    live = next(b for b in rep.buses if b.bus == 16)
    assert live.intensity_g_per_kwh == 500


def _snap(**kw):
    from hub.carbon.snapshot import parse_snapshot

    return parse_snapshot(kw)


def test_in_service_dc_converters_are_refused():
    import pandas as pd

    net = load_case("case5")
    run_power_flow(net)
    net["vsc"] = pd.DataFrame({"bus": [0], "in_service": [True]})
    before = rejected_count(Reason.UNSUPPORTED_ELEMENT)
    with pytest.raises(CarbonInputError, match="in-service vsc elements are not supported"):
        trace_solved(net)
    assert rejected_count(Reason.UNSUPPORTED_ELEMENT) == before


def test_switch_with_impedance_is_a_branch():
    net = two_source_feeder(r_ohm_per_km=0.2)
    extra = pp.create_bus(net, vn_kv=20.0)
    pp.create_switch(net, 2, extra, et="b", closed=True, z_ohm=0.5)
    pp.create_load(net, extra, p_mw=0.5)
    t = trace_network(net, {"ext_grids": {"0": {"t_per_mwh": 0.9}}})
    g, f = t.graph, t.flow
    assert g.bus_node[3] != g.bus_node[2]  # not fused: an impedance between them
    sw = g.branch_element == "switch"
    assert sw.sum() == 1 and g.branch_loss[sw][0] > 0
    assert f.branch_loss_carbon[sw][0] > 0
    assert balance_gap(f) < REL


def test_the_unvalidated_report_rows_equal_validated_ones():
    """build_report skips re-validating its own rows; a validated copy must be equal."""
    from hub.carbon.analysis import report_network
    from hub.carbon.report import CarbonFlowReport

    rep = report_network(load_case("case118"), name="case118")
    again = CarbonFlowReport.model_validate(rep.model_dump())
    assert again == rep
    assert again.model_dump_json() == rep.model_dump_json()
    assert isinstance(rep.branches[0].carbon_in_g_per_h, int)


def test_nullable_columns_give_none_where_not_finite_and_refuse_beyond_64_bits():
    from hub.carbon.report import _nullable

    x = np.array([1.4, np.nan, np.inf, -2.6, 2.5])
    assert _nullable(x) == [1.4, None, None, -2.6, 2.5]
    got = _nullable(x, as_int=True)
    assert got == [1, None, None, -3, 2]  # numpy rounds halves to even, as np.round did before
    assert all(type(v) is int for v in got if v is not None)
    assert _nullable(np.array([2.0**62]), as_int=True) == [2**62]
    with pytest.raises(OverflowError):
        _nullable(np.array([1.0, 2.0**63]), as_int=True)
