"""The order book of one market interval: first quotes in, until gate closure.

Rules (docs/market.md):
- one live order per participant; a later quote replaces the earlier one and
  takes a new, later order number, so a revised quote loses its time priority
  (the exchange convention: an amended price or quantity goes to the back of
  its price level). Order numbers are the ``seq`` of the clearing.
- after gate closure nothing changes; a late quote is refused with
  ``GateClosed`` and counted, and the accepted book stays as it was.
- carbon price adders (P1 ladder) are applied at clearing time
  (``apply_adders``), so the book holds what participants quoted.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import replace

from .clearing import LIMIT, Order, Side, validate_order, validate_orders
from .columns import Columnar, ColumnLog


class BookError(ValueError):
    """An operation the book refuses in its current state or for its input."""


class GateClosed(BookError):
    """A quote or change arrived after gate closure."""


def apply_adders(orders: Sequence[Order], adders: Mapping[str, int]) -> tuple[Order, ...]:
    """Carbon-adjusted quotes: a seller's offer + its adder, a buyer's bid - its adder.

    Bids are clamped at 0; an offer pushed to 2^31 or beyond is refused rather
    than clamped, because clamping would quietly lower a seller's price.
    Adders of participants without an order are ignored: the adder table is
    per participant and outlives any one interval.
    """
    if not adders:  # without a price signal nothing is adjusted (the clearing validates)
        return orders if isinstance(orders, tuple) else tuple(orders)
    validate_orders(orders)  # before adjusting: a clamp must never hide a bad quote
    for pid, a in adders.items():
        if not isinstance(a, int) or isinstance(a, bool) or not 0 <= a < LIMIT:
            raise ValueError(f"adder of {pid!r} must be an integer in [0, {LIMIT}), got {a!r}")
    out = []
    repriced: dict[int, Order] = {}  # row -> the order adjusted, for the columns
    for o in orders:
        a = adders.get(o.id, 0)
        if not a:
            out.append(o)
            continue
        if o.side == "buy":
            price = max(o.price - a, 0)
        else:
            price = o.price + a
            if price >= LIMIT:
                raise ValueError(
                    f"order {o.id!r}: offer {o.price} + adder {a} reaches the price limit {LIMIT}"
                )
        if price != o.price:
            o = repriced[len(out)] = replace(o, price=price)
        out.append(o)
    if isinstance(orders, Columnar):
        return Columnar(out, orders.columns.replaced(repriced))
    return tuple(out)


class OrderBook:
    """First quotes of one interval, up to gate closure (P5 rules).

    The clearing and the rounds after it belong to ``edge.market.rounds.IntervalRounds``,
    which owns one of these as its round 0.
    """

    def __init__(self, interval: int) -> None:
        self.interval = interval
        self._orders: dict[str, Order] = {}
        self._owner_of_seq: dict[int, str] = {}  # seq -> id of the live order holding it
        self._next_no = 1
        self._closed = False
        self._frozen: tuple[Order, ...] | None = None  # the orders, once the gate is shut
        #: the same orders as columns, for the round's clearing (None once frozen)
        self._columns: ColumnLog | None = ColumnLog()
        self._row: dict[str, int] = {}  # id -> its live order's row in the columns
        #: refusals by reason ("invalid", "gate_closed"); nothing accepted is lost by one
        self.rejected: Counter[str] = Counter()

    @property
    def closed(self) -> bool:
        return self._closed

    def _refuse_if_closed(self, participant: str) -> None:
        if self._closed:
            self.rejected["gate_closed"] += 1
            raise GateClosed(
                f"interval {self.interval} is closed: the quote from {participant!r} came "
                "after gate closure"
            )

    def submit(self, participant: str, side: Side, qty_wh: int, price: int) -> Order:
        """Accept a quote (replacing this participant's earlier one) and return it."""
        return self.insert(Order(participant, side, qty_wh, price, self._next_no))

    def insert(self, order: Order) -> Order:
        """Accept an order that carries its own submission number (a filed book).

        The number must not be another live order's; later ``submit`` numbers
        follow the highest one seen.
        """
        self._refuse_if_closed(order.id)
        try:
            validate_order(order, f"quote from {order.id!r}")
            if self._owner_of_seq.get(order.seq, order.id) != order.id:  # O(1), not a scan
                raise ValueError(f"quote from {order.id!r}: seq {order.seq} is taken")
        except ValueError as exc:
            self.rejected["invalid"] += 1
            raise BookError(str(exc)) from None
        assert self._columns is not None  # the gate is open
        old = self._orders.pop(order.id, None)  # re-inserted last: dict order == seq order
        if old is not None:
            del self._owner_of_seq[old.seq]
            self._columns.kill(self._row[order.id])
        self._orders[order.id] = order
        self._row[order.id] = self._columns.append(order)
        self._owner_of_seq[order.seq] = order.id
        self._next_no = max(self._next_no, order.seq + 1)
        return order

    def order_of(self, participant: str) -> Order | None:
        """The participant's live first quote, if any."""
        return self._orders.get(participant)

    def orders(self) -> tuple[Order, ...]:
        """Live orders in the order received (order-number order for ``submit``); made once
        after the gate has shut (100,000 orders are a millisecond a copy)."""
        if self._frozen is not None:
            return self._frozen
        if not self._closed:
            return tuple(self._orders.values())
        assert self._columns is not None
        columns = self._columns.columns()
        values = self._orders.values()
        self._frozen = tuple(values) if columns is None else Columnar(values, columns)
        self._columns, self._row = None, {}  # the log's arrays live on in the columns, or go
        return self._frozen

    def close(self) -> tuple[Order, ...]:
        """Gate closure: freeze the book and return what will be cleared."""
        self._closed = True
        return self.orders()
