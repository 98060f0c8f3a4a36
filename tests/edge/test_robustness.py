"""What a hostile gateway, a stalled disk, a wrong key and a forked hub must not do to the edge.

- one gateway's poison (a validly tagged message with a huge sequence jump)
  costs only itself while another gateway trades, through a real broker;
- an exception while admitting one message rejects that message only;
- a disk stall longer than SQLite's busy timeout stops nothing: the batch is
  retried with back-off, the stall shows in the status and the metrics, and
  every message is stored and acknowledged once the disk answers;
- the edge refuses to extend a chain produced by another key.
"""

from __future__ import annotations

import sqlite3
import time
from collections import Counter

import pytest
from prometheus_client import generate_latest

from edge.chain.keys import generate_key, save_private_key
from edge.clock import Clock, SteppedWall
from edge.runtime.admission import Policy
from edge.runtime.config import parse_config
from edge.runtime.inbox import Inbox
from edge.runtime.ingest import Admitter, Incoming
from edge.runtime.intervals import Schedule
from edge.runtime.service import EdgeService, StartupRefused
from tests.edge.helpers import SITE, bid, telemetry, topic
from tests.kit.edge import LoopbackLink, wait_until

KEYS = {"gw-01": bytes([1]) * 32, "gw-02": bytes([2]) * 32}
NOW = 1_800_000_000_000


def site_config(tmp_path, key_name="edge.pem", **sections):
    if not (tmp_path / key_name).exists():
        save_private_key(generate_key(), tmp_path / key_name)
    doc = {
        "site": {"id": SITE, "data_dir": str(tmp_path / "data"),
                 "edge_key": str(tmp_path / key_name)},
        "mqtt": {"tls": False},
        "blocks": {"max_txs": 1000, "max_age_s": 0.05},
        "pl": {"backend": "cpu"},
        "status": {"enabled": False},
        "gateways": [{"id": g, "key_hex": k.hex()} for g, k in KEYS.items()],
        **sections,
    }
    return parse_config(doc)


def test_poison_from_one_gateway_while_another_trades(broker_factory, edge_factory):
    broker = broker_factory(tls=False, gateways=list(KEYS))
    edge = edge_factory(broker, {g: k.hex() for g, k in KEYS.items()},
                        admission={"past_s": 3600, "future_s": 600})
    pubs = {g: broker.paho(g) for g in KEYS}
    for c in pubs.values():
        c.loop_start()
    now = int(time.time() * 1000)
    T = Schedule(900, 60).next_open(now / 1000 + 120)  # at least two minutes before its gate
    infos = [pubs["gw-01"].publish(topic("gw-01", "telemetry"),
                                   telemetry("gw-01", 1, now, KEYS["gw-01"]), qos=1)]
    # validly tagged, seq 2**39: a mask shifted by the jump would need 64 GiB
    infos.append(pubs["gw-01"].publish(topic("gw-01", "telemetry"),
                                       telemetry("gw-01", 2**39, now, KEYS["gw-01"]), qos=1))
    infos.append(pubs["gw-01"].publish(topic("gw-01", "telemetry"),
                                       telemetry("gw-01", 2, now, KEYS["gw-01"]), qos=1))
    for s in range(1, 21):  # gw-02 trades and reports all along
        infos.append(pubs["gw-02"].publish(topic("gw-02", "telemetry"),
                                           telemetry("gw-02", 2 * s, now, KEYS["gw-02"]), qos=1))
        infos.append(pubs["gw-02"].publish(
            topic("gw-02", "bid"),
            bid("gw-02", 2 * s + 1, now, KEYS["gw-02"], T, "buy", 100 + s, 90_000), qos=1))
    for info in infos:
        info.wait_for_publish(30)
    st = edge.wait(lambda s: sum(s["counters"]["accepted"].values()) == 42
                   and sum(s["counters"]["rejected"].values()) == 1, 30, "every message")
    assert st["counters"]["accepted"] == {"telemetry": 22, "bid": 20}
    # after the reset, seq 2 is below the window: refused as a replay, counted
    assert st["counters"]["rejected"] == {"replay": 1}
    # the jump is one counted gap: 2 .. 2**39 - 1
    assert st["counters"]["all"]["gaps"] == 1
    assert st["counters"]["all"]["gap_messages"] == 2**39 - 2
    assert [(g["gw"], g["first"], g["last"]) for g in st["counters"]["gaps"]] == [
        ("gw-01", 2, 2**39 - 1)]
    # gw-02's last quote is in the book: the market kept trading
    book = [r for r in st["book"] if r["interval"] == T]
    assert [(r["participant"], r["qty_wh"]) for r in book] == [("gw-02", 120)]
    for c in pubs.values():
        c.loop_stop()
        c.disconnect()


