"""The gateway's P5 quote revision on the MicroPython unix port, against the CPython reference.

Carbon adders are applied in one place, the edge (edge.market.book.apply_adders
at clearing time): the firmware quotes in its own raw terms (reservation =
sell_min or buy_max, opening = reservation +/- margin, no adder). A published
result carries the cleared book (each fill's quote as cleared, order number
and quantity); the firmware answers it with its configured strategy
(policy.revise: "best-response", the default, or "toward-price") on that book
with its limit shifted like its quote, and reads the answer back into raw
terms. The firmware's own functions run in a real MicroPython process driven
round by round from CPython: the edge's part is played by CPython
(apply_adders, then clear_uniform), MicroPython decides every gateway's next
raw quote, and the whole run (cleared books and clearings per round,
convergence, raw quotes) must equal ``edge.market.rounds.run_rounds`` with the
same strategy, the raw limits and the adders. The firmware's trial clearing
(policy.Trial, the book with one order's price as the unknown, which best
response evaluates) is compared with clear_uniform price by price. The running
gateway is then checked against hand-made price signals and results over a real broker.
"""

from __future__ import annotations

import json
import random
import subprocess
from dataclasses import dataclass, replace

import pytest

from edge.market.book import apply_adders
from edge.market.clearing import Order, clear_uniform
from edge.market.rounds import BestResponse, TowardPrice, run_rounds
from tests.kit.firmware import (
    MICROPYTHON,
    NO_MP,
    fills_block,
    frame_of,
    gateway_config,
    mp_env,
    result_frame,
    result_header,
    run_mp,
    sign_downlink,
)

MAX_PRICE = 2**31 - 1

DRIVER = """
import sys, json
from gateway import policy
while True:
    line = sys.stdin.readline()
    if not line:
        break
    req = json.loads(line)
    if req['op'] == 'open':
        out = []
        for surplus, pol in req['gws']:
            q = policy.quote(surplus, pol)
            out.append([q[0], q[1], q[2], policy.reservation(q[0], pol)])
    elif req['op'] == 'adder_for':
        out = [policy.adder_for(signals, interval) for signals, interval in req['gws']]
    elif req['op'] == 'outcomes':
        out = []
        for book, me, top in req['gws']:
            t = policy.Trial(book, me)
            out.append([list(t.outcome(x)) for x in range(top)])
    elif req['op'] == 'toward_price':
        out = [policy.toward_price(*a) for a in req['gws']]
    else:
        out = []
        for side, price, res, adder, result, gw, pol in req['gws']:
            try:
                out.append(policy.revise(side, price, res, adder, result, gw, pol))
            except ValueError as e:
                out.append(str(e))
    print(json.dumps(out))
"""


class Policy:
    """One MicroPython process answering quote and revision requests over a pipe."""

    def __init__(self) -> None:
        if MICROPYTHON is None:
            pytest.skip(NO_MP)
        self.p = subprocess.Popen([MICROPYTHON, "-c", DRIVER], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                  env=mp_env(), bufsize=1)

    def ask(self, op: str, gws: list) -> list:
        assert self.p.stdin is not None and self.p.stdout is not None
        self.p.stdin.write(json.dumps({"op": op, "gws": gws}) + "\n")
        self.p.stdin.flush()
        line = self.p.stdout.readline()
        if not line:
            raise AssertionError(f"micropython driver died: {self.p.stderr.read()}")
        return json.loads(line)

    def close(self) -> None:
        assert self.p.stdin is not None
        self.p.stdin.close()
        self.p.wait(10)


@pytest.fixture(scope="module")
def mp_policy():
    p = Policy()
    yield p
    p.close()


@dataclass(frozen=True)
class Gw:
    id: str
    surplus_wh: int  # > 0 sells, < 0 buys
    sell_min: int
    buy_max: int
    margin: int
    adder: int

    @property
    def pol(self) -> dict:
        return {"sell_min": self.sell_min, "buy_max": self.buy_max, "margin": self.margin,
                "min_qty_wh": 1}


