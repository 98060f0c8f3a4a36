"""The pynq back end's wiring (VLNV binding, allocate, flush/invalidate), with the board mocked.

Only the board is fake here: a stand-in ``pynq`` module whose Overlay creates
the DefaultIP subclasses bound to each IP's VLNV (as PYNQ does from the .hwh)
on top of the simulated PL's registers and DDR. The drivers, the provider and
the kernels are the real ones.
"""

from __future__ import annotations

import hashlib
import sys
import types

import numpy as np
import pytest

from edge.market.clearing import clear_uniform
from edge.pl import pynq_backend
from edge.pl.dispatch import random_orders
from edge.pl.driver import PlBackend
from edge.pl.errors import PlUnavailable


def fake_pynq(sim) -> types.ModuleType:
    mod = types.ModuleType("pynq")
    registry: dict[str, type] = {}
    calls = {"flush": 0, "invalidate": 0, "free": 0}

    class Meta(type):
        def __init__(cls, name, bases, ns):
            super().__init__(name, bases, ns)
            for vlnv in ns.get("bindto", []):
                registry[vlnv] = cls

    class DefaultIP(metaclass=Meta):
        def __init__(self, description):
            self._dev = sim.devices[description["kernel"]]

        def read(self, offset):
            return self._dev.read(offset)

        def write(self, offset, value):
            self._dev.write(offset, value)

    class Overlay:
        def __init__(self, path):
            for name, k in sim.regmap.kernels.items():
                setattr(self, k.instance, registry[k.vlnv]({"kernel": name, "type": k.vlnv}))

    class PynqBuffer(np.ndarray):
        def flush(self):
            calls["flush"] += 1

        def invalidate(self):
            calls["invalidate"] += 1

        def freebuffer(self):
            calls["free"] += 1
            sim.memory.release(self._sim)

    def allocate(shape, dtype):
        sb = sim.memory.allocate(int(np.prod(shape)) * np.dtype(dtype).itemsize)
        buf = sb.array.view(PynqBuffer)
        buf.physical_address = sb.physical_address
        buf._sim = sb
        return buf

    mod.DefaultIP, mod.Overlay, mod.allocate, mod.calls = DefaultIP, Overlay, allocate, calls
    return mod


@pytest.fixture
def board(sim, monkeypatch, tmp_path):
    mod = fake_pynq(sim)
    monkeypatch.setitem(sys.modules, "pynq", mod)
    monkeypatch.setattr(pynq_backend, "_BOUND", {})
    bit = tmp_path / "carbon_edge.bit"
    bit.write_bytes(b"\0")
    return mod, bit


def test_pynq_backend_runs_the_same_drivers(board):
    mod, bit = board
    be = PlBackend(pynq_backend.PynqProvider(bit))
    assert be.name == "pynq"
    msgs = [b"", b"abc", b"x" * 1000]
    assert be.sha256_many(msgs) == [hashlib.sha256(m).digest() for m in msgs]
    orders = random_orders(300)
    assert be.clear_uniform(orders) == clear_uniform(orders)
    # every buffer the PL reads or scribbles on is flushed: data and table, then in and the two
    # work buffers (no dirty line may be written back over the kernel's scratch)
    assert mod.calls["flush"] == 5
    assert mod.calls["invalidate"] == 2 and mod.calls["free"] == 7
    ip = be.provider.mmio("sha256")
    assert ip.bindto == ["carbon-edge.org:hls:sha256_batch:1.0"]


def test_missing_bitstream(board, tmp_path):
    with pytest.raises(PlUnavailable, match="not found"):
        pynq_backend.PynqProvider(tmp_path / "none.bit")


def test_bitstream_without_our_ip(board, monkeypatch):
    mod, bit = board

    class Empty:
        def __init__(self, path):
            pass

    monkeypatch.setattr(mod, "Overlay", Empty)
    with pytest.raises(PlUnavailable, match="has no IP 'sha256_0'"):
        pynq_backend.PynqProvider(bit)
