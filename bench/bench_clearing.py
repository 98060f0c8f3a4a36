"""Clearing benchmarks: edge.market.clearing against numpy's sort of the same keys, same run.

1. P5 uniform-price clearing of 10, 1,000 and 100,000 orders (built Order
   objects in, a Clearing out; building the book is not timed), against one
   numpy stable argsort of the same book's price keys (int64) in the same run:
   the sort is the part no clearing can skip. Target at 100,000 orders:
   <= 5 x that sort. The pure-Python path is reported next to it at the same
   size (ratio: Python path / the path clear_uniform takes).
2. One interval round at 1,000 and 100,000 orders (edge.runtime's
   MarketService: carbon adders, clearing through the PL dispatcher on the
   CPU, the signed result header and its fills block, settlements, the
   header's durable transaction and the block's write after it) against the
   bare clearing of the same orders (a list of Order objects) in the same
   run. Target <= 2 x. The round clears the book's own columns, written as
   the quotes came (edge/market/columns.py; the quotes are not timed, as
   the bare clearing's list is not). The same service cleared the interval
   before with the same book and checkpointed its log, untimed, as the
   service's clock does: the steady state of a running edge. What the book
   costs at quote time is reported next to it (``book_quotes_n*``: n quotes
   into a book; ``book_columns_n*``: the columns' share, the same orders
   appended to a column log and its columns made; both against making the
   same n Order objects).
3. P1 merit order for the same sizes (no same-run baseline: reported as is).
4. A round result's fills block (edge/protocol/fills.py) at 1,000 and 100,000
   orders (edge.market.fillblock.fill_block: the C pass where
   edge/market/_columns.c is built) against the reference encoder on the same
   clearing in the same run (fillblock.reference_block: the columns as Python
   lists, each fill checked, then struct): the same bytes both ways, checked
   before timing.
Timings are the minimum of interleaved repetitions (the machine is shared).
"""

from __future__ import annotations

import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from bench._common import args, line  # noqa: E402
from edge.market.clearing import (  # noqa: E402
    Order,
    Unit,
    clear_uniform,
    clear_uniform_python,
    merit_order,
)


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


def interleaved(fns: dict[str, object], reps: int) -> dict[str, float]:
    """Minimum wall time in ms of each function, the functions taking turns."""
    best = {k: float("inf") for k in fns}
    for _ in range(reps):
        for k, fn in fns.items():
            t0 = time.perf_counter()
            fn()  # type: ignore[operator]
            best[k] = min(best[k], (time.perf_counter() - t0) * 1000)
    return best


def bench_p5(n: int, reps: int, rng: random.Random) -> None:
    book = p5_book(n, rng)
    keys = np.array([o.price for o in book], dtype=np.int64)
    t = interleaved({"clear": lambda: clear_uniform(book),
                     "sort": lambda: np.argsort(keys, kind="stable")}, reps)
    if n >= 10_000:  # for information: seconds per run, so fewer runs
        t.update(interleaved({"python": lambda: clear_uniform_python(book)}, min(reps, 3)))
    line("clearing", f"p5_uniform_n{n}", t["clear"], "ms", t["sort"],
         "<=5 x argsort" if n >= 100_000 else None,
         baseline_is=f"numpy stable argsort of {n} int64 price keys, same run")
    if "python" in t:
        line("clearing", f"p5_uniform_python_path_n{n}", t["python"], "ms", t["clear"], None,
             baseline_is="clear_uniform (numpy path) on the same book, same run")


def bench_merit(n: int, reps: int, rng: random.Random) -> None:
    gens, loads = merit_market(n, rng)
    t = interleaved({"merit": lambda: merit_order(gens, loads)}, reps)
    line("clearing", f"merit_order_n{n}", t["merit"], "ms", None, None)


