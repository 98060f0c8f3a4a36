"""Proportional-sharing upstream tracing of carbon emission flow (P3).

With F[i, j] the power flowing from node j into node i and T_j the gross
through-flow of node j,

    A_u = I - F diag(1/T),   P = A_u^-1 P_G,   R = A_u^-1 diag(P_G) E_G

P is the nodal through-flow (MW), R the nodal carbon flow rate (t CO2/h) and
R_i / P_i the nodal carbon intensity. Every outflow of node i (a branch, a
load, a virtual loss load) carries the share outflow / T_i of R_i.

T_j is taken as the sum of node j's outflows (branches, loads and virtual
loss loads). In an exact power flow it equals the sum of its inflows and
generation; the two differ by the power-flow mismatch. Taking the outflow sum
makes the shares of every node add up to exactly one, so "load carbon + loss
carbon = generator emissions" holds to round-off whatever the power-flow
tolerance, and the mismatch is reported instead of silently spread.

A_u is sparse with one entry per edge; it is factorised once with SuperLU
(``scipy.sparse.linalg.splu``) and never inverted. The loss carbon of each
generator needs the row sums of ``diag(s) A_u^-1`` over the virtual nodes,
which is one solve with the transpose on the same factorisation.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import splu

from hub.carbon.errors import CarbonInputError, Reason
from hub.carbon.flowgraph import FlowGraph

#: Largest tolerated power-balance error of a node, MW (plus 1e-9 of the total generation).
BALANCE_TOL_MW = 1e-4


class LinearSolver(Protocol):
    """Anything that solves A X = B for a sparse square A (outsourcing plugs in here)."""

    def solve(self, a: sp.csc_matrix, b: np.ndarray) -> np.ndarray: ...


@dataclass(frozen=True)
class CarbonFlow:
    """Result arrays of one trace, aligned with the arrays of its FlowGraph. Units: MW, t/h."""

    through_flow: np.ndarray  # P per node
    carbon_rate: np.ndarray  # R per node
    intensity: np.ndarray  # R/P per node, t/MWh; NaN where nothing flows
    source_intensity: np.ndarray
    source_emission: np.ndarray  # P_Gk E_Gk
    source_loss_carbon: np.ndarray  # carbon of each source that ends in branch losses
    sink_carbon: np.ndarray
    branch_carbon_in: np.ndarray
    branch_carbon_out: np.ndarray
    branch_loss_carbon: np.ndarray
    max_balance_error_mw: float

    @property
    def generator_emissions(self) -> float:
        return float(self.source_emission.sum())

    @property
    def load_carbon(self) -> float:
        return float(self.sink_carbon.sum())

    @property
    def loss_carbon(self) -> float:
        return float(self.branch_loss_carbon.sum())


def gross_throughflow(g: FlowGraph) -> np.ndarray:
    """T per node: the sum of its outflows (branches, sinks, virtual loss loads), MW."""
    t = np.bincount(g.edge_src, g.edge_flow, g.n_nodes)
    t += np.bincount(g.sink_node, g.sink_p, g.n_nodes)
    return t + g.virtual_loss


def tracing_matrix(g: FlowGraph, t: np.ndarray) -> sp.csc_matrix:
    """A_u = I - F diag(1/T) as a sparse CSC matrix (duplicate parallel edges add up)."""
    inv_t = np.divide(1.0, t, out=np.zeros_like(t), where=t > 0)
    n = g.n_nodes
    off = sp.csc_matrix((-g.edge_flow * inv_t[g.edge_src], (g.edge_dst, g.edge_src)), (n, n))
    return (sp.identity(n, format="csc") + off).tocsc()


def _check_balance(g: FlowGraph) -> float:
    err = float(np.max(np.abs(g.node_balance_error()), initial=0.0))
    tol = BALANCE_TOL_MW + 1e-9 * float(g.source_p.sum())
    if err > tol:
        node = int(np.argmax(np.abs(g.node_balance_error())))
        where = (
            f"bus {g.bus[np.nonzero(g.bus_node == node)[0][0]]}"
            if node < g.n_bus_nodes else "a branch"
        )
        raise CarbonInputError(
            Reason.UNBALANCED,
            f"power balance at {where} is off by {err:.3g} MW: the network has an element "
            "whose active power the tracer does not read, or the power flow did not settle",
            "network",
        )
    return err


def _solve_local(a: sp.csc_matrix, b: np.ndarray, s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    try:
        lu = splu(a)
    except RuntimeError as exc:  # SuperLU: "Factor is exactly singular"
        raise CarbonInputError(
            Reason.SINGULAR,
            f"the tracing matrix is singular ({exc}): some flows circulate without reaching a load",
            "network",
        ) from None
    return lu.solve(b), lu.solve(s, trans="T")


def _solve_with(solver: LinearSolver, a: sp.csc_matrix, b: np.ndarray, s: np.ndarray):
    """Both solves as one block system, so an outside solver sees one request per trace."""
    n = a.shape[0]
    block = sp.block_diag([a, a.T], format="csc")
    rhs = np.zeros((2 * n, b.shape[1] + 1))
    rhs[:n, : b.shape[1]] = b
    rhs[n:, b.shape[1]] = s
    x = solver.solve(block, rhs)
    return x[:n, : b.shape[1]], x[n:, b.shape[1]]


def trace(
    g: FlowGraph, source_intensity: np.ndarray, solver: LinearSolver | None = None
) -> CarbonFlow:
    """Trace the carbon of every source through the graph to loads and losses."""
    e = np.asarray(source_intensity, dtype=float)
    if e.shape != g.source_p.shape:
        raise ValueError(f"{len(e)} intensities for {len(g.source_p)} sources")
    balance = _check_balance(g)
    n = g.n_nodes
    t = gross_throughflow(g)
    a = tracing_matrix(g, t)
    emission = g.source_p * e
    rhs = np.column_stack([
        np.bincount(g.source_node, g.source_p, n) + g.virtual_gain,
        np.bincount(g.source_node, emission, n),
    ])
    inv_t = np.divide(1.0, t, out=np.zeros_like(t), where=t > 0)
    loss_share = g.virtual_loss * inv_t  # s_v: the loss's share of virtual node v
    if solver is None:
        x, y = _solve_local(a, rhs, loss_share)
    else:
        x, y = _solve_with(solver, a, rhs, loss_share)
    p, r = x[:, 0], x[:, 1]
    with np.errstate(divide="ignore", invalid="ignore"):
        intensity = np.where(p > 0, r / p, np.nan)
    share = r * inv_t  # carbon per MW leaving each node
    edge_carbon = g.edge_flow * share[g.edge_src]
    nb = len(g.branch_element)
    c_in = np.bincount(g.edge_branch, np.where(g.edge_role != 2, edge_carbon, 0.0), nb)
    c_out = np.bincount(g.edge_branch, np.where(g.edge_role != 1, edge_carbon, 0.0), nb)
    virt = g.branch_virtual >= 0
    c_loss = np.zeros(nb)
    c_loss[virt] = (g.virtual_loss * share)[g.branch_virtual[virt]]
    return CarbonFlow(
        through_flow=p,
        carbon_rate=r,
        intensity=intensity,
        source_intensity=e,
        source_emission=emission,
        source_loss_carbon=y[g.source_node] * emission,
        sink_carbon=g.sink_p * share[g.sink_node],
        branch_carbon_in=c_in,
        branch_carbon_out=c_out,
        branch_loss_carbon=c_loss,
        max_balance_error_mw=balance,
    )
