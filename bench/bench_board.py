"""Board estimates: the ZYNQ-7045's Cortex-A9 from per-operation costs measured here, and
where the PL pays (the dispatcher's crossover batch size for hashing and clearing).

ESTIMATES, not board measurements (every line says "estimate": true). Method
(docs/pl-estimates.md, "On the board"):
1. The hot operations run here pinned to one core (sched_setaffinity), best
   CPU time of several runs; the core's clock is read from /proc/cpuinfo.
2. SHA-256 inside the native loop is scaled by OpenSSL's published cycles per
   byte for ARMv7 integer code (bench_pl.A9_CPB_INT) at the A9's 800 MHz.
3. Everything else (CPython, numpy, SQLite, Ed25519 through cryptography) is
   scaled by clock (host MHz / 800) times PER_CLOCK, the assumed per-clock
   speed of this host's core over the in-order, dual-issue Cortex-A9 on
   interpreter-bound code (4; 3 and 6 bracket it in the crossover lines).
4. The PL side: the HLS cycle counts of bench_pl.py at the fabric clock, plus
   the driver's packing and unpacking (measured here, scaled as in 3), plus
   PL_CALL_S per kernel run (register writes, buffer cache maintenance,
   completion poll through PYNQ: assumed 100 us).
Crossover = the smallest batch from which the PL estimate beats the A9
estimate at every larger size tried (edge.pl.dispatch.crossover_point, the
rule `carbon-edge pl calibrate` applies to real measurements); None = never
within 1..1,000,000, i.e. the PL only frees the A9.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import args, line  # noqa: E402
from bench.bench_pl import A9_CPB_INT, A9_MHZ, clearing_cycles, sha_cycles  # noqa: E402
from edge.pl import abi  # noqa: E402
from edge.pl.dispatch import crossover_point, random_messages, random_orders  # noqa: E402
from edge.pl.regmap import load as load_regmap  # noqa: E402

PER_CLOCK = 4.0  # assumed: host core's work per clock / Cortex-A9's, interpreter-bound code
PER_CLOCK_RANGE = (3.0, 6.0)
PL_CALL_S = 100e-6  # assumed fixed cost of one kernel run through PYNQ
LEAF = 100  # bytes per Merkle leaf


def pin_one_core() -> int:
    cpu = min(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {cpu})
    return cpu


def host_mhz(cpu: int) -> float:
    """The pinned core's clock from /proc/cpuinfo (the nominal clock under a hypervisor)."""
    mhz, current = None, -1
    for ln in Path("/proc/cpuinfo").read_text().splitlines():
        if ln.startswith("processor"):
            current = int(ln.split(":")[1])
        elif ln.startswith("cpu MHz") and (current == cpu or mhz is None):
            mhz = float(ln.split(":")[1])
    return mhz or 2000.0


def best(fn, reps: int) -> float:
    """Best CPU time of this process (a per-operation cost: time spent descheduled on a
    shared machine is not the operation's)."""
    t_best = float("inf")
    for _ in range(reps):
        t0 = time.process_time()
        fn()
        t_best = min(t_best, time.process_time() - t0)
    return t_best


def a9_sha_s(nbytes: int) -> float:
    """SHA-256 of one message on the A9 (OpenSSL integer code), whole padded blocks."""
    blocks = (nbytes + 72) // 64
    return blocks * 64 * A9_CPB_INT / (A9_MHZ * 1e6)


