"""Owen value: brute force, axioms on random games, and the sampler's error."""

from __future__ import annotations

import itertools
import math
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hub.allocation.game import Memo, Structure, TableGame
from hub.allocation.owen import exact_cost, owen, owen_exact, owen_sampled, shapley_of_unions


def brute_force_owen(game: TableGame) -> list[Fraction]:
    """Average marginal contribution over every ordering that keeps unions together."""
    s = game.structure
    totals = [Fraction(0)] * s.n
    count = 0
    for union_order in itertools.permutations(range(len(s.unions))):
        for inner in itertools.product(*(itertools.permutations(s.unions[k])
                                         for k in union_order)):
            mask = 0
            prev = Fraction(0)
            for block in inner:
                for i in block:
                    mask |= 1 << i
                    val = Fraction(game.value(mask))
                    totals[i] += val - prev
                    prev = val
            count += 1
    return [t / count for t in totals]


def brute_force_union_shapley(game: TableGame) -> list[Fraction]:
    """Shapley value of the quotient game, by every ordering of the unions."""
    masks = game.structure.union_masks()
    totals = [Fraction(0)] * len(masks)
    perms = list(itertools.permutations(range(len(masks))))
    for order in perms:
        q = 0
        for k in order:
            totals[k] += Fraction(game.value(q | masks[k])) - Fraction(game.value(q))
            q |= masks[k]
    return [t / len(perms) for t in totals]


@st.composite
def tables(draw, max_unions: int = 3, max_size: int = 3):
    sizes = draw(st.lists(st.integers(1, max_size), min_size=1, max_size=max_unions))
    names = {f"u{k}": [f"p{k}_{j}" for j in range(n)] for k, n in enumerate(sizes)}
    s = Structure.from_unions(names)
    vals = draw(st.lists(st.integers(-1000, 1000), min_size=1 << s.n, max_size=1 << s.n))
    table = {m: vals[m] for m in range(1, 1 << s.n)}
    return TableGame(s, table)


def example() -> TableGame:
    s = Structure.from_unions({"north": ["a", "b"], "south": ["c"]})
    t = {s.mask(k.split(",")): v for k, v in
         {"a": 1, "b": 2, "c": 3, "a,b": 4, "a,c": 6, "b,c": 7, "a,b,c": 10}.items()}
    return TableGame(s, t)


def test_hand_worked_example():
    # a: R={} gives 1/2*(1-0) + 1/2*(4-2) = 1.5; R={south} gives 1/2*(6-3) + 1/2*(10-7) = 3;
    # phi_a = (1.5 + 3)/2 = 2.25; c is the quotient Shapley value (3-0)/2 + (10-4)/2 = 4.5.
    res = owen_exact(example())
    assert res.values == (Fraction(9, 4), Fraction(13, 4), Fraction(9, 2))
    assert res.method == "exact" and res.grand_value == 10


@settings(max_examples=60, deadline=None)
@given(tables())
def test_exact_equals_brute_force_over_orderings(game):
    assert list(owen_exact(game).values) == brute_force_owen(game)


@settings(max_examples=60, deadline=None)
@given(tables(max_unions=4, max_size=3))
def test_efficiency_and_quotient_game(game):
    res = owen_exact(game)
    assert sum(res.values) == game.value(game.structure.grand)
    shap = brute_force_union_shapley(game)
    assert [Fraction(t) for t in res.union_totals()] == shap
    assert shapley_of_unions(game) == shap


@settings(max_examples=60, deadline=None)
@given(tables(max_unions=3, max_size=3), st.data())
def test_null_player_gets_zero(game, data):
    s = game.structure
    j = data.draw(st.integers(0, s.n - 1))
    bit = 1 << j
    # v(S + j) = v(S) for all S: copy every value from the coalition without j.
    table = {m: (game.table[m & ~bit] if m & ~bit else 0) for m in range(1, 1 << s.n)}
    res = owen_exact(TableGame(s, table))
    assert res.values[j] == 0
    assert sum(res.values) == table[s.grand]


