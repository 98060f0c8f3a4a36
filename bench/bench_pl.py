"""PL benchmarks: throughput of each back end, and the HLS design's estimates.

Measured here, per back end (cpu always; sim when g++ is there; pynq on the board):
  * hashing: bytes/s of sha256_many on 100-byte messages, and Merkle leaves/s
    (RFC 6962 root through the back end as the Hasher), batch sizes 1 .. 1,000,000;
  * clearing: orders/s of the P5 uniform-price clearing, 1 .. 1,000,000 orders.
  For sim and pynq the baseline is the cpu figure at the same size (ratio > 1: faster).
  The sim back end exists for bit-exactness, not speed: its figures are the
  cost of simulating the PL on this host, not the PL's speed.
Derived from the HLS design (not measured; see docs/pl-estimates.md):
  * cycles per 64-byte block and the throughput at the target clock on XC7Z045,
    next to OpenSSL's published cycles/byte for SHA-256 on a Cortex-A8/A9-class core;
  * cycles per clearing of N orders (tiled on-chip sort + DDR merge passes at II = 1), with
    the previous index-sorting design's cycles next to it.

    .venv/bin/python bench/bench_pl.py [--quick] [--backends cpu,sim,pynq]
"""

from __future__ import annotations

import argparse
import math
import re
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import line  # noqa: E402
from edge.chain.merkle import merkle_root  # noqa: E402
from edge.pl.dispatch import make_backend, random_messages, random_orders  # noqa: E402
from edge.pl.errors import PlUnavailable  # noqa: E402
from edge.pl.regmap import load  # noqa: E402

BENCH = "pl"
MSG = 100  # bytes per message: a typical canonical transaction

# ---- the HLS design point (hls/sha256.cpp, hls/clearing.cpp; derivation in docs/pl-estimates.md)
SHA_FETCH, SHA_ROUNDS, SHA_UPDATE = 16, 64, 4  # cycles per block: fetch, rounds at II=1, add
SHA_PER_MESSAGE = 20  # table read, digest write (8 words), loop entry/exit
# Clearing: tile and prefetch block come from hls/clearing.h (the design point itself).
CLR_NET = 8  # sorting-network width: groups of 8 enter each tile sorted
CLR_DDR_LATENCY = 40  # cycles from an HP-port read request to its first beat (~400 ns)
CLR_PIPE = 6  # fill + drain of one invocation of a pipelined loop
CLR_ROUNDS = 2  # exclusion rounds: what the kernel reports on random_orders books
CLR_BEFORE = (90, 45, 10)  # the previous, index-sorting design: cycles per element per merge
#                            pass (two dependent DDR reads), per linear pass, linear passes
# OpenSSL sha256-armv4.pl (crypto/sha/asm), published cycles per byte: 15.4 integer code on
# Cortex-A8, 12.5 with NEON; the Cortex-A9 of the XC7Z045 (-2 speed grade: 800 MHz) is the
# same class of dual-issue ARMv7 core.
A9_MHZ = 800
A9_CPB_INT, A9_CPB_NEON = 15.4, 12.5


def best(fn, repeat: int) -> float:
    t_best = math.inf
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        t_best = min(t_best, time.perf_counter() - t)
    return t_best


def sha_cycles(nbytes: int) -> int:
    blocks = (nbytes + 72) // 64
    return blocks * (SHA_FETCH + SHA_ROUNDS + SHA_UPDATE) + SHA_PER_MESSAGE


def clr_design() -> tuple[int, int]:
    """(tile, block) in records, read from hls/clearing.h so the estimate follows the design."""
    text = (Path(__file__).resolve().parent.parent / "hls" / "clearing.h").read_text()
    tile = int(re.search(r"#define CLR_TILE_LOG2 (\d+)u", text)[1])
    block = int(re.search(r"#define CLR_BLOCK_LOG2 (\d+)u", text)[1])
    return 1 << tile, 1 << block