def main() -> None:
    a = args(__doc__.splitlines()[0])
    from edge.chain import native
    from edge.chain.merkle import CPU
    from edge.market.clearing import clear_uniform

    cpu = pin_one_core()
    mhz = host_mhz(cpu)
    pl_mhz = load_regmap().clock_mhz
    reps = 2 if a.quick else 5

    def scale(k: float = PER_CLOCK) -> float:
        return mhz / A9_MHZ * k

    common = {"estimate": True, "host_mhz": round(mhz), "a9_mhz": A9_MHZ,
              "per_clock": PER_CLOCK, "pl_call_s": PL_CALL_S}
    fast = native.load()
    sizes = [1, 10, 100, 1_000, 10_000, 100_000] + ([] if a.quick else [1_000_000])

    # ---- hashing: a batch of n leaves (what the dispatcher decides per call)
    hash_pts: dict[float, list[tuple[int, float, float]]] = {k: [] for k in
                                                              (PER_CLOCK, *PER_CLOCK_RANGE)}
    for n in sizes:
        msgs = random_messages(n, LEAF)
        reps_n = reps if n < 100_000 else 1
        if fast is not None:  # the C loop's SHA-256 is scaled by cycles/byte, the rest by clock
            total = best(lambda m=msgs: fast.leaf_hashes(m), reps_n)
            raw = best(lambda m=msgs: fast.leaf_digests_raw(m), reps_n)
            sha_a9, python_host = n * a9_sha_s(LEAF + 1), max(total - raw, 0.0)
        else:  # hashlib: the whole loop is interpreter-bound
            sha_a9, python_host = 0.0, best(lambda m=msgs: CPU.leaf_hashes(m), reps_n)
        pack = best(lambda m=msgs, k=n: abi.unpack_digests(abi.pack_messages(m)[0][: 32 * k], k),
                    reps_n)
        for k in hash_pts:
            cpu_a9 = sha_a9 + python_host * scale(k)
            pl_a9 = PL_CALL_S + n * sha_cycles(LEAF + 1) / (pl_mhz * 1e6) + pack * scale(k)
            hash_pts[k].append((n, cpu_a9, pl_a9))
    for n, cpu_a9, pl_a9 in hash_pts[PER_CLOCK]:
        if n in (1_000, 100_000, 1_000_000):
            line("board", f"a9_leaf_hashes_{n}_x_{LEAF}B", cpu_a9, "s", pl_a9, None,
                 baseline_is="the PL estimate for the same batch (ratio > 1: the PL is faster)",
                 **common)
    line("board", "crossover_hash_batch", crossover_point(hash_pts[PER_CLOCK]), "messages",
         None, None, range_per_clock={str(k): crossover_point(v) for k, v in hash_pts.items()},
         **common)
    n = sizes[-1]
    tree_cpu = (2 * n - 1) * a9_sha_s(LEAF + 1)
    tree_pl = (2 * n - 1) * sha_cycles(LEAF + 1) / (pl_mhz * 1e6) \
        + PL_CALL_S * max(1, n.bit_length())
    line("board", f"a9_merkle_root_{n}_leaves", tree_cpu, "s", tree_pl, None,
         baseline_is="the PL estimate (one kernel run per level)", **common)

    # ---- clearing: a book of n orders
    clear_pts: dict[float, list[tuple[int, float, float]]] = {k: [] for k in hash_pts}
    for n in [s for s in sizes if s >= 10]:
        orders = random_orders(n)
        reps_n = reps if n < 100_000 else 1
        host = best(lambda o=orders: clear_uniform(o), reps_n)
        packed = abi.pack_orders(orders)
        pack = best(lambda o=orders: abi.pack_orders(o), reps_n)
        # the kernel's output for unpacking: any well-formed buffer of the right size will do
        import numpy as np

        out = np.zeros(abi.CLR_HDR_WORDS + abi.CLR_OUT_WORDS * n, dtype=np.uint32)
        unpack = best(lambda o=orders, p=packed, b=out: abi.unpack_uniform(b, o, p), reps_n)
        for k in clear_pts:
            cpu_a9 = host * scale(k)
            pl_a9 = PL_CALL_S + clearing_cycles(n) / (pl_mhz * 1e6) + (pack + unpack) * scale(k)
            clear_pts[k].append((n, cpu_a9, pl_a9))
    for n, cpu_a9, pl_a9 in clear_pts[PER_CLOCK]:
        if n in (1_000, 100_000):
            line("board", f"a9_clear_uniform_{n}_orders", cpu_a9 * 1000, "ms", pl_a9 * 1000,
                 None, baseline_is="the PL estimate incl. packing (ratio > 1: the PL is faster)",
                 **common)
    line("board", "crossover_clear_batch", crossover_point(clear_pts[PER_CLOCK]), "orders",
         None, None, range_per_clock={str(k): crossover_point(v) for k, v in clear_pts.items()},
         **common)

    # ---- per-message admission core (decode + HMAC) and block signing, scaled
    from edge.chain.keys import generate_key
    from edge.protocol.auth import add_tag, check_tag
    from edge.protocol.canonical import canonical
    from edge.protocol.codec import decode, decode_vouched
    from edge.runtime.admission import precheck

    key = bytes(range(32))
    body = {"v": 1, "type": "telemetry", "site": "b1", "gw": "g0001", "seq": 1,
            "ts": 1_700_000_000_000,
            "readings": [{"dev": "m1", "kind": "meter", "q": "good", "ts": 1_700_000_000_000,
                          "p_w": 1200, "e_imp_wh": 5000, "e_exp_wh": 300}]}
    payloads = [canonical(add_tag(dict(body, seq=i + 1), key)) for i in range(2000)]
    topic, keys = "site/b1/gw/g0001/telemetry", {"g0001": key}

    def admit_fast() -> None:  # what ingest runs for a canonical payload (msgspec, HMAC)
        for p in payloads:
            if not precheck(topic, p, "b1", keys, 16 * 1024):
                raise AssertionError("the fast path refused a valid message")
            decode_vouched(p)

    def admit_reference() -> None:  # what it runs for any other (pydantic, re-encoding)
        for p in payloads:
            check_tag(decode(p).raw, key)

    for case, fn, what in (("a9_admission_core_msgs_per_s", admit_fast, "the fast path's"),
                           ("a9_admission_reference_msgs_per_s", admit_reference,
                            "the reference path's")):
        per_msg = best(fn, reps) / len(payloads)
        line("board", case, 1 / (per_msg * scale()), "msg/s", 1 / per_msg,
             ">=1000 (1,000 gateways x 1 Hz)",
             baseline_is=f"{what} decode + HMAC check on this host, one core", **common)
    edge_key = generate_key()
    sign = best(lambda: [edge_key.sign(b"x" * 200) for _ in range(200)], reps) / 200
    line("board", "a9_block_signature", sign * scale() * 1e3, "ms", sign * 1e3, None,
         baseline_is="Ed25519 sign on this host, one core", **common)


if __name__ == "__main__":
    main()
