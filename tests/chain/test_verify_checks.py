"""`chain verify` against what a self-consistent store can still get wrong.

Each case is a store that passes the link/root/signature walk on its own:
its tail cut off, wiped, re-signed under another key, its pages corrupted.
Verify must say so in one line with exit 1, and never write the file.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import subprocess
import sys

import pytest

from edge.chain.block import make_block
from edge.chain.keys import generate_key, public_id
from edge.chain.store import ChainStore


def run(*args, cwd):
    return subprocess.run(
        [sys.executable, "-m", "edge.cli", "chain", *args], cwd=cwd, capture_output=True,
        text=True, env={**os.environ, "PYTHONPATH": os.getcwd()})


def build(path, keys, chain="c"):
    """One block per key in `keys`, heights 0.. in order."""
    with ChainStore(path) as store:
        for key in keys:
            h = store.height() + 1
            store.append(make_block(chain=chain, height=h, prev=store.head_hash(),
                                    txs=[{"kind": "demo", "i": h}], ts=1_000 + h, key=key))


def cut_tail(path, keep: int):
    db = sqlite3.connect(path)
    db.execute("DELETE FROM blocks WHERE height > ?", (keep,))
    db.execute("DELETE FROM block_txs WHERE height > ?", (keep,))
    db.commit()
    db.close()


def one_line_failure(r):
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert "Traceback" not in r.stderr and "FAILED" not in r.stderr
    lines = r.stdout.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("FAILED"), r.stdout
    return lines[0]


def test_tail_truncation_against_the_trust_file(tmp_path):
    key = generate_key()
    build(tmp_path / "c.db", [key] * 3)
    r = run("verify", "--db", "c.db", "--trust", "t.json", cwd=tmp_path)
    assert r.returncode == 0 and r.stdout.strip() == "ok: 3 blocks, head 2"
    rec = json.loads((tmp_path / "t.json").read_text())
    assert rec["height"] == 2 and rec["producer"] == public_id(key.public_key())
    cut_tail(tmp_path / "c.db", keep=1)
    # still a perfectly linked, signed chain of 2 blocks on its own
    assert run("verify", "--db", "c.db", cwd=tmp_path).returncode == 0
    line = one_line_failure(run("verify", "--db", "c.db", "--trust", "t.json", cwd=tmp_path))
    assert line == ("FAILED at height 2: tail truncated: the store ends at height 1 but the "
                    "trust file records height 2")


def test_a_rewritten_head_differs_from_the_trust_file(tmp_path):
    key = generate_key()
    build(tmp_path / "c.db", [key] * 3)
    assert run("verify", "--db", "c.db", "--trust", "t.json", cwd=tmp_path).returncode == 0
    cut_tail(tmp_path / "c.db", keep=1)
    with ChainStore(tmp_path / "c.db") as store:  # a different block 2, validly signed
        store.append(make_block(chain="c", height=2, prev=store.head_hash(),
                                txs=[{"kind": "other"}], ts=5_000, key=key))
    line = one_line_failure(run("verify", "--db", "c.db", "--trust", "t.json", cwd=tmp_path))
    assert line == "FAILED at height 2: block 2 differs from the trust file"


def test_tail_truncation_against_the_edge_inbox(tmp_path):
    key = generate_key()
    build(tmp_path / "chain.db", [key] * 4)
    cut_tail(tmp_path / "chain.db", keep=2)
    inbox = sqlite3.connect(tmp_path / "inbox.db")
    inbox.execute("CREATE TABLE meta (k TEXT PRIMARY KEY, v TEXT NOT NULL)")
    inbox.execute("INSERT INTO meta VALUES ('flushed_height', '3')")
    inbox.commit()
    inbox.close()
    line = one_line_failure(run("verify", "--db", "chain.db", cwd=tmp_path))
    assert "the store ends at height 2 but the edge inbox's last written block records " \
           "height 3" in line
    assert run("verify", "--db", "chain.db", "--inbox", "none", cwd=tmp_path).returncode == 0


def test_an_anchored_block_that_changed(tmp_path):
    key = generate_key()
    build(tmp_path / "chain.db", [key] * 3)
    inbox = sqlite3.connect(tmp_path / "inbox.db")
    inbox.execute("CREATE TABLE receipts (main_height INTEGER PRIMARY KEY, raw BLOB NOT NULL)")
    tx = {"edge": public_id(key.public_key()), "height": 1, "hash": "ab" * 32}
    inbox.execute("INSERT INTO receipts VALUES (7, ?)",
                  (json.dumps({"type": "anchor_receipt", "tx": tx}),))
    inbox.commit()
    inbox.close()
    line = one_line_failure(run("verify", "--db", "chain.db", cwd=tmp_path))
    assert line == "FAILED at height 1: block 1 differs from the anchor receipt (main height 7)"


def test_a_change_of_producer_without_producer_option(tmp_path):
    a, b = generate_key(), generate_key()
    build(tmp_path / "c.db", [a, a, b])  # block 2 signed (validly) by another key
    line = one_line_failure(run("verify", "--db", "c.db", cwd=tmp_path))
    assert line.startswith("FAILED at height 2: producer ")
    assert line.endswith("is not an allowed producer")
    # naming both producers accepts it: the operator says the key changed
    ids = [public_id(k.public_key()) for k in (a, b)]
    assert run("verify", "--db", "c.db", "--producer", ids[0], "--producer", ids[1],
               cwd=tmp_path).returncode == 0


def test_a_chain_restarted_under_a_new_key_against_the_trust_file(tmp_path):
    a, b = generate_key(), generate_key()
    build(tmp_path / "c.db", [a] * 2)
    assert run("verify", "--db", "c.db", "--trust", "t.json", cwd=tmp_path).returncode == 0
    (tmp_path / "c.db").unlink()
    build(tmp_path / "c.db", [b] * 3)
    line = one_line_failure(run("verify", "--db", "c.db", "--trust", "t.json", cwd=tmp_path))
    assert line.startswith("FAILED at height 0: producer ")


@pytest.mark.parametrize("wipe", ["empty tables", "zero bytes"])
def test_a_wiped_store_is_not_ok(tmp_path, wipe):
    if wipe == "empty tables":
        ChainStore(tmp_path / "c.db").close()
    else:
        (tmp_path / "c.db").write_bytes(b"")
    line = one_line_failure(run("verify", "--db", "c.db", cwd=tmp_path))
    assert line == "FAILED: the store holds no blocks (wiped, or not a chain store)"


def test_corrupt_pages_fail_integrity_check(tmp_path):
    key = generate_key()
    build(tmp_path / "c.db", [key] * 40)
    raw = bytearray((tmp_path / "c.db").read_bytes())
    assert len(raw) > 3 * 4096
    raw[2 * 4096: 2 * 4096 + 12] = b"\xff" * 12  # page 3's B-tree header: the file header intact
    (tmp_path / "c.db").write_bytes(bytes(raw))
    line = one_line_failure(run("verify", "--db", "c.db", cwd=tmp_path))
    assert "integrity_check" in line or "not a" in line or "malformed" in line


def test_not_sqlite_is_one_line(tmp_path):
    (tmp_path / "c.db").write_bytes(b"this is not a database" * 100)
    line = one_line_failure(run("verify", "--db", "c.db", cwd=tmp_path))
    assert line == "FAILED: c.db is not an SQLite chain store"


def test_verify_never_writes_the_file_it_checks(tmp_path):
    key = generate_key()
    build(tmp_path / "c.db", [key] * 3)
    before = {p.name for p in tmp_path.iterdir()}
    digest = hashlib.sha256((tmp_path / "c.db").read_bytes()).hexdigest()
    os.chmod(tmp_path / "c.db", 0o444)  # a write would fail loudly
    mtime = os.stat(tmp_path / "c.db").st_mtime_ns
    for args in (["verify", "--db", "c.db"], ["show", "--db", "c.db"],
                 ["export", "--db", "c.db", "--height", "1"]):
        r = run(*args, cwd=tmp_path)
        assert r.returncode == 0, r.stderr
    assert hashlib.sha256((tmp_path / "c.db").read_bytes()).hexdigest() == digest
    assert os.stat(tmp_path / "c.db").st_mtime_ns == mtime
    assert {p.name for p in tmp_path.iterdir()} == before  # no -wal/-shm/-journal left
    # a missing store is a usage error, and verify does not create one
    assert run("verify", "--db", "nope.db", cwd=tmp_path).returncode == 2
    assert not (tmp_path / "nope.db").exists()
