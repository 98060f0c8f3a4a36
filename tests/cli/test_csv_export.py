"""CSV export where people want data: `carbon series --csv`."""

from __future__ import annotations

import csv
import json
import sqlite3
from pathlib import Path

import pytest

from edge.cli import main
from edge.protocol import fills

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


T0 = 1_781_913_600  # 2026-06-20T00:00:00Z, by hand: 20624 days * 86400


def _inbox(folder: Path) -> Path:
    """A real edge inbox (the edge's own schema) holding two intervals of one market."""
    from edge.runtime.inbox.db import Database

    db = Database(folder / "inbox.db")
    with db.write() as c:
        for i, (t, gw, side, qty, price) in enumerate([(T0, "gw-1", "sell", 1500, 120000),
                                                        (T0, "gw-2", "buy", 1000, 150000),
                                                        (T0 + 86_400, "gw-1", "sell", 9, 1)]):
            msg = {"type": "bid", "gw": gw, "interval": t, "side": side, "qty_wh": qty,
                   "price": price, "round": 0}
            c.execute("INSERT INTO inbox (gw, space, seq, type, interval, round, ts, recv_ms, "
                      "stored_ms, raw) VALUES (?,?,?,?,?,?,?,?,?,?)",
                      (gw, "m", i, "bid", t, 0, 0, 0, 0, json.dumps(msg).encode()))
        # gw-1 sells 1000 of 1500 (partial, status 1), gw-2 buys its 1000 (filled, 2)
        block = fills.encode([1, 2], [120000, 150000], [1500, 1000], [1000, 1000], [1, 0],
                             [1, 2], ["gw-1", "gw-2"])
        res = {"type": "result", "interval": T0, "round": 0, "final": True, "price": 135000,
               "volume_wh": 1000, "regime": "buyers_market", "fills_n": 2,
               "fills_sha256": fills.digest(block)}
        c.execute("INSERT INTO results VALUES (?,?,?,?)", (T0, 0, 1, json.dumps(res).encode()))
        c.execute("INSERT INTO result_fills VALUES (?,?,?)", (T0, 0, block))
        # a result stored before results had a fills block: its fills are in its JSON
        old = {"type": "result", "interval": T0 + 900, "round": 0, "final": True,
               "volume_wh": 0, "regime": "no_trade",
               "fills": [{"gw": "gw-3", "side": "buy", "qty_wh": 0, "status": "unfilled"}]}
        c.execute("INSERT INTO results VALUES (?,?,?,?)",
                  (T0 + 900, 0, 1, json.dumps(old).encode()))
        for gw, e, a in (("gw-1", -1000, -135000), ("gw-2", 1000, 135000)):
            st = {"type": "settlement", "interval": T0, "gw": gw, "energy_wh": e,
                  "amount_micro": a, "carbon_g": 0, "price": 135000}
            c.execute("INSERT INTO settlements VALUES (?,?,?)", (T0, gw, json.dumps(st).encode()))
    db.close()
    return folder


def test_edge_export_writes_the_days_orders_results_and_settlements(tmp_path, capsys):
    data = _inbox(tmp_path / "data")
    before = (data / "inbox.db").read_bytes()
    out = tmp_path / "day.csv"
    assert main(["edge", "export", "--db-dir", str(data), "--from", "2026-06-20",
                 "--to", "2026-06-21", "--csv", str(out)]) == 0
    # by hand: two orders of the 20th (the 21st's is outside), one result with its two fills
    # (from its block), an older result with its one fill (from its JSON), two settlements
    assert capsys.readouterr().out.strip() == f"wrote 9 rows to {out}"
    rows = list(csv.DictReader(out.open(newline="")))
    assert [r["record"] for r in rows] == ["order", "order", "result", "fill", "fill",
                                           "result", "fill", "settlement", "settlement"]
    assert [(r["gw"], r["side"], r["qty_wh"], r["status"]) for r in rows if
            r["record"] == "fill"] == [("gw-1", "sell", "1000", "partial"),
                                       ("gw-2", "buy", "1000", "filled"),
                                       ("gw-3", "buy", "0", "unfilled")]
    assert rows[7]["energy_wh"] == "-1000" and rows[7]["amount_micro"] == "-135000"
    assert rows[2]["final"] == "1" and rows[2]["volume_wh"] == "1000"
    assert {r["interval_start_utc"] for r in rows} == {"2026-06-20T00:00:00Z",
                                                        "2026-06-20T00:15:00Z"}
    assert rows[0]["price_micro_per_kwh"] == "120000" and rows[0]["qty_wh"] == "1500"
    assert (data / "inbox.db").read_bytes() == before  # read-only


def test_edge_export_refuses_a_folder_without_an_inbox_and_bad_dates(tmp_path, capsys):
    argv = ["edge", "export", "--db-dir", str(tmp_path), "--from", "2026-06-20",
            "--to", "2026-06-21", "--csv", "-"]
    assert main(argv) == 2
    assert "no inbox.db" in capsys.readouterr().err
    assert main([*argv[:-1], str(tmp_path / "x.csv")]) == 2
    assert not (tmp_path / "x.csv").exists()  # nothing begun for an export that cannot run
    with pytest.raises(SystemExit) as exc:
        main([*argv[:5], "21/06/2026", *argv[6:]])
    assert exc.value.code == 2


def test_a_stored_fills_block_that_does_not_decode_is_named(tmp_path, capsys):
    data = _inbox(tmp_path / "data")
    db = sqlite3.connect(data / "inbox.db")
    with db:  # the block cut short: its count no longer fits its length
        db.execute("UPDATE result_fills SET block = substr(block, 1, 20)")
    db.close()
    assert main(["edge", "export", "--db-dir", str(data), "--from", "2026-06-20",
                 "--to", "2026-06-21", "--csv", str(tmp_path / "day.csv")]) == 2
    err = capsys.readouterr().err
    assert f"interval {T0} round 0: the stored fills block does not decode" in err
    assert "cannot be 20 bytes" in err
