"""Is a binding book a best-response fixed point? Checked by brute force, not by the rule.

The edge's revision rule (edge.market.rounds.BestResponse, mirrored by the
firmware) says when a participant moves: an order with no energy moves if
some quote within its limit wins energy at a price within its limit; a filled
order on the side in excess moves if some quote keeping its whole fill gives
a strictly better clearing price; everyone else holds. The rule finds its
answer by binary search and relies on the clearing being monotone. This
check uses the same definition but searches differently: the clearing as a
function of one order's price only changes where that price crosses another
order's price (ties go by submission number, so at that price and one unit
either side), at 0 and at the limit, so trying those few prices finds any
improving move there is. Where the two disagree, one of them is wrong.

Everything here is in the cleared terms (carbon adders applied to quotes and
limits alike, edge.market.rounds.cleared_limit).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

from edge.market.clearing import LIMIT, Clearing, Order, clear_uniform
from edge.market.rounds import EXCESS_SIDE


def candidates(orders: Sequence[Order], me: int, limit: int) -> list[int]:
    """Every price at which ``orders[me]``'s outcome can change, within [0, LIMIT)."""
    xs = {0, limit, orders[me].price}
    for j, o in enumerate(orders):
        if j != me:
            xs.update((o.price - 1, o.price, o.price + 1))
    return sorted(x for x in xs if 0 <= x < LIMIT)


def _with(orders: Sequence[Order], me: int, x: int) -> Clearing:
    trial = list(orders)
    trial[me] = replace(orders[me], price=x)
    return clear_uniform(trial)


def improving_move(orders: Sequence[Order], clearing: Clearing, me: int,
                   limit: int) -> int | None:
    """A quote that improves ``orders[me]`` under the best-response definition, or None."""
    o = orders[me]
    buyer = o.side == "buy"
    got = clearing.fills[me].qty_wh
    if got == 0:
        for x in candidates(orders, me, limit):
            if (x > limit) if buyer else (x < limit):
                continue
            c = _with(orders, me, x)
            if c.fills[me].qty_wh > 0 and c.price is not None and (
                    c.price <= limit if buyer else c.price >= limit):
                return x
        return None
    if o.side not in EXCESS_SIDE[clearing.regime] or clearing.price is None:
        return None
    for x in candidates(orders, me, limit):
        if (x >= o.price) if buyer else (x <= o.price):
            continue  # a move to one's own advantage only
        c = _with(orders, me, x)
        if c.fills[me].qty_wh >= got and c.price is not None and (
                c.price < clearing.price if buyer else c.price > clearing.price):
            return x
    return None


def mover(orders: Sequence[Order], limits: Mapping[str, int]) -> tuple[str, str] | None:
    """The first participant of a (cleared-terms) book that could improve, and how; None
    when nobody can."""
    if not orders:
        return None
    clearing = clear_uniform(list(orders))
    for i, o in enumerate(orders):
        lim = limits.get(o.id, o.price)
        x = improving_move(orders, clearing, i, lim)
        if x is not None:
            return o.id, (f"{o.id} ({o.side}, quote {o.price}, limit {lim}, got "
                          f"{clearing.fills[i].qty_wh} Wh at {clearing.price}) would improve "
                          f"by quoting {x}")
    return None


def why_not_fixed(orders: Sequence[Order], limits: Mapping[str, int]) -> str | None:
    """None when nobody in the (cleared-terms) book can improve; else who and how."""
    m = mover(orders, limits)
    return None if m is None else m[1]
