"""The gateway's P5 quote revision on the MicroPython unix port.

The strategy must be edge.market.rounds.TowardPrice, so the firmware's own
functions (policy.quote / reservation / quoted_price / revise) run in a real
MicroPython process driven round by round from CPython: CPython clears each
round with the reference clearing, MicroPython decides every gateway's next
quote, and the whole run (quotes and clearings per round, convergence) must
equal ``run_rounds`` with ``TowardPrice`` on the same book. The running
gateway is then checked against hand-made results over a real broker.
"""

from __future__ import annotations

import json
import random
import subprocess
from dataclasses import dataclass, replace

import pytest

from edge.market.book import apply_adders
from edge.market.clearing import Order, clear_uniform
from edge.market.rounds import TowardPrice, run_rounds
from tests.kit.firmware import MICROPYTHON, NO_MP, gateway_config, mp_env, run_mp

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
        for surplus, pol, adder in req['gws']:
            q = policy.quote(surplus, pol, adder)
            out.append([q[0], q[1], q[2], policy.reservation(q[0], pol, adder)])
    else:
        out = [policy.revise(side, price, res, status, policy.quoted_price(side, last, a), tick)
               for side, price, res, status, last, a, tick in req['gws']]
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


@pytest.fixture
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
    """(side, qty, opening price, reservation) in quote terms, from the brief's rule."""
    if g.surplus_wh > 0:
        res = g.sell_min + g.adder
        return "sell", g.surplus_wh, min(res + g.margin, MAX_PRICE), res
    res = max(g.buy_max - g.adder, 0)
    return "buy", -g.surplus_wh, max(res - g.margin, 0), res


def firmware_rounds(mp: Policy, gws: list[Gw], tick: int, max_rounds: int):
    """P5 rounds with every revision decided by the firmware; clearing as the edge does it."""
    opened = mp.ask("open", [[g.surplus_wh, g.pol, g.adder] for g in gws])
    assert [tuple(o) for o in opened] == [reference_opening(g) for g in gws]
    adders = {g.id: g.adder for g in gws}
    quotes = [Order(g.id, o[0], o[1], o[2], n)
              for n, (g, o) in enumerate(zip(gws, opened, strict=True), 1)]
    reserve = {g.id: o[3] for g, o in zip(gws, opened, strict=True)}
    rounds = []
    for _ in range(max_rounds):
        cleared = apply_adders(quotes, adders)  # what the edge clears
        c = clear_uniform(cleared)
        rounds.append((cleared, c))
        new = mp.ask("revise", [
            [q.side, q.price, reserve[q.id], f.status, c.price, adders[q.id], tick]
            for q, f in zip(quotes, c.fills, strict=True)])
        revised = [replace(q, price=p) for q, p in zip(quotes, new, strict=True)]
        if revised == quotes:
            return rounds, True
        quotes = revised
    return rounds, False


def reference_rounds(gws: list[Gw], tick: int, max_rounds: int):
    """run_rounds + TowardPrice on the edge's book, reservations shifted by adders alike."""
    adders = {g.id: g.adder for g in gws}
    opening = [reference_opening(g) for g in gws]
    book = apply_adders([Order(g.id, o[0], o[1], o[2], n)
                         for n, (g, o) in enumerate(zip(gws, opening, strict=True), 1)], adders)
    limits = [Order(g.id, o[0], o[1], o[3], n)
              for n, (g, o) in enumerate(zip(gws, opening, strict=True), 1)]
    reserve = {o.id: o.price for o in apply_adders(limits, adders)}
    r = run_rounds(book, TowardPrice(reserve, tick), max_rounds)
    return [(x.orders, x.clearing) for x in r.rounds], r.converged


def test_worked_example_of_docs_market_converges_in_four_rounds(mp_policy):
    # docs/market.md "Rounds": roof-1 has no room to move (reservation = its offer)
    gws = [Gw("roof-1", 1000, 100000, 0, 0, 0), Gw("roof-2", 1000, 115000, 0, 25000, 0),
           Gw("flat-3", -1500, 0, 125000, 15000, 0)]
    got, converged = firmware_rounds(mp_policy, gws, 5000, 10)
    assert (got, converged) == reference_rounds(gws, 5000, 10)
    assert converged
    # round 1 would price at roof-2's 140,000, which excludes flat-3: no trade, no price
    assert [(c.price, c.volume_wh) for _, c in got] == [
        (None, 0), (None, 0), (None, 0), (125000, 1500)]
    assert [[o.price for o in orders] for orders, _ in got] == [
        [100000, 140000, 110000], [100000, 135000, 115000], [100000, 130000, 120000],
        [100000, 125000, 125000]]


