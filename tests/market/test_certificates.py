"""Green certificates: whole 1,000 kWh units of metered generation, remainders carried."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from edge.market.certificates import CERTIFICATE_WH, issue


def test_remainders_carry_over_between_intervals():
    first = issue({}, {"gw1": 600_000, "gw2": 2_300_000}, interval=900, site="s1", next_serial=0)
    assert [(c.holder, c.serial) for c in first.certificates] == [
        ("gw2", "s1-0000000000"), ("gw2", "s1-0000000001")]
    assert first.carry_wh == {"gw1": 600_000, "gw2": 300_000}
    second = issue(first.carry_wh, {"gw1": 400_000}, interval=1800, site="s1",
                   next_serial=first.next_serial)
    assert [(c.holder, c.serial, c.interval) for c in second.certificates] == [
        ("gw1", "s1-0000000002", 1800)]
    assert second.carry_wh == {"gw1": 0, "gw2": 300_000}
    assert second.certificates[0].as_tx() == {
        "kind": "certificate", "serial": "s1-0000000002", "holder": "gw1", "interval": 1800,
        "wh": 1_000_000}


@pytest.mark.parametrize("bad", [-1, 1.5, True, "10"])
def test_refuses_impossible_generation(bad):
    with pytest.raises(ValueError, match="non-negative integer Wh"):
        issue({}, {"gw1": bad}, interval=0, site="s", next_serial=0)


@given(st.lists(st.integers(0, 3 * CERTIFICATE_WH), max_size=40))
def test_certificates_equal_floor_of_total_generation(series):
    carry, serial, count = {}, 0, 0
    for i, wh in enumerate(series):
        out = issue(carry, {"gw": wh}, interval=i, site="s", next_serial=serial)
        carry, serial, count = out.carry_wh, out.next_serial, count + len(out.certificates)
    assert count == sum(series) // CERTIFICATE_WH == serial
    assert carry.get("gw", 0) == sum(series) % CERTIFICATE_WH