def sort_cycles(n: int, beats: int = 1, merge_ii: int = 1, ddr_ii: int = 1) -> int:
    """One side of n records: tiles on chip, then DDR merge passes (docs/pl-estimates.md).

    ``beats`` per input item (uniform 1, merit 2); ``merge_ii``/``ddr_ii`` > 1 give the
    pessimistic variant where Vitis cannot keep a merge loop at II = 1.
    """
    if n == 0:
        return 0
    tile, block = clr_design()
    tiles = -(-n // tile)
    cycles = 0
    for t in range(tiles):
        c = min(tile, n - t * tile)
        cycles += CLR_DDR_LATENCY + CLR_PIPE + beats * -(-c // CLR_NET) * CLR_NET  # load + net
        width = CLR_NET
        while width < c:  # merge levels; the last one streams to DDR
            pairs = -(-c // (2 * width))
            cycles += merge_ii * c + CLR_PIPE * pairs
            width *= 2
        if c <= CLR_NET:
            cycles += c + CLR_PIPE  # a single group is stored as it is
    passes = max(0, math.ceil(math.log2(tiles))) if tiles > 1 else 0
    per_pass = ddr_ii * n + n + -(-n // block) * (CLR_DDR_LATENCY + 2 * CLR_PIPE)
    return cycles + passes * per_pass


def clearing_cycles(n: int, merge_ii: int = 1, ddr_ii: int = 1) -> int:
    """A uniform clearing of n orders, half sells and half buys, CLR_ROUNDS rounds."""
    sells, buys = n // 2, n - n // 2
    stream = CLR_DDR_LATENCY + CLR_PIPE  # start of one burst-read streaming loop
    cycles = (n + stream) * 2  # validate, output
    cycles += CLR_ROUNDS * (n + 2 * stream)  # per round at most one pass over each side
    for side in (sells, buys):
        cycles += sort_cycles(side, 1, merge_ii, ddr_ii)
        cycles += max(1, math.ceil(math.log2(max(side, 2)))) * CLR_DDR_LATENCY  # lower_bound
    return cycles


def clearing_cycles_before(n: int) -> int:
    """The previous design (merge sort of indices, keys read through them from DDR)."""
    sort, linear, passes = CLR_BEFORE
    return n * max(1, math.ceil(math.log2(max(n, 2)))) * sort + n * passes * linear


def estimates() -> None:
    mhz = load().clock_mhz
    block = SHA_FETCH + SHA_ROUNDS + SHA_UPDATE
    line(BENCH, "hls sha256 cycles per 64-byte block (estimate)", block, "cycles",
         estimate=True)
    bps = 64 / block * mhz * 1e6
    a9 = A9_MHZ * 1e6 / A9_CPB_INT
    line(BENCH, f"hls sha256 long-message throughput at {mhz} MHz (estimate)", bps, "bytes/s",
         baseline=a9, estimate=True,
         note=f"baseline: OpenSSL integer code at {A9_CPB_INT} cycles/byte on an {A9_MHZ} MHz "
              f"Cortex-A9 (NEON: {A9_MHZ * 1e6 / A9_CPB_NEON:.3g} bytes/s)")
    leaf = sha_cycles(MSG + 1)
    line(BENCH, f"hls merkle leaves/s, {MSG}-byte leaves at {mhz} MHz (estimate)",
         mhz * 1e6 / leaf, "leaves/s", estimate=True, cycles_per_leaf=leaf)
    node = sha_cycles(65)
    line(BENCH, f"hls merkle nodes/s at {mhz} MHz (estimate)", mhz * 1e6 / node, "nodes/s",
         estimate=True, cycles_per_node=node)
    tile, block = clr_design()
    for n in (1_000, 100_000, 1_000_000):
        c = clearing_cycles(n)
        slow = clearing_cycles(n, merge_ii=2, ddr_ii=2)
        line(BENCH, f"hls clearing of {n} orders at {mhz} MHz (estimate)", n / (c / (mhz * 1e6)),
             "orders/s", estimate=True, cycles=c, cycles_per_order=round(c / n, 2),
             tile=tile, block=block, ii=1,
             orders_per_s_if_merges_at_ii2=round(n / (slow / (mhz * 1e6))),
             previous_design_cycles=clearing_cycles_before(n))


def bench_backend(name: str, be, cpu_results: dict, hash_sizes, clear_sizes, repeat) -> None:
    for n in hash_sizes:
        msgs = random_messages(n, MSG)
        t = best(lambda m=msgs: be.sha256_many(m), repeat)
        v = n * MSG / t
        base = cpu_results.get(("bytes", n))
        line(BENCH, f"{name} sha256_many bytes/s, {n} x {MSG} B", v, "bytes/s", baseline=base)
        t = best(lambda m=msgs: merkle_root(m, be), repeat)
        v2 = n / t
        base2 = cpu_results.get(("leaves", n))
        line(BENCH, f"{name} merkle leaves/s, {n} leaves", v2, "leaves/s", baseline=base2)
        if name == "cpu":
            cpu_results[("bytes", n)], cpu_results[("leaves", n)] = v, v2
    for n in clear_sizes:
        orders = random_orders(n)
        t = best(lambda o=orders: be.clear_uniform(o), max(1, repeat if n < 100_000 else 1))
        v = n / t
        line(BENCH, f"{name} clear_uniform orders/s, {n} orders", v, "orders/s",
             baseline=cpu_results.get(("orders", n)))
        if name == "cpu":
            cpu_results[("orders", n)] = v


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="small sizes: runs in seconds")
    p.add_argument("--backends", default="cpu,sim,pynq", help="comma-separated back ends")
    a = p.parse_args()
    if a.quick:
        hash_sizes, clear_sizes, repeat = [1, 100, 1000], [1, 100, 1000], 2
    else:
        hash_sizes = [1, 100, 10_000, 1_000_000]
        clear_sizes = [1, 100, 10_000, 1_000_000]
        repeat = 3
    estimates()
    cpu_results: dict = {}
    for name in ["cpu"] + [b for b in a.backends.split(",") if b and b != "cpu"]:
        try:
            be = make_backend(name)
        except PlUnavailable as exc:
            print(f"bench_pl: skipping {name}: {exc}", file=sys.stderr)
            continue
        bench_backend(name, be, cpu_results, hash_sizes, clear_sizes, repeat)
    return 0


if __name__ == "__main__":
    sys.exit(main())