def random_market(rng: random.Random, n: int) -> list[Gw]:
    gws = []
    for i in range(n):
        adder = rng.choice([0, 0, rng.randrange(0, 20000)])
        margin = rng.choice([0, rng.randrange(0, 60000)])
        qty = rng.randrange(1, 3000)
        if rng.random() < 0.5:
            gws.append(Gw(f"s{i}", qty, rng.randrange(40000, 120000), 0, margin, adder))
        else:
            # the edge clamps an adjusted bid at 0; stay clear of it so both views stay shifted
            buy_max = rng.randrange(60000, 160000) + 2 * adder + margin
            gws.append(Gw(f"b{i}", -qty, 0, buy_max, margin, adder))
    return gws


def test_revisions_equal_toward_price_on_random_markets(mp_policy):
    rng = random.Random(20240621)
    seen = {"multi_round": 0, "stopped_by_limit": 0, "round_without_price": 0, "partial": 0,
            "excluded": 0, "with_adders": 0}
    for _ in range(250):
        gws = random_market(rng, rng.randrange(1, 7))
        tick = rng.choice([1, 999, 1000, 5000, 12345])
        max_rounds = rng.randrange(1, 12)
        got = firmware_rounds(mp_policy, gws, tick, max_rounds)
        ref = reference_rounds(gws, tick, max_rounds)
        assert got == ref, (gws, tick, max_rounds)
        rounds, converged = got
        seen["multi_round"] += len(rounds) >= 3
        seen["stopped_by_limit"] += not converged
        seen["round_without_price"] += any(c.price is None for _, c in rounds[:-1])
        statuses = {f.status for _, c in rounds for f in c.fills}
        seen["partial"] += "partial" in statuses
        seen["excluded"] += "excluded" in statuses
        seen["with_adders"] += any(g.adder for g in gws) and len(rounds) > 1
        # quotes only move toward the price: offers fall, bids rise, one tick at most
        for (a, _), (b, _) in zip(rounds, rounds[1:], strict=False):
            for x, y in zip(a, b, strict=True):
                step = x.price - y.price if x.side == "sell" else y.price - x.price
                assert 0 <= step <= tick
    # the random markets really exercise every branch of the strategy
    assert all(v >= 10 for v in seen.values()), seen


def test_revise_corners(mp_policy):
    ask = mp_policy.ask
    got = ask("revise", [
        ["sell", 80000, 60000, "filled", 50000, 0, 1000],  # filled: stays
        ["sell", 80000, 60000, "partial", 79500, 0, 1000],  # never below the price
        ["sell", 80000, 60000, "unfilled", None, 0, 30000],  # no price: toward the reservation
        ["sell", 60000, 60000, "excluded", 10000, 0, 1000],  # at the reservation: stays
        ["buy", 100000, 150000, "excluded", 120000, 0, 50000],  # never above the price
        ["buy", 100000, 150000, "unfilled", None, 0, 1000],
        ["buy", 130000, 120000, "unfilled", 140000, 0, 1000],  # above its reservation: stays
        ["sell", 80000, 60000, "unfilled", 70000, 5000, 20000],  # price 70000 = quote 65000
        ["buy", 100000, 150000, "unfilled", 90000, 5000, 20000],  # price 90000 = quote 95000
    ])
    assert got == [80000, 79500, 60000, 60000, 120000, 101000, 130000, 65000, 100000]


