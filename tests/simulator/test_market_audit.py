"""The market's checks of a simulated day, each on hand-built books and chains.

Numbers are worked out by hand in the comments (clearing rules: docs/market.md).
"""

import json
import random

from edge.market import sealed
from edge.market.clearing import Order, clear_uniform
from edge.market.rounds import BestResponse, Round, revisions
from simulator import invariants as inv
from simulator.audit import late, revisions_sent, under_fault, why_not
from simulator.books import ChainTx, FinalBook, replay
from simulator.counterfactual import with_and_without
from simulator.fixedpoint import why_not_fixed
from simulator.scenario import load_scenario
from simulator.sealing import broker_leaks, chain_leaks, inbox_leaks

T = 1718960400  # an interval start (market seconds)


# -- best-response fixed point -------------------------------------------------------

def book(b2_price: int) -> list[Order]:
    # S sells 1500 Wh at 100; B1 buys 1000 at 300; B2 buys 1000 at b2_price
    return [Order("S", "sell", 1500, 100, 1), Order("B1", "buy", 1000, 300, 2),
            Order("B2", "buy", 1000, b2_price, 3)]


LIMITS = {"S": 100, "B1": 300, "B2": 200}


def test_a_partly_filled_buyer_that_sets_the_price_is_not_at_a_fixed_point():
    # demand 2000 > supply 1500: a sellers' market, buyers in excess; the price is the bid
    # of the marginal buyer B2 (200), who gets 500 Wh. At 100 (S's ask) B2 keeps its 500 Wh
    # and the price falls to 100: an improving move; below 100, S is excluded.
    why = why_not_fixed(book(200), LIMITS)
    assert why is not None and why.startswith("B2 ") and why.endswith("quoting 100")
    r = inv.fixed_points([("n", T * 1000, book(200))], lambda b: why_not_fixed(b, LIMITS))
    assert not r.ok and "B2" in r.detail


def test_after_that_move_nobody_can_improve():
    # B2 at 100: lower loses S; B1 lower than 100 excludes S too, and at 100..299 the price
    # stays B2's 100; S is on the short side. A fixed point.
    assert why_not_fixed(book(100), LIMITS) is None
    r = inv.fixed_points([("n", T * 1000, book(100))], lambda b: why_not_fixed(b, LIMITS))
    assert r.ok and "1 final rounds" in r.detail


def test_an_unfilled_order_that_could_win_within_its_limit_is_not_at_a_fixed_point():
    # S sells 1000 at 150; B buys 1000 at 100 (limit 180): no trade; at 150 B wins at 150
    orders = [Order("S", "sell", 1000, 150, 1), Order("B", "buy", 1000, 100, 2)]
    assert why_not_fixed(orders, {"S": 150, "B": 180}).endswith("quoting 150")
    assert why_not_fixed(orders, {"S": 150, "B": 100}) is None  # its limit forbids it


def test_the_brute_force_agrees_with_the_edges_rule_on_random_books():
    """An independent search and the edge's binary search: same verdict on each book."""
    rng = random.Random(3)
    for _ in range(150):
        n = rng.randint(2, 6)
        orders = [Order(f"p{i}", rng.choice(("buy", "sell")), rng.randint(1, 5) * 100,
                        rng.randint(5, 30) * 1000, i + 1) for i in range(n)]
        limits = {o.id: o.price + (rng.randint(0, 5) * 1000 if o.side == "buy" else
                                   -min(o.price, rng.randint(0, 5) * 1000)) for o in orders}
        c = clear_uniform(orders)
        moves = revisions(Round(0, tuple(orders), c), orders, BestResponse(), limits, {})
        assert (why_not_fixed(orders, limits) is None) == (not moves), (orders, limits, moves)


# -- replaying the chain ---------------------------------------------------------------

def tx(h: int, **t) -> ChainTx:
    return ChainTx(h, 1000 + h, t)


def test_the_chain_replays_to_the_binding_book_and_a_wrong_record_is_named():
    bids = [tx(1, type="bid", gw="S", seq=1, interval=T, side="sell", qty_wh=1500, price=100),
            tx(1, type="bid", gw="B1", seq=1, interval=T, side="buy", qty_wh=1000, price=300),
            tx(1, type="bid", gw="B2", seq=1, interval=T, side="buy", qty_wh=1000, price=200)]
    r0 = tx(2, type="result", interval=T, round=0, final=False, price=200, volume_wh=1500)
    rev = tx(3, type="bid", gw="B2", seq=2, interval=T, round=1, side="buy", qty_wh=1000,
             price=100)
    r1 = tx(4, type="result", interval=T, round=1, final=False, price=100, volume_wh=1500)
    # round 2's quotes equal round 1's: round 1 is published again as final
    r1f = tx(5, type="result", interval=T, round=1, final=True, price=100, volume_wh=1500)
    [b] = replay("n", [*bids, r0, rev, r1, r1f], 3)
    assert (b.round, b.price, b.volume_wh, b.mismatch) == (1, 100, 1500, "")
    assert [(o.id, o.price) for o in b.orders] == [("S", 100), ("B1", 300), ("B2", 100)]
    wrong = tx(5, type="result", interval=T, round=1, final=True, price=101, volume_wh=1500)
    [b] = replay("n", [*bids, r0, rev, r1, wrong], 3)
    assert "at 100; the edge recorded round 1 (final True) 1500 Wh at 101" in b.mismatch


