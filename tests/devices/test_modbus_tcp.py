"""Devices on real pymodbus TCP servers, read and written by a pymodbus client."""

from __future__ import annotations

import pytest
from pymodbus.exceptions import ModbusIOException

from simulator.devices.faults import FaultError
from simulator.devices.reader import read_device, read_registers, scan_models
from simulator.devices.sunspec_map import BASE_ADDRESS, DeviceLayout, model_def, scaled_values

METER = DeviceLayout((1, 203))
BATTERY = DeviceLayout((1, 124, 203))


def phys203(client, unit):
    return scaled_values(model_def(203), read_device(client, unit)[203])


def write(client, unit, layout, point, value, model=124):
    rr = client.write_register(layout.point_address(model, point), value & 0xFFFF, device_id=unit)
    return rr


def test_registers_decode_to_the_physics(device_server):
    c = device_server.client()
    device_server.advance(13 * 3600)
    assert scan_models(c, 1) == (1, 203)
    assert scan_models(c, 3) == (1, 124, 203)
    for unit in (1, 2):
        p = device_server.physics(f"bus/{unit}")
        got = phys203(c, unit)
        assert got["W"] == p["w"]
        assert got["TotWhImp"] == p["import_wh"] and got["TotWhExp"] == p["export_wh"]
        assert got["PhV"] == pytest.approx(p["v"], abs=0.05)
        assert got["Hz"] == pytest.approx(p["hz"], abs=0.005)
    assert device_server.physics("bus/1")["export_wh"] > 0  # unit 1 has PV
    common = read_device(c, 1)[1]
    assert common["Mn"] == "CarbonEdge-Sim" and common["SN"] == "SIM-bus-001"
    assert common["DA"] == 1


def test_counters_monotonic_over_a_polled_day(device_server):
    c = device_server.client()
    last = {1: (0, 0), 2: (0, 0)}
    for _ in range(48):  # a poll every 30 simulated minutes
        device_server.advance(1800)
        for unit in (1, 2):
            got = phys203(c, unit)
            now = (got["TotWhImp"], got["TotWhExp"])
            assert now[0] >= last[unit][0] and now[1] >= last[unit][1]
            last[unit] = now
    assert last[2][0] > 5000  # a household without PV imports ~10 kWh a day


def test_addresses_outside_the_map_are_illegal(device_server):
    c = device_server.client()
    rr = c.read_holding_registers(BASE_ADDRESS - 10, count=2, device_id=1)
    assert rr.isError() and rr.exception_code == 0x02
    rr = c.read_holding_registers(METER.end_address, count=3, device_id=1)  # past the end
    assert rr.isError() and rr.exception_code == 0x02
    rr = c.write_register(METER.point_address(203, "W"), 5, device_id=1)  # read-only
    assert rr.isError() and rr.exception_code == 0x02
    rr = c.read_holding_registers(BASE_ADDRESS, count=2, device_id=99)  # nobody there
    assert rr.isError() and rr.exception_code == 0x0B


def test_battery_follows_a_setpoint_written_over_modbus(device_server):
    c = device_server.client()
    assert not write(c, 3, BATTERY, "InWRte", 6000).isError()  # 60 % of 5000 W
    assert not write(c, 3, BATTERY, "StorCtl_Mod", 1).isError()
    device_server.advance(1800)
    got = scaled_values(model_def(124), read_device(c, 3)[124])
    assert got["InWRte"] == 60.0 and got["StorCtl_Mod"] == 1
    assert phys203(c, 3)["W"] == 3000
    assert phys203(c, 3)["TotWhImp"] == 1500
    assert got["ChaState"] == pytest.approx(device_server.physics("bus/3")["soc_pct"], abs=0.005)
    # discharge through a multi-register write of OutWRte..InWRte, then the mode
    rr = c.write_registers(BATTERY.point_address(124, "OutWRte"), [4000, 0], device_id=3)
    assert not rr.isError()
    assert not write(c, 3, BATTERY, "StorCtl_Mod", 2).isError()
    device_server.advance(60)
    assert phys203(c, 3)["W"] == -2000


def test_bad_battery_writes_get_0x03_and_are_counted(device_server):
    c = device_server.client()
    for point, value in (("StorCtl_Mod", 8), ("InWRte", 12000), ("OutWRte", -12000),
                         ("WChaMax", 9000), ("MinRsvPct", 9900)):  # fmt: skip
        rr = write(c, 3, BATTERY, point, value)
        assert rr.isError() and rr.exception_code == 0x03, point
    snap = device_server.snapshot("bus/3")
    assert snap["stats"]["rejected_writes"] == 5
    assert snap["physics"]["stor_ctl_mod"] == 0 and snap["physics"]["setpoint_w"] == 0
    # a write that covers half of a point is refused too (acc32 is read-only anyway)
    rr = c.write_registers(BATTERY.point_address(124, "InWRte"), [100, 100], device_id=3)
    assert rr.isError() and rr.exception_code == 0x02  # InOutWRte_WinTms is read-only


def test_no_response_times_out_and_recovers(device_server):
    c = device_server.client(timeout=0.3)
    device_server.fault("bus/1", "no_response")
    with pytest.raises(ModbusIOException):
        c.read_holding_registers(BASE_ADDRESS, count=2, device_id=1)
    # the other unit on the same server is unaffected
    assert read_registers(c, 2, BASE_ADDRESS, 2) == [0x5375, 0x6E53]
    assert device_server.snapshot("bus/1")["stats"]["dropped"] >= 1
    device_server.clear("bus/1")
    assert read_registers(c, 1, BASE_ADDRESS, 2) == [0x5375, 0x6E53]


