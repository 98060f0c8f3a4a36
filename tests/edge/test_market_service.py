"""The market on the clock, driven through the real admission and inbox (no MQTT here)."""

from __future__ import annotations

import itertools
import sqlite3

import pytest

from edge.chain.keys import generate_key, public_id
from edge.clock import Clock
from edge.market.book import apply_adders
from edge.market.clearing import Order, clear_uniform
from edge.pl.dispatch import Dispatcher
from edge.protocol.auth import add_signature, check_signature
from edge.protocol.codec import decode
from edge.runtime.admission import Policy
from edge.runtime.inbox import Inbox
from edge.runtime.ingest import Admitter, Incoming
from edge.runtime.intervals import Schedule
from edge.runtime.market_service import MarketService
from tests.edge.helpers import SITE, bid, topic
from tests.kit.edge import header_of, result_of

KEYS = {f"gw{i}": bytes([i]) * 32 for i in range(1, 6)}
T = 1_700_000_100 - 1_700_000_100 % 900 + 900  # an interval start
S = Schedule(interval_s=900, gate_s=60, round_s=10, max_rounds=3)


class Rig:
    """Admitter + inbox + market, with a settable clock and a list of published messages."""

    def __init__(self, path, key, hub_key=None):
        self.now_s = T - 600.0
        self.inbox = Inbox(path)
        self.key = key
        self.sent: list[tuple[str, dict]] = []
        self.frames: list[bytes] = []  # the result payloads as published
        self.market = MarketService(SITE, S, self.inbox, key, Dispatcher("cpu"), self._pub, 300)
        self.adm = Admitter(SITE, KEYS, Policy(), self.inbox.messages.windows(),
                            Clock(wall=lambda: int(self.now_s * 1000)), self.market.refusal)
        self.seq = {g: itertools.count(1) for g in KEYS}
        self.market.recover(self.now_s)

    def _pub(self, t, payload, retain):
        assert retain
        if t.endswith("/result"):
            self.frames.append(payload)
        self.sent.append((t, result_of(payload) if t.endswith("/result") else decode(payload).raw))

    def send(self, gw, side, qty, price, rnd=0, interval=T):
        p = bid(gw, next(self.seq[gw]), int(self.now_s * 1000), KEYS[gw], interval, side, qty,
                price, rnd)
        out = self.adm.process([Incoming(topic(gw, "bid"), p, 1, 1, 0)], self.inbox,
                               lambda acc: [self.market.accept(a.raw) for a in acc])
        return out.rejected[0][1].reason if out.rejected else None

    def tick(self, t):
        """The results published at ``t``, read from their frames (header and fills); each
        header is the one ``tick`` returned."""
        self.now_s = t
        n = len(self.sent)
        out = self.market.tick(t, int(t * 1000))
        sent = [m for _, m in self.sent[n:] if "fills" in m]
        assert [header_of(m) for m in sent] == out
        return sent


@pytest.fixture
def rig(tmp_path):
    r = Rig(tmp_path / "inbox.db", generate_key())
    yield r
    r.inbox.close()


def book_of(rig, interval=T):
    """Rebuild the quotes from the recorded bids, independently of the service."""
    orders, n = {}, 0
    for raw in rig.inbox.messages.bids(interval):
        if raw.get("round", 0) == 0:
            n += 1
            orders.pop(raw["gw"], None)
            orders[raw["gw"]] = Order(raw["gw"], raw["side"], raw["qty_wh"], raw["price"], n)
    return orders


