"""A one-interval P1 market as a cooperative game: v(S) = emissions with only S.

Units are the project's integers: energy in Wh per interval, prices in
micro-currency per kWh, intensities in g CO2 per kWh (numerically kg/MWh, so
0.95 tCO2/MWh is 950). Emissions are then ``Wh * g/kWh`` = milligrams, an
exact integer: v(S) is in mg CO2 and the Owen values are exact fractions of it.

Clearing a coalition:
- no generator or no load in S: v = 0 at once (the papers' "filter of
  infeasible combinations"); nothing can trade, so this only saves time;
- otherwise the edge's own ``merit_order`` (identical rules, relaxation of
  minimums included) gives the copper-plate dispatch; with a network, its
  flows are checked against the line limits and, if one is exceeded, the DC
  OPF LP clears S instead, relaxing the minimums of S when they cannot be met
  within the limits. A merit-order dispatch that respects the limits is the
  LP's unique optimum (see dcopf), so the shortcut never changes v(S).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Literal

import numpy as np

from edge.market.clearing import LIMIT, Unit, merit_order
from hub.allocation import dcopf
from hub.allocation.game import GameError, Structure

Side = Literal["gen", "load"]
#: Slack on line-limit checks of a merit-order dispatch, in Wh (float flows).
FLOW_TOL_WH = 1e-6


@dataclass(frozen=True)
class Entity:
    """A generator (offer ``price``) or a load (bid ``price``) of one region."""

    id: str
    side: Side
    region: str
    qmin_wh: int
    qmax_wh: int
    price: int
    intensity_g_per_kwh: int = 0
    bus: str = ""
    tech: str = ""

    @property
    def node(self) -> str:
        return self.bus or self.region


@dataclass(frozen=True)
class Outcome:
    """Dispatch of one clearing, every entity listed (0 when idle)."""

    gen_wh: dict[str, int]
    load_wh: dict[str, int]
    relaxed: bool
    network_lp: bool  # True when the line limits forced the LP

    @property
    def volume_wh(self) -> int:
        return sum(self.gen_wh.values())


@dataclass(frozen=True)
class Market:
    generators: tuple[Entity, ...]
    loads: tuple[Entity, ...]
    network: dcopf.Network | None = None
    interval_s: int = 3600
    regions: tuple[str, ...] = ()
    _cache: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.regions:
            seen: dict[str, None] = {}
            for e in self.entities:
                seen.setdefault(e.region, None)
            object.__setattr__(self, "regions", tuple(seen))
        ids = [e.id for e in self.entities]
        if len(set(ids)) != len(ids):
            dup = sorted({i for i in ids if ids.count(i) > 1})
            raise GameError(f"entities: duplicate id(s) {', '.join(dup)} (ids are player names)")
        for e in self.entities:
            if e.region not in self.regions:
                raise GameError(f"{e.side} {e.id!r}: region {e.region!r} is not in regions")
            if e.side == "gen" and e.intensity_g_per_kwh < 0:
                raise GameError(f"generator {e.id!r}: intensity_g_per_kwh must be >= 0")
            if not 0 <= e.qmin_wh <= e.qmax_wh < LIMIT:
                raise GameError(f"{e.side} {e.id!r}: need 0 <= qmin_wh <= qmax_wh < 2^31")
            if not 0 <= e.price < LIMIT:
                raise GameError(f"{e.side} {e.id!r}: price must be in [0, 2^31)")
            if self.network is not None and e.node not in self.network.index:
                raise GameError(f"{e.side} {e.id!r}: bus {e.node!r} is not a network bus")
        if self.interval_s <= 0:
            raise GameError("interval_s must be > 0")

    @property
    def entities(self) -> tuple[Entity, ...]:
        """Players in index order: generators, then loads."""
        return self.generators + self.loads

    def structure(self) -> Structure:
        ents = self.entities
        unions = tuple(
            tuple(i for i, e in enumerate(ents) if e.region == r) for r in self.regions
        )
        keep = [k for k, u in enumerate(unions) if u]
        return Structure(
            tuple(e.id for e in ents),
            tuple(self.regions[k] for k in keep),
            tuple(unions[k] for k in keep),
        )

    def with_prices(self, prices: Mapping[str, int]) -> Market:
        """The same market with new quotations for the entities named."""
        def upd(e: Entity) -> Entity:
            return replace(e, price=prices[e.id]) if e.id in prices else e

        return Market(
            tuple(upd(e) for e in self.generators),
            tuple(upd(e) for e in self.loads),
            self.network,
            self.interval_s,
            self.regions,
        )

    def _units(self) -> tuple[list[Unit], list[Unit], list[dcopf.LpUnit], list[dcopf.LpUnit]]:
        """Edge units and LP units of every entity, built once per market."""
        if "units" not in self._cache:
            g, ld = self.generators, self.loads
            gu = [Unit(e.id, e.qmin_wh, e.qmax_wh, e.price, s) for s, e in enumerate(g)]
            lu = [Unit(e.id, e.qmin_wh, e.qmax_wh, e.price, s) for s, e in enumerate(ld)]
            k = 2 * (len(g) + len(ld)) + 2
            grank = {u.id: r for r, u in enumerate(sorted(gu, key=lambda u: (u.price, u.seq)))}
            lrank = {u.id: r for r, u in enumerate(sorted(lu, key=lambda u: (-u.price, u.seq)))}
            bus = self.network.index if self.network is not None else {}
            glp = [dcopf.LpUnit(e.qmin_wh, e.qmax_wh, bus.get(e.node, 0),
                                e.price * k + grank[e.id]) for e in g]
            llp = [dcopf.LpUnit(e.qmin_wh, e.qmax_wh, bus.get(e.node, 0),
                                e.price * k + k - 1 - lrank[e.id]) for e in ld]
            self._cache["units"] = (gu, lu, glp, llp)
        return self._cache["units"]

    def clear(self, mask: int | None = None) -> Outcome:
        """Clear the market with only the entities in ``mask`` (all when None)."""
        ng = len(self.generators)
        n = ng + len(self.loads)
        if mask is None:
            mask = (1 << n) - 1
        gi = [i for i in range(ng) if mask >> i & 1]
        li = [i - ng for i in range(ng, n) if mask >> i & 1]
        gu, lu, glp, llp = self._units()
        d = merit_order([gu[i] for i in gi], [lu[i] for i in li])
        gen_wh = {e.id: 0 for e in self.generators}
        load_wh = {e.id: 0 for e in self.loads}
        gen_wh.update(d.gen_wh)
        load_wh.update(d.load_wh)
        if self.network is None or not self.network.limited() or not gi or not li:
            return Outcome(gen_wh, load_wh, d.relaxed, False)
        if self._within_limits(gen_wh, load_wh):
            return Outcome(gen_wh, load_wh, d.relaxed, False)
        relaxed = False
        got = dcopf.solve(self.network, [glp[i] for i in gi], [llp[i] for i in li],
                          self.interval_s)
        if got is None:
            relaxed = True
            got = dcopf.solve(
                self.network,
                [replace(glp[i], qmin_wh=0) for i in gi],
                [replace(llp[i], qmin_wh=0) for i in li],
                self.interval_s,
            )
            assert got is not None  # zero dispatch is always feasible
        gq, lq = got
        for i, q in zip(gi, gq, strict=True):
            gen_wh[self.generators[i].id] = q
        for i, q in zip(li, lq, strict=True):
            load_wh[self.loads[i].id] = q
        return Outcome(gen_wh, load_wh, relaxed, True)

    def flows_wh(self, out: Outcome) -> np.ndarray:
        """Flow on every line (Wh per interval, from -> to) of a dispatch."""
        if self.network is None:
            return np.zeros(0)
        idx = self.network.index
        inj = np.zeros(len(self.network.buses))
        for e in self.generators:
            inj[idx[e.node]] += out.gen_wh[e.id]
        for e in self.loads:
            inj[idx[e.node]] -= out.load_wh[e.id]
        return self.network.ptdf @ inj

    def _within_limits(self, gen_wh: Mapping[str, int], load_wh: Mapping[str, int]) -> bool:
        assert self.network is not None
        flows = self.flows_wh(Outcome(dict(gen_wh), dict(load_wh), False, False))
        lim = self.network.limited()
        cap = self.network.limits_wh(self.interval_s)
        return bool(np.all(np.abs(flows[lim]) <= cap + FLOW_TOL_WH))

    def emissions_mg(self, out: Outcome) -> int:
        return sum(out.gen_wh[e.id] * e.intensity_g_per_kwh for e in self.generators)

    def use_by_tech(self, out: Outcome) -> dict[str, int]:
        """Generation (Wh) per technology label; untagged units count as 'other'."""
        use: dict[str, int] = {}
        for e in self.generators:
            key = e.tech or "other"
            use[key] = use.get(key, 0) + out.gen_wh[e.id]
        return use


@dataclass
class MarketGame:
    """v(S) = emissions (mg CO2) of the market cleared with only S."""

    market: Market
    structure: Structure = field(init=False)
    cleared: int = 0  # coalitions that needed a clearing (not the trivial fast path)

    def __post_init__(self) -> None:
        self.structure = self.market.structure()
        ng = len(self.market.generators)
        n = self.structure.n
        self._gen_mask = (1 << ng) - 1
        self._load_mask = ((1 << n) - 1) ^ self._gen_mask

    def value(self, mask: int) -> int:
        if not mask & self._gen_mask or not mask & self._load_mask:
            return 0
        self.cleared += 1
        return self.market.emissions_mg(self.market.clear(mask))

