"""The driver's side of the HLS block-level protocol, against the simulated PL."""

from __future__ import annotations

import hashlib
import time

import pytest
from prometheus_client import REGISTRY

from edge.pl.driver import PlBackend, Sha256Driver
from edge.pl.errors import PlBufferError, PlBusyError, PlTimeoutError
from edge.pl.sim import SimBusError


def refused(kernel: str, reason: str) -> float:
    return REGISTRY.get_sample_value(
        "carbon_edge_pl_refused_total", {"kernel": kernel, "reason": reason}) or 0.0


def test_ctrl_bits_follow_the_protocol(sim):
    """idle before; start reads 1 and idle 0 while running; done/ready clear on read."""
    dev = sim.devices["sha256"]
    c = sim.regmap.ctrl
    assert dev.read(c.offset) == c.ap_idle
    dev.hang.set()
    buf = sim.allocate(64)
    for arg in ("data", "table", "digests"):
        dev.write(sim.regmap.kernel("sha256").args[arg], buf.physical_address)
    dev.write(sim.regmap.kernel("sha256").args["count"], 1)
    dev.write(c.offset, c.ap_start)
    assert dev.read(c.offset) == c.ap_start  # running: not idle, not done
    dev.release()
    deadline = time.monotonic() + 5
    while not (v := dev.read(c.offset)) & c.ap_done:
        assert time.monotonic() < deadline
    assert v == c.ap_idle | c.ap_done | c.ap_ready
    assert dev.read(c.offset) == c.ap_idle  # ap_done and ap_ready cleared by the read
    # the kernel really ran: SHA-256 of the empty message at offset 0
    assert buf.array[:32].tobytes() == hashlib.sha256(b"").digest()


def test_a_kernel_that_never_finishes_times_out(sim):
    drv = Sha256Driver(sim, timeout_s=0.2)
    sim.devices["sha256"].hang.set()
    before = refused("sha256", "timeout")
    t = time.monotonic()
    with pytest.raises(PlTimeoutError, match=r"sha256: ap_done not set 0.2 s after ap_start"):
        drv.hash([b"abc"], 0)
    assert 0.2 <= time.monotonic() - t < 5
    assert refused("sha256", "timeout") == before + 1


def test_a_second_start_while_busy_is_refused(sim):
    drv = Sha256Driver(sim, timeout_s=0.1)
    dev = sim.devices["sha256"]
    dev.hang.set()
    with pytest.raises(PlTimeoutError):
        drv.hash([b"first"], 0)
    starts = dev.starts
    before = refused("sha256", "busy")
    with pytest.raises(PlBusyError, match="still running"):
        drv.hash([b"second"], 0)
    assert dev.starts == starts  # nothing was started
    assert refused("sha256", "busy") == before + 1
    dev.release()  # once the hung run ends, the kernel takes work again
    deadline = time.monotonic() + 5
    while not dev.read(sim.regmap.ctrl.offset) & sim.regmap.ctrl.ap_idle:
        assert time.monotonic() < deadline
    drv.timeout_s = 10
    assert drv.hash([b"third"], 0) == [hashlib.sha256(b"third").digest()]


def test_hardware_latches_a_start_written_while_busy(sim):
    """What the driver protects against: the PL would run again once done."""
    dev = sim.devices["clearing"]
    c = sim.regmap.ctrl
    buf = sim.allocate(4096)
    for arg in ("in", "out", "work_a", "work_b"):
        dev.write(sim.regmap.kernel("clearing").args[arg], buf.physical_address)
    dev.hang.set()
    dev.write(c.offset, c.ap_start)
    dev.write(c.offset, c.ap_start)  # latched
    dev.release()
    deadline = time.monotonic() + 5
    while dev.starts < 2 or not dev.read(c.offset) & c.ap_idle:
        assert time.monotonic() < deadline
    assert dev.starts == 2


def _run_with(sim, **bufs):
    drv = Sha256Driver(sim)
    dflt = {"data": (sim.allocate(64), 4), "table": (sim.allocate(64), 8),
            "digests": (sim.allocate(64), 32)}
    dflt.update(bufs)
    drv.run(dflt, {"count": 1, "mode": 0}, outputs=("digests",))
    return drv


@pytest.mark.parametrize("arg", ["data", "table", "digests"])
def test_misaligned_buffers_are_refused_before_start(sim, arg):
    dev = sim.devices["sha256"]
    base = sim.allocate(256)
    before = refused("sha256", "buffer")
    with pytest.raises(PlBufferError, match=rf"buffer '{arg}' at 0x[0-9a-f]+ is not aligned to 64"):
        _run_with(sim, **{arg: (base.sub(4, 128), 32)})
    assert dev.starts == 0 and dev.read(sim.regmap.ctrl.offset) == sim.regmap.ctrl.ap_idle
    assert refused("sha256", "buffer") == before + 1


@pytest.mark.parametrize("arg", ["data", "table", "digests"])
def test_small_buffers_are_refused_before_start(sim, arg):
    dev = sim.devices["sha256"]
    msg = rf"buffer '{arg}' holds 64 bytes but this run needs 65"
    with pytest.raises(PlBufferError, match=msg):
        _run_with(sim, **{arg: (sim.allocate(64), 65)})
    assert dev.starts == 0


def test_scalars_must_be_words(sim):
    drv = Sha256Driver(sim)
    b = sim.allocate(64)
    with pytest.raises(PlBufferError, match="count=4294967296 is not a 32-bit word"):
        drv.run({"data": (b, 0), "table": (b, 0), "digests": (b, 0)},
                {"count": 2**32, "mode": 0}, outputs=())


def test_buffers_are_flushed_and_invalidated(sim, monkeypatch):
    seen = []
    real = sim.allocate

    def spy(n):
        b = real(n)
        seen.append(b)
        return b

    monkeypatch.setattr(sim, "allocate", spy)
    PlBackend(sim).sha256_many([b"x"])
    data, table, digests = seen
    assert (data.flushes, table.flushes, digests.flushes) == (1, 1, 0)
    assert digests.invalidates == 1
    assert sim.memory.allocated() == 0  # every buffer freed after the run


def test_sim_refuses_addresses_outside_ddr(sim):
    """A driver bug pointing the kernel at nothing is a bus error, not a crash."""
    dev = sim.devices["sha256"]
    c = sim.regmap.ctrl
    dev.write(sim.regmap.kernel("sha256").args["count"], 1)
    dev.write(sim.regmap.kernel("sha256").args["digests"], 0x10)
    with pytest.raises(SimBusError, match="sha256 digests: 32 bytes at 0x10"):
        dev.write(c.offset, c.ap_start)
    assert dev.read(c.offset) == c.ap_idle
    with pytest.raises(SimBusError, match="register offset"):
        dev.read(0x2)
