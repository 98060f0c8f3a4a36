"""hub.allocation.signal.protocol_signal: an allocation as the edge protocol's PriceSignal."""

from __future__ import annotations

from fractions import Fraction
from types import SimpleNamespace

from edge.chain.keys import generate_key
from edge.protocol.messages import PriceSignal
from hub.allocation.signal import protocol_signal
from hub.service.prices import sign_signal


def test_fields_are_a_protocol_price_signal_with_tiers_rounded_half_up():
    rows = [SimpleNamespace(entity=SimpleNamespace(id="coal-A"), adder=31250),
            SimpleNamespace(entity=SimpleNamespace(id="town"), adder=0)]
    tiers = ((Fraction(0), Fraction(41, 2)), (Fraction(1), Fraction(81, 2)))
    fields = protocol_signal(SimpleNamespace(rows=rows), tiers, site="site-a", valid_from=3600,
                             valid_to=7200, intensity_g_kwh=410)
    assert fields == {"v": 1, "type": "price", "site": "site-a", "valid_from": 3600,
                      "valid_to": 7200, "p_low": 21, "p_high": 41, "intensity_g_kwh": 410,
                      "adders": {"coal-A": 31250, "town": 0}}  # 20.5 -> 21, 40.5 -> 41
    signed = sign_signal(fields, generate_key(), ts_ms=1_000)
    assert PriceSignal.model_validate(signed).adders == {"coal-A": 31250, "town": 0}