def test_rounds_revisions_final_and_settlement(rig):
    assert rig.send("gw1", "sell", 1000, 80_000) is None
    assert rig.send("gw2", "sell", 1000, 120_000) is None
    assert rig.send("gw3", "buy", 1500, 150_000) is None
    assert rig.send("gw4", "buy", 800, 70_000) is None
    assert rig.send("gw1", "sell", 1200, 90_000) is None  # replaces, loses time priority
    assert rig.tick(T - 61) == []
    # pending-orders view while the gate is open
    view = rig.market.open_book(T - 61)
    assert [(r["participant"], r["order_no"], r["status"]) for r in view] == [
        ("gw2", 2, "open"), ("gw3", 3, "open"), ("gw4", 4, "open"), ("gw1", 5, "open")]
    [r0] = rig.tick(T - 60)  # gate closure: round 0
    assert (r0["round"], r0["final"]) == (0, False)
    assert rig.send("gw5", "buy", 100, 200_000) == "gate_closed"
    expect0 = clear_uniform(list(book_of(rig).values()))
    assert (r0.get("price"), r0["volume_wh"], r0["regime"]) == (
        expect0.price, expect0.volume_wh, expect0.regime)
    check_signature(header_of(r0), public_id(rig.key.public_key()))  # signed by the edge key
    # gw4's 70,000 bid sets the price, every offer is excluded: nothing trades in round 0
    assert "price" not in r0 and r0["volume_wh"] == 0
    # revisions for round 1: only participants in the book, same side
    assert rig.send("gw5", "buy", 100, 200_000, rnd=1) == "not_in_book"
    assert rig.send("gw4", "sell", 800, 70_000, rnd=1) == "side_changed"
    assert rig.send("gw4", "buy", 800, 130_000, rnd=2) == "round_not_open"
    assert rig.send("gw4", "buy", 800, 130_000, rnd=1) is None
    [r1] = rig.tick(T - 50)
    assert (r1["round"], r1["final"]) == (1, False)
    quotes1 = {**book_of(rig)}
    quotes1["gw4"] = Order("gw4", "buy", 800, 130_000, quotes1["gw4"].seq)
    expect1 = clear_uniform(list(quotes1.values()))
    assert r1["price"] == expect1.price and r1["volume_wh"] == expect1.volume_wh
    assert [f["qty_wh"] for f in r1["fills"]] == [f.qty_wh for f in expect1.fills]
    # nobody revises for round 2: round 1 binds and is republished as final
    [r2] = rig.tick(T - 40)
    assert (r2["round"], r2["final"], r2["price"]) == (1, True, expect1.price)
    assert rig.sent[-1] == (f"site/{SITE}/market/{T}/result", r2)
    st = rig.inbox.market.settlements(T)
    assert sum(s["energy_wh"] for s in st) == 0
    assert sum(s["amount_micro"] for s in st) == 0  # books balance
    bought = sum(s["energy_wh"] for s in st if s["energy_wh"] > 0)
    assert bought == expect1.volume_wh
    # 300 g/kWh default intensity: carbon passed from sellers to buyers
    assert sum(s["carbon_g"] for s in st if s["energy_wh"] > 0) == expect1.volume_wh * 300 // 1000
    assert rig.tick(T + 10) == [] and rig.market.open_book(T + 10) == []
    # the chain gets bids, every round result and the settlements
    txs = [__import__("json").loads(p.tx) for p in rig.inbox.pending.head(100)]
    kinds = [t["type"] for t in txs]
    assert kinds.count("bid") == 6 and kinds.count("result") == 3
    assert kinds.count("settlement") == len(st)
    # the chain holds each result's signed header; its fills block is stored once, with it
    assert [t for t in txs if t["type"] == "result"] == [header_of(r) for r in (r0, r1, r2)]
    assert rig.inbox.market.fills(T, 1) == r2["fills"] == r1["fills"]


def test_restart_mid_interval_continues_the_same_way(tmp_path):
    """A revision stored before a restart is in the next round: on replay it is applied
    after the round before it, as it was live, and is not sent again."""
    key = generate_key()
    a = Rig(tmp_path / "inbox.db", key)
    a.send("gw1", "sell", 1000, 80_000)
    a.send("gw2", "buy", 600, 100_000)
    a.send("gw3", "buy", 700, 90_000)
    [r0] = a.tick(T - 60)
    assert a.send("gw3", "buy", 700, 100_000, rnd=1) is None
    a.inbox.close()  # "crash" after the revision was persisted
    b = Rig(tmp_path / "inbox.db", key)
    assert b.sent and b.sent[0][1] == r0  # retained result published again on recovery
    [r1] = b.tick(T - 50)
    # by hand: sells 1000 at 80,000; buys 600 at 100,000 (no. 2) and 700 at 100,000 (no. 3):
    # demand 1300 > 1000 at any price up to 100,000; gw2 first by number, gw3 the rest
    assert r1["round"] == 1 and r1["volume_wh"] == 1000 + 0 * 1  # sells out: 1000 of 1300
    assert r1["regime"] == "sellers_market" and r1["price"] == 100_000
    assert [(f["gw"], f["qty_wh"]) for f in r1["fills"]] == [
        ("gw1", 1000), ("gw2", 600), ("gw3", 400)]
    b.seq = {g: itertools.count(10) for g in KEYS}
    assert b.send("gw3", "buy", 700, 100_000, rnd=2) is None  # a later revision: accepted
    [r2] = b.tick(T - 40)  # the same quote: round 1 is the equilibrium, republished final
    assert r2["final"] and r2["round"] == 1
    b.inbox.close()


def _signal(ts, adders):
    return add_signature({"v": 1, "type": "price", "site": SITE, "ts": ts,
                          "valid_from": T - 900, "valid_to": T + 900, "p_low": 20,
                          "p_high": 40, "intensity_g_kwh": 500, "adders": adders},
                         generate_key())


def _lose_blocks(path):
    """What a power cut before the block's commit reached the disk leaves: the recorded
    rounds without their blocks."""
    db = sqlite3.connect(path)
    with db:
        db.execute("DELETE FROM result_fills")
    db.close()