@settings(max_examples=60, deadline=None)
@given(tables(max_unions=3, max_size=3), st.data())
def test_symmetric_players_in_one_union_get_equal_values(game, data):
    s = game.structure
    big = [u for u in s.unions if len(u) >= 2]
    if not big:
        return
    u = data.draw(st.sampled_from(big))
    i, j = u[0], u[1]

    def swap(m: int) -> int:
        bi, bj = m >> i & 1, m >> j & 1
        m &= ~((1 << i) | (1 << j))
        return m | (bi << j) | (bj << i)

    # Make v invariant under swapping i and j: v(S) = f(min(S, swap(S))).
    table = {m: game.table[min(m, swap(m))] for m in range(1, 1 << s.n)}
    res = owen_exact(TableGame(s, table))
    assert res.values[i] == res.values[j]


def test_exact_reads_only_the_needed_coalitions():
    s = Structure.from_unions({f"u{k}": [f"p{k}{j}" for j in range(4)] for k in range(5)})
    table = {m: bin(m).count("1") ** 2 for m in range(1, 1 << s.n)}
    memo = Memo(TableGame(s, table))
    res = owen_exact(memo)
    assert exact_cost(s) == 5 * 16 * 16
    assert memo.evaluations <= exact_cost(s)
    # v(S) = |S|^2 is symmetric: every player gets v(N)/n.
    assert set(res.values) == {Fraction(400, 20)}


def random_game(unions: int, size: int, seed: int) -> TableGame:
    """A structured, non-additive game: v(S) = (sum of weights)^1.5 + pair terms, exact ints."""
    import random

    rnd = random.Random(seed)
    s = Structure.from_unions({f"u{k}": [f"p{k}_{j}" for j in range(size)]
                               for k in range(unions)})
    w = [rnd.randint(1, 50) for _ in range(s.n)]
    pair = {(a, b): rnd.randint(-20, 20) for a in range(s.n) for b in range(a + 1, s.n)}

    def v(m: int) -> int:
        members = [i for i in range(s.n) if m >> i & 1]
        tot = sum(w[i] for i in members)
        return int(tot**1.5) + sum(pair[a, b] for a, b in itertools.combinations(members, 2))

    return TableGame(s, {m: v(m) for m in range(1, 1 << s.n)})


def test_sampler_is_close_to_exact_and_efficient_with_equal_unions():
    game = random_game(4, 3, seed=7)
    exact = owen_exact(game)
    res = owen_sampled(game, rounds=40, seed=3)
    assert res.method == "sampled" and res.rounds == 40
    assert res.extra_designs == ((1, 2), (2, 1))  # n_r = round(4 / (r + 1)) = 4, 2, 1, 1
    z = [(float(e) - v) / se
         for e, v, se in zip(exact.values, res.values, res.se, strict=True) if se > 0]
    assert max(abs(x) for x in z) < 4.5
    # The main design alone covers each stratum once when the unions are equal: every
    # ordering telescopes to v(N), so each round is exactly efficient.
    main = owen_sampled(game, rounds=5, seed=3, extra_designs={})
    assert sum(main.values) == pytest.approx(float(game.value(game.structure.grand)), rel=1e-9)


def test_sampler_error_shrinks_as_one_over_sqrt_samples():
    game = random_game(4, 3, seed=11)
    exact = [float(v) for v in owen_exact(game).values]
    se_n, se_4n, err_n, err_4n = [], [], [], []
    for seed in range(6):
        a = owen_sampled(game, rounds=10, seed=seed)
        b = owen_sampled(game, rounds=40, seed=100 + seed)
        se_n.append(sum(a.se) / len(a.se))
        se_4n.append(sum(b.se) / len(b.se))
        err_n.extend((x - e) ** 2 for x, e in zip(a.values, exact, strict=True))
        err_4n.extend((x - e) ** 2 for x, e in zip(b.values, exact, strict=True))
    ratio = sum(se_n) / sum(se_4n)
    assert 1.6 < ratio < 2.5, ratio
    # The reported SE is honest: it matches the actual RMS error to within a factor ~1.5.
    rms_n = math.sqrt(sum(err_n) / len(err_n))
    assert 0.6 < rms_n / (sum(se_n) / len(se_n)) < 1.6
    assert 1.3 < rms_n / math.sqrt(sum(err_4n) / len(err_4n)) < 3.2


