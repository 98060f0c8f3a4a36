"""PL drivers: the HLS block-level protocol, buffer checks, and the kernels' Python API.

The same code runs the real overlay and the simulation; it only sees a
``Provider`` (edge.pl.mmio). A run goes: check every buffer (alignment from
the register map, size from what the kernel will touch) -> check the kernel is
idle -> write arguments -> flush inputs -> set ap_start -> poll ap_done (clear
on read) with a timeout -> invalidate outputs -> unpack. Every refusal raises
a PlError subclass that names the kernel and the problem, and counts it.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence

import numpy as np

from edge.market.clearing import Clearing, Dispatch, Order, Unit

from . import abi
from .errors import PlBufferError, PlBusyError, PlTimeoutError, refuse
from .mmio import Buffer, Provider
from .regmap import KernelMap

#: Default wait for ap_done. A million-order clearing at 100 MHz is well under this.
TIMEOUT_S = 30.0


class KernelDriver:
    """One HLS kernel behind ap_ctrl_hs: start, poll, time out, refuse double starts."""

    def __init__(self, provider: Provider, kernel: str, timeout_s: float = TIMEOUT_S) -> None:
        self.provider = provider
        self.kmap: KernelMap = provider.regmap.kernel(kernel)
        self.ctrl = provider.regmap.ctrl
        self.alignment = provider.regmap.alignment
        self.mmio = provider.mmio(kernel)
        self.timeout_s = timeout_s

    @property
    def name(self) -> str:
        return self.kmap.name

    def check_buffer(self, arg: str, buf: Buffer, need: int) -> None:
        """Refuse a buffer the kernel would misuse: unaligned, or smaller than it will touch."""
        if buf.physical_address % self.alignment:
            raise refuse(
                PlBufferError, self.name, "buffer",
                f"buffer {arg!r} at {buf.physical_address:#x} is not aligned to "
                f"{self.alignment} bytes",
            )
        if buf.nbytes < need:
            raise refuse(
                PlBufferError, self.name, "buffer",
                f"buffer {arg!r} holds {buf.nbytes} bytes but this run needs {need}",
            )

    def run(self, buffers: Mapping[str, tuple[Buffer, int]], scalars: Mapping[str, int],
            outputs: Sequence[str]) -> None:
        """Check, start, wait. ``buffers`` maps argument -> (buffer, bytes needed)."""
        given = set(buffers) | set(scalars)
        if given != set(self.kmap.args):
            raise ValueError(
                f"{self.name}: arguments {sorted(given)} do not match the register map's "
                f"{sorted(self.kmap.args)}"
            )
        for arg, (buf, need) in buffers.items():
            self.check_buffer(arg, buf, need)
        for arg, v in scalars.items():
            if not 0 <= v < 1 << 32:
                raise refuse(PlBufferError, self.name, "input", f"{arg}={v} is not a 32-bit word")
        status = self.mmio.read(self.ctrl.offset)  # also clears a stale ap_done
        if not status & self.ctrl.ap_idle:
            raise refuse(
                PlBusyError, self.name, "busy",
                f"refusing to start: the kernel is still running (ctrl={status:#04x}, ap_idle low)",
            )
        for arg, (buf, _) in buffers.items():
            self.mmio.write(self.kmap.args[arg], buf.physical_address)
        for arg, v in scalars.items():
            self.mmio.write(self.kmap.args[arg], v)
        for arg, (buf, _) in buffers.items():
            if arg not in outputs:
                buf.flush()
        self.mmio.write(self.ctrl.offset, self.ctrl.ap_start)
        self.wait()
        for arg in outputs:
            buffers[arg][0].invalidate()

    def wait(self) -> None:
        """Poll until ap_done; the read that sees it also clears it (clear-on-read)."""
        deadline = time.monotonic() + self.timeout_s
        pause = 1e-6
        while True:
            status = self.mmio.read(self.ctrl.offset)
            if status & self.ctrl.ap_done:
                return
            if time.monotonic() > deadline:
                raise refuse(
                    PlTimeoutError, self.name, "timeout",
                    f"ap_done not set {self.timeout_s:g} s after ap_start (ctrl={status:#04x}); "
                    "the kernel is still busy and further starts are refused until it is idle",
                )
            time.sleep(pause)
            pause = min(pause * 2, 1e-3)


class _Buffers:
    """Allocates a run's buffers and frees them afterwards, whatever happens."""

    def __init__(self, provider: Provider) -> None:
        self.provider, self.held = provider, []

    def __enter__(self) -> _Buffers:
        return self

    def new(self, nbytes: int, content: bytes | np.ndarray | None = None) -> Buffer:
        """A buffer of at least ``nbytes`` (rounded up to whole 64-byte lines)."""
        size = max(64, -(-nbytes // 64) * 64)
        buf = self.provider.allocate(size)
        self.held.append(buf)
        if content is not None:
            raw = np.frombuffer(content, dtype=np.uint8) if isinstance(content, bytes) \
                else content.view(np.uint8).reshape(-1)
            buf.array[: raw.size] = raw
        return buf

    def __exit__(self, *exc: object) -> None:
        for b in self.held:
            b.free()


class Sha256Driver(KernelDriver):
    def __init__(self, provider: Provider, timeout_s: float = TIMEOUT_S) -> None:
        super().__init__(provider, "sha256", timeout_s)

    def hash(self, msgs: Sequence[bytes], mode: int) -> list[bytes]:
        """Digests of ``msgs`` (plain or leaf mode), splitting batches at the kernel's limits."""
        abi.check_messages(msgs)
        out: list[bytes] = []
        lengths = [len(m) for m in msgs]
        for lo, hi in abi.split_batches(lengths, self.kmap.max_items, abi.MAX_BATCH_BYTES):
            out += self._run_table(msgs[lo:hi], mode)
        return out

    def _run_table(self, msgs: Sequence[bytes], mode: int) -> list[bytes]:
        data, table = abi.pack_messages(msgs)
        n = len(msgs)
        with _Buffers(self.provider) as bufs:
            d = bufs.new(len(data), data)
            t = bufs.new(table.nbytes, table)
            g = bufs.new(abi.DIGEST * n)
            self.run(
                {"data": (d, -(-len(data) // 4) * 4), "table": (t, table.nbytes),
                 "digests": (g, abi.DIGEST * n)},
                {"count": n, "mode": mode}, outputs=("digests",),
            )
            return abi.unpack_digests(g.array[: abi.DIGEST * n].tobytes(), n)

    def nodes(self, digests: Sequence[bytes]) -> list[bytes]:
        """RFC 6962 parents of consecutive digest pairs."""
        abi.check_digests(digests)
        out: list[bytes] = []
        pairs = len(digests) // 2
        step = min(self.kmap.max_items, abi.MAX_BATCH_BYTES // 64)
        for lo in range(0, max(pairs, 1), step):
            hi = min(pairs, lo + step)
            data = b"".join(digests[2 * lo : 2 * hi])
            n = hi - lo
            with _Buffers(self.provider) as bufs:
                d = bufs.new(len(data), data)
                t = bufs.new(0)
                g = bufs.new(abi.DIGEST * n)
                self.run(
                    {"data": (d, 64 * n), "table": (t, 0), "digests": (g, abi.DIGEST * n)},
                    {"count": n, "mode": abi.SHA_MODE_NODE}, outputs=("digests",),
                )
                out += abi.unpack_digests(g.array[: abi.DIGEST * n].tobytes(), n)
        return out


class ClearingDriver(KernelDriver):
    def __init__(self, provider: Provider, timeout_s: float = TIMEOUT_S) -> None:
        super().__init__(provider, "clearing", timeout_s)

    def _run(self, packed: abi.Packed, mode: int) -> np.ndarray:
        """One kernel run; returns ``out`` as 32-bit words (header, then the kernel's order)."""
        n = packed.n_a + packed.n_b
        in_bytes = packed.words.nbytes
        out_bytes = 4 * (abi.CLR_HDR_WORDS + abi.CLR_OUT_WORDS * n)
        with _Buffers(self.provider) as bufs:
            i = bufs.new(in_bytes, packed.words)
            o = bufs.new(out_bytes)
            wa = bufs.new(8 * n)
            wb = bufs.new(8 * n)
            self.run(
                {"in": (i, in_bytes), "out": (o, out_bytes), "work_a": (wa, 8 * n),
                 "work_b": (wb, 8 * n)},
                {"mode": mode, "n_a": packed.n_a, "n_b": packed.n_b}, outputs=("out",),
            )
            return o.array[:out_bytes].view(np.uint32).copy()

    def clear_uniform(self, orders: Sequence[Order]) -> Clearing:
        packed = abi.pack_orders(orders)
        return abi.unpack_uniform(self._run(packed, abi.CLR_MODE_UNIFORM), orders, packed)

    def merit_order(self, gens: Sequence[Unit], loads: Sequence[Unit]) -> Dispatch:
        packed = abi.pack_units(gens, loads)
        return abi.unpack_merit(self._run(packed, abi.CLR_MODE_MERIT), gens, loads, packed)


class PlBackend:
    """A Hasher and clearer on the PL (real or simulated): what the dispatcher calls."""

    def __init__(self, provider: Provider, timeout_s: float = TIMEOUT_S) -> None:
        self.name = provider.name
        self.provider = provider
        self.sha = Sha256Driver(provider, timeout_s)
        self.clr = ClearingDriver(provider, timeout_s)

    def sha256_many(self, msgs: Sequence[bytes]) -> list[bytes]:
        return self.sha.hash(msgs, abi.SHA_MODE_PLAIN)

    def leaf_hashes(self, leaves: Sequence[bytes]) -> list[bytes]:
        return self.sha.hash(leaves, abi.SHA_MODE_LEAF)

    def node_hashes(self, digests: Sequence[bytes]) -> list[bytes]:
        return self.sha.nodes(digests)

    def clear_uniform(self, orders: Sequence[Order]) -> Clearing:
        return self.clr.clear_uniform(orders)

    def merit_order(self, gens: Sequence[Unit], loads: Sequence[Unit]) -> Dispatch:
        return self.clr.merit_order(gens, loads)
