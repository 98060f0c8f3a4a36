"""The simulated PL: an AXI-Lite register model and a DDR model around the real kernels.

``SimProvider`` gives the drivers exactly what PYNQ gives them (32-bit MMIO
per kernel, physically addressed buffers), so the pynq and sim back ends run
the same driver code. Writing ap_start starts the kernel (the hls/ C++ via
ctypes, which releases the GIL) on a worker thread; the control register
behaves per the HLS block-level protocol:

* ap_start (bit 0) reads 1 from the write until the kernel finishes;
* ap_idle (bit 2) is low while it runs;
* ap_done (bit 1) and ap_ready (bit 3) go high at the end and clear when read;
* an ap_start written while busy stays latched and starts the next run as soon
  as this one ends (as the hardware does; the drivers never do this).

Before a kernel touches memory, the sim resolves every physical address with
the extent that run will read or write; an address outside any allocated
buffer is a bus error raised at the ap_start write, so a driver bug can never
corrupt the Python process.
"""

from __future__ import annotations

import bisect
import ctypes
import threading
from collections.abc import Callable
from pathlib import Path

import numpy as np

from . import abi
from .errors import PlError
from .regmap import Regmap, load


class SimBusError(PlError):
    """The simulated kernel was pointed at memory that no buffer covers."""


class SimBuffer:
    """Host memory standing in for a pynq.allocate buffer (a slice of the simulated DDR)."""

    def __init__(self, memory: SimMemory, array: np.ndarray, phys: int) -> None:
        self._memory, self._array, self._phys = memory, array, phys
        self.flushes = self.invalidates = 0

    @property
    def physical_address(self) -> int:
        return self._phys

    @property
    def nbytes(self) -> int:
        return self._array.nbytes

    @property
    def array(self) -> np.ndarray:
        return self._array

    def flush(self) -> None:
        self.flushes += 1

    def invalidate(self) -> None:
        self.invalidates += 1

    def free(self) -> None:
        self._memory.release(self)

    def sub(self, offset: int, nbytes: int) -> SimBuffer:
        """A view at ``offset`` (same memory, shifted physical address): a misaligned buffer."""
        return SimBuffer(self._memory, self._array[offset : offset + nbytes], self._phys + offset)


