"""Two run folders' clearing results side by side: the same-seed check.

The clearing of a run is what its edges published: per substation and
interval the rounds, price, volume and regime (``intervals.csv``), and per
gateway and interval the side, the energy traded and the money
(``gateways.csv``). Metered energy, battery and state of charge are
measurements, not clearing, and are left out; so are times and signatures.
Two runs of one scenario with the same seed are compared with this (see
docs/simulator.md "Replay" for why they differ today).
"""

from __future__ import annotations

import csv
from pathlib import Path

#: file -> (the columns that name a row, the clearing columns compared)
CLEARING: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "intervals.csv": (("substation", "interval_utc"),
                      ("rounds", "price_micro_per_kwh", "volume_wh", "regime")),
    "gateways.csv": (("substation", "gateway", "interval_utc"),
                     ("side", "traded_wh", "money_micro")),
}
#: a run's CSV files are a few thousand rows; anything far larger is not one
MAX_BYTES = 64 * 1024 * 1024

Rows = dict[tuple[str, tuple[str, ...]], dict[str, str]]


class CompareError(ValueError):
    """A folder is not a run folder with its CSV files (one sentence)."""


def clearing(run_dir: Path) -> Rows:
    """(file, row key) -> the row's clearing columns, for every row of both files."""
    out: Rows = {}
    for name, (keys, values) in CLEARING.items():
        path = run_dir / name
        if not path.is_file():
            raise CompareError(f"{run_dir} has no {name}: give the run folders of two `sim run`s")
        if path.stat().st_size > MAX_BYTES:
            raise CompareError(f"{path} is larger than {MAX_BYTES} bytes: not a run's file")
        try:
            with open(path, newline="", encoding="utf-8") as fh:
                for row in csv.DictReader(fh):
                    missing = [c for c in (*keys, *values) if row.get(c) is None]
                    if missing:
                        raise CompareError(f"{path} has no column {missing[0]}")
                    out[(name, tuple(row[k] for k in keys))] = {v: row[v] for v in values}
        except (UnicodeDecodeError, csv.Error) as exc:
            raise CompareError(f"{path} is not a run's CSV file: {str(exc)[:200]}") from None
    return out


def differences(a: Rows, b: Rows) -> list[str]:
    """One sentence per row that is in one run only or whose clearing differs."""
    out = []
    for key in sorted(set(a) | set(b)):
        name, row = key
        where = f"{name} {' '.join(row)}"
        if key not in b:
            out.append(f"{where}: only in the first run")
        elif key not in a:
            out.append(f"{where}: only in the second run")
        else:
            diff = [f"{c} {a[key][c] or '-'} vs {b[key][c] or '-'}" for c in a[key]
                    if a[key][c] != b[key][c]]
            if diff:
                out.append(f"{where}: {', '.join(diff)}")
    return out
