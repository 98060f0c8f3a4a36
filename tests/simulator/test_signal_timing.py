"""A period's price signal reaches the edge before the gate of the interval it names.

The simulator runs the hub's allocation period of interval k some time after
k's rounds are over and the hub publishes its signal for k + signal_offset;
an edge pulls it at its next sync and clears every round of that interval
with the newest signal it holds for it. A signal arriving after the gate misses
the interval. The timings below are worked out by hand from pjm5-carbon's
market (interval 900 s, gate 450 s, rounds of 225 s, 3 rounds, 500x: one wall
second of sync is 500 market seconds).
"""

from __future__ import annotations

import itertools

import pytest

from edge.chain.keys import generate_key
from edge.clock import Clock
from edge.pl.dispatch import Dispatcher
from edge.protocol.auth import add_signature
from edge.runtime.admission import Policy
from edge.runtime.inbox import Inbox
from edge.runtime.ingest import Admitter, Incoming
from edge.runtime.intervals import Schedule
from edge.runtime.market_service import MarketService
from simulator.day import allocation_config, period_ready_s, signal_lead
from simulator.scenario import load_scenario
from tests.edge.helpers import SITE, bid, topic

SC = load_scenario("pjm5-carbon")
KEYS = {g: bytes([i]) * 32 for i, g in enumerate(("s-cheap", "s-dear", "buyer"), 1)}
T0 = 1_718_928_000  # 2024-06-21 00:00 UTC, interval k's start


def test_the_scenario_timings_worked_by_hand():
    assert (SC.day.interval_s, SC.market.gate_s, SC.market.round_s, SC.market.max_rounds,
            SC.day.accel) == (900, 450, 225, 3, 500)
    # k's last round clears at T - 450 + 2 * 225 = T; the period runs two round slots and
    # one interval later: T + 2 * 225 + 900 = T + 1350
    assert period_ready_s(SC) == 1350
    # posted at T + 1350, pulled by T + 1850. Gate of k+2: T + 1800 - 450 = T + 1350 (the
    # old offset 2: missed); gate of k+3: T + 2250 (in time)
    assert allocation_config(SC)["signal_offset"] == 3
    # a signal posted at T + 1800 is pulled by T + 2300: gate of k+3 at T + 2250 is
    # missed, gate of k+4 at T + 3150 is not
    assert signal_lead(SC, 1800) == 4


class Edge:
    """The edge's admission, inbox and market on a settable market clock."""

    def __init__(self, path):
        m = SC.market
        self.now_s = float(T0)
        self.inbox = Inbox(path)
        self.market = MarketService(
            SITE, Schedule(SC.day.interval_s, m.gate_s, m.round_s, m.max_rounds),
            self.inbox, generate_key(), Dispatcher("cpu"), lambda *a: None, 300)
        self.adm = Admitter(SITE, KEYS, Policy(), self.inbox.messages.windows(),
                            Clock(wall=lambda: int(self.now_s * 1000)), self.market.refusal)
        self.seq = {g: itertools.count(1) for g in KEYS}
        self.market.recover(self.now_s)

    def send(self, gw, interval, side, qty, price):
        p = bid(gw, next(self.seq[gw]), int(self.now_s * 1000), KEYS[gw], interval, side, qty,
                price)
        out = self.adm.process([Incoming(topic(gw, "bid"), p, 1, 1, 0)], self.inbox,
                               lambda acc: [self.market.accept(a.raw) for a in acc])
        assert not out.rejected

    def tick(self, t):
        self.now_s = t
        return self.market.tick(t, int(t * 1000))


@pytest.fixture
def edge(tmp_path):
    e = Edge(tmp_path / "inbox.db")
    yield e
    e.inbox.close()


def test_the_period_signal_arrives_before_its_gate_and_moves_that_clearing(edge):
    interval_s, gate_s = SC.day.interval_s, SC.market.gate_s
    offset = allocation_config(SC)["signal_offset"]
    target = T0 + offset * interval_s           # the interval the period-k signal names
    other = target + interval_s                 # the same book, no signal for it
    # the hub's signal of period k as hub.period.store shifts it, adding 60,000
    # micro/kWh to the cheap seller's offer
    signal = add_signature({"v": 1, "type": "price", "site": SITE, "ts": 1,
                            "valid_from": target, "valid_to": target + interval_s,
                            "p_low": 20, "p_high": 40, "intensity_g_kwh": 0,
                            "adders": {"s-cheap": 60_000}}, generate_key())
    arrival = T0 + period_ready_s(SC) + SC.day.accel * 1.0   # the latest pull after the run
    assert arrival < target - gate_s
    edge.tick(arrival)
    assert edge.market.take_prices([signal]) == 1
    results = {}
    for t in (target, other):
        edge.tick(t - gate_s - 400)
        edge.send("s-cheap", t, "sell", 1000, 100_000)
        edge.send("s-dear", t, "sell", 1000, 120_000)
        edge.send("buyer", t, "buy", 1000, 200_000)
        [r] = edge.tick(t - gate_s)             # round 0 at the gate
        fills = edge.inbox.market.fills(t, r["round"])  # the round's stored fills block
        results[t] = (r["price"], {f["gw"] for f in fills if f["qty_wh"]})
    # by hand (docs/market.md): without the adder the cheap seller's 100,000 is first and
    # exactly fills the buyer's 1000 Wh, so the price is the next ask, 120,000; with it the
    # cheap seller asks 160,000, the dear seller's 120,000 fills the buyer exactly and the
    # price is the next ask, 160,000 (under the buyer's 200,000)
    assert results[other] == (120_000, {"s-cheap", "buyer"})
    assert results[target] == (160_000, {"s-dear", "buyer"})
