"""Every benchmark runs (--quick) and prints well-formed JSON lines.

No timing is asserted here (speed is read from `make bench`); this keeps the
benchmarks from rotting silently as the code they measure changes.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = sorted(p.name for p in (ROOT / "bench").glob("bench_*.py"))
KEYS = {"bench", "case", "value", "unit", "baseline", "ratio", "target"}


@pytest.mark.timeout(240)
@pytest.mark.parametrize("script", SCRIPTS)
def test_benchmark_runs_quick_and_prints_json_lines(script):
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / script), "--quick"],
                          capture_output=True, text=True, cwd=ROOT, timeout=230)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = [json.loads(raw) for raw in proc.stdout.splitlines() if raw.startswith("{")]
    assert lines, f"{script} printed no JSON line"
    for line in lines:
        assert KEYS <= set(line), f"{script}: {line} lacks {KEYS - set(line)}"
        assert line["ratio"] is None or line["baseline"], line
        if line["baseline"] and line["value"] is not None:  # the ratio is the same run's
            # ratios are printed to 4 decimals: equal within that rounding
            assert line["ratio"] == pytest.approx(line["value"] / line["baseline"], rel=1e-3,
                                                  abs=5e-5)


def _write(path: Path, lines: list[dict]) -> Path:
    path.write_text("".join(json.dumps(x) + "\n" for x in lines))
    return path


RUN = {"date": "2026-01-02 03:04 UTC", "machine": "Test CPU, 2 CPUs", "python": "3.11",
       "quick": False}


def test_report_writes_a_table_per_benchmark_with_machine_and_date(tmp_path):
    from bench import report

    res = _write(tmp_path / "r.jsonl", [
        {"bench": "chain", "case": "a", "value": 2.5, "unit": "s", "baseline": 2.0,
         "ratio": 1.25, "target": "<=1.3", "baseline_is": "floor", "run": RUN},
        {"bench": "clearing", "case": "b", "value": 40.0, "unit": "ms", "baseline": 10.0,
         "ratio": 4.0, "target": None, "run": RUN},
        {"bench": "chain", "case": "a", "value": 2.4, "unit": "s", "baseline": 2.0,
         "ratio": 1.2, "target": "<=1.3", "baseline_is": "floor", "run": RUN},
    ])
    out = tmp_path / "b.md"
    assert report.main(["--results", str(res), "--out", str(out)]) == 0
    text = out.read_text()
    assert text.count("\n## ") == 2 and "## chain" in text and "## clearing" in text
    assert text.count("Measured 2026-01-02 03:04 UTC on Test CPU, 2 CPUs.") == 2
    assert "| `a` | 2.40 | s | 2.00 | 1.20 | <=1.3 | floor |" in text  # latest line wins
    assert "| `b` | 40.00 | ms | 10.00 | 4.00 |  |  |" in text


def test_report_refuses_quick_runs_and_garbage(tmp_path):
    from bench import report

    quick = dict(RUN, quick=True)
    res = _write(tmp_path / "r.jsonl", [{"bench": "x", "case": "y", "value": 1.0, "unit": "s",
                                         "baseline": None, "ratio": None, "target": None,
                                         "run": quick}])
    out = tmp_path / "b.md"
    assert report.main(["--results", str(res), "--out", str(out)]) == 2
    assert not out.exists()
    assert report.main(["--results", str(res), "--out", str(out), "--allow-quick"]) == 0
    (tmp_path / "bad.jsonl").write_text("{not json\n")
    with pytest.raises(SystemExit, match="bad.jsonl:1: not JSON"):
        report.main(["--results", str(tmp_path / "bad.jsonl"), "--out", str(out)])


def test_run_all_tags_each_line_with_its_run(tmp_path):
    import shutil

    bench = tmp_path / "bench"
    bench.mkdir()
    shutil.copy(ROOT / "bench" / "run_all.py", bench / "run_all.py")
    (bench / "bench_fake.py").write_text(
        "import json, sys\n"
        "print(json.dumps({'bench': 'fake', 'case': 'q' if '--quick' in sys.argv else 'f',"
        " 'value': 1.0, 'unit': 's', 'baseline': None, 'ratio': None, 'target': None}))\n"
        "print('noise')\n")
    # the copy is outside the tree: it finds the package (its progress bar) through PYTHONPATH
    # with the native extensions turned off, the run says which fallbacks it measured
    env = {"QUICK": "1", "PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT),
           "CARBON_EDGE_NO_NATIVE": "1"}
    proc = subprocess.run([sys.executable, str(bench / "run_all.py")], capture_output=True,
                          text=True, env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    [rec] = [json.loads(x) for x in (bench / "results.jsonl").read_text().splitlines()]
    assert rec["case"] == "q" and rec["run"]["quick"] is True
    assert {"date", "machine", "python"} <= set(rec["run"])
    assert rec["run"]["extensions_missing"] == [
        "edge.chain._sha256batch", "edge.market._columns", "hub.allocation._walk"]
    assert "measure their Python fallbacks" in proc.stderr


def test_report_says_when_a_section_was_measured_without_a_native_extension(tmp_path):
    from bench import report

    lacking = dict(RUN, extensions_missing=["edge.market._columns"])
    res = _write(tmp_path / "r.jsonl", [
        {"bench": "clearing", "case": "b", "value": 40.0, "unit": "ms", "baseline": 10.0,
         "ratio": 4.0, "target": None, "run": lacking},
        {"bench": "chain", "case": "a", "value": 2.5, "unit": "s", "baseline": 2.0,
         "ratio": 1.25, "target": None, "run": RUN},
    ])
    out = tmp_path / "b.md"
    assert report.main(["--results", str(res), "--out", str(out)]) == 0
    text = out.read_text()
    said = "Measured without the native extension(s) edge.market._columns"
    assert text.count(said) == 1
    assert text.index("## clearing") < text.index(said) < text.index("## chain")


def test_report_only_rewrites_the_named_sections_and_keeps_the_rest(tmp_path):
    from bench import report

    first = _write(tmp_path / "r1.jsonl", [
        {"bench": "chain", "case": "a", "value": 2.5, "unit": "s", "run": RUN},
        {"bench": "clearing", "case": "b", "value": 40.0, "unit": "ms", "run": RUN},
    ])
    out = tmp_path / "b.md"
    assert report.main(["--results", str(first), "--out", str(out)]) == 0
    before = out.read_text()
    later = dict(RUN, date="2026-02-03 04:05 UTC")
    second = _write(tmp_path / "r2.jsonl", [
        {"bench": "chain", "case": "a", "value": 3.0, "unit": "s", "run": later},
        {"bench": "market", "case": "c", "value": 7.0, "unit": "ms", "run": later},
    ])
    assert report.main(["--results", str(second), "--out", str(out), "--only", "chain"]) == 0
    text = out.read_text()
    # chain rewritten in place, clearing kept byte for byte, market (not named) not added
    assert "| `a` | 3.00 | s |" in text and "| `a` | 2.50 | s |" not in text
    assert "Measured 2026-02-03 04:05 UTC" in text and "## market" not in text
    assert text.index("## chain") < text.index("## clearing")
    assert text.split("## clearing", 1)[1] == before.split("## clearing", 1)[1]
    # a section the page lacks is appended after the others
    assert report.main(["--results", str(second), "--out", str(out), "--only", "market"]) == 0
    assert out.read_text().index("## clearing") < out.read_text().index("## market")
    # naming a benchmark without results changes nothing and says why
    assert report.main(["--results", str(second), "--out", str(out), "--only", "nope"]) == 2


def test_a_tiny_value_keeps_enough_digits_for_its_ratio(capsys):
    from bench._common import line

    out = line("x", "tiny", 4.205265e-05, "s", baseline=0.001)  # 42 µs against 1 ms
    assert out["ratio"] == 0.0421  # 0.04205265 to 4 decimals, by hand
    assert out["value"] / out["baseline"] == pytest.approx(0.04205265, rel=1e-5)
    assert line("x", "count", 4_000_001, "count")["value"] == 4_000_001
    capsys.readouterr()
