"""The order book of one market interval: quotes in, gate closure, one clearing.

Rules (docs/market.md):
- one live order per participant; a later quote replaces the earlier one and
  takes a new, later order number, so a revised quote loses its time priority
  (the exchange convention: an amended price or quantity goes to the back of
  its price level). Order numbers are the ``seq`` of the clearing.
- after gate closure nothing changes; a late quote is refused with
  ``GateClosed`` and counted, and the accepted book stays as it was.
- carbon price adders (SEEDS P1 ladder) are applied at clearing time, so the
  pending-orders view shows what participants quoted.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from .clearing import LIMIT, Clearing, Order, Side, clear_uniform, validate_order, validate_orders


class BookError(ValueError):
    """An operation the book refuses in its current state or for its input."""


class GateClosed(BookError):
    """A quote or change arrived after gate closure."""


@dataclass(frozen=True)
class PendingOrder:
    """One row of the SEEDS P4 pending-orders view."""

    order_no: int
    participant: str
    side: Side
    qty_wh: int
    price: int
    #: "open" (gate open), "closed" (awaiting clearing), then the fill status
    status: str


def apply_adders(orders: Sequence[Order], adders: Mapping[str, int]) -> tuple[Order, ...]:
    """Carbon-adjusted quotes: a seller's offer + its adder, a buyer's bid - its adder.

    Bids are clamped at 0; an offer pushed to 2^31 or beyond is refused rather
    than clamped, because clamping would quietly lower a seller's price.
    Adders of participants without an order are ignored: the adder table is
    per participant and outlives any one interval.
    """
    validate_orders(orders)  # before adjusting: a clamp must never hide a bad quote
    for pid, a in adders.items():
        if not isinstance(a, int) or isinstance(a, bool) or not 0 <= a < LIMIT:
            raise ValueError(f"adder of {pid!r} must be an integer in [0, {LIMIT}), got {a!r}")
    out = []
    for o in orders:
        a = adders.get(o.id, 0)
        if o.side == "buy":
            price = max(o.price - a, 0)
        else:
            price = o.price + a
            if price >= LIMIT:
                raise ValueError(
                    f"order {o.id!r}: offer {o.price} + adder {a} reaches the price limit {LIMIT}"
                )
        out.append(replace(o, price=price) if price != o.price else o)
    return tuple(out)


class OrderBook:
    """Quotes of one interval, up to gate closure and one clearing (P5 rules)."""

    def __init__(self, interval: int) -> None:
        self.interval = interval
        self._orders: dict[str, Order] = {}
        self._next_no = 1
        self._closed = False
        self._clearing: Clearing | None = None
        #: refusals by reason ("invalid", "gate_closed"); nothing accepted is lost by one
        self.rejected: Counter[str] = Counter()

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def clearing(self) -> Clearing | None:
        return self._clearing

    def submit(self, participant: str, side: Side, qty_wh: int, price: int) -> Order:
        """Accept a quote (replacing this participant's earlier one) and return it."""
        if self._closed:
            self.rejected["gate_closed"] += 1
            raise GateClosed(
                f"interval {self.interval} is closed: the quote from {participant!r} came "
                "after gate closure"
            )
        order = Order(participant, side, qty_wh, price, self._next_no)
        try:
            validate_order(order, f"quote from {participant!r}")
        except ValueError as exc:
            self.rejected["invalid"] += 1
            raise BookError(str(exc)) from None
        self._orders.pop(participant, None)  # re-inserted last: dict order == seq order
        self._orders[participant] = order
        self._next_no += 1
        return order

    def orders(self) -> tuple[Order, ...]:
        """Live orders in order-number order."""
        return tuple(self._orders.values())

    def close(self) -> tuple[Order, ...]:
        """Gate closure: freeze the book and return what will be cleared."""
        self._closed = True
        return self.orders()

    def clear(self, adders: Mapping[str, int] | None = None) -> Clearing:
        """Clear the closed book once, with carbon adders applied to the quotes."""
        if not self._closed:
            raise BookError(f"interval {self.interval} is still open: close the gate first")
        if self._clearing is not None:
            raise BookError(f"interval {self.interval} is already cleared")
        self._clearing = clear_uniform(apply_adders(self.orders(), adders or {}))
        return self._clearing

    def pending(self) -> tuple[PendingOrder, ...]:
        """The SEEDS P4 pending-orders view, in order-number order."""
        status = {}
        if self._clearing is not None:
            status = {f.order_id: f.status for f in self._clearing.fills}
        default = "closed" if self._closed else "open"
        return tuple(
            PendingOrder(o.seq, o.id, o.side, o.qty_wh, o.price, status.get(o.id, default))
            for o in self._orders.values()
        )
