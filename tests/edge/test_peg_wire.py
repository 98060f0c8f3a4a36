"""Spend and burn requests over the gateway's wire, end to end to the electricity side.

A real broker and a real edge carry tagged ``peg_spend`` / ``peg_burn``
messages (edge.protocol.messages.PegSpend, PegBurn) from two gateways; the
edge refuses what its admission refuses (a forged tag, an amount of 0, an
exact redelivery) and chains the rest as received; the hub's reader
(hub.carbonmarket.pegwire) forwards the chained requests, in chain order,
to a real electricity side of the peg holding 1,000 micro minted for
"seller" (transfer t1), which checks each again.

By hand: seller spends 300 (seq 5): spent; buyer, correctly tagged with its
own key, spends t1: peg_not_owner; seller's seq 3 arrives after seq 5 (the
edge's window takes a late number it has not seen, E does not: its counter
is at 5): peg_replayed_request; seller burns 200 (seq 6): burnt. Outstanding
1,000 - 300 - 200 = 500. Forwarded with a registry that does not know the
gateway, a chained request is peg_unsigned: E does not trust the edge.
"""

from __future__ import annotations

import time

from edge.chain.store import ChainStore
from edge.protocol.auth import add_tag
from edge.protocol.canonical import canonical
from hub.carbonmarket.errors import Reason
from hub.carbonmarket.pegwire import forward, owner_requests
from tests.carbonmarket.pegkit import GW_KEYS, make_peg
from tests.carbonmarket.test_peg import lock_submission
from tests.edge.helpers import SITE, topic
from tests.kit.edge import wait_until

KEYS = {g: GW_KEYS[g] for g in ("seller", "buyer")}


def request(gw: str, seq: int, ts: int, kind: str, amount: int, key: bytes | None = None,
            bill: str | None = "bill-2026-12") -> bytes:
    body = {"v": 1, "type": kind, "site": SITE, "gw": gw, "seq": seq, "ts": ts,
            "transfer": "t1", "amount_micro": amount}
    if kind == "peg_spend" and bill is not None:
        body["bill"] = bill
    return canonical(add_tag(body, key if key is not None else KEYS[gw]))


def test_spend_and_burn_over_the_wire_reach_the_peg_with_its_owner_checks(
        tmp_path, broker_factory, edge_factory):
    (tmp_path / "peg").mkdir()
    peg = make_peg(tmp_path / "peg")
    peg.e.mint(lock_submission(peg, "t1", 1_000), now_ms=2)
    broker = broker_factory(tls=False, gateways=list(KEYS))
    edge = edge_factory(broker, {g: k.hex() for g, k in KEYS.items()},
                        admission={"past_s": 3600, "future_s": 600})
    pubs = {g: broker.paho(g) for g in KEYS}
    for c in pubs.values():
        c.loop_start()
    now = int(time.time() * 1000)
    spend = request("seller", 5, now, "peg_spend", 300)
    sends = [
        ("seller", "peg_spend", spend),
        ("buyer", "peg_spend", request("buyer", 1, now, "peg_spend", 100)),
        ("seller", "peg_burn", request("seller", 3, now, "peg_burn", 100)),
        ("seller", "peg_burn", request("seller", 6, now, "peg_burn", 200)),
        # refused by the edge: forged (the buyer's key), amount 0, the spend delivered again
        ("seller", "peg_spend", request("seller", 7, now, "peg_spend", 50, KEYS["buyer"])),
        ("seller", "peg_burn", request("seller", 8, now, "peg_burn", 0)),
        ("seller", "peg_spend", spend),
    ]
    try:
        for gw, kind, payload in sends:
            pubs[gw].publish(topic(gw, kind), payload, qos=1).wait_for_publish(30)
            time.sleep(0.05)  # chain order = sending order
        st = edge.wait(lambda s: sum(s["counters"]["rejected"].values()) == 3
                       and sum(s["counters"]["accepted"].values()) == 4, 30, "every request")
    finally:
        for c in pubs.values():
            c.loop_stop()
            c.disconnect()
    assert st["counters"]["accepted"] == {"peg_spend": 2, "peg_burn": 2}
    assert st["counters"]["rejected"] == {"bad_tag": 1, "out_of_range": 1, "duplicate": 1}

    def leaves() -> list[tuple[str, int, int, bytes]]:
        with ChainStore(edge.data / "chain.db", readonly=True) as store:
            return [("e", h, i, raw) for h in range(store.height() + 1)
                    for i, raw in enumerate(store.tx_bytes(h))]

    wait_until(lambda: len(owner_requests(leaves(), SITE)) == 4, 30, "four chained requests")
    reqs = owner_requests(leaves(), SITE)
    assert [(r["gw"], r["seq"]) for r in reqs] == [("seller", 5), ("buyer", 1), ("seller", 3),
                                                    ("seller", 6)]
    try:
        assert forward(peg.e, reqs[:1], {}, now_ms=3) == {"peg_unsigned": 1}
        assert forward(peg.e, reqs, KEYS, now_ms=3) == {
            "spent": 1, "peg_not_owner": 1, "peg_replayed_request": 1, "burnt": 1}
        assert peg.e.outstanding("t1") == 500
        counts = peg.e.refusals
        assert [counts[r] for r in (Reason.PEG_UNSIGNED, Reason.PEG_NOT_OWNER,
                                    Reason.PEG_REPLAYED_REQUEST)] == [1, 1, 1]
        # forwarded again (a hub restart reading the same blocks): nothing moves twice
        assert forward(peg.e, reqs, KEYS, now_ms=4) == {"peg_replayed_request": 3,
                                                        "peg_not_owner": 1}
        assert peg.e.outstanding("t1") == 500
    finally:
        peg.c.close()
        peg.e.close()