def test_each_round_clears_with_the_signals_on_the_chain_before_it():
    """B2's adder of 50 (the newest signal before the result) moves its bid 200 -> 150:
    demand 2000 > supply 1500, the marginal bid sets the price: 1500 Wh at 150. The older
    signal (adder 1) would give 199, the later one (no adders) 200: neither is what the
    round was cleared with."""
    bids = [tx(1, type="bid", gw="S", seq=1, interval=T, side="sell", qty_wh=1500, price=100),
            tx(1, type="bid", gw="B1", seq=1, interval=T, side="buy", qty_wh=1000, price=300),
            tx(1, type="bid", gw="B2", seq=1, interval=T, side="buy", qty_wh=1000, price=200)]
    sig = {"type": "price", "valid_from": T, "valid_to": T + 900, "ts": 5, "adders": {"B2": 50}}
    old = {**sig, "ts": 4, "adders": {"B2": 1}}
    late = {**sig, "ts": 9, "adders": {}}
    r0 = tx(3, type="result", interval=T, round=0, final=True, price=150, volume_wh=1500)
    [b] = replay("n", [*bids, tx(2, **sig), tx(2, **old), r0, tx(4, **late)], 1)
    assert (b.adders, b.price, b.volume_wh, b.mismatch) == ({"B2": 50}, 150, 1500, "")


# -- sealed bids -------------------------------------------------------------------------

def sealed_day(open_ts: int, price: int = 120_000):
    """A sealed bid of gw "a" for (T, round 0) committed at height 1, opened at height 2."""
    key = sealed.OrganiserKey.generate(T, 0)
    blob = sealed.seal(120_000, 800, key.public, "a", T, 0)
    c = sealed.commitment(blob)
    commit = ChainTx(1, 500, {"type": "sealed_bid", "gw": "a", "seq": 7, "interval": T,
                              "round": 0, "side": "sell", "kid": key.kid, "commitment": c})
    result = {"type": "result", "interval": T, "round": 0, "final": True, "volume_wh": 0,
              "sealed": {"round": 0, "kid": key.kid, "private": key.private_bytes.hex(),
                         "opened": [{"gw": "a", "seq": 7, "round": 0, "blob": blob.hex(),
                                     "commitment": c, "price": price, "qty_wh": 800}],
                         "refused": []}}
    return [commit, ChainTx(2, open_ts, result)], result


def gate(interval: int, rnd: int) -> float:
    return 1000.0 + rnd * 10  # round 0's gate passes at wall ms 1000


def test_an_opening_after_its_gate_with_a_checking_blob_is_no_leak():
    txs, result = sealed_day(open_ts=1000)
    assert chain_leaks("n", txs, gate) == []
    assert broker_leaks("n", [(1000.5, "site/n/market/1/result", result)], gate) == []
    r = inv.sealed_before_closure(chain_leaks("n", txs, gate))
    assert r.ok


def test_an_opening_in_a_block_before_the_gate_is_a_leak():
    txs, result = sealed_day(open_ts=999)
    leaks = chain_leaks("n", txs, gate)
    assert len(leaks) == 1 and "height 2" in leaks[0] and "1 ms before its gate" in leaks[0]
    assert "opened 2 ms before" in broker_leaks("n", [(998.0, "t", result)], gate)[0]
    r = inv.sealed_before_closure(leaks)
    assert not r.ok and r.detail.startswith("1 leaks; first: n chain height 2")


def test_a_published_price_the_blob_does_not_open_to_is_caught():
    txs, _ = sealed_day(open_ts=1000, price=125_000)
    [leak] = chain_leaks("n", txs, gate)
    assert "does not check" in leak and "not to the published (125000, 800)" in leak


