"""The small interfaces between the PL drivers and whatever provides MMIO and DDR.

This is the PYNQ driver pattern cut at its seam: a driver only ever reads and
writes 32-bit registers and hands physical addresses of contiguous buffers to
the kernel. ``pynq_backend`` provides these from a real overlay
(DefaultIP.read/write, pynq.allocate); ``sim`` provides them from a register
model and host memory. Nothing else differs between the two back ends.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from .regmap import Regmap


class Mmio(Protocol):
    """32-bit register access to one kernel's AXI-Lite slave (offsets from its base)."""

    def read(self, offset: int) -> int: ...

    def write(self, offset: int, value: int) -> None: ...


class Buffer(Protocol):
    """A physically contiguous buffer the kernel reaches over its m_axi ports."""

    @property
    def physical_address(self) -> int: ...

    @property
    def nbytes(self) -> int: ...

    @property
    def array(self) -> np.ndarray:
        """The buffer's bytes as a writable uint8 array (host view)."""
        ...

    def flush(self) -> None:
        """Write host caches back to DDR before the PL reads."""
        ...

    def invalidate(self) -> None:
        """Drop host cache lines so the PL's writes become visible."""
        ...

    def free(self) -> None: ...


class Provider(Protocol):
    """Where a back end gets its registers and buffers from."""

    name: str
    regmap: Regmap

    def mmio(self, kernel: str) -> Mmio: ...

    def allocate(self, nbytes: int) -> Buffer: ...