def bench_round(n: int, reps: int) -> None:
    from edge.chain.keys import generate_key
    from edge.market.columns import ColumnLog
    from edge.market.rounds import IntervalRounds
    from edge.pl.dispatch import Dispatcher
    from edge.runtime.inbox import Inbox
    from edge.runtime.intervals import Schedule
    from edge.runtime.market_service import MarketService

    rnd = random.Random(n)
    orders = [Order(f"p{i}", "buy" if rnd.random() < 0.5 else "sell",
                    rnd.randint(100, 5000), rnd.randint(40_000, 160_000), i + 1)
              for i in range(n)]
    disp = Dispatcher("cpu")
    key = generate_key()

    best_round, best_clear = float("inf"), float("inf")
    for _ in range(reps):
        t0 = time.perf_counter()
        disp.clear_uniform(orders)
        best_clear = min(best_clear, (time.perf_counter() - t0) * 1000)
        with tempfile.TemporaryDirectory() as tmp:
            inbox = Inbox(Path(tmp) / "inbox.db")
            ms = MarketService("b1", Schedule(900, 60, 10, 1), inbox, key, disp,
                               lambda *_: None, 300)
            # the interval before, the same book, untimed: the steady state of an edge that
            # clears such a round every interval (a new SQLite file's first large write, and
            # the write-ahead log's first growth to the round's size, cost about half again)
            warm = IntervalRounds(899_100, 1)
            for o in orders:
                warm.quote(o.id, o.side, o.qty_wh, o.price)
            ms.books[warm.interval] = warm
            ms.last_gate = warm.interval
            ms.tick(warm.interval - 60, 1)
            inbox.db.checkpoint()  # as the service's clock does after every tick
            book = IntervalRounds(900_000, 1)
            for o in orders:
                book.quote(o.id, o.side, o.qty_wh, o.price)
            ms.books[book.interval] = book
            ms.last_gate = book.interval
            t0 = time.perf_counter()
            ms.tick(book.interval - 60, 1)
            best_round = min(best_round, (time.perf_counter() - t0) * 1000)
            inbox.close()
    line("clearing", f"interval_round_n{n}", best_round, "ms", best_clear, "<=2 x clearing",
         baseline_is="the bare clearing of the same orders (CPU dispatcher), same run")

    def quotes() -> None:  # what the edge does with each bid it takes, columns included
        book = IntervalRounds(900_000, 1)
        for o in orders:
            book.quote(o.id, o.side, o.qty_wh, o.price)

    def columns() -> None:  # the book's columns alone, from the orders it took
        log = ColumnLog()
        for o in orders:
            log.append(o)
        log.columns()

    def objects() -> None:  # the bare clearing's input: one Order each
        [Order(o.id, o.side, o.qty_wh, o.price, o.seq) for o in orders]

    # after the round, so their garbage is not the round's heap
    t = interleaved({"quotes": quotes, "columns": columns, "objects": objects}, reps)
    for case in ("quotes", "columns"):
        line("clearing", f"book_{case}_n{n}", t[case], "ms", t["objects"], None,
             baseline_is=f"making the same {n} Order objects, same run")


def bench_fills(n: int, reps: int) -> None:
    from edge.market import fillblock

    book = p5_book(n, random.Random(n))
    c = clear_uniform(book)
    if fillblock.fill_block(book, c) != fillblock.reference_block(book, c):
        raise SystemExit(f"fill_block and reference_block differ at {n} orders")
    t = interleaved({"block": lambda: fillblock.fill_block(book, c),
                     "reference": lambda: fillblock.reference_block(book, c)}, reps)
    line("clearing", f"result_block_n{n}", t["block"], "ms", t["reference"], None,
         baseline_is="the same block by the reference encoder (fillblock.reference_block: "
                     "Python lists, every fill checked, struct), same run")


def main() -> None:
    a = args(__doc__.splitlines()[0])
    rng = random.Random(20240615)
    for n in (10, 1_000, 20_000) if a.quick else (10, 1_000, 100_000):
        reps = (3 if n >= 10_000 else 20) if a.quick else (9 if n >= 100_000 else 200)
        bench_p5(n, reps, rng)
        bench_merit(n, min(reps, 3) if n >= 10_000 else reps, rng)
    for n in (1_000,) if a.quick else (1_000, 100_000):
        bench_round(n, 1 if a.quick else 3)  # a 100,000-order round is 0.15 s now: 3 runs
        bench_fills(n, 3 if a.quick or n >= 100_000 else 20)


if __name__ == "__main__":
    main()
