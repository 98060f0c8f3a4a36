"""The library's front door: network + snapshot in, traced carbon flow out.

These functions are what the command line, the hub's API and other helpers
call. They change the network they are given (the snapshot is written into
it and the power flow's results stay on it), so callers that keep a network
pass a copy; the loaders in ``hub.carbon.networks`` always build a fresh one.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandapower as pp

from hub.carbon.errors import CarbonInputError, Reason
from hub.carbon.flowgraph import FlowGraph, build_flow_graph
from hub.carbon.report import CarbonFlowReport, build_report
from hub.carbon.snapshot import Snapshot, apply_snapshot, parse_snapshot, source_intensities
from hub.carbon.tracing import CarbonFlow, LinearSolver, trace


@dataclass(frozen=True)
class Traced:
    """A solved snapshot: its flow graph and its carbon flow (arrays, for analysis)."""

    graph: FlowGraph
    flow: CarbonFlow
    vm_pu: np.ndarray


def run_power_flow(net: pp.pandapowerNet, dc: bool = False, **options: Any) -> None:
    """pandapower's AC power flow (Newton-Raphson), or with ``dc`` its DC power flow
    (``rundcpp``: lossless, flat voltages, as the literature's carbon-flow examples),
    refusals turned into one clear sentence."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            (pp.rundcpp if dc else pp.runpp)(net, **options)
    except pp.LoadflowNotConverged:
        raise CarbonInputError(
            Reason.NOT_CONVERGED,
            "the AC power flow did not converge for this snapshot (too much load or "
            "generation for the network?)",
            "snapshot",
        ) from None
    except CarbonInputError:
        raise
    except Exception as exc:  # pandapower refuses unusable networks with assorted errors
        raise CarbonInputError(
            Reason.BAD_NETWORK, f"the power flow refused the network: {exc}", "network"
        ) from None


def trace_solved(
    net: pp.pandapowerNet, snapshot: Snapshot | None = None, solver: LinearSolver | None = None
) -> Traced:
    """Trace a network whose power flow has already been run (intensities from ``snapshot``)."""
    snap = snapshot or Snapshot()
    g = build_flow_graph(net)
    e = source_intensities(snap, g.source_element, g.source_index, g.source_p)
    vm = net.res_bus["vm_pu"].to_numpy(dtype=float)
    return Traced(graph=g, flow=trace(g, e, solver), vm_pu=vm)


def trace_network(
    net: pp.pandapowerNet,
    snapshot: Snapshot | dict | None = None,
    solver: LinearSolver | None = None,
    dc: bool = False,
) -> Traced:
    """Apply the snapshot, run the AC (or, with ``dc``, DC) power flow and trace."""
    snap = parse_snapshot(snapshot)
    apply_snapshot(net, snap)
    run_power_flow(net, dc=dc)
    return trace_solved(net, snap, solver)


def report_network(
    net: pp.pandapowerNet,
    snapshot: Snapshot | dict | None = None,
    name: str = "network",
    solver: LinearSolver | None = None,
    dc: bool = False,
) -> CarbonFlowReport:
    """Like ``trace_network``, returned as the JSON-ready report."""
    t = trace_network(net, snapshot, solver, dc)
    return build_report(name, t.graph, t.flow, t.vm_pu)
