"""Run every bench/bench_*.py and collect their JSON lines into bench/results.jsonl.

QUICK=1 passes --quick to each, so the whole set runs in about a minute.
Each line gets a `run` field (date, machine, Python, quick) so the report
(bench/report.py -> docs/benchmarks.md) can say where and when a figure
was measured. On a terminal a bar on stderr counts the scripts. A
benchmark that fails is reported and the others still run.
ONLY=name,name runs just those (e.g. ONLY=clearing,chain), appending their
lines to the results of earlier runs instead of replacing the file.
YEAR=1 passes --year to bench_carbon.py: a year of snapshots on 2 workers
(hours; without it the series is timed on 48 hours and the year projected).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from hub.progress import Progress  # noqa: E402


def machine() -> str:
    """CPU model, logical CPUs and OS, e.g. 'AMD EPYC, 2 CPUs, Linux 6.1 x86_64'."""
    model = platform.processor() or platform.machine()
    try:
        for ln in Path("/proc/cpuinfo").read_text().splitlines():
            if ln.startswith("model name"):
                model = ln.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{model}, {os.cpu_count()} CPUs, {platform.system()} {platform.release()} " \
           f"{platform.machine()}"


def main() -> int:
    quick = os.environ.get("QUICK", "0") == "1"
    year = os.environ.get("YEAR", "0") == "1"
    only = [s for s in os.environ.get("ONLY", "").split(",") if s]
    out_path = HERE / "results.jsonl"
    scripts = sorted(HERE.glob("bench_*.py"))
    if only:
        scripts = [s for s in scripts if s.stem.removeprefix("bench_") in only]
    run = {"date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
           "machine": machine(), "python": platform.python_version(), "quick": quick}
    failed = []
    with out_path.open("a" if only else "w") as out, \
            Progress(len(scripts), "script", desc="bench") as bar:
        for script in scripts:
            cmd = [sys.executable, str(script)] + (["--quick"] if quick else [])
            if year and script.stem == "bench_carbon":
                cmd.append("--year")
            bar.say(f"== {script.name}")
            bar.describe(script.stem.removeprefix("bench_"))
            proc = subprocess.run(cmd, capture_output=True, text=True, cwd=HERE.parent)
            for raw in proc.stdout.splitlines():
                try:
                    rec = json.loads(raw)
                except ValueError:
                    continue
                if not isinstance(rec, dict):
                    continue
                rec["run"] = run
                out.write(json.dumps(rec) + "\n")
                bar.say(raw, file=sys.stdout)
            if proc.returncode != 0:
                failed.append(script.name)
                bar.say(proc.stderr[-2000:])
            bar.advance()
    tail = f"; failed: {', '.join(failed)}" if failed else ""
    print(f"wrote {out_path}{tail}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
