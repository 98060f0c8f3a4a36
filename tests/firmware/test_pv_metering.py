"""PV generation metered end to end: simulated inverter -> firmware over Modbus -> quota.

A PV prosumer's meter nets load against PV, so it shows export, not
generation; its inverter (simulator.devices.pv, SunSpec model 103) meters
the array. The real firmware (MicroPython unix port) reads both over Modbus
TCP with its own SunSpec decoding, books the inverter's WH deltas as the
interval's gen_wh and sends them in its telemetry; those exact payloads are
put on an edge chain and anchored (tests/carbonmarket/meterkit.py), checked
as evidence, and the PVP's quota is computed by hub.carbonmarket.quota.

The reference is computed here from the profile alone: a clear sky
(cloudiness 0, so no random weather) at 5 kWp, latitude 48, 21 June; the
PV power of each 5 s step is the rounded clear-sky power, the energy the
sum of power x step. The run spans the whole daylight (02:00 to 21:00, the
sun is up from about 04:05 to 19:55 solar time), so whatever the firmware's
reading times, the energy between its first and last reading is the whole
day's: sum of gen_wh = floor(day's mJ / 3.6e6), and M = floor(delta x Wh / 1000).
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from edge.chain.keys import generate_key, public_id
from hub.carbonmarket.quota import QuotaConfig, pvp_quota, verify_meter_evidence
from simulator import profiles
from simulator.devices.config import parse_start
from tests.carbonmarket.meterkit import evidence
from tests.kit.firmware import gateway_config

KWP, LAT, STEP_S = 5.0, 48.0, 5
START, END_H = "2024-06-21T02:00:00", 21
ACCEL = 3600
DELTA = 820


def profile_pv_wh(start_ms: int, hours: int) -> int:
    """The day's PV energy from simulator.profiles alone (W per step rounded, x step)."""
    t = start_ms + np.arange(hours * 3600 // STEP_S, dtype=np.int64) * STEP_S * 1000
    w = np.rint(profiles.pv_clear_sky_w(KWP, LAT, t)).astype(np.int64)
    assert w[0] == 0 and w[-1] == 0  # night at both ends: the whole day is inside
    return int(w.sum()) * STEP_S * 1000 // 3_600_000


@pytest.mark.timeout(120)
def test_pvp_quota_is_delta_times_the_profiles_generation(broker_factory, device_servers,
                                                          firmware_factory, collector_factory):
    ds = device_servers({"seed": 3, "start": START, "accel": float(ACCEL), "latitude": LAT,
                         "step_s": STEP_S, "servers": [{"name": "bus", "devices": [
                             {"kind": "meter", "unit": 1, "name": "pvp-6/meter",
                              "load": "household", "pv_kwp": KWP, "cloudiness": 0.0},
                             {"kind": "pv", "unit": 2, "name": "pvp-6/pv", "meter": 1}]}]})
    host, port = ds.tcp()
    broker = broker_factory()
    col = collector_factory(broker)
    devs = [{"name": "m1", "kind": "meter", "unit": 1, "host": host, "port": port,
             "max_w": 20_000},
            {"name": "pv1", "kind": "pv", "unit": 2, "host": host, "port": port,
             "max_w": 20_000}]
    fw = firmware_factory(gateway_config(
        broker, devs, gw="pvp-6", interval_s=900, poll_ms=100, telemetry_every=50,
        clock={"accel": ACCEL, "start_ms": ds.fleet.clock.now_ms()}))
    end_s = parse_start(START) // 1000 + END_H * 3600

    def energy_msgs(c):
        return [m for m in c.messages("telemetry") if "energy" in m]

    col.wait(lambda c: any(m["energy"]["interval"] >= end_s for m in energy_msgs(c)), 90,
             "telemetry past 21:00")
    assert fw.alive
    raw = [p.decode() for t, p, _ in list(col.raw) if t.endswith("/telemetry")
           and b'"energy"' in p]
    per_interval = {}
    for m in energy_msgs(col):
        per_interval.setdefault(m["energy"]["interval"], m["energy"]["gen_wh"])
    metered = sum(per_interval.values())
    truth_wh = profile_pv_wh(parse_start(START), END_H)
    assert truth_wh > 20_000  # a 5 kWp array on midsummer's day (about 30 kWh)
    assert metered == truth_wh
    # the meter itself shows less: what the household used is not export
    assert sum(m["energy"]["exp_wh"] for m in energy_msgs(col)) < truth_wh
    # the same payloads as evidence on an edge chain, anchored by the hub: the quota
    edge_key, hub_key = generate_key(), generate_key()
    docs = evidence(raw, edge_key, hub_key)
    readings = [verify_meter_evidence(d, public_id(hub_key.public_key()),
                                      [public_id(edge_key.public_key())]) for d in docs]
    day = parse_start(START) // 1000 - 2 * 3600  # midnight
    q = pvp_quota(readings, "pvp-6", day, day + 86_400, QuotaConfig(DELTA, "test"))
    assert q.gen_wh == truth_wh
    assert q.quota_g == DELTA * truth_wh // 1000
