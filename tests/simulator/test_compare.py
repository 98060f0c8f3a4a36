"""`sim compare`: two run folders' clearing results, row by row (the same-seed check).

The folders are written by hand here: a run's intervals.csv and gateways.csv
with the columns the report writes (simulator/report.py); what must count as
a difference (rounds, price, volume, regime; side, energy, money) and what
must not (metered energy, state of charge) is decided by the rows below.
"""

from __future__ import annotations

import pytest

from edge.cli import main

INTERVALS = ("substation,interval_utc,interval_ms,rounds,price_micro_per_kwh,volume_wh,regime,"
             "adder_max_micro_per_kwh\n"
             "north,11:00,1718967600000,1,245000,3490,sellers_market,0\n"
             "north,11:15,1718968500000,2,230000,3156,sellers_market,0\n")
GATEWAYS = ("substation,gateway,interval_utc,interval_ms,net_wh,traded_wh,money_micro,"
            "battery_wh,soc_pct,limit_micro_per_kwh,side\n"
            "north,pvp-06,11:00,1718967600000,-909,-1126,275870,115,72.4,40000,sell\n"
            "north,cec-05,11:00,1718967600000,3020,1126,-275870,0,,300000,buy\n")


def run(tmp_path, name, intervals=INTERVALS, gateways=GATEWAYS):
    d = tmp_path / name
    d.mkdir()
    (d / "intervals.csv").write_text(intervals)
    (d / "gateways.csv").write_text(gateways)
    return str(d)


def test_the_same_clearing_is_exit_0_even_where_metering_differs(tmp_path, capsys):
    a = run(tmp_path, "a")
    b = run(tmp_path, "b", gateways=GATEWAYS.replace("-909,", "-911,").replace(",72.4,", ",70.0,"))
    assert main(["sim", "compare", a, b]) == 0
    assert capsys.readouterr().out.strip() == \
        "same clearing: 2 substation-intervals, 2 gateway-intervals"


def test_a_different_price_and_a_missing_row_are_each_one_line(tmp_path, capsys):
    a = run(tmp_path, "a")
    b = run(tmp_path, "b", intervals=INTERVALS.replace("2,230000,3156", "1,245000,3156")
            .replace("north,11:00,1718967600000,1,245000,3490,sellers_market,0\n", ""))
    assert main(["sim", "compare", a, b]) == 1
    out = capsys.readouterr()
    assert out.out.splitlines() == [
        "intervals.csv north 11:00: only in the first run",
        "intervals.csv north 11:15: rounds 2 vs 1, price_micro_per_kwh 230000 vs 245000",
    ]
    assert out.err.strip() == "2 rows differ"


def test_the_limit_bounds_what_is_printed(tmp_path, capsys):
    a = run(tmp_path, "a")
    b = run(tmp_path, "b",
            gateways=GATEWAYS.replace("-1126,", "-1000,").replace(",1126,", ",1000,"))
    assert main(["sim", "compare", a, b, "--limit", "1"]) == 1
    assert len(capsys.readouterr().out.splitlines()) == 1


@pytest.mark.parametrize("what", ["missing", "no csv", "not utf-8", "a column missing"])
def test_a_folder_that_is_not_a_run_is_one_line_and_exit_2(what, tmp_path, capsys):
    a = run(tmp_path, "a")
    b = tmp_path / "b"
    if what != "missing":
        b.mkdir()
    if what == "not utf-8":
        (b / "intervals.csv").write_bytes(b"\xff\xfe\x00garbage")
        (b / "gateways.csv").write_text(GATEWAYS)
    if what == "a column missing":
        (b / "intervals.csv").write_text("substation,interval_utc\nnorth,11:00\n")
        (b / "gateways.csv").write_text(GATEWAYS)
    assert main(["sim", "compare", a, str(b)]) == 2
    err = [x for x in capsys.readouterr().err.splitlines() if x.strip()]
    assert len(err) == 1, err


@pytest.mark.parametrize("limit", ["0", "-1", "9" * 5000, "x"])
def test_a_bad_limit_is_refused(limit, tmp_path, capsys):
    a = run(tmp_path, "a")
    with pytest.raises(SystemExit) as exc:  # argparse's refusal: its usage, then one line
        main(["sim", "compare", a, a, "--limit", limit])
    assert exc.value.code == 2
    err = [x for x in capsys.readouterr().err.splitlines() if x.startswith("carbon-edge")]
    assert len(err) == 1 and "--limit" in err[0], err