def test_no_response_drops_writes_too(device_server):
    c = device_server.client(timeout=0.3)
    device_server.fault("bus/3", "no_response")
    with pytest.raises(ModbusIOException):
        write(c, 3, BATTERY, "StorCtl_Mod", 1)
    device_server.clear("bus/3", "no_response")
    assert device_server.physics("bus/3")["stor_ctl_mod"] == 0


def test_fault_with_a_duration_expires_in_simulated_time(device_server):
    c = device_server.client(timeout=0.3)
    device_server.fault("bus/2", "exception", duration_s=60)
    rr = c.read_holding_registers(BASE_ADDRESS, count=2, device_id=2)
    assert rr.isError() and rr.exception_code == 0x04
    device_server.advance(61)
    assert not c.read_holding_registers(BASE_ADDRESS, count=2, device_id=2).isError()


def test_exception_codes(device_server):
    c = device_server.client()
    device_server.fault("bus/1", "exception", code=6)
    rr = c.read_holding_registers(BASE_ADDRESS, count=2, device_id=1)
    assert rr.isError() and rr.exception_code == 0x06
    assert device_server.snapshot("bus/1")["stats"]["exceptions"] == 1
    with pytest.raises(FaultError, match="not a Modbus exception code"):
        device_server.fault("bus/1", "exception", code=9)
    with pytest.raises(FaultError, match="RTU"):
        device_server.fault("bus/1", "corrupt_crc")
    with pytest.raises(FaultError, match="unknown fault kind"):
        device_server.fault("bus/1", "gremlins")
    with pytest.raises(FaultError, match="no device named"):
        device_server.fault("bus/7", "stuck")


def test_stuck_registers_freeze_while_physics_runs(device_server):
    c = device_server.client()
    device_server.advance(10 * 3600)
    before = read_registers(c, 2, BASE_ADDRESS, METER.size)
    device_server.fault("bus/2", "stuck")
    device_server.advance(3600)
    assert read_registers(c, 2, BASE_ADDRESS, METER.size) == before
    frozen = scaled_values(model_def(203), METER.decode(before)[203])["TotWhImp"]
    assert device_server.physics("bus/2")["import_wh"] > frozen
    device_server.clear("bus/2", "stuck")
    assert phys203(c, 2)["TotWhImp"] == device_server.physics("bus/2")["import_wh"]


def test_out_of_range_values(device_server):
    c = device_server.client()
    device_server.advance(3600)
    device_server.fault("bus/2", "out_of_range")
    raw = read_device(c, 2)[203]
    assert raw["W"] == 10 * 1500  # 10 x the 1.5 kW rating, W_SF 0
    assert raw["TotWhImp"] == 2**32 - 100  # -100 Wh in an acc32
    device_server.fault("bus/3", "out_of_range")
    assert read_device(c, 3)[124]["ChaState"] == 0xFFFE  # 655.34 %
    device_server.clear("bus/2")
    assert read_device(c, 2)[203]["TotWhImp"] == device_server.physics("bus/2")["import_wh"]


def test_reboot_resets_counters_visibly(device_server):
    c = device_server.client(timeout=0.3)
    device_server.advance(6 * 3600)
    assert phys203(c, 2)["TotWhImp"] > 0
    device_server.reboot("bus/2", down_s=30)
    with pytest.raises(ModbusIOException):  # silent while it boots
        c.read_holding_registers(BASE_ADDRESS, count=2, device_id=2)
    device_server.advance(31)
    dev = read_device(c, 2)
    assert dev[1]["Opt"] == "boot=2"
    assert dev[203]["Evt"] & (1 << 2)  # M_EVENT_Power_Failure
    assert dev[203]["TotWhImp"] < 20  # restarted from 0 thirty seconds ago
    device_server.advance(3600)
    dev = read_device(c, 2)
    assert dev[203]["TotWhImp"] > 100 and dev[203]["Evt"] == 0


def test_one_server_per_device(device_servers):
    fleet = device_servers(meters=2, batteries=1, per_device=True)
    ports = {fleet.tcp(f"dev{u}")[1] for u in (1, 2, 3)}
    assert len(ports) == 3
    for u in (1, 2, 3):
        c = fleet.client(f"dev{u}")
        assert read_registers(c, u, BASE_ADDRESS, 2) == [0x5375, 0x6E53]
        rr = c.read_holding_registers(BASE_ADDRESS, count=2, device_id=u % 3 + 1)
        assert rr.isError() and rr.exception_code == 0x0B  # the others live elsewhere


def test_fifty_devices_on_one_server(device_servers):
    fleet = device_servers(meters=45, batteries=5)
    c = fleet.client()
    fleet.advance(12 * 3600)
    for unit in (1, 25, 45, 46, 50):
        raw = read_device(c, unit)[203]
        step = 10 ** raw["W_SF"]  # unit 25 is commercial: W_SF 1, 10 W steps
        got = scaled_values(model_def(203), raw)["W"]
        assert abs(got - fleet.physics(f"bus/{unit}")["w"]) <= step / 2


def test_accelerated_clock_runs_with_the_wall_clock(device_servers):
    import time

    fleet = device_servers(meters=1, batteries=0, accel=36_000.0)  # 10 h per wall second
    c = fleet.client()
    t0 = read_device(c, 1)[203]["TotWhImp"]
    time.sleep(0.25)
    t1 = read_device(c, 1)[203]["TotWhImp"]
    elapsed = fleet.fleet.clock.elapsed_s()
    assert elapsed >= 0.25 * 36_000
    assert t1 > t0  # a household at night imports: counters moved with wall time
