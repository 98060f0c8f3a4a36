"""All simulated devices of one process: build them from config, step, fault, inspect.

The fleet owns the clock and one lock. pymodbus serves from its event loop
while tests and the control channel command faults and advance time from
other threads; every public method takes the lock, so a reply never sees a
half-applied command.
"""

from __future__ import annotations

import threading
import zlib
from collections import Counter
from collections.abc import Iterator

import numpy as np

from simulator.devices import faults as fl
from simulator.devices.battery import Battery
from simulator.devices.clock import SimClock
from simulator.devices.config import (
    BatteryConfig,
    FleetConfig,
    MeterConfig,
    PvConfig,
    ServerConfig,
    device_name,
)
from simulator.devices.meter import Meter
from simulator.devices.pv import PvInverter
from simulator.devices.runtime import DeviceRuntime


def device_seeds(seed: int, server: str, unit: int) -> np.random.SeedSequence:
    """A device's own seed sequence: fleet seed, server name, unit id.

    Keyed by names rather than by position so that adding a device leaves the
    others' random streams unchanged.
    """
    return np.random.SeedSequence([seed, zlib.crc32(server.encode()), unit])


def build_runtime(
    cfg: FleetConfig, server: ServerConfig, dev: MeterConfig | BatteryConfig | PvConfig,
    clock: SimClock, units: dict[int, DeviceRuntime] | None = None,
) -> DeviceRuntime:
    """One device and its runtime; a PV inverter needs its meter's runtime in ``units``."""
    name = device_name(server, dev)
    serial = f"SIM-{server.name}-{dev.unit:03d}"[:32]
    if isinstance(dev, PvConfig):
        meter = (units or {}).get(dev.meter)
        if meter is None or not isinstance(meter.device, Meter):
            raise ValueError(f"pv unit {dev.unit}: no meter at unit {dev.meter}")
        device = PvInverter(meter.device, unit=dev.unit, serial=serial,
                            start_ms=clock.start_ms)
        return DeviceRuntime(name, server.name, server.transport, device, clock,
                             device.rating_w)
    if isinstance(dev, MeterConfig):
        device = Meter(
            dev,
            device_seeds(cfg.seed, server.name, dev.unit),
            serial=serial,
            start_ms=clock.start_ms,
            step_s=cfg.step_s,
            latitude=cfg.latitude,
        )
        rating = dev.effective_rating_w()
    else:
        device = Battery(dev, serial=serial, start_ms=clock.start_ms)
        rating = max(dev.max_charge_w, dev.max_discharge_w)
    return DeviceRuntime(name, server.name, server.transport, device, clock, rating)


class Fleet:
    """Devices by name and by (server, unit), one clock, one lock."""

    def __init__(self, cfg: FleetConfig) -> None:
        self.cfg = cfg
        self.clock = SimClock(cfg.start_ms, cfg.accel)
        self.lock = threading.RLock()
        self.stats: Counter[str] = Counter()  # fleet-wide: refused control requests
        self.by_name: dict[str, DeviceRuntime] = {}
        self.by_server: dict[str, dict[int, DeviceRuntime]] = {}
        for server in cfg.servers:
            units: dict[int, DeviceRuntime] = {}
            # meters first: an inverter reads its meter's PV
            for dev in sorted(server.devices, key=lambda d: isinstance(d, PvConfig)):
                rt = build_runtime(cfg, server, dev, self.clock, units)
                units[dev.unit] = rt
                self.by_name[rt.name] = rt
            self.by_server[server.name] = units

    def __iter__(self) -> Iterator[DeviceRuntime]:
        return iter(self.by_name.values())

    def get(self, name: str) -> DeviceRuntime:
        try:
            return self.by_name[name]
        except KeyError:
            raise fl.FaultError(
                f"no device named {name!r}; known: {', '.join(sorted(self.by_name))}"
            ) from None

    # ------------------------------------------------------------ commands
    def advance(self, seconds: float) -> int:
        """Move simulated time forward and bring every device to it."""
        with self.lock:
            now = self.clock.advance(seconds)
            for rt in self:
                rt.update(now)
            return now

    def fault(
        self, name: str, kind: str, duration_s: float | None = None, code: int | None = None
    ) -> fl.Fault:
        with self.lock:
            return self.get(name).set_fault(kind, duration_s, code)

    def clear(self, name: str, kind: str | None = None) -> None:
        with self.lock:
            self.get(name).clear(kind)

    def reboot(self, name: str, down_s: float = 0.0) -> None:
        with self.lock:
            self.get(name).reboot(down_s)

    def snapshot(self, name: str) -> dict:
        with self.lock:
            return self.get(name).snapshot()

    def status(self) -> dict:
        with self.lock:
            return {
                "now_ms": self.clock.now_ms(),
                "elapsed_s": self.clock.elapsed_s(),
                "stats": dict(self.stats),
                "devices": [rt.snapshot() for rt in self],
            }
