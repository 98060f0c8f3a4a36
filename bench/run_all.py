"""Run every bench/bench_*.py and collect their JSON lines into bench/results.jsonl.

QUICK=1 passes --quick to each, so the whole set runs in about a minute.
Each line gets a `run` field (date, machine, Python, quick, and the native
extensions it ran without, if any: then it measured their fallbacks) so the report
(bench/report.py -> docs/benchmarks.md) can say where and when a figure
was measured. On a terminal a bar on stderr counts the scripts. A
benchmark that fails is reported and the others still run.
ONLY=name,name runs just those (e.g. ONLY=clearing,chain), appending their
lines to the results of earlier runs instead of replacing the file.
YEAR=1 passes --year to bench_carbon.py: a year of snapshots on 2 workers
(without it the series is timed on 48 hours and the year projected);
HOURS=N passes --series-hours N to it (e.g. YEAR=1 HOURS=48: the year's
path end to end in a minute, to check it before the long run).
On a terminal, a benchmark that counts its own work (BENCH_PROGRESS=1 in its
environment: "unit done/total" lines on stderr, as hub.progress writes them
off a terminal) shows that count on the bar; off a terminal nothing extra
is printed.
"""

from __future__ import annotations

import ast
import datetime as dt
import json
import os
import platform
import re
import subprocess
import sys
import threading
from collections import deque
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from hub.progress import Progress  # noqa: E402

#: A progress line of a benchmark (hub.progress off a terminal): "hour 120/8760  facts".
PROGRESS_LINE = re.compile(r"^\S+ \d+/\d+\b")


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


def run_script(cmd: list[str], bar: Progress, label: str) -> tuple[int, str, str]:
    """Run one benchmark: (exit status, stdout, the tail of stderr).

    Its stderr is read as it comes: progress lines go to the bar's label,
    the rest is kept (the last 2,000 characters' worth) for a failure.
    """
    env = dict(os.environ, BENCH_PROGRESS="1" if bar.bar is not None else "0")
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=HERE.parent, env=env)
    tail: deque[str] = deque(maxlen=200)

    def read_stderr() -> None:
        assert proc.stderr is not None
        for raw in proc.stderr:
            if PROGRESS_LINE.match(raw):
                bar.describe(f"{label}: {raw.strip()}")
            else:
                tail.append(raw)

    reader = threading.Thread(target=read_stderr, daemon=True)
    reader.start()
    assert proc.stdout is not None
    out = proc.stdout.read()
    proc.wait()
    reader.join()
    return proc.returncode, out, "".join(tail)[-2000:]


def extensions_missing() -> list[str]:
    """The optional C extensions setup.py declares that this install lacks (or has disabled):
    a benchmark run without one measures its Python fallback, and the report says so."""
    import edge
    from edge.extensions import missing

    tree = ast.parse((Path(edge.__file__).resolve().parent.parent / "setup.py").read_text())
    names = [node.args[0].value for node in ast.walk(tree)
             if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "Extension"]
    return sorted(name for name in names if missing(name) is not None)


def main() -> int:
    quick = os.environ.get("QUICK", "0") == "1"
    year = os.environ.get("YEAR", "0") == "1"
    hours = os.environ.get("HOURS", "")
    only = [s for s in os.environ.get("ONLY", "").split(",") if s]
    out_path = HERE / "results.jsonl"
    scripts = sorted(HERE.glob("bench_*.py"))
    if only:
        scripts = [s for s in scripts if s.stem.removeprefix("bench_") in only]
    run = {"date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
           "machine": machine(), "python": platform.python_version(), "quick": quick}
    lacking = extensions_missing()
    if lacking:
        run["extensions_missing"] = lacking
        print(f"warning: without {', '.join(lacking)} the benchmarks that use them measure "
              "their Python fallbacks (make setup builds them)", file=sys.stderr)
    failed = []
    with out_path.open("a" if only else "w") as out, \
            Progress(len(scripts), "script", desc="bench") as bar:
        for script in scripts:
            cmd = [sys.executable, str(script)] + (["--quick"] if quick else [])
            if script.stem == "bench_carbon":
                cmd += (["--year"] if year else []) + (["--series-hours", hours] if hours else [])
            label = script.stem.removeprefix("bench_")
            bar.say(f"== {script.name}")
            bar.describe(label)
            returncode, stdout, stderr = run_script(cmd, bar, label)
            for raw in stdout.splitlines():
                try:
                    rec = json.loads(raw)
                except ValueError:
                    continue
                if not isinstance(rec, dict):
                    continue
                rec["run"] = run
                out.write(json.dumps(rec) + "\n")
                bar.say(raw, file=sys.stdout)
            if returncode != 0:
                failed.append(script.name)
                bar.say(stderr)
            bar.advance()
    tail = f"; failed: {', '.join(failed)}" if failed else ""
    print(f"wrote {out_path}{tail}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