def reference_opening(g: Gw) -> tuple[str, int, int, int]:
    """(side, qty, opening price, reservation) in the gateway's raw terms: no adder."""
    if g.surplus_wh > 0:
        return "sell", g.surplus_wh, min(g.sell_min + g.margin, MAX_PRICE), g.sell_min
    return "buy", -g.surplus_wh, max(g.buy_max - g.margin, 0), g.buy_max


def published(cleared, c) -> dict:
    """What the edge publishes of a round (edge.runtime.market_service.result_message)."""
    msg = {"interval": 0, "round": 0, "final": False, "regime": c.regime, "fills": [
        {"order": f"0-{o.seq}", "gw": o.id, "side": o.side, "qty_wh": f.qty_wh,
         "status": f.status, "price": o.price, "seq": o.seq, "order_wh": o.qty_wh}
        for o, f in zip(cleared, c.fills, strict=True)]}
    if c.price is not None:
        msg["price"] = c.price
    return msg


def firmware_rounds(mp: Policy, gws: list[Gw], strategy: str, tick: int, max_rounds: int):
    """P5 rounds with every revision decided by the firmware; the edge applies the adders.

    Returns ([(cleared book, clearing) per round], converged, [raw quotes per round]).
    """
    opened = mp.ask("open", [[g.surplus_wh, g.pol] for g in gws])
    assert [tuple(o) for o in opened] == [reference_opening(g) for g in gws]
    adders = {g.id: g.adder for g in gws}
    quotes = tuple(Order(g.id, o[0], o[1], o[2], n)
                   for n, (g, o) in enumerate(zip(gws, opened, strict=True), 1))
    reserve = {g.id: o[3] for g, o in zip(gws, opened, strict=True)}
    pol = {"strategy": strategy, "tick": tick}
    rounds, raw = [], []
    for _ in range(max_rounds):
        cleared = apply_adders(quotes, adders)  # what the edge clears, and publishes
        c = clear_uniform(cleared)
        rounds.append((cleared, c))
        raw.append(quotes)
        msg = published(cleared, c)
        new = mp.ask("revise", [[q.side, q.price, reserve[q.id], adders[q.id], msg, q.id, pol]
                                for q in quotes])
        revised = tuple(replace(q, price=p) for q, p in zip(quotes, new, strict=True))
        if revised == quotes:
            return rounds, True, raw
        quotes = revised
    return rounds, False, raw


def strategy_of(name: str, tick: int):
    return TowardPrice(tick) if name == "toward-price" else BestResponse()


def to_raw(orders, adders: dict[str, int]) -> tuple[Order, ...]:
    """The edge's cleared quotes back in the gateways' raw terms (no bid is clamped at 0 here)."""
    return tuple(replace(o, price=o.price - adders[o.id] if o.side == "sell"
                         else o.price + adders[o.id]) for o in orders)


def reference_rounds(gws: list[Gw], strategy: str, tick: int, max_rounds: int):
    """run_rounds on the raw opening book with the raw limits and the adders; same shape."""
    adders = {g.id: g.adder for g in gws}
    opening = [reference_opening(g) for g in gws]
    book = [Order(g.id, o[0], o[1], o[2], n)
            for n, (g, o) in enumerate(zip(gws, opening, strict=True), 1)]
    limits = {g.id: o[3] for g, o in zip(gws, opening, strict=True)}
    r = run_rounds(book, strategy_of(strategy, tick), max_rounds, limits, adders)
    return ([(x.orders, x.clearing) for x in r.rounds], r.converged,
            [to_raw(x.orders, adders) for x in r.rounds])


