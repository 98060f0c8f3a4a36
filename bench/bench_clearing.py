"""Clearing latency of edge.market.clearing for 10, 1,000 and 100,000 orders.

Prints one JSON line per case: {"bench", "case", "value", "unit", "baseline",
"ratio", "target"}; value is the median wall time in milliseconds of
clearing an already-built book (building the Order objects is not timed).
Books are random but seeded, with crossing prices, so the exclusion loop and
partial fills are exercised. Target: 100,000 orders in well under a second
(1,000 ms is the ceiling from the brief). `--quick` takes fewer repetitions.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from edge.market.clearing import Order, Unit, clear_uniform, merit_order  # noqa: E402

SIZES = (10, 1_000, 100_000)
TARGET_MS = {100_000: 1000.0}


def p5_book(n: int, rng: random.Random) -> list[Order]:
    seqs = list(range(n))
    rng.shuffle(seqs)
    return [
        Order(f"o{i}", "buy" if rng.random() < 0.5 else "sell", rng.randint(1, 5_000),
              rng.randint(50_000, 250_000), seqs[i])
        for i in range(n)
    ]


def merit_market(n: int, rng: random.Random) -> tuple[list[Unit], list[Unit]]:
    def unit(i: int) -> Unit:
        qmax = rng.randint(1, 50_000)
        qmin = rng.randint(0, qmax // 4) if rng.random() < 0.3 else 0
        return Unit(f"u{i}", qmin, qmax, rng.randint(0, 200_000), i)

    units = [unit(i) for i in range(n)]
    return units[: n // 2], units[n // 2 :]


def timed(fn, reps: int) -> float:
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def line(case: str, ms: float, n: int) -> str:
    return json.dumps({"bench": "clearing", "case": case, "value": round(ms, 3), "unit": "ms",
                       "baseline": None, "ratio": None, "target": TARGET_MS.get(n)})


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="few repetitions (seconds)")
    args = ap.parse_args(argv)
    rng = random.Random(20240615)
    for n in SIZES:
        reps = (3 if n >= 100_000 else 20) if args.quick else (7 if n >= 100_000 else 200)
        book = p5_book(n, rng)
        print(line(f"p5_uniform_n{n}", timed(lambda b=book: clear_uniform(b), reps), n),
              flush=True)
        gens, loads = merit_market(n, rng)
        print(line(f"merit_order_n{n}", timed(lambda g=gens, u=loads: merit_order(g, u), reps),
                   n), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
