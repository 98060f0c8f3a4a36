"""Read a whole SunSpec map with a pymodbus client, the way a poller would.

Walks the map from the "SunS" marker model by model (ID, L), so it needs no
prior knowledge of the device, and reads in chunks of at most 125 registers
(the Modbus limit for function 3).
"""

from __future__ import annotations

from pymodbus.client import ModbusBaseSyncClient

from simulator.devices.sunspec_map import (
    BASE_ADDRESS,
    END_MODEL_ID,
    SUNS_MARKER,
    DeviceLayout,
    MapError,
    RawValue,
)

MAX_READ = 125


class ReadError(IOError):
    """The device did not answer, or answered with an exception."""


def read_registers(client: ModbusBaseSyncClient, unit: int, address: int, count: int) -> list[int]:
    out: list[int] = []
    while count > 0:
        n = min(count, MAX_READ)
        rr = client.read_holding_registers(address, count=n, device_id=unit)
        if rr.isError():
            code = getattr(rr, "exception_code", None)
            raise ReadError(f"unit {unit} @ {address}: exception {code}")
        out.extend(rr.registers)
        address += n
        count -= n
    return out


def scan_models(client: ModbusBaseSyncClient, unit: int) -> tuple[int, ...]:
    """The model ids from the marker to the end model."""
    if tuple(read_registers(client, unit, BASE_ADDRESS, 2)) != SUNS_MARKER:
        raise MapError(f"unit {unit}: no SunS marker at {BASE_ADDRESS}")
    ids: list[int] = []
    addr = BASE_ADDRESS + 2
    while True:
        model_id, length = read_registers(client, unit, addr, 2)
        if model_id == END_MODEL_ID:
            return tuple(ids)
        ids.append(model_id)
        addr += 2 + length
        if len(ids) > 64:
            raise MapError(f"unit {unit}: no end model after 64 models")


def read_device(client: ModbusBaseSyncClient, unit: int) -> dict[int, dict[str, RawValue]]:
    """Scan and read every model: raw point values per model id."""
    layout = DeviceLayout(scan_models(client, unit))
    regs = read_registers(client, unit, BASE_ADDRESS, layout.size)
    return layout.decode(regs)
