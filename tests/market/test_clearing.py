"""clear_uniform (P5): hand-worked cases for every regime and corner,
validation of every bad input, and property tests against a plain reference."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edge.market.clearing import Fill, Order, clear_uniform

from .reference import reference_uniform


def S(id, qty, price, seq):  # noqa: N802 - reads like a table row
    return Order(id, "sell", qty, price, seq)


def B(id, qty, price, seq):  # noqa: N802
    return Order(id, "buy", qty, price, seq)


def table(c):
    return {f.order_id: (f.qty_wh, f.status) for f in c.fills}


def test_buyers_market_partial_marginal_seller():
    c = clear_uniform([S("s1", 4, 10, 1), S("s2", 4, 12, 2), S("s3", 4, 15, 3),
                       B("b1", 3, 20, 4), B("b2", 3, 18, 5)])
    assert (c.price, c.volume_wh, c.regime) == (12, 6, "buyers_market")
    assert table(c) == {"s1": (4, "filled"), "s2": (2, "partial"), "s3": (0, "unfilled"),
                        "b1": (3, "filled"), "b2": (3, "filled")}


def test_buyers_market_exact_marginal_seller_takes_next_ask():
    c = clear_uniform([S("s1", 4, 10, 1), S("s2", 4, 12, 2), S("s3", 4, 15, 3),
                       B("b1", 5, 20, 4), B("b2", 3, 16, 5)])
    assert (c.price, c.volume_wh, c.regime) == (15, 8, "buyers_market")
    assert table(c) == {"s1": (4, "filled"), "s2": (4, "filled"), "s3": (0, "unfilled"),
                        "b1": (5, "filled"), "b2": (3, "filled")}


def test_sellers_market_partial_marginal_buyer():
    c = clear_uniform([B("b1", 4, 30, 1), B("b2", 4, 25, 2), B("b3", 4, 20, 3),
                       S("s1", 3, 10, 4), S("s2", 3, 12, 5)])
    assert (c.price, c.volume_wh, c.regime) == (25, 6, "sellers_market")
    assert table(c) == {"b1": (4, "filled"), "b2": (2, "partial"), "b3": (0, "unfilled"),
                        "s1": (3, "filled"), "s2": (3, "filled")}


def test_sellers_market_exact_marginal_buyer_takes_next_bid():
    c = clear_uniform([B("b1", 4, 30, 1), B("b2", 4, 25, 2), B("b3", 4, 20, 3),
                       S("s1", 5, 10, 4), S("s2", 3, 12, 5)])
    assert (c.price, c.volume_wh, c.regime) == (20, 8, "sellers_market")
    assert table(c)["b2"] == (4, "filled") and table(c)["b3"] == (0, "unfilled")


def test_balanced_price_is_highest_ask():
    c = clear_uniform([S("s1", 5, 10, 1), S("s2", 3, 14, 2), B("b1", 4, 20, 3), B("b2", 4, 16, 4)])
    assert (c.price, c.volume_wh, c.regime) == (14, 8, "balanced")
    assert all(f.status == "filled" for f in c.fills)


def test_buyers_market_exclusion_then_reclear():
    # Pass 1: s2 is exactly filled, price = ask(s3) = 30, so b2..b4 (bids < 30) are
    # excluded. Pass 2: only b1 (5 Wh) is left; s1 is partly filled at its own ask 10.
    c = clear_uniform([S("s1", 10, 10, 1), S("s2", 10, 20, 2), S("s3", 10, 30, 3),
                       B("b1", 5, 100, 4), B("b2", 5, 25, 5), B("b3", 5, 15, 6), B("b4", 5, 12, 7)])
    assert (c.price, c.volume_wh, c.regime) == (10, 5, "buyers_market")
    assert table(c) == {"s1": (5, "partial"), "s2": (0, "unfilled"), "s3": (0, "unfilled"),
                        "b1": (5, "filled"), "b2": (0, "excluded"), "b3": (0, "excluded"),
                        "b4": (0, "excluded")}


def test_sellers_market_exclusion_raises_price():
    # Pass 1: price = bid(b2) = 25, s2 asks 40 and is excluded. Pass 2: supply 3,
    # b1 is partly filled at its own bid 30.
    c = clear_uniform([S("s1", 3, 10, 1), S("s2", 3, 40, 2), B("b1", 4, 30, 3), B("b2", 4, 25, 4)])
    assert (c.price, c.volume_wh, c.regime) == (30, 3, "sellers_market")
    assert table(c) == {"s1": (3, "filled"), "s2": (0, "excluded"), "b1": (3, "partial"),
                        "b2": (0, "unfilled")}


def test_balanced_exclusion_turns_into_buyers_market():
    # Pass 1 balanced at the highest ask 30 excludes b2 (bid 20); pass 2 is a
    # buyers' market where s1 is exactly filled, so the price is ask(s2) = 30.
    c = clear_uniform([S("s1", 5, 10, 1), S("s2", 5, 30, 2), B("b1", 5, 40, 3), B("b2", 5, 20, 4)])
    assert (c.price, c.volume_wh, c.regime) == (30, 5, "buyers_market")
    assert table(c) == {"s1": (5, "filled"), "s2": (0, "unfilled"), "b1": (5, "filled"),
                        "b2": (0, "excluded")}


def test_exclusion_of_every_buyer_keeps_regime_without_trade():
    c = clear_uniform([S("s1", 5, 10, 1), S("s2", 5, 20, 2), B("b1", 3, 5, 3)])
    assert (c.price, c.volume_wh, c.regime) == (None, 0, "buyers_market")
    assert table(c) == {"s1": (0, "unfilled"), "s2": (0, "unfilled"), "b1": (0, "excluded")}


def test_no_crossing_balanced_book_trades_nothing():
    # Documented corner: the balanced pass fixes the regime, then b1 is excluded.
    c = clear_uniform([S("s1", 5, 50, 1), B("b1", 5, 40, 2)])
    assert (c.price, c.volume_wh, c.regime) == (None, 0, "balanced")
    assert table(c) == {"s1": (0, "unfilled"), "b1": (0, "excluded")}


def test_ties_broken_by_seq_not_by_input_position():
    c = clear_uniform([S("late", 5, 10, 2), S("early", 5, 10, 1), B("b", 7, 20, 3)])
    assert table(c) == {"early": (5, "filled"), "late": (2, "partial"), "b": (7, "filled")}
    c = clear_uniform([B("late", 5, 10, 2), B("early", 5, 10, 1), S("s", 7, 0, 3)])
    assert table(c) == {"early": (5, "filled"), "late": (2, "partial"), "s": (7, "filled")}
    assert c.price == 10


def test_one_order_does_not_trade():
    for o in (B("b", 5, 10, 1), S("s", 5, 10, 1)):
        c = clear_uniform([o])
        assert (c.price, c.volume_wh, c.regime) == (None, 0, "no_trade")
        assert c.fills == (Fill(o.id, o.side, 0, "unfilled"),)


def test_all_orders_at_one_price():
    c = clear_uniform([S("s1", 3, 10, 1), S("s2", 3, 10, 2), B("b1", 4, 10, 3), B("b2", 4, 10, 4)])
    assert (c.price, c.volume_wh, c.regime) == (10, 6, "sellers_market")
    assert table(c) == {"s1": (3, "filled"), "s2": (3, "filled"), "b1": (4, "filled"),
                        "b2": (2, "partial")}


def test_zero_prices_are_valid():
    c = clear_uniform([S("s", 5, 0, 1), B("b", 5, 0, 2)])
    assert (c.price, c.volume_wh, c.regime) == (0, 5, "balanced")


def test_empty_book():
    assert clear_uniform([]) == clear_uniform(())
    c = clear_uniform([])
    assert (c.price, c.volume_wh, c.regime, c.fills) == (None, 0, "no_trade", ())


def test_largest_values_do_not_overflow():
    big = 2**31 - 1
    orders = [S(f"s{i}", big, big, i) for i in range(3)] + [B("b", big, big, 9)]
    c = clear_uniform(orders)
    assert (c.price, c.volume_wh) == (big, big)


@pytest.mark.parametrize(
    "bad, words",
    [
        (B("x", 0, 10, 1), "order 'x' (orders[0]): qty_wh 0"),
        (B("x", -5, 10, 1), "qty_wh -5"),
        (B("x", 2**31, 10, 1), "qty_wh 2147483648 is outside"),
        (B("x", 5, -1, 1), "price -1 is outside"),
        (B("x", 5, 2**31, 1), "price 2147483648 is outside"),
        (B("x", 5.0, 10, 1), "qty_wh must be an integer"),
        (B("x", True, 10, 1), "qty_wh must be an integer"),
        (B("x", 5, 10.5, 1), "price must be an integer"),
        (B("x", 5, 10, "1"), "seq must be an integer"),
        (Order("x", "bid", 5, 10, 1), "side must be 'buy' or 'sell'"),
        (Order("", "buy", 5, 10, 1), "id must be a non-empty string"),
    ],
)
def test_bad_order_is_refused_naming_it(bad, words):
    with pytest.raises(ValueError, match=re.escape(words)):
        clear_uniform([bad])


def test_duplicates_are_refused():
    with pytest.raises(ValueError, match=r"order 'a' \(orders\[1\]\): duplicate id"):
        clear_uniform([B("a", 1, 1, 1), S("a", 1, 1, 2)])
    with pytest.raises(ValueError, match=r"order 'b' \(orders\[1\]\): duplicate seq 1"):
        clear_uniform([B("a", 1, 1, 1), S("b", 1, 1, 1)])
    with pytest.raises(ValueError, match=r"orders\[0\] is a dict"):
        clear_uniform([{"id": "a"}])


# ---------------------------------------------------------------- properties

@st.composite
def books(draw, max_orders=12, max_price=12, max_qty=12):
    n = draw(st.integers(0, max_orders))
    seqs = draw(st.permutations(range(n)))
    return [
        Order(f"o{i}", draw(st.sampled_from(["buy", "sell"])), draw(st.integers(1, max_qty)),
              draw(st.integers(0, max_price)), seqs[i] * 3 + 1)
        for i in range(n)
    ]


@settings(max_examples=400, deadline=None)
@given(books())
def test_matches_plain_reference(orders):
    c = clear_uniform(orders)
    price, volume, regime, fills = reference_uniform(orders)
    assert (c.price, c.volume_wh, c.regime) == (price, volume, regime)
    assert table(c) == fills


@settings(max_examples=300, deadline=None)
@given(books(max_orders=20, max_price=5, max_qty=30))
def test_invariants(orders):
    c = clear_uniform(orders)
    assert [f.order_id for f in c.fills] == [o.id for o in orders]
    bought = sum(f.qty_wh for f in c.fills if f.side == "buy")
    sold = sum(f.qty_wh for f in c.fills if f.side == "sell")
    assert bought == sold == c.volume_wh
    assert (c.price is None) == (c.volume_wh == 0)
    for o, f in zip(orders, c.fills, strict=True):
        assert 0 <= f.qty_wh <= o.qty_wh
        if f.qty_wh:  # nobody trades at a price worse than its own limit
            assert (o.price >= c.price) if o.side == "buy" else (o.price <= c.price)
        if f.status == "excluded":
            assert f.qty_wh == 0
    # at most one order per side is partly filled: the marginal one
    assert sum(f.status == "partial" for f in c.fills) <= 1


@settings(max_examples=200, deadline=None)
@given(books(), st.randoms(use_true_random=False))
def test_independent_of_input_order(orders, rnd):
    shuffled = list(orders)
    rnd.shuffle(shuffled)
    a, b = clear_uniform(orders), clear_uniform(shuffled)
    assert (a.price, a.volume_wh, a.regime) == (b.price, b.volume_wh, b.regime)
    assert table(a) == table(b)
    # seq matters only through its order: renumbering monotonically changes nothing
    renum = [Order(o.id, o.side, o.qty_wh, o.price, o.seq * 1000 - 7) for o in orders]
    assert table(clear_uniform(renum)) == table(a)


def test_large_book_known_answer():
    # 60,000 one-Wh sellers asking 0..59,999 and 50,000 buyers bidding 100,000 down:
    # buyers' market, demand 50,000 reached exactly at seller 49,999, so the price is
    # the next ask (50,000); every bid is above it.
    sells = [S(f"s{i}", 1, i, i) for i in range(60_000)]
    buys = [B(f"b{i}", 1, 100_000 - i, 100_000 + i) for i in range(50_000)]
    c = clear_uniform(buys + sells)
    assert (c.price, c.volume_wh, c.regime) == (50_000, 50_000, "buyers_market")
    status = [f.status for f in c.fills]
    assert status[:50_000] == ["filled"] * 50_000
    assert status[50_000:100_000] == ["filled"] * 50_000
    assert status[100_000:] == ["unfilled"] * 10_000
