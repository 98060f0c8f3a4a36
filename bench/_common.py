"""The JSON-lines format every benchmark prints (read by bench/report.py)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any


def line(bench: str, case: str, value: float | None, unit: str, baseline: float | None = None,
         target: Any = None, **extra: Any) -> dict[str, Any]:
    """Print and return one result; `ratio` is value / baseline when a baseline was measured.

    A None value means "none exists" (e.g. a crossover that never happens).
    """
    ratio = None if not baseline or value is None else round(value / baseline, 4)
    out = {"bench": bench, "case": case, "value": None if value is None else round(value, 6),
           "unit": unit,
           "baseline": None if baseline is None else round(baseline, 6), "ratio": ratio,
           "target": target, **extra}
    print(json.dumps(out), flush=True)
    return out


def args(description: str) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--quick", action="store_true", help="small sizes: runs in seconds")
    return p.parse_args(sys.argv[1:])
