"""Clock skew end to end: a gateway 2 minutes ahead of its edge, the edge 5 minutes off the hub.

The edge process runs 5 minutes behind real time (the hub's time): a
sitecustomize shim shifts its `time.time` (libfaketime breaks CPython's
`time.sleep` with EINVAL, so it cannot be used here); gw-02's firmware clock
agrees with the edge, gw-01's runs 2 minutes ahead.
What must hold:

* the skewed gateway's messages are refused as `future_timestamp` and
  counted, and cost the honest gateway nothing (its stream has no gap);
* the edge's sync requests fall outside the hub's request window: sync
  reports `failing` with the hub's reason, blocks keep being made and are
  kept as a backlog, nothing is dropped;
* once the edge's clock is right again the backlog reaches the hub whole.

The skewed gateway's refused readings are gone (the firmware deleted them at
the broker's PUBACK): docs/security.md lists gateway time sync as the fix.
"""

from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path

import pytest

from edge.chain.keys import load_private_key
from tests.kit.firmware import TEST_KEY_HEX, gateway_config

SHIM = """import time as _t
_real, _real_ns = _t.time, _t.time_ns
_t.time = lambda: _real() - {s}
_t.time_ns = lambda: _real_ns() - {s} * 1_000_000_000
"""
EDGE_BEHIND_S = 300
GW_AHEAD_S = 120
GWS = ["gw-01", "gw-02"]
ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow  # a hub, a broker, two firmware gateways and two edge runs: about a minute
@pytest.mark.timeout(240)
def test_gateway_ahead_and_edge_behind_the_hub(broker_factory, device_servers, firmware_factory,
                                               edge_factory, hub_factory, tmp_path):
    shim = tmp_path / "clock-behind"
    shim.mkdir()
    (shim / "sitecustomize.py").write_text(SHIM.format(s=EDGE_BEHIND_S))
    hub = hub_factory().start(timeout_s=90)  # importing the hub takes long on a busy machine
    broker = broker_factory(tls=True, acl=True, gateways=GWS)
    devices = device_servers(meters=2, batteries=0, accel=1.0)
    host, port = devices.tcp()
    edge = edge_factory(broker, dict.fromkeys(GWS, TEST_KEY_HEX), start=False,
                        sync={"url": hub.url, "hub_key": hub.hub_id, "interval_s": 0.3},
                        blocks={"max_txs": 50, "max_age_s": 0.3})
    hub.register(load_private_key(edge.key_path), site="s1")
    edge.start(env={"PYTHONPATH": os.pathsep.join([str(shim),
                                                   os.environ.get("PYTHONPATH", str(ROOT))])})
    edge_now = int(time.time() * 1000) - EDGE_BEHIND_S * 1000
    fws = []
    for i, (gw, ahead) in enumerate([("gw-01", GW_AHEAD_S), ("gw-02", 0)], start=1):
        dev = [{"name": f"m{i}", "kind": "meter", "unit": i, "host": host, "port": port,
                "max_w": 40000}]
        start_ms = int(time.time() * 1000) - EDGE_BEHIND_S * 1000 + ahead * 1000
        fws.append(firmware_factory(gateway_config(
            broker, dev, gw=gw, interval_s=60, poll_ms=200, telemetry_every=2,
            clock={"accel": 1, "start_ms": start_ms})))
    st = edge.wait(lambda s: s["counters"]["accepted"].get("telemetry", 0) >= 5
                   and s["counters"]["rejected"].get("future_timestamp", 0) >= 5
                   and s["sync"].get("state") == "failing" and s["chain"]["height"] >= 1,
                   60, "skewed telemetry refused, honest accepted, sync failing")
    assert abs(st["now_ms"] - edge_now) < 60_000  # the edge does run 5 minutes behind
    assert "stale_request" in st["sync"]["error"] or "window" in st["sync"]["error"], st["sync"]
    assert st["sync"].get("acked_height", -1) < st["chain"]["height"]
    assert st["gateways"]["gw-02"]["state"] == "online"
    for fw in fws:
        fw.stop()
    time.sleep(1)
    assert edge.stop() == 0
    db = sqlite3.connect(edge.data / "inbox.db")
    by_gw = dict(db.execute("SELECT gw, COUNT(*) FROM inbox WHERE type = 'telemetry' GROUP BY gw"))
    seqs = [r[0] for r in db.execute(
        "SELECT seq FROM inbox WHERE gw = 'gw-02' AND space = 'data' ORDER BY seq")]
    db.close()
    assert "gw-01" not in by_gw and by_gw["gw-02"] >= 5
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))  # the honest stream has no gap
    # the clock is put right: the backlog reaches the hub whole
    edge.start()
    st = edge.wait(lambda s: s["sync"].get("state") == "ok" and s["chain"]["pending"] == 0
                   and s["sync"].get("acked_height") == s["chain"]["height"], 40,
                   "the hub to hold the whole backlog")
    assert st["chain"]["height"] >= 1
    assert edge.stop() == 0
