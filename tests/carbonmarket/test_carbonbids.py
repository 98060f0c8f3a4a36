"""The carbon book's prices from chain leaves (hub.carbonmarket.carbonbids), by hand.

Leaves are built here as an edge writes them (the tagged message, canonical);
the hub reads the newest bid of each gateway sent during the cycle, counts what
the wire model refuses, and a bid on the side the position does not take is
no order.
"""

from __future__ import annotations

from edge.protocol.auth import add_tag
from edge.protocol.canonical import canonical
from hub.carbonmarket.carbonbids import book_price, book_side, carbon_bids

KEY = bytes(32)


def leaf(gw: str, seq: int, side: str, price: int, vf: int = 0, vt: int = 1000,
         site: str = "s1", ts: int = 500_000, **extra: object) -> bytes:
    body = {"v": 1, "type": "carbon_bid", "site": site, "gw": gw, "seq": seq,
            "ts": ts, "side": side, "price": price, "valid_from": vf,
            "valid_to": vt, **extra}
    return canonical(add_tag(body, KEY))


def test_newest_bid_per_gateway_in_the_cycle_and_refusals_counted():
    raws = [
        b'{"type":"telemetry_digest","gw":"a"}',          # another leaf type: skipped
        leaf("a", 5, "buy", 70_000),
        leaf("a", 9, "buy", 72_000),                       # newer: counts
        leaf("a", 7, "buy", 71_000),                       # older, arrives later: gives way
        leaf("b", 1, "sell", 2_000, ts=1_000_000),         # sent after the cycle [0, 1000)
        leaf("b", 2, "sell", 2_500, site="s2"),            # another site
        leaf("c", 1, "sell", 10**9 + 1),                   # above the wire's bound
        leaf("d", 1, "sell", 3_000, extra=1),              # a field the model does not know
        leaf("e", 4, "sell", 3_100, 5000, 6000, ts=999_999),  # sent in it, priced later
    ]
    got = carbon_bids([("edge", 1, i, r) for i, r in enumerate(raws)], "s1", 0, 1000)
    assert {g: (b.side, b.price, b.seq, b.index) for g, b in got.by_gw.items()} == {
        "a": ("buy", 72_000, 9, 2), "e": ("sell", 3_100, 4, 8)}
    assert got.refused == {"superseded": 2, "outside_cycle": 1, "other_site": 1,
                           "malformed": 2}


def test_a_bid_counts_only_on_the_side_its_position_takes():
    seen = carbon_bids([("edge", 0, 0, leaf("a", 1, "sell", 4_000))], "s1", 0, 1000).by_gw["a"]
    assert [book_side(r, v) for r, v in (("pvp", 0), ("cec", 1), ("cec", -1))] == [
        "sell", "sell", "buy"]
    assert book_price("pvp", 500, seen) == 4_000
    assert book_price("cec", 500, seen) == 4_000      # a long CEC sells
    assert book_price("cec", -500, seen) is None      # a short CEC must buy: no order
    assert book_price("cec", -500, None) is None
