"""Interval accounting from counters and the P5 policy, run on the MicroPython unix port."""

from __future__ import annotations

import json

from tests.kit.firmware import run_mp


def mp(code: str):
    return json.loads(run_mp(code).stdout.strip().splitlines()[-1])


def test_counter_resets_and_glitches_never_give_negative_or_huge_energy():
    got = mp(
        "import json\nfrom gateway.energy import CounterTrack\nt = CounterTrack()\nout = []\n"
        # 5 kW device polled every 10 s: at most ~27.8 Wh per step (x2 margin + 3)
        "seq = [(1000, 0), (1010, 10000), (0, 20000), (12, 30000), (4294967196, 40000),"
        " (30, 50000), (40, 60000), (100000, 70000), (100001, 80000), (100002, 90000),"
        " (100010, 100000)]\n"
        "for v, ts in seq:\n    out.append(list(t.feed(v, ts, 5000)))\n"
        "print(json.dumps(out))"
    )
    assert got == [
        [0, None], [10, None],
        [0, "reset"],  # back to 0: energy since the reset is 0
        [12, None],
        [0, "glitch"],  # -100 Wh read as acc32: ignored, base kept
        [18, None],  # back to normal: 30 - 12 booked once
        [10, None],
        [0, "glitch"], [0, "glitch"], [0, "glitch"],  # a replaced meter: third glitch rebases
        [8, None],
    ]
    assert all(0 <= e <= 30 for e, _ in got)


def test_interval_account_rolls_and_marks_partial():
    got = mp(
        "import json\nfrom gateway.energy import IntervalAccount\n"
        "a = IntervalAccount(60, 1000 * 125)\n"  # starts inside [120, 180)
        "a.add('imp_wh', 5); out = a.roll(1000 * 179)\n"
        "a.add('exp_wh', 7); a.add('gen_wh', 0); out += a.roll(1000 * 250)\n"
        "print(json.dumps(out))"
    )
    assert got == [
        [{"imp_wh": 5, "exp_wh": 7, "gen_wh": 0, "chg_wh": 0, "dis_wh": 0, "interval": 120}, True],
        [{"imp_wh": 0, "exp_wh": 0, "gen_wh": 0, "chg_wh": 0, "dis_wh": 0, "interval": 180}, False],
    ]


def test_p5_quotes_and_battery_dispatch():
    got = mp(
        "import json\nfrom gateway import policy\n"
        "pol = {'sell_min': 50000, 'buy_max': 300000, 'soc_min_pm': 100, 'soc_max_pm': 950,"
        " 'min_qty_wh': 10}\n"
        "e = {'imp_wh': 100, 'exp_wh': 400, 'chg_wh': 50, 'dis_wh': 0}\n"
        "out = [policy.forecast_surplus_wh(e), policy.forecast_surplus_wh(e, True),"
        " policy.quote(300, pol), policy.quote(-300, pol), policy.quote(5, pol),"
        " policy.quote(-300, dict(pol, margin=400000)),"
        " policy.traded_wh({'fills': [{'gw': 'g', 'side': 'sell', 'qty_wh': 40,"
        " 'status': 'partial'}, {'gw': 'x', 'side': 'buy', 'qty_wh': 9,"
        " 'status': 'filled'}]}, 'g'),"
        " policy.battery_setpoint_w(-3000, 1000, 500, pol, 5000, 5000),"
        " policy.battery_setpoint_w(-3000, 1000, 950, pol, 5000, 5000),"
        " policy.battery_setpoint_w(2500, -500, 500, pol, 5000, 5000),"
        " policy.battery_setpoint_w(2500, -500, 100, pol, 5000, 5000),"
        " policy.battery_setpoint_w(9000, 0, 500, pol, 5000, 4000),"
        " policy.rate_raw(2500, 5000, -2)]\n"
        "print(json.dumps(out))"
    )
    assert got[0] == 300 and got[1] == 350
    # raw terms: the edge, not the gateway, applies carbon adders (tests/firmware/test_revision.py)
    assert got[2] == ["sell", 300, 50000]
    assert got[3] == ["buy", 300, 300000]
    assert got[4] is None  # below the minimum quantity: no order
    assert got[5] == ["buy", 300, 0]  # a margin beyond buy_max: never a negative price
    assert got[6] == 40
    assert got[7] == 2000  # 3 kW surplus, 1 kW sold: 2 kW into the battery
    assert got[8] == 0  # battery full: the rest is exported
    assert got[9] == -2000  # 2.5 kW deficit, 0.5 kW bought: 2 kW from the battery
    assert got[10] == 0  # battery at its lower limit: the rest is imported
    assert got[11] == -4000  # limited by the discharge rating
    assert got[12] == 5000  # 50 % of WChaMax in hundredths of a percent