def test_a_sellers_adder_is_counted_once_by_the_edge(mp_policy):
    """The firmware opens at sell_min + margin; the edge's cleared book holds that + the adder."""
    s, m, a = 70000, 15000, 9000
    seller = Gw("roof-1", 1000, s, 0, m, a)
    buyer = Gw("flat-2", -1000, 0, 200000, 10000, 4000)
    opened = mp_policy.ask("open", [[g.surplus_wh, g.pol] for g in (seller, buyer)])
    assert opened == [["sell", 1000, s + m, s], ["buy", 1000, 190000, 200000]]
    quotes = [Order(g.id, o[0], o[1], o[2], n)
              for n, (g, o) in enumerate(zip((seller, buyer), opened, strict=True), 1)]
    cleared = apply_adders(quotes, {seller.id: a, buyer.id: buyer.adder})
    assert [o.price for o in cleared] == [s + m + a, 190000 - 4000]
    c = clear_uniform(cleared)
    assert (c.price, c.volume_wh) == (s + m + a, 1000)
    # balanced: both filled; the seller's ask sets the price and it may raise it up to the
    # buyer's cleared bid 186,000, i.e. a raw 186,000 - 9,000 = 177,000; the buyer holds
    msg = published(cleared, c)
    pol = {"strategy": "best-response", "tick": 1000}
    got = mp_policy.ask("revise", [["sell", s + m, s, a, msg, "roof-1", pol],
                                   ["buy", 190000, 200000, 4000, msg, "flat-2", pol]])
    assert got == [177000, 190000]
    # toward-price: filled, nothing to revise
    pol = {"strategy": "toward-price", "tick": 1000}
    assert mp_policy.ask("revise", [["sell", s + m, s, a, msg, "roof-1", pol]]) == [s + m]


def test_newest_price_signal_gives_the_adder(mp_policy):
    """(valid_from, valid_to, ts, adder) in arrival order: newest by ts, as the edge's price_for."""
    signals = [[0, 600, 1000, 9000],  # oldest, arrived first
               [0, 600, 3000, 4000],  # newest valid for [0, 600)
               [300, 900, 2000, 6000],  # arrived last, older than the one before
               [600, 900, 5000, 1]]
    got = mp_policy.ask("adder_for", [
        [signals, 0], [signals, 300], [signals, 599], [signals, 600], [signals, 900],
        [signals, -1], [[], 0],
        # equal ts: the later arrived counts (the edge orders by ts, then by arrival id)
        [[[0, 600, 7, 11], [0, 600, 7, 22]], 60],
    ])
    assert got == [4000, 4000, 4000, 1, 0, 0, 0, 22]


def test_seeds_sellers_market_round_by_round(mp_policy):
    # docs/market.md "Rounds": every opening at its limit; Q shades to R's 720,000
    gws = [Gw("S", 20000, 400000, 0, 0, 0), Gw("P", -8000, 0, 900000, 0, 0),
           Gw("Q", -15000, 0, 750000, 0, 0), Gw("R", -5000, 0, 720000, 0, 0)]
    got = firmware_rounds(mp_policy, gws, "best-response", 1000, 10)
    assert got == reference_rounds(gws, "best-response", 1000, 10)
    rounds, converged, raw = got
    assert converged and [c.price for _, c in rounds] == [750000, 720000]
    assert [o.price for o in raw[-1]] == [400000, 900000, 720000, 720000]


def test_worked_example_of_docs_market_toward_price(mp_policy):
    # docs/market.md "Rounds": roof-1 has no room to move (reservation = its offer)
    gws = [Gw("roof-1", 1000, 100000, 0, 0, 0), Gw("roof-2", 1000, 115000, 0, 25000, 0),
           Gw("flat-3", -1500, 0, 125000, 15000, 0)]
    got, converged, raw = firmware_rounds(mp_policy, gws, "toward-price", 5000, 10)
    assert (got, converged, raw) == reference_rounds(gws, "toward-price", 5000, 10)
    assert converged
    # round 0 would price at roof-2's 140,000, which excludes flat-3: no trade, no price
    assert [(c.price, c.volume_wh) for _, c in got] == [
        (None, 0), (None, 0), (None, 0), (125000, 1500)]
    assert [[o.price for o in orders] for orders, _ in got] == [
        [100000, 140000, 110000], [100000, 135000, 115000], [100000, 130000, 120000],
        [100000, 125000, 125000]]


