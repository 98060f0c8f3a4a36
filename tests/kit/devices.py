"""Fixtures: simulated SunSpec devices on real pymodbus servers (TCP and RTU over ptys).

``device_servers`` is a factory: call it with a config (dict or FleetConfig)
or with counts, get a ``DeviceServers`` handle; everything it started (servers,
socat, clients) is stopped at teardown. ``device_server`` is the common case:
two meters and a battery on one TCP server, units 1, 2 (meters) and 3
(battery), simulated clock moved only by ``advance``.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from typing import Any

import pytest

from simulator.devices.config import FleetConfig, config_from_flags, parse_config
from simulator.devices.fleet import Fleet
from simulator.devices.server import FleetHost


class DeviceServers:
    """A running fleet: where to connect, and the knobs a test turns."""

    def __init__(self, cfg: FleetConfig) -> None:
        self.fleet = Fleet(cfg)
        self.host = FleetHost(self.fleet).start()
        self._clients: list[Any] = []

    # -- where
    def address(self, server: str | None = None) -> dict:
        servers = self.host.servers
        s = servers[0] if server is None else self.host.server(server)
        return s.address()

    def tcp(self, server: str | None = None) -> tuple[str, int]:
        a = self.address(server)
        if a["transport"] != "tcp":
            raise ValueError(f"server {a['name']} is {a['transport']}, not tcp")
        return a["host"], a["port"]

    def rtu_path(self, server: str | None = None) -> str:
        a = self.address(server)
        if a["transport"] != "rtu":
            raise ValueError(f"server {a['name']} is {a['transport']}, not rtu")
        return a["path"]

    def client(self, server: str | None = None, timeout: float = 1.0):
        """A connected pymodbus sync client for a server (TCP or RTU), closed at teardown."""
        from pymodbus.client import ModbusSerialClient, ModbusTcpClient

        a = self.address(server)
        if a["transport"] == "tcp":
            c = ModbusTcpClient(a["host"], port=a["port"], timeout=timeout, retries=0)
        else:
            c = ModbusSerialClient(a["path"], baudrate=19200, timeout=timeout, retries=0)
        assert c.connect(), f"cannot connect to {a}"
        self._clients.append(c)
        return c

    # -- knobs
    def advance(self, seconds: float) -> int:
        return self.fleet.advance(seconds)

    def fault(
        self, device: str, kind: str, duration_s: float | None = None, code: int | None = None
    ):
        return self.fleet.fault(device, kind, duration_s, code)

    def clear(self, device: str, kind: str | None = None) -> None:
        self.fleet.clear(device, kind)

    def reboot(self, device: str, down_s: float = 0.0) -> None:
        self.fleet.reboot(device, down_s)

    def snapshot(self, device: str) -> dict:
        return self.fleet.snapshot(device)

    def physics(self, device: str) -> dict:
        return self.fleet.snapshot(device)["physics"]

    def close(self) -> None:
        for c in self._clients:
            c.close()
        self.host.stop()


def _config(config: dict | FleetConfig | None, **flags: Any) -> FleetConfig:
    if isinstance(config, FleetConfig):
        return config
    if isinstance(config, dict):
        return parse_config(config)
    return config_from_flags(flags.pop("meters", 2), flags.pop("batteries", 1), **flags)


@pytest.fixture
def device_servers() -> Iterator:
    """Factory: ``device_servers(config=None, **flags) -> DeviceServers``."""
    started: list[DeviceServers] = []

    def start(config: dict | FleetConfig | None = None, **flags: Any) -> DeviceServers:
        cfg = _config(config, **flags)
        if any(s.transport == "rtu" for s in cfg.servers) and shutil.which("socat") is None:
            pytest.skip("socat is not installed: RTU over a pty pair needs it")
        handle = DeviceServers(cfg)
        started.append(handle)
        return handle

    yield start
    for h in started:
        h.close()


@pytest.fixture
def device_server(device_servers) -> DeviceServers:
    """Two meters (units 1, 2) and a battery (unit 3) on one TCP server named "bus"."""
    return device_servers(meters=2, batteries=1)
