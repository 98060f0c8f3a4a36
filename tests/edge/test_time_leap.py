"""A whole market interval driven by an injected clock: the edge built without a broker.

The wall clock is a SteppedWall that moves only when the test says so; the
ticker and the writer run as in production. Every time the edge writes (the
result's ts, the block's ts, the pending age) must be the injected time,
which shows nothing in the path reads the system clock.
"""

from __future__ import annotations

import json

import pytest

from edge.market.clearing import Order, clear_uniform
from tests.edge.helpers import SITE, bid, topic
from tests.kit.edge import loopback_edge, result_of, wait_until

KEYS = {"gw1": bytes([1]) * 32, "gw2": bytes([2]) * 32}
T = 1_800_000_000 - 1_800_000_000 % 900 + 900  # an interval start (s)


@pytest.fixture
def edge(tmp_path):
    svc, wall, link = loopback_edge(tmp_path, SITE, KEYS, (T - 600) * 1000)
    svc.start()
    yield svc, wall, link
    svc.stop()


def results(link):
    return [result_of(p) for t, p, _ in link.published if t.endswith("/result")]


def test_an_interval_and_the_next_by_clock_leaps(edge):
    svc, wall, link = edge
    t0 = wall()
    link.deliver(topic("gw1", "bid"), bid("gw1", 1, t0, KEYS["gw1"], T, "sell", 1000, 50_000), t0)
    link.deliver(topic("gw2", "bid"), bid("gw2", 1, t0, KEYS["gw2"], T, "buy", 600, 70_000), t0)
    wait_until(lambda: len(link.acked) == 2, what="both bids acknowledged")
    assert results(link) == []  # the gate is 9 minutes away: nothing clears
    # the bids wait for the block age on the injected wall clock, then the block carries it
    assert svc.store.height() == -1
    wall.advance(30_000)
    wait_until(lambda: svc.store.height() == 0, what="the block of the bids")
    assert svc.store.get(0).header.ts == (T - 570) * 1000
    assert [json.loads(t)["type"] for t in svc.store.get(0).txs] == ["bid", "bid"]
    wall.set((T - 60) * 1000)  # leap to gate closure
    wait_until(lambda: len(results(link)) == 1, what="round 0 of T")
    [r] = results(link)
    # 600 Wh change hands (the buyer wants 600 of the 1000 offered); the price is the
    # market rule's, taken from the clearing reference on the same book
    ref = clear_uniform([Order("gw1", "sell", 1000, 50_000, 1),
                         Order("gw2", "buy", 600, 70_000, 2)])
    assert (r["interval"], r["round"], r["final"], r["volume_wh"]) == (T, 0, True, 600)
    assert r["price"] == ref.price
    assert r["ts"] == (T - 60) * 1000  # market time at the gate, from the injected clock
    assert svc.store.height() == 0  # the result waits for its own block age
    wall.advance(30_000)
    wait_until(lambda: svc.store.height() == 1, what="the block of the round")
    assert svc.store.get(1).header.ts == (T - 30) * 1000
    kinds = [json.loads(t)["type"] for t in svc.store.get(1).txs]
    assert kinds == ["result", "settlement", "settlement"]
    # one leap of a whole interval: the next gate passes with an empty book
    wall.advance(900_000)
    wait_until(lambda: any(x["interval"] == T + 900 for x in results(link)), what="T + 900")
    nxt = [x for x in results(link) if x["interval"] == T + 900][0]
    # its gate (T + 840) passed during the leap: it clears at the first tick after, T + 870
    assert (nxt["volume_wh"], nxt["regime"], nxt["ts"]) == (0, "no_trade", (T + 870) * 1000)
