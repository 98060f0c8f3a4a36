"""Carbon bids on the wire: admitted like bids, refused with a reason, chained as received.

A ``carbon_bid`` (edge.protocol.messages.CarbonBid) carries a gateway's
carbon quote: HMAC-tagged, in the data sequence, a price bounded by
MAX_CARBON_PRICE (10**9 micro-currency per kg) and a validity window with
valid_from < valid_to. Through a real broker and a real edge: the good one
is accepted and written to the chain as received (its tag still checks on
the leaf); a forged one (another key), a tampered one (price changed after
tagging), one priced above the bound, one with an empty window and one with
an unknown side are refused, each counted under its reason, and none
reaches the chain. The hub's reader of chain leaves
(hub.carbonmarket.carbonbids) finds exactly the good one.
"""

from __future__ import annotations

import json
import time

from edge.chain.store import ChainStore
from edge.protocol.auth import check_tag
from edge.protocol.canonical import canonical
from edge.runtime.admission import Accepted, Policy, Rejected, admit
from hub.carbonmarket.carbonbids import carbon_bids
from tests.edge.helpers import SITE, carbon_bid, topic
from tests.kit.edge import wait_until

KEYS = {"gw-01": bytes([1]) * 32, "gw-02": bytes([2]) * 32}


def tampered(payload: bytes, **change: int) -> bytes:
    return canonical({**json.loads(payload), **change})


def bad_ones(now: int) -> list[tuple[str, bytes, str]]:
    """(gateway, payload, reason the edge must give): every way a carbon bid can be wrong."""
    k1 = KEYS["gw-01"]
    return [
        ("gw-01", carbon_bid("gw-01", 2, now, KEYS["gw-02"], "buy", 50_000), "bad_tag"),
        ("gw-01", tampered(carbon_bid("gw-01", 3, now, k1, "buy", 50_000), price=90_000),
         "bad_tag"),
        ("gw-01", carbon_bid("gw-01", 4, now, k1, "buy", 10**9 + 1), "out_of_range"),
        ("gw-01", carbon_bid("gw-01", 5, now, k1, "buy", -1), "out_of_range"),
        ("gw-01", carbon_bid("gw-01", 6, now, k1, "buy", 50_000, 900, 900), "out_of_range"),
        ("gw-01", carbon_bid("gw-01", 7, now, k1, "hold", 50_000), "bad_format"),
    ]


def test_admission_gives_each_bad_carbon_bid_its_reason():
    now = 1_800_000_000_000
    policy = Policy()
    good = admit(topic("gw-01", "carbon_bid"), carbon_bid("gw-01", 1, now, KEYS["gw-01"],
                                                          "sell", 1_234), now, SITE, KEYS, {},
                 policy)
    assert isinstance(good, Accepted) and (good.type, good.space) == ("carbon_bid", "data")
    for gw, payload, want in bad_ones(now):
        out = admit(topic(gw, "carbon_bid"), payload, now, SITE, KEYS, {}, policy)
        assert isinstance(out, Rejected) and out.reason == want, (payload, out)
    # a carbon bid on the bid topic is not a bid
    out = admit(topic("gw-01", "bid"), carbon_bid("gw-01", 8, now, KEYS["gw-01"], "buy", 1),
                now, SITE, KEYS, {}, policy)
    assert isinstance(out, Rejected) and out.reason == "topic_mismatch"


def test_the_edge_chains_a_good_carbon_bid_and_counts_the_bad(broker_factory, edge_factory):
    broker = broker_factory(tls=False, gateways=list(KEYS))
    edge = edge_factory(broker, {g: k.hex() for g, k in KEYS.items()},
                        admission={"past_s": 3600, "future_s": 600})
    pub = broker.paho("gw-01")
    pub.loop_start()
    try:
        now = int(time.time() * 1000)
        good = carbon_bid("gw-01", 1, now, KEYS["gw-01"], "buy", 61_000, 100, 200)
        infos = [pub.publish(topic("gw-01", "carbon_bid"), good, qos=1)]
        for gw, payload, _ in bad_ones(now):
            infos.append(pub.publish(topic(gw, "carbon_bid"), payload, qos=1))
        for info in infos:
            info.wait_for_publish(30)
        st = edge.wait(lambda s: sum(s["counters"]["rejected"].values()) == 6
                       and s["counters"]["accepted"].get("carbon_bid") == 1, 30, "every bid")
    finally:
        pub.loop_stop()
        pub.disconnect()
    assert st["counters"]["rejected"] == {"bad_tag": 2, "out_of_range": 3, "bad_format": 1}

    def leaves() -> list[tuple[str, int, int, bytes]]:
        with ChainStore(edge.data / "chain.db", readonly=True) as store:
            return [("e", h, i, raw) for h in range(store.height() + 1)
                    for i, raw in enumerate(store.tx_bytes(h))]

    wait_until(lambda: any(b'"carbon_bid"' in raw for *_, raw in leaves()), 30, "chained bid")
    chained = [raw for *_, raw in leaves() if b'"carbon_bid"' in raw]
    assert chained == [good]  # as received: the gateway's tag checks on the leaf
    check_tag(json.loads(chained[0]), KEYS["gw-01"])
    sent = now // 1000
    book = carbon_bids(leaves(), SITE, sent, sent + 1)
    assert {g: (b.side, b.price, b.seq) for g, b in book.by_gw.items()} == {
        "gw-01": ("buy", 61_000, 1)}
    # a cycle that ended before the bid was sent does not see it
    assert carbon_bids(leaves(), SITE, sent - 100, sent).by_gw == {}
