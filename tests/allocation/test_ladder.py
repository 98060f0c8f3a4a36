"""Ladder carbon price: known values, tiers, integer adders, re-clearing, price signal."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import pytest

from hub.allocation.ladder import DEFAULT_TIERS, adder, carbon_costs, ladder, make_tiers
from hub.allocation.market import Entity, Market, MarketGame
from hub.allocation.owen import owen_exact
from hub.allocation.schema import game_from, parse_game
from hub.allocation.signal import price_signal

EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "examples" / "owen" / "market.json"
F = Fraction


def test_known_costs_default_tiers():
    # a_min = 10 t, a_avg = 30 t: 20 $/t on (phi - 10) up to 20 t, 40 $/t above 30 t.
    phi_g = [F(10_000_000), F(20_000_000), F(30_000_000), F(60_000_000)]
    costs = carbon_costs(phi_g)
    # micro-$ = ($/t == micro-$/g) * g
    assert costs == [0, 20 * 10_000_000, 20 * 20_000_000, 20 * 20_000_000 + 40 * 30_000_000]


def test_known_costs_with_negative_allocations():
    # Zero-carbon units have negative Owen values; a_min is the most negative.
    costs = carbon_costs([F(-30), F(-10), F(40)])  # a_min -30, a_avg 0
    assert costs == [0, 20 * 20, 20 * 30 + 40 * 40]


def test_all_equal_allocations_cost_nothing():
    assert carbon_costs([F(5), F(5), F(5)]) == [0, 0, 0]
    assert carbon_costs([]) == []


def test_configurable_tiers():
    assert make_tiers() == DEFAULT_TIERS
    assert make_tiers(10, 30) == ((0, 10), (1, 30))
    three = make_tiers(tiers=[["0", "20"], ["1", "40"], ["2", "80"]])
    # a_min 0, a_avg 10: tiers start at 0, 10, 20.
    assert carbon_costs([F(0), F(0), F(30)], three) == [0, 0, 20 * 10 + 40 * 10 + 80 * 10]
    assert carbon_costs([F(0), F(0), F(30)], make_tiers(tiers=[[0, 20]])) == [0, 0, 20 * 30]
    for bad, match in [([[1, 20], [0, 40]], "increase"), ([[0, -1]], ">= 0"),
                       ([[0, "x"]], "not a number"), ([], "at least one"), ([[0]], "expected")]:
        with pytest.raises(ValueError, match=match):
            make_tiers(tiers=bad)


def test_adder_is_rounded_half_up_to_integer_micro_per_kwh():
    # cost 1 micro-$ over 2000 Wh = 0.5 micro-$/kWh -> 1; over 3000 Wh = 0.333 -> 0.
    assert adder(F(1), 2000) == 1
    assert adder(F(1), 3000) == 0
    assert adder(F(5, 2), 1000) == 3
    assert adder(F(123_456), 1_000_000) == 123
    assert adder(F(10), 0) == 0


def test_ladder_on_the_worked_example():
    game = game_from(parse_game(json.loads(EXAMPLE.read_text())))
    assert isinstance(game, MarketGame)
    res = owen_exact(game)
    lad = ladder(game.market, res)
    rows = {r.entity.id: r for r in lad.rows}
    # Generators: phi = 37750, 4000, -15500 g; a_min = -15500, a_avg = 26250/3 = 8750.
    assert lad.stats["gen"] == (F(-15500), F(8750))
    assert rows["coal"].cost_micro == 20 * (8750 + 15500) + 40 * (37750 - 8750)
    assert rows["coal"].q_wh == 90_000
    assert rows["coal"].adder == round(rows["coal"].cost_micro * 1000 / 90_000)  # 18278
    assert rows["coal"].adder == 18278 and rows["coal"].new_price == 20_000 + 18278
    # gas cleared nothing: its quantity is its maximum.
    assert rows["gas"].q_wh == 100_000 and rows["gas"].adder == 3900
    assert rows["pv"].adder == 0 and rows["pv"].new_price == 0
    # Loads: phi 41000 and 18250; the smaller is a_min and pays nothing.
    assert rows["mill"].adder == 0
    assert rows["town"].cost_micro == 20 * (29625 - 18250) + 40 * (41000 - 29625)
    assert rows["town"].new_price == 90_000 - rows["town"].adder
    assert lad.revised_market.generators[0].price == 38278


def test_adders_change_the_merit_order():
    # Coal is cheaper than gas until the carbon adder; then the load buys gas.
    m = Market(
        (Entity("coal", "gen", "A", 0, 100, 20_000, 1000),
         Entity("gas", "gen", "B", 0, 100, 30_000, 400)),
        (Entity("town", "load", "A", 0, 100, 100_000),),
    )
    res = owen_exact(MarketGame(m))
    lad = ladder(m, res)
    assert lad.blind.gen_wh == {"coal": 100, "gas": 0}
    assert lad.rows[0].new_price > 30_000
    assert lad.revised.gen_wh == {"coal": 0, "gas": 100}
    assert m.emissions_mg(lad.blind) == 100_000
    assert lad.revised_market.emissions_mg(lad.revised) == 40_000


def test_bid_never_goes_below_zero():
    m = Market((Entity("coal", "gen", "A", 0, 1000, 0, 1000),),
               (Entity("cheap", "load", "A", 0, 1000, 10),
                Entity("firm", "load", "B", 0, 10, 10)))
    lad = ladder(m, owen_exact(MarketGame(m)))
    cheap = next(r for r in lad.rows if r.entity.id == "cheap")
    assert cheap.adder > 10 and cheap.new_price == 0


def test_ladder_rejects_an_allocation_of_another_market():
    m = Market((Entity("g", "gen", "A", 0, 10, 1, 1),), (Entity("l", "load", "A", 0, 10, 5),))
    other = Market((Entity("x", "gen", "A", 0, 10, 1, 1),), (Entity("l", "load", "A", 0, 10, 5),))
    with pytest.raises(ValueError, match="not this market"):
        ladder(m, owen_exact(MarketGame(other)))


def test_price_signal_is_integers_and_strings_only():
    game = game_from(parse_game(json.loads(EXAMPLE.read_text())))
    res = owen_exact(game)
    lad = ladder(game.market, res)
    sig = price_signal(lad, DEFAULT_TIERS, "2024-06-01T12:00Z", res.method, res.grand_value)
    assert sig["type"] == "carbon_price_signal" and sig["version"] == 1
    assert sig["total_mg"] == 85_500_000
    by = {a["entity"]: a for a in sig["adders"]}
    assert by["coal"] == {"entity": "coal", "side": "sell", "region": "north", "adder": 18278,
                          "allocation_mg": 37_750_000,
                          "carbon_cost_micro": 20 * 24250 + 40 * 29000}
    assert by["town"]["side"] == "buy"
    assert sig["tiers"] == [{"from": "0", "price_per_t": "20"}, {"from": "1", "price_per_t": "40"}]

    def no_floats(x):
        if isinstance(x, dict):
            return all(no_floats(v) for v in x.values())
        if isinstance(x, list):
            return all(no_floats(v) for v in x)
        return not isinstance(x, float)

    assert no_floats(sig)
