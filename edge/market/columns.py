"""A book's orders as columns, written as the quotes arrive.

Why: at 100,000 orders, reading the book's Order objects into columns is about
half of a round's clearing (each order is an object of its own, so the pass is
memory-bound), and the gate closes only once per round: the book appends each
accepted quote to a few arrays as it takes it (under a microsecond a quote:
bench_clearing's ``book_columns_n100000``), and the round clears those columns
without reading the objects (``Columnar``, which ``edge.market.clearing``
recognises).

The columns are what the C reader (edge/market/_columns.c) makes of the same
orders: qty, price and seq as int64, a buy flag per order, and the ids each
followed by a newline (None where an id is not a protocol Id, which the fills
block needs). Anything outside those plain cases (a str or int subclass, a seq
beyond 64 bits) turns the columns off for the book, and the clearing reads the
objects as before. Ids and seqs are unique because the book that writes the
columns refuses a taken seq and keeps one order per id; the clearing trusts
that and checks the ranges again (tests/market/test_columns.py compares the
columns with a packing by hand on random books with replacements, adders and
revisions).
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from edge.protocol.types import ID_RE

from .clearing import Order

_is_id = ID_RE.fullmatch


@dataclass(frozen=True, slots=True)
class QuoteColumns:
    """The orders of a ``Columnar`` tuple, in its order (read-only once made)."""

    buy: bytes  # 1 per buy order, 0 per sell
    qty: array  # int64 ("q")
    price: array
    seq: array
    ids: bytes | None  # each id and a newline; None where one is not a protocol Id

    def replaced(self, rows: Mapping[int, Order]) -> QuoteColumns:
        """The same columns with the quantity and price of the order at each row replaced
        (carbon adders, a round's revisions: both keep the order's id, side and number)."""
        qty, price = array("q", self.qty), array("q", self.price)
        for i, o in rows.items():
            qty[i], price[i] = o.qty_wh, o.price
        return QuoteColumns(self.buy, qty, price, self.seq, self.ids)


class Columnar(tuple):  # type: ignore[type-arg]
    """A tuple of Orders that also carries them as ``columns``.

    Made only by the book (and the round steps that derive a round's quotes from
    it), which guarantees the two agree; any other tuple of the same orders clears
    the same, after reading the objects.
    """

    columns: QuoteColumns

    def __new__(cls, orders: Iterable[Order], columns: QuoteColumns) -> Columnar:
        self = super().__new__(cls, orders)
        self.columns = columns
        return self


class ColumnLog:
    """Every order a book took, as columns, with the rows replaced since marked dead."""

    def __init__(self) -> None:
        self.ok = True  # False once an order outside the plain cases arrived
        self.buy = bytearray()
        self.qty, self.price, self.seq = array("q"), array("q"), array("q")
        self.ids: bytearray | None = bytearray()
        self.ends = array("q")  # where each row's id line ends in ``ids``
        self.dead: list[int] = []

    def append(self, o: Order) -> int:
        """Take an accepted order; its row number (meaningless once ``ok`` is False)."""
        row = len(self.ends)
        if not self.ok:
            return row
        if (type(o) is not Order or type(o.id) is not str or type(o.side) is not str
                or type(o.qty_wh) is not int or type(o.price) is not int
                or type(o.seq) is not int or not -(2**63) <= o.seq < 2**63):
            self.ok = False  # the clearing reads the objects and names what is wrong
            return row
        self.qty.append(o.qty_wh)
        self.price.append(o.price)
        self.seq.append(o.seq)
        self.buy.append(o.side == "buy")
        ids = self.ids
        if ids is not None:
            if _is_id(o.id):
                ids += (o.id + "\n").encode()
                self.ends.append(len(ids))
                return row
            self.ids = None
        self.ends.append(0)
        return row

    def kill(self, row: int) -> None:
        """The order at ``row`` was replaced: it is not in the book any more."""
        self.dead.append(row)

    def columns(self) -> QuoteColumns | None:
        """The live rows, in their order; None when the columns are off."""
        if not self.ok:
            return None
        if not self.dead:
            return QuoteColumns(bytes(self.buy), self.qty, self.price, self.seq,
                                None if self.ids is None else bytes(self.ids))
        import numpy as np

        dead = sorted(self.dead)
        keep = np.ones(len(self.ends), dtype=bool)
        keep[dead] = False

        def live(col: array) -> array:
            return array("q", np.frombuffer(col, dtype=np.int64)[keep].tobytes())

        ids = None
        if self.ids is not None:
            pieces, start = [], 0
            for d in dead:  # cut each dead row's line out
                pieces.append(self.ids[start: self.ends[d - 1] if d else 0])
                start = self.ends[d]
            pieces.append(self.ids[start:])
            ids = b"".join(pieces)
        buy = np.frombuffer(bytes(self.buy), dtype=np.uint8)[keep].tobytes()
        return QuoteColumns(buy, live(self.qty), live(self.price), live(self.seq), ids)
