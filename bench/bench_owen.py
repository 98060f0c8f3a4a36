"""Owen allocation benchmarks: exact on 5 regions x 4 entities, sampled on 10 x 100.

Prints JSON lines {"bench", "case", "value", "unit", "baseline", "ratio", "target"}.
The sampled case runs stratified rounds until every entity's standard error is
under 1% of v(N) (the target) and reports the time and the SE reached; "10
regions x 100 entities" is 10 regions of 100 entities each (1,000 players, 500
generators and 500 loads, copper plate, no minimums), which the sampler walks
with hub.allocation.walk (all orderings of a round at once). A round is
10 x 100 orderings of 1,000 players, a million prefix values.
The per-entity case runs the same game on a local Dask cluster of 2 workers
until 95% of the entities (those at v(N)/n excluded) have a standard error
within 5% of their own value, or the round cap (40; quick: 12), and reports
the time, the rounds and the share reached (target: the share >= 0.95 within
120 s).
``--quick`` shrinks both games so the script finishes in seconds.
"""

from __future__ import annotations

import argparse
import json
import random
import time

from hub.allocation import dcopf
from hub.allocation.market import Entity, Market, MarketGame
from hub.allocation.owen import owen_exact, owen_sampled


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


def line(case: str, value: float, unit: str, target: float | None = None) -> None:
    print(json.dumps({"bench": "owen", "case": case, "value": round(value, 6), "unit": unit,
                      "baseline": None, "ratio": None, "target": target}), flush=True)


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

    from hub.cluster import dask_client

    cap = 12 if args.quick else 40
    with dask_client(workers=2) as client:
        t = time.perf_counter()
        res = owen_sampled(game, rounds=4, seed=0, target_rel_se=0.05, coverage=0.95,
                           max_rounds=cap, client=client)
        took = time.perf_counter() - t
    line(f"sampled_{sr}x{sn}_entity_se_2workers_s", took, "s", 120.0)
    line(f"sampled_{sr}x{sn}_entity_se_share_within_5pct", res.share_within_target or 0.0,
         "fraction of entities", 0.95)
    line(f"sampled_{sr}x{sn}_entity_se_rounds", res.rounds, "rounds")
    line(f"sampled_{sr}x{sn}_entity_se_excluded", len(res.excluded), "entities")


if __name__ == "__main__":
    main()
