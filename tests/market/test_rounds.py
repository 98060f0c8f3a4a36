"""Iterative bidding: termination, determinism, publishing, the tick strategy."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edge.market.clearing import Order
from edge.market.rounds import Round, TowardPrice, run_rounds

from .test_clearing import books


def book():
    return [Order("s1", "sell", 100, 50, 1), Order("s2", "sell", 100, 80, 2),
            Order("b1", "buy", 150, 70, 3)]


def test_unfilled_seller_walks_down_to_the_price_and_stops():
    published: list[Round] = []
    strat = TowardPrice({"s2": 60, "b1": 70}, tick=5)
    r = run_rounds(book(), strat, 10, published.append)
    # Round 1: buyers' market, s1 exactly filled, price = ask(s2) = 80 > bid 70: b1
    # excluded, no trade. b1 is at its reservation; s2 drops 5 a round toward the
    # reservation (no price to aim at): 75, 70. Round 3: s2 at 70, price 70, b1 trades.
    assert [x.clearing.price for x in r.rounds] == [None, None, 70]
    assert [x.orders[1].price for x in r.rounds] == [80, 75, 70]
    assert r.converged and r.binding.number == 3
    assert published == list(r.rounds)
    fills = {f.order_id: f.qty_wh for f in r.binding.clearing.fills}
    assert fills == {"s1": 100, "s2": 50, "b1": 150}


def test_never_past_reservation_and_round_limit_binds():
    strat = TowardPrice({"s2": 78}, tick=1)
    r = run_rounds(book(), strat, 2)
    assert not r.converged and len(r.rounds) == 2
    assert r.binding.orders[1].price == 79
    r = run_rounds(book(), strat, 50)
    assert r.converged and r.binding.orders[1].price == 78  # stuck at its reservation


def test_filled_participants_and_those_without_reservation_keep_quotes():
    r = run_rounds(book(), TowardPrice({}), 5)
    assert r.converged and len(r.rounds) == 1


def test_bad_arguments():
    with pytest.raises(ValueError, match="max_rounds must be a positive integer"):
        run_rounds(book(), TowardPrice(), 0)
    with pytest.raises(ValueError, match="tick must be a positive integer"):
        TowardPrice(tick=0)
    with pytest.raises(ValueError, match="reservation of 'x' must be an integer"):
        TowardPrice({"x": -1})
    with pytest.raises(ValueError, match=r"changed the participants .*dropped: \['b1'\]"):
        run_rounds(book(), lambda n, c, o: o[:2], 3)
    with pytest.raises(ValueError, match="returned a str"):
        run_rounds(book(), lambda n, c, o: ["x"], 3)


@settings(max_examples=150, deadline=None)
@given(books(max_orders=10, max_price=40), st.integers(0, 40), st.integers(1, 7))
def test_terminate_deterministic_and_monotone(orders, spread, tick):
    # reservations: buyers may go up by `spread`, sellers down by `spread`
    res = {o.id: (min(o.price + spread, 2**31 - 1) if o.side == "buy" else max(o.price - spread, 0))
           for o in orders}
    strat = TowardPrice(res, tick)
    a = run_rounds(orders, strat, 1000)
    assert a == run_rounds(orders, strat, 1000)
    assert a.converged  # monotone and bounded: ends before the generous limit
    assert len(a.rounds) <= 1 + len(orders) * (spread // tick + 1)  # >= 1 move per round
    first = {o.id: o.price for o in orders}
    for o in a.binding.orders:
        if o.side == "buy":
            assert first[o.id] <= o.price <= max(first[o.id], res[o.id])
        else:
            assert min(first[o.id], res[o.id]) <= o.price <= first[o.id]
    assert a.rounds[0].orders == tuple(orders)
