"""What every simulated device shares: the interface, the common model, reboots.

A device is physics plus raw SunSpec point values; it knows nothing about
Modbus transport or faults (see runtime.py), so it can be stepped and checked
without a server.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

from simulator.devices.sunspec_map import DeviceLayout, RawValue

MJ_PER_WH = 3_600_000  # millijoules per watt-hour

#: Manufacturer string in the common model of every simulated device.
MANUFACTURER = "CarbonEdge-Sim"
#: Seconds after a reboot during which the meter model's Power_Failure event bit is set.
REBOOT_EVENT_S = 60
#: Bit of model 203's Evt point raised after a reboot (M_EVENT_Power_Failure).
EVT_POWER_FAILURE = 1 << 2


class WriteRejected(ValueError):
    """A Modbus write the device refuses; answered with exception 0x03."""

    def __init__(self, point: str, reason: str) -> None:
        super().__init__(f"{point}: {reason}")
        self.point = point
        self.reason = reason


def smallest_sf(max_value: float, limit: int, lowest: int = 0) -> int:
    """Smallest scale factor >= ``lowest`` with max_value / 10**sf <= limit."""
    sf = lowest
    while abs(max_value) / 10.0**sf > limit and sf < 10:
        sf += 1
    return sf


def split_phases(total: int) -> tuple[int, int, int]:
    """Split an integer over three phases so the parts sum exactly to it."""
    q = int(total / 3)  # truncates toward zero, for imports and exports alike
    return total - 2 * q, q, q


class SimDevice(ABC):
    """A simulated device: integrate to a time, expose raw point values, take writes."""

    model_name: str = "SimDevice"
    layout: DeviceLayout
    #: Points a client may write, per model id; every other point is read-only.
    WRITABLE: dict[int, frozenset[str]] = {}

    def __init__(self, serial: str, unit: int, start_ms: int) -> None:
        self.serial = serial
        self.unit = unit
        self.t_ms = start_ms
        self.boots = 1
        self.boot_ms = start_ms

    # -- physics
    @abstractmethod
    def update(self, now_ms: int) -> None:
        """Integrate the physics up to ``now_ms`` (never backwards)."""

    @abstractmethod
    def raw_values(self) -> dict[int, dict[str, RawValue]]:
        """Raw (register-integer) point values per model id, at the current time."""

    @abstractmethod
    def snapshot(self) -> dict[str, float | int]:
        """The physical state in engineering units, for tests and the CLI."""

    @abstractmethod
    def _reset_counters(self) -> None:
        """Set the energy accumulators to zero (what a reboot does)."""

    # -- control
    def writable_points(self) -> dict[int, frozenset[str]]:
        return self.WRITABLE

    def write(self, model_id: int, values: dict[str, int], now_ms: int) -> None:
        """Apply written raw values (all checked before any is applied)."""
        raise WriteRejected(next(iter(values), "?"), "this device has no writable points")

    def reboot(self, now_ms: int) -> None:
        """A power cycle: counters restart at 0, the boot count goes up."""
        self.update(now_ms)
        self._reset_counters()
        self.boots += 1
        self.boot_ms = now_ms

    # -- shared model values
    def uptime_s(self) -> int:
        return max(0, (self.t_ms - self.boot_ms) // 1000)

    def event_bits(self) -> int:
        """Model 203 Evt: Power_Failure for REBOOT_EVENT_S after a reboot."""
        if self.boots > 1 and self.uptime_s() < REBOOT_EVENT_S:
            return EVT_POWER_FAILURE
        return 0

    def common_values(self) -> dict[str, RawValue]:
        """Model 1. ``Opt`` carries the boot count ("boot=N") so a poller sees reboots."""
        return {
            "Mn": MANUFACTURER,
            "Md": self.model_name,
            "Opt": f"boot={self.boots}",
            "Vr": "1.0.0",
            "SN": self.serial,
            "DA": self.unit,
            "Pad": 0,
        }
