"""Choose a back end per call by batch size, with a measured crossover.

Small batches lose on the PL: a run costs a fixed overhead (buffer setup,
cache maintenance, AXI-Lite writes, polling) that the CPU does not pay. Above
some batch size the accelerator wins, and that size is MEASURED on the
machine by ``carbon-edge pl calibrate`` (see ``calibrate``), which writes
edge/pl/crossover.json next to this module. Without a file, or for an
operation whose accelerator never won, the crossover is None: always the CPU,
the only default that cannot make things slower.

The Dispatcher is an edge.chain.merkle.Hasher and also clears, with the same
signatures and results as edge.market.clearing; an explicit ``backend``
overrides the choice.
"""

from __future__ import annotations

import json
import os
import platform
import random
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from edge.market.clearing import Clearing, Dispatch, Order, Unit

from .cpu import CpuBackend
from .errors import REFUSED, PlUnavailable

CROSSOVER_PATH = Path(__file__).with_name("crossover.json")
BACKENDS = ("auto", "cpu", "sim", "pynq")
OPS = ("hash", "clear")


def load_crossover(path: Path | None = None) -> dict[str, dict[str, Any]]:
    """{accelerator: {"hash": n | None, "clear": n | None, ...}}; {} when absent."""
    p = Path(path or os.environ.get("CARBON_EDGE_PL_CROSSOVER") or CROSSOVER_PATH)
    try:
        doc = json.loads(p.read_text())
    except FileNotFoundError:
        return {}
    except json.JSONDecodeError as exc:
        raise ValueError(f"crossover file {p} is not JSON: {exc}") from None
    for accel, entry in doc.items():
        for op in OPS:
            v = entry.get(op)
            if v is not None and (not isinstance(v, int) or v < 0):
                raise ValueError(f"crossover file {p}: {accel}.{op} must be null or a count")
    return doc


def make_backend(kind: str, bitstream: str | None = None) -> Any:
    """A back end by name; PlUnavailable (one clear sentence) if it cannot run here."""
    if kind == "cpu":
        return CpuBackend()
    from .driver import PlBackend

    if kind == "sim":
        from .sim import SimProvider

        return PlBackend(SimProvider())
    if kind == "pynq":
        from .pynq_backend import PynqProvider

        return PlBackend(PynqProvider(bitstream))
    raise ValueError(f"unknown back end {kind!r}: choose one of {', '.join(BACKENDS[1:])}")


def default_accelerator(bitstream: str | None = None) -> str:
    """pynq where the board is (pynq importable and a bitstream present), else sim."""
    from .pynq_backend import DEFAULT_BITSTREAM

    try:
        import pynq  # type: ignore[import-not-found]  # noqa: F401
    except ImportError:
        return "sim"
    path = Path(bitstream or os.environ.get("CARBON_EDGE_BITSTREAM") or DEFAULT_BITSTREAM)
    return "pynq" if path.exists() else "sim"