def test_margin_and_tick_config_checked():
    out = run_mp(
        "import json\nfrom gateway import config\nout = []\n"
        "base = {'site': 's1', 'gw': 'g', 'key_hex': '00' * 32,"
        " 'devices': [{'name': 'm', 'kind': 'meter', 'port': 502, 'unit': 1, 'max_w': 1}]}\n"
        "for pol in ({}, {'margin': 30000, 'tick': 7}, {'margin': -1}, {'margin': 1.5},"
        " {'tick': 0}, {'tick': True}, {'margin': 2**31}):\n"
        "    c = dict(base); c['policy'] = pol\n"
        "    try:\n"
        "        p = config.check(c)['policy']; out.append([p['margin'], p['tick']])\n"
        "    except config.ConfigError as e:\n"
        "        out.append(str(e))\n"
        "print(json.dumps(out))"
    ).stdout.strip().splitlines()[-1]
    assert json.loads(out) == [
        [0, 1000], [30000, 7],
        "policy.margin: expected an integer in 0..2147483647, got -1",
        "policy.margin: expected an integer in 0..2147483647, got 1.5",
        "policy.tick: expected an integer in 1..2147483647, got 0",
        "policy.tick: expected an integer in 1..2147483647, got True",
        "policy.margin: expected an integer in 0..2147483647, got 2147483648",
    ]


def test_gateway_revises_toward_the_published_price(device_servers, broker, firmware_factory,
                                                    collector_factory):
    """A running gateway against hand-made results: which ones move its quote, which do not."""
    from tests.firmware.conftest import device_entries

    ds = device_servers(meters=1, batteries=0, accel=10.0, start="2024-06-21T11:00:00")
    col = collector_factory(broker)
    fw = firmware_factory(gateway_config(
        broker, device_entries(ds, 1, 0), clock={"accel": 10}, interval_s=40,
        policy={"sell_min": 60000, "margin": 20000, "tick": 7000}))
    first = col.wait(lambda c: c.messages("bid"), 40, "a first bid")[0]
    iv, qty = first["interval"], first["qty_wh"]
    # meter 1 carries 5 kWp of PV: at 11:00 it sells, opening at sell_min + margin
    assert (first["side"], first["price"], first["round"]) == ("sell", 80000, 0)

    def publish(rnd: int, price: int | None, status: str | None, final: bool = False) -> None:
        fills = [] if status is None else [
            {"order": f"{iv}-1", "gw": "gw-01", "side": "sell", "qty_wh": 0, "status": status}]
        fills.append({"order": f"{iv}-2", "gw": "gw-09", "side": "buy", "qty_wh": 0,
                      "status": "unfilled"})
        msg = {"v": 1, "type": "result", "site": "s1", "interval": iv, "round": rnd,
               "final": final, "ts": 0, "volume_wh": 0, "regime": "buyers_market",
               "fills": fills}
        if price is not None:
            msg["price"] = price
        col.c.publish(f"site/s1/market/{iv}/result", json.dumps(msg), qos=1)

    def fence(n: int) -> None:
        """A bad result; once the gateway has counted it, everything before it was handled."""
        col.c.publish(f"site/s1/market/{iv}/result",
                      json.dumps({"site": "s1", "type": "result", "interval": iv,
                                  "round": 2, "final": False, "price": "x", "fills": []}), qos=1)
        fw.wait_for("rx_bad", count=n, timeout=10)

    def revisions() -> list[tuple[int, int]]:
        return [(b["round"], b["price"]) for b in col.messages("bid") if b["interval"] == iv]

    def wait_bid(rnd: int) -> None:
        col.wait(lambda c: any(r == rnd for r, _ in revisions()), 10, f"the round-{rnd} bid")

    publish(0, 70000, "unfilled")  # one tick down: 73,000 (the price 70,000 is further)
    wait_bid(1)
    publish(0, 70000, "unfilled")  # a duplicate of round 0 moves nothing twice
    publish(1, None, "unfilled")  # no price: toward the reservation, 66,000
    wait_bid(2)
    publish(2, 65000, "filled")  # filled: silent
    fence(1)  # a price that is not an integer is counted, never acted on
    publish(3, 50000, "partial")  # the price is below the reservation: stop there, 60,000
    wait_bid(4)
    publish(4, 40000, "unfilled")  # at the reservation: silent
    publish(5, 40000, None)  # the edge has no quote of ours: a revision would be refused
    publish(5, 40000, "unfilled", final=True)  # final: nothing to revise
    fence(2)
    assert revisions() == [(0, 80000), (1, 73000), (2, 66000), (4, 60000)]
    bids = [b for b in col.messages("bid") if b["interval"] == iv]
    assert all(b["side"] == "sell" and b["qty_wh"] == qty for b in bids)
    assert len(fw.events("revise_not_in_book")) == 1
    assert "result price must be an integer" in fw.events("rx_bad")[0]["msg"]
    assert fw.alive
