"""Replay: an edge's chain rebuilt from its input journal is the same chain, byte for byte.

The edge runs as in production (writer and ticker threads) on a stepped wall
clock without a broker; two bidders trade one interval, blocks are cut on
the block age. The journal is then replayed into a fresh edge and every
block hash must equal the recorded one; a tampered line must be found, at
the height and field where the chain first differs.
"""

from __future__ import annotations

import json

import pytest

from edge.chain.store import ChainStore
from edge.clock import Clock
from edge.runtime.journal import JournalError
from edge.runtime.replay import replay
from edge.runtime.service import EdgeService
from tests.edge.helpers import SITE, bid, telemetry, topic
from tests.kit.edge import LoopbackLink, loopback_edge, wait_until

KEYS = {"gw1": bytes([1]) * 32, "gw2": bytes([2]) * 32}
T = 1_800_000_000 - 1_800_000_000 % 900 + 900  # an interval start (s)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """One interval traded on a journalled edge; returns (data folder, chain heights)."""
    tmp = tmp_path_factory.mktemp("replay")
    svc, wall, link = loopback_edge(tmp, SITE, KEYS, (T - 600) * 1000, site={"journal": True},
                                    market={"max_rounds": 2},
                                    blocks={"max_txs": 3})
    cfg = svc.cfg
    svc.start()
    try:
        t0 = wall()
        for gw in KEYS:
            link.deliver(topic(gw, "telemetry"), telemetry(gw, 1, t0, KEYS[gw]), t0)
        link.deliver(topic("gw1", "bid"), bid("gw1", 2, t0, KEYS["gw1"], T, "sell", 1000,
                                               50_000), t0)
        link.deliver(topic("gw2", "bid"), bid("gw2", 2, t0, KEYS["gw2"], T, "buy", 600,
                                               70_000), t0)
        wait_until(lambda: len(link.acked) == 4, what="four messages acknowledged")
        wall.advance(30_000)
        wait_until(lambda: svc.store.height() >= 1, what="the first two blocks (max_txs 3)")
        wall.set((T - 60) * 1000)  # the gate: round 0 clears
        wait_until(lambda: any(t.endswith("/result") for t, _, _ in link.published),
                   what="round 0")
        for step in range(1, 9):  # round 1 (nothing revised: final), blocks on their age
            seq = step + 2
            t = wall.advance(15_000)
            link.deliver(topic("gw1", "telemetry"), telemetry("gw1", seq, t, KEYS["gw1"]), t)
            wait_until(lambda n=step: len(link.acked) == 4 + n, what="telemetry acknowledged")
        wait_until(lambda: svc.inbox.market.final_results(10), what="the final round")
        wall.advance(30_000)
        wait_until(lambda: svc.inbox.pending.stats()[0] == 0, what="everything on the chain")
    finally:
        svc.stop()
    with ChainStore(cfg.chain_path, readonly=True) as store:
        height = store.height()
    return cfg.site.data_dir, height


def test_the_replayed_chain_is_byte_identical(run):
    data, height = run
    assert height >= 3  # bids, round 0, round 1 and telemetry made several blocks
    out = replay(data / "journal.jsonl", data / "chain.db")
    assert out.divergence is None, out.divergence
    assert out.blocks == height + 1


def test_without_the_chain_the_journal_hashes_are_the_reference(run):
    data, height = run
    out = replay(data / "journal.jsonl")
    assert out.identical and out.blocks == height + 1


def tampered(data, tmp_path, kind, change):
    """The journal with the first line of ``kind`` changed by ``change(entry)``."""
    lines = (data / "journal.jsonl").read_text().splitlines()
    for i, line in enumerate(lines):
        e = json.loads(line)
        if e["k"] == kind:
            change(e)
            lines[i] = json.dumps(e)
            break
    else:
        raise AssertionError(f"no {kind} line")
    (tmp_path / "edge").mkdir()
    out = tmp_path / "edge" / "journal.jsonl"
    out.write_text("\n".join(lines) + "\n")
    (tmp_path / "edge.pem").write_bytes((data.parent / "edge.pem").read_bytes())
    return out


def test_a_block_cut_later_diverges_at_its_ts(run, tmp_path):
    data, _ = run

    def later(e):
        e["wall"] += 1

    out = replay(tampered(data, tmp_path, "block", later), data / "chain.db")
    d = out.divergence
    assert d is not None and (d.height, d.field) == (0, "ts")
    assert "diverged at height 0 (ts)" in d.sentence()


def test_a_changed_message_is_refused_on_replay(run, tmp_path):
    data, _ = run

    def cheaper(e):
        e["msgs"][0]["p"] = e["msgs"][0]["p"].replace('"seq":1', '"seq":9')

    out = replay(tampered(data, tmp_path, "batch", cheaper), data / "chain.db")
    d = out.divergence
    assert d is not None and d.field == "admission" and d.height == 0
    assert "bad_tag" in d.detail or "tag" in d.detail


