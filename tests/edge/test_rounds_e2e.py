"""P5 iterative bidding end to end: firmware gateways revise their quotes between the edge's rounds.

Three firmware gateways on the MicroPython unix port (two PV sellers, one
buyer, simulated meters) open a margin away from their reservations, so
round 0 leaves the buyer out; after every non-final result they move one
tick toward the published price. The edge (same market clock as
test_e2e.py: 5 min intervals, gate 60 s, a round every 10 s, clock x60)
clears rounds > 0 from the revisions and ends an interval when nobody
revises. Checked against the edge's own records: every published round is
the re-clearing of that round's quotes as folded from the inbox, every
revision moves toward the price it answered (never past it, never past the
reservation, one tick at most), and the binding quotes are TowardPrice's
fixed point.
"""

from __future__ import annotations

import json
import sqlite3

import pytest

from edge.chain.store import ChainStore
from edge.chain.verify import verify_store
from edge.market.clearing import Order, clear_uniform
from edge.market.rounds import TowardPrice
from edge.protocol.auth import check_signature
from tests.edge.helpers import quotes_by_round, substation
from tests.kit.edge import stored_results

MAX_ROUNDS = 5
TICK = 10000
# meters 1 and 3 carry PV (sellers at 09:00), meter 2 does not (buyer)
# the gateways revise with the named alternative strategy, one tick toward the price
POLICY = {
    "gw-01": {"sell_min": 60000, "margin": 20000, "strategy": "toward-price"},  # opens 80,000
    "gw-02": {"buy_max": 100000, "margin": 40000, "strategy": "toward-price"},  # 60,000: out
    "gw-03": {"sell_min": 50000, "margin": 40000, "strategy": "toward-price"},  # 90,000
}
RESERVATION = {"gw-01": ("sell", 60000), "gw-02": ("buy", 100000), "gw-03": ("sell", 50000)}
GWS = list(POLICY)


def same_clearing(result: dict, orders: tuple[Order, ...]) -> None:
    expect = clear_uniform(list(orders))
    assert (result.get("price"), result["volume_wh"], result["regime"]) == (
        expect.price, expect.volume_wh, expect.regime), result
    assert [(f["gw"], f["side"], f["qty_wh"], f["status"]) for f in result["fills"]] == [
        (f.order_id, f.side, f.qty_wh, f.status) for f in expect.fills]


@pytest.mark.timeout(120)
def test_firmware_gateways_revise_until_no_quote_changes(broker_factory, device_servers,
                                                         firmware_factory, edge_factory):
    sub = substation(broker_factory, device_servers, firmware_factory, edge_factory, GWS,
                     MAX_ROUNDS, policy=POLICY, tick=TICK)
    edge, fws = sub.edge, sub.gateways

    def settled_after_revisions(s: dict) -> bool:
        return sum(1 for r in s["results"] if r["final"] and r["round"] > 0) >= 2

    st = edge.wait(settled_after_revisions, 60, "two intervals settled after revisions")
    assert st["counters"]["rejected"] == {}, st["counters"]["rejected"]  # no late revision
    for fw in fws:
        fw.stop()
    edge.wait(lambda s: s["chain"]["pending"] == 0, 10, "flush")
    assert edge.stop() == 0

    db = sqlite3.connect(edge.data / "inbox.db")
    finals = {r["interval"]: r for r in stored_results(db, "final = 1")}
    fills = {(r["interval"], r["round"]): r["fills"] for r in stored_results(db)}
    revised = [iv for iv, r in finals.items() if r["round"] > 0]
    assert len(revised) >= 2
    # every round of those intervals, as published (on the chain) and as recorded (results)
    with ChainStore(edge.data / "chain.db") as store:
        assert verify_store(store, producers=[edge.edge_id]).ok
        published = [json.loads(t) for h in range(store.height() + 1) for t in store.get(h).txs]
    rounds = {}
    for r in published:
        if r["type"] == "result" and r["interval"] in revised:
            check_signature(r, edge.edge_id)  # the chain holds the signed header ...
            r = {**r, "fills": fills[r["interval"], r["round"]]}  # ... the inbox its block
            rounds.setdefault(r["interval"], {}).setdefault(r["round"], []).append(r)

    for iv in revised:
        final = finals[iv]
        quotes = quotes_by_round(db, iv, final["round"])
        # the binding result is the re-clearing of the final round's recorded quotes ...
        same_clearing(final, quotes[-1])
        # ... and so is every round published before it; rounds 0..final all cleared
        assert sorted(rounds[iv]) == list(range(final["round"] + 1))
        for k, rs in rounds[iv].items():
            for r in rs:
                same_clearing(r, quotes[k])
        assert quotes[0] != quotes[-1]
        # round 0 at the opening quotes, and the buyer was left out there
        assert {o.id: o.price for o in quotes[0]} == {
            g: (res + POLICY[g]["margin"] if side == "sell" else res - POLICY[g]["margin"])
            for g, (side, res) in RESERVATION.items()}
        opening = {f.order_id: f.status for f in clear_uniform(list(quotes[0])).fills}
        assert opening["gw-02"] != "filled"
        # every revision answers the round before it and moves toward its price
        for k in range(1, len(quotes)):
            last = clear_uniform(list(quotes[k - 1]))
            status = {f.order_id: f.status for f in last.fills}
            for before, after in zip(quotes[k - 1], quotes[k], strict=True):
                assert (before.id, before.side, before.qty_wh, before.seq) == (
                    after.id, after.side, after.qty_wh, after.seq)
                if after.price == before.price:
                    continue
                assert status[before.id] != "filled"
                side, res = RESERVATION[before.id]
                if side == "sell":
                    assert before.price - TICK <= after.price < before.price
                    assert after.price >= max(res, last.price or 0)
                else:
                    assert before.price < after.price <= before.price + TICK
                    assert after.price <= (res if last.price is None else min(res, last.price))
        # the rounds stopped because nobody moved: the binding quotes are TowardPrice's
        # fixed point (unless the round limit stopped them first)
        if final["round"] < MAX_ROUNDS - 1:
            last = clear_uniform(list(quotes[-1]))
            assert [TowardPrice(TICK).respond(quotes[-1], last, i, RESERVATION[o.id][1])
                    for i, o in enumerate(quotes[-1])] == [o.price for o in quotes[-1]]
        assert final["volume_wh"] > 0
        got = {s["gw"] for (raw,) in db.execute(
            "SELECT raw FROM settlements WHERE interval=?", (iv,)) for s in [json.loads(raw)]}
        assert got == {f["gw"] for f in final["fills"] if f["qty_wh"] > 0}
    # every gateway revised at least once (all are unfilled after a round 0 without trade)
    for fw in fws:
        assert any(b["round"] > 0 for b in fw.events("bid")), fw.config["gw"]
        assert not fw.events("rx_bad"), fw.events("rx_bad")
