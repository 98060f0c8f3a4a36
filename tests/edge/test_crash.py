"""SIGKILL the edge during an interval and in the middle of a block write.

The gateways are paho publishers whose every message the broker confirmed
(PUBACK); the edge has a persistent session, so what the broker took while
the edge was dead is delivered after the restart. After the crashes no
accepted message is lost, no chain transaction is written twice, the chain
verifies and the interval completes with every bid.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time

from edge.chain.store import ChainStore
from edge.chain.verify import verify_store
from edge.clock import Clock
from edge.market.clearing import Order, clear_uniform
from edge.runtime.blocks import CRASH_ENV
from edge.runtime.intervals import Schedule
from tests.edge.helpers import bid, telemetry, topic

GWS = {f"gw-0{i}": bytes([i]) * 32 for i in range(1, 4)}
ACCEL = 20.0
SCHED = Schedule(interval_s=300, gate_s=30, round_s=5, max_rounds=2)


class Gateways(threading.Thread):
    """Telemetry from every gateway every 20 ms; records what the broker confirmed."""

    def __init__(self, broker, clock):
        super().__init__(daemon=True)
        self.clock = clock
        self.clients = {g: broker.paho(g) for g in GWS}
        for c in self.clients.values():
            c.loop_start()
        self.seq = dict.fromkeys(GWS, 0)
        self.sent: list[tuple[str, int]] = []
        self.stop = threading.Event()
        self.lock = threading.Lock()

    def send(self, g, kind, make):
        with self.lock:
            self.seq[g] += 1
            s = self.seq[g]
        info = self.clients[g].publish(topic(g, kind), make(s), qos=1)
        info.wait_for_publish(10)
        assert info.is_published()
        with self.lock:
            self.sent.append((g, s))

    def run(self):
        while not self.stop.is_set():
            for g, k in GWS.items():
                self.send(g, "telemetry", lambda s, g=g, k=k: telemetry(g, s, self.clock.now_ms(),
                                                                       k))
            time.sleep(0.02)

    def close(self):
        self.stop.set()
        self.join(5)
        for c in self.clients.values():
            c.loop_stop()
            c.disconnect()


def test_sigkill_during_interval_and_block_write(broker_factory, edge_factory):
    broker = broker_factory(tls=True, acl=True, gateways=list(GWS))
    wall = int(time.time() * 1000)
    origin = (wall // 300_000 + 1) * 300_000 + 10_000  # 260 s (13 s wall) before a gate
    clock = Clock(ACCEL, wall, origin)
    edge = edge_factory(
        broker, {g: k.hex() for g, k in GWS.items()},
        clock={"accel": ACCEL, "origin_wall_ms": wall, "origin_sim_ms": origin},
        admission={"past_s": 86_400, "future_s": 600},
        market={"interval_s": 300, "gate_s": 30, "round_s": 5, "max_rounds": 2},
        blocks={"max_txs": 7, "max_age_s": 0.2})
    T = SCHED.next_open(clock.now_s())
    gws = Gateways(broker, clock)
    gws.start()
    quotes = {"gw-01": ("sell", 4000, 60_000), "gw-02": ("buy", 1500, 90_000),
              "gw-03": ("buy", 1000, 80_000)}
    for g, (side, qty, price) in list(quotes.items())[:2]:
        gws.send(g, "bid", lambda s, g=g, side=side, qty=qty, price=price: bid(
            g, s, clock.now_ms(), GWS[g], T, side, qty, price))
    edge.wait(lambda s: s["counters"]["accepted"].get("bid", 0) == 2, 10, "two bids")
    edge.kill()  # 1: SIGKILL while the interval's book is open
    time.sleep(0.5)  # the broker queues for the edge's persistent session meanwhile
    edge.start()
    g, (side, qty, price) = "gw-03", quotes["gw-03"]
    gws.send(g, "bid", lambda s: bid(g, s, clock.now_ms(), GWS[g], T, side, qty, price))
    edge.wait(lambda s: s["counters"]["accepted"].get("bid", 0) == 3, 10, "third bid")
    # 2: SIGKILL between the chain append and the inbox update of a block write
    edge.kill()
    edge.start(wait=False, env={CRASH_ENV: "after_chain_append"})
    edge.proc.wait(20)
    assert edge.proc.returncode == -9  # it did die inside the block write
    # 3: and once before the append
    edge.start(wait=False, env={CRASH_ENV: "before_chain_append"})
    edge.proc.wait(20)
    assert edge.proc.returncode == -9
    edge.start()
    st = edge.wait(lambda s: any(r["interval"] == T and r["final"] for r in s["results"]), 40,
                   "the interval to complete")
    gws.close()
    sent = set(gws.sent)
    edge.wait(lambda s: s["counters"]["accepted"].get("telemetry", 0)
              + s["counters"]["accepted"].get("bid", 0) >= len(sent), 30, "all delivered")
    edge.wait(lambda s: s["chain"]["pending"] == 0, 10, "flushed")
    assert edge.stop() == 0
    db = sqlite3.connect(edge.data / "inbox.db")
    stored = set(db.execute("SELECT gw, seq FROM inbox"))
    assert sent <= stored, f"lost: {sorted(sent - stored)[:10]}"
    final = [r for r in st["results"] if r["interval"] == T and r["final"]][0]
    orders = [Order(g, s, q, p, i + 1) for i, (g, (s, q, p)) in enumerate(quotes.items())]
    expect = clear_uniform(orders)
    assert (final["price"], final["volume_wh"]) == (expect.price, expect.volume_wh)
    assert final["fills_n"] == 3
    with ChainStore(edge.data / "chain.db") as store:
        report = verify_store(store, producers=[edge.edge_id])
        assert report.ok, report
        txs = [t for h in range(store.height() + 1) for t in store.get(h).txs]
    assert len(txs) == len(set(txs))  # no transaction written twice
    objs = [json.loads(t) for t in txs]
    digests = {(t["gw"], t["seq"]) for t in objs if t["type"] == "telemetry_digest"}
    bids = {(t["gw"], t["seq"]) for t in objs if t["type"] == "bid"}
    assert digests | bids == stored  # every accepted message is on the chain
