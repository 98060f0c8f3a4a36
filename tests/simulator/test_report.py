"""The day's report: self-contained HTML with every chart, CSV and JSON of the same rows."""

import csv
import json

from simulator.record import (
    CarbonRow,
    EmissionsRow,
    FaultRow,
    GatewayRow,
    HeightRow,
    IntervalRow,
    Invariant,
    RunRecord,
)
from simulator.report import charts, write_report

T0 = 1718928000000  # 2024-06-21T00:00Z
Q = 900_000


def record(ok: bool = True) -> RunRecord:
    rec = RunRecord(scenario="unit", seed=3, intervals=4, started_ms=T0, wall_s=12.0,
                    substations=["north", "south"])
    for s, base in (("north", 100_000), ("south", 120_000)):
        for k in range(4):
            rec.interval_rows.append(IntervalRow(s, T0 + k * Q, 2, base + 1000 * k,
                                                 2000 * k, "sellers", 0))
    for k in range(4):
        rec.gateway_rows += [
            GatewayRow("north", "pvp-06", T0 + k * Q, -3000, -1000 * k, 100 * k, 0, 50.0 + k),
            GatewayRow("north", "cec-05", T0 + k * Q, 4000, 1000 * k, -100 * k, 0, None),
        ]
        rec.carbon_rows.append(CarbonRow(T0 + k * Q, {0: 400.0, 5: 380.0 - k}, 1000.0, 950.0,
                                         50.0))
        rec.emissions_with_adders_g.append((T0 + k * Q, 900.0))
        rec.emissions_without_adders_g.append((T0 + k * Q, 1000.0))
        rec.emissions_rows.append(EmissionsRow("north", T0 + k * Q, 5000, 130_000, 1000,
                                               900.0, 120_000, 1000, 1000.0))
        rec.heights.append(HeightRow("north", T0 + 1000 * k, k + 1, k))
    rec.rejections = {"north": {"bad_tag": 2}, "south": {"replay": 1}}
    rec.accepted = {"north": {"bid": 8, "telemetry": 40}}
    rec.faults = [FaultRow("10:00", "broker-restart", "north", "reconnected after 2 s")]
    rec.invariants = [Invariant("money balances", True, "4 intervals"),
                      Invariant("carbon conserved", ok, "max error 0")]
    return rec


def test_files_hold_the_same_rows(tmp_path):
    page = write_report(record(), tmp_path)
    em = list(csv.DictReader((tmp_path / "emissions.csv").open()))
    assert len(em) == 4 and em[0]["emissions_with_adders_g"] == "900.0"
    assert em[0]["emissions_without_adders_g"] == "1000.0" and em[0]["price_without_adders"] \
        == "120000"
    assert page == tmp_path / "report.html"
    rows = list(csv.DictReader((tmp_path / "intervals.csv").open()))
    assert len(rows) == 8 and rows[1]["interval_utc"] == "00:15"
    assert rows[1]["price_micro_per_kwh"] == "101000"
    g = list(csv.DictReader((tmp_path / "gateways.csv").open()))
    assert sum(int(r["money_micro"]) for r in g) == 0      # what the rows say, summed
    c = list(csv.DictReader((tmp_path / "carbon.csv").open()))
    assert c[3]["bus_5_g_kwh"] == "377.0"
    data = json.loads((tmp_path / "report.json").read_text())
    assert data["ok"] is True and data["carbon_rows"][0]["intensity_g_kwh"]["5"] == 380.0


def test_a_broken_invariant_is_shouted():
    from simulator.report import render_html

    assert "INVARIANTS BROKEN" in render_html(record(ok=False))
    assert "all invariants hold" in render_html(record(ok=True))


def test_every_chart_has_data():
    c = charts(record())
    for key in ("price", "volume", "soc", "intensity", "emissions", "energy", "money",
                "heights", "rejections"):
        assert key in c and 'class="chart empty"' not in c[key], key


def test_report_renders_in_chromium(browser, tmp_path):
    page = write_report(record(), tmp_path)
    shot = browser.render(page.as_uri(), width=1300, height=2600)
    for key in ("price", "volume", "soc", "intensity", "emissions", "heights", "rejections"):
        assert f'id="chart-{key}"' in shot.dom
    assert shot.dom.count("<svg") >= 9
    assert shot.distinct_colours() > 50
