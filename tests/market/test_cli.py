"""`carbon-edge market` end to end, as a user runs it: a subprocess per call."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "docs" / "examples" / "market"


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "edge.cli", "market", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)


def test_clear_worked_example_json():
    r = run("clear", "--book", str(EXAMPLES / "book.json"), "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert (out["price"], out["volume_wh"], out["regime"]) == (125000, 3000, "buyers_market")
    fills = {f["order_id"]: (f["qty_wh"], f["status"], f["money_micro"], f["carbon_g"])
             for f in out["fills"]}
    assert fills == {
        "gw-roof-1": (1500, "filled", 187500, 0),
        "gw-roof-2": (0, "unfilled", 0, 0),
        "gw-coal-feed": (1500, "partial", 187500, -1230),
        "gw-flat-3": (1200, "filled", -150000, 492),
        "gw-shop-4": (1800, "filled", -225000, 738),
        "gw-flat-5": (0, "excluded", 0, 0),
    }
    assert {f["order_id"]: f["limit"] for f in out["fills"]}["gw-coal-feed"] == 125000


def test_clear_text_output():
    r = run("clear", "--book", str(EXAMPLES / "book.json"))
    assert r.returncode == 0
    assert r.stdout.startswith("buyers_market: price 125000 micro/kWh, volume 3000 Wh")


def test_merit_worked_example():
    r = run("clear", "--book", str(EXAMPLES / "merit.json"), "--rules", "merit", "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert (out["price"], out["volume_wh"], out["relaxed"]) == (60000, 500000, False)
    assert out["gen_wh"] == {"pv-1": 150000, "gas-1": 50000, "coal-1": 300000}
    assert out["load_wh"] == {"town": 260000, "factory": 240000}


def test_rounds_worked_example():
    # P5's seller's market (docs/market.md "Rounds"): Q shades from 0.75 to R's 0.72
    r = run("rounds", "--book", str(EXAMPLES / "rounds.json"), "--max-rounds", "10", "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["strategy"] == "best-response" and out["converged"] is True
    assert [(s["round"], s["price"], s["quotes_changed"], s["final"]) for s in out["rounds"]] == [
        (0, 750000, 0, False), (1, 720000, 1, True)]
    assert {f["order_id"]: f["qty_wh"] for f in out["binding"]["fills"]} == {
        "gw-S": 20000, "gw-P": 8000, "gw-Q": 12000, "gw-R": 0}
    # with one round only, round 0 binds and Q would still have moved: not converged
    r = run("rounds", "--book", str(EXAMPLES / "rounds.json"), "--max-rounds", "1", "--json")
    out = json.loads(r.stdout)
    assert out["converged"] is False and [s["round"] for s in out["rounds"]] == [0]
    assert out["binding"]["price"] == 750000


def test_rounds_toward_price_example():
    book = str(EXAMPLES / "rounds-toward-price.json")
    r = run("rounds", "--book", book, "--max-rounds", "10", "--strategy", "toward-price",
            "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["converged"] is True
    assert [s["price"] for s in out["rounds"]] == [None, None, None, 125000]
    assert out["binding"]["volume_wh"] == 1500
    r = run("rounds", "--book", book, "--max-rounds", "2", "--strategy", "toward-price", "--json")
    out = json.loads(r.stdout)
    assert out["converged"] is False and len(out["rounds"]) == 2
    # best response on the same book: no unilateral move trades (docs/market.md)
    out = json.loads(run("rounds", "--book", book, "--max-rounds", "10", "--json").stdout)
    assert out["converged"] is True and [s["price"] for s in out["rounds"]] == [None]


def write(tmp_path: Path, obj) -> str:
    p = tmp_path / "book.json"
    p.write_text(obj if isinstance(obj, str) else json.dumps(obj))
    return str(p)


ORDER = {"id": "a", "side": "buy", "qty_wh": 10, "price": 5}


@pytest.mark.parametrize("book, words", [
    ("{not json", "is not valid JSON (line 1, column 2"),
    ({"orders": [{**ORDER, "qty_wh": 1.5}]}, "orders[0].qty_wh: Input should be a valid integer"),
    ({"orders": [{**ORDER, "side": "ask"}]}, "orders[0].side: Input should be 'buy' or 'sell'"),
    ({"orders": [{**ORDER, "prize": 5}]}, "orders[0].prize: Extra inputs are not permitted"),
    ({"orders": [{**ORDER, "qty_wh": 0}]}, "order 'a' (orders[0]): qty_wh 0 is outside"),
    ({"orders": [ORDER, ORDER]}, "order 'a' (orders[1]): duplicate id"),
    ({"orders": [{**ORDER, "seq": 1}, {**ORDER, "id": "b"}]}, "orders[1] has no seq"),
    ({"generators": []}, "has no \"orders\" list"),
    ({"orders": [ORDER], "adders": {"a": -1}}, "adder of 'a' must be an integer"),
    ({"orders": [ORDER, {**ORDER, "id": "s", "side": "sell"}], "intensity": {}},
     "no carbon intensity for seller 's'"),
    ({"orders": [{**ORDER, "price": -1}], "adders": {"a": 1}}, "price -1 is outside"),
])
def test_bad_books_exit_2_with_one_sentence(tmp_path, book, words):
    r = run("clear", "--book", write(tmp_path, book))
    assert r.returncode == 2
    assert r.stdout == ""
    assert words in r.stderr
    assert r.stderr.startswith("carbon-edge market: ") and r.stderr.count("\n") == 1


def test_merit_needs_units(tmp_path):
    r = run("clear", "--rules", "merit", "--book", write(tmp_path, {"orders": [ORDER]}))
    assert r.returncode == 2 and "needs \"generators\" and \"loads\"" in r.stderr
    book = {"generators": [{"id": "g", "qmin_wh": 5, "qmax_wh": 1, "price": 1}], "loads": []}
    r = run("clear", "--rules", "merit", "--book", write(tmp_path, book))
    assert r.returncode == 2 and "generator 'g' (generators[0]): qmin_wh 5 exceeds" in r.stderr


def test_rounds_bad_input(tmp_path):
    good = write(tmp_path, {"orders": [{**ORDER, "reservation": 7}]})
    r = run("rounds", "--book", good, "--max-rounds", "0")
    assert r.returncode == 2 and "--max-rounds must be at least 1" in r.stderr
    bad = write(tmp_path, {"orders": [{**ORDER, "reservation": -7}]})
    r = run("rounds", "--book", bad, "--max-rounds", "3")
    assert r.returncode == 2 and "limit of 'a' must be an integer in [0, " in r.stderr
    bad = write(tmp_path, {"orders": [{**ORDER, "reservation": 4}]})
    r = run("rounds", "--book", bad, "--max-rounds", "3")
    assert r.returncode == 2 and "quote 5 is above its highest acceptable price 4" in r.stderr
    r = run("rounds", "--book", good, "--max-rounds", "3", "--strategy", "nash")
    assert r.returncode == 2 and "invalid choice: 'nash'" in r.stderr
    bad = write(tmp_path, {"tick": 0, "orders": [ORDER]})
    r = run("rounds", "--book", bad, "--max-rounds", "3", "--strategy", "toward-price")
    assert r.returncode == 2 and "tick must be a positive integer" in r.stderr


def test_missing_file_and_usage():
    r = run("clear", "--book", "/nonexistent/book.json")
    assert r.returncode == 2 and "no such file" in r.stderr
    r = run("clear")
    assert r.returncode == 2 and "--book" in r.stderr
    r = run("--help")
    assert r.returncode == 0 and "rounds" in r.stdout
