"""The edge service end to end on loopback: TLS broker with an ACL, paho gateways, real HTTP.

The gateways here are paho publishers sending exactly the protocol's
messages (tags made with the gateways' keys) so that the numbers are under
the test's control; tests/edge/test_e2e.py runs the real firmware.
"""

from __future__ import annotations

import json
import time

import pytest

from edge.chain.store import ChainStore
from edge.chain.verify import verify_store
from edge.clock import Clock
from edge.market.clearing import Order, clear_uniform
from edge.protocol.auth import check_signature
from edge.runtime.intervals import Schedule
from tests.edge.helpers import bid, status, telemetry, topic
from tests.kit.edge import header_of, result_of

GWS = {f"gw-0{i}": bytes([i]) * 32 for i in range(1, 5)}
ACCEL = 300.0  # a 900 s interval lasts 3 s


def sim_clock() -> tuple[Clock, dict]:
    wall = int(time.time() * 1000)
    origin = (wall // 900_000 + 1) * 900_000 + 400_000  # 500 s before an interval's gate
    clock = Clock(ACCEL, wall, origin)
    return clock, {"accel": ACCEL, "origin_wall_ms": wall, "origin_sim_ms": origin}


def publish_all(client, items):
    infos = [client.publish(t, p, qos=1) for t, p in items]
    for info in infos:
        info.wait_for_publish(10)


@pytest.fixture
def tls_setup(broker_factory, edge_factory):
    broker = broker_factory(tls=True, acl=True, gateways=list(GWS))
    clock, clock_cfg = sim_clock()
    edge = edge_factory(broker, {g: k.hex() for g, k in GWS.items()}, clock=clock_cfg,
                        admission={"past_s": 3600, "future_s": 600},
                        market={"interval_s": 900, "gate_s": 60, "round_s": 30,
                                "max_rounds": 2}, pl={"backend": "sim"})
    clients = {}
    for g in GWS:
        c = broker.paho(g)
        c.loop_start()
        clients[g] = c
    yield broker, edge, clock, clients
    for c in clients.values():
        c.loop_stop()
        c.disconnect()


def test_ingest_clear_publish_and_chain(tls_setup):
    broker, edge, clock, clients = tls_setup
    sched = Schedule(900, 60, 30, 2)
    T = sched.next_open(clock.now_s())
    quotes = {"gw-01": ("sell", 2000, 80_000), "gw-02": ("sell", 1500, 95_000),
              "gw-03": ("buy", 1800, 120_000), "gw-04": ("buy", 1000, 100_000)}
    results: list[dict] = []
    watcher = broker.paho("watch")  # a gateway's certificate is one session: gw-01's is in use
    watcher.on_message = lambda _c, _u, m: results.append(result_of(m.payload))
    watcher.subscribe(f"site/s1/market/{T}/result", qos=1)
    watcher.loop_start()
    for g, (side, qty, price) in quotes.items():
        now = clock.now_ms()
        publish_all(clients[g], [
            (topic(g, "status"), status(g, 0, now, GWS[g])),
            (topic(g, "telemetry"), telemetry(g, 1, now, GWS[g])),
            (topic(g, "bid"), bid(g, 2, now, GWS[g], T, side, qty, price)),
        ])
    st = edge.wait(lambda s: s["counters"]["accepted"].get("bid", 0) == 4, 20, "4 bids")
    assert st["counters"]["accepted"] == {"bid": 4, "status": 4, "telemetry": 4}
    assert st["counters"]["rejected"] == {}
    # the pending-orders view while the gate is open (P4)
    book = [r for r in st["book"] if r["interval"] == T]
    assert [(r["participant"], r["side"], r["qty_wh"], r["price"]) for r in book] == [
        (g, *q) for g, q in quotes.items()]
    assert st["gateways"]["gw-03"]["readings"][0]["p_w"] == 1500
    assert st["gateways"]["gw-03"]["state"] == "online"
    edge.wait(lambda s: any(r["interval"] == T and r["final"] for r in s["results"]), 20,
              "final result")
    deadline = time.monotonic() + 10
    while not any(r.get("final") for r in results) and time.monotonic() < deadline:
        time.sleep(0.05)
    final = [r for r in results if r.get("final")][-1]
    check_signature(header_of(final), edge.edge_id)  # signed by this edge's key
    orders = [Order(g, s, q, p, i + 1) for i, (g, (s, q, p)) in enumerate(quotes.items())]
    expect = clear_uniform(orders)  # independent re-clearing of the recorded book
    assert (final.get("price"), final["volume_wh"], final["regime"]) == (
        expect.price, expect.volume_wh, expect.regime)
    assert [f["qty_wh"] for f in final["fills"]] == [f.qty_wh for f in expect.fills]
    # buyers market: gw-02 is the marginal seller, partly filled, so its ask sets the price
    assert final["volume_wh"] == 2800 and final["price"] == 95_000
    # the retained result reaches a gateway that subscribes later
    late: list[dict] = []
    c = clients["gw-04"]  # its certificate is its client id: subscribe on its own session
    c.on_message = lambda _c, _u, m: late.append(result_of(m.payload))
    c.subscribe(f"site/s1/market/{T}/result", qos=1)
    deadline = time.monotonic() + 5
    while not late and time.monotonic() < deadline:
        time.sleep(0.05)
    c.loop_stop()
    assert late and late[-1]["final"]
    # blocks: bids, results and settlements are all on the chain
    edge.wait(lambda s: s["chain"]["pending"] == 0 and s["chain"]["height"] >= 0, 10, "flush")
    metrics = edge.get("/metrics").text
    assert 'carbon_edge_messages_accepted_total{type="bid"} 4.0' in metrics
    page = edge.get("/").text
    assert "gw-03" in page and "Open order book" in page
    assert edge.stop() == 0
    with ChainStore(edge.data / "chain.db") as store:
        assert verify_store(store, producers=[edge.edge_id]).ok
        txs = [t for h in range(store.height() + 1) for t in store.get(h).tx_objects()]
    kinds = [t["type"] for t in txs]
    assert kinds.count("bid") == 4 and kinds.count("telemetry_digest") == 4
    assert any(t["type"] == "result" and t["final"] and t["interval"] == T for t in txs)
    settle = [t for t in txs if t["type"] == "settlement" and t["interval"] == T]
    assert sum(s["amount_micro"] for s in settle) == 0
    assert {s["gw"]: s["energy_wh"] for s in settle} == {
        "gw-01": -2000, "gw-02": -800, "gw-03": 1800, "gw-04": 1000}


def test_status_and_cli_against_a_running_edge(tls_setup):
    import subprocess
    import sys

    broker, edge, clock, clients = tls_setup
    out = subprocess.run([sys.executable, "-m", "edge.cli", "edge", "status", "--json",
                          "--config", str(edge.config)], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert doc["site"] == "s1" and doc["broker_connected"] is True
    assert set(doc["gateways"]) == set(GWS)
    for path in ("/api/gateways", "/api/counters", "/api/book", "/api/results", "/api/chain",
                 "/api/sync"):
        assert edge.get(path).status_code == 200, path
    assert edge.get("/api/results?limit=0").status_code == 422
    assert edge.get("/api/sync").json() == {"state": "off"}
