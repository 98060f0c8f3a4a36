"""The firmware on the MicroPython unix port against simulated SunSpec devices and Mosquitto."""

from __future__ import annotations

import time

from tests.firmware.conftest import device_entries, energy_by_interval
from tests.kit.firmware import gateway_config


def test_every_message_validates_with_the_edge_protocol(
    device_servers, broker, firmware_factory, collector_factory, board
):
    ds = device_servers(meters=2, batteries=1, accel=20.0, start="2024-06-21T11:00:00")
    col = collector_factory(broker)
    fw = firmware_factory(gateway_config(broker, device_entries(ds, 2, 1), clock={"accel": 20},
                                         interval_s=40), board=board)
    col.wait(lambda c: len(c.messages("bid")) >= 2, 40, "two bids")
    msgs = col.messages()  # decode + check_tag on every one
    kinds = {m["type"] for m in msgs}
    assert kinds == {"telemetry", "bid", "status"}
    status = col.messages("status")
    assert status[0]["state"] == "online" and status[0]["seq"] % 2 == 0
    data = [m for m in msgs if m["type"] != "status"]
    seqs = [m["seq"] for m in data]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    tel = col.messages("telemetry")
    readings = {r["dev"]: r for r in tel[-1]["readings"]}
    assert set(readings) == {"m1", "m2", "b3"}
    assert all(r["q"] == "good" for r in readings.values())
    assert 0 <= readings["b3"]["soc_pm"] <= 1000
    energies = energy_by_interval(tel)
    assert energies, "no interval energy"
    for e in energies.values():
        assert e["interval"] % 40 == 0
        # two household meters and a 5 kW battery cannot move more than this in 40 s
        assert e["imp_wh"] + e["exp_wh"] <= 2 * 2 * 6000 * 40 // 3600 + 10
    for b in col.messages("bid"):
        assert b["interval"] % 40 == 0 and b["side"] in ("buy", "sell") and b["qty_wh"] >= 1
    # a bid is for the interval after the current one: its start is in the future
    assert all(b["interval"] * 1000 > b["ts"] for b in col.messages("bid"))
    assert fw.alive


def test_broker_outage_loses_nothing_and_replays_in_order(
    device_servers, broker_factory, firmware_factory, collector_factory
):
    broker = broker_factory(persistence=True)
    ds = device_servers(meters=1, batteries=0, accel=10.0)
    col = collector_factory(broker, durable=True)
    fw = firmware_factory(gateway_config(broker, device_entries(ds, 1, 0), clock={"accel": 10},
                                         interval_s=10, telemetry_every=3))
    col.wait(lambda c: len(energy_by_interval(c.messages("telemetry"))) >= 2, 40, "energy")
    broker.stop()
    fw.wait_for("mqtt_lost", timeout=20)
    time.sleep(5)  # five intervals of 1 s real
    broker.start()
    fw.wait_for("mqtt_connected", timeout=20, count=2)
    col.wait(lambda c: c.connected.is_set(), 10)
    back = fw.events("mqtt_connected")[-1]["t"]
    fw.wait_for("mem", lambda x: x["pending"] == 0 and x["t"] > back,
                timeout=30)
    time.sleep(1)
    tel = col.messages("telemetry")
    energies = energy_by_interval(tel)  # raises if an interval arrives twice under two seqs
    ivs = sorted(energies)
    assert len(ivs) >= 6
    assert ivs == list(range(ivs[0], ivs[-1] + 10, 10)), "an interval is missing"
    # in order: after dedup by seq, the telemetry arrives with increasing seq
    first_seen = []
    for m in tel:
        if m["seq"] not in first_seen:
            first_seen.append(m["seq"])
    assert first_seen == sorted(first_seen)
    hist = [m for m in tel if m.get("hist")]
    assert hist, "replayed telemetry must be marked hist"
    lost = fw.events("mqtt_lost")[0]["t"]
    assert all(m["ts"] >= lost - 2000 for m in hist)
    assert fw.alive


def test_kill_and_restart_never_reuses_a_sequence_number(
    device_servers, broker, firmware_factory, collector_factory
):
    ds = device_servers(meters=1, batteries=0, accel=10.0)
    col = collector_factory(broker)
    fw = firmware_factory(gateway_config(broker, device_entries(ds, 1, 0), clock={"accel": 10},
                                         interval_s=10, telemetry_every=1, seq_block=5))
    col.wait(lambda c: len(c.messages("telemetry")) >= 8, 30, "telemetry")
    fw.kill()  # SIGKILL: no clean shutdown, the will goes out
    col.wait(lambda c: any(m["state"] == "offline" for m in c.messages("status")), 20, "the will")
    before = {m["seq"]: m for m in col.messages("telemetry")}
    fw.start()
    col.wait(lambda c: len(c.messages("telemetry")) >= len(before) + 5, 30, "more telemetry")
    after = [m for m in col.messages("telemetry") if m["seq"] not in before
             or m != before[m["seq"]]]
    assert after and min(m["seq"] for m in after) > max(before)
    status = col.messages("status")
    births = [m["seq"] for m in status if m["state"] == "online"]
    deaths = [m["seq"] for m in status if m["state"] == "offline"]
    assert births[0] + 1 == deaths[0] and births[1] > deaths[0]
