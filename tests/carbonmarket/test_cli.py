"""`carbon-edge carbon-market clear`: JSON in, JSON out, clear errors, exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BOOK = ROOT / "docs" / "examples" / "carbon-market" / "book.json"


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "edge.cli", "carbon-market", *args],
                          capture_output=True, text=True, cwd=ROOT, timeout=60,
                          env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})


def test_clear_the_documented_book_as_json():
    proc = run("clear", "--book", str(BOOK), "--json")
    assert proc.returncode == 0, proc.stderr
    res = json.loads(proc.stdout)
    assert [(t["seller"], t["buyer"], t["qty_g"], t["price"], t["turnover_micro"])
            for t in res["trades"]] == [("cec-12", "cec-5", 500, 70_000, 35_000),
                                        ("cec-22", "cec-5", 300, 75_000, 22_500),
                                        ("pvp-6", "cec-5", 400, 65_000, 26_000),
                                        ("pvp-14", "cec-11", 700, 63_500, 44_450)]
    rows = {r["id"]: r for r in res["participants"]}
    assert rows["pvp-14"]["left_g"] == 300 and rows["cec-5"]["money_micro"] == -83_500
    assert rows["pvp-6"]["estimate_g"] == 450 and rows["pvp-6"]["filled_g"] == 400
    assert res["turnover_micro"] == 127_950


@pytest.mark.parametrize("doc,msg", [
    ({"cycle": 1, "participants": [{"id": "a", "role": "cec", "verified_g": 1.5, "price": 1}]},
     "participants[0].verified_g"),
    ({"cycle": 1, "participants": [{"id": "a", "role": "pvp", "verified_g": -5, "price": 1}]},
     "cannot be negative"),
    ({"cycle": 1, "participants": [], "extra": 1}, "extra"),
    ({"cycle": 1, "participants": [{"id": "a", "role": "cec", "verified_g": 1, "price": 1,
                                    "seq": 1},
                                   {"id": "b", "role": "cec", "verified_g": -1, "price": 1}]},
     "seq"),
])
def test_bad_books_exit_2_with_one_sentence(tmp_path, doc, msg):
    path = tmp_path / "book.json"
    path.write_text(json.dumps(doc))
    proc = run("clear", "--book", str(path), "--json")
    assert proc.returncode == 2 and msg in proc.stderr and proc.stdout == ""
    path.write_text("{not json")
    assert run("clear", "--book", str(path)).returncode == 2


def test_verify_export_and_check_a_carbon_chain(tmp_path):
    from edge.chain.keys import generate_key, public_id
    from hub.carbonmarket.twotree import CARBON, TwoTreeChain

    key = generate_key()
    chain = TwoTreeChain(tmp_path / "c.db", CARBON, "carbon", key)
    chain.append([{"kind": "accounting", "participant": "p", "verified_g": 5},
                  {"kind": "lock", "transfer": "t", "amount_micro": 9}], ts=1)
    chain.append([{"kind": "unlock", "transfer": "t", "n": 0, "amount_micro": 9}], ts=2)
    chain.close()
    db = str(tmp_path / "c.db")
    ok = run("verify", "--db", db, "--layout", "carbon", "--producer",
             public_id(key.public_key()), "--json")
    assert ok.returncode == 0 and json.loads(ok.stdout)["blocks"] == 2
    assert run("verify", "--db", db, "--layout", "carbon", "--producer", "ab" * 32).returncode == 1
    assert run("verify", "--db", db, "--layout", "electricity").returncode == 1  # other layout
    proof = run("export-proof", "--db", db, "--layout", "carbon", "--height", "0", "--index", "1")
    assert proof.returncode == 0 and json.loads(proof.stdout)["subtree"] == "toc"
    path = tmp_path / "proof.json"
    path.write_text(proof.stdout)
    assert run("check-proof", "--file", str(path), "--layout", "carbon").returncode == 0
    doc = json.loads(proof.stdout)
    doc["tx"]["amount_micro"] = 10
    path.write_text(json.dumps(doc))
    bad = run("check-proof", "--file", str(path), "--layout", "carbon", "--json")
    assert bad.returncode == 1 and "does not lead" in bad.stdout
    assert run("export-proof", "--db", db, "--layout", "carbon", "--height", "0",
               "--index", "7").returncode == 2


def test_quota_command_from_anchored_evidence(tmp_path):
    from edge.chain.keys import generate_key, public_id

    from .meterkit import evidence, telemetry

    edge_key, hub_key = generate_key(), generate_key()
    docs = evidence([telemetry("pvp-6", 1, 1_000, 5_000), telemetry("pvp-6", 2, 1_900, 7_250)],
                    edge_key, hub_key)
    ev = tmp_path / "ev.json"
    ev.write_text(json.dumps(docs))
    cfg = tmp_path / "delta.json"
    cfg.write_text(json.dumps({"delta_g_per_kwh": 581, "delta_source": "national factor"}))
    args = ["quota", "--evidence", str(ev), "--hub", public_id(hub_key.public_key()),
            "--gw", "pvp-6", "--start", "0", "--end", "86400", "--config", str(cfg),
            "--estimate", "8000", "--json"]
    proc = run(*args)
    assert proc.returncode == 0, proc.stderr
    res = json.loads(proc.stdout)
    assert res["quota_g"] == 7_117 and res["entry"]["estimate_g"] == 8_000  # 581 x 12.25 kWh
    assert res["entry"]["basis"]["delta_source"] == "national factor"
    docs[1]["payload"] = docs[1]["payload"].replace("7250", "9250")
    ev.write_text(json.dumps(docs))
    bad = run(*args)
    assert bad.returncode == 1
    assert json.loads(bad.stdout) | {"message": ""} == \
        {"ok": False, "index": 1, "reason": "bad_evidence", "message": ""}
