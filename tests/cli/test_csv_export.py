"""CSV export where people want data: `carbon series --csv`."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from edge.cli import main

ROOT = Path(__file__).resolve().parents[2]
EX = ROOT / "docs" / "examples"


def test_carbon_series_csv_holds_every_hour_of_the_report(tmp_path, capsys):
    out = tmp_path / "day.csv"
    rc = main(["carbon", "series", "--case", "case9", "--profile",
               str(EX / "carbon/profile-day.json"), "--csv", str(out), "--json"])
    assert rc == 0
    rep = json.loads(capsys.readouterr().out)
    rows = list(csv.DictReader(out.open(newline="")))
    hours = len(json.loads((EX / "carbon/profile-day.json").read_text())["load"])
    assert len(rows) == hours == len(rep["hours"])
    assert list(rows[0])[:3] == ["hour", "converged", "generation_mw"]
    assert [c for c in rows[0] if c.startswith("bus_")] == \
        [f"bus_{b}_g_per_kwh" for b in rep["buses"]]
    for row, h in zip(rows, rep["hours"], strict=True):
        assert int(row["hour"]) == h["hour"]
        assert int(row["generator_emissions_g_per_h"]) == h["totals"]["generator_emissions_g_per_h"]
    # the CSV's hourly emissions add up to the day's total the report prints
    assert sum(int(r["generator_emissions_g_per_h"]) for r in rows) == \
        rep["day"]["generator_emissions_g"]


def test_carbon_series_csv_into_a_missing_folder_is_an_input_error(tmp_path, capsys):
    rc = main(["carbon", "series", "--case", "case9", "--profile",
               str(EX / "carbon/profile-day.json"), "--csv", str(tmp_path / "no" / "x.csv")])
    assert rc == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1
