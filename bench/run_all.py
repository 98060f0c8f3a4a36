"""Run every bench/bench_*.py and collect their JSON lines into bench/results.jsonl.

QUICK=1 passes --quick to each, so the whole set runs in about a minute.
A benchmark that fails is reported and the others still run.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> int:
    quick = os.environ.get("QUICK", "0") == "1"
    out_path = HERE / "results.jsonl"
    failed = []
    with out_path.open("w") as out:
        for script in sorted(HERE.glob("bench_*.py")):
            cmd = [sys.executable, str(script)] + (["--quick"] if quick else [])
            print(f"== {script.name}", file=sys.stderr, flush=True)
            proc = subprocess.run(cmd, capture_output=True, text=True, cwd=HERE.parent)
            for raw in proc.stdout.splitlines():
                try:
                    json.loads(raw)
                except ValueError:
                    continue
                out.write(raw + "\n")
                print(raw, flush=True)
            if proc.returncode != 0:
                failed.append(script.name)
                print(proc.stderr[-2000:], file=sys.stderr)
    tail = f"; failed: {', '.join(failed)}" if failed else ""
    print(f"wrote {out_path}{tail}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
