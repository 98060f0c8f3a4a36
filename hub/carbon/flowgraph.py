"""A solved pandapower network reduced to what proportional sharing needs.

The graph has one node per electrical node of the power flow (buses joined by
closed bus-bus switches are one node, as in pandapower's own solve) and one
virtual node per lossy branch: the power entering a branch flows into its
virtual node, leaves it towards the receiving end, and the branch loss leaves
it as a virtual load (P3). A branch with more than two ends (a
three-winding transformer) always gets a virtual node, its star point.

Two things the papers leave open, decided here:
- A branch that delivers more than it takes in (negative loss, which occurs
  in equivalenced grids such as the PEGASE cases) has a virtual *source* of
  the surplus, with zero carbon: carbon is only ever emitted by generators,
  so the balance "load carbon + loss carbon = generator emissions" holds.
- A generator with negative output consumes (it is a sink at its bus) and a
  consumer with negative draw (load, shunt, storage...) is a source whose
  intensity the snapshot sets (``defaults.other``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandapower as pp

from hub.carbon.errors import CarbonInputError, Reason

#: Branches whose ends differ by less than this are lossless (MW): no virtual node.
LOSS_TOL_MW = 1e-9

#: Element tables read as generation (p_mw > 0 feeds in) and as consumption.
GENERATORS = ("ext_grid", "gen", "sgen")
CONSUMERS = ("load", "shunt", "ward", "xward", "storage", "motor")
#: Two-ended branches: table -> (bus columns, result power columns into the branch).
BRANCHES2 = {
    "line": (("from_bus", "to_bus"), ("p_from_mw", "p_to_mw")),
    "trafo": (("hv_bus", "lv_bus"), ("p_hv_mw", "p_lv_mw")),
    "impedance": (("from_bus", "to_bus"), ("p_from_mw", "p_to_mw")),
    "dcline": (("from_bus", "to_bus"), ("p_from_mw", "p_to_mw")),
    "tcsc": (("from_bus", "to_bus"), ("p_from_mw", "p_to_mw")),
}
BRANCHES3 = {
    "trafo3w": (("hv_bus", "mv_bus", "lv_bus"), ("p_hv_mw", "p_mv_mw", "p_lv_mw")),
}
#: In-service elements of these tables move active power in ways not traced here.
UNSUPPORTED = ("vsc", "b2b_vsc", "source_dc", "load_dc", "bus_dc")


@dataclass(frozen=True)
class FlowGraph:
    """Directed flows of one solved snapshot; nodes ``0..n_bus_nodes-1`` are electrical nodes.

    Every array is aligned within its group. Edge flows are >= 0 and go from
    ``edge_src`` to ``edge_dst``; ``edge_branch`` is the branch row the edge
    belongs to and ``edge_role`` is 0 for a lossless branch (in and out at
    once), 1 for an edge into a virtual node and 2 for one out of it.
    """

    n_nodes: int
    n_bus_nodes: int
    # per pandapower bus (in net.bus order)
    bus: np.ndarray
    bus_node: np.ndarray  # -1 when not energised
    # sources (generation, and consumers feeding in)
    source_element: np.ndarray
    source_index: np.ndarray
    source_bus: np.ndarray
    source_node: np.ndarray
    source_p: np.ndarray
    # sinks (consumption, and generators drawing power)
    sink_element: np.ndarray
    sink_index: np.ndarray
    sink_bus: np.ndarray
    sink_node: np.ndarray
    sink_p: np.ndarray
    # branches
    branch_element: np.ndarray
    branch_index: np.ndarray
    branch_buses: np.ndarray  # (n_branch, 3) pandapower buses, -1 for a missing third end
    branch_p: np.ndarray  # (n_branch, 3) power into the branch at each end, MW
    branch_loss: np.ndarray  # MW; negative when the branch delivers more than it takes
    branch_virtual: np.ndarray  # virtual node or -1
    # directed edges
    edge_src: np.ndarray
    edge_dst: np.ndarray
    edge_flow: np.ndarray
    edge_branch: np.ndarray
    edge_role: np.ndarray

    @property
    def virtual_loss(self) -> np.ndarray:
        """Loss of each virtual node's branch that is a sink (MW), indexed by virtual node."""
        out = np.zeros(self.n_nodes)
        v = self.branch_virtual >= 0
        out[self.branch_virtual[v]] = np.maximum(self.branch_loss[v], 0.0)
        return out

    @property
    def virtual_gain(self) -> np.ndarray:
        """Surplus of each virtual node's branch that is a (zero-carbon) source (MW)."""
        out = np.zeros(self.n_nodes)
        v = self.branch_virtual >= 0
        out[self.branch_virtual[v]] = np.maximum(-self.branch_loss[v], 0.0)
        return out

    def node_balance_error(self) -> np.ndarray:
        """Per node: (sources + inflows) - (sinks + outflows), MW; zero for an exact solve."""
        n = self.n_nodes
        # float: bincount of an empty weight array is int64 (a network with no flow at all)
        into = np.bincount(self.edge_dst, self.edge_flow, n).astype(float)
        into += np.bincount(self.source_node, self.source_p, n) + self.virtual_gain
        out = np.bincount(self.edge_src, self.edge_flow, n).astype(float)
        out += np.bincount(self.sink_node, self.sink_p, n) + self.virtual_loss
        return into - out


