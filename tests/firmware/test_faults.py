"""Device faults: each gives a counted, logged, recovered state and never a crash."""

from __future__ import annotations

from tests.firmware.conftest import device_entries, energy_by_interval
from tests.kit.firmware import gateway_config


def _last_q(col, dev):
    for m in reversed(col.messages("telemetry")):
        for r in m["readings"]:
            if r["dev"] == dev:
                return r
    return None


def test_tcp_device_faults_are_counted_flagged_and_recovered(
    device_servers, broker, firmware_factory, collector_factory
):
    ds = device_servers(meters=5, batteries=0, accel=20.0, start="2024-06-21T12:00:00")
    col = collector_factory(broker)
    devs = device_entries(ds, 5, 0, timeout_ms=200, backoff_max_ms=1000, stuck_after_wh=2)
    fw = firmware_factory(gateway_config(broker, devs, clock={"accel": 20}, interval_s=20,
                                         telemetry_every=2))
    col.wait(lambda c: all((_last_q(c, f"m{u}") or {}).get("q") == "good" for u in range(1, 6)),
             30, "all good")
    # the commercial meter m5 exports at noon: let its counter move before it reboots
    col.wait(lambda c: _last_q(c, "m5").get("e_exp_wh", 0) >= 20, 30, "m5 counting")
    ds.fault("bus/1", "no_response")
    ds.fault("bus/2", "exception", code=4)
    ds.fault("bus/3", "stuck")
    ds.fault("bus/4", "out_of_range")
    ds.reboot("bus/5")
    fw.wait_for("device_error", lambda x: x["dev"] == "m1" and x["kind"] == "timeout")
    fw.wait_for("device_error", lambda x: x["dev"] == "m2" and x["kind"] == "exception")
    fw.wait_for("device_invalid", lambda x: x["dev"] == "m4")
    fw.wait_for("counter_reset", lambda x: x["dev"] == "m5")
    fw.wait_for("device_stuck", lambda x: x["dev"] == "m3", timeout=40)
    col.wait(lambda c: [(_last_q(c, f"m{u}") or {}).get("q") for u in range(1, 5)]
             == ["stale", "stale", "stale", "invalid"], 20, "fault flags")
    r1 = _last_q(col, "m1")
    assert r1["ts"] < col.messages("telemetry")[-1]["ts"] - 1000  # the old value, its old time
    assert "p_w" not in _last_q(col, "m4")  # an invalid reading carries no values
    # the healthy-again device m5 kept reporting good throughout
    assert _last_q(col, "m5")["q"] == "good"
    for name in ("bus/1", "bus/2", "bus/3", "bus/4"):
        ds.clear(name)
    col.wait(lambda c: all((_last_q(c, f"m{u}") or {}).get("q") == "good" for u in range(1, 6)),
             40, "recovery")
    # the out-of-range counters (-100 Wh as acc32) and the reboot to 0 booked nothing absurd:
    # 5 meters of at most 20 kW over a 20 s interval is below 600 Wh
    for e in energy_by_interval(col.messages("telemetry")).values():
        assert 0 <= e["imp_wh"] <= 600 and 0 <= e["exp_wh"] <= 600
    fw_status = fw.events("mem")
    assert fw.alive and fw_status
    assert fw.events("counter_reset")[0]["booked"] <= 600


def test_rtu_over_pty_with_crc_errors(device_servers, broker, firmware_factory, collector_factory):
    cfg = {"accel": 20.0, "start": "2024-06-21T12:00:00",
           "servers": [{"name": "line", "transport": "rtu", "devices": [
               {"kind": "meter", "unit": 1}, {"kind": "meter", "unit": 2},
               {"kind": "battery", "unit": 3}]}]}
    ds = device_servers(cfg)
    col = collector_factory(broker)
    devs = device_entries(ds, 2, 1, transport="rtu", timeout_ms=300, backoff_max_ms=1000)
    fw = firmware_factory(gateway_config(broker, devs, clock={"accel": 20}, interval_s=20,
                                         telemetry_every=3, poll_ms=500))
    col.wait(lambda c: all((_last_q(c, n) or {}).get("q") == "good" for n in ("m1", "m2", "b3")),
             40, "all good over RTU")
    ds.fault("line/2", "corrupt_crc")
    fw.wait_for("device_error", lambda x: x["dev"] == "m2" and x["kind"] == "crc", timeout=20)
    col.wait(lambda c: (_last_q(c, "m2") or {}).get("q") == "stale", 20, "m2 stale")
    assert _last_q(col, "m1")["q"] == "good"  # the other devices on the line go on
    ds.clear("line/2")
    col.wait(lambda c: (_last_q(c, "m2") or {}).get("q") == "good", 30, "m2 recovered")
    assert fw.alive
    # the battery got setpoints written over RTU
    assert ds.snapshot("line/3")["stats"].get("writes", 0) >= 1
