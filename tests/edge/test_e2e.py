"""End to end on loopback: TLS broker with an ACL, simulated meters, the real firmware on the
MicroPython unix port (three gateways), the edge with the simulated PL.

A few intervals clear; every final result equals an independent re-clearing
of the order book recorded in the edge's inbox; the chain verifies.
"""

from __future__ import annotations

import json
import sqlite3
import time

import pytest

from edge.chain.store import ChainStore
from edge.chain.verify import verify_store
from edge.market.clearing import Order, clear_uniform
from edge.protocol.auth import check_signature
from edge.runtime.intervals import Clock
from tests.kit.firmware import TEST_KEY_HEX, gateway_config

GWS = ["gw-01", "gw-02", "gw-03"]
ACCEL = 60.0
INTERVAL = 300  # 5 s of wall time


def recorded_book(db: sqlite3.Connection, interval: int) -> list[Order]:
    """Fold the accepted round-0 bids in acceptance order (later quotes replace earlier)."""
    orders: dict[str, Order] = {}
    n = 0
    for (raw,) in db.execute("SELECT raw FROM inbox WHERE type='bid' AND interval=? ORDER BY id",
                             (interval,)):
        b = json.loads(raw)
        if b.get("round", 0) == 0:
            n += 1
            orders.pop(b["gw"], None)
            orders[b["gw"]] = Order(b["gw"], b["side"], b["qty_wh"], b["price"], n)
    return list(orders.values())


@pytest.mark.timeout(180)
def test_firmware_gateways_trade_through_the_edge(broker_factory, device_servers,
                                                  firmware_factory, edge_factory, pl_cache):
    broker = broker_factory(tls=True, acl=True, gateways=GWS)
    devices = device_servers(meters=3, batteries=0, accel=ACCEL, start="2024-06-21T09:00:00")
    host, port = devices.tcp()
    wall = int(time.time() * 1000)
    origin = (wall // (INTERVAL * 1000) + 1) * INTERVAL * 1000 - 200_000
    clock = Clock(ACCEL, wall, origin)
    edge = edge_factory(
        broker, dict.fromkeys(GWS, TEST_KEY_HEX),
        clock={"accel": ACCEL, "origin_wall_ms": wall, "origin_sim_ms": origin},
        admission={"past_s": 3600, "future_s": 600},
        market={"interval_s": INTERVAL, "gate_s": 60, "round_s": 10, "max_rounds": 2},
        pl={"backend": "sim"}, start=False)
    edge.start()
    fws = []
    for i, gw in enumerate(GWS, start=1):
        dev = [{"name": f"m{i}", "kind": "meter", "unit": i, "host": host, "port": port,
                "max_w": 40000}]
        cfg = gateway_config(broker, dev, gw=gw, interval_s=INTERVAL, poll_ms=100,
                             telemetry_every=5,
                             clock={"accel": int(ACCEL), "start_ms": clock.now_ms()})
        fws.append(firmware_factory(cfg))
    # three gateways, each bidding from its metered interval energy; wait for two traded intervals
    st = edge.wait(lambda s: sum(1 for r in s["results"] if r["final"] and r["volume_wh"] > 0)
                   >= 2, 120, "two traded intervals")
    assert set(st["counters"]["accepted"]) >= {"telemetry", "bid", "status"}
    assert st["counters"]["rejected"] == {}, st["counters"]["rejected"]
    for g in GWS:
        assert st["gateways"][g]["state"] == "online"
        assert st["gateways"][g]["readings"][0]["q"] == "good"
    for fw in fws:
        fw.stop()
    edge.wait(lambda s: s["chain"]["pending"] == 0, 10, "flush")
    assert edge.stop() == 0
    db = sqlite3.connect(edge.data / "inbox.db")
    finals = [json.loads(r) for (r,) in db.execute("SELECT raw FROM results WHERE final=1")]
    traded = [r for r in finals if r["volume_wh"] > 0]
    assert len(traded) >= 2
    for r in finals:
        check_signature(r, edge.edge_id)
        book = recorded_book(db, r["interval"])
        assert r["round"] == 0  # the firmware's quotes do not change between rounds
        expect = clear_uniform(book)
        assert (r.get("price"), r["volume_wh"], r["regime"]) == (
            expect.price, expect.volume_wh, expect.regime)
        assert [(f["gw"], f["qty_wh"], f["status"]) for f in r["fills"]] == [
            (f.order_id, f.qty_wh, f.status) for f in expect.fills]
    with ChainStore(edge.data / "chain.db") as store:
        assert verify_store(store, producers=[edge.edge_id]).ok
        kinds = {json.loads(t)["type"] for h in range(store.height() + 1)
                 for t in store.get(h).txs}
    assert {"telemetry_digest", "bid", "result", "settlement"} <= kinds