def _col(net: pp.pandapowerNet, table: str, column: str, rows) -> np.ndarray:
    """A result column aligned with the element table's rows, NaN read as 0."""
    res = net["res_" + table]
    values = res[column].reindex(rows).to_numpy(dtype=float)
    return np.nan_to_num(values, nan=0.0)


def _present(net: pp.pandapowerNet, table: str) -> bool:
    return table in net and len(net[table]) > 0 and ("res_" + table) in net


def _node_map(net: pp.pandapowerNet) -> tuple[np.ndarray, np.ndarray, int]:
    """pandapower bus indices, their node (-1 if dead), and the node count."""
    bus = net.bus.index.to_numpy()
    alive = net.bus["in_service"].to_numpy(dtype=bool)
    alive &= np.isfinite(net.res_bus["vm_pu"].reindex(net.bus.index).to_numpy(dtype=float))
    lookup = net._pd2ppc_lookups.get("bus") if hasattr(net, "_pd2ppc_lookups") else None
    raw = np.asarray(lookup)[bus] if lookup is not None else bus.copy()
    node = np.full(len(bus), -1, dtype=np.int64)
    _, node[alive] = np.unique(raw[alive], return_inverse=True)
    return bus, node, int(node.max() + 1) if alive.any() else 0


def build_flow_graph(net: pp.pandapowerNet) -> FlowGraph:
    """The flow graph of a network whose AC power flow has converged."""
    solved = getattr(net, "converged", False) and len(net.res_bus) == len(net.bus)
    if not solved or not np.isfinite(net.res_bus["vm_pu"].to_numpy(dtype=float)).any():
        raise CarbonInputError(
            Reason.NOT_CONVERGED, "the network has no converged power-flow results", "network"
        )
    for table in UNSUPPORTED:
        rows = net[table] if table in net else None
        if rows is None or not len(rows):
            continue
        if "in_service" not in rows or rows["in_service"].any():
            raise CarbonInputError(
                Reason.UNSUPPORTED_ELEMENT,
                f"in-service {table} elements are not supported by the tracer",
                f"network.{table}",
            )
    bus, bus_node, n_bus = _node_map(net)
    pos = np.full(int(bus.max()) + 1 if len(bus) else 1, -1, dtype=np.int64)
    pos[bus] = np.arange(len(bus))

    def node_of(buses: np.ndarray) -> np.ndarray:
        return np.where(buses >= 0, bus_node[pos[np.maximum(buses, 0)]], -1)

    # Elements: sign such that positive means "feeds in".
    el, ix, eb, ep = [], [], [], []
    for table, sign in [(t, 1.0) for t in GENERATORS] + [(t, -1.0) for t in CONSUMERS]:
        if not _present(net, table):
            continue
        rows = net[table].index
        el.append(np.full(len(rows), table, dtype=object))
        ix.append(rows.to_numpy())
        eb.append(net[table]["bus"].to_numpy(dtype=np.int64))
        ep.append(sign * _col(net, table, "p_mw", rows))
    el_a = np.concatenate(el) if el else np.empty(0, dtype=object)
    ix_a = np.concatenate(ix) if ix else np.empty(0, dtype=np.int64)
    eb_a = np.concatenate(eb) if eb else np.empty(0, dtype=np.int64)
    ep_a = np.concatenate(ep) if ep else np.empty(0)
    en_a = node_of(eb_a)
    live = en_a >= 0
    src = live & (ep_a > 0)
    snk = live & (ep_a < 0)

    # Branches, padded to three ends.
    be, bi, bb, bp = [], [], [], []
    for table, (bcols, pcols) in list(BRANCHES2.items()) + list(BRANCHES3.items()):
        if not _present(net, table):
            continue
        rows = net[table].index
        ends = np.full((len(rows), 3), -1, dtype=np.int64)
        power = np.zeros((len(rows), 3))
        for k, (bc, pc) in enumerate(zip(bcols, pcols, strict=True)):
            ends[:, k] = net[table][bc].to_numpy(dtype=np.int64)
            power[:, k] = _col(net, table, pc, rows)
        be.append(np.full(len(rows), table, dtype=object))
        bi.append(rows.to_numpy())
        bb.append(ends)
        bp.append(power)
    sw = _switch_branches(net, node_of)
    if sw is not None:
        be.append(sw[0]), bi.append(sw[1]), bb.append(sw[2]), bp.append(sw[3])
    b_el = np.concatenate(be) if be else np.empty(0, dtype=object)
    b_ix = np.concatenate(bi) if bi else np.empty(0, dtype=np.int64)
    b_bus = np.concatenate(bb) if bb else np.empty((0, 3), dtype=np.int64)
    b_p = np.concatenate(bp) if bp else np.empty((0, 3))
    b_node = node_of(b_bus.ravel()).reshape(b_bus.shape)
    b_p = np.where(b_node >= 0, b_p, 0.0)
    loss = b_p.sum(axis=1)
    three = b_bus[:, 2] >= 0
    virtual = (np.abs(loss) > LOSS_TOL_MW) | three
    b_virtual = np.full(len(b_el), -1, dtype=np.int64)
    b_virtual[virtual] = n_bus + np.arange(int(virtual.sum()))
    n_nodes = n_bus + int(virtual.sum())

    # Edges of virtual branches: every end that feeds in or draws out.
    rows, ends = np.nonzero(virtual[:, None] & (b_node >= 0) & (b_p != 0.0))
    p = b_p[rows, ends]
    vnode, enode = b_virtual[rows], b_node[rows, ends]
    into = p > 0
    e_src = [np.where(into, enode, vnode)]
    e_dst = [np.where(into, vnode, enode)]
    e_flow = [np.abs(p)]
    e_branch = [rows]
    e_role = [np.where(into, 1, 2)]
    # Lossless two-ended branches: one direct edge from the end that feeds in.
    direct = np.nonzero(~virtual & (b_node[:, 0] >= 0) & (b_node[:, 1] >= 0))[0]
    pf = b_p[direct, 0]
    fwd = pf > 0
    keep = pf != 0
    e_src.append(np.where(fwd, b_node[direct, 0], b_node[direct, 1])[keep])
    e_dst.append(np.where(fwd, b_node[direct, 1], b_node[direct, 0])[keep])
    e_flow.append(np.abs(pf)[keep])
    e_branch.append(direct[keep])
    e_role.append(np.zeros(int(keep.sum()), dtype=np.int64))

    return FlowGraph(
        n_nodes=n_nodes, n_bus_nodes=n_bus, bus=bus, bus_node=bus_node,
        source_element=el_a[src], source_index=ix_a[src], source_bus=eb_a[src],
        source_node=en_a[src], source_p=ep_a[src],
        sink_element=el_a[snk], sink_index=ix_a[snk], sink_bus=eb_a[snk],
        sink_node=en_a[snk], sink_p=-ep_a[snk],
        branch_element=b_el, branch_index=b_ix, branch_buses=b_bus, branch_p=b_p,
        branch_loss=loss, branch_virtual=b_virtual,
        edge_src=np.concatenate(e_src).astype(np.int64),
        edge_dst=np.concatenate(e_dst).astype(np.int64),
        edge_flow=np.concatenate(e_flow),
        edge_branch=np.concatenate(e_branch).astype(np.int64),
        edge_role=np.concatenate(e_role).astype(np.int64),
    )


def _switch_branches(net: pp.pandapowerNet, node_of):
    """Closed bus-bus switches that pandapower did not fuse (switches with impedance)."""
    if not _present(net, "switch") or "p_from_mw" not in net.res_switch:
        return None
    sw = net.switch
    sel = (sw["et"] == "b").to_numpy() & sw["closed"].to_numpy(dtype=bool)
    if not sel.any():
        return None
    rows = sw.index[sel]
    a = sw.loc[rows, "bus"].to_numpy(dtype=np.int64)
    b = sw.loc[rows, "element"].to_numpy(dtype=np.int64)
    apart = node_of(a) != node_of(b)
    if not apart.any():
        return None
    rows, a, b = rows[apart], a[apart], b[apart]
    ends = np.column_stack([a, b, np.full(len(rows), -1, dtype=np.int64)])
    power = np.column_stack(
        [_col(net, "switch", "p_from_mw", rows), _col(net, "switch", "p_to_mw", rows),
         np.zeros(len(rows))]
    )
    return np.full(len(rows), "switch", dtype=object), rows.to_numpy(), ends, power
