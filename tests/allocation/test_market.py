"""Market games: clearing coalitions by the edge's merit order and by the DC-OPF LP."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edge.market.clearing import Unit, merit_order
from hub.allocation import dcopf
from hub.allocation.game import GameError, Memo
from hub.allocation.market import Entity, Market, MarketGame
from hub.allocation.owen import owen_exact

TRIANGLE = dcopf.Network(
    ("1", "2", "3"),
    (dcopf.Line("12", "1", "2", 0.1), dcopf.Line("23", "2", "3", 0.1),
     dcopf.Line("13", "1", "3", 0.1, limit_w=60_000)),
    "1",
)


def gen(i, region, qmax, price, intensity, qmin=0, bus=""):
    return Entity(i, "gen", region, qmin, qmax, price, intensity, bus)


def load(i, region, qmax, price, qmin=0, bus=""):
    return Entity(i, "load", region, qmin, qmax, price, 0, bus)


@st.composite
def markets(draw, max_gens=4, max_loads=3):
    """Small random markets with price ties and minimums (regions A, B)."""
    ng = draw(st.integers(1, max_gens))
    nl = draw(st.integers(1, max_loads))
    prices = st.sampled_from([0, 10, 20, 20, 30, 45])
    gens = []
    for i in range(ng):
        qmax = draw(st.integers(0, 300))
        gens.append(gen(f"g{i}", draw(st.sampled_from("AB")), qmax, draw(prices),
                        draw(st.integers(0, 1200)), qmin=draw(st.integers(0, qmax // 2))))
    loads = []
    for i in range(nl):
        qmax = draw(st.integers(0, 300))
        loads.append(load(f"l{i}", draw(st.sampled_from("AB")), qmax, draw(prices),
                          qmin=draw(st.integers(0, qmax // 2))))
    return Market(tuple(gens), tuple(loads))


def test_triangle_loop_flow_limits_the_cheap_generator():
    # Line 1-3 carries 2/3 of what bus 1 sends to bus 3 and 1/3 of what bus 2 sends:
    # (2/3) p1 + (1/3) p2 <= 60 with p1 + p2 = 150 gives p1 = 30, p2 = 120.
    m = Market(
        (gen("cheap", "A", 200_000, 10_000, 900, bus="1"),
         gen("dear", "B", 200_000, 30_000, 400, bus="2")),
        (load("city", "B", 150_000, 100_000, bus="3"),),
        TRIANGLE,
        interval_s=3600,
    )
    out = m.clear()
    assert out.network_lp and not out.relaxed
    assert out.gen_wh == {"cheap": 30_000, "dear": 120_000}
    assert out.load_wh == {"city": 150_000}
    flows = m.flows_wh(out)
    assert flows[2] == pytest.approx(60_000)
    assert m.emissions_mg(out) == 30_000 * 900 + 120_000 * 400


def test_interval_scales_line_limits():
    m = Market(
        (gen("cheap", "A", 200_000, 10_000, 900, bus="1"),
         gen("dear", "B", 200_000, 30_000, 400, bus="2")),
        (load("city", "B", 75_000, 100_000, bus="3"),),
        TRIANGLE,
        interval_s=1800,  # half an hour: the 60 kW line moves 30 kWh
    )
    assert m.clear().gen_wh == {"cheap": 15_000, "dear": 60_000}


def test_minimums_relaxed_when_the_network_cannot_take_them():
    # A must-run 100 kWh at bus 1 can reach the load only through a 60 kWh line:
    # infeasible with the minimum, so the coalition's minimums are relaxed.
    net = dcopf.Network(("1", "3"), (dcopf.Line("13", "1", "3", 0.1, 60_000),), "1")
    m = Market((gen("mustrun", "A", 200_000, 10_000, 900, qmin=100_000, bus="1"),),
               (load("city", "B", 150_000, 100_000, bus="3"),), net)
    out = m.clear()
    assert out.relaxed and out.network_lp
    assert out.gen_wh == {"mustrun": 60_000} and out.load_wh == {"city": 60_000}


@settings(max_examples=150, deadline=None)
@given(markets())
def test_lp_without_limits_equals_the_edge_merit_order(market):
    """The LP's tie-breaking reproduces merit_order exactly (no binding line)."""
    gu, lu, glp, llp = market._units()
    free = dcopf.Network(("A", "B"), (dcopf.Line("AB", "A", "B", 0.1, 10**12),), "A")
    d = merit_order(gu, lu)
    mins = not d.relaxed
    got = dcopf.solve(free, glp if mins else [replace(u, qmin_wh=0) for u in glp],
                      llp if mins else [replace(u, qmin_wh=0) for u in llp], 3600)
    assert got is not None
    assert got[0] == [d.gen_wh[u.id] for u in gu]
    assert got[1] == [d.load_wh[u.id] for u in lu]


