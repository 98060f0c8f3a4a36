"""Each invariant holds on a hand-made good record and names the offender on a bad one."""

import dataclasses

from simulator import invariants as inv
from simulator.record import CarbonRow, GatewayRow, IntervalRow, RunRecord

T = 1718928000000


def good() -> RunRecord:
    rec = RunRecord("t", 1, 1, T, substations=["n"])
    # seller s sold 2000 Wh at 0.10/kWh to buyer b: 2000 * 100000 / 1000 = 200000 µ
    rec.interval_rows = [IntervalRow("n", T, 2, 100_000, 2000, "sellers")]
    rec.gateway_rows = [
        GatewayRow("n", "s", T, -2500, -2000, 200_000, -300, 60.0, limit=80_000, side="sell"),
        GatewayRow("n", "b", T, 2600, 2000, -200_000, 0, None, limit=120_000, side="buy"),
    ]
    rec.carbon_rows = [CarbonRow(T, {0: 400.0}, 1000.0, 960.0, 40.0)]
    return rec


def test_good_record_holds():
    rec = good()
    for check in (inv.money_balances(rec), inv.energy_balances(rec), inv.limits_respected(rec),
                  inv.carbon_conserved(rec),
                  inv.grid_residuals(rec, {"s": 10_000, "b": 10_000}, 900)):
        assert check.ok, check


def test_money_off_by_one_micro_is_caught():
    rec = good()
    rec.gateway_rows[1] = dataclasses.replace(rec.gateway_rows[1], money_micro=-199_999)
    r = inv.money_balances(rec)
    assert not r.ok and "+1 µ" in r.detail


def test_settled_energy_must_equal_cleared_volume():
    rec = good()
    rec.interval_rows = [dataclasses.replace(rec.interval_rows[0], volume_wh=2500)]
    r = inv.energy_balances(rec)
    assert not r.ok and "settled 2000 Wh, cleared 2500 Wh" in r.detail


def test_price_beyond_a_limit_names_the_participant():
    rec = good()
    rec.gateway_rows[0] = dataclasses.replace(rec.gateway_rows[0], limit=100_001)
    r = inv.limits_respected(rec)
    assert not r.ok and "seller s" in r.detail and "100001" in r.detail


def test_a_settlement_beyond_a_limit_is_caught_even_at_a_good_price():
    rec = good()
    # b bought 2000 Wh with limit 0.12/kWh: at most 240000 µ, plus 1 µ of rounding
    rec.gateway_rows[1] = dataclasses.replace(rec.gateway_rows[1], money_micro=-240_001)
    assert inv.limits_respected(rec).ok
    rec.gateway_rows[1] = dataclasses.replace(rec.gateway_rows[1], money_micro=-240_002)
    r = inv.limits_respected(rec)
    assert not r.ok and "buyer b" in r.detail and "settled 240002 µ for 2000 Wh" in r.detail
    # s sold 2000 Wh with limit 0.08/kWh: at least 160000 µ
    rec = good()
    rec.gateway_rows[0] = dataclasses.replace(rec.gateway_rows[0], money_micro=159_999)
    r = inv.limits_respected(rec)
    assert not r.ok and "seller s" in r.detail and "(160000 µ)" in r.detail


def test_grid_beyond_the_connection_is_impossible():
    rec = good()
    # b: net 2600, traded 2000, battery 0 -> grid 600 Wh; a 1 kW connection allows 500 Wh/15 min
    r = inv.grid_residuals(rec, {"b": 1000}, 900)
    assert not r.ok and "grid 600 Wh" in r.detail


def test_carbon_leak_is_caught():
    rec = good()
    rec.carbon_rows = [CarbonRow(T, {0: 1.0}, 1000.0, 950.0, 40.0)]
    assert not inv.carbon_conserved(rec).ok


def test_chain_and_anchor_checks():
    assert inv.chains_verify({"n": (True, "", 5)}).ok
    r = inv.chains_verify({"n": (True, "", 5), "s": (False, "height 3: bad signature", 4)})
    assert not r.ok and "s: height 3" in r.detail
    assert inv.heads_anchored({"n": 4}, {"n": 4}, {"n": True}).ok
    assert "anchored only to 3" in inv.heads_anchored({"n": 4}, {"n": 3}, {"n": True}).detail
    assert not inv.all_in_blocks({"n": 10}, {"n": 9}).ok
    assert inv.fixed_points([("n", T, "book")], lambda b: None).ok
    r = inv.fixed_points([("n", T, "book")], lambda b: "a would improve by quoting 5")
    assert not r.ok and r.detail == f"n at {T}: a would improve by quoting 5"
    assert not inv.sealed_before_closure(["retained topic site/n/gw/a/bid"]).ok
    assert inv.sealed_before_closure([]).ok


def test_allocation_periods_must_all_run():
    assert inv.allocation_recorded({0: (5, 2), 1: (None, 0)}, 2).ok
    r = inv.allocation_recorded({0: (5, 2)}, 3)
    assert not r.ok and "2 periods never ran; first index 1" in r.detail


def test_a_chain_that_does_not_replay_names_its_substation_and_where():
    ok = inv.chains_replay({"north": (47, None), "south": (45, None)})
    assert ok.ok and ok.detail == "north 47 blocks, south 45 blocks"
    bad = inv.chains_replay({"north": (47, None),
                             "south": (3, "diverged at height 3 (ts), journal line 40: x")})
    assert not bad.ok and bad.detail == "south: diverged at height 3 (ts), journal line 40: x"
