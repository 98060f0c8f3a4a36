"""The chain from the command line, as a user runs it."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys

from edge.chain.packed import pack, unpack_all


def run(*args, cwd):
    return subprocess.run(
        [sys.executable, "-m", "edge.cli", "chain", *args], cwd=cwd, capture_output=True, text=True,
        env={**os.environ, "PYTHONPATH": os.getcwd()},
    )


def test_keygen_append_verify_export_check(tmp_path):
    r = run("keygen", "--out", "k.pem", "--json", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    pub = json.loads(r.stdout)["public_id"]
    assert oct(os.stat(tmp_path / "k.pem").st_mode & 0o777) == "0o600"
    assert run("keygen", "--out", "k.pem", cwd=tmp_path).returncode == 2

    r = run("append-demo", "--db", "c.db", "--key", "k.pem", "--blocks", "3", "--txs", "7",
            "--json", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["height"] == 2

    r = run("verify", "--db", "c.db", "--producer", pub, "--json", cwd=tmp_path)
    assert r.returncode == 0 and json.loads(r.stdout)["ok"] is True

    r = run("show", "--db", "c.db", "--height", "1", "--txs", "--json", cwd=tmp_path)
    shown = json.loads(r.stdout)
    assert shown["header"]["height"] == 1 and len(shown["txs"]) == 7

    r = run("export", "--db", "c.db", "--height", "1", "--out", "b.json", cwd=tmp_path)
    assert r.returncode == 0
    r = run("check-proof", "--file", "b.json", "--producer", pub, "--json", cwd=tmp_path)
    assert r.returncode == 0 and json.loads(r.stdout)["checked"] == 7

    # A tampered transaction in the export fails with exit 1 and names it.
    doc = json.loads((tmp_path / "b.json").read_text())
    doc["txs"][4]["tx"]["energy_wh"] += 1
    (tmp_path / "bad.json").write_text(json.dumps(doc))
    r = run("check-proof", "--file", "bad.json", "--json", cwd=tmp_path)
    assert r.returncode == 1 and json.loads(r.stdout)["problems"] == [
        "tx 4: inclusion proof does not lead to the header's root"
    ]

    # A tampered store fails verify with exit 1 and the height.
    conn = sqlite3.connect(tmp_path / "c.db")
    (blob,) = conn.execute("SELECT data FROM block_txs WHERE height = 2").fetchone()
    conn.execute("UPDATE block_txs SET data = ? WHERE height = 2",
                 (pack([b"{}", *unpack_all(blob)[1:]]),))
    conn.commit()
    conn.close()
    r = run("verify", "--db", "c.db", "--json", cwd=tmp_path)
    assert r.returncode == 1
    assert json.loads(r.stdout)["bad_height"] == 2


def test_usage_errors_exit_2(tmp_path):
    assert run("verify", "--db", "missing.db", cwd=tmp_path).returncode == 2
    r = run("check-proof", "--file", "missing.json", cwd=tmp_path)
    assert r.returncode == 2 and "no such file" in r.stderr
    (tmp_path / "k.pem").write_text("x")
    os.chmod(tmp_path / "k.pem", 0o644)
    r = run("append-demo", "--db", "c.db", "--key", "k.pem", cwd=tmp_path)
    assert r.returncode == 2 and "chmod 600" in r.stderr


def test_show_prints_a_table_with_headers_units_and_the_stored_values(tmp_path):
    from edge.chain.block import make_block
    from edge.chain.keys import generate_key
    from edge.chain.store import ChainStore

    key = generate_key()
    with ChainStore(tmp_path / "c.db") as store:
        for h, ts in ((0, 1_700_000_000_000), (1, 1_700_000_000_123)):
            store.append(make_block(chain="feeder-7", height=h, prev=store.head_hash(),
                                    txs=[{"kind": "demo", "i": i} for i in range(h + 2)],
                                    ts=ts, key=key))
    # the expected cells, from the stored bytes with sqlite3 and hashlib only
    import hashlib

    raw = sqlite3.connect(tmp_path / "c.db").execute(
        "SELECT header FROM blocks WHERE height = 1").fetchone()[0]
    stored = json.loads(raw)
    digest = hashlib.sha256(bytes(raw)).hexdigest()

    r = run("show", "--db", "c.db", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == "chain feeder-7 (header version 1)"
    assert [c.strip() for c in lines[1].split("  ") if c.strip()] == [
        "height", "time (UTC, ISO 8601)", "txs", "hash", "prev", "root", "producer"]
    # 1,700,000,000 s after the epoch is 2023-11-14 22:13:20 UTC (19675 days + 80000 s)
    assert lines[2].split() == ["1", "2023-11-14T22:13:20.123Z", "3", digest[:12],
                                stored["prev"][:12], stored["root"][:12],
                                stored["producer"][:12]]
    assert "first 12 hex digits" in lines[3]

    r = run("show", "--db", "c.db", "--height", "0", "--txs", cwd=tmp_path)
    lines = r.stdout.splitlines()
    assert lines[2].split()[:3] == ["0", "2023-11-14T22:13:20.000Z", "2"]
    assert lines[2].split()[4] == "0" * 12
    assert lines[-2:] == ['    0  {"i":0,"kind":"demo"}', '    1  {"i":1,"kind":"demo"}']

    # --json is the whole header for scripts, unchanged
    shown = json.loads(run("show", "--db", "c.db", "--json", cwd=tmp_path).stdout)
    assert shown == {"hash": digest, "header": stored}
