"""docs/devices.md is the firmware's contract: its register tables must match the live map."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from simulator.devices.cli import register_map

DOC = Path(__file__).resolve().parents[2] / "docs" / "devices.md"


def doc_rows(kind: str) -> list[list[str]]:
    text = DOC.read_text(encoding="utf-8")
    m = re.search(rf"<!-- map:{kind} -->(.*?)<!-- /map -->", text, re.S)
    assert m, f"no map:{kind} table in {DOC}"
    rows = []
    for line in m.group(1).splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if cells and cells[0].isdigit():
            rows.append(cells)
    return rows


@pytest.mark.parametrize("kind", ["meter", "battery", "pv"])
def test_doc_tables_match_the_map(kind):
    live = {}
    for r in register_map(kind):
        model = "" if r["model"] is None else ("end" if r["model"] == 0xFFFF else str(r["model"]))
        live[(model, r["point"])] = [
            str(r["address"]), str(r["mbpoll"]), model, r["point"], r["type"], str(r["size"]),
            r["sf"] or "", r["units"] or "", r["access"],
        ]
    rows = doc_rows(kind)
    assert len(rows) >= 20
    for cells in rows:
        assert live[(cells[2], cells[3])] == cells, cells
    documented = {(c[2], c[3]) for c in rows}
    if kind == "pv":
        assert {p for m, p in live if m == "103"} == {p for m, p in documented if m == "103"}
        return
    for must in [("", "SunS"), ("203", "W"), ("203", "W_SF"), ("203", "TotWhImp"),
                 ("203", "TotWhExp"), ("203", "TotWh_SF"), ("end", "ID")]:  # fmt: skip
        assert must in documented
    if kind == "meter":
        assert len(rows) == len(live)  # the meter table is complete
    else:
        assert {p for m, p in live if m == "124"} <= {p for m, p in documented if m == "124"}
