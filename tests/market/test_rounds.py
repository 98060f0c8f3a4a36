"""Iterative bidding: the interval state machine, best response (P5) and TowardPrice.

Every expected number below is worked by hand in the comment next to it; the
property tests compare the strategy with a naive restatement of the rule that
scans every integer price through the independent reference clearing
(tests/market/reference.py).
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from edge.market.book import GateClosed
from edge.market.clearing import Order, clear_uniform
from edge.market.rounds import (
    EXCESS_SIDE,
    BestResponse,
    IntervalRounds,
    PendingOrder,
    RoundRefused,
    TowardPrice,
    cleared_limit,
    run_rounds,
)

from .reference import reference_uniform
from .test_clearing import books

BR = BestResponse()


def table(r) -> dict[str, int]:
    return {f.order_id: f.qty_wh for f in r.clearing.fills}


def prices(r) -> dict[str, int]:
    return {o.id: o.price for o in r.orders}


# -- P5's worked examples (0.01 currency/kWh = 10,000 micro/kWh; kWh -> Wh) -----------

def sellers_market(r_seq: int = 4) -> list[Order]:
    """One seller 20 kWh @ 0.40; buyers P 8 @ 0.90, Q 15 @ 0.75, R 5 @ 0.72."""
    return [Order("S", "sell", 20000, 400000, 1), Order("P", "buy", 8000, 900000, 2),
            Order("Q", "buy", 15000, 750000, 3), Order("R", "buy", 5000, 720000, r_seq)]


def test_seeds_sellers_market():
    r = run_rounds(sellers_market(), BR, 10)
    # P5's round 1 is our round 0: supply 20 < demand 28; P takes 8, Q the remaining 12
    # of 15 (marginal, partial), so the price is Q's bid 0.75; R gets nothing.
    r0, r1 = r.rounds
    assert (r0.number, r0.clearing.price, r0.clearing.regime) == (0, 750000, "sellers_market")
    assert table(r0) == {"S": 20000, "P": 8000, "Q": 12000, "R": 0}
    # Round 1: R is at its limit and cannot move; Q moves to R's 0.72 and keeps its 12
    # because Q was submitted before R; P, whose bid does not set the price, holds.
    assert prices(r1) == {"S": 400000, "P": 900000, "Q": 720000, "R": 720000}
    assert r1.clearing.price == 720000 and table(r1) == table(r0)
    # Round 2 would change nothing: round 1 binds.
    assert r1.final and r.converged and r.binding is r1


def test_seeds_buyers_market():
    book = [Order("B", "buy", 10000, 950000, 1), Order("U", "sell", 6000, 300000, 2),
            Order("V", "sell", 7000, 450000, 3), Order("W", "sell", 4000, 550000, 4)]
    r = run_rounds(book, BR, 10)
    r0, r1 = r.rounds
    # supply 17 > demand 10: U 6, V the remaining 4 of 7 (marginal), price V's ask 0.45
    assert (r0.clearing.price, r0.clearing.regime) == (450000, "buyers_market")
    assert table(r0) == {"B": 10000, "U": 6000, "V": 4000, "W": 0}
    # V moves up to W's 0.55 and keeps its 4 (submitted before W); U holds
    assert prices(r1) == {"B": 950000, "U": 300000, "V": 550000, "W": 550000}
    assert r1.clearing.price == 550000 and table(r1) == table(r0)
    assert r1.final and r.converged


# -- hand-worked books --------------------------------------------------------------

def test_the_tie_rule_when_the_losing_rival_was_submitted_first():
    # As P5's seller's market, but R was submitted before Q (R seq 2, Q seq 4): at
    # R's 0.72 the tie would go to R, so Q stops one price unit above it, 720,001.
    book = [Order("S", "sell", 20000, 400000, 1), Order("R", "buy", 5000, 720000, 2),
            Order("P", "buy", 8000, 900000, 3), Order("Q", "buy", 15000, 750000, 4)]
    r = run_rounds(book, BR, 10)
    assert [x.clearing.price for x in r.rounds] == [750000, 720001]
    assert table(r.binding) == {"S": 20000, "R": 0, "P": 8000, "Q": 12000}
    assert r.converged


def test_buyers_market_rival_first_and_carbon_adders():
    # W (seq 2) before V (seq 4): V stops one unit below W's ask. V carries an adder of
    # 30,000: it quotes 420,000 (cleared 450,000) and W's 550,000 is 520,000 in V's terms,
    # so V's new quote is 549,999 - 30,000 = 519,999.
    book = [Order("B", "buy", 10000, 950000, 1), Order("W", "sell", 4000, 550000, 2),
            Order("U", "sell", 6000, 300000, 3), Order("V", "sell", 7000, 420000, 4)]
    r = run_rounds(book, BR, 10, adders={"V": 30000})
    assert [x.clearing.price for x in r.rounds] == [450000, 549999]
    assert prices(r.binding)["V"] == 549999  # as cleared
    assert table(r.binding) == {"B": 10000, "W": 0, "U": 6000, "V": 4000}


def test_an_unfilled_buyer_with_room_wins_and_the_old_marginal_shades_down():
    # P5's seller's market, but R may pay up to 0.80 (limit 800,000, quote 720,000).
    r = run_rounds(sellers_market(), BR, 10, limits={"R": 800000})
    # Round 0 as in P5: P 8, Q 12 (marginal), R 0, price 750,000.
    # Round 1: R outbids Q by one unit (Q is earlier, so a tie would not do): 750,001;
    # at the same time Q moves to R's old 720,000. Buyers: P 900,000 (8), R 750,001 (5),
    # Q 720,000 gets the last 7 of 20 and sets the price 720,000.
    # Round 2: nobody bids below Q any more, so Q keeps its 7 down to the seller's
    # 400,000 (lower would exclude the seller): price 400,000. R's bid (it would need
    # 400,001, Q being earlier) never sets the price, so R and P hold.
    # Round 3 changes nothing: round 2 binds.
    assert [prices(x) for x in r.rounds] == [
        {"S": 400000, "P": 900000, "Q": 750000, "R": 720000},
        {"S": 400000, "P": 900000, "Q": 720000, "R": 750001},
        {"S": 400000, "P": 900000, "Q": 400000, "R": 750001}]
    assert [x.clearing.price for x in r.rounds] == [750000, 720000, 400000]
    assert table(r.binding) == {"S": 20000, "P": 8000, "Q": 7000, "R": 5000}
    assert r.converged


def test_an_excluded_order_of_the_short_side_moves_to_win_energy():
    # Seller's market: supply 5 kWh < demand 20 kWh, the marginal buyer is P (5 of 8), so
    # the price would be P's bid 900,000, which excludes the seller asking 950,000: no
    # trade. The seller (limit 500,000) is not "filled whole anyway": it moves to the
    # highest ask that trades, 900,000.
    book = [Order("S", "sell", 5000, 950000, 1), Order("P", "buy", 8000, 900000, 2),
            Order("Q", "buy", 12000, 750000, 3)]
    r = run_rounds(book, BR, 10, limits={"S": 500000})
    assert [x.clearing.price for x in r.rounds] == [None, 900000]
    assert prices(r.binding)["S"] == 900000
    # P (partial) cannot shade: any bid below 900,000 would exclude the seller again
    assert table(r.binding) == {"S": 5000, "P": 5000, "Q": 0}
    assert r.converged


def test_balanced_market_the_top_seller_raises_to_the_lowest_bid():
    # 10 kWh each side: price = the highest active ask 400,000. Neither side is short, so
    # the seller shades up as far as it keeps its 10: the lowest bid, 600,000.
    book = [Order("S", "sell", 10000, 400000, 1), Order("P", "buy", 4000, 900000, 2),
            Order("Q", "buy", 6000, 600000, 3)]
    r = run_rounds(book, BR, 10)
    assert [x.clearing.price for x in r.rounds] == [400000, 600000]
    assert r.binding.clearing.regime == "balanced" and r.converged


def test_round_limit_binds_the_last_round():
    # Two buyers with room compete for the last kWh: each round the loser outbids the
    # other by one unit, so only the limit stops them; round max_rounds - 1 binds.
    book = [Order("S", "sell", 1000, 100, 1), Order("P", "buy", 1000, 500, 2),
            Order("Q", "buy", 1000, 500, 3)]
    r = run_rounds(book, BR, 4, limits={"P": 900, "Q": 900})
    # round 0: tie at 500, P is earlier and takes the kWh (price = Q's 500). Round 1: Q
    # outbids P (Q is later, so 501 is needed). Round 2: P, now the loser, ties Q at 501
    # (P is earlier, so the tie wins). Round 3: Q 502, and so on.
    assert [prices(x) for x in r.rounds] == [
        {"S": 100, "P": 500, "Q": 500}, {"S": 100, "P": 500, "Q": 501},
        {"S": 100, "P": 501, "Q": 501}, {"S": 100, "P": 501, "Q": 502}]
    assert [x.number for x in r.rounds] == [0, 1, 2, 3]
    assert r.binding.final and not r.converged


# -- the state machine ------------------------------------------------------------------

def test_interval_rounds_one_numbering_and_the_stop_rules():
    ir = IntervalRounds(900, max_rounds=3)
    assert ir.next_round == 0
    ir.quote("a", "sell", 100, 50)
    ir.quote("b", "buy", 100, 40)
    first = ir.quote("a", "sell", 100, 60)  # replaces: a new, later number
    assert first.seq == 3
    assert ir.pending() == (PendingOrder(2, "b", "buy", 100, 40, "open", 0),
                            PendingOrder(3, "a", "sell", 100, 60, "open", 0))
    assert ir.due() == (0, False)
    r0 = ir.step()
    assert (r0.number, r0.final, r0.clearing.price) == (0, False, None)
    with pytest.raises(GateClosed):
        ir.quote("c", "buy", 1, 1)
    # revisions: for the next round only, same side, participants in the book
    assert ir.refusal("a", 2, "sell") == "round_not_open"
    assert ir.refusal("a", 3, "sell") == "bad_round"
    assert ir.refusal("z", 1, "sell") == "not_in_book"
    assert ir.refusal("a", 1, "buy") == "side_changed"
    assert ir.refusal("a", 0, "sell") == "gate_closed"
    assert ir.refusal("a", -1, "sell") == "round_not_open"
    with pytest.raises(RoundRefused) as e:
        ir.revise("a", 1, "buy", 100, 45)
    assert e.value.reason == "side_changed"
    with pytest.raises(RoundRefused) as e:
        ir.revise("a", 1, "sell", 0, 45)
    assert e.value.reason == "invalid"
    rev = ir.revise("a", 1, "sell", 100, 45)
    assert rev.seq == 3  # the ORIGINAL number: a revision keeps its time priority
    again = ir.revise("a", 1, "sell", 90, 40)  # the last revision for a round counts
    assert ir.orders_for(1) == (Order("b", "buy", 100, 40, 2), again)
    r1 = ir.step()
    assert (r1.number, r1.final, r1.clearing.price, r1.clearing.volume_wh) == (1, False, 40, 90)
    assert ir.pending()[1] == PendingOrder(3, "a", "sell", 90, 40, "closed", 1)
    # nobody revises for round 2: round 1 is the equilibrium and is published again, final
    assert ir.due() == (1, True)
    r = ir.step()
    assert (r.number, r.final) == (1, True) and r.clearing == r1.clearing
    assert ir.next_round is None and ir.refusal("a", 2, "sell") == "round_not_open"
    with pytest.raises(RoundRefused):
        ir.step()


def test_a_revision_equal_to_the_last_quote_is_no_change_and_the_limit_binds():
    ir = IntervalRounds(0, max_rounds=2)
    ir.quote("a", "sell", 100, 50)
    ir.quote("b", "buy", 100, 60)
    with pytest.raises(RoundRefused, match="round-0 quote"):  # first quotes go through quote()
        ir.revise("a", 0, "sell", 100, 40)
    ir.step()
    ir.revise("a", 1, "sell", 100, 50)  # same quote again: not a change
    assert ir.due() == (0, True)
    ir.revise("a", 1, "sell", 100, 55)
    assert ir.due() == (1, True)  # round 1 is the limit's last round
    assert ir.step().final


def test_restore_resumes_at_the_recorded_round():
    ir = IntervalRounds(0, max_rounds=5)
    ir.quote("a", "sell", 100, 50)
    ir.restore(2, False)
    assert ir.next_round == 3 and ir.refusal("a", 3, "sell") is None
    assert ir.refusal("a", 0, "sell") == "gate_closed"
    with pytest.raises(ValueError, match="max_rounds must be a positive integer"):
        IntervalRounds(0, 0)


def test_bad_arguments():
    with pytest.raises(ValueError, match="max_rounds must be a positive integer"):
        run_rounds(sellers_market(), BR, 0)
    with pytest.raises(ValueError, match="tick must be a positive integer"):
        TowardPrice(tick=0)
    with pytest.raises(ValueError, match="limit of 'Q' must be an integer"):
        run_rounds(sellers_market(), BR, 3, limits={"Q": -1})
    with pytest.raises(ValueError, match="quote 750000 is above its highest acceptable"):
        run_rounds(sellers_market(), BR, 3, limits={"Q": 700000})
    with pytest.raises(ValueError, match="quote 400000 is below its lowest acceptable"):
        run_rounds(sellers_market(), BR, 3, limits={"S": 500000})


# -- TowardPrice, the named alternative ---------------------------------------------------

def tp_book():
    return [Order("s1", "sell", 100, 50, 1), Order("s2", "sell", 100, 80, 2),
            Order("b1", "buy", 150, 70, 3)]


def test_toward_price_unfilled_seller_walks_down_to_the_price_and_stops():
    published = []
    r = run_rounds(tp_book(), TowardPrice(tick=5), 10, limits={"s2": 60}, publish=published.append)
    # Round 0: buyers' market, s1 exactly filled, price = ask(s2) = 80 > bid 70: b1
    # excluded, no trade. b1 is at its limit; s2 drops 5 a round toward its limit
    # (no price to aim at): 75, 70. Round 2: s2 at 70, price 70, b1 trades.
    assert [x.clearing.price for x in r.rounds] == [None, None, 70]
    assert [x.orders[1].price for x in r.rounds] == [80, 75, 70]
    assert r.converged and r.binding.number == 2 and r.binding.final
    # round 2 was published, then published again as final (round 3 changed nothing)
    assert [(p.number, p.final) for p in published] == [(0, False), (1, False), (2, False),
                                                        (2, True)]
    assert table(r.binding) == {"s1": 100, "s2": 50, "b1": 150}


def test_toward_price_never_past_the_limit_and_the_round_limit_binds():
    r = run_rounds(tp_book(), TowardPrice(tick=1), 2, limits={"s2": 78})
    assert not r.converged and len(r.rounds) == 2
    assert r.binding.orders[1].price == 79
    r = run_rounds(tp_book(), TowardPrice(tick=1), 50, limits={"s2": 78})
    assert r.converged and r.binding.orders[1].price == 78  # stuck at its limit


@settings(max_examples=150, deadline=None)
@given(books(max_orders=10, max_price=40), st.integers(0, 40), st.integers(1, 7))
def test_toward_price_terminates_deterministic_and_monotone(orders, spread, tick):
    # limits: buyers may go up by `spread`, sellers down by `spread`
    lim = {o.id: (o.price + spread if o.side == "buy" else max(o.price - spread, 0))
           for o in orders}
    strat = TowardPrice(tick)
    a = run_rounds(orders, strat, 1000, limits=lim)
    assert a == run_rounds(orders, strat, 1000, limits=lim)
    assert a.converged  # monotone and bounded: ends before the generous limit
    assert len(a.rounds) <= 1 + len(orders) * (spread // tick + 1)  # >= 1 move per round
    first = {o.id: o.price for o in orders}
    for o in a.binding.orders:
        lo, hi = sorted((first[o.id], lim[o.id]))
        assert lo <= o.price <= hi


# -- properties of best response, against the rule scanned price by price -------------

def ref_outcome(orders, me, x):
    trial = list(orders)
    trial[me] = Order(orders[me].id, orders[me].side, orders[me].qty_wh, x, orders[me].seq)
    price, _, _, fills = reference_uniform(trial)
    return fills[orders[me].id][0], price


def scanned_response(orders, me, limit, top):
    """P5's rule by brute force: every integer price from 0 to ``top``."""
    price, _, regime, fills = reference_uniform(list(orders))
    o = orders[me]
    got = fills[o.id][0]
    buyer = o.side == "buy"
    within = [x for x in range(top + 1) if (x <= limit if buyer else x >= limit)]
    if got == 0:
        def wins(x):
            q, p = ref_outcome(orders, me, x)
            return q > 0 and (p <= limit if buyer else p >= limit)
        winning = [x for x in within if wins(x)]
        if not winning:
            return o.price
        return min(winning) if buyer else max(winning)  # the least move that wins
    if o.side not in EXCESS_SIDE[regime]:
        return o.price
    keeping = [x for x in range(top + 1) if ref_outcome(orders, me, x)[0] >= got
               and (x <= o.price if buyer else x >= o.price)]
    x = min(keeping) if buyer else max(keeping)  # as far as it can, keeping its fill
    p = ref_outcome(orders, me, x)[1]
    better = p < price if buyer else p > price
    return x if better else o.price


