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
