"""Bilateral clearing on hand-worked books (docs/carbon-market.md works the first one)."""

from __future__ import annotations

import pytest

from hub.carbonmarket.clearing import Participant, clear_bilateral, midpoint, turnover


def P(id, role, g, price, seq):  # noqa: N802 - a table row
    return Participant(id, role, g, price, seq)


BOOK = [
    P("cec-5", "cec", -1_200, 80_000, 1),
    P("cec-11", "cec", -700, 65_000, 2),
    P("cec-12", "cec", 500, 60_000, 3),
    P("cec-22", "cec", 300, 70_000, 4),
    P("pvp-6", "pvp", 400, 50_000, 5),
    P("pvp-14", "pvp", 1_000, 62_000, 6),
    P("pvp-18", "pvp", 200, 90_000, 7),
]


def test_worked_example_ces_first_then_pvp_quotas():
    c = clear_bilateral(BOOK)
    got = [(t.seller, t.buyer, t.qty_g, t.price, t.turnover_micro, t.phase) for t in c.trades]
    assert got == [
        ("cec-12", "cec-5", 500, 70_000, 35_000, 1),   # (60,000 + 80,000) / 2
        ("cec-22", "cec-5", 300, 75_000, 22_500, 1),   # (70,000 + 80,000) / 2
        ("pvp-6", "cec-5", 400, 65_000, 26_000, 2),    # (50,000 + 80,000) / 2
        ("pvp-14", "cec-11", 700, 63_500, 44_450, 2),  # (62,000 + 65,000) / 2
    ]
    assert c.filled_g == {"cec-5": 1_200, "cec-11": 700, "cec-12": 500, "cec-22": 300,
                          "pvp-6": 400, "pvp-14": 700, "pvp-18": 0}
    assert c.money_micro["cec-5"] == -(35_000 + 22_500 + 26_000)
    assert c.money_micro["pvp-14"] == 44_450 and c.money_micro["pvp-18"] == 0
    assert sum(c.money_micro.values()) == 0 and c.volume_g == 1_900


def test_no_trade_when_ask_above_bid():
    c = clear_bilateral([P("b", "cec", -100, 59_999, 1), P("s", "cec", 100, 60_000, 2),
                         P("q", "pvp", 100, 60_001, 3)])
    assert c.trades == () and c.filled_g == {"b": 0, "s": 0, "q": 0}


def test_ask_equal_to_bid_trades_at_that_price():
    c = clear_bilateral([P("b", "cec", -100, 60_000, 1), P("s", "pvp", 100, 60_000, 2)])
    assert [(t.qty_g, t.price, t.turnover_micro) for t in c.trades] == [(100, 60_000, 6_000)]


def test_cec_surplus_goes_first_even_when_a_pvp_asks_less():
    c = clear_bilateral([P("b", "cec", -100, 100, 1), P("pvp", "pvp", 100, 10, 2),
                         P("cec", "cec", 100, 90, 3)])
    assert [(t.seller, t.price) for t in c.trades] == [("cec", 95)]


def test_ties_go_to_the_earlier_submission():
    c = clear_bilateral([P("b1", "cec", -50, 100, 5), P("b2", "cec", -50, 100, 2),
                         P("s1", "pvp", 60, 80, 9), P("s2", "pvp", 60, 80, 4)])
    assert [(t.seller, t.buyer, t.qty_g) for t in c.trades] == \
        [("s2", "b2", 50), ("s2", "b1", 10), ("s1", "b1", 40)]


@pytest.mark.parametrize("ask,bid,want", [(1, 2, 2), (2, 3, 2), (60_001, 80_000, 70_000),
                                          (60_000, 80_001, 70_000), (7, 7, 7), (0, 1, 0)])
def test_midpoint_rounds_a_half_to_even(ask, bid, want):
    assert midpoint(ask, bid) == want and ask <= want <= bid


def test_turnover_is_quantity_times_price_floored_to_a_micro():
    assert turnover(333, 1_001) == 333  # 333.333 micro: the buyer pays 333
    assert turnover(1_000, 65_000) == 65_000


@pytest.mark.parametrize("bad,msg", [
    (P("x", "pvp", -1, 1, 1), "cannot be negative"),
    (P("x", "cec", 10**13, 1, 1), "verified_g"),
    (P("x", "cec", 1, -1, 1), "price"),
    (P("x", "xyz", 1, 1, 1), "role"),  # type: ignore[arg-type]
])
def test_bad_participants_are_refused_by_name(bad, msg):
    with pytest.raises(ValueError, match=msg):
        clear_bilateral([bad])


def test_duplicate_ids_are_refused():
    with pytest.raises(ValueError, match="duplicate"):
        clear_bilateral([P("x", "cec", 1, 1, 1), P("x", "cec", -1, 1, 2)])