@st.composite
def books_with_limits(draw, max_orders=7, max_price=20):
    orders = draw(books(max_orders=max_orders, max_price=max_price, max_qty=8))
    room = {o.id: draw(st.sampled_from([0, 0, 1, 3, 8])) for o in orders}
    limits = {o.id: o.price + room[o.id] if o.side == "buy" else max(o.price - room[o.id], 0)
              for o in orders}
    return orders, limits


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(books_with_limits())
def test_respond_equals_the_rule_scanned_price_by_price(case):
    orders, limits = case
    assume(orders)
    c = clear_uniform(orders)
    top = max(o.price for o in orders) + 10  # beyond every quote and limit: all the same
    for i, o in enumerate(orders):
        assert BR.respond(orders, c, i, limits[o.id]) == scanned_response(
            orders, i, limits[o.id], top), (i, o)


@settings(max_examples=200, deadline=None)
@given(books(max_orders=8, max_price=15, max_qty=8), st.data())
def test_energy_is_monotone_in_ones_own_quote(orders, data):
    # the fact BestResponse's binary search relies on, checked on the reference clearing
    # (the price is not monotone: a bid rising past the marginal one can lower it)
    assume(orders)
    me = data.draw(st.integers(0, len(orders) - 1))
    outs = [ref_outcome(orders, me, x) for x in range(18)]
    qty = [q for q, _ in outs]
    if orders[me].side == "buy":
        assert qty == sorted(qty)
    else:
        assert qty == sorted(qty, reverse=True)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(books_with_limits(max_orders=7, max_price=20))
