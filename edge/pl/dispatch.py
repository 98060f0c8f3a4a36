"""Choose a back end per call by batch size, with a measured crossover.

Small batches lose on the PL: a run costs a fixed overhead (buffer setup,
cache maintenance, AXI-Lite writes, polling) that the CPU does not pay. Above
some batch size the accelerator wins, and that size is MEASURED on the
machine by ``carbon-edge pl calibrate`` (see ``calibrate``), which writes the
machine's crossover file (``CROSSOVER_PATH``, in the user's state folder;
``$CARBON_EDGE_PL_CROSSOVER`` overrides). Without one the figures shipped
with the package (``SHIPPED_CROSSOVER``, read only) apply; for an operation
whose accelerator never won the crossover is None: always the CPU, the only
default that cannot make things slower. Nothing is ever written into the
installed package.

Every back end (cpu, sim, pynq) and the Dispatcher itself is a ``Backend``:
an edge.chain.merkle.Hasher that also clears, with the same signatures and
results as edge.market.clearing; an explicit ``backend`` overrides the
choice, and an accelerator already built (a board's, a test's) is passed in
as ``accelerator_backend``.
"""

from __future__ import annotations

import json
import os
import platform
import random
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from edge.chain.merkle import root_of_hashes
from edge.clock import SYSTEM
from edge.market.clearing import Clearing, Dispatch, Order, Unit

from .cpu import CpuBackend
from .errors import REFUSED, PlUnavailable

#: The figures measured for this release, shipped as package data and never written.
SHIPPED_CROSSOVER = Path(__file__).with_name("crossover.json")


def _state_dir() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "carbon-edge"


#: This machine's measured figures (``carbon-edge pl calibrate`` writes them).
CROSSOVER_PATH = _state_dir() / "pl-crossover.json"
BACKENDS = ("auto", "cpu", "sim", "pynq")
OPS = ("hash", "clear")


@runtime_checkable
class Backend(Protocol):
    """What the edge needs from the PL (or its stand-in): a Merkle hasher that also clears."""

    name: str

    def sha256_many(self, msgs: Sequence[bytes]) -> list[bytes]: ...

    def leaf_hashes(self, leaves: Sequence[bytes]) -> list[bytes]: ...

    def node_hashes(self, digests: Sequence[bytes]) -> list[bytes]: ...

    def clear_uniform(self, orders: Sequence[Order]) -> Clearing: ...

    def merit_order(self, gens: Sequence[Unit], loads: Sequence[Unit]) -> Dispatch: ...


def crossover_file(path: Path | None = None) -> Path:
    """The crossover file in force: given, else $CARBON_EDGE_PL_CROSSOVER, else this
    machine's measured one if it exists, else the shipped one."""
    if path is not None:
        return Path(path)
    env = os.environ.get("CARBON_EDGE_PL_CROSSOVER")
    if env:
        return Path(env)
    return CROSSOVER_PATH if CROSSOVER_PATH.exists() else SHIPPED_CROSSOVER


def load_crossover(path: Path | None = None) -> dict[str, dict[str, Any]]:
    """{accelerator: {"hash": n | None, "clear": n | None, ...}}; {} when absent."""
    p = crossover_file(path)
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


def make_backend(kind: str, bitstream: str | None = None,
                 regmap_path: str | os.PathLike[str] | None = None) -> Backend:
    """A back end by name; PlUnavailable (one clear sentence) if it cannot run here."""
    if kind == "cpu":
        return CpuBackend()
    from .driver import PlBackend
    from .regmap import load

    rm = load(str(regmap_path)) if regmap_path is not None else None
    if kind == "sim":
        from .sim import SimProvider

        return PlBackend(SimProvider(rm))
    if kind == "pynq":
        from .pynq_backend import PynqProvider

        return PlBackend(PynqProvider(bitstream, rm))
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

    name = "dispatch"

    def __init__(self, backend: str = "auto", *, accelerator: str | None = None,
                 crossover: dict[str, dict[str, Any]] | None = None,
                 bitstream: str | None = None,
                 accelerator_backend: Backend | None = None,
                 regmap_path: str | os.PathLike[str] | None = None) -> None:
        if backend not in BACKENDS:
            raise ValueError(f"unknown back end {backend!r}: choose one of {', '.join(BACKENDS)}")
        self.backend = backend
        self.bitstream = bitstream
        self.regmap_path = regmap_path
        self.accelerator = accelerator or (
            backend if backend in ("sim", "pynq") else default_accelerator(bitstream))
        self.crossover = load_crossover() if crossover is None else crossover
        self._cpu = CpuBackend()
        self._accel: Backend | None = accelerator_backend
        self._accel_error: str | None = None
        self.last: str | None = None  # which back end served the last call

    def threshold(self, op: str) -> int | None:
        return self.crossover.get(self.accelerator, {}).get(op)

    @property
    def accelerator_built(self) -> bool:
        """Whether the accelerator has been built or given (auto builds it on first need)."""
        return self._accel is not None

    @property
    def accelerator_error(self) -> str | None:
        """Why auto fell back to the cpu for good (None while the accelerator is usable)."""
        return self._accel_error

    def accelerator_backend(self) -> Backend:
        if self._accel is None:
            self._accel = make_backend(self.accelerator, self.bitstream, self.regmap_path)
        return self._accel

    def pick(self, op: str, size: int) -> Backend:
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

    def _use(self, op: str, size: int) -> Backend:
        be = self.pick(op, size)
        self.last = be.name
        return be

    def sha256_many(self, msgs: Sequence[bytes]) -> list[bytes]:
        return self._use("hash", len(msgs)).sha256_many(msgs)

    def leaf_hashes(self, leaves: Sequence[bytes]) -> list[bytes]:
        return self._use("hash", len(leaves)).leaf_hashes(leaves)

    def node_hashes(self, digests: Sequence[bytes]) -> list[bytes]:
        return self._use("hash", len(digests) // 2).node_hashes(digests)

    def merkle_root(self, leaves: Sequence[bytes]) -> bytes:
        """A whole tree. When the CPU takes the leaves it takes every level above them too
        (each is smaller), so it hashes the tree in one call (the native helper: no list
        of digests per level, about half the time of a block's tree hashed level by level);
        otherwise a level a call, each sent where its size says."""
        be = self._use("hash", len(leaves))
        if be is self._cpu:
            return self._cpu.merkle_root(leaves)
        return root_of_hashes(be.leaf_hashes(leaves), self)

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
        "date": time.strftime("%Y-%m-%d", time.gmtime(SYSTEM.wall_ms() / 1000)),
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
    """Merge one accelerator's figures into the machine's crossover file (never the shipped one)."""
    env = os.environ.get("CARBON_EDGE_PL_CROSSOVER")
    p = Path(path or env or CROSSOVER_PATH)
    try:
        doc = json.loads(crossover_file(path).read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        doc = {}
    doc[accel_name] = entry
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_suffix(".tmp")
    tmp.write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, p)
    return p