def test_sampler_with_unequal_unions_is_unbiased_on_average():
    s = Structure.from_unions({"a": ["x"], "b": ["y", "z"], "c": ["w", "q", "r"]})
    base = random_game(1, 6, seed=5)
    game = TableGame(s, base.table)
    exact = [float(v) for v in owen_exact(game).values]
    res = owen_sampled(game, rounds=200, seed=9)
    for e, v, se in zip(exact, res.values, res.se, strict=True):
        assert abs(e - v) <= 4.5 * se + 1e-9


def test_auto_picks_exact_for_small_and_sampled_for_large():
    small = random_game(3, 2, seed=2)
    assert owen(small).method == "exact"
    assert owen(small, exact_limit=4).method == "sampled"
    with pytest.raises(ValueError, match="method"):
        owen(small, method="magic")
    with pytest.raises(ValueError, match="rounds"):
        owen_sampled(small, rounds=1)


def test_target_se_stops_when_reached():
    game = random_game(3, 3, seed=4)
    res = owen_sampled(game, rounds=4, seed=1, target_se=2.0, max_rounds=400)
    assert max(res.se) <= 2.0
    assert 4 <= res.rounds < 400


def test_depth_designs_by_hand():
    from hub.allocation.owen import depth_designs

    # n_r = round(m / (r + 1)) samples per cell, J_d = n_(d-1) - n_d
    assert depth_designs(10) == {1: 5, 2: 2, 4: 1, 6: 1}  # n = 10 5 3 3 2 2 1 1 1 1
    assert depth_designs(4) == {1: 2, 2: 1}  # n = 4 2 1 1
    assert depth_designs(2) == {1: 1}
    assert depth_designs(1) == {}


@pytest.mark.parametrize("designs", [{}, None, {1: 3, 2: 1}])
def test_stratified_mean_converges_to_the_exact_value(designs):
    # Unequal unions, so no design is exactly efficient; seeds averaged, each seed's
    # estimate is independent, so the mean's SE is sqrt(sum se^2) / seeds.
    s = Structure.from_unions({"a": ["x"], "b": ["y", "z"], "c": ["w", "q", "r"]})
    game = TableGame(s, random_game(1, 6, seed=5).table)
    exact = [float(v) for v in owen_exact(game).values]
    runs = [owen_sampled(game, rounds=10, seed=seed, extra_designs=designs) for seed in range(30)]
    for i, e in enumerate(exact):
        mean = sum(r.values[i] for r in runs) / len(runs)
        se = math.sqrt(sum(r.se[i] ** 2 for r in runs)) / len(runs)
        assert 0 < se < 0.01 * abs(float(game.value(s.grand)))  # the check has teeth
        assert abs(mean - e) <= 4 * se, (i, mean, e, se)
    grand = float(game.value(s.grand))
    assert all(sum(r.values) == pytest.approx(grand, rel=1e-12) for r in runs)  # efficient


def test_extra_designs_cut_the_error_of_the_market_game():
    # The RMS error against the exact values, over seeds, at equal rounds: the extra
    # samples at the first union positions can only remove variance.
    from bench.bench_owen import market
    from hub.allocation.market import MarketGame

    game = MarketGame(market(3, 6, seed=4, network=False))
    exact = [float(v) for v in owen_exact(game).values]

    def rms(designs: dict[int, int]) -> float:
        err = [(v - e) ** 2 for seed in range(8)
               for v, e in zip(owen_sampled(game, rounds=4, seed=seed,
                                            extra_designs=designs).values, exact, strict=True)]
        return math.sqrt(sum(err) / len(err))

    ratio = rms({1: 8, 2: 4}) / rms({})
    assert ratio < 0.9, ratio
    with pytest.raises(ValueError, match="extra_designs"):
        owen_sampled(game, rounds=2, extra_designs={3: 1})
