"""Battery physics without a server: setpoints, limits, SOC bounds, efficiency, reverts."""

from __future__ import annotations

import math

import pytest

from simulator.devices.base import MJ_PER_WH, WriteRejected
from simulator.devices.battery import (
    CHAST_CHARGING,
    CHAST_EMPTY,
    CHAST_FULL,
    CHAST_HOLDING,
    Battery,
)
from simulator.devices.clock import parse_start

T0 = parse_start("2024-06-21")
H = 3_600_000


def make(**kw) -> Battery:
    from simulator.devices.config import BatteryConfig

    cfg = BatteryConfig(unit=9, **kw)
    return Battery(cfg, serial="B", start_ms=T0)


def charge(b: Battery, pct: float, t: int) -> None:
    b.write(124, {"InWRte": round(pct * 100), "StorCtl_Mod": 1}, t)


def discharge(b: Battery, pct: float, t: int) -> None:
    b.write(124, {"OutWRte": round(pct * 100), "StorCtl_Mod": 2}, t)


def test_idle_until_commanded():
    b = make()
    b.update(T0 + H)
    assert b.power_w == 0 and b.soc_pct() == 50.0
    assert b.charge_state() == CHAST_HOLDING


def test_charge_power_and_one_way_efficiency():
    b = make(capacity_wh=10_000, round_trip_efficiency=0.81)  # leg = 0.9
    charge(b, 40, T0)  # 40 % of WChaMax 5000 W
    assert b.power_w == 2000
    b.update(T0 + H)
    assert b.imp_mj == 2000 * H  # 2000 Wh at the AC side
    assert b.stored_mj - 5000 * MJ_PER_WH == 2000 * MJ_PER_WH * 9 // 10
    assert b.charge_state() == CHAST_CHARGING


def test_power_limits_hold():
    b = make(max_charge_w=3000, max_discharge_w=2500)
    charge(b, 100, T0)
    assert b.power_w == 3000  # 100 % of WChaMax (3000) and the hardware limit
    b.write(124, {"WChaMax": 1200}, T0)
    assert b.power_w == 1200  # a lower WChaMax written by the client
    discharge(b, 100, T0)
    assert b.power_w == -1200  # OutWRte is also a % of WChaMax
    b.write(124, {"WChaMax": 3000}, T0)
    assert b.power_w == -2500  # the hardware's discharge limit


def test_both_bits_net_the_two_rates():
    b = make()
    b.write(124, {"InWRte": 6000, "OutWRte": 2000, "StorCtl_Mod": 3}, T0)
    assert b.power_w == 3000 - 1000
    b.write(124, {"InWRte": -3000, "StorCtl_Mod": 1}, T0)
    assert b.power_w == -1500  # a negative charge rate discharges


def test_soc_upper_bound_stops_charging_exactly():
    b = make(capacity_wh=10_000, soc_max_pct=90, soc_init_pct=50)
    charge(b, 100, T0)
    b.update(T0 + 10 * H)
    assert b.stored_mj == b.upper_mj
    assert b.soc_pct() == pytest.approx(90.0)
    assert b.power_w == 0 and b.charge_state() == CHAST_FULL
    # AC energy to fill 40 % of 10 kWh through one leg of sqrt(0.9)
    assert b.imp_mj / MJ_PER_WH == pytest.approx(4000 / math.sqrt(0.9), rel=1e-6)


def test_soc_lower_bound_and_reserve():
    b = make(soc_min_pct=10, soc_init_pct=50)
    b.write(124, {"MinRsvPct": 3000}, T0)  # 30 % reserve
    discharge(b, 100, T0)
    b.update(T0 + 10 * H)
    assert b.soc_pct() == pytest.approx(30.0)
    assert b.power_w == 0 and b.charge_state() == CHAST_EMPTY
    b.write(124, {"MinRsvPct": 0}, T0 + 10 * H)  # below the hardware minimum
    b.update(T0 + 20 * H)
    assert b.soc_pct() == pytest.approx(10.0)  # soc_min still holds


def test_round_trip_efficiency_energy_in_vs_out():
    b = make(capacity_wh=10_000, round_trip_efficiency=0.9, soc_min_pct=10, soc_max_pct=90,
             soc_init_pct=10)  # fmt: skip
    charge(b, 50, T0)
    b.update(T0 + 12 * H)
    assert b.soc_pct() == pytest.approx(90.0)
    e_in = b.imp_mj
    discharge(b, 50, T0 + 12 * H)
    b.update(T0 + 24 * H)
    assert b.soc_pct() == pytest.approx(10.0, abs=1e-6)
    e_out = b.exp_mj
    assert e_out / e_in == pytest.approx(0.9, rel=1e-5)


def test_revert_timer_returns_to_idle():
    b = make()
    b.write(124, {"InOutWRte_RvrtTms": 600}, T0)
    charge(b, 20, T0)
    b.update(T0 + 300_000)
    assert b.power_w == 1000
    b.update(T0 + 3_600_000)
    assert b.power_w == 0 and b.stor_ctl_mod == 0
    assert b.imp_mj == 1000 * 600_000  # exactly 600 s of charging


def test_bad_writes_name_the_point_and_change_nothing():
    b = make()
    cases = [
        ({"StorCtl_Mod": 4}, "StorCtl_Mod"),
        ({"InWRte": 10_001}, "InWRte"),
        ({"OutWRte": -20_000}, "OutWRte"),
        ({"WChaMax": 0}, "WChaMax"),
        ({"WChaMax": 5001}, "WChaMax"),
        ({"MinRsvPct": 9500}, "MinRsvPct"),
        ({"ChaState": 1}, "ChaState"),
        ({"InWRte": 5000, "StorCtl_Mod": 9}, "StorCtl_Mod"),  # all or nothing
    ]
    for values, point in cases:
        with pytest.raises(WriteRejected) as err:
            b.write(124, values, T0)
        assert err.value.point == point
    assert (b.stor_ctl_mod, b.in_rte, b.out_rte, b.wcha_max_w) == (0, 0, 0, 5000)


def test_reboot_resets_counters_keeps_charge_and_stops():
    b = make()
    charge(b, 50, T0)
    b.update(T0 + H)
    soc = b.soc_pct()
    b.reboot(T0 + H)
    assert (b.imp_mj, b.exp_mj, b.power_w, b.stor_ctl_mod) == (0, 0, 0, 0)
    assert b.soc_pct() == soc
    assert b.raw_values()[1]["Opt"] == "boot=2"
