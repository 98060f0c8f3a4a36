"""The batched prefix walk equals clearing every prefix with merit_order, to the integer."""

from __future__ import annotations

import random
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hub.allocation import dcopf
from hub.allocation.game import Memo
from hub.allocation.market import Entity, Market, MarketGame
from hub.allocation.owen import owen_sampled
from hub.allocation.walk import MarketWalk, native

#: The two walks: C where it is built (hub.allocation._walk), numpy always.
WALKS = [pytest.param("native", marks=pytest.mark.skipif(
    native() is None, reason="hub.allocation._walk is not built")), "numpy"]


def walk_with(how: str, m: Market, orders: np.ndarray) -> np.ndarray:
    w = MarketWalk(m)
    return w.native_prefix_values(orders) if how == "native" else w.numpy_prefix_values(orders)


@st.composite
def markets(draw, minimums: bool):
    """Small markets with price ties, idle (qmax 0) units and, optionally, minimums.

    Minimums are drawn up to the whole qmax so that forced balance on either
    side and the relaxation of clearing-spec step 1 both happen often.
    """
    prices = st.sampled_from([0, 10, 20, 20, 30, 45])
    regions = st.sampled_from("AB")

    def unit(i: int, side: str) -> Entity:
        qmax = draw(st.integers(0, 300))
        qmin = draw(st.integers(0, qmax)) if minimums and draw(st.booleans()) else 0
        inten = draw(st.integers(0, 1200)) if side == "gen" else 0
        return Entity(f"{side[0]}{i}", side, draw(regions), qmin, qmax, draw(prices), inten)

    gens = tuple(unit(i, "gen") for i in range(draw(st.integers(0, 5))))
    loads = tuple(unit(i, "load") for i in range(draw(st.integers(0, 5))))
    if not gens + loads:
        loads = (unit(0, "load"),)
    return Market(gens, loads)


def orderings(draw, n: int) -> np.ndarray:
    rows = draw(st.lists(st.permutations(range(n)), min_size=1, max_size=4))
    return np.array(rows, dtype=np.int64).reshape(len(rows), n)


def cleared_prefixes(game: MarketGame, orders: np.ndarray) -> list[list[int]]:
    """v of every prefix by the existing path: one merit_order clearing each."""
    out = []
    for row in orders.tolist():
        mask, vals = 0, [0]
        for i in row:
            mask |= 1 << i
            vals.append(game.value(mask))
        out.append(vals)
    return out


@pytest.mark.parametrize("how", WALKS)
@settings(max_examples=300, deadline=None)
@given(data=st.data(), minimums=st.booleans())
def test_walk_equals_merit_order_on_every_prefix(how, data, minimums):
    m = data.draw(markets(minimums))
    game = MarketGame(m)
    orders = orderings(data.draw, len(m.entities))
    assert MarketWalk.applies(m)
    got = walk_with(how, m, orders)
    assert got.dtype == np.int64
    assert got.tolist() == cleared_prefixes(game, orders)


@pytest.mark.parametrize("how", WALKS)
@settings(max_examples=100, deadline=None)
@given(data=st.data(), minimums=st.booleans())
def test_walk_of_a_partial_ordering_equals_merit_order(how, data, minimums):
    # rows that hold only some players (the sampler's designs cut after d unions)
    m = data.draw(markets(minimums))
    n = len(m.entities)
    k = data.draw(st.integers(0, n))
    rows = data.draw(st.lists(st.permutations(range(n)), min_size=1, max_size=3))
    orders = np.array([r[:k] for r in rows], dtype=np.int64).reshape(len(rows), k)
    assert walk_with(how, m, orders).tolist() == cleared_prefixes(MarketGame(m), orders)


@pytest.mark.skipif(native() is None, reason="hub.allocation._walk is not built")
@pytest.mark.parametrize("seed", range(6))
def test_native_walk_equals_numpy_walk_on_larger_markets(seed):
    # 60 units, minimums on about half of them in odd seeds: relaxation switches back and
    # forth along a walk, and the C walk keeps its scan position from step to step.
    m = random_market(3, 20, seed=seed, minimums=bool(seed % 2))
    rng = np.random.default_rng(seed)
    orders = np.array([rng.permutation(len(m.entities)) for _ in range(30)])
    w = MarketWalk(m)
    got = w.native_prefix_values(orders)
    assert got.tolist() == w.numpy_prefix_values(orders).tolist()
    assert got[:4].tolist() == cleared_prefixes(MarketGame(m), orders[:4])


