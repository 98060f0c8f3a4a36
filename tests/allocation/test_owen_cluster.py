"""The sampler's per-entity stop rule, and sampled Owen values on a Dask cluster."""

from __future__ import annotations

import numpy as np
import pytest

from bench.bench_owen import market
from hub.allocation.market import MarketGame
from hub.allocation.owen import owen_sampled, relative_se
from hub.cluster import dask_client


def test_relative_se_by_hand():
    values = np.array([10.0, -4.0, 0.0, 0.0, 5.0])
    se = np.array([0.5, 1.0, 0.0, 0.1, 2.0])
    rel, even = relative_se(values, se, grand=25.0)  # v(N)/n = 5
    assert rel.tolist() == [0.05, 0.25, 0.0, float("inf"), 0.4]
    assert even.tolist() == [False, False, False, False, True]


def test_entity_stop_rule_reaches_its_coverage():
    game = MarketGame(market(3, 6, seed=4, network=False))
    res = owen_sampled(game, rounds=4, seed=1, target_rel_se=0.2, coverage=0.8, max_rounds=300)
    rel = np.array(res.rel_se)
    keep = [p not in res.excluded for p in res.structure.players]
    assert res.share_within_target == pytest.approx(float(np.mean(rel[keep] <= 0.2)))
    assert res.share_within_target >= 0.8
    # the rule did not stop one round early: with one round fewer it was not yet met
    if res.rounds > 4:
        prev = owen_sampled(game, rounds=res.rounds - 1, seed=1)
        r, even = relative_se(np.array(prev.values), np.array(prev.se), float(prev.grand_value))
        assert np.mean(r[~even] <= 0.2) < 0.8


def test_an_entity_at_the_even_share_is_excluded_and_listed():
    # two identical generator/load pairs in two regions: every entity is symmetric, and
    # with equal unions each round is exactly efficient, so the loads' values sit at ...
    game = MarketGame(market(2, 2, seed=0, network=False))
    res = owen_sampled(game, rounds=3, seed=0, target_rel_se=0.05)
    vals = np.array(res.values)
    even = np.abs(vals - float(res.grand_value) / len(vals)) <= 1e-6 * abs(float(res.grand_value))
    assert list(res.excluded) == [p for p, e in zip(res.structure.players, even, strict=True) if e]


@pytest.mark.parametrize("workers", [1, 2])
def test_any_number_of_workers_gives_the_serial_result(workers):
    # a batch is one round per worker, so 1 and 2 workers read rounds in different batches
    game = MarketGame(market(3, 6, seed=5, network=False))
    serial = owen_sampled(game, rounds=3, seed=11, target_rel_se=0.1, max_rounds=9)
    with dask_client(workers=workers) as client:
        spread = owen_sampled(game, rounds=3, seed=11, target_rel_se=0.1, max_rounds=9,
                              client=client)
    assert spread.values == serial.values
    assert spread.se == serial.se
    assert spread.rounds == serial.rounds
    assert spread.excluded == serial.excluded