def random_market(rng: random.Random, n: int) -> list[Gw]:
    gws = []
    for i in range(n):
        adder = rng.choice([0, 0, rng.randrange(0, 20000)])
        margin = rng.choice([0, 0, rng.randrange(0, 60000)])
        qty = rng.randrange(1, 3000)
        if rng.random() < 0.5:
            gws.append(Gw(f"s{i}", qty, rng.randrange(40000, 120000), 0, margin, adder))
        else:
            # the edge clamps an adjusted bid at 0; stay clear of it so both views stay shifted
            buy_max = rng.randrange(60000, 160000) + 2 * adder + margin
            gws.append(Gw(f"b{i}", -qty, 0, buy_max, margin, adder))
    return gws


@pytest.mark.parametrize("strategy", ["best-response", "toward-price"])
def test_revisions_equal_the_reference_on_random_markets(mp_policy, strategy):
    rng = random.Random(20240621)
    seen = {"multi_round": 0, "stopped_by_limit": 0, "round_without_price": 0, "partial": 0,
            "excluded": 0, "with_adders": 0}
    for _ in range(120):
        gws = random_market(rng, rng.randrange(1, 7))
        tick = rng.choice([1, 999, 1000, 5000, 12345])
        max_rounds = rng.randrange(1, 12)
        got = firmware_rounds(mp_policy, gws, strategy, tick, max_rounds)
        ref = reference_rounds(gws, strategy, tick, max_rounds)
        assert got == ref, (gws, tick, max_rounds)
        rounds, converged, _ = got
        # each adder is counted once: the edge's book stays within the limit + adder
        by_id = {g.id: g for g in gws}
        for orders, _ in rounds:
            for o in orders:
                g = by_id[o.id]
                if o.side == "sell":
                    assert g.sell_min + g.adder <= o.price
                else:
                    assert o.price <= g.buy_max - g.adder
        seen["multi_round"] += len(rounds) >= 3
        seen["stopped_by_limit"] += not converged
        seen["round_without_price"] += any(c.price is None for _, c in rounds[:-1])
        statuses = {f.status for _, c in rounds for f in c.fills}
        seen["partial"] += "partial" in statuses
        seen["excluded"] += "excluded" in statuses
        seen["with_adders"] += any(g.adder for g in gws) and len(rounds) > 1
    # the random markets really exercise every branch of the strategy
    assert all(v >= 3 for v in seen.values()), seen


def test_firmware_trial_clearing_equals_clear_uniform(mp_policy):
    rng = random.Random(7)
    cases = []
    for _ in range(150):
        n = rng.randrange(1, 9)
        seqs = rng.sample(range(1, 50), n)
        book = [[rng.choice(["buy", "sell"]), rng.randrange(1, 9), rng.randrange(0, 12),
                 seqs[i]] for i in range(n)]
        cases.append([book, rng.randrange(n), 14])
    got = mp_policy.ask("outcomes", cases)
    for (book, me, top), outs in zip(cases, got, strict=True):
        for x in range(top):
            trial = [Order(f"o{i}", *b) for i, b in enumerate(book)]
            trial[me] = replace(trial[me], price=x)
            c = clear_uniform(trial)
            assert outs[x] == [c.fills[me].qty_wh, c.price], (book, me, x)