def test_final_round_is_a_fixed_point_and_nobody_trades_beyond_its_limit(case):
    orders, limits = case
    r = run_rounds(orders, BR, 200, limits=limits)
    for rnd in r.rounds:
        for o, f in zip(rnd.orders, rnd.clearing.fills, strict=True):
            assert (o.price <= limits[o.id]) if o.side == "buy" else (o.price >= limits[o.id])
            if f.qty_wh:
                p = rnd.clearing.price
                assert (p <= limits[o.id]) if o.side == "buy" else (p >= limits[o.id])
    if not r.converged:
        return  # a bidding war between losers with room stopped by the limit (see above)
    final = r.binding
    top = max([0, *(o.price for o in orders), *limits.values()]) + 2
    for i, o in enumerate(final.orders):
        # no unilateral move within its limit improves anybody's lot under the rule
        assert scanned_response(final.orders, i, limits[o.id], top) == o.price, (i, o)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(books_with_limits(max_orders=6, max_price=20), st.data())
def test_with_carbon_adders_the_fixed_point_holds_in_cleared_terms(case, data):
    # the edge clears seller + adder, buyer - adder; limits shift alike (cleared_limit)
    orders, limits = case
    adders = {o.id: data.draw(st.sampled_from([0, 0, 2, 5])) for o in orders}
    r = run_rounds(orders, BR, 200, limits=limits, adders=adders)
    lim = {o.id: cleared_limit(o.side, limits[o.id], adders[o.id]) for o in orders}
    for rnd in r.rounds:
        for o, f in zip(rnd.orders, rnd.clearing.fills, strict=True):
            if f.qty_wh:
                p = rnd.clearing.price
                assert (p <= lim[o.id]) if o.side == "buy" else (p >= lim[o.id])
    if r.converged:
        top = max([0, *(o.price for o in r.binding.orders), *lim.values()]) + 2
        for i, o in enumerate(r.binding.orders):
            assert scanned_response(r.binding.orders, i, lim[o.id], top) == o.price, (i, o)


@settings(max_examples=100, deadline=None)
@given(books(max_orders=8, max_price=20, max_qty=8))
def test_truthful_books_converge(orders):
    # everyone quotes its limit: losers cannot move, winners only shade; it settles fast
    r = run_rounds(orders, BR, 50)
    assert r.converged and len(r.rounds) <= 1 + len(orders)
    assert r == run_rounds(orders, BR, 50)  # deterministic
    # no limit given = the first quote is the limit, for good (not the quote in force)
    assert r == run_rounds(orders, BR, 50, limits={o.id: o.price for o in orders})
