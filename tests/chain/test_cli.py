"""The chain from the command line, as a user runs it."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys


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
    conn.execute("UPDATE txs SET data = '{}' WHERE height = 2 AND idx = 0")
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