@settings(max_examples=60, deadline=None)
@given(markets(max_gens=3, max_loads=3), st.integers(0, 400))
def test_trivial_fast_path_never_changes_a_value(market, limit):
    net = dcopf.Network(("A", "B"), (dcopf.Line("AB", "A", "B", 0.1, limit * 1000),), "A")
    for mk in (market, Market(market.generators, market.loads, net)):
        game = MarketGame(mk)
        for mask in range(1 << game.structure.n):
            assert game.value(mask) == mk.emissions_mg(mk.clear(mask))


@settings(max_examples=40, deadline=None)
@given(markets(), st.integers(0, 200))
def test_market_owen_efficiency_with_network(market, limit):
    net = dcopf.Network(("A", "B"), (dcopf.Line("AB", "A", "B", 0.1, limit * 1000),), "A")
    mk = Market(market.generators, market.loads, net)
    game = MarketGame(mk)
    res = owen_exact(game)
    assert sum(res.values) == mk.emissions_mg(mk.clear())


def test_never_dispatched_generator_is_null():
    m = Market(
        (gen("coal", "A", 100, 20_000, 950), gen("peaker", "B", 100, 500_000, 600),
         gen("pv", "B", 50, 0, 0)),
        (load("town", "A", 80, 90_000), load("mill", "B", 60, 50_000)),
    )
    res = owen_exact(MarketGame(m)).by_player()
    assert res["peaker"] == 0
    assert sum(res.values()) == (140 - 50) * 950


def test_memo_and_fast_path_counts():
    m = Market((gen("g", "A", 100, 10, 500),), (load("l", "B", 100, 20),))
    game = MarketGame(m)
    memo = Memo(game)
    assert owen_exact(memo).values == (25_000, 25_000)  # v(N) = 100 Wh * 500 g/kWh
    # Four coalitions exist; only {g, l} needs a clearing, the rest are trivial.
    assert game.cleared == 1
    assert memo.evaluations == 4 and memo.hits > 0


def test_bad_markets_name_the_field():
    with pytest.raises(GameError, match="duplicate id"):
        Market((gen("x", "A", 1, 1, 1),), (load("x", "A", 1, 1),))
    with pytest.raises(GameError, match="qmin_wh"):
        Market((gen("g", "A", 5, 1, 1, qmin=6),), ())
    with pytest.raises(GameError, match="not a network bus"):
        Market((gen("g", "A", 5, 1, 1, bus="Z"),), (), TRIANGLE)
    with pytest.raises(ValueError, match="not connected"):
        dcopf.Network(("1", "2", "3"), (dcopf.Line("12", "1", "2", 0.1),), "1")
    with pytest.raises(ValueError, match="reactance"):
        dcopf.Network(("1", "2"), (dcopf.Line("12", "1", "2", 0.0),), "1")


def test_merit_order_is_the_edge_function():
    # The hub's copper-plate clearing is the edge's merit_order, unit for unit.
    m = Market((gen("a", "A", 100, 10, 1), gen("b", "A", 100, 10, 2)),
               (load("l", "A", 150, 10),))
    d = merit_order([Unit("a", 0, 100, 10, 0), Unit("b", 0, 100, 10, 1)],
                    [Unit("l", 0, 150, 10, 0)])
    assert m.clear().gen_wh == d.gen_wh == {"a": 100, "b": 50}
