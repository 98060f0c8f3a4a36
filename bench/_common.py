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
    out = {"bench": bench, "case": case, "value": _figures(value), "unit": unit,
           "baseline": _figures(baseline), "ratio": ratio,
           "target": target, **extra}
    print(json.dumps(out), flush=True)
    return out


def _figures(x: float | None) -> float | None:
    """Six decimals, but at least six significant figures below 1: a time of 42 µs written
    in seconds keeps its digits, so value / baseline as printed still gives the ratio."""
    if x is None or isinstance(x, int):
        return x
    return float(f"{x:.6g}") if abs(x) < 1 else round(x, 6)


def args(description: str) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--quick", action="store_true", help="small sizes: runs in seconds")
    return p.parse_args(sys.argv[1:])
