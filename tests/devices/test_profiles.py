"""Load and PV shapes: sun geometry, clear-sky, clouds, load shapes, seeded noise."""

from __future__ import annotations

import numpy as np
import pytest

from simulator import profiles
from simulator.devices.clock import SimClock, parse_start

JUNE21 = parse_start("2024-06-21")
MARCH20 = parse_start("2024-03-20")


def test_sun_times_from_day_and_latitude():
    rise, set_ = profiles.sun_times(48.0, 173)  # June 21
    # geometric day length (no refraction): 2/15 acos(-tan 48 tan 23.45) = 15.84 h
    assert set_ - rise == pytest.approx(15.84, abs=0.01)
    assert rise + set_ == pytest.approx(24.0)  # solar time: symmetric about noon
    rise, set_ = profiles.sun_times(48.0, 80)  # equinox
    assert set_ - rise == pytest.approx(12.0, abs=0.1)
    assert profiles.sun_times(80.0, 355) == (12.0, 12.0)  # polar night
    assert profiles.sun_times(80.0, 173) == (0.0, 24.0)  # midnight sun


def test_clear_sky_pv_follows_the_sun():
    rise, set_ = profiles.sun_times(48.0, 173)
    hours = np.array([rise - 0.2, rise + 0.5, 12.0, set_ - 0.5, set_ + 0.2])
    t = JUNE21 + (hours * 3_600_000).astype(np.int64)
    pv = profiles.pv_clear_sky_w(5.0, 48.0, t)
    assert pv[0] == 0.0 and pv[-1] == 0.0
    assert pv[1] > 0 and pv[3] > 0
    assert pv[1] == pytest.approx(pv[3], rel=1e-3)  # symmetric in solar time
    # Haurwitz at noon, zenith 24.6 deg: 1098 cos z exp(-0.057/cos z) = 934 W/m2
    assert pv[2] == pytest.approx(5.0 * 934.0 * 0.85, rel=0.01)


def test_cloud_index_bounds():
    x = np.linspace(-4, 4, 101)
    assert np.all(profiles.cloud_index(x, 0.0) == 1.0)
    k = profiles.cloud_index(x, 0.5)
    assert k.min() >= 0.25 and k.max() <= 1.0
    assert profiles.cloud_index(np.array([0.0]), 0.5)[0] == pytest.approx(1 - 0.75 * 0.5)
    assert np.all(np.diff(k) <= 0)  # more driver, more cloud


def test_load_shapes():
    t = JUNE21 + np.array([3, 19], dtype=np.int64) * 3_600_000  # a Friday
    hh = profiles.load_fraction("household", t)
    assert hh[1] == 1.0 and hh[0] == pytest.approx(0.17)
    saturday = JUNE21 + 86_400_000 + 11 * 3_600_000
    friday = JUNE21 + 11 * 3_600_000
    com = profiles.load_fraction("commercial", np.array([friday, saturday]))
    assert com[0] == 1.0 and com[1] == pytest.approx(0.33)
    with pytest.raises(ValueError, match="unknown load kind"):
        profiles.load_fraction("factory", t)


def test_ar1_is_chunk_independent_and_seeded():
    a = profiles.Ar1(np.random.default_rng(7), 5.0, 120.0)
    b = profiles.Ar1(np.random.default_rng(7), 5.0, 120.0)
    whole = a.next(300)
    parts = np.concatenate([b.next(100), b.next(150), b.next(50)])
    np.testing.assert_array_equal(whole, parts)
    other = profiles.Ar1(np.random.default_rng(8), 5.0, 120.0).next(300)
    assert not np.array_equal(whole, other)
    long = profiles.Ar1(np.random.default_rng(1), 5.0, 60.0).next(20000)
    assert np.std(long) == pytest.approx(1.0, abs=0.1)  # unit variance


def test_day_profile_shape():
    day = profiles.day_profile("household", 1000, 5.0, 48.0, JUNE21, step_s=900, seed=3)
    assert len(day["load_w"]) == 96
    assert max(day["pv_w"]) > 3000 and day["pv_w"][0] == 0.0


def test_clock_modes():
    manual = SimClock(MARCH20)
    assert manual.now_ms() == MARCH20
    assert manual.advance(1.5) == MARCH20 + 1500
    with pytest.raises(ValueError, match="negative"):
        manual.advance(-1)
    fast = SimClock(MARCH20, accel=1e6)
    a = fast.now_ms()
    b = fast.now_ms()
    assert b >= a >= MARCH20
    with pytest.raises(ValueError):
        SimClock(0, accel=0)
    with pytest.raises(ValueError, match="ISO 8601"):
        parse_start("yesterday")
