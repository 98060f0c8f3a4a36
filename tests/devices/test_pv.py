"""The simulated PV inverter: model 103 read by pysunspec2, generation = the meter's PV term."""

from __future__ import annotations

import numpy as np
import pytest

from simulator import profiles
from simulator.devices.base import MJ_PER_WH
from simulator.devices.config import ConfigError, parse_config
from simulator.devices.fleet import Fleet

START = "2024-06-21T00:00:00"


def fleet(cloudiness: float = 0.0) -> Fleet:
    return Fleet(parse_config({"seed": 1, "start": START, "step_s": 5, "servers": [
        {"name": "bus", "devices": [
            {"kind": "pv", "unit": 2, "name": "pv", "meter": 1},  # listed before its meter
            {"kind": "meter", "unit": 1, "name": "m", "pv_kwp": 4.0, "load": "none",
             "cloudiness": cloudiness}]}]}))


def test_inverter_energy_is_the_clear_sky_profile_and_the_meter_exports_it():
    f = fleet()
    f.advance(24 * 3600)
    pv, m = f.get("pv").device, f.get("m").device
    t = f.cfg.start_ms + np.arange(86_400 // 5, dtype=np.int64) * 5000
    mj = int(np.rint(profiles.pv_clear_sky_w(4.0, 48.0, t)).astype(np.int64).sum()) * 5000
    assert pv.gen_wh() == mj // MJ_PER_WH
    # no load: everything generated is exported (the meter splits it over three phases,
    # each floored, so it may be up to 2 Wh short)
    assert 0 <= pv.gen_wh() - m.export_wh() <= 2
    regs = pv.raw_values()[103]
    assert regs["WH"] == pv.gen_wh() and regs["WH_SF"] == 0


def test_clouds_reduce_generation_and_a_reboot_restarts_the_register():
    clear, cloudy = fleet(0.0), fleet(0.8)
    for f in (clear, cloudy):
        f.advance(14 * 3600)
    assert 0 < cloudy.get("pv").device.gen_wh() < clear.get("pv").device.gen_wh()
    inv = cloudy.get("pv").device
    inv.reboot(inv.t_ms)
    assert inv.gen_wh() == 0 and inv.boots == 2
    cloudy.advance(600)
    assert inv.gen_wh() > 0


@pytest.mark.parametrize("meter", [{"kind": "meter", "unit": 1, "pv_kwp": 0.0},
                                   {"kind": "battery", "unit": 1}])
def test_an_inverter_needs_a_meter_with_pv(meter):
    with pytest.raises(ConfigError, match="pv unit 2: unit 1 on server 'bus' is not a meter"):
        parse_config({"servers": [{"name": "bus", "devices": [
            meter, {"kind": "pv", "unit": 2, "meter": 1}]}]})


def test_pysunspec2_scans_the_inverter(device_servers):
    from sunspec2.modbus.client import SunSpecModbusClientDeviceTCP

    ds = device_servers({"start": START, "servers": [{"name": "bus", "devices": [
        {"kind": "meter", "unit": 1, "name": "m", "pv_kwp": 4.0, "cloudiness": 0.0},
        {"kind": "pv", "unit": 2, "name": "pv", "meter": 1}]}]})
    host, port = ds.tcp()
    ds.advance(13 * 3600)
    dev = SunSpecModbusClientDeviceTCP(slave_id=2, ipaddr=host, ipport=port, timeout=2)
    try:
        dev.scan()
        assert 1 in dev.models and 103 in dev.models
        inv = dev.models[103][0]
        p = ds.physics("pv")
        assert inv.WH.cvalue == p["gen_wh"] > 0
        assert inv.W.cvalue == p["w"] > 0
        assert inv.St.value == 4  # MPPT: producing
    finally:
        dev.close()
