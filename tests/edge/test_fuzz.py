"""10,000 bad messages from a hostile gateway while good gateways keep trading.

Every kind of bad input is sent a known number of times by a paho publisher
holding a real gateway certificate (so the broker's ACL lets it through);
the edge must count each rejection under its reason, exactly, and lose none
of the good gateways' messages.
"""

from __future__ import annotations

import json
import sqlite3
import time

from edge.clock import Clock
from edge.protocol.canonical import canonical
from edge.runtime.intervals import Schedule
from tests.edge.helpers import bid, telemetry, topic

GOOD = {"gw-01": bytes([1]) * 32, "gw-02": bytes([2]) * 32}
BAD = {"gw-03": bytes([3]) * 32, "gw-04": bytes([4]) * 32}
ACCEL = 30.0
SCHED = Schedule(interval_s=300, gate_s=30, round_s=10, max_rounds=1)

#: kind -> (count, reason label the edge must count it under)
PLAN = {
    "malformed": (2000, "malformed"),
    "oversize": (1000, "oversize"),
    "huge": (3, "oversize"),  # 2 MiB each: the edge's reader keeps 16 KiB + 1 of each
    "bad_tag": (2500, "bad_tag"),
    "replay": (2500, "duplicate"),
    "float": (1000, "float_not_allowed"),
    "spoofed_gw": (1000, "topic_mismatch"),
}


def fuzz_messages(clock: Clock, accepted: list[tuple[str, bytes]]) -> list[tuple[str, bytes, str]]:
    """(topic, payload, kind) for every bad message, interleaved by kind."""
    out: list[tuple[str, bytes, str]] = []
    k3 = BAD["gw-03"]
    for i in range(PLAN["malformed"][0]):
        out.append((topic("gw-03", "telemetry"), b'{"v":1,"type":' + bytes([65 + i % 26]),
                    "malformed"))
    for _ in range(PLAN["oversize"][0]):
        out.append((topic("gw-04", "telemetry"), b"{" + b" " * 17_000 + b"}", "oversize"))
    for _ in range(PLAN["huge"][0]):
        out.append((topic("gw-04", "telemetry"), b"{" + b" " * (2 << 20) + b"}", "huge"))
    for i in range(PLAN["bad_tag"][0]):
        out.append((topic("gw-03", "telemetry"),
                    telemetry("gw-03", 10_000 + i, clock.now_ms(), bytes(32)), "bad_tag"))
    for i in range(PLAN["replay"][0]):
        t, p = accepted[i % len(accepted)]
        out.append((t, p, "replay"))
    for i in range(PLAN["float"][0]):
        body = json.loads(telemetry("gw-04", 20_000 + i, clock.now_ms(), BAD["gw-04"]))
        raw = canonical(body).replace(b'"p_w":1500', b'"p_w":1500.5')
        out.append((topic("gw-04", "telemetry"), raw, "float"))
    for i in range(PLAN["spoofed_gw"][0]):
        # gw-04 may only write its own topics; it puts gw-01's name in the payload
        out.append((topic("gw-04", "telemetry"),
                    telemetry("gw-01", 50_000 + i, clock.now_ms(), k3), "spoofed_gw"))
    # interleave kinds so no kind arrives as one block
    out.sort(key=lambda x: hash(x[1]) % 997)
    return out


def test_ten_thousand_bad_messages_counted_and_nothing_good_lost(broker_factory, edge_factory):
    broker = broker_factory(tls=True, acl=True, gateways=[*GOOD, *BAD])
    wall = int(time.time() * 1000)
    origin = (wall // 300_000 + 1) * 300_000 + 30_000
    clock = Clock(ACCEL, wall, origin)
    edge = edge_factory(
        broker, {g: k.hex() for g, k in {**GOOD, **BAD}.items()},
        clock={"accel": ACCEL, "origin_wall_ms": wall, "origin_sim_ms": origin},
        admission={"past_s": 86_400, "future_s": 600},
        market={"interval_s": 300, "gate_s": 30, "round_s": 10, "max_rounds": 1},
        blocks={"max_txs": 1000, "max_age_s": 5})
    pubs = {}
    for g in [*GOOD, *BAD]:
        c = broker.paho(g)
        c.loop_start()
        pubs[g] = c
    # gw-03 first sends 50 valid messages: these are accepted, then replayed by the fuzzer
    valid3 = [(topic("gw-03", "telemetry"), telemetry("gw-03", s, clock.now_ms(), BAD["gw-03"]))
              for s in range(1, 51)]
    for t, p in valid3:
        pubs["gw-03"].publish(t, p, qos=1).wait_for_publish(10)
    edge.wait(lambda s: s["counters"]["accepted"].get("telemetry", 0) == 50, 20, "50 valid")

    T = SCHED.next_open(clock.now_s())
    good_sent: dict[str, list[int]] = {g: [] for g in GOOD}
    seqs = {g: iter(range(1, 10**6)) for g in GOOD}
    bids = {"gw-01": ("sell", 3000, 70_000), "gw-02": ("buy", 2000, 110_000)}
    infos = []
    for g, (side, qty, price) in bids.items():
        s = next(seqs[g])
        good_sent[g].append(s)
        infos.append(pubs[g].publish(topic(g, "bid"),
                                     bid(g, s, clock.now_ms(), GOOD[g], T, side, qty, price),
                                     qos=1))
    bad = fuzz_messages(clock, valid3)
    assert len(bad) == 10_003
    for i, (t, p, _kind) in enumerate(bad):
        owner = t.split("/")[3]
        infos.append(pubs[owner].publish(t, p, qos=1))
        if i % 100 == 0:  # the good gateways keep sending telemetry all along
            for g in GOOD:
                s = next(seqs[g])
                good_sent[g].append(s)
                infos.append(pubs[g].publish(topic(g, "telemetry"),
                                             telemetry(g, s, clock.now_ms(), GOOD[g]), qos=1))
    for info in infos:
        info.wait_for_publish(60)

    n_good = sum(len(v) for v in good_sent.values())
    st = edge.wait(
        lambda s: sum(s["counters"]["rejected"].values()) >= 10_003
        and s["counters"]["accepted"].get("telemetry", 0) + s["counters"]["accepted"].get(
            "bid", 0) >= 50 + n_good, 90, "every message processed")
    want: dict[str, int] = {}
    for count, reason in PLAN.values():
        want[reason] = want.get(reason, 0) + count
    assert st["counters"]["rejected"] == want  # every rejection counted, under its reason
    assert st["counters"]["accepted"] == {"telemetry": 50 + n_good - 2, "bid": 2}
    # the market carried on: the good gateways' interval cleared
    st = edge.wait(lambda s: any(r["interval"] == T and r["final"] for r in s["results"]), 30,
                   "the interval to clear")
    final = [r for r in st["results"] if r["interval"] == T and r["final"]][0]
    assert final["volume_wh"] == 2000 and final["price"] == 70_000
    assert edge.stop() == 0
    db = sqlite3.connect(edge.data / "inbox.db")
    stored = {(g, s) for g, s in db.execute("SELECT gw, seq FROM inbox WHERE gw IN (?, ?)",
                                            tuple(GOOD))}
    assert stored == {(g, s) for g, ss in good_sent.items() for s in ss}  # nothing lost
    for c in pubs.values():
        c.loop_stop()
        c.disconnect()