def test_an_exception_in_admission_rejects_that_message_only(tmp_path):
    inbox = Inbox(tmp_path / "inbox.db")

    def refusal(raw, now_s):
        if raw["gw"] == "gw-01":
            raise RuntimeError("a bug in the market's check")
        return None

    adm = Admitter(SITE, KEYS, Policy(), inbox.messages.windows(), Clock(wall=lambda: NOW),
                   refusal)
    T = 1_800_000_900
    batch = [Incoming(topic(g, "bid"), bid(g, 1, NOW, KEYS[g], T, "buy", 100, 90_000), i, 1, NOW)
             for i, g in enumerate(KEYS)]
    out = adm.process(batch, inbox)
    assert [a.gw for a in out.accepted] == ["gw-02"]
    [(m, r)] = out.rejected
    assert (m.topic, r.reason) == (topic("gw-01", "bid"), "admission_failed")
    assert "RuntimeError" in r.detail
    assert inbox.counters() == {"accepted:bid": 1, "rejected:admission_failed": 1}
    inbox.close()


def test_a_disk_stall_longer_than_the_busy_timeout_stops_nothing(tmp_path):
    cfg = site_config(tmp_path, inbox={"busy_timeout_s": 0.1})
    wall = SteppedWall(NOW)
    link = LoopbackLink()
    svc = EdgeService(cfg, clock=Clock(wall=wall), link=link)
    svc.start()
    try:
        # another writer holds the database: every write waits out the busy timeout and fails
        blocker = sqlite3.connect(cfg.inbox_path, isolation_level=None)
        blocker.execute("BEGIN EXCLUSIVE")
        for s in range(1, 6):
            link.deliver(topic("gw-01", "telemetry"), telemetry("gw-01", s, NOW, KEYS["gw-01"]),
                         NOW)
        wait_until(lambda: svc.summary()["ingest"]["state"] == "stalled", what="the stall")
        wait_until(lambda: svc.summary()["ingest"]["retries"] >= 3, what="three retries")
        assert link.acked == []  # nothing acknowledged that is not on disk
        svc.tick()
        metrics = generate_latest(svc.registry).decode()
        assert "carbon_edge_ingest_stalled 1.0" in metrics
        stall = svc.summary()["ingest"]
        assert stall["since_ms"] == NOW and "locked" in stall["error"]
        blocker.execute("ROLLBACK")
        blocker.close()
        wait_until(lambda: len(link.acked) == 5, what="every message acknowledged")
        assert svc.summary()["ingest"]["state"] == "ok"
        assert svc.counters()["accepted"] == {"telemetry": 5}
        svc.tick()
        assert "carbon_edge_ingest_stalled 0.0" in generate_latest(svc.registry).decode()
    finally:
        svc.stop()


def test_the_edge_refuses_a_chain_another_key_produced(tmp_path):
    cfg = site_config(tmp_path)
    link = LoopbackLink()
    svc = EdgeService(cfg, clock=Clock(wall=lambda: NOW), link=link)
    svc.inbox.pending.add([{"type": "x"}], NOW - 1000)
    svc.blocks.step(NOW)
    assert svc.store.height() == 0
    svc.stop()
    # same data folder, a new key: the edge must not extend the chain under it
    other = site_config(tmp_path, key_name="other.pem")
    with pytest.raises(StartupRefused, match="produced by"):
        EdgeService(other, clock=Clock(wall=lambda: NOW), link=LoopbackLink())
    # the own key still starts
    again = EdgeService(cfg, clock=Clock(wall=lambda: NOW), link=LoopbackLink())
    assert again.store.height() == 0
    again.stop()


def test_the_cli_refuses_a_foreign_chain_with_one_line(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    from tests.kit.edge import to_toml

    cfg = site_config(tmp_path)
    svc = EdgeService(cfg, clock=Clock(wall=lambda: NOW), link=LoopbackLink())
    svc.inbox.pending.add([{"type": "x"}], NOW - 1000)
    svc.blocks.step(NOW)
    svc.stop()
    save_private_key(generate_key(), tmp_path / "other.pem")
    doc = {"site": {"id": SITE, "data_dir": str(tmp_path / "data"),
                    "edge_key": str(tmp_path / "other.pem")},
           "mqtt": {"tls": False}, "status": {"enabled": False},
           "gateways": [{"id": "gw-01", "key_hex": KEYS["gw-01"].hex()}]}
    (tmp_path / "site.toml").write_text(to_toml(doc))
    root = Path(__file__).resolve().parents[2]
    r = subprocess.run([sys.executable, "-m", "edge.cli", "edge", "run", "--config",
                        str(tmp_path / "site.toml")], capture_output=True, text=True, cwd=root,
                       timeout=60)
    assert r.returncode == 2, r.stderr
    assert r.stderr.count("\n") == 1 and "produced by" in r.stderr


def test_counters_of_the_stall_are_not_lost(tmp_path):
    """Counters written while the disk was stalled arrive with their batch, once."""
    inbox = Inbox(tmp_path / "inbox.db", busy_timeout_s=0.05)
    blocker = sqlite3.connect(tmp_path / "inbox.db", isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")
    with pytest.raises(sqlite3.OperationalError):
        inbox.count(Counter({"x": 1}))
    blocker.execute("ROLLBACK")
    inbox.count(Counter({"x": 1}))
    assert inbox.counters() == {"x": 1}
    inbox.close()
