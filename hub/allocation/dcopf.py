"""DC network and the network-constrained clearing LP (PTDF form, scipy HiGHS).

The network is the lossless DC approximation: line flows are PTDF times the
bus injections, with the slack bus taking the balance. Only lines with a
limit become LP rows, so the PJM five-bus case is an LP with one equality
and four inequalities whatever the number of entities.

Why PTDF rather than angles: the hub clears the same network thousands of
times (once per coalition), the PTDF matrix is computed once, and a
candidate dispatch can be checked against the limits with one small
matrix-vector product before any LP is built (see ``market.clear``).

Tie-breaking. v(S) must not depend on which of several equally good
dispatches a solver returns, and it must equal the edge's merit order when
no line binds. The objective therefore uses perturbed prices: an offer c at
merit rank r (price asc, seq asc) costs c*K + r, a bid b at rank r (price
desc, seq asc) is worth b*K + K-1-r, with K = 2*(units)+2. Between different
integer prices the order is unchanged; equal prices are ordered by seq; and a
bid equal to an offer still trades, exactly as in the merit order's
"ask <= bid". All perturbed prices differ, so the copper-plate optimum is
unique and is the merit order's dispatch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import linprog


@dataclass(frozen=True)
class Line:
    id: str
    from_bus: str
    to_bus: str
    x: float
    limit_w: int | None = None  # None: unlimited


@dataclass(frozen=True)
class Network:
    """Buses and lines; ``ptdf[l, b]`` = flow on line l per unit injected at bus b."""

    buses: tuple[str, ...]
    lines: tuple[Line, ...]
    slack: str
    ptdf: np.ndarray = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        index = {b: i for i, b in enumerate(self.buses)}
        if len(index) != len(self.buses):
            raise ValueError("network.buses: duplicate bus name")
        if self.slack not in index:
            raise ValueError(f"network.slack: {self.slack!r} is not a bus")
        for ln in self.lines:
            for end in (ln.from_bus, ln.to_bus):
                if end not in index:
                    raise ValueError(f"network.lines[{ln.id}]: unknown bus {end!r}")
            if ln.from_bus == ln.to_bus:
                raise ValueError(f"network.lines[{ln.id}]: both ends at bus {ln.from_bus!r}")
            if not ln.x > 0:
                raise ValueError(f"network.lines[{ln.id}]: reactance x must be > 0")
            if ln.limit_w is not None and ln.limit_w < 0:
                raise ValueError(f"network.lines[{ln.id}]: limit_w must be >= 0")
        _check_connected(self.buses, self.lines)
        object.__setattr__(self, "ptdf", _ptdf(self.buses, self.lines, index[self.slack]))

    @property
    def index(self) -> dict[str, int]:
        return {b: i for i, b in enumerate(self.buses)}

    def limited(self) -> list[int]:
        return [k for k, ln in enumerate(self.lines) if ln.limit_w is not None]

    def limits_wh(self, interval_s: int) -> np.ndarray:
        """Line limits as energy per interval (W * s / 3600), for the limited lines."""
        return np.array(
            [self.lines[k].limit_w * interval_s / 3600 for k in self.limited()], dtype=float
        )


def _check_connected(buses: Sequence[str], lines: Sequence[Line]) -> None:
    adj: dict[str, set[str]] = {b: set() for b in buses}
    for ln in lines:
        adj[ln.from_bus].add(ln.to_bus)
        adj[ln.to_bus].add(ln.from_bus)
    seen = {buses[0]}
    todo = [buses[0]]
    while todo:
        for nb in adj[todo.pop()]:
            if nb not in seen:
                seen.add(nb)
                todo.append(nb)
    if len(seen) != len(buses):
        cut = sorted(set(buses) - seen)
        raise ValueError(f"network: buses {', '.join(cut)} are not connected to {buses[0]!r}")


def _ptdf(buses: Sequence[str], lines: Sequence[Line], slack: int) -> np.ndarray:
    nb, nl = len(buses), len(lines)
    index = {b: i for i, b in enumerate(buses)}
    inc = np.zeros((nl, nb))
    for k, ln in enumerate(lines):
        inc[k, index[ln.from_bus]] = 1.0
        inc[k, index[ln.to_bus]] = -1.0
    bdiag = np.diag([1.0 / ln.x for ln in lines])
    bbus = inc.T @ bdiag @ inc
    keep = [i for i in range(nb) if i != slack]
    ptdf = np.zeros((nl, nb))
    # Solve rather than invert: theta = B_red^-1 P for unit injections at every non-slack bus.
    theta = np.linalg.solve(bbus[np.ix_(keep, keep)], np.eye(nb - 1))
    ptdf[:, keep] = bdiag @ inc[:, keep] @ theta
    return ptdf


@dataclass(frozen=True)
class LpUnit:
    """One unit as the LP sees it: bounds in Wh, bus index and perturbed price."""

    qmin_wh: int
    qmax_wh: int
    bus: int
    cost: int  # perturbed offer (generators) or perturbed bid (loads)


def solve(
    network: Network,
    gens: Sequence[LpUnit],
    loads: Sequence[LpUnit],
    interval_s: int,
) -> tuple[list[int], list[int]] | None:
    """Welfare-maximising dispatch within line limits, in integer Wh; None if infeasible.

    The LP runs in scaled units (largest bound = 1000) so HiGHS's absolute
    tolerances stay far below one Wh; the answer is rounded to whole Wh and
    the rounding residue (a few Wh at most) is put on the marginal units so
    generation equals load exactly. Flows may then exceed a limit by that
    residue; this is documented in docs/owen.md.
    """
    units = list(gens) + list(loads)
    if not units:
        return [], []
    scale = max(max(u.qmax_wh for u in units), 1) / 1000.0
    ng = len(gens)
    sign = np.array([1.0] * ng + [-1.0] * len(loads))
    c = np.array([u.cost for u in gens] + [-u.cost for u in loads], dtype=float)
    bounds = [(u.qmin_wh / scale, u.qmax_wh / scale) for u in units]
    a_eq = sign[None, :]
    lim = network.limited()
    a_ub = b_ub = None
    if lim:
        bus = np.array([u.bus for u in units])
        rows = network.ptdf[lim][:, bus] * sign[None, :]
        cap = network.limits_wh(interval_s) / scale
        a_ub = np.vstack([rows, -rows])
        b_ub = np.concatenate([cap, cap])
    res = linprog(c, A_ub=a_ub, b_ub=b_ub, A_eq=a_eq, b_eq=[0.0], bounds=bounds,
                  method="highs")
    if res.status == 2:
        return None
    if res.status != 0:
        raise RuntimeError(f"network clearing LP failed: {res.message}")
    x = [min(max(round(v * scale), u.qmin_wh), u.qmax_wh)
         for v, u in zip(res.x, units, strict=True)]
    _balance(x, units, ng)
    return x[:ng], x[ng:]


def _balance(x: list[int], units: Sequence[LpUnit], ng: int) -> None:
    """Move the rounding residue onto units with room, dearest generator first."""
    diff = sum(x[:ng]) - sum(x[ng:])
    gen_order = sorted(range(ng), key=lambda i: -units[i].cost)
    load_order = sorted(range(ng, len(units)), key=lambda i: -units[i].cost)
    for i in gen_order if diff > 0 else []:
        step = min(diff, x[i] - units[i].qmin_wh)
        x[i] -= step
        diff -= step
    for i in load_order if diff > 0 else []:
        step = min(diff, units[i].qmax_wh - x[i])
        x[i] += step
        diff -= step
    for i in reversed(gen_order) if diff < 0 else []:
        step = min(-diff, units[i].qmax_wh - x[i])
        x[i] += step
        diff += step
    for i in reversed(load_order) if diff < 0 else []:
        step = min(-diff, x[i] - units[i].qmin_wh)
        x[i] -= step
        diff += step
    if diff:
        raise RuntimeError("network clearing: rounding residue could not be balanced")