def test_a_result_without_a_book_is_refused(mp_policy):
    c = clear_uniform([Order("a", "sell", 5, 10, 1), Order("b", "buy", 5, 20, 2)])
    msg = published([Order("a", "sell", 5, 10, 1), Order("b", "buy", 5, 20, 2)], c)
    del msg["fills"][1]["seq"]
    msg2 = published([Order("a", "sell", 5, 10, 1), Order("b", "buy", 5, 20, 2)], c)
    pol = {"strategy": "best-response", "tick": 1}
    got = mp_policy.ask("revise", [["sell", 10, 10, 0, msg, "a", pol],
                                   ["buy", 20, 20, 0, msg2, "b", pol],
                                   ["buy", 20, 20, 0, msg2, "zz", pol],
                                   ["sell", 20, 20, 0, msg2, "b", pol]])
    # balanced: the seller sets the price and shades up to the bid; the buyer holds;
    # someone not in the book, or on the other side, gets None (no revision possible)
    assert got == ["result fills[1] needs integer price, seq and order_wh", 20, None, None]


def test_toward_price_corners(mp_policy):
    got = mp_policy.ask("toward_price", [
        ["sell", 80000, 60000, "filled", 50000, 1000],  # filled: stays
        ["sell", 80000, 60000, "partial", 79500, 1000],  # never below the price
        ["sell", 80000, 60000, "unfilled", None, 30000],  # no price: toward the reservation
        ["sell", 60000, 60000, "excluded", 10000, 1000],  # at the reservation: stays
        ["buy", 100000, 150000, "excluded", 120000, 50000],  # never above the price
        ["buy", 100000, 150000, "unfilled", None, 1000],
        ["buy", 130000, 120000, "unfilled", 140000, 1000],  # above its reservation: stays
    ])
    assert got == [80000, 79500, 60000, 60000, 120000, 101000, 130000]


def test_margin_tick_and_strategy_config_checked():
    out = run_mp(
        "import json\nfrom gateway import config\nout = []\n"
        "base = {'site': 's1', 'gw': 'g', 'key_hex': '00' * 32, 'edge_signer': '00' * 32,"
        " 'devices': [{'name': 'm', 'kind': 'meter', 'port': 502, 'unit': 1, 'max_w': 1}]}\n"
        "for pol in ({}, {'margin': 30000, 'tick': 7}, {'margin': -1}, {'margin': 1.5},"
        " {'tick': 0}, {'tick': True}, {'margin': 2**31}, {'strategy': 'toward-price'},"
        " {'strategy': 'nash'}):\n"
        "    c = dict(base); c['policy'] = pol\n"
        "    try:\n"
        "        p = config.check(c)['policy']\n"
        "        out.append([p['margin'], p['tick'], p['strategy']])\n"
        "    except config.ConfigError as e:\n"
        "        out.append(str(e))\n"
        "print(json.dumps(out))"
    ).stdout.strip().splitlines()[-1]
    assert json.loads(out) == [
        [0, 1000, "best-response"], [30000, 7, "best-response"],
        "policy.margin: expected an integer in 0..2147483647, got -1",
        "policy.margin: expected an integer in 0..2147483647, got 1.5",
        "policy.tick: expected an integer in 1..2147483647, got 0",
        "policy.tick: expected an integer in 1..2147483647, got True",
        "policy.margin: expected an integer in 0..2147483647, got 2147483648",
        [0, 1000, "toward-price"],
        "policy.strategy: expected one of best-response, toward-price, got 'nash'",
    ]


