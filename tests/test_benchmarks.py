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
            assert line["ratio"] == pytest.approx(line["value"] / line["baseline"], rel=1e-3)
