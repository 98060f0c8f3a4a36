"""`carbon-edge carbon ...`: JSON in, JSON out, one sentence and exit 2 on bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from edge.cli import main
from hub.carbon.errors import Reason, rejected_count

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "docs" / "examples" / "carbon"


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(["carbon", *argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_trace_case_json_via_the_installed_entry_point():
    proc = subprocess.run(
        [sys.executable, "-m", "edge.cli", "carbon", "trace", "--case", "case33bw",
         "--snapshot", str(EXAMPLES / "snapshot-case33bw.json"), "--json"],
        capture_output=True, text=True, cwd=REPO, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    rep = json.loads(proc.stdout)
    t = rep["totals"]
    assert t["load_carbon_g_per_h"] + t["loss_carbon_g_per_h"] == t["generator_emissions_g_per_h"]
    assert {b["intensity_g_per_kwh"] for b in rep["buses"]} == {581}
    assert len(rep["buses"]) == 33 and len(rep["branches"]) == 37


def test_trace_user_network_with_snapshot(capsys):
    code, out, _ = run(capsys, "trace", "--network", str(EXAMPLES / "network-feeder.json"),
                       "--snapshot", str(EXAMPLES / "snapshot-feeder.json"), "--json")
    assert code == 0
    rep = json.loads(out)
    e = {b["bus"]: b["intensity_t_per_mwh"] for b in rep["buses"]}
    assert e[0] == pytest.approx(0.9)
    # bus 1 mixes about 2 MW of grid power (0.9) with 1 MW of PV (0)
    assert e[1] == pytest.approx(0.6, rel=2e-3)


def test_trace_text_summary_and_outsourcing(capsys):
    code, out, _ = run(capsys, "trace", "--case", "case5", "--outsource", "2")
    assert code == 0
    assert "generator emissions" in out and "outsourced: providers" in out
    code, out, _ = run(capsys, "trace", "--case", "case5", "--outsource", "2", "--json")
    audits = json.loads(out)["outsourcing"]
    assert audits[0]["decided_by"] == "providers"


def test_series_json(capsys):
    code, out, _ = run(capsys, "series", "--case", "case33bw",
                       "--profile", str(EXAMPLES / "profile-day.json"), "--json")
    assert code == 0
    rep = json.loads(out)
    assert rep["day"]["hours_traced"] == 24
    assert rep["day"]["load_carbon_g"] + rep["day"]["loss_carbon_g"] == \
        rep["day"]["generator_emissions_g"]


def test_series_with_a_failed_hour_exits_1(capsys, tmp_path):
    prof = tmp_path / "p.json"
    prof.write_text(json.dumps({"load": [1.0] * 12 + [40.0] + [1.0] * 11}))
    code, out, _ = run(capsys, "series", "--case", "case33bw", "--profile", str(prof), "--json")
    assert code == 1
    assert json.loads(out)["day"]["hours_traced"] == 23


def test_pecc(capsys):
    code, out, _ = run(capsys, "pecc", "--unit", str(EXAMPLES / "coal-unit.json"),
                       "--p-mw", "300", "--json")
    assert code == 0
    res = json.loads(out)
    assert res["coal_g_per_kwh"] == pytest.approx(1.01 * 346.6666667, rel=1e-9)
    assert res["intensity_g_per_kwh"] == 881


@pytest.mark.parametrize(
    "argv, message",
    [
        (["trace"], "give a network: --case NAME"),
        (["trace", "--case", "case5", "--network", "x.json"], "either --case or --network"),
        (["trace", "--case", "case42"], "'case42' is not a pandapower built-in case"),
        (["trace", "--case", "case5", "--snapshot", "BAD"], "is not valid JSON"),
        (["trace", "--case", "case5", "--snapshot", "UNKNOWN"], "snapshot.loads.12: load 12"),
        (["trace", "--case", "case5", "--snapshot", "missing.json"], "no such file"),
        (["trace", "--network", "BAD"], "not a pandapower network"),
        (["trace", "--case", "case5", "--outsource", "1"], "at least 2 providers"),
        (["series", "--case", "case5", "--profile", "SHORT"], "profile.load: List should have"),
        (["pecc", "--unit", "UNIT", "--p-mw", "100"], "unit"),
        (["pecc", "--unit", "UNIT_OK", "--p-mw", "-5"], "--p-mw must be"),
    ],
)
def test_bad_input_is_one_sentence_and_exit_2(capsys, tmp_path, argv, message):
    files = {
        "BAD": "{not json",
        "UNKNOWN": json.dumps({"loads": {"12": {"p_mw": 1.0}}}),
        "SHORT": json.dumps({"load": []}),
        "UNIT": json.dumps({"a": 0, "b": 0.3, "c": 1, "mu": 3.0}),
        "UNIT_OK": json.dumps({"a": 0, "b": 0.3, "c": 1, "mu": 0.7}),
    }
    args = []
    for a in argv:
        if a in files:
            p = tmp_path / f"{a}.json"
            p.write_text(files[a])
            a = str(p)
        elif a.endswith(".json"):
            a = str(tmp_path / a)
        args.append(a)
    before = sum(rejected_count(r) for r in Reason)
    code, out, err = run(capsys, *args)
    assert code == 2
    assert message in err
    assert err.startswith("carbon-edge carbon: ")
    assert len(err.strip().splitlines()) == 1
    assert out == ""
    if "--p-mw must" not in message and "either" not in message and "give a" not in message \
            and "no such file" not in message and "at least 2" not in message:
        assert sum(rejected_count(r) for r in Reason) == before + 1


def test_cases_lists_the_builtins(capsys):
    code, out, _ = run(capsys, "cases", "--json")
    assert code == 0 and "case9241pegase" in json.loads(out)


def test_entry_point_error_is_exactly_one_line_on_stderr():
    proc = subprocess.run(
        [sys.executable, "-m", "edge.cli", "carbon", "trace", "--case", "case42"],
        capture_output=True, text=True, cwd=REPO, timeout=120,
    )
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.strip().splitlines() == [
        proc.stderr.strip()
    ] and "'case42' is not a pandapower built-in case" in proc.stderr


def test_trace_dc_is_lossless(capsys):
    code, out, err = run(capsys, "trace", "--case", "case33bw", "--dc", "--json")
    assert code == 0, err
    t = json.loads(out)["totals"]
    assert t["loss_mw"] == 0 and t["generator_emissions_g_per_h"] == t["load_carbon_g_per_h"]
