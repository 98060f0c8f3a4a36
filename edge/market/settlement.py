"""Settlement of one cleared interval: energy, money and carbon per participant.

Signs: energy + bought / - sold (Wh); money + received / - paid
(micro-currency); carbon + taken on / - passed on (g CO2). Every column sums
to zero over an interval, so the books balance by construction.

Rounding (docs/market.md, "Settlement"): a column's interval total is
rounded down once; then each side shares that total by the largest-remainder
rule: everybody gets the floor of their exact share, and the units left over
go one each to the largest fractional remainders, ties to the earlier order
(lower seq). Each participant thus ends within one unit of its exact amount,
and buyers' payments equal sellers' receipts to the unit.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from operator import is_

from .clearing import Clearing, FillColumns, Order, Side


@dataclass(frozen=True)
class Line:
    """One participant's settlement for the interval."""

    participant: str
    side: Side
    energy_wh: int
    money_micro: int
    carbon_g: int


@dataclass(frozen=True)
class Settlement:
    """Totals are per side (what buyers paid == what sellers received)."""

    price: int | None
    volume_wh: int
    value_micro: int
    carbon_g: int
    lines: tuple[Line, ...]


def apportion(total: int, numerators: Sequence[int], denom: int, seqs: Sequence[int]) -> list[int]:
    """Share ``total`` as floor(num/denom) each plus the leftover by largest remainder.

    The caller guarantees ``0 <= total - sum(floors) <= len(numerators)``, which
    holds whenever ``total`` is the floor of the exact sum of the shares.
    """
    shares = [n // denom for n in numerators]
    left = total - sum(shares)
    if not 0 <= left <= len(shares):
        raise ValueError(f"cannot apportion {total}: floors sum to {sum(shares)}")
    by_remainder = sorted(range(len(shares)), key=lambda i: (-(numerators[i] % denom), seqs[i]))
    for i in by_remainder[:left]:
        shares[i] += 1
    return shares


def _intensity_of(pid: str, intensity: Mapping[str, int] | int) -> int:
    e = intensity if isinstance(intensity, int) else intensity.get(pid)
    if e is None:
        raise ValueError(f"no carbon intensity for seller {pid!r}")
    if not isinstance(e, int) or isinstance(e, bool) or e < 0:
        raise ValueError(f"carbon intensity of {pid!r} must be a non-negative integer g/kWh")
    return e


def _traded(orders: Sequence[Order], clearing: Clearing) -> list[tuple[Order, int]]:
    """(order, traded Wh) of each order that traded, in order, checked to be the clearing of
    ``orders`` (same ids, same order).

    Why by column: at 100,000 orders most did not trade, and a Python step per order cost
    more than the settlement of those that did.
    """
    fills = clearing.fills
    if isinstance(fills, FillColumns):  # no Fill objects: the columns the clearing made
        same = len(fills) == len(orders) and (
            fills.orders is orders or all(map(is_, fills.orders, orders))
            or [o.id for o in fills.orders] == [o.id for o in orders])
        if not same:
            raise ValueError(_MISMATCH)
        traded = fills.arrays[0]
        idx = traded.nonzero()[0]
        return list(zip(map(orders.__getitem__, idx.tolist()), traded[idx].tolist(), strict=True))
    if [o.id for o in orders] != [f.order_id for f in fills]:
        raise ValueError(_MISMATCH)
    return [(o, f.qty_wh) for o, f in zip(orders, fills, strict=True) if f.qty_wh]


_MISMATCH = "the clearing's fills do not match the orders (ids or their order differ)"


def settle_traded(
    orders: Sequence[Order], clearing: Clearing, intensity: Mapping[str, int] | int = 0
) -> Settlement:
    """``settle`` with a line only for each order that traded (in order).

    Why: the edge signs one settlement per trading participant; at 100,000
    orders most did not trade, and their all-zero lines cost more than the rest.
    """
    traded = _traded(orders, clearing)
    sells = [(o, q) for o, q in traded if o.side == "sell"]
    buys = [(o, q) for o, q in traded if o.side == "buy"]
    volume = clearing.volume_wh
    money: dict[str, int] = {}
    carbon: dict[str, int] = {}
    value = grams = 0
    if volume:
        price = clearing.price
        if price is None:
            raise ValueError("a clearing with traded volume must have a price")
        value = volume * price // 1000
        for side, sign in ((sells, 1), (buys, -1)):
            shares = apportion(value, [q * price for _, q in side], 1000, [o.seq for o, _ in side])
            money.update((o.id, sign * s) for (o, _), s in zip(side, shares, strict=True))
        emitted = [q * _intensity_of(o.id, intensity) for o, q in sells]
        grams = sum(emitted) // 1000
        seqs_s = [o.seq for o, _ in sells]
        for (o, _), s in zip(sells, apportion(grams, emitted, 1000, seqs_s), strict=True):
            carbon[o.id] = -s
        taken = apportion(grams, [q * grams for _, q in buys], volume, [o.seq for o, _ in buys])
        for (o, _), s in zip(buys, taken, strict=True):
            carbon[o.id] = s
    lines = tuple(Line(o.id, o.side, q if o.side == "buy" else -q, money.get(o.id, 0),
                       carbon.get(o.id, 0)) for o, q in traded)
    return Settlement(clearing.price, volume, value, grams, lines)


def settle(
    orders: Sequence[Order], clearing: Clearing, intensity: Mapping[str, int] | int = 0
) -> Settlement:
    """Settle ``clearing`` (the result of clearing ``orders``) at its uniform price.

    ``intensity`` is g CO2/kWh of what each seller delivers (one integer for
    all, or per participant id; buyers need none). The carbon of the energy
    sold is pooled and passed to buyers in proportion to what they bought.
    One line per order, in order (all zero for an order that did not trade).
    """
    st = settle_traded(orders, clearing, intensity)
    it = iter(st.lines)
    nxt = next(it, None)
    lines = []
    for o in orders:  # the traded lines, in order, with zero lines between them
        if nxt is not None and nxt.participant == o.id:
            lines.append(nxt)
            nxt = next(it, None)
        else:
            lines.append(Line(o.id, o.side, 0, 0, 0))
    return Settlement(st.price, st.volume_wh, st.value_micro, st.carbon_g, tuple(lines))
