"""Emissions of an interval's dispatch with and without the carbon adders.

The edge clears each interval with the carbon adders of the hub's newest
price signal (edge.market.book.apply_adders: a seller's offer + its adder, a
buyer's bid - its adder). The counterfactual clears the same binding quotes
without them, with the same rule (clear_uniform). Both dispatches are then
costed the same way: what each seller delivers at its own intensity, and the
buyers' demand the market left unserved from the upstream grid. A seller's
intensity is the one the hub's allocation uses in the simulator: 0 g/kWh for
a gateway with PV (its surplus is PV), the market's default for one without
(it sells from a battery charged from the grid).

Emissions here are reported figures, never hashed or cleared: grams come out
as exact integer Wh x g/kWh, divided by 1000 once at the end.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from edge.market.book import apply_adders
from edge.market.clearing import Clearing, Order, clear_uniform


@dataclass(frozen=True)
class Dispatch:
    """One clearing of an interval and what it emits."""

    price: int | None          # micro-currency per kWh, in the terms it was cleared in
    volume_wh: int
    emissions_g: float


def emissions_g(orders: Sequence[Order], clearing: Clearing, intensity: Mapping[str, int],
                grid_g_kwh: int) -> float:
    """g CO2 of serving the buyers' demand with this clearing: the sellers' fills at their
    intensity, what the buyers asked for and did not get from the grid."""
    sold = sum(f.qty_wh * intensity[o.id] for o, f in zip(orders, clearing.fills, strict=True)
               if o.side == "sell")
    demand = sum(o.qty_wh for o in orders if o.side == "buy")
    return (sold + (demand - clearing.volume_wh) * grid_g_kwh) / 1000


def with_and_without(orders: Sequence[Order], adders: Mapping[str, int],
                     intensity: Mapping[str, int], grid_g_kwh: int) -> tuple[Dispatch, Dispatch]:
    """(the clearing with the adders, the same quotes cleared without them)."""
    out = []
    for book in (apply_adders(orders, adders), tuple(orders)):
        c = clear_uniform(list(book))
        out.append(Dispatch(c.price, c.volume_wh, emissions_g(book, c, intensity, grid_g_kwh)))
    return out[0], out[1]
