"""The edge with a real central hub: blocks pushed, price signals applied, receipts on the chain."""

from __future__ import annotations

import json
import time

from edge.chain.keys import load_private_key
from edge.chain.store import ChainStore
from edge.chain.verify import verify_store
from edge.clock import Clock
from edge.protocol.auth import check_signature
from edge.runtime.intervals import Schedule
from tests.edge.helpers import bid, topic

GWS = {"gw-01": bytes([1]) * 32, "gw-02": bytes([2]) * 32}
ACCEL = 30.0


def test_push_prices_and_receipts_with_a_real_hub(broker_factory, edge_factory, hub_factory):
    hub = hub_factory().start()
    broker = broker_factory(tls=True, acl=True, gateways=list(GWS))
    wall = int(time.time() * 1000)
    origin = (wall // 300_000 + 1) * 300_000 + 60_000
    clock = Clock(ACCEL, wall, origin)
    sched = Schedule(300, 30, 10, 1)
    T = sched.next_open(clock.now_s())
    hub.operator("POST", "/v1/prices", {
        "site": "s1", "valid_from": T - 300, "valid_to": T + 3000, "p_low": 20, "p_high": 40,
        "intensity_g_kwh": 600, "adders": {"gw-01": 40_000}}).raise_for_status()
    edge = edge_factory(
        broker, {g: k.hex() for g, k in GWS.items()}, start=False,
        clock={"accel": ACCEL, "origin_wall_ms": wall, "origin_sim_ms": origin},
        admission={"past_s": 3600, "future_s": 600},
        market={"interval_s": 300, "gate_s": 30, "round_s": 10, "max_rounds": 1},
        sync={"url": hub.url, "hub_id": hub.hub_id, "interval_s": 0.3,
              "allow_insecure_http": True})
    hub.register(load_private_key(edge.key_path), site="s1")
    relayed: list[dict] = []
    watch = broker.paho("gw-02")
    watch.on_message = lambda _c, _u, m: relayed.append(json.loads(m.payload))
    watch.subscribe("site/s1/price", qos=1)
    watch.loop_start()
    edge.start()
    edge.wait(lambda s: s["counters"]["all"].get("prices", 0) == 1, 20, "the price signal")
    # one session per certificate: gw-02 publishes on the session that watches the prices
    pubs = {g: watch if g == "gw-02" else broker.paho(g) for g in GWS}
    for g, (side, qty, price) in {"gw-01": ("sell", 1000, 50_000),
                                  "gw-02": ("buy", 1000, 80_000)}.items():
        pubs[g].loop_start()
        pubs[g].publish(topic(g, "bid"), bid(g, 1, clock.now_ms(), GWS[g], T, side, qty, price),
                        qos=1).wait_for_publish(10)
    st = edge.wait(lambda s: any(r["interval"] == T and r["final"] for r in s["results"]), 30,
                   "the interval")
    final = [r for r in st["results"] if r["interval"] == T][0]
    # gw-01's offer 50,000 + adder 40,000 = 90,000 > gw-02's bid 80,000: no trade
    assert final["volume_wh"] == 0 and "price" not in final
    assert relayed and relayed[-1]["adders"] == {"gw-01": 40_000}  # relayed to the gateways
    check_signature(relayed[-1], edge.edge_id)  # signed by the edge, the key gateways trust
    st = edge.wait(lambda s: s["sync"].get("acked_height", -1) == s["chain"]["height"] >= 0
                   and s["chain"]["pending"] == 0, 20, "the hub to hold our head")
    hub.make_main_block()
    edge.wait(lambda s: s["counters"]["all"].get("receipts", 0) >= 1, 20, "a receipt")
    edge.wait(lambda s: s["chain"]["pending"] == 0, 10, "flushed")
    assert edge.stop() == 0
    with ChainStore(edge.data / "chain.db") as store:
        assert verify_store(store).ok
        txs = [json.loads(t) for h in range(store.height() + 1) for t in store.get(h).txs]
    kinds = [t["type"] for t in txs]
    assert "anchor_receipt" in kinds and kinds.count("price") == 1
    for c in [watch, *pubs.values()]:
        c.loop_stop()
        c.disconnect()
