"""Disk faults under the edge: fsync and writes fail at random, nothing acknowledged is lost.

The edge runs under libfiu's POSIX preload (what `fiu-run -x` sets up):
fsync/fdatasync fail with EIO at random, and so do some pwrite calls, the
calls SQLite's WAL makes for the inbox and the chain. A failed transaction
must not be acknowledged to the broker, so the broker keeps the message in
the edge's persistent session. After the faulty run the edge is SIGKILLed
and restarted on a sound disk: every message a gateway got a PUBACK for is
in the inbox, every inbox message is on the chain, and the chain verifies.

What this cannot show: a disk that reports a sync as done and then loses
the pages anyway (a lying cache, a power cut under a file system without
barriers). That takes a block device that drops unsynced writes
(dm-log-writes, LazyFS) and root; docs/security.md says so.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest

from edge.chain.store import ChainStore
from edge.chain.verify import verify_store
from tests.edge.helpers import telemetry, topic

GWS = {"gw-01": bytes([1]) * 32, "gw-02": bytes([2]) * 32}
PRELOAD = Path("/usr/lib/fiu")
FAULTS = ["enable_random name=posix/io/sync/fsync,probability=0.3",
          "enable_random name=posix/io/sync/fdatasync,probability=0.3",
          "enable_random name=posix/io/rw/pwrite,probability=0.03"]


def fiu_env(fifo: Path) -> dict[str, str]:
    """The environment `fiu-run -x` gives its program, faults off until `fiu-ctrl` says so."""
    if shutil.which("fiu-ctrl") is None or not (PRELOAD / "fiu_posix_preload.so").exists():
        pytest.skip("libfiu is not installed (apt-get install fiu-utils)")
    return {"FIU_ENABLE": "", "FIU_CTRL_FIFO": str(fifo),
            "LD_PRELOAD": f"{PRELOAD / 'fiu_run_preload.so'} {PRELOAD / 'fiu_posix_preload.so'}"}


def faults_on(fifo: Path, pid: int) -> None:
    """Switch the failure points on in a running process (after its sound start-up)."""
    args = ["fiu-ctrl", "-f", str(fifo)]
    for command in FAULTS:
        args += ["-c", command]
    subprocess.run([*args, str(pid)], check=True, timeout=10)


def stored(inbox: Path) -> set[tuple[str, int]]:
    if not inbox.exists():
        return set()
    db = sqlite3.connect(f"file:{inbox}?mode=ro", uri=True)
    try:
        return set(db.execute("SELECT gw, seq FROM inbox WHERE space = 'data'"))
    except sqlite3.DatabaseError:
        return set()
    finally:
        db.close()


def test_failing_fsync_and_writes_lose_nothing_acknowledged(broker_factory, edge_factory,
                                                           tmp_path):
    fifo = tmp_path / "fiu"
    env = fiu_env(fifo)
    broker = broker_factory(tls=True, acl=True, gateways=list(GWS), persistence=True)
    edge = edge_factory(broker, {g: k.hex() for g, k in GWS.items()}, start=False,
                        admission={"past_s": 3600, "future_s": 600},
                        blocks={"max_txs": 20, "max_age_s": 0.1})
    edge.start(env=env)  # a sound start under the preload, then the disk turns bad
    faults_on(fifo, edge.proc.pid)
    clients = {g: broker.paho(g) for g in GWS}
    for c in clients.values():
        c.loop_start()
    sent: set[tuple[str, int]] = set()
    now = int(time.time() * 1000)
    for seq in range(1, 201):
        for g, key in GWS.items():
            info = clients[g].publish(topic(g, "telemetry"), telemetry(g, seq, now, key), qos=1)
            info.wait_for_publish(10)
            assert info.is_published()  # PUBACK: the gateway would now delete it
            sent.add((g, seq))
        time.sleep(0.01)
    time.sleep(2)  # the edge works (and fails) through its backlog under the faults
    edge.kill()  # the power cut: whatever was in flight is gone
    faulty_log = edge.log(20_000)
    for c in clients.values():
        c.loop_stop()
        c.disconnect()
    # the faults did strike: SQLite reported them as I/O errors
    assert "disk I/O error" in faulty_log, faulty_log[-3000:]
    edge.start()  # a sound disk again
    end = time.monotonic() + 40
    while time.monotonic() < end and not sent <= stored(edge.data / "inbox.db"):
        time.sleep(0.3)
    edge.wait(lambda s: s["chain"]["pending"] == 0, 20, "every accepted message on the chain")
    assert edge.stop() == 0
    have = stored(edge.data / "inbox.db")
    assert sent <= have, f"lost: {sorted(sent - have)[:10]}"
    with ChainStore(edge.data / "chain.db", readonly=True) as store:
        assert verify_store(store, producers=[edge.edge_id]).ok
        txs = [json.loads(t) for h in range(store.height() + 1) for t in store.get(h).txs]
    digests = {(t["gw"], t["seq"]) for t in txs if t["type"] == "telemetry_digest"}
    assert digests == have
    assert len(txs) == len({json.dumps(t, sort_keys=True) for t in txs})  # none twice
