"""`carbon-edge owen ...` run as a real subprocess."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "docs" / "examples" / "owen"


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "edge.cli", "owen", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)


def test_value_of_the_table_example():
    p = run("value", "--game", str(EXAMPLES / "table.json"), "--json")
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    assert [(x["id"], x["exact"]) for x in out["players"]] == [("a", "9/4"), ("b", "13/4"),
                                                               ("c", "9/2")]
    assert out["grand_value"] == 10 and out["method"] == "exact"


def test_value_of_the_market_example_exact_and_sampled():
    p = run("value", "--game", str(EXAMPLES / "market.json"), "--json")
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    assert out["unit"] == "g CO2" and out["grand_value"] == 85500
    assert {x["id"]: x["value"] for x in out["players"]} == {
        "coal": 37750, "gas": 4000, "pv": -15500, "town": 41000, "mill": 18250}
    p = run("value", "--game", str(EXAMPLES / "market.json"), "--method", "sampled",
            "--rounds", "20", "--seed", "5", "--json")
    out = json.loads(p.stdout)
    assert out["method"] == "sampled" and out["rounds"] == 20
    assert all("se" in x for x in out["players"])
    text = run("value", "--game", str(EXAMPLES / "market.json")).stdout
    assert "coal" in text and "37750.000000" in text


def test_prices_of_the_market_example():
    p = run("prices", "--game", str(EXAMPLES / "market.json"), "--interval", "h12", "--json")
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    assert {e["id"]: e["adder"] for e in out["entities"]} == {
        "coal": 18278, "gas": 3900, "pv": 0, "town": 8531, "mill": 0}
    assert out["signal"]["interval"] == "h12"
    p = run("prices", "--game", str(EXAMPLES / "market.json"), "--tiers", "0:20,1:40,2:80",
            "--json")
    assert p.returncode == 0, p.stderr


def test_pjm5_writes_table_and_plots(tmp_path):
    p = run("pjm5", "--out", str(tmp_path), "--hours", "18", "--json")
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    assert out["hours"] == [18] and out["expected_effect"]["emissions_fall"]
    assert out["allocation"]["hydro_minimum_hours"] == [18]
    for name in ("pjm5_hourly.csv", "pjm5.json", "pjm5_emissions.png", "pjm5_use.png",
                 "pjm5_allocation_map.png"):
        assert (tmp_path / name).exists()


@pytest.mark.parametrize("args, content, message", [
    (["value"], "{not json", "not valid JSON"),
    (["value"], '{"kind": "table", "unions": {"u": ["a"]}, "values": {}}', "coalition 'a'"),
    (["value"], '{"generators": [], "loads": [], "bogus": 1}', "bogus"),
    (["value"], '{"generators": [{"id": "g", "region": "A", "qmax_wh": -1, "price": 1, '
                '"intensity_g_per_kwh": 1}], "loads": []}', "generators.0.qmax_wh"),
    (["prices"], '{"kind": "table", "unions": {"u": ["a"]}, "values": {"a": 1}}',
     "market form"),
    (["prices", "--tiers", "1:20,0:40"], None, "fractions must increase"),
    (["value", "--rounds", "1"], None, "--rounds"),
])
def test_bad_input_exits_2_with_one_clear_sentence(tmp_path, args, content, message):
    f = tmp_path / "g.json"
    if content is None:
        f.write_text((EXAMPLES / "market.json").read_text())
    else:
        f.write_text(content)
    p = run(*args, "--game", str(f))
    assert p.returncode == 2
    assert message in p.stderr
    assert "Traceback" not in p.stderr


def test_missing_file_and_bad_hours(tmp_path):
    p = run("value", "--game", str(tmp_path / "nope.json"))
    assert p.returncode == 2 and "nope.json" in p.stderr
    p = run("pjm5", "--out", str(tmp_path), "--hours", "25")
    assert p.returncode == 2 and "--hours" in p.stderr
    p = run("pjm5", "--out", str(tmp_path), "--hours", "18", "--renewable-offer", "cheap")
    assert p.returncode == 2 and "--renewable-offer" in p.stderr
    assert "Traceback" not in p.stderr


def test_entity_se_report_lists_the_even_share_entities(tmp_path):
    # v(S) = (sum of w over S \ {e})^2 + 80 [e in S], w = 3, 5, 7, 1, 4: e adds 80 to every
    # coalition, and v(N)/n = (20^2 + 80) / 6 = 80, so e sits exactly at the even share.
    import itertools

    w = {"p0": 3, "p1": 5, "p2": 7, "q0": 1, "q1": 4}
    names = [*w, "e"]
    values = {}
    for size in range(1, len(names) + 1):
        for c in itertools.combinations(names, size):
            values[",".join(c)] = sum(w.get(p, 0) for p in c) ** 2 + (80 if "e" in c else 0)
    game = {"kind": "table", "unions": {"u": ["p0", "p1", "p2"], "v": ["q0", "q1"], "z": ["e"]},
            "values": values}
    path = tmp_path / "g.json"
    path.write_text(json.dumps(game))
    p = run("value", "--game", str(path), "--method", "sampled", "--rounds", "6",
            "--entity-se", "0.05", "--json")
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    assert out["grand_value"] == 480
    assert out["excluded_even_share"] == ["e"]
    rel = {x["id"]: x["rel_se"] for x in out["players"]}
    assert rel["e"] == 0.0 and all(rel[p] > 0 for p in w)
    kept = [rel[p] for p in w]
    assert out["share_within_target"] == sum(r <= 0.05 for r in kept) / len(kept)
    assert out["share_within_target"] >= 0.95
    assert out["extra_designs"] == [[1, 1], [2, 1]]  # 3 unions: n_r = 3, 2, 1
