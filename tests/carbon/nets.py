"""Small hand-built networks whose carbon flow can be worked out on paper."""

from __future__ import annotations

import pandapower as pp


def two_source_feeder(r_ohm_per_km: float = 0.0) -> pp.pandapowerNet:
    """Grid at bus 0 -> line -> bus 1 (load 2 MW, PV 1 MW) -> line -> bus 2 (load 1 MW).

    With lossless lines, bus 1 takes 2 MW from the grid and 1 MW of PV, so its
    intensity is (2 * e_grid + 1 * e_pv) / 3, and bus 2 has the same.
    """
    net = pp.create_empty_network()
    b = [pp.create_bus(net, vn_kv=20.0) for _ in range(3)]
    pp.create_ext_grid(net, b[0], vm_pu=1.0)
    for f, t in ((0, 1), (1, 2)):
        pp.create_line_from_parameters(net, b[f], b[t], length_km=1.0, r_ohm_per_km=r_ohm_per_km,
                                       x_ohm_per_km=0.4, c_nf_per_km=0.0, max_i_ka=1.0)
    pp.create_load(net, b[1], p_mw=2.0, q_mvar=0.0)
    pp.create_load(net, b[2], p_mw=1.0, q_mvar=0.0)
    pp.create_sgen(net, b[1], p_mw=1.0, q_mvar=0.0)
    return net


def three_winding() -> pp.pandapowerNet:
    """A 110/20/10 kV three-winding transformer feeding a load on each lower side."""
    net = pp.create_empty_network()
    hv = pp.create_bus(net, vn_kv=110.0)
    mv = pp.create_bus(net, vn_kv=20.0)
    lv = pp.create_bus(net, vn_kv=10.0)
    pp.create_ext_grid(net, hv)
    pp.create_transformer3w(net, hv, mv, lv, std_type="63/25/38 MVA 110/20/10 kV")
    pp.create_load(net, mv, p_mw=8.0, q_mvar=2.0)
    pp.create_load(net, lv, p_mw=5.0, q_mvar=1.0)
    pp.create_sgen(net, mv, p_mw=3.0)
    return net


def shifted_export_chain(gen_mw: float = 300.0, load_mw: float = 150.0) -> pp.pandapowerNet:
    """A 100 km 110 kV chain from the grid (bus 0) to a generator (bus 10), and behind a
    Dyn5 transformer (150 degrees of phase shift) a 20 kV load.

    Hard for Newton-Raphson on purpose: the transformer's shift defeats a flat
    start, and the generator alone exporting 300 MW puts ~70 degrees across
    the lines, so an hour that reverses the flow (load on, generator off) is
    a poor start for the hour after.
    """
    net = pp.create_empty_network()
    b = [pp.create_bus(net, vn_kv=110.0) for _ in range(11)]
    pp.create_ext_grid(net, b[0], vm_pu=1.0)
    for i in range(10):
        pp.create_line_from_parameters(net, b[i], b[i + 1], length_km=10.0, r_ohm_per_km=0.05,
                                       x_ohm_per_km=0.4, c_nf_per_km=0.0, max_i_ka=2.0)
    lv = pp.create_bus(net, vn_kv=20.0)
    pp.create_transformer_from_parameters(net, b[10], lv, sn_mva=300.0, vn_hv_kv=110.0,
                                          vn_lv_kv=20.0, vk_percent=12.0, vkr_percent=0.3,
                                          pfe_kw=0.0, i0_percent=0.0, shift_degree=150.0)
    pp.create_load(net, lv, p_mw=load_mw, q_mvar=load_mw / 10)
    pp.create_gen(net, b[10], p_mw=gen_mw, vm_pu=1.0)
    return net
