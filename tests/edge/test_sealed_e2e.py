"""Sealed bids end to end: firmware gateways over TLS, the edge, a hub, and a verifier.

Three firmware gateways on the MicroPython unix port (two PV sellers, one
buyer, as in test_rounds_e2e.py) at a site that requires sealed bids: each
quote and each revision is sealed to the organiser key the edge announced
for its interval and round. Before an interval's gate closes, this test
reads everything an outsider or a curious operator could: the edge's chain
and inbox databases (every table), the retained topics on the broker, the
edge's status page, and the hub's database (the edge's blocks there); no price or quantity
of that interval's quotes is there. After the interval, a verifier with only
the chain redoes every opening with the released private keys and finds
each blob equal to its commitment, written on the chain before the gate.
"""

from __future__ import annotations

import json
import re
import sqlite3
import time

import httpx
import pytest

from edge.chain.store import ChainStore
from edge.chain.verify import verify_store
from edge.clock import Clock
from edge.market import sealed
from edge.protocol.auth import check_signature
from edge.runtime.intervals import Schedule
from tests.edge.helpers import ACCEL, INTERVAL, substation
from tests.kit.edge import result_of
from tests.kit.firmware import TEST_EDGE_SIGNER, TEST_KEY_HEX, gateway_config

MAX_ROUNDS = 3
#: a round every 30 s of market time (0.5 s of wall time at x60): room on a loaded machine for
#: a gateway to verify a result and the next round's key and to seal its revision (~35 ms
#: unloaded on the unix port, docs/firmware.md)
ROUND_S = 30
TICK = 10000
POLICY = {  # as test_rounds_e2e.py: round 0 leaves the buyer out, so they revise
    "gw-01": {"sell_min": 60000, "margin": 20000, "strategy": "toward-price"},
    "gw-02": {"buy_max": 100000, "margin": 40000, "strategy": "toward-price"},
    "gw-03": {"sell_min": 50000, "margin": 40000, "strategy": "toward-price"},
}
GWS = list(POLICY)
SCHED = Schedule(INTERVAL, 60, ROUND_S, MAX_ROUNDS)


def db_text(path) -> str:
    """Every row of every table of a SQLite database, as text (read-only, while it runs)."""
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
    try:
        out = []
        for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'"):
            for row in db.execute(f"SELECT * FROM {name}"):  # noqa: S608 - its own tables
                out.append(" ".join(v.decode("latin-1") if isinstance(v, bytes) else str(v)
                                    for v in row))
        return "\n".join(out)
    finally:
        db.close()


def retained(broker) -> list[tuple[str, dict]]:
    """What a new subscriber to everything gets at once: the retained messages."""
    got: list[tuple[str, dict]] = []
    c = broker.paho("watch")
    c.on_message = lambda _c, _u, m: got.append(
        (m.topic, result_of(m.payload) if m.topic.endswith("/result") else json.loads(m.payload)))
    c.subscribe("site/#", qos=1)
    c.loop_start()
    time.sleep(0.5)
    c.loop_stop()
    c.disconnect()
    return got


def hub_db_path(hub):
    assert hub.db_url.startswith("sqlite:///")
    return hub.db_url[len("sqlite:///"):]


def commitments_in(path, interval: int) -> int:
    """How many sealed-bid commitments of `interval` a database holds (0 while it is made)."""
    try:
        text = db_text(path)
    except sqlite3.OperationalError:
        return 0
    pattern = rf'"interval":{interval},"kid":"[0-9a-f]{{16}}","round":0,"seq"'
    return len(re.findall(pattern, text))


