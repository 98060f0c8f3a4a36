"""OrderBook: replacement, gate closure, filed numbers, carbon adders."""

from __future__ import annotations

import pytest

from edge.market.book import BookError, GateClosed, OrderBook, apply_adders
from edge.market.clearing import Order, clear_uniform
from edge.market.rounds import IntervalRounds


def test_later_quote_replaces_earlier_and_loses_time_priority():
    book = OrderBook(7)
    book.submit("alice", "sell", 500, 100)
    book.submit("bob", "sell", 500, 100)
    again = book.submit("alice", "sell", 400, 100)
    assert again == Order("alice", "sell", 400, 100, 3)
    assert [(o.id, o.seq) for o in book.orders()] == [("bob", 2), ("alice", 3)]
    book.submit("carol", "buy", 600, 120)
    c = clear_uniform(book.close())
    fills = {f.order_id: (f.qty_wh, f.status) for f in c.fills}
    # same price: bob quoted earlier than alice's replacement, so bob sells first
    assert fills == {"bob": (500, "filled"), "alice": (100, "partial"), "carol": (600, "filled")}
    assert c.price == 100


def test_a_participant_may_switch_side_by_requoting():
    book = OrderBook(1)
    book.submit("p", "sell", 100, 5)
    book.submit("p", "buy", 50, 9)
    assert book.orders() == (Order("p", "buy", 50, 9, 2),)


def test_gate_closure_refuses_changes_and_keeps_the_book():
    book = OrderBook(42)
    book.submit("a", "buy", 100, 50)
    frozen = book.close()
    with pytest.raises(GateClosed, match=r"interval 42 is closed: the quote from 'b' came after"):
        book.submit("b", "sell", 100, 10)
    with pytest.raises(GateClosed):
        book.submit("a", "buy", 1, 1)
    assert book.rejected["gate_closed"] == 2
    assert book.orders() == frozen == (Order("a", "buy", 100, 50, 1),)


def test_invalid_quote_is_refused_counted_and_loses_nothing():
    book = OrderBook(1)
    book.submit("a", "buy", 100, 50)
    with pytest.raises(BookError, match=r"quote from 'a': qty_wh 0 is outside"):
        book.submit("a", "buy", 0, 50)
    with pytest.raises(BookError, match=r"quote from 'b': side must be 'buy' or 'sell'"):
        book.submit("b", "ask", 10, 50)
    with pytest.raises(BookError, match=r"price must be an integer"):
        book.submit("b", "sell", 10, 0.5)
    assert book.rejected["invalid"] == 3
    assert book.orders() == (Order("a", "buy", 100, 50, 1),)
    assert book.submit("b", "sell", 10, 5).seq == 2  # refusals use no order number


def test_filed_numbers_are_kept_and_must_be_unique():
    book = OrderBook(3)
    book.insert(Order("a", "buy", 100, 50, 7))
    book.insert(Order("b", "sell", 100, 40, 2))
    with pytest.raises(BookError, match="quote from 'c': seq 7 is taken"):
        book.insert(Order("c", "sell", 1, 1, 7))
    assert book.rejected["invalid"] == 1
    assert book.submit("c", "sell", 5, 5).seq == 8  # after the highest number seen
    assert book.order_of("b") == Order("b", "sell", 100, 40, 2) and book.order_of("z") is None


def test_a_replaced_quote_frees_its_number():
    book = OrderBook(3)
    book.insert(Order("a", "buy", 100, 50, 7))
    book.insert(Order("a", "buy", 100, 55, 9))  # a's new quote: 7 is free again
    assert book.insert(Order("c", "sell", 1, 1, 7)).seq == 7
    with pytest.raises(BookError, match="quote from 'd': seq 9 is taken"):
        book.insert(Order("d", "sell", 1, 1, 9))
    book.insert(Order("a", "buy", 100, 56, 9))  # the holder may re-file its own number
    assert [o.seq for o in book.orders()] == [7, 9]


def test_adders_raise_offers_and_lower_bids_clamped_at_zero():
    orders = [Order("g", "sell", 10, 100, 1), Order("l", "buy", 10, 30, 2),
              Order("x", "buy", 10, 70, 3)]
    out = apply_adders(orders, {"g": 25, "l": 50, "x": 20, "absent": 5})
    assert [o.price for o in out] == [125, 0, 50]
    assert apply_adders(orders, {}) == tuple(orders)


def test_adders_change_the_clearing():
    ir = IntervalRounds(9, max_rounds=1)
    ir.quote("coal", "sell", 100, 40)
    ir.quote("pv", "sell", 100, 60)
    ir.quote("load", "buy", 100, 90)
    r = ir.step(adders={"coal": 30})  # coal now offers 70: PV is cheaper
    fills = {f.order_id: f.qty_wh for f in r.clearing.fills}
    assert fills == {"coal": 0, "pv": 100, "load": 100}
    assert r.clearing.price == 70  # pv exactly filled: next ask is coal's adjusted 70
    assert [o.price for o in r.orders] == [70, 60, 90]
    # the pending view still shows what was quoted
    assert [p.price for p in ir.pending()] == [40, 60, 90]


@pytest.mark.parametrize("adders, words", [
    ({"g": -1}, "adder of 'g' must be an integer"),
    ({"g": 1.5}, "adder of 'g' must be an integer"),
    ({"g": 2**31 - 50}, "order 'g': offer 100 + adder 2147483598 reaches the price limit"),
])
def test_bad_adders_are_refused(adders, words):
    import re

    with pytest.raises(ValueError, match=re.escape(words)):
        apply_adders([Order("g", "sell", 10, 100, 1)], adders)


def test_adders_never_hide_a_bad_quote():
    import re

    bad = [Order("l", "buy", 10, -5, 1)]  # max(-5 - 10, 0) would look valid
    with pytest.raises(ValueError, match=re.escape("order 'l' (orders[0]): price -5 is outside")):
        apply_adders(bad, {"l": 10})
