"""One device as a Modbus server sees it: register image, writes, faults, counters.

This is the seam between the physics (a SimDevice) and pymodbus: the server
calls ``on_request`` for every request in the device's address range and
``on_send`` for every reply frame, and never touches physics directly. All
methods run under the fleet's lock, because tests and the control channel
command faults from other threads.
"""

from __future__ import annotations

import logging
from collections import Counter

from simulator.devices import faults as fl
from simulator.devices.base import SimDevice, WriteRejected
from simulator.devices.clock import SimClock
from simulator.devices.sunspec_map import BASE_ADDRESS, decode_point

log = logging.getLogger(__name__)

# Modbus exception codes the runtime itself answers with
ILLEGAL_ADDRESS = 0x02
ILLEGAL_VALUE = 0x03


class DeviceRuntime:
    """A device, its faults and its register image, addressed by unit id on one server."""

    def __init__(
        self,
        name: str,
        server: str,
        transport: str,
        device: SimDevice,
        clock: SimClock,
        rating_w: int,
    ) -> None:
        self.name = name
        self.server = server
        self.transport = transport
        self.device = device
        self.unit = device.unit
        self.clock = clock
        self.rating_w = rating_w
        self.faults: dict[str, fl.Fault] = {}
        self.down_until_ms: int | None = None
        self.stats: Counter[str] = Counter()
        self.last_write_error: str | None = None
        self.image = device.layout.encode(device.raw_values())
        self._image_key: tuple | None = None

    # ------------------------------------------------------------ faults
    def _expire(self, now_ms: int) -> None:
        for kind in [k for k, f in self.faults.items() if not f.active(now_ms)]:
            del self.faults[kind]
        if self.down_until_ms is not None and now_ms >= self.down_until_ms:
            self.down_until_ms = None

    def set_fault(self, kind: str, duration_s: float | None = None, code: int | None = None):
        now = self.clock.now_ms()
        fault = fl.make_fault(kind, now, duration_s, code)
        if kind == "corrupt_crc" and self.transport != "rtu":
            raise fl.FaultError(
                f"corrupt_crc needs an RTU line; {self.name} is served over {self.transport}"
            )
        self.faults[kind] = fault
        self.stats[f"fault_{kind}"] += 1
        return fault

    def clear(self, kind: str | None = None) -> None:
        if kind is None:
            self.faults.clear()
            self.down_until_ms = None
        elif kind not in fl.FAULT_KINDS:
            raise fl.FaultError(f"unknown fault kind {kind!r}")
        else:
            self.faults.pop(kind, None)

    def reboot(self, down_s: float = 0.0) -> None:
        if down_s < 0:
            raise fl.FaultError(f"down_s must be >= 0, got {down_s}")
        now = self.clock.now_ms()
        self.device.reboot(now)
        self.faults.clear()
        self.down_until_ms = now + int(round(down_s * 1000)) if down_s else None
        self.stats["reboots"] += 1
        self._refresh(now)

    def active_faults(self) -> list[str]:
        self._expire(self.clock.now_ms())
        kinds = sorted(self.faults)
        if self.down_until_ms is not None:
            kinds.append("rebooting")
        return kinds

    def silent(self, now_ms: int) -> bool:
        self._expire(now_ms)
        return "no_response" in self.faults or self.down_until_ms is not None

    # ------------------------------------------------------------ registers
    def _refresh(self, now_ms: int) -> None:
        self.device.update(now_ms)
        if "stuck" in self.faults:
            return
        # Encoding ~100 points costs more than answering the request: skip it
        # when nothing that feeds the registers has changed since last time.
        key = (self.device.t_ms, self.device.boots, self.stats["writes"],
               "out_of_range" in self.faults)  # fmt: skip
        if key == self._image_key:
            return
        raw = self.device.raw_values()
        if "out_of_range" in self.faults:
            raw = fl.out_of_range(raw, self.rating_w)
        self.image = self.device.layout.encode(raw)
        self._image_key = key

    def update(self, now_ms: int) -> None:
        """Bring physics and registers to ``now_ms`` (used by advance)."""
        self._expire(now_ms)
        self._refresh(now_ms)

    def on_request(self, address: int, count: int, values: list[int] | None) -> int | None:
        """Answer a read or write inside the map: None = go on, else an exception code.

        The caller copies ``self.image`` into the server's registers after this
        returns None (and then applies the written values, which we have
        already checked and given to the device).
        """
        now = self.clock.now_ms()
        self.stats["requests"] += 1
        if self.silent(now):
            # The reply is dropped by on_send; refusing here keeps a write from
            # taking effect on a device that is not listening.
            self.stats["dropped"] += 1
            return 0x06
        exc = self.faults.get("exception")
        if exc is not None:
            self.stats["exceptions"] += 1
            return exc.code
        self._refresh(now)
        if values is None:
            return None
        try:
            self._write(address, values, now)
        except WriteRejected as err:
            self.stats["rejected_writes"] += 1
            self.last_write_error = str(err)
            log.warning("%s: write refused: %s", self.name, err)
            return ILLEGAL_VALUE
        self.stats["writes"] += 1
        self._refresh(now)
        return None

    def _write(self, address: int, values: list[int], now: int) -> None:
        """Group written registers into whole points, decode, hand to the device."""
        layout = self.device.layout
        by_model: dict[int, dict[str, int]] = {}
        writable = self.device.writable_points()
        addr = address
        end = address + len(values)
        while addr < end:
            hit = layout.point_at(addr)
            if hit is None:
                raise WriteRejected(f"register {addr}", "model id/length registers are read-only")
            model, point = hit
            start = layout.model_address(model.id) + point.offset
            if point.name not in writable.get(model.id, set()):
                raise WriteRejected(point.name, "not writable on this device")
            if start < address or start + point.size > end:
                raise WriteRejected(point.name, f"a write must cover all {point.size} registers")
            raw = decode_point(point, values[start - address : start - address + point.size])
            if raw is None or isinstance(raw, str):
                raise WriteRejected(point.name, "the not-implemented value cannot be written")
            by_model.setdefault(model.id, {})[point.name] = int(raw)
            addr = start + point.size
        for model_id, vals in by_model.items():
            self.device.write(model_id, vals, now)

    def on_send(self, frame: bytes) -> bytes:
        """Last look at a reply frame before it goes on the wire."""
        now = self.clock.now_ms()
        if self.silent(now):
            return b""
        if "corrupt_crc" in self.faults and self.transport == "rtu" and len(frame) >= 4:
            self.stats["corrupted"] += 1
            return frame[:-2] + bytes([frame[-2] ^ 0xA5, frame[-1] ^ 0x5A])
        return frame

    def snapshot(self) -> dict:
        now = self.clock.now_ms()
        self._expire(now)
        self.device.update(now)
        return {
            "name": self.name,
            "server": self.server,
            "unit": self.unit,
            "kind": type(self.device).__name__.lower(),
            "faults": self.active_faults(),
            "stats": dict(self.stats),
            "physics": self.device.snapshot(),
        }

    @property
    def base_address(self) -> int:
        return BASE_ADDRESS