@pytest.mark.timeout(240)
def test_sealed_rounds_nothing_readable_before_the_gate_and_every_opening_checks(
        broker_factory, device_servers, firmware_factory, edge_factory, hub_factory):
    hub = hub_factory().start(timeout_s=90)  # a loaded 2-core machine starts it slowly
    sub = substation(broker_factory, device_servers, firmware_factory, edge_factory, GWS,
                     MAX_ROUNDS, policy=POLICY, tick=TICK, sealed=True, hub=hub, round_s=ROUND_S)
    edge, fws, clock = sub.edge, sub.gateways, sub.clock
    inbox_db, chain_db = edge.data / "inbox.db", edge.data / "chain.db"

    # -- before a gate: snapshot everything while all three sealed quotes are in ----------
    snap, iv = None, None
    deadline = time.monotonic() + 90
    while snap is None and time.monotonic() < deadline:
        now = clock.now_s()
        cand = SCHED.next_open(now)
        if commitments_in(chain_db, cand) < len(GWS) or SCHED.gate(cand) - now < 60:
            time.sleep(0.1)
            continue
        # the edge pushes its blocks within a second: wait for the commitments on the hub
        while (commitments_in(hub_db_path(hub), cand) < len(GWS)
               and SCHED.gate(cand) - clock.now_s() > 40):
            time.sleep(0.1)
        taken = {"hub": db_text(hub_db_path(hub)), "inbox": db_text(inbox_db),
                 "chain": db_text(chain_db), "status": json.dumps(edge.status()),
                 "retained": json.dumps(retained(sub.broker))}
        if clock.now_s() < SCHED.gate(cand):  # all of it read before the gate closed
            snap, iv = taken, cand
    assert snap is not None, "no interval with three sealed quotes seen before its gate"
    assert commitments_in(hub_db_path(hub), iv) >= len(GWS), "not on the hub before the gate"
    # and the hub serves an edge's blocks to that edge and the operator only
    assert httpx.get(f"{hub.url}/v1/edges/{edge.edge_id}/blocks/0").status_code == 401
    assert hub.operator("GET", f"/v1/edges/{edge.edge_id}/blocks/0").status_code == 200

    # -- the interval clears; wait for an interval settled after sealed revisions too -----
    def done(s: dict) -> bool:
        return (any(r["interval"] == iv and r["final"] for r in s["results"])
                and any(r["final"] and r["round"] > 0 for r in s["results"]))

    st = edge.wait(done, 60, "the snapshotted interval and one with revisions settled")
    assert st["counters"]["rejected"] == {}, st["counters"]["rejected"]
    for fw in fws:
        fw.stop()
    edge.wait(lambda s: s["chain"]["pending"] == 0, 10, "flush")
    assert edge.stop() == 0
    with ChainStore(chain_db) as store:
        assert verify_store(store, producers=[edge.edge_id]).ok
        txs = [json.loads(t) for h in range(store.height() + 1) for t in store.get(h).txs]
    assert not [t for t in txs if t["type"] == "bid"], "a plain bid reached the chain"

    # -- a verifier with only the chain: every opening of every interval -------------------
    commits = {(t["gw"], t["seq"]): t for t in txs if t["type"] == "sealed_bid"}
    keys = {(t["interval"], t["round"]): t for t in txs if t["type"] == "organiser_key"}
    opened_all = []
    for r in (t for t in txs if t["type"] == "result" and "sealed" in t):
        check_signature(r, edge.edge_id)
        op, rv = r["sealed"], r["interval"]
        announced = keys[(rv, op["round"])]
        check_signature(announced, edge.edge_id)
        k = sealed.OrganiserKey.from_private_bytes(rv, op["round"], bytes.fromhex(op["private"]))
        assert k.public.hex() == announced["pub"]  # the released key is the announced one
        assert op["refused"] == []
        for o in op["opened"]:
            c = commits[(o["gw"], o["seq"])]
            assert (c["interval"], c["round"], c["kid"]) == (rv, op["round"], announced["kid"])
            # the blob is the committed one and opens to the published quote
            sealed.verify_opening(bytes.fromhex(o["blob"]), c["commitment"], o["price"],
                                  o["qty_wh"], bytes.fromhex(op["private"]), o["gw"], rv,
                                  op["round"])
            opened_all.append({**o, "interval": rv})
    # every commitment of a cleared round was opened; sealed revisions (rounds > 0) among them
    cleared = {(o["interval"], o["round"]) for o in opened_all}
    assert sorted((o["gw"], o["seq"]) for o in opened_all) == sorted(
        g for g, c in commits.items() if (c["interval"], c["round"]) in cleared)
    assert any(o["round"] > 0 for o in opened_all)
    mine = [o for o in opened_all if o["interval"] == iv]
    assert {o["gw"] for o in mine if o["round"] == 0} == set(GWS)
    # the opening quotes are the policies' (reservation -/+ margin)
    assert {o["gw"]: o["price"] for o in mine if o["round"] == 0} == {
        "gw-01": 80000, "gw-02": 60000, "gw-03": 90000}
    results = [t for t in txs if t["type"] == "result" and t["interval"] == iv]
    # -- nothing of the snapshotted interval's quotes was readable before its gate --------
    round0 = [o for o in mine if o["round"] == 0]
    private0 = [r["sealed"]["private"] for r in results if r["sealed"]["round"] == 0]
    for where, text in snap.items():
        flat = text.replace(" ", "")
        for o in round0:
            assert f'"price":{o["price"]}' not in flat, where
            assert f'"qty_wh":{o["qty_wh"]}' not in flat, where
            assert o["blob"] not in text or where == "inbox", where  # ciphertext, kept there
        assert private0 and private0[0] not in text, where  # the key only after the gate
    # the gateways sealed every quote and refused nothing from the edge
    for fw in fws:
        assert fw.events("bid") and all(b["sealed"] for b in fw.events("bid")), fw.config["gw"]
        assert not fw.events("rx_forged") and not fw.events("rx_bad")