def test_gateway_revises_toward_the_published_price(device_servers, broker, firmware_factory,
                                                    collector_factory):
    """A running gateway against hand-made price signals and results.

    Its quote carries no adder; a published price is read back with the adder
    of the newest signal by ts (4,000 here); which results move the quote and
    which do not.
    """
    import time

    from tests.firmware.conftest import device_entries

    ds = device_servers(meters=1, batteries=0, accel=10.0, start="2024-06-21T11:00:00")
    col = collector_factory(broker)
    fw = firmware_factory(gateway_config(
        broker, device_entries(ds, 1, 0), clock={"accel": 10}, interval_s=40,
        policy={"sell_min": 60000, "margin": 20000, "tick": 7000, "strategy": "toward-price"}))
    adder = 4000

    def signal(ts, adders, retain=False, valid=(0, 2**40), **bad) -> None:
        msg = {"v": 1, "type": "price", "site": "s1", "valid_from": valid[0],
               "valid_to": valid[1], "ts": ts, "p_low": 20, "p_high": 40,
               "intensity_g_kwh": 300, "adders": adders, **bad}
        col.c.publish("site/s1/price", json.dumps(sign_downlink(msg)), qos=1, retain=retain)

    # retained, so it arrives whenever the gateway subscribes; the others follow it in order
    signal(1000, {"gw-01": 9000}, retain=True)  # oldest, arrived first
    fw.wait_for("price", timeout=30)
    signal(3000, {"gw-01": adder, "gw-07": 1})  # the newest valid: the edge clears with it
    signal(2000, {"gw-01": 6000})  # arrived last, older than the one before
    signal(5000, {"gw-01": 1}, valid=(2**40, 2**41))  # newer, but valid later
    signal(9000, {"gw-01": -5})  # bad ones are counted and change nothing
    signal(9000, {"gw-01": 1}, valid=(600, 600))
    fw.wait_for("rx_bad", count=2, timeout=10)
    assert len(fw.wait_for("price", count=4, timeout=10)) == 4
    assert [e["msg"] for e in fw.events("rx_bad")] == [
        "price signal adders[gw-01] must be an integer in 0..2147483647",
        "price signal valid_to must be after valid_from"]

    def first_bid_after_signals() -> list[dict]:
        lines = list(fw.lines)
        last = max(i for i, x in enumerate(lines) if x.get("ev") in ("price", "rx_bad"))
        return [x for x in lines[last:] if x.get("ev") == "bid" and x.get("round") == 0]

    end = time.monotonic() + 40
    while not first_bid_after_signals():
        assert time.monotonic() < end, f"no bid after the price signals:\n{fw.tail()}"
        time.sleep(0.05)
    iv = first_bid_after_signals()[0]["interval"]
    first = col.wait(lambda c: [b for b in c.messages("bid") if b["interval"] == iv], 10,
                     "the first bid on the broker")[0]
    qty = first["qty_wh"]
    assert qty >= 2  # room for a partial fill below
    # meter 1 carries 5 kWp of PV: at 11:00 it sells, opening at sell_min + margin, no adder
    assert (first["side"], first["price"], first["round"]) == ("sell", 80000, 0)

    def message(rnd: int, price: int | None, status: str | None, final: bool = False) -> dict:
        # the book as published: our quote in force (the last bid sent), cleared with the adder
        mine = revisions()[-1][1] + adder
        # the traded energy as the status says (the block's decoders check they agree)
        traded = {"filled": qty, "partial": qty // 2}.get(status, 0)
        fills = [] if status is None else [
            {"gw": "gw-01", "side": "sell", "qty_wh": traded, "status": status, "price": mine,
             "seq": 1, "order_wh": qty}]
        fills.append({"gw": "gw-09", "side": "buy", "qty_wh": 0, "status": "unfilled",
                      "price": 1, "seq": 2, "order_wh": 1})
        msg = {"v": 1, "type": "result", "site": "s1", "interval": iv, "round": rnd,
               "final": final, "ts": 0, "volume_wh": 0, "regime": "buyers_market",
               "fills": fills}
        if price is not None:
            msg["price"] = price + adder  # published in the edge's adjusted terms
        return msg

    def publish(rnd: int, price: int | None, status: str | None, final: bool = False) -> None:
        col.c.publish(f"site/s1/market/{iv}/result",
                      result_frame(message(rnd, price, status, final)), qos=1)

    def publish_changed(rnd: int, price: int, status: str) -> None:
        """A frame whose block is not the one its header signed (another status)."""
        msg = message(rnd, price, status)
        header = sign_downlink(result_header(msg, fills_block(msg["fills"])))
        msg["fills"][0]["status"] = "excluded"
        col.c.publish(f"site/s1/market/{iv}/result",
                      frame_of(header, fills_block(msg["fills"])), qos=1)

    def fence(n: int) -> None:
        """A bad result; once the gateway has counted it, everything before it was handled."""
        col.c.publish(f"site/s1/market/{iv}/result",
                      result_frame({"site": "s1", "type": "result", "interval": iv,
                                    "round": 2, "final": False, "price": "x", "fills": []}),
                      qos=1)
        fw.wait_for("rx_bad", count=n, timeout=10)

    def revisions() -> list[tuple[int, int]]:
        return [(b["round"], b["price"]) for b in col.messages("bid") if b["interval"] == iv]

    def wait_bid(rnd: int) -> None:
        col.wait(lambda c: any(r == rnd for r, _ in revisions()), 10, f"the round-{rnd} bid")

    # prices below are raw (what the gateway should read): publish() adds the adder
    publish(0, 75000, "unfilled")  # a tick (7,000) would pass the price: stop at 75,000
    wait_bid(1)
    publish(0, 75000, "unfilled")  # a duplicate of round 0 moves nothing twice
    publish(1, None, "unfilled")  # no price: toward the reservation, 68,000
    wait_bid(2)
    publish(2, 65000, "filled")  # filled: silent
    fence(3)  # a price that is not an integer is counted, never acted on
    publish(3, 50000, "partial")  # one tick down: 61,000
    wait_bid(4)
    publish(4, 40000, "unfilled")  # the price is below the reservation: stop there, 60,000
    wait_bid(5)
    publish(5, 40000, "unfilled")  # at the reservation: silent
    # (a round already accepted would be refused as a replay: each case takes a new round)
    publish_changed(6, 40000, "unfilled")  # a block not as signed: counted, nothing moves
    publish(7, 40000, None)  # the edge has no quote of ours: a revision would be refused
    publish(7, 40000, "unfilled", final=True)  # final: nothing to revise
    fence(5)
    assert revisions() == [(0, 80000), (1, 75000), (2, 68000), (4, 61000), (5, 60000)]
    bids = [b for b in col.messages("bid") if b["interval"] == iv]
    assert all(b["side"] == "sell" and b["qty_wh"] == qty for b in bids)
    assert len(fw.events("revise_not_in_book")) == 1
    assert "result price must be an integer" in fw.events("rx_bad")[2]["msg"]
    assert fw.events("rx_bad")[3]["msg"].startswith("fills block SHA-256 ")
    assert fw.alive


def test_price_signal_checks_name_the_bad_field():
    ok = {"valid_from": 0, "valid_to": 600, "ts": 5, "adders": {"gw-01": 7000}}
    cases = [ok, {**ok, "adders": {"gw-02": 1}}, {k: v for k, v in ok.items() if k != "adders"},
             {k: v for k, v in ok.items() if k != "ts"}, {**ok, "ts": "5"},
             {**ok, "valid_from": 0.5}, {**ok, "valid_to": True}, {**ok, "valid_to": 0},
             {**ok, "adders": [7000]}, {**ok, "adders": {"gw-01": True}},
             {**ok, "adders": {"gw-01": 2**31}}, {**ok, "adders": {"gw-01": -1}}]
    out = run_mp(
        "import json\nfrom gateway.downlink import check_price\nout = []\n"
        f"for msg in json.loads({json.dumps(json.dumps(cases))}):\n"
        "    try:\n"
        "        out.append(check_price(msg, 'gw-01'))\n"
        "    except ValueError as e:\n"
        "        out.append(str(e))\n"
        "print(json.dumps(out))"
    ).stdout.strip().splitlines()[-1]
    bad_adder = "price signal adders[gw-01] must be an integer in 0..2147483647"
    assert json.loads(out) == [
        7000, 0, 0,  # a signal without this gateway's adder: 0, as the edge clears it
        "price signal ts must be an integer", "price signal ts must be an integer",
        "price signal valid_from must be an integer", "price signal valid_to must be an integer",
        "price signal valid_to must be after valid_from", "price signal adders must be an object",
        bad_adder, bad_adder, bad_adder,
    ]
