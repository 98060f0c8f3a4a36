"""Meter physics without a server: counters, exact integration, seeds, reboots."""

from __future__ import annotations

import numpy as np
import pytest

from simulator import profiles
from simulator.devices.base import EVT_POWER_FAILURE, MJ_PER_WH
from simulator.devices.clock import parse_start
from simulator.devices.config import MeterConfig
from simulator.devices.fleet import device_seeds
from simulator.devices.meter import Meter
from simulator.devices.sunspec_map import scaled_values

START = parse_start("2024-06-21")
DAY_MS = 86_400_000


def make(cfg: MeterConfig | None = None, seed: int = 1, step_s: int = 5) -> Meter:
    cfg = cfg or MeterConfig(unit=1, load="household", load_peak_w=1000, pv_kwp=5.0)
    return Meter(
        cfg, device_seeds(seed, "bus", cfg.unit), serial="T", start_ms=START, step_s=step_s,
        latitude=48.0,
    )  # fmt: skip


def test_counters_monotonic_over_a_day_and_both_directions_used():
    m = make()
    last_imp = last_exp = -1
    rng = np.random.default_rng(0)
    t = START
    while t < START + DAY_MS:
        t += int(rng.integers(1_000, 600_000))
        m.update(t)
        raw = m.raw_values()[203]
        assert raw["TotWhImp"] >= last_imp and raw["TotWhExp"] >= last_exp
        last_imp, last_exp = raw["TotWhImp"], raw["TotWhExp"]
    # a 5 kWp prosumer in June imports at night and exports at noon
    assert last_imp > 2000 and last_exp > 5000


def test_integration_is_exact_whatever_the_chunking():
    one, many = make(), make()
    one.update(START + DAY_MS)
    rng = np.random.default_rng(5)
    t = START
    while t < START + DAY_MS:
        t = min(START + DAY_MS, t + int(rng.integers(1, 400_000)))
        many.update(t)
    assert one.imp_mj == many.imp_mj and one.exp_mj == many.exp_mj
    # per-phase counters sum to the total, to the mJ
    snap = one.snapshot()
    assert sum(one.imp_mj) == snap["import_mj"]
    assert snap["import_wh"] == snap["import_mj"] // MJ_PER_WH


def test_energy_equals_the_integral_of_power():
    """Sampling W at every grid step and summing W x step gives the counters."""
    m = make(step_s=60)
    imp = exp = 0
    for k in range(1440):
        m.update(START + k * 60_000 + 1)  # inside step k: W is that step's value
        w = m.snapshot()["w"]
        imp += max(w, 0) * 60_000
        exp += max(-w, 0) * 60_000
    m.update(START + DAY_MS)
    assert m.snapshot()["import_mj"] == imp
    assert m.snapshot()["export_mj"] == exp


def test_pv_only_clear_day_matches_the_clear_sky_energy():
    cfg = MeterConfig(unit=2, load="none", pv_kwp=10.0, cloudiness=0.0)
    m = make(cfg, step_s=5)
    m.update(START + DAY_MS)
    t = START + np.arange(0, DAY_MS, 1000, dtype=np.int64)
    expected_wh = float(np.sum(profiles.pv_clear_sky_w(10.0, 48.0, t))) / 3600.0
    snap = m.snapshot()
    assert snap["import_wh"] == 0
    assert snap["export_wh"] == pytest.approx(expected_wh, rel=0.002)


def test_clouds_reduce_pv_energy():
    clear = make(MeterConfig(unit=3, load="none", pv_kwp=10.0, cloudiness=0.0))
    cloudy = make(MeterConfig(unit=3, load="none", pv_kwp=10.0, cloudiness=0.7))
    clear.update(START + DAY_MS)
    cloudy.update(START + DAY_MS)
    ratio = cloudy.export_wh() / clear.export_wh()
    assert 0.25 < ratio < 0.85


def test_household_load_energy_from_the_shape():
    m = make(MeterConfig(unit=4, load="household", load_peak_w=1000, pv_kwp=0.0))
    m.update(START + DAY_MS)
    expected = 1000 * 24 * np.mean(profiles.HOUSEHOLD_SHAPE)  # noise has mean ~1
    assert m.import_wh() == pytest.approx(expected, rel=0.08)
    assert m.export_wh() == 0


def test_seeded_runs_are_identical_and_seeds_matter():
    a, b, c = make(seed=11), make(seed=11), make(seed=12)
    for m in (a, b, c):
        m.update(START + 14 * 3_600_000 + 1234)
    assert a.raw_values() == b.raw_values()
    assert a.imp_mj == b.imp_mj
    assert a.raw_values()[203]["W"] != c.raw_values()[203]["W"]


def test_registers_decode_to_the_physics():
    m = make()
    m.update(START + 12 * 3_600_000 + 17_000)
    snap = m.snapshot()
    phys = scaled_values(m.layout.models[1], m.raw_values()[203])
    assert phys["W"] == snap["w"]  # W_SF 0 for a 7.5 kW rating: exact
    assert phys["WphA"] + phys["WphB"] + phys["WphC"] == snap["w"]
    assert phys["PhV"] == pytest.approx(snap["v"], abs=0.05)
    assert phys["Hz"] == pytest.approx(snap["hz"], abs=0.005)
    assert phys["TotWhImp"] == snap["import_wh"]
    assert phys["TotWhExp"] == snap["export_wh"]
    va = phys["VA"]
    assert abs(phys["PF"]) == pytest.approx(100 * abs(phys["W"]) / va, abs=0.2)


def test_big_sites_get_a_coarser_power_scale_factor():
    m = make(MeterConfig(unit=5, load="commercial", load_peak_w=20000, pv_kwp=30.0))
    raw = m.raw_values()[203]
    assert raw["W_SF"] == 1  # 45 kW rating: 2x does not fit int16 in W
    m.update(START + 12 * 3_600_000)
    assert abs(raw["W"]) <= 32767


def test_reboot_resets_counters_and_shows_itself():
    m = make()
    m.update(START + 10 * 3_600_000)
    assert m.import_wh() > 0
    m.reboot(START + 10 * 3_600_000)
    raw = m.raw_values()
    assert raw[203]["TotWhImp"] == 0 and raw[203]["TotWhExp"] == 0
    assert raw[1]["Opt"] == "boot=2"
    assert raw[203]["Evt"] & EVT_POWER_FAILURE
    m.update(START + 10 * 3_600_000 + 61_000)
    assert m.raw_values()[203]["Evt"] == 0  # the event clears after 60 s
    assert m.import_wh() + m.export_wh() > 0  # counting again
