"""Devices on an RTU line (pymodbus serial server on a socat pty pair)."""

from __future__ import annotations

import pytest
from pymodbus.exceptions import ModbusIOException
from pymodbus.framer.rtu import FramerRTU

from simulator.devices.reader import read_device, read_registers
from simulator.devices.sunspec_map import BASE_ADDRESS, model_def, scaled_values

RTU_LINE = {
    "seed": 3,
    "servers": [{
        "name": "line1", "transport": "rtu", "devices": [
            {"kind": "meter", "unit": 1, "pv_kwp": 4.0},
            {"kind": "meter", "unit": 7, "load": "commercial", "load_peak_w": 8000},
            {"kind": "battery", "unit": 12},
        ],
    }],
}  # fmt: skip


@pytest.fixture
def line(device_servers):
    return device_servers(RTU_LINE)


def test_several_units_on_one_line(line):
    c = line.client(timeout=0.5)
    line.advance(12 * 3600)
    for unit, name in ((1, "line1/1"), (7, "line1/7")):
        got = scaled_values(model_def(203), read_device(c, unit)[203])
        p = line.physics(name)
        assert got["W"] == p["w"]
        assert got["TotWhImp"] == p["import_wh"]
    assert 124 in read_device(c, 12)


def test_unknown_unit_is_silent_on_a_bus(line):
    c = line.client(timeout=0.3)
    with pytest.raises(ModbusIOException):
        c.read_holding_registers(BASE_ADDRESS, count=2, device_id=5)
    assert read_registers(c, 1, BASE_ADDRESS, 2) == [0x5375, 0x6E53]  # the bus still works


def test_corrupt_crc_is_seen_by_the_client(line):
    frames: list[bytes] = []

    def capture(sending: bool, data: bytes) -> bytes:
        if not sending:
            frames.append(bytes(data))
        return data

    from pymodbus.client import ModbusSerialClient

    c = ModbusSerialClient(line.rtu_path(), baudrate=19200, timeout=0.5, retries=0,
                           trace_packet=capture)  # fmt: skip
    assert c.connect()
    try:
        assert not c.read_holding_registers(BASE_ADDRESS, count=2, device_id=7).isError()
        good = b"".join(frames)
        assert FramerRTU.check_CRC(good[:-2], int.from_bytes(good[-2:], "big"))
        frames.clear()
        line.fault("line1/7", "corrupt_crc")
        with pytest.raises(ModbusIOException):
            c.read_holding_registers(BASE_ADDRESS, count=2, device_id=7)
        bad = b"".join(frames)
        # a whole reply arrived (unit 7, function 3, 4 data bytes) but its CRC is wrong
        assert bad[:3] == bytes([7, 3, 4]) and len(bad) == 9
        assert not FramerRTU.check_CRC(bad[:-2], int.from_bytes(bad[-2:], "big"))
        assert line.snapshot("line1/7")["stats"]["corrupted"] == 1
        # unit 1 on the same line still answers with a good CRC
        assert not c.read_holding_registers(BASE_ADDRESS, count=2, device_id=1).isError()
        line.clear("line1/7", "corrupt_crc")
        assert not c.read_holding_registers(BASE_ADDRESS, count=2, device_id=7).isError()
    finally:
        c.close()


def test_no_response_on_rtu(line):
    c = line.client(timeout=0.3)
    line.fault("line1/12", "no_response")
    with pytest.raises(ModbusIOException):
        c.read_holding_registers(BASE_ADDRESS, count=2, device_id=12)
    assert read_registers(c, 1, BASE_ADDRESS, 2) == [0x5375, 0x6E53]


def test_battery_setpoint_over_rtu(line):
    from simulator.devices.battery import BATTERY_LAYOUT

    c = line.client(timeout=0.5)
    rr = c.write_register(BATTERY_LAYOUT.point_address(124, "OutWRte"), 5000, device_id=12)
    assert not rr.isError()
    rr = c.write_register(BATTERY_LAYOUT.point_address(124, "StorCtl_Mod"), 2, device_id=12)
    assert not rr.isError()
    line.advance(3600)
    got = scaled_values(model_def(203), read_device(c, 12)[203])
    assert got["W"] == -2500 and got["TotWhExp"] == 2500
