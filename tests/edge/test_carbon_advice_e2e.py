"""Carbon bid advice end to end: hub -> edge -> firmware gateway, signed at every hop.

The hub fits the copula (hub.carbonmarket.correlation.advise on a synthetic
price history), publishes the range in a PriceSignal (``carbon_bid``) signed
with its key; the edge pulls it over real HTTP, checks the hub's signature,
re-signs and relays it on the retained price topic; the real firmware (the
MicroPython unix port) verifies the edge's signature, and its "advised"
policy bids inside the range. A relayed signal whose range is changed fails
the edge's signature check. The gateway's bid goes back as a tagged
``carbon_bid`` message: the edge admits it, writes it to its chain as
received, pushes the block, and the hub's carbon book (read from the blocks
it holds, hub.carbonmarket.carbonbids) carries the advised price.
"""

from __future__ import annotations

import json
import time

import pytest

from edge.protocol.auth import check_signature
from hub.allocation.signal import carbon_bid_field
from hub.carbonmarket.carbonbids import book_price, carbon_bids
from hub.carbonmarket.correlation import advise
from hub.carbonmarket.prices import synthetic_pairs
from hub.service.receipts import edge_leaves
from tests.edge.helpers import substation

POLICY = {"gw-01": {"carbon_bid": "advised", "carbon_side": "buy", "carbon_limit": 200_000},
          "gw-02": {"carbon_bid": "advised", "carbon_side": "sell", "carbon_limit": 1_000}}


@pytest.mark.timeout(180)
def test_advised_range_reaches_the_gateway_signed_and_the_gateway_bids_inside_it(
        broker_factory, device_servers, firmware_factory, edge_factory, hub_factory):
    hub = hub_factory().start(timeout_s=90)
    elec, carbon = synthetic_pairs(500, 1)
    field = carbon_bid_field(advise(elec, carbon, 150_000, draws=5000))
    low, high = field["low"], field["high"]
    assert 0 < low < high  # a real range (its numbers are the copula's: regression-free)
    hub.operator("POST", "/v1/prices", {
        "site": "s1", "valid_from": 0, "valid_to": 1 << 40, "p_low": 20, "p_high": 40,
        "intensity_g_kwh": 600, "adders": {}, "carbon_bid": field}).raise_for_status()
    # a signal the edge's own model would refuse never gets signed by the hub
    bad = hub.operator("POST", "/v1/prices", {
        "site": "s1", "valid_from": 0, "valid_to": 1 << 40, "p_low": 20, "p_high": 40,
        "intensity_g_kwh": 600, "carbon_bid": {**field, "low": high + 1}})
    assert bad.status_code in (400, 422)
    sub = substation(broker_factory, device_servers, firmware_factory, edge_factory,
                     list(POLICY), max_rounds=1, policy=POLICY, tick=1000, hub=hub)
    relayed: list[dict] = []
    watch = sub.broker.paho("gw-02")
    watch.on_message = lambda _c, _u, m: relayed.append(json.loads(m.payload))
    watch.subscribe("site/s1/price", qos=1)
    watch.loop_start()
    try:
        for fw in sub.gateways:
            fw.wait_for("carbon_bid", timeout=60)
        deadline = time.monotonic() + 10
        while not relayed and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        watch.loop_stop()
        watch.disconnect()
    sig = relayed[-1]
    assert sig["carbon_bid"] == field  # the hub's range, unchanged through the edge
    check_signature(sig, sub.edge.edge_id)  # signed by the edge, the key gateways trust
    with pytest.raises(ValueError):
        check_signature({**sig, "carbon_bid": {**field, "high": high + 1}}, sub.edge.edge_id)
    buyer, seller = (fw.events("carbon_bid")[-1] for fw in sub.gateways)
    # the buyer's limit (200,000) is above the range: it bids the high end; the seller's
    # (1,000) below it: it asks the low end (policy "advised", docs/carbon-market.md)
    assert (buyer["price"], buyer["advice"]) == (high, [low, field["median"], high])
    assert (seller["price"], seller["advice"]) == (low, [low, field["median"], high])
    assert all(low <= e["price"] <= high for e in (buyer, seller))

    # the bids on the wire: admitted by the edge, chained, pushed to the hub
    sub.edge.wait(lambda st: st["counters"]["accepted"].get("carbon_bid", 0) >= 2, 60,
                  "both carbon bids admitted")
    db = hub.database()
    try:
        deadline = time.monotonic() + 60
        while True:
            book = carbon_bids(edge_leaves(db, sub.edge.edge_id), "s1", 0, 1 << 40)
            if len(book.by_gw) == 2 or time.monotonic() > deadline:
                break
            time.sleep(0.3)
    finally:
        db.close()
    assert book.refused == {}
    got = {gw: (b.side, b.price) for gw, b in book.by_gw.items()}
    assert got == {"gw-01": ("buy", high), "gw-02": ("sell", low)}
    # in the book: a short CEC buys at its bid, a PVP sells at its ask; a bid on the side
    # its position does not take is no order
    assert book_price("cec", -5_000, book.by_gw["gw-01"]) == high
    assert book_price("pvp", 7_000, book.by_gw["gw-02"]) == low
    assert book_price("cec", 5_000, book.by_gw["gw-01"]) is None