class Dispatcher:
    """A Hasher and clearer that sends each call to the cpu or to the accelerator."""

    def __init__(self, backend: str = "auto", *, accelerator: str | None = None,
                 crossover: dict[str, dict[str, Any]] | None = None,
                 bitstream: str | None = None) -> None:
        if backend not in BACKENDS:
            raise ValueError(f"unknown back end {backend!r}: choose one of {', '.join(BACKENDS)}")
        self.backend = backend
        self.bitstream = bitstream
        self.accelerator = accelerator or (
            backend if backend in ("sim", "pynq") else default_accelerator(bitstream))
        self.crossover = load_crossover() if crossover is None else crossover
        self._cpu = CpuBackend()
        self._accel: Any = None
        self._accel_error: str | None = None
        self.last: str | None = None  # which back end served the last call

    def threshold(self, op: str) -> int | None:
        return self.crossover.get(self.accelerator, {}).get(op)

    def accelerator_backend(self) -> Any:
        if self._accel is None:
            self._accel = make_backend(self.accelerator, self.bitstream)
        return self._accel

    def pick(self, op: str, size: int) -> Any:
        """The back end for ``size`` items of ``op`` ('hash' or 'clear')."""
        if self.backend == "cpu":
            return self._cpu
        if self.backend != "auto":
            return self.accelerator_backend()  # explicit: unavailability is an error
        limit = self.threshold(op)
        if limit is None or size < limit or self._accel_error:
            return self._cpu
        try:
            return self.accelerator_backend()
        except PlUnavailable as exc:  # auto falls back, once, and says so in the counter
            self._accel_error = str(exc)
            REFUSED.labels(kernel=op, reason="unavailable").inc()
            return self._cpu

    def _use(self, op: str, size: int) -> Any:
        be = self.pick(op, size)
        self.last = be.name
        return be

    def sha256_many(self, msgs: Sequence[bytes]) -> list[bytes]:
        return self._use("hash", len(msgs)).sha256_many(msgs)

    def leaf_hashes(self, leaves: Sequence[bytes]) -> list[bytes]:
        return self._use("hash", len(leaves)).leaf_hashes(leaves)

    def node_hashes(self, digests: Sequence[bytes]) -> list[bytes]:
        return self._use("hash", len(digests) // 2).node_hashes(digests)

    def clear_uniform(self, orders: Sequence[Order]) -> Clearing:
        return self._use("clear", len(orders)).clear_uniform(orders)

    def merit_order(self, gens: Sequence[Unit], loads: Sequence[Unit]) -> Dispatch:
        return self._use("clear", len(gens) + len(loads)).merit_order(gens, loads)


# ---- calibration -------------------------------------------------------------------------

def random_messages(n: int, size: int = 128, seed: int = 1) -> list[bytes]:
    rnd = random.Random(seed)
    return [rnd.randbytes(size) for _ in range(n)]


def random_orders(n: int, seed: int = 1) -> list[Order]:
    """A plausible book: half buyers, half sellers, prices around one level, unique seqs."""
    rnd = random.Random(seed)
    return [
        Order(f"o{i}", "buy" if rnd.random() < 0.5 else "sell", rnd.randint(1, 5000),
              rnd.randint(80_000, 120_000), i)
        for i in range(n)
    ]


def best_time(fn: Callable[[], object], repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def crossover_point(points: list[tuple[int, float, float]]) -> int | None:
    """Smallest size from which the accelerator is faster at every larger measured size."""
    best: int | None = None
    for size, cpu_s, accel_s in sorted(points, reverse=True):
        if accel_s >= cpu_s:
            break
        best = size
    return best


def calibrate(accelerator: Any, sizes: Sequence[int], repeats: int = 3) -> dict[str, Any]:
    """Time cpu and the accelerator on both operations; return one crossover.json entry."""
    cpu = CpuBackend()
    entry: dict[str, Any] = {
        "measured_on": f"{platform.node()} {platform.machine()} {platform.python_version()}",
        "date": time.strftime("%Y-%m-%d"),
        "sizes": list(sizes),
    }
    for op in OPS:
        points = []
        for n in sizes:
            if op == "hash":
                work = random_messages(n)
                a, b = (lambda be=cpu, w=work: be.leaf_hashes(w)), \
                    (lambda be=accelerator, w=work: be.leaf_hashes(w))
            else:
                work = random_orders(n)
                a, b = (lambda be=cpu, w=work: be.clear_uniform(w)), \
                    (lambda be=accelerator, w=work: be.clear_uniform(w))
            b()  # warm-up (first use may build or load things)
            points.append((n, best_time(a, repeats), best_time(b, repeats)))
        entry[op] = crossover_point(points)
        entry[f"{op}_seconds"] = [
            {"size": n, "cpu": round(c, 6), "accel": round(x, 6)} for n, c, x in points
        ]
    return entry


def save_crossover(accel_name: str, entry: dict[str, Any], path: Path | None = None) -> Path:
    p = Path(path or CROSSOVER_PATH)
    try:
        doc = json.loads(p.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        doc = {}
    doc[accel_name] = entry
    tmp = p.with_suffix(".tmp")
    tmp.write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, p)
    return p
