"""Power flows of consecutive hours of one network: each started from the hour before.

A series changes only loads and set-points from one hour to the next, so the
previous hour's voltages are a far better first guess than a cold start, and
the admittance matrices stay the same. pandapower can reuse both
(``runpp(recycle=...)``: the stored Ybus, and the stored voltages as the
start): on case9241pegase that takes Newton-Raphson from 5 iterations to 2-3
and skips rebuilding pandapower's internal case, about a third of a power
flow (docs/carbon-flow.md).

The start is chosen by rules that depend only on the hours of one chunk, in
order, so a chunk's results are the same wherever it runs (hub.cluster):

- the first hour of a ``HourSolver`` is *cold*: pandapower's internal case
  rebuilt from the network, voltage angles from a DC power flow and
  magnitudes flat (pandapower's ``init="dc"``, which is also what a plain
  ``runpp`` does on a network whose voltage angles are computed; a flat
  start fails on meshed transmission cases with phase-shifting
  transformers, case9241pegase included);
- every later hour is *warm*: the previous converged hour's voltages and
  admittance matrices;
- a warm start that fails (a jump in the profile, a reversal of flows) is
  retried cold before the hour is given up, and after a failed hour the
  next one starts cold, never from a diverged iterate.

A hour that fails both is the caller's to report. No start rescues an hour
without a solution (e.g. load scaled far below generation that stays put,
which collapses the voltage where the slack absorbs the surplus).
"""

from __future__ import annotations

from typing import Literal

import pandapower as pp

from hub.carbon.analysis import run_power_flow
from hub.carbon.errors import CarbonInputError

#: What pandapower rebuilds each warm hour: bus injections (loads, sgens, storage...) and the
#: gens' set-points; the branches' admittances are kept (a series changes no tap or switch).
RECYCLE = {"bus_pq": True, "gen": True, "trafo": False}

Start = Literal["warm", "cold"]


class HourSolver:
    """AC power flows of successive hours on one network, warm-started where it helps."""

    def __init__(self, net: pp.pandapowerNet) -> None:
        self.net = net
        self.warm = False  # the net holds a converged hour's stored state

    def solve(self) -> Start:
        """Run this hour's power flow; returns the start that converged.

        Raises the cold start's CarbonInputError when neither converges.
        """
        if self.warm:
            try:
                run_power_flow(self.net, recycle=RECYCLE)
                return "warm"
            except CarbonInputError:
                pass  # retried cold below; a failure is only reported from a cold start
        self.warm = False
        self.reset()
        run_power_flow(self.net, init="dc", recycle=RECYCLE)
        self.warm = True
        return "cold"

    def reset(self) -> None:
        """Forget pandapower's stored case and voltages: the next power flow starts cold.

        Also what makes a chunk independent of the hours run before it on the
        same network (the serial run reuses one network for every chunk).
        """
        self.net["_ppc"] = None
        self.warm = False