def test_a_block_lost_with_the_power_is_recomputed_and_published_again(tmp_path):
    key = generate_key()
    a = Rig(tmp_path / "inbox.db", key)
    a.inbox.prices.add(_signal(1, {"gw1": 30_000}), 0)
    a.send("gw1", "sell", 1000, 80_000)
    a.send("gw2", "sell", 1000, 100_000)
    a.send("gw3", "buy", 1500, 150_000)
    a.tick(T - 60)
    a.send("gw3", "buy", 1500, 120_000, rnd=1)
    a.tick(T - 50)
    # a newer signal after the rounds: the rounds cleared with the older one
    a.inbox.prices.add(_signal(2, {"gw2": 40_000}), 0)
    published = list(a.frames)
    a.inbox.close()
    _lose_blocks(tmp_path / "inbox.db")
    b = Rig(tmp_path / "inbox.db", key)
    assert b.frames == published  # the same bytes, in round order
    assert b.inbox.counters().get("result_blocks_recomputed") == 2
    assert [len(b.inbox.market.fills(T, r)) for r in (0, 1)] == [3, 3]
    b.inbox.close()


def test_a_block_that_cannot_be_recomputed_is_counted_and_not_published(tmp_path):
    key = generate_key()
    a = Rig(tmp_path / "inbox.db", key)
    a.send("gw1", "sell", 1000, 80_000)
    a.send("gw3", "buy", 1500, 150_000)
    a.tick(T - 60)
    a.inbox.close()
    _lose_blocks(tmp_path / "inbox.db")
    db = sqlite3.connect(tmp_path / "inbox.db")
    with db:  # the bids are not what the round cleared: one was lost with the disk
        db.execute("DELETE FROM inbox WHERE gw = 'gw1'")
    db.close()
    b = Rig(tmp_path / "inbox.db", key)
    assert b.frames == []
    assert b.inbox.counters().get("result_blocks_lost") == 1
    assert b.inbox.market.fills(T, 0) == []
    b.inbox.close()


def test_empty_interval_publishes_a_final_no_trade(rig):
    out = rig.tick(T - 60)
    assert len(out) == 1 and out[0]["regime"] == "no_trade" and out[0]["final"]
    assert "price" not in out[0]


def test_carbon_adders_from_the_price_signal(rig):
    hub = generate_key()
    signal = add_signature({"v": 1, "type": "price", "site": SITE, "ts": 1, "valid_from": T - 900,
                            "valid_to": T + 900, "p_low": 20, "p_high": 40,
                            "intensity_g_kwh": 500, "adders": {"gw1": 30_000, "gw3": 5_000}},
                           hub)
    assert rig.inbox.prices.add(signal, 0) and not rig.inbox.prices.add(signal, 0)
    rig.send("gw1", "sell", 1000, 80_000)
    rig.send("gw2", "sell", 1000, 100_000)
    rig.send("gw3", "buy", 1000, 150_000)
    rig.market.schedule = Schedule(900, 60, 10, 1)
    [r] = rig.tick(T - 60)
    quotes = list(book_of(rig).values())
    expect = clear_uniform(list(apply_adders(quotes, signal["adders"])))
    # gw1 offer became 110,000: gw2 sells all, exactly filled, so the price is the next ask
    assert r["price"] == expect.price == 110_000
    assert [f["gw"] for f in r["fills"] if f["qty_wh"]] == ["gw2", "gw3"]
    st = {s["gw"]: s for s in rig.inbox.market.settlements(T)}
    assert st["gw3"]["carbon_g"] == 500 and st["gw2"]["carbon_g"] == -500


def test_new_price_signals_are_stored_once_and_relayed_retained(rig):
    hub = generate_key()
    signal = add_signature({"v": 1, "type": "price", "site": SITE, "ts": 7, "valid_from": T,
                            "valid_to": T + 900, "p_low": 1, "p_high": 2,
                            "intensity_g_kwh": 100}, hub)
    assert rig.market.take_prices([signal]) == 1
    assert rig.market.take_prices([signal]) == 0  # pulled twice: stored and relayed once
    # relayed signed by the edge, the one key the gateways trust (Ed25519 is deterministic)
    assert rig.sent == [(f"site/{SITE}/price", add_signature(signal, rig.key))]
    check_signature(rig.sent[0][1], public_id(rig.key.public_key()))
    assert rig.inbox.prices.for_interval(T) == signal
    assert rig.inbox.last_price_ts() == 7


def test_a_result_over_the_protocol_limit_is_refused_before_it_is_published():
    """The sealed openings are checked by count at signing (their items by the tests that
    decode every result), the fills by the block's encoder: one past the protocol's 100,000
    is an error naming the list."""
    from edge.market.fillblock import fill_block
    from edge.protocol.fills import FillsError
    from edge.runtime.market_service import _header

    ok = {"fills_n": 0, "sealed": {"opened": [], "refused": [{}] * 100_000}}
    assert _header(ok) == {"fills_n": 0, "sealed": {"opened": [], "refused": []}}
    with pytest.raises(ValueError, match="100001 opened exceed"):
        _header({"sealed": {"opened": [{}] * 100_001, "refused": []}})
    orders = [Order(f"g{i}", "buy" if i % 2 else "sell", 1, 1000 + i % 7, i + 1)
              for i in range(100_001)]
    with pytest.raises(FillsError, match="100001 fills exceed the protocol's 100000"):
        fill_block(orders, clear_uniform(orders))
