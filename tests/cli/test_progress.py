"""Progress bars of long commands: on a terminal's stderr only, never in machine output.

`carbon series`, `owen pjm5` and `bench/run_all.py` run as real subprocesses,
stderr on a pseudo-terminal (tests/kit/tty.py) or on a pipe.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from tests.kit.tty import run_with_tty_stderr

ROOT = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}


def _series(profile: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "edge.cli", "carbon", "series", "--case", "case9",
            "--profile", str(profile), *extra]


def _profile(tmp_path: Path) -> Path:
    path = tmp_path / "profile.json"
    path.write_text(json.dumps({"load": [1.0, 0.5, 0.8]}))
    return path


def test_carbon_series_shows_a_bar_on_a_terminal_and_keeps_stdout_clean(tmp_path):
    r = run_with_tty_stderr(_series(_profile(tmp_path)), ROOT, ENV)
    assert r.returncode == 0, r.stderr
    assert "3/3" in r.stderr and "case9" in r.stderr  # the bar, at its end: 3 of 3 hours
    assert "\r" not in r.stdout and "%|" not in r.stdout
    assert r.stdout.splitlines()[0] == "network case9: 3/3 hours traced"


def test_carbon_series_json_on_a_terminal_has_no_bar(tmp_path):
    r = run_with_tty_stderr(_series(_profile(tmp_path), "--json"), ROOT, ENV)
    assert r.returncode == 0, r.stderr
    assert r.stderr == ""
    assert [h["hour"] for h in json.loads(r.stdout)["hours"]] == [0, 1, 2]


def test_carbon_series_off_a_terminal_has_no_bar(tmp_path):
    p = subprocess.run(_series(_profile(tmp_path)), cwd=ROOT, env=ENV, capture_output=True,
                       text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    assert p.stderr == ""


def test_bad_input_on_a_terminal_is_still_one_line(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"load": [1.0, -1.0]}))
    r = run_with_tty_stderr(_series(bad), ROOT, ENV)
    assert r.returncode == 2
    assert r.stderr.strip().count("\n") == 0 and "profile.load.1" in r.stderr


def test_owen_pjm5_shows_a_bar_of_hours_on_a_terminal(tmp_path):
    cmd = [sys.executable, "-m", "edge.cli", "owen", "pjm5", "--out", str(tmp_path),
           "--hours", "18"]
    r = run_with_tty_stderr(cmd, ROOT, ENV, timeout=300)
    assert r.returncode == 0, r.stderr
    assert "PJM-5" in r.stderr and "1/1" in r.stderr
    assert r.stdout.startswith("PJM-5, hours 18:")


def test_run_all_counts_the_scripts_on_a_terminal(tmp_path):
    bench = tmp_path / "bench"
    bench.mkdir()
    shutil.copy(ROOT / "bench" / "run_all.py", bench / "run_all.py")
    for name in ("one", "two"):
        (bench / f"bench_{name}.py").write_text(
            "import json\n"
            f"print(json.dumps({{'bench': '{name}', 'case': 'c', 'value': 1.0}}))\n")
    r = run_with_tty_stderr([sys.executable, str(bench / "run_all.py")], tmp_path,
                            {**ENV, "QUICK": "1"})
    assert r.returncode == 0, r.stderr
    assert "2/2" in r.stderr and "== bench_one.py" in r.stderr
    assert [json.loads(x)["bench"] for x in r.stdout.splitlines()] == ["one", "two"]
