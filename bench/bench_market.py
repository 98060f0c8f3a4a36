"""Market benchmarks beyond the clearing: sealed bids and best response.

1. Sealed bids (edge.market.sealed): opening N sealed bids of one round and
   checking each against its SHA-256 commitment (X25519 + HKDF-SHA256 +
   ChaCha20-Poly1305 per bid), at 1,000 and 10,000 bids, against the clearing
   of the same N orders in the same run (the rest of the round's work).
   Target: under 1,000 ms at 10,000 bids, so the round stays under 1 s.
   The edge's whole sealed round (edge.runtime.organiser + market_service):
   N sealed bids accepted into a real inbox, then the round at the gate:
   read back from SQLite, each blob's hash against its recorded commitment,
   open, enter the book, clear, sign the result with every opening; with 1
   and 2 opening threads (`market.open_workers`), against the same round of N
   plain bids (no opening) in the same run. Target: under 1,000 ms at 10,000.
2. Best response (edge.market.rounds.BestResponse): one participant's answer
   to a published round of N orders (the marginal buyer of a sellers' market,
   the case that searches most), at 100 and 1,000 orders, against one
   clearing of the same book in the same run: the answer is a binary search of
   about 31 clearings, so ~31-62 x is expected. On the edge this runs only in
   `carbon-edge market rounds`; each gateway computes its own answer.
Timings are the minimum of interleaved repetitions (the machine is shared).
"""

from __future__ import annotations

import json
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


def sealed_round_ms(n: int, workers: int | None, orders: list[Order]) -> float:
    """One edge round at the gate over n bids in a fresh inbox (workers None: plain bids)."""
    import tempfile
    from collections import Counter

    from edge.chain.keys import generate_key
    from edge.clock import Clock
    from edge.protocol.codec import decode
    from edge.protocol.transactions import SealedBidCommitment  # noqa: F401 - the tx written
    from edge.runtime.admission import Accepted, SeqWindow
    from edge.runtime.inbox import Inbox
    from edge.runtime.inbox.messages import Stored
    from edge.runtime.intervals import Schedule
    from edge.runtime.market_service import MarketService
    from edge.runtime.organiser import Organiser

    class Cpu:
        clear_uniform = staticmethod(clear_uniform)

    sched = Schedule(900, 60, 10, 1, horizon=2)
    t = 1_800_000_000 - 1_800_000_000 % 900 + 900
    now = {"s": t - 600.0}
    clock = Clock(wall=lambda: int(now["s"] * 1000))
    key = generate_key()
    with tempfile.TemporaryDirectory() as d:
        inbox = Inbox(Path(d) / "inbox.db", clock)
        org = (Organiser("s1", key, sched, inbox, lambda *_: None, workers)
               if workers is not None else None)
        market = MarketService("s1", sched, inbox, key, Cpu(), lambda *_: None, 0, clock, org)
        market.tick(now["s"], int(now["s"] * 1000))
        stored = []
        for i, o in enumerate(orders):
            body = {"v": 1, "type": "bid", "site": "s1", "gw": o.id, "seq": 1,
                    "ts": int(now["s"] * 1000), "interval": t, "side": o.side, "round": 0,
                    "tag": "00" * 32}
            if org is not None:
                pub = org.key(t, 0).public
                body.update(sealed=sealed.seal(o.price, o.qty_wh, pub, o.id, t, 0).hex(),
                            kid=sealed.key_id(pub))
            else:
                body.update(price=o.price, qty_wh=o.qty_wh)
            payload = json.dumps(body).encode()
            dec = decode(payload)
            acc = Accepted(o.id, "data", 1, dec, SeqWindow(1, 1), None, "bid")
            stored.append(Stored(acc, payload, i))
        inbox.messages.commit_batch(stored, Counter())
        for s_ in stored:
            market.accept(s_.acc.raw)
        t0 = time.perf_counter()
        [r] = market.tick(t - 60, int((t - 60) * 1000))
        ms = (time.perf_counter() - t0) * 1000
        if org is not None:
            assert len(r["sealed"]["opened"]) == n, "every bid opened"
            org.close()
        inbox.close()
    return ms


def bench_sealed_round(n: int, reps: int) -> None:
    orders = book(n, random.Random(n + 1))
    best = {w: float("inf") for w in (None, 1, 2)}
    for _ in range(reps):
        for w in best:
            best[w] = min(best[w], sealed_round_ms(n, w, orders))
    for w in (1, 2):
        line("market", f"sealed_round_n{n}_workers{w}", best[w], "ms", best[None],
             "<1000 ms at 10000", baseline_is="the same round over plain bids, same run",
             per_bid_us=round(best[w] * 1000 / n, 2))


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
        bench_sealed_round(n, 1 if a.quick else 2)
    for n in (100,) if a.quick else (100, 1_000):
        bench_best_response(n, 2 if a.quick else 5)


if __name__ == "__main__":
    main()
