"""The pynq back end: the real overlay on the ZC706, through PYNQ.

Only the provider lives here; the drivers are edge.pl.driver's, shared with
the sim back end. The kernels are bound by VLNV: a DefaultIP subclass per
kernel whose ``bindto`` is the VLNV from the register map, so
``pynq.Overlay`` instantiates our classes for the IP blocks in the .hwh.
Buffers come from ``pynq.allocate`` (physically contiguous CMA memory) and are
flushed/invalidated around each run by the driver.

``pynq`` is imported lazily: it exists only on the board image.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from .errors import PlUnavailable
from .regmap import Regmap, load

DEFAULT_BITSTREAM = Path("/home/xilinx/carbon_edge/carbon_edge.bit")

_BOUND: dict[str, type] = {}


def _import_pynq() -> Any:
    try:
        import pynq  # type: ignore[import-not-found]
    except ImportError:
        raise PlUnavailable(
            "the pynq back end runs on the board: the pynq package is not installed here "
            "(use the sim or cpu back end, or pip install '.[board]' on a PYNQ image)"
        ) from None
    return pynq


def bind_kernels(pynq: Any, regmap: Regmap) -> dict[str, type]:
    """DefaultIP subclasses bound to our kernels' VLNVs (defined once per process)."""
    for kmap in regmap.kernels.values():
        if kmap.vlnv in _BOUND:
            continue

        def __init__(self: Any, description: dict) -> None:
            pynq.DefaultIP.__init__(self, description=description)

        cls = type(
            f"CarbonEdge_{kmap.top}",
            (pynq.DefaultIP,),
            {"bindto": [kmap.vlnv], "__init__": __init__,
             "__doc__": f"carbon-edge {kmap.name} kernel ({kmap.vlnv})"},
        )
        _BOUND[kmap.vlnv] = cls
    return {k: _BOUND[m.vlnv] for k, m in regmap.kernels.items()}


class PynqBuffer:
    """Adapts a pynq.allocate buffer to edge.pl.mmio.Buffer."""

    def __init__(self, buf: Any) -> None:
        self._buf = buf

    @property
    def physical_address(self) -> int:
        return int(self._buf.physical_address)

    @property
    def nbytes(self) -> int:
        return int(self._buf.nbytes)

    @property
    def array(self) -> np.ndarray:
        return self._buf

    def flush(self) -> None:
        self._buf.flush()

    def invalidate(self) -> None:
        self._buf.invalidate()

    def free(self) -> None:
        self._buf.freebuffer()


class PynqProvider:
    name = "pynq"

    def __init__(self, bitstream: str | Path | None = None, regmap: Regmap | None = None) -> None:
        pynq = _import_pynq()
        self._pynq = pynq
        self.regmap = regmap or load()
        path = Path(bitstream or os.environ.get("CARBON_EDGE_BITSTREAM") or DEFAULT_BITSTREAM)
        if not path.exists():
            raise PlUnavailable(f"bitstream {path} not found (build it: overlays/README.md)")
        classes = bind_kernels(pynq, self.regmap)
        self.overlay = pynq.Overlay(str(path))
        self._ips = {}
        for name, kmap in self.regmap.kernels.items():
            ip = getattr(self.overlay, kmap.instance, None)
            if not isinstance(ip, classes[name]):
                raise PlUnavailable(
                    f"{path} has no IP {kmap.instance!r} of type {kmap.vlnv}: "
                    "the bitstream does not match overlays/regmap.json"
                )
            self._ips[name] = ip

    def mmio(self, kernel: str) -> Any:
        return self._ips[kernel]  # DefaultIP.read / DefaultIP.write

    def allocate(self, nbytes: int) -> PynqBuffer:
        return PynqBuffer(self._pynq.allocate(shape=(nbytes,), dtype=np.uint8))
