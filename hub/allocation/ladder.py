"""Ladder carbon price (P1): allocations -> carbon costs -> price adders.

Within one type (generators, or loads), with a_min and a_avg the minimum and
mean allocation, the default two tiers give
  C_i = p_low * clamp(phi_i - a_min, 0, a_avg - a_min) + p_high * max(phi_i - a_avg, 0).
Tiers generalise this: tier j starts at a_min + f_j * (a_avg - a_min) and
charges p_j per tonne up to the start of tier j+1 (the last is open-ended);
the default ``((0, 20), (1, 40))`` is exactly the formula above.

Units and exactness: $/t is numerically micro-$/g, so with phi in grams the
cost C_i in micro-currency is p * phi. The adder is C_i / q_i per kWh, i.e.
C_i * 1000 / q_i micro-currency per kWh, computed as an exact fraction and
rounded to the nearest integer, halves up (the adder feeds an integer
clearing; the error is at most half a micro-currency per kWh). Sampled
allocations (floats) are converted to exact fractions first, so the same
input always gives the same integers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

from edge.market.clearing import LIMIT
from hub.allocation.market import Entity, Market, Outcome
from hub.allocation.owen import OwenResult

Tiers = tuple[tuple[Fraction, Fraction], ...]
DEFAULT_TIERS: Tiers = ((Fraction(0), Fraction(20)), (Fraction(1), Fraction(40)))
MG_PER_G = 1000


def make_tiers(p_low: object = 20, p_high: object = 40,
               tiers: Sequence[Sequence[object]] | None = None) -> Tiers:
    """Tiers from (fraction, $/t) pairs, or P1's two tiers from p_low and p_high.

    Numbers may be ints, decimal strings or floats (read as their decimal text).
    """
    raw = tiers if tiers is not None else ((0, p_low), (1, p_high))
    out = []
    for j, pair in enumerate(raw):
        if len(pair) != 2:
            raise ValueError(f"tiers[{j}]: expected [fraction, price_per_t]")
        f, p = (_exact(x, f"tiers[{j}]") for x in pair)
        if p < 0:
            raise ValueError(f"tiers[{j}]: price_per_t must be >= 0, got {p}")
        if f < 0:
            raise ValueError(f"tiers[{j}]: fraction must be >= 0, got {f}")
        if out and f <= out[-1][0]:
            raise ValueError(f"tiers[{j}]: fractions must increase")
        out.append((f, p))
    if not out:
        raise ValueError("tiers: at least one tier is needed")
    return tuple(out)


def _exact(x: object, where: str) -> Fraction:
    if isinstance(x, bool):
        raise ValueError(f"{where}: {x!r} is not a number")
    try:
        return Fraction(x) if isinstance(x, (int, Fraction)) else Fraction(str(x))
    except (ValueError, ZeroDivisionError):
        raise ValueError(f"{where}: {x!r} is not a number") from None


def carbon_costs(phi_g: Sequence[Fraction], tiers: Tiers = DEFAULT_TIERS) -> list[Fraction]:
    """Progressive carbon cost (micro-currency) of each allocation of one type (grams)."""
    if not phi_g:
        return []
    a_min = min(phi_g)
    a_avg = sum(phi_g, Fraction(0)) / len(phi_g)
    span = a_avg - a_min
    starts = [a_min + f * span for f, _ in tiers]
    out = []
    for phi in phi_g:
        cost = Fraction(0)
        for j, (_, price) in enumerate(tiers):
            lo = starts[j]
            hi = starts[j + 1] if j + 1 < len(tiers) else None
            amount = phi - lo if hi is None else min(phi, hi) - lo
            if amount > 0:
                cost += price * amount
        out.append(cost)
    return out


def round_half_up(x: Fraction) -> int:
    return int((x + Fraction(1, 2)).__floor__())


def adder(cost_micro: Fraction, q_wh: int) -> int:
    """Integer micro-currency per kWh for a cost spread over q_wh (0 when q_wh is 0)."""
    return round_half_up(cost_micro * 1000 / q_wh) if q_wh > 0 else 0


@dataclass(frozen=True)
class Row:
    entity: Entity
    allocation_g: Fraction
    cost_micro: Fraction
    q_wh: int
    adder: int
    new_price: int


@dataclass(frozen=True)
class LadderResult:
    rows: tuple[Row, ...]
    blind: Outcome
    revised: Outcome
    revised_market: Market
    stats: dict[str, tuple[Fraction, Fraction]]  # side -> (a_min, a_avg) in grams

    def adders(self) -> dict[str, int]:
        return {r.entity.id: r.adder for r in self.rows}


def ladder(
    market: Market,
    allocation: OwenResult,
    tiers: Tiers = DEFAULT_TIERS,
    blind: Outcome | None = None,
) -> LadderResult:
    """Carbon costs, adders and revised quotations, and the market cleared again.

    ``allocation`` must be the Owen value of ``MarketGame(market)`` (mg CO2
    per player, players in ``market.entities`` order).
    """
    ents = market.entities
    if allocation.structure.players != tuple(e.id for e in ents):
        raise ValueError("allocation: its players are not this market's entities")
    blind = blind if blind is not None else market.clear()
    phi_g = [_exact(v, "allocation") / MG_PER_G for v in allocation.values]
    rows: list[Row] = []
    stats: dict[str, tuple[Fraction, Fraction]] = {}
    for side in ("gen", "load"):
        idx = [i for i, e in enumerate(ents) if e.side == side]
        vals = [phi_g[i] for i in idx]
        if vals:
            stats[side] = (min(vals), sum(vals, Fraction(0)) / len(vals))
        for i, cost in zip(idx, carbon_costs(vals, tiers), strict=True):
            e = ents[i]
            cleared = (blind.gen_wh if side == "gen" else blind.load_wh)[e.id]
            q = cleared if cleared > 0 else e.qmax_wh
            a = adder(cost, q)
            if side == "gen":
                new = e.price + a
                if new >= LIMIT:
                    raise ValueError(f"generator {e.id!r}: offer plus adder {new} exceeds 2^31-1")
            else:
                new = max(e.price - a, 0)  # a bid never goes below zero
            rows.append(Row(e, phi_g[i], cost, q, a, new))
    order = {e.id: i for i, e in enumerate(ents)}
    rows.sort(key=lambda r: order[r.entity.id])
    revised_market = market.with_prices({r.entity.id: r.new_price for r in rows})
    return LadderResult(tuple(rows), blind, revised_market.clear(), revised_market, stats)