@pytest.mark.timeout(180)
def test_real_gateways_refusals_at_a_sealed_site(broker_factory, device_servers,
                                                 firmware_factory, edge_factory):
    """A gateway provisioned with another edge key refuses every organiser key announcement
    (not signed by the edge it trusts: rx_forged) and, not configured for sealed bids, quotes in
    plain text, which the sealed site refuses (plaintext_bid); a gateway provisioned right seals
    and is taken. A third one with `sealed` set and the wrong key holds its quotes: nothing
    in plain text ever leaves it."""
    gws = ["gw-01", "gw-02", "gw-03"]
    broker = broker_factory(tls=True, acl=True, gateways=gws)
    devices = device_servers(meters=3, batteries=0, accel=ACCEL, start="2024-06-21T09:00:00")
    host, port = devices.tcp()
    wall = int(time.time() * 1000)
    origin = (wall // (INTERVAL * 1000) + 1) * INTERVAL * 1000 - 200_000
    clock = Clock(ACCEL, wall, origin)
    edge = edge_factory(
        broker, dict.fromkeys(gws, TEST_KEY_HEX),
        clock={"accel": ACCEL, "origin_wall_ms": wall, "origin_sim_ms": origin},
        admission={"past_s": 3600, "future_s": 600},
        market={"interval_s": INTERVAL, "gate_s": 60, "round_s": 30, "max_rounds": 1,
                "sealed": True},
        pl={"backend": "sim"})
    assert TEST_EDGE_SIGNER != edge.edge_id  # the kit's fixed test key is not this edge's
    setup = {"gw-01": (edge.edge_id, True), "gw-02": (TEST_EDGE_SIGNER, False),
             "gw-03": (TEST_EDGE_SIGNER, True)}
    fws = {}
    for i, (gw, (signer, sealed_only)) in enumerate(setup.items(), start=1):
        dev = [{"name": f"m{i}", "kind": "meter", "unit": i, "host": host, "port": port,
                "max_w": 40000}]
        cfg = gateway_config(broker, dev, gw=gw, interval_s=INTERVAL, poll_ms=100,
                             telemetry_every=5, edge_signer=signer, sealed=sealed_only,
                             clock={"accel": int(ACCEL), "start_ms": clock.now_ms()})
        fws[gw] = firmware_factory(cfg)
    st = edge.wait(lambda s: s["counters"]["rejected"].get("plaintext_bid", 0) >= 1
                   and s["counters"]["all"].get("accepted:bid", 0) >= 1, 60,
                   "a plain bid refused and a sealed one taken")
    fws["gw-02"].wait_for("rx_forged")
    fws["gw-03"].wait_for("bid_held", timeout=30)
    assert not fws["gw-01"].events("rx_forged")
    # only gw-02 sent plain bids; gw-01's were sealed; gw-03 sent none
    assert all(b["sealed"] for b in fws["gw-01"].events("bid"))
    assert fws["gw-02"].events("bid") and not any(b["sealed"] for b in fws["gw-02"].events("bid"))
    assert not fws["gw-03"].events("bid")
    assert set(st["counters"]["rejected"]) == {"plaintext_bid"}, st["counters"]["rejected"]
    for fw in fws.values():
        fw.stop()
    assert edge.stop() == 0
    db = sqlite3.connect(edge.data / "inbox.db")
    try:
        gws_in = {g for (g,) in db.execute("SELECT DISTINCT gw FROM inbox WHERE type = 'bid'")}
    finally:
        db.close()
    assert gws_in == {"gw-01"}
