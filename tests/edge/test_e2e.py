"""End to end on loopback: TLS broker with an ACL, simulated meters, the real firmware on the
MicroPython unix port (three gateways), the edge with the simulated PL.

A few intervals clear; every final result equals an independent re-clearing
of the order book recorded in the edge's inbox; the chain verifies.
"""

from __future__ import annotations

import json
import sqlite3

import pytest

from edge.chain.store import ChainStore
from edge.chain.verify import verify_store
from edge.market.clearing import clear_uniform
from edge.protocol.auth import check_signature
from tests.edge.helpers import quotes_by_round, substation
from tests.kit.edge import header_of, stored_results

GWS = ["gw-01", "gw-02", "gw-03"]


@pytest.mark.timeout(180)
def test_firmware_gateways_trade_through_the_edge(broker_factory, device_servers,
                                                  firmware_factory, edge_factory):
    sub = substation(broker_factory, device_servers, firmware_factory, edge_factory, GWS,
                     max_rounds=2)
    edge, fws = sub.edge, sub.gateways
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
    finals = stored_results(db, "final = 1")
    traded = [r for r in finals if r["volume_wh"] > 0]
    assert len(traded) >= 2
    for r in finals:
        check_signature(header_of(r), edge.edge_id)
        book = list(quotes_by_round(db, r["interval"], 0)[0])
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
