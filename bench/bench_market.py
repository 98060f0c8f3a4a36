"""Market benchmarks beyond the clearing: sealed bids and best response.

1. Sealed bids (edge.market.sealed): opening N sealed bids of one round and
   checking each against its SHA-256 commitment (X25519 + HKDF-SHA256 +
   ChaCha20-Poly1305 per bid), at 1,000 and 10,000 bids, against the clearing
   of the same N orders in the same run (the rest of the round's work).
   Target: under 1,000 ms at 10,000 bids, so the round stays under 1 s.
2. Best response (edge.market.rounds.BestResponse): one participant's answer
   to a published round of N orders (the marginal buyer of a sellers' market,
   the case that searches most), at 100 and 1,000 orders, against one
   clearing of the same book in the same run: the answer is a binary search of
   about 31 clearings, so ~31-62 x is expected. On the edge this runs only in
   `carbon-edge market rounds`; each gateway computes its own answer.
Timings are the minimum of interleaved repetitions (the machine is shared).
"""

from __future__ import annotations

import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import args, line  # noqa: E402
from edge.market import sealed  # noqa: E402
from edge.market.clearing import Order, clear_uniform  # noqa: E402
from edge.market.rounds import BestResponse  # noqa: E402


def book(n: int, rng: random.Random) -> list[Order]:
    return [Order(f"gw-{i}", "buy" if rng.random() < 0.6 else "sell", rng.randint(100, 5000),
                  rng.randint(40_000, 160_000), i + 1) for i in range(n)]


def bench_sealed(n: int, reps: int) -> None:
    rng = random.Random(n)
    orders = book(n, rng)
    key = sealed.OrganiserKey.generate(900_000, 0)
    blobs = [sealed.seal(o.price, o.qty_wh, key.public, o.id, 900_000, 0) for o in orders]
    commits = [sealed.commitment(b) for b in blobs]
    best_open, best_clear = float("inf"), float("inf")
    for _ in range(reps):
        t0 = time.perf_counter()
        opened = []
        for o, b, c in zip(orders, blobs, commits, strict=True):
            if sealed.commitment(b) != c:
                raise AssertionError("commitment")
            opened.append(sealed.open_bid(b, key, o.id))
        best_open = min(best_open, (time.perf_counter() - t0) * 1000)
        t0 = time.perf_counter()
        clear_uniform(orders)
        best_clear = min(best_clear, (time.perf_counter() - t0) * 1000)
    assert opened == [(o.price, o.qty_wh) for o in orders]
    line("market", f"sealed_open_verify_n{n}", best_open, "ms", best_clear,
         "<1000 ms at 10000", baseline_is="clear_uniform of the same orders, same run",
         per_bid_us=round(best_open * 1000 / n, 2))


def bench_best_response(n: int, reps: int) -> None:
    rng = random.Random(n)
    orders = book(n, rng)
    c = clear_uniform(orders)
    me = next((i for i, f in enumerate(c.fills) if f.status == "partial"), 0)
    limit = orders[me].price  # truthful: its quote is its limit
    strategy = BestResponse()
    best_br, best_clear = float("inf"), float("inf")
    for _ in range(reps):
        t0 = time.perf_counter()
        strategy.respond(orders, c, me, limit)
        best_br = min(best_br, (time.perf_counter() - t0) * 1000)
        t0 = time.perf_counter()
        clear_uniform(orders)
        best_clear = min(best_clear, (time.perf_counter() - t0) * 1000)
    line("market", f"best_response_n{n}", best_br, "ms", best_clear, None,
         baseline_is="one clear_uniform of the same book, same run", regime=c.regime)


def main() -> None:
    a = args(__doc__.splitlines()[0])
    for n in (1_000,) if a.quick else (1_000, 10_000):
        bench_sealed(n, 1 if a.quick else 3)
    for n in (100,) if a.quick else (100, 1_000):
        bench_best_response(n, 2 if a.quick else 5)


if __name__ == "__main__":
    main()