@pytest.mark.skipif(native() is None, reason="hub.allocation._walk is not built")
def test_native_walk_refuses_a_bad_ordering():
    m = random_market(1, 4, seed=0, minimums=False)
    w = MarketWalk(m)
    with pytest.raises(ValueError, match="repeated"):
        w.native_prefix_values(np.array([[0, 1, 0]]))
    with pytest.raises(ValueError, match="out of range"):
        w.native_prefix_values(np.array([[0, 4]]))
    with pytest.raises(ValueError, match="out of range"):
        w.native_prefix_values(np.array([[-1]]))
    assert w.native_prefix_values(np.zeros((2, 0), dtype=np.int64)).tolist() == [[0], [0]]


def test_numpy_walk_refuses_what_the_native_walk_refuses():
    m = random_market(1, 4, seed=0, minimums=False)
    w = MarketWalk(m)
    for bad in ([[0, 1, 0]], [[0, 4]], [[-1]]):
        with pytest.raises(ValueError, match="out of range or repeated"):
            w.numpy_prefix_values(np.array(bad))
    with pytest.raises(ValueError, match="2-d"):
        w.numpy_prefix_values(np.array([0, 1]))
    assert w.numpy_prefix_values(np.zeros((2, 0), dtype=np.int64)).tolist() == [[0], [0]]


@pytest.mark.skipif(native() is None, reason="hub.allocation._walk is not built")
def test_native_walk_refuses_sizes_that_do_not_match_the_buffers():
    # Sizes are the caller's word: 2^61 orderings of 0 steps need 2^61 x 1 output values,
    # and 2^61 * 8 bytes wraps to 0 in 64 bits, so a size check by multiplication took an
    # empty output (and the walk wrote past it). Checked by division, it is refused.
    empty, zero, gen = np.zeros(0, np.int64), np.zeros(1, np.int64), np.ones(1, np.int64)
    model = (gen, zero, zero, zero, zero, zero)  # one generator: is_gen, rank, qmin, qmax, gi, cnt
    with pytest.raises(ValueError, match="out: need"):
        native().prefix_values(empty, 1 << 61, 0, *model, 1, 0, empty)
    with pytest.raises(ValueError, match="orders: need"):
        native().prefix_values(empty, 1 << 32, 1 << 32, *model, 1, 0, empty)
    with pytest.raises(ValueError, match="in range"):
        native().prefix_values(empty, 0, 0, *model, sys.maxsize, 1, zero)
    out = np.full(2, 7, np.int64)
    native().prefix_values(empty, 2, 0, *model, 1, 0, out)
    assert out.tolist() == [0, 0]


def test_prefix_values_falls_back_to_numpy(monkeypatch):
    m = random_market(2, 6, seed=3, minimums=True)
    orders = np.array([np.random.default_rng(2).permutation(len(m.entities))])
    monkeypatch.setattr("hub.allocation.walk.native", lambda: None)
    assert MarketWalk(m).prefix_values(orders).tolist() == cleared_prefixes(MarketGame(m), orders)
    with pytest.raises(RuntimeError, match="not built"):
        MarketWalk(m).native_prefix_values(orders)


@pytest.mark.parametrize("how", WALKS)
def test_walk_cases_by_hand(how):
    # coal (qmin 50) and wind; the town alone cannot take coal's minimum -> relaxed.
    coal = Entity("coal", "gen", "A", 50, 100, 20, 950)
    wind = Entity("wind", "gen", "B", 0, 40, 0, 0)
    shop = Entity("shop", "load", "A", 0, 30, 90)
    town = Entity("town", "load", "B", 20, 80, 10)  # bids below coal: only forced energy
    m = Market((coal, wind), (shop, town))
    # Order: shop, coal, wind, town (players: coal 0, wind 1, shop 2, town 3).
    got = walk_with(how, m, np.array([[2, 0, 3, 1]]))
    # {shop}: 0. {shop, coal}: coal's 50 > shop's 30 max -> relaxed, 30 Wh of coal.
    # {+town}: not relaxed; minimums 50 vs 20, surplus 30 goes to shop (first load
    # block), then coal's remaining 50 at 20 meets town's 60 at 10: no trade -> 50 Wh.
    # {+wind}: the surplus again fills shop; wind (offer 0) sells 40 Wh to town
    # (bid 10), coal stays at its minimum: coal 50, wind 40.
    assert got.tolist() == [[0, 0, 30 * 950, 50 * 950, 50 * 950]]
    assert got.tolist() == cleared_prefixes(MarketGame(m), np.array([[2, 0, 3, 1]]))