def test_a_plain_bid_anywhere_is_a_leak():
    plain = {"type": "bid", "gw": "a", "seq": 1, "interval": T, "side": "buy",
             "qty_wh": 500, "price": 90_000}
    assert "plain bid of a" in chain_leaks("n", [ChainTx(3, 10, plain)], gate)[0]
    assert "kept in plain text" in inbox_leaks("n", [plain])[0]
    assert inbox_leaks("n", [{**{k: v for k, v in plain.items() if k not in ("qty_wh",
                                                                           "price")},
                              "sealed": "00" * 56, "kid": "00" * 8}]) == []
    assert "plain bid" in broker_leaks("n", [(1.0, "site/n/gw/a/bid", plain)], gate)[0]


# -- emissions without the carbon adders ------------------------------------------------

def test_without_the_adders_the_cheaper_dirtier_seller_sells():
    """A (PV, 0 g/kWh) asks 120000, B (800 g/kWh) asks 100000 with an adder of 50000;
    C buys 1500 Wh at 200000.

    With the adder B's offer clears as 150000: A fills its 1000 Wh, B the other 500 Wh at
    150000; emissions 500 Wh x 800 g/kWh = 400 g. Without it B (100000) comes first: B
    1000 Wh, A 500 Wh at 120000; 1000 x 800 = 800 g."""
    orders = [Order("A", "sell", 1000, 120_000, 1), Order("B", "sell", 1000, 100_000, 2),
              Order("C", "buy", 1500, 200_000, 3)]
    w, wo = with_and_without(orders, {"B": 50_000}, {"A": 0, "B": 800}, 420)
    assert (w.price, w.volume_wh, w.emissions_g) == (150_000, 1500, 400.0)
    assert (wo.price, wo.volume_wh, wo.emissions_g) == (120_000, 1500, 800.0)


def test_demand_the_market_leaves_unserved_comes_from_the_grid():
    # one PV seller of 1000 Wh, a buyer of 1500 Wh: 500 Wh x 420 g/kWh = 210 g either way
    orders = [Order("A", "sell", 1000, 50_000, 1), Order("C", "buy", 1500, 90_000, 2)]
    w, wo = with_and_without(orders, {}, {"A": 0}, 420)
    assert w.emissions_g == wo.emissions_g == 210.0


def test_intervals_whose_rounds_meet_a_cut_off_fault_are_not_judged():
    """faults: broker restart at 10:00 (0 s), gateway reboot at 10:30 (60 s); each excuses
    what starts within its duration + 2 intervals (30 min). Rounds of interval T run from
    T - 600 s to T (gate 600 s, 3 rounds 300 s apart)."""
    sc = load_scenario("faults")
    day = 1718928000  # 2024-06-21 00:00 UTC

    def at(h: int, m: int) -> int:
        return day + h * 3600 + m * 60

    assert under_fault(sc, at(10, 0))        # rounds 09:50-10:00 meet 10:00
    assert not under_fault(sc, at(9, 45))    # rounds 09:35-09:45
    assert under_fault(sc, at(11, 0))        # rounds 10:50-11:00 meet 10:30 to 11:01
    assert not under_fault(sc, at(11, 15))   # rounds 11:05-11:15: after 11:01
    assert not under_fault(sc, at(13, 0))    # a poison message cuts nobody off
    r = inv.fixed_points([], lambda b: None, {"under a fault": 3, "late": 0})
    assert r.ok and r.detail.endswith("; not judged: 3 under a fault")


def test_a_round_whose_mover_sent_its_revision_too_late_is_told_apart():
    """The binding round 0 of book(200) is not a fixed point: B2 could improve (above).
    B2's firmware logged a revision for round 1 of that interval: it came after round 1
    had cleared. A revision for another interval or round, or by B1, does not count."""
    def bid(interval: int, rnd: int) -> str:
        return json.dumps({"ev": "bid", "interval": interval, "round": rnd, "price": 100})

    logs = [("B2", bid(T, 1)), ("B2", bid(T, 0)), ("B1", bid(T + 900, 2)),
            ("B1", "not json"), ("B1", '{"ev": "boot"}')]
    sent = revisions_sent(logs)
    assert sent == {("B2", T, 1), ("B1", T + 900, 2)}
    sc = load_scenario("ieee33-pv")
    gws = {g.id: g for g in sc.gateways}
    # the same book with scenario gateways: pvp-06 sells, cec-05 and cec-11 buy
    orders = (Order("pvp-06", "sell", 1500, 50_000, 1), Order("cec-05", "buy", 1000, 260_000, 2),
              Order("cec-11", "buy", 1000, gws["cec-11"].buy_max, 3))
    b = FinalBook("north", T, 0, orders, {}, gws["cec-11"].buy_max, 1500)
    assert why_not(b, sc).startswith("cec-11 ")
    assert late(b, sc, {("cec-11", T, 1)})
    assert not late(b, sc, {("cec-11", T, 2)}) and not late(b, sc, {("cec-05", T, 1)})
