"""Independent clients read our devices: mbpoll (C, libmodbus) and pysunspec2's scanner."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from simulator.devices.battery import BATTERY_LAYOUT
from simulator.devices.sunspec_map import DeviceLayout

needs_mbpoll = pytest.mark.skipif(shutil.which("mbpoll") is None, reason="mbpoll not installed")
METER = DeviceLayout((1, 203))


def mbpoll(*args: str) -> dict[int, int]:
    """Run mbpoll once; {1-based register: value}."""
    out = subprocess.run(
        ["mbpoll", *args, "-1"], capture_output=True, text=True, timeout=20
    )
    assert out.returncode == 0, out.stdout + out.stderr
    return {int(a): int(v) for a, v in re.findall(r"^\[(\d+)\]:\s+(-?\d+)", out.stdout, re.M)}


@needs_mbpoll
def test_mbpoll_reads_the_map_over_tcp(device_server):
    host, port = device_server.tcp()
    device_server.advance(12 * 3600)
    regs = mbpoll("-m", "tcp", "-p", str(port), "-a", "1", "-r", "40001", "-c", "10", host)
    # mbpoll numbers registers from 1: 40001 is PDU address 40000, the "SunS" marker
    assert regs[40001] == 0x5375 and regs[40002] == 0x6E53
    assert regs[40003] == 1 and regs[40004] == 66  # common model, L = 66
    w_addr = METER.point_address(203, "W") + 1
    regs = mbpoll("-m", "tcp", "-p", str(port), "-a", "2", "-r", str(w_addr), "-c", "1", host)
    assert regs[w_addr] == device_server.physics("bus/2")["w"]  # W_SF 0, positive: import


@needs_mbpoll
def test_mbpoll_writes_a_battery_setpoint(device_server):
    host, port = device_server.tcp()
    addr = BATTERY_LAYOUT.point_address(124, "InWRte") + 1
    out = subprocess.run(
        ["mbpoll", "-m", "tcp", "-p", str(port), "-a", "3", "-r", str(addr), host, "2500"],
        capture_output=True, text=True, timeout=20,
    )  # fmt: skip
    assert out.returncode == 0, out.stdout + out.stderr
    addr = BATTERY_LAYOUT.point_address(124, "StorCtl_Mod") + 1
    subprocess.run(
        ["mbpoll", "-m", "tcp", "-p", str(port), "-a", "3", "-r", str(addr), host, "1"],
        capture_output=True, timeout=20, check=True,
    )  # fmt: skip
    assert device_server.physics("bus/3")["w"] == 1250  # 25 % of 5000 W


@needs_mbpoll
def test_mbpoll_reads_over_rtu(device_servers):
    line = device_servers(meters=2, batteries=0, transport="rtu")
    regs = mbpoll(
        "-m", "rtu", "-b", "19200", "-P", "none", "-a", "2", "-r", "40001", "-c", "4",
        "-t", "4", line.rtu_path(),
    )  # fmt: skip
    assert [regs[40001 + i] for i in range(4)] == [0x5375, 0x6E53, 1, 66]


@needs_mbpoll
def test_mbpoll_sees_an_exception(device_server):
    host, port = device_server.tcp()
    device_server.fault("bus/1", "exception", code=4)
    out = subprocess.run(
        ["mbpoll", "-m", "tcp", "-p", str(port), "-a", "1", "-r", "40001", "-c", "2", "-1", host],
        capture_output=True, text=True, timeout=20,
    )  # fmt: skip
    assert out.returncode != 0
    assert "Slave device or server failure" in out.stderr + out.stdout


def test_pysunspec2_scans_and_reads_a_meter(device_server):
    from sunspec2.modbus.client import SunSpecModbusClientDeviceTCP

    host, port = device_server.tcp()
    device_server.advance(13 * 3600)
    dev = SunSpecModbusClientDeviceTCP(slave_id=1, ipaddr=host, ipport=port, timeout=2)
    try:
        dev.scan()
        assert 1 in dev.models and 203 in dev.models
        m = dev.models[203][0]
        p = device_server.physics("bus/1")
        assert m.W.cvalue == p["w"]
        assert m.TotWhImp.cvalue == p["import_wh"] and m.TotWhExp.cvalue == p["export_wh"]
        assert m.PhVphA.cvalue == pytest.approx(230, abs=10)
        assert dev.models[1][0].Mn.value == "CarbonEdge-Sim"
    finally:
        dev.close()


def test_pysunspec2_writes_a_battery_setpoint(device_server):
    from sunspec2.modbus.client import SunSpecModbusClientDeviceTCP

    host, port = device_server.tcp()
    dev = SunSpecModbusClientDeviceTCP(slave_id=3, ipaddr=host, ipport=port, timeout=2)
    try:
        dev.scan()
        storage = dev.models[124][0]
        assert storage.ChaState.cvalue == 50.0
        storage.OutWRte.cvalue = 30.0  # pysunspec2 applies InOutWRte_SF itself
        storage.StorCtl_Mod.value = 2
        storage.write()
        device_server.advance(3600)
        assert device_server.physics("bus/3")["export_wh"] == 1500
        storage.read()
        assert storage.ChaSt.value == 3  # DISCHARGING
    finally:
        dev.close()