def test_a_round_cleared_at_another_time_diverges(run, tmp_path):
    data, _ = run
    lines = [json.loads(x) for x in (data / "journal.jsonl").read_text().splitlines()]
    clearing = [e for e in lines if e["k"] == "tick" and e["now"] >= (T - 60) * 1000][0]

    # the round's tick one millisecond later: the result's ts (on the chain) differs
    path = tmp_path / "edge"
    path.mkdir()
    for e in lines:
        if e == clearing:
            e["now"] += 1
    (path / "journal.jsonl").write_text("".join(json.dumps(e) + "\n" for e in lines))
    (tmp_path / "edge.pem").write_bytes((data.parent / "edge.pem").read_bytes())
    out = replay(path / "journal.jsonl", data / "chain.db")
    assert out.divergence is not None and out.divergence.field == "root"


def test_a_journal_that_is_not_one_says_which_line(tmp_path):
    p = tmp_path / "journal.jsonl"
    p.write_text('{"k": "tick", "now": 1, "wall": 1}\n')
    with pytest.raises(JournalError, match="line 1"):
        replay(p)
    p.write_text("not json\n")
    with pytest.raises(JournalError, match="line 1 is not JSON"):
        replay(p)


def test_a_sealed_bid_site_replays_its_keys_commitments_and_openings(tmp_path):
    """At a sealed-bid site the chain carries organiser keys (announced on ticks), the bids'
    commitments and, after the gate, the openings with the round's private key: all of it
    comes back byte for byte, the keys derived again from the edge key."""
    from edge.market import sealed
    from edge.protocol.auth import add_tag
    from edge.protocol.canonical import canonical

    svc, wall, link = loopback_edge(tmp_path, SITE, KEYS, (T - 600) * 1000, site={"journal": True},
                                    market={"sealed": True}, blocks={"max_txs": 4})
    cfg = svc.cfg
    svc.start()
    try:
        key_topic = f"site/{SITE}/market/{T}/key"
        wait_until(lambda: any(t == key_topic for t, _, _ in link.published),
                   what="round 0's key of T")
        ann = [json.loads(p) for t, p, _ in link.published if t == key_topic][-1]
        _, _, pub = sealed.check_announcement(ann, svc.edge_id)
        t0 = wall()
        for i, (gw, side, qty, price) in enumerate([("gw1", "sell", 1000, 50_000),
                                                    ("gw2", "buy", 600, 70_000)]):
            body = {"v": 1, "type": "bid", "site": SITE, "gw": gw, "seq": 1, "ts": t0,
                    "interval": T, "side": side, "round": 0, "kid": sealed.key_id(pub),
                    "sealed": sealed.seal(price, qty, pub, gw, T, 0).hex()}
            link.deliver(topic(gw, "bid"), canonical(add_tag(body, KEYS[gw])), t0)
            wait_until(lambda n=i: len(link.acked) == n + 1, what="the sealed bid taken")
        wall.set((T - 60) * 1000)
        wait_until(lambda: svc.inbox.market.final_results(10), what="the opened round")
        wall.advance(30_000)
        wait_until(lambda: svc.inbox.pending.stats()[0] == 0, what="everything on the chain")
    finally:
        svc.stop()
    with ChainStore(cfg.chain_path, readonly=True) as store:
        height = store.height()
        kinds = {json.loads(tx)["type"] for h in range(height + 1) for tx in store.get(h).txs}
    assert {"organiser_key", "sealed_bid", "result", "settlement"} <= kinds, kinds
    out = replay(cfg.journal_path, cfg.chain_path)
    assert out.divergence is None, out.divergence
    assert out.blocks == height + 1


def test_a_restart_replays_as_a_new_edge_on_the_same_folder(tmp_path):
    """Stopped and started again (as systemd does), the edge rebuilds its books from the
    inbox; the journal says so (a config and a start line) and the replay does the same."""
    svc, wall, link = loopback_edge(tmp_path, SITE, KEYS, (T - 600) * 1000, site={"journal": True})
    cfg = svc.cfg
    svc.start()
    try:
        t0 = wall()
        link.deliver(topic("gw1", "bid"), bid("gw1", 1, t0, KEYS["gw1"], T, "sell", 1000,
                                               50_000), t0)
        wait_until(lambda: len(link.acked) == 1, what="the first bid")
        wall.advance(30_000)
        wait_until(lambda: svc.store.height() == 0, what="the first block")
    finally:
        svc.stop()
    wall.advance(60_000)
    link = LoopbackLink()
    svc = EdgeService(cfg, clock=Clock(wall=wall), link=link)  # the restart
    svc.start()
    try:
        t1 = wall()
        link.deliver(topic("gw2", "bid"), bid("gw2", 1, t1, KEYS["gw2"], T, "buy", 600,
                                               70_000), t1)
        wait_until(lambda: len(link.acked) == 1, what="the second bid")
        wall.set((T - 60) * 1000)
        wait_until(lambda: svc.inbox.market.final_results(10), what="the round after it")
        wall.advance(30_000)
        wait_until(lambda: svc.inbox.pending.stats()[0] == 0, what="everything on the chain")
        [r] = svc.inbox.market.final_results(10)
        assert r["volume_wh"] == 600  # the book rebuilt at the restart held the first bid
    finally:
        svc.stop()
    kinds = [json.loads(x)["k"] for x in cfg.journal_path.read_text().splitlines()]
    assert kinds.count("config") == 2 and kinds.count("start") == 2
    with ChainStore(cfg.chain_path, readonly=True) as store:
        height = store.height()
    out = replay(cfg.journal_path, cfg.chain_path)
    assert out.divergence is None, out.divergence
    assert out.blocks == height + 1 >= 2
