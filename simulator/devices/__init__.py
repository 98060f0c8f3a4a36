"""Simulated SunSpec meters and batteries behind real Modbus servers.

Start with ``Fleet`` (devices from a ``FleetConfig``) and ``FleetHost`` (serve
them over TCP/RTU from a background thread); the register map is documented
in docs/devices.md and built in ``sunspec_map``.
"""

from simulator.devices.config import (
    BatteryConfig,
    ConfigError,
    FleetConfig,
    MeterConfig,
    ServerConfig,
    config_from_flags,
    parse_config,
)
from simulator.devices.faults import FAULT_KINDS, FaultError
from simulator.devices.fleet import Fleet
from simulator.devices.server import FleetHost

__all__ = [
    "FAULT_KINDS",
    "BatteryConfig",
    "ConfigError",
    "FaultError",
    "Fleet",
    "FleetConfig",
    "FleetHost",
    "MeterConfig",
    "ServerConfig",
    "config_from_flags",
    "parse_config",
]
