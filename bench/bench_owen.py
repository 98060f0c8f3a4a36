"""Owen allocation benchmarks: exact on 5 regions x 4 entities, sampled on 10 x 100.

Prints JSON lines through bench/_common.line. "10 regions x 100 entities" is
10 unions of 100 entities each (1,000 players, 500 generators and 500 loads,
copper plate, no minimums), which the sampler walks with hub.allocation.walk.
A round is the main design (10 x 100 orderings of 1,000 players, a million
prefix values) plus the designs cut after d unions (owen.depth_designs).

Cases:
- exact 5 x 4, without and with a network (DC OPF): time and clearings.
- sampled 10 x 100 until every SE is under 1 % of v(N) (in-process).
- one round's walks, native (hub.allocation._walk) against the numpy walk
  as the baseline: CPU seconds of the same orderings (the round of seed 0,
  k = 0), the two checked equal to the integer; and the CPU seconds of that
  whole round in the sampler (walks, strata sums) with the native walk.
- the per-entity stop rule on a local Dask cluster of 2 workers: rounds until
  95 % of the entities (those within 1e-6 of v(N)/n excluded) have an SE of
  at most 5 % of their own value, capped at 400 rounds (quick: 200). Target:
  the share >= 0.95 within 120 s of wall time (the cluster's start is not
  counted; it is reported as cluster_start_s). Reported: wall seconds,
  rounds, the share reached, the 95th percentile of the relative SEs, the
  excluded count, whether the target was met, and the 1-minute load average
  when the run began (the figure depends on the machine being idle).
``--quick`` shrinks the games so the script finishes in seconds.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import line as emit  # noqa: E402
from hub.allocation import dcopf  # noqa: E402
from hub.allocation.game import Memo  # noqa: E402
from hub.allocation.market import Entity, Market, MarketGame  # noqa: E402
from hub.allocation.owen import (  # noqa: E402
    _round,
    _round_rng,
    depth_designs,
    design_walk,
    owen_exact,
    owen_sampled,
    round_designs,
)
from hub.allocation.walk import native  # noqa: E402

TARGET = "share>=0.95 within 120 s"


def market(regions: int, per_region: int, seed: int, network: bool) -> Market:
    """Half generators (coal, gas, wind mix), half loads per region, a ring network."""
    rnd = random.Random(seed)
    buses = tuple(f"R{k}" for k in range(regions))
    gens, loads = [], []
    for k, bus in enumerate(buses):
        for j in range(per_region):
            if j % 2 == 0:
                tech, inten, price = rnd.choice([("coal", 950, 20_000), ("gas", 400, 35_000),
                                                 ("wind", 0, 0)])
                gens.append(Entity(f"g{k}_{j}", "gen", bus, 0, rnd.randint(20, 200) * 10**6,
                                   price + rnd.randint(0, 5000), inten, tech=tech))
            else:
                loads.append(Entity(f"l{k}_{j}", "load", bus, 0, rnd.randint(20, 150) * 10**6,
                                    rnd.randint(30_000, 90_000)))
    net = None
    if network:
        lines = tuple(dcopf.Line(f"L{k}", buses[k], buses[(k + 1) % regions], 0.01 + 0.01 * k,
                                 150_000_000 if k % 2 == 0 else None) for k in range(regions))
        net = dcopf.Network(buses, lines, buses[0])
    return Market(tuple(gens), tuple(loads), net, 3600, buses)


def line(case: str, value: float | None, unit: str, target: object = None,
         baseline: float | None = None, **extra: object) -> None:
    emit("owen", case, value, unit, baseline, target, **extra)


def round_walk_cpu(game: MarketGame, seed: int) -> tuple[float | None, float, int]:
    """CPU seconds of one round's walks, native (None if not built) and numpy, same orderings."""
    st = game.structure
    groups = round_designs(st, _round_rng(seed, 0), depth_designs(len(st.unions)))
    fast = slow = 0.0
    values = 0
    for key, parts in groups.items():
        players = np.vstack([p for p, _, _ in parts])
        walk, local = design_walk(game, key)  # built before the clocks start
        idx = local[players]
        t = time.process_time()
        want = walk.numpy_prefix_values(idx)
        slow += time.process_time() - t
        values += idx.size
        if native() is not None:
            t = time.process_time()
            got = walk.native_prefix_values(idx)
            fast += time.process_time() - t
            if not np.array_equal(got, want):
                raise SystemExit(f"native and numpy walks differ on unions {key}")
    return (fast if native() is not None else None), slow, values


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true", help="small games, seconds")
    args = ap.parse_args()

    er, en = (3, 4) if args.quick else (5, 4)
    for network in (False, True):
        game = MarketGame(market(er, en, seed=1, network=network))
        t = time.perf_counter()
        owen_exact(game)
        kind = "dcopf" if network else "merit"
        line(f"exact_{er}x{en}_{kind}_s", time.perf_counter() - t, "s")
        line(f"exact_{er}x{en}_{kind}_coalitions_cleared", game.cleared, "count")

    sr, sn = (5, 6) if args.quick else (10, 100)
    game = MarketGame(market(sr, sn, seed=2, network=False))
    vn = abs(game.value(game.structure.grand))
    t = time.perf_counter()
    res = owen_sampled(game, rounds=4, seed=0, target_se=0.01 * vn, max_rounds=400)
    line(f"sampled_{sr}x{sn}_merit_s", time.perf_counter() - t, "s")
    line(f"sampled_{sr}x{sn}_max_se_rel", max(res.se or (0.0,)) / vn, "fraction of v(N)", 0.01)
    line(f"sampled_{sr}x{sn}_rounds", res.rounds, "rounds")
    line(f"sampled_{sr}x{sn}_prefix_values", res.evaluations, "count")

    fast, slow, values = round_walk_cpu(game, seed=0)
    line(f"round_{sr}x{sn}_walk_cpu_s", fast, "CPU s", baseline=slow,
         baseline_is="numpy walk (hub.allocation.walk), same orderings",
         prefix_values=values)
    t = time.process_time()
    _round(Memo(game), _round_rng(0, 0), depth_designs(sr))
    line(f"round_{sr}x{sn}_sampler_cpu_s", time.process_time() - t, "CPU s",
         walk="native" if native() is not None else "numpy")

    from hub.cluster import dask_client

    cap = 200 if args.quick else 400
    fresh = MarketGame(market(sr, sn, seed=2, network=False))  # no walks cached yet
    load = round(os.getloadavg()[0], 2)
    t = time.perf_counter()
    with dask_client(workers=2) as client:
        started = time.perf_counter() - t
        t = time.perf_counter()
        res = owen_sampled(fresh, rounds=4, seed=0, target_rel_se=0.05, coverage=0.95,
                           max_rounds=cap, client=client)
        took = time.perf_counter() - t
    rel = np.array(res.rel_se)
    keep = np.array([p not in res.excluded for p in res.structure.players])
    share = res.share_within_target or 0.0
    p95 = float(np.percentile(rel[keep], 95)) if keep.any() else 0.0
    run = {"workers": 2, "loadavg_1min": load}
    case = f"sampled_{sr}x{sn}_entity_se_2workers"
    line(f"{case}_s", took, "s", TARGET, cluster_start_s=round(started, 2), **run)
    line(f"{case}_share_within_5pct", share, "fraction of entities", TARGET, **run)
    line(f"{case}_p95_rel_se", p95, "fraction of own value", 0.05, **run)
    line(f"{case}_rounds", res.rounds, "rounds", **run)
    line(f"{case}_excluded", len(res.excluded), "entities", **run)
    line(f"{case}_target_met", int(share >= 0.95 and took <= 120.0), "1 = met", TARGET, **run)


if __name__ == "__main__":
    main()