class SimMemory:
    """A physical address space of separately allocated, page-aligned buffers."""

    BASE, PAGE = 0x1000_0000, 4096

    def __init__(self) -> None:
        self._starts: list[int] = []
        self._bufs: dict[int, np.ndarray] = {}
        self._next = self.BASE
        self._lock = threading.Lock()

    def allocate(self, nbytes: int) -> SimBuffer:
        if nbytes <= 0:
            raise ValueError(f"buffer size must be positive, got {nbytes}")
        arr = np.zeros(nbytes, dtype=np.uint8)
        with self._lock:
            phys = self._next
            self._next += -(-nbytes // self.PAGE) * self.PAGE
            if self._next >= 1 << 32:
                raise MemoryError("simulated DDR exhausted its 32-bit address space")
            bisect.insort(self._starts, phys)
            self._bufs[phys] = arr
        return SimBuffer(self, arr, phys)

    def release(self, buf: SimBuffer) -> None:
        with self._lock:
            if self._bufs.pop(buf.physical_address, None) is not None:
                self._starts.remove(buf.physical_address)

    def resolve(self, addr: int, nbytes: int, what: str) -> int:
        """Host address of [addr, addr + nbytes), which must lie inside one buffer."""
        with self._lock:
            i = bisect.bisect_right(self._starts, addr) - 1
            if i >= 0:
                start = self._starts[i]
                arr = self._bufs[start]
                if addr + nbytes <= start + arr.nbytes:
                    return arr.ctypes.data + (addr - start)
        raise SimBusError(
            f"{what}: {nbytes} bytes at {addr:#x} are outside every allocated buffer"
        )

    def allocated(self) -> int:
        return len(self._starts)


class SimMmio:
    """One kernel's AXI-Lite register file with the ap_ctrl_hs state machine."""

    def __init__(self, name: str, regmap: Regmap, memory: SimMemory,
                 kernel: Callable[[SimMmio, dict[str, int]], Callable[[], None]]) -> None:
        self.name, self.regmap, self.memory = name, regmap, memory
        self.kmap = regmap.kernel(name)
        self.ctrl = regmap.ctrl
        self._kernel = kernel
        self._regs: dict[int, int] = {}
        self._lock = threading.Lock()
        self._running = False
        self._done = self._ready = self._latched = False
        self.starts = 0
        self.hang = threading.Event()  # set: the next runs never finish (until released)
        self._release = threading.Event()
        self.error: BaseException | None = None

    def read(self, offset: int) -> int:
        self._check(offset)
        if offset != self.ctrl.offset:
            return self._regs.get(offset, 0)
        with self._lock:
            c = self.ctrl
            v = (c.ap_start if self._running or self._latched else 0) \
                | (0 if self._running else c.ap_idle) \
                | (c.ap_done if self._done else 0) | (c.ap_ready if self._ready else 0)
            self._done = self._ready = False  # clear on read
            return v

    def write(self, offset: int, value: int) -> None:
        self._check(offset)
        value &= 0xFFFFFFFF
        if offset != self.ctrl.offset:
            self._regs[offset] = value
            return
        if not value & self.ctrl.ap_start:
            return
        with self._lock:
            if self._running:
                self._latched = True
                return
            self._running = True
        try:
            work = self._kernel(self, self.args())
        except BaseException:
            with self._lock:
                self._running = False
            raise
        threading.Thread(target=self._execute, args=(work,), daemon=True,
                         name=f"sim-{self.name}").start()

    def args(self) -> dict[str, int]:
        return {a: self._regs.get(off, 0) for a, off in self.kmap.args.items()}

    def release(self) -> None:
        """Let a hung run finish (tests that inject a hang clean up with this)."""
        self.hang.clear()
        self._release.set()

    def _execute(self, work: Callable[[], None]) -> None:
        self.starts += 1
        if self.hang.is_set():
            self._release.wait()
            self._release.clear()
        try:
            work()
        except BaseException as exc:  # kept for the tests; the hardware has no way to say it
            self.error = exc
        with self._lock:
            self._running = False
            self._done = self._ready = True
            again, self._latched = self._latched, False
        if again:
            self.write(self.ctrl.offset, self.ctrl.ap_start)

    def _check(self, offset: int) -> None:
        if offset % 4 or not 0 <= offset < self.kmap.range:
            raise SimBusError(f"{self.name}: register offset {offset:#x} is not a word in range")


def _sha256_run(lib: ctypes.CDLL) -> Callable[[SimMmio, dict[str, int]], Callable[[], None]]:
    def prepare(mmio: SimMmio, a: dict[str, int]) -> Callable[[], None]:
        mem, n, mode = mmio.memory, a["count"], a["mode"]
        if mode > abi.SHA_MODE_NODE or n > mmio.kmap.max_items:
            return lambda: None  # the kernel ignores such a start, as hls/sha256.cpp does
        out = mem.resolve(a["digests"], abi.DIGEST * n, "sha256 digests")
        if mode == abi.SHA_MODE_NODE:
            table = 0
            data = mem.resolve(a["data"], 64 * n, "sha256 data")
        else:
            table = mem.resolve(a["table"], 8 * n, "sha256 table")
            t = np.ctypeslib.as_array((ctypes.c_uint32 * (2 * n)).from_address(table)) \
                if n else np.zeros(0, np.uint64)
            end = int((t[0::2].astype(np.uint64) + t[1::2]).max()) if n else 0
            data = mem.resolve(a["data"], max(4, -(-end // 4) * 4), "sha256 data")
        return lambda: lib.ce_sha256_batch(data, table, out, n, mode)

    return prepare


def _clearing_run(lib: ctypes.CDLL) -> Callable[[SimMmio, dict[str, int]], Callable[[], None]]:
    def prepare(mmio: SimMmio, a: dict[str, int]) -> Callable[[], None]:
        mem, mode, n_a, n_b = mmio.memory, a["mode"], a["n_a"], a["n_b"]
        out = mem.resolve(a["out"], 4 * abi.CLR_HDR_WORDS, "clearing out")
        most = mmio.kmap.max_items
        per = {abi.CLR_MODE_UNIFORM: abi.CLR_IN_WORDS_UNIFORM,
               abi.CLR_MODE_MERIT: abi.CLR_IN_WORDS_MERIT}.get(mode)
        n = n_a + n_b
        sizes_ok = n_a <= most and n_b <= most and (mode != abi.CLR_MODE_UNIFORM or n <= most)
        inp = wa = wb = 0
        if per is not None and sizes_ok:  # else the kernel only writes an error header
            mem.resolve(a["out"], 4 * (abi.CLR_HDR_WORDS + abi.CLR_OUT_WORDS * n), "clearing out")
            inp = mem.resolve(a["in"], max(8, 4 * per * n), "clearing in")
            wa = mem.resolve(a["work_a"], max(8, 8 * n), "clearing work_a")
            wb = mem.resolve(a["work_b"], max(8, 8 * n), "clearing work_b")
        args = (inp, out, wa, wb, mode, n_a, n_b)
        return lambda: lib.ce_clearing(*args)

    return prepare


class SimProvider:
    """The sim back end's MMIO and DDR: same interface as the board's."""

    name = "sim"

    def __init__(self, regmap: Regmap | None = None, cache: Path | None = None) -> None:
        from . import simlib

        self.regmap = regmap or load()
        lib = simlib.library(cache)
        self.memory = SimMemory()
        self.devices = {
            "sha256": SimMmio("sha256", self.regmap, self.memory, _sha256_run(lib)),
            "clearing": SimMmio("clearing", self.regmap, self.memory, _clearing_run(lib)),
        }

    def mmio(self, kernel: str) -> SimMmio:
        return self.devices[kernel]

    def allocate(self, nbytes: int) -> SimBuffer:
        return self.memory.allocate(nbytes)