def test_walk_in_chunks_equals_one_batch(monkeypatch):
    m = random_market(3, 8, seed=5, minimums=True)
    rng = np.random.default_rng(1)
    orders = np.array([rng.permutation(len(m.entities)) for _ in range(7)])
    whole = MarketWalk(m).numpy_prefix_values(orders)
    monkeypatch.setattr("hub.allocation.walk._CHUNK_CELLS", 2 * len(m.entities))
    assert MarketWalk(m).numpy_prefix_values(orders).tolist() == whole.tolist()
    assert whole.tolist() == cleared_prefixes(MarketGame(m), orders)


def test_walk_is_not_used_with_line_limits():
    net = dcopf.Network(("A", "B"), (dcopf.Line("AB", "A", "B", 0.1, limit_w=10),), "A")
    g = Entity("g", "gen", "A", 0, 100, 1, 500)
    ld = Entity("l", "load", "B", 0, 100, 9)
    assert not MarketWalk.applies(Market((g,), (ld,), net))
    assert MarketWalk.applies(Market((g,), (ld,), dcopf.Network(
        ("A", "B"), (dcopf.Line("AB", "A", "B", 0.1),), "A")))


def random_market(regions: int, per: int, seed: int, minimums: bool) -> Market:
    rnd = random.Random(seed)
    gens, loads = [], []
    for k in range(regions):
        for j in range(per):
            qmax = rnd.randint(0, 200)
            qmin = rnd.randint(0, qmax // 2) if minimums else 0
            if j % 2 == 0:
                gens.append(Entity(f"g{k}_{j}", "gen", f"R{k}", qmin, qmax,
                                   rnd.choice([0, 20, 20, 35]), rnd.choice([0, 400, 950])))
            else:
                loads.append(Entity(f"l{k}_{j}", "load", f"R{k}", qmin, qmax,
                                    rnd.choice([20, 30, 90])))
    return Market(tuple(gens), tuple(loads))


class Opaque:
    """The same game hidden from the walk: the sampler must clear prefix by prefix."""

    def __init__(self, game: MarketGame) -> None:
        self.game = game
        self.structure = game.structure

    def value(self, mask: int) -> int:
        return self.game.value(mask)


@pytest.mark.parametrize("minimums", [False, True])
def test_sampler_gives_the_same_result_with_and_without_the_walk(minimums):
    m = random_market(4, 6, seed=11, minimums=minimums)
    fast = owen_sampled(MarketGame(m), rounds=3, seed=7)
    slow_game = MarketGame(m)
    slow = owen_sampled(Opaque(slow_game), rounds=3, seed=7)
    assert slow_game.cleared > 0
    assert fast.values == slow.values and fast.se == slow.se
    assert fast.grand_value == slow.grand_value
    assert fast.rounds == slow.rounds == 3
    # The walk computes every prefix of the 4 x 6 orderings of 24 players (main design) and
    # of the designs cut after d unions (J_1 = 2, J_2 = 1: 6 orderings of 6 d steps per
    # union shift, 4 shifts), 3 rounds.
    memo = Memo(MarketGame(m))
    owen_sampled(memo, rounds=3, seed=7)
    assert memo.evaluations == 3 * (4 * 6 * 24 + (2 * 1 + 1 * 2) * 4 * 6 * 6) + 1


@pytest.mark.skipif(native() is None, reason="hub.allocation._walk is not built")
def test_sampler_gives_the_same_result_with_the_native_and_the_numpy_walk(monkeypatch):
    m = random_market(4, 6, seed=13, minimums=True)
    fast = owen_sampled(MarketGame(m), rounds=3, seed=5)
    monkeypatch.setattr("hub.allocation.walk.native", lambda: None)
    slow = owen_sampled(MarketGame(m), rounds=3, seed=5)
    assert fast.values == slow.values and fast.se == slow.se


def test_native_walk_can_be_disabled_and_says_so_once(monkeypatch, caplog):
    monkeypatch.setenv("CARBON_EDGE_NO_NATIVE", "1")
    native.cache_clear()
    try:
        with caplog.at_level("WARNING", logger="hub.allocation.walk"):
            assert native() is None
            assert native() is None
        said = [r for r in caplog.records if "CARBON_EDGE_NO_NATIVE" in r.getMessage()]
        assert len(said) == 1
    finally:
        monkeypatch.delenv("CARBON_EDGE_NO_NATIVE")
        native.cache_clear()
