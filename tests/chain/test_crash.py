"""SIGKILL during appends: the store always verifies and keeps every returned append."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time

from edge.chain.keys import save_private_key
from edge.chain.store import ChainStore
from edge.chain.verify import verify_store

WRITER = r"""
import sys, time
from edge.chain.block import make_block
from edge.chain.keys import load_private_key
from edge.chain.store import ChainStore
store = ChainStore(sys.argv[1]); key = load_private_key(sys.argv[2])
while True:
    h = store.height() + 1
    block = make_block(chain="crash", height=h, prev=store.head_hash(), ts=h,
                       txs=[{"h": h, "i": i, "pad": "x" * 200} for i in range(50)], key=key)
    store.append(block)
    print(h, flush=True)
"""


def test_sigkill_at_random_moments_loses_nothing_returned(tmp_path, producer_key):
    db = tmp_path / "crash.db"
    key_path = save_private_key(producer_key, tmp_path / "k.pem")
    rng = random.Random(6962)
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    confirmed = -1
    for _ in range(50):
        proc = subprocess.Popen(
            [sys.executable, "-c", WRITER, str(db), str(key_path)],
            stdout=subprocess.PIPE, text=True, env=env,
        )
        # Wait until the writer has appended at least once, then kill it at a random moment.
        first = proc.stdout.readline()
        assert first, "writer died before appending"
        time.sleep(rng.uniform(0, 0.05))
        proc.send_signal(signal.SIGKILL)
        out, _ = proc.communicate()
        returned = [int(x) for x in (first + out).split()]
        confirmed = max(confirmed, *returned)
        with ChainStore(db) as store:
            report = verify_store(store)
            assert report.ok, report
            assert store.height() >= confirmed, "an append that returned was lost"
    assert confirmed > 50
