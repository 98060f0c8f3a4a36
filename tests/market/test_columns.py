"""The book's columns (edge.market.columns) against the orders they stand for.

The oracle packs each column from the Order objects in plain Python; the clearing of a
``Columnar`` book is compared with the pure-Python clearing of the same orders as a list,
and its fills block with the reference encoder.
"""

from __future__ import annotations

import random
from array import array

import pytest

from edge.market.book import OrderBook, apply_adders
from edge.market.clearing import Order, clear_uniform, clear_uniform_python
from edge.market.columns import Columnar
from edge.market.fillblock import fill_block, reference_block
from edge.market.rounds import IntervalRounds


def packed(orders):
    """The columns of ``orders`` by hand: (buy, qty, price, seq, ids)."""
    ids = b"".join(o.id.encode() + b"\n" for o in orders)
    return (bytes(o.side == "buy" for o in orders), array("q", [o.qty_wh for o in orders]),
            array("q", [o.price for o in orders]), array("q", [o.seq for o in orders]), ids)


def columns_of(orders):
    c = orders.columns
    return c.buy, c.qty, c.price, c.seq, c.ids


def random_book(rng, n, replace_share=0.2):
    book = OrderBook(900)
    names = [f"gw-{i}" for i in range(n)]
    for _ in range(int(n * (1 + replace_share))):  # some participants quote again
        book.submit(rng.choice(names), rng.choice(("buy", "sell")), rng.randint(1, 5000),
                    rng.randint(0, 200_000))
    return book


@pytest.mark.parametrize("seed", range(5))
def test_columns_are_the_orders_after_replacements(seed):
    rng = random.Random(seed)
    book = random_book(rng, rng.choice((1, 3, 70, 500)))
    orders = book.close()
    assert type(orders) is Columnar
    assert columns_of(orders) == packed(orders)
    # the clearing from the columns is the reference clearing, and so is its block
    got = clear_uniform(orders)
    assert got == clear_uniform_python(list(orders))
    assert fill_block(orders, got) == reference_block(list(orders), got)


def test_only_replacements_leave_the_first_and_last_rows():
    book = OrderBook(900)
    book.submit("a", "buy", 10, 5)
    book.submit("b", "sell", 20, 6)
    book.submit("a", "sell", 30, 7)  # a's first row is dead
    book.submit("c", "buy", 40, 8)
    book.submit("c", "buy", 50, 9)  # and c's
    orders = book.close()
    assert [(o.id, o.seq) for o in orders] == [("b", 2), ("a", 3), ("c", 5)]
    assert columns_of(orders) == (b"\x00\x00\x01", array("q", [20, 30, 50]),
                                  array("q", [6, 7, 9]), array("q", [2, 3, 5]), b"b\na\nc\n")


def test_an_id_the_protocol_does_not_take_leaves_the_block_to_the_reference():
    book = OrderBook(900)
    for i in range(80):
        book.submit(f"gw {i}" if i == 40 else f"gw{i}", "buy" if i % 2 else "sell", 100,
                    1000 + i)
    orders = book.close()
    assert orders.columns.ids is None
    assert columns_of(orders)[:4] == packed(orders)[:4]
    got = clear_uniform(orders)
    assert got == clear_uniform_python(list(orders))


class Name(str):
    pass


@pytest.mark.parametrize("order", [
    Order(Name("gw1"), "buy", 10, 5, 7),  # a str subclass
    Order("gw1", "buy", 10, 5, 2**63),  # a seq beyond 64 bits
])
def test_orders_outside_the_plain_cases_turn_the_columns_off(order):
    book = OrderBook(900)
    book.submit("gw0", "sell", 10, 5)
    book.insert(order)
    orders = book.close()
    assert type(orders) is tuple
    assert clear_uniform(orders) == clear_uniform_python(list(orders))


def test_adders_reprice_the_columns():
    rng = random.Random(7)
    orders = random_book(rng, 300).close()
    adders = {o.id: rng.randint(1, 50_000) for o in orders if rng.random() < 0.5}
    adjusted = apply_adders(orders, adders)
    assert type(adjusted) is Columnar and adjusted.columns.price != orders.columns.price
    assert columns_of(adjusted) == packed(adjusted)
    assert clear_uniform(adjusted) == clear_uniform_python(list(adjusted))
    assert apply_adders(orders, {}) is orders  # nothing to adjust: the very tuple


def test_a_rounds_revisions_are_in_its_columns():
    rng = random.Random(3)
    market = IntervalRounds(900, 3)
    for i in range(200):
        market.quote(f"gw{i}", "buy" if i % 2 else "sell", rng.randint(1, 5000),
                     rng.randint(50_000, 150_000))
    market.step()
    revised = {f"gw{i}" for i in range(0, 200, 7)}
    for i in range(0, 200, 7):
        market.revise(f"gw{i}", 1, "buy" if i % 2 else "sell", 77, 99_000 + i)
    quotes = market.orders_for(1)
    assert type(quotes) is Columnar
    assert columns_of(quotes) == packed(quotes)
    assert {o.id for o in quotes if o.qty_wh == 77} == revised
    assert columns_of(market.orders_for(0)) == packed(market.orders_for(0))  # untouched
    r = market.step()
    assert r.clearing == clear_uniform_python(list(quotes))
