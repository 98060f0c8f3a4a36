"""merit_order (P1 without network): minimums, relaxation, forced
balance, the price rule, validation, and properties against a one-Wh-at-a-time
reference and against scipy's LP optimum of the welfare problem."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edge.market.clearing import Unit, merit_order

from .reference import reference_merit, welfare


def U(id, qmin, qmax, price, seq):  # noqa: N802
    return Unit(id, qmin, qmax, price, seq)


def test_plain_merit_order_price_is_last_supplying_offer():
    d = merit_order([U("g1", 0, 100, 10, 1), U("g2", 0, 100, 30, 2)],
                    [U("l1", 0, 80, 50, 1), U("l2", 0, 100, 35, 2)])
    assert (d.price, d.volume_wh, d.relaxed) == (30, 180, False)
    assert d.gen_wh == {"g1": 100, "g2": 80}
    assert d.load_wh == {"l1": 80, "l2": 100}


def test_stops_when_next_ask_is_dearer_than_next_bid():
    d = merit_order([U("g1", 0, 100, 10, 1), U("g2", 0, 100, 30, 2)],
                    [U("l1", 0, 80, 50, 1), U("l2", 0, 100, 20, 2)])
    assert (d.price, d.volume_wh) == (10, 100)
    assert d.gen_wh == {"g1": 100, "g2": 0}
    assert d.load_wh == {"l1": 80, "l2": 20}


def test_generator_minimum_surplus_absorbed_by_loads_in_bid_order():
    # g2 must run 20 but l1 takes only 10 at minimum: the surplus 10 goes to l1's
    # block (highest bid); then g1 (10) serves l1's remaining 60 and l2 40 at bid 20;
    # g2's block (30) is dearer than l2's bid (20). g2's minimum does not set the price.
    d = merit_order([U("g1", 0, 100, 10, 1), U("g2", 20, 100, 30, 2)],
                    [U("l1", 10, 80, 50, 1), U("l2", 0, 100, 20, 2)])
    assert (d.price, d.volume_wh, d.relaxed) == (10, 120, False)
    assert d.gen_wh == {"g1": 100, "g2": 20}
    assert d.load_wh == {"l1": 80, "l2": 40}


def test_surplus_forced_onto_loads_regardless_of_price():
    d = merit_order([U("g1", 50, 50, 40, 1)], [U("l1", 0, 30, 5, 1), U("l2", 0, 30, 1, 2)])
    assert d.load_wh == {"l1": 30, "l2": 20}
    assert (d.price, d.volume_wh) == (40, 50)  # only minimums ran: highest offer with qmin > 0


def test_load_minimum_deficit_supplied_by_generators_in_offer_order():
    d = merit_order([U("g2", 0, 100, 30, 2), U("g1", 0, 100, 10, 1)], [U("l1", 150, 150, 5, 1)])
    assert d.gen_wh == {"g1": 100, "g2": 50}
    assert (d.price, d.volume_wh, d.relaxed) == (30, 150, False)


def test_relaxation_when_generator_minimums_exceed_all_load():
    d = merit_order([U("g1", 200, 300, 10, 1)], [U("l1", 0, 100, 50, 1)])
    assert d.relaxed
    assert (d.price, d.volume_wh, d.gen_wh, d.load_wh) == (10, 100, {"g1": 100}, {"l1": 100})


def test_relaxation_when_load_minimums_exceed_all_generation():
    d = merit_order([U("g1", 0, 50, 60, 1)], [U("l1", 80, 100, 50, 1)])
    assert d.relaxed
    assert (d.price, d.volume_wh) == (None, 0)  # relaxed, and the ask 60 > bid 50


def test_only_minimums_price_is_highest_offer_with_minimum():
    d = merit_order([U("g1", 30, 30, 40, 1), U("g2", 20, 20, 70, 2), U("g3", 0, 10, 5, 3)],
                    [U("l1", 50, 50, 10, 1)])
    assert (d.price, d.volume_wh) == (70, 50)
    assert d.gen_wh == {"g1": 30, "g2": 20, "g3": 0}


def test_ties_by_seq():
    d = merit_order([U("a", 0, 50, 10, 2), U("b", 0, 50, 10, 1)], [U("l", 0, 60, 20, 1)])
    assert d.gen_wh == {"a": 10, "b": 50}
    d = merit_order([U("g", 0, 60, 10, 1)], [U("a", 0, 50, 20, 2), U("b", 0, 50, 20, 1)])
    assert d.load_wh == {"a": 10, "b": 50}


def test_empty_sides():
    d = merit_order([], [])
    assert (d.price, d.volume_wh, d.gen_wh, d.load_wh, d.relaxed) == (None, 0, {}, {}, False)
    d = merit_order([U("g", 0, 10, 1, 1)], [])
    assert (d.price, d.volume_wh, d.gen_wh) == (None, 0, {"g": 0})
    d = merit_order([], [U("l", 5, 10, 1, 1)])
    assert d.relaxed and d.volume_wh == 0


def test_generator_and_load_may_share_an_id():
    d = merit_order([U("x", 0, 10, 1, 1)], [U("x", 0, 10, 5, 1)])
    assert (d.gen_wh, d.load_wh) == ({"x": 10}, {"x": 10})


@pytest.mark.parametrize(
    "gens, loads, words",
    [
        ([U("g", 5, 4, 1, 1)], [], "generator 'g' (generators[0]): qmin_wh 5 exceeds qmax_wh 4"),
        ([U("g", -1, 4, 1, 1)], [], "qmin_wh -1 is outside"),
        ([], [U("l", 0, 2**31, 1, 1)], "load 'l' (loads[0]): qmax_wh 2147483648 is outside"),
        ([U("g", 0, 4, -3, 1)], [], "price -3 is outside"),
        ([U("g", 0, 4.0, 1, 1)], [], "qmax_wh must be an integer"),
        ([U("g", 0, 4, 1, 1), U("g", 0, 4, 1, 2)], [],
         "generator 'g' (generators[1]): duplicate id"),
        ([], [U("a", 0, 4, 1, 1), U("b", 0, 4, 1, 1)], "duplicate seq 1"),
        ([("g", 0, 4, 1, 1)], [], "generators[0] is a tuple, not a Unit"),
    ],
)
def test_bad_units_are_refused_naming_them(gens, loads, words):
    import re

    with pytest.raises(ValueError, match=re.escape(words)):
        merit_order(gens, loads)


# ---------------------------------------------------------------- properties

@st.composite
def units(draw, prefix, max_n=5):
    n = draw(st.integers(0, max_n))
    seqs = draw(st.permutations(range(n)))
    out = []
    for i in range(n):
        qmax = draw(st.integers(0, 12))
        qmin = draw(st.integers(0, qmax)) if draw(st.booleans()) else 0
        out.append(Unit(f"{prefix}{i}", qmin, qmax, draw(st.integers(0, 8)), seqs[i]))
    return out


@settings(max_examples=400, deadline=None)
@given(units("g"), units("l"))
def test_matches_one_wh_reference(gens, loads):
    d = merit_order(gens, loads)
    assert (d.price, d.volume_wh, d.gen_wh, d.load_wh, d.relaxed) == reference_merit(gens, loads)


@settings(max_examples=200, deadline=None)
@given(units("g"), units("l"))
def test_balanced_within_bounds_and_welfare_optimal(gens, loads):
    from scipy.optimize import linprog

    d = merit_order(gens, loads)
    assert sum(d.gen_wh.values()) == sum(d.load_wh.values()) == d.volume_wh
    lo = {("g", u.id): 0 if d.relaxed else u.qmin_wh for u in gens}
    lo.update({("l", u.id): 0 if d.relaxed else u.qmin_wh for u in loads})
    for u in gens:
        assert lo[("g", u.id)] <= d.gen_wh[u.id] <= u.qmax_wh
    for u in loads:
        assert lo[("l", u.id)] <= d.load_wh[u.id] <= u.qmax_wh
    if not gens and not loads:
        return
    # max sum b*d - sum c*p  s.t. sum p = sum d, bounds: scipy minimises the negation
    cost = [g.price for g in gens] + [-u.price for u in loads]
    eq = [[1] * len(gens) + [-1] * len(loads)]
    bounds = [(lo[("g", u.id)], u.qmax_wh) for u in gens]
    bounds += [(lo[("l", u.id)], u.qmax_wh) for u in loads]
    res = linprog(cost, A_eq=eq, b_eq=[0], bounds=bounds, method="highs")
    assert res.status == 0
    assert welfare(gens, loads, d.gen_wh, d.load_wh) == round(-res.fun)


@settings(max_examples=100, deadline=None)
@given(units("g"), units("l"), st.randoms(use_true_random=False))
def test_independent_of_input_order(gens, loads, rnd):
    g2, l2 = list(gens), list(loads)
    rnd.shuffle(g2)
    rnd.shuffle(l2)
    assert merit_order(gens, loads) == merit_order(g2, l2)
