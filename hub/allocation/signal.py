"""An allocation's adders: the report payload, and the protocol PriceSignal edges receive.

``price_signal`` is the allocation's own account (the ``signal`` member of
POST /allocation/prices); ``protocol_signal`` is the one message that reaches
the edges (topic ``site/{site}/price``): the fields of an
edge.protocol.messages.PriceSignal, which the hub signs and serves.

Shape (every number an integer, so the payload can be put in canonical bytes,
hashed and signed like any other message; fractions are written as strings):

    {
      "type": "carbon_price_signal",
      "version": 1,
      "interval": "2024-06-01T12:00Z",        # the market interval it applies to
      "method": "exact",                      # or "sampled"
      "tiers": [{"from": "0", "price_per_t": "20"}, {"from": "1", "price_per_t": "40"}],
      "total_mg": 123456789,                  # v(N), emissions of the carbon-blind clearing
      "adders": [
        {"entity": "coal-A", "side": "sell", "region": "A",
         "adder": 31250,                      # micro-currency per kWh
         "allocation_mg": 98765, "carbon_cost_micro": 1975},
        ...
      ]
    }

``side`` uses the edge's order sides: a seller's offer rises by ``adder``, a
buyer's bid falls by it (clamped at 0), which is what
``edge.market.book`` applies per participant id. ``allocation_mg`` and
``carbon_cost_micro`` are rounded half up for information; ``adder`` is the
number that matters and is the one computed in ``ladder``.

What reaches the edges is the protocol's own message: ``protocol_signal``
gives the fields of an ``edge.protocol.messages.PriceSignal`` for a site and
validity (all but ``ts`` and ``sig``, which the hub adds when it signs and
stores it, hub.service.prices.publish).
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

from hub.allocation.ladder import MG_PER_G, LadderResult, Tiers, round_half_up


def _text(x: Fraction) -> str:
    return str(x.numerator) if x.denominator == 1 else f"{x.numerator}/{x.denominator}"


def price_signal(
    result: LadderResult, tiers: Tiers, interval: str, method: str, total_mg: int | Fraction
) -> dict[str, Any]:
    """Per-entity adders (micro-currency per kWh) as the integer payload documented above."""
    return {
        "type": "carbon_price_signal",
        "version": 1,
        "interval": interval,
        "method": method,
        "tiers": [{"from": _text(f), "price_per_t": _text(p)} for f, p in tiers],
        "total_mg": round_half_up(Fraction(total_mg)),
        "adders": [
            {
                "entity": r.entity.id,
                "side": "sell" if r.entity.side == "gen" else "buy",
                "region": r.entity.region,
                "adder": r.adder,
                "allocation_mg": round_half_up(r.allocation_g * MG_PER_G),
                "carbon_cost_micro": round_half_up(r.cost_micro),
            }
            for r in result.rows
        ],
    }


def carbon_bid_field(advice: dict[str, Any]) -> dict[str, Any]:
    """The PriceSignal ``carbon_bid`` object of a bid advice.

    ``advice`` is what hub.carbonmarket.correlation.advise returns (or
    ``carbon-edge carbon-market advise --json`` prints): its integer range,
    median, level and electricity price. Only those integers travel; the
    copula's float parameters stay on the hub (nothing signed holds a float).
    The edge's PriceSignal model checks the bounds and the order.
    """
    try:
        return {"v": 1, "electricity_price": advice["electricity_price"],
                "low": advice["bid_low"], "median": advice["bid_median"],
                "high": advice["bid_high"], "level_pm": advice["level_pm"]}
    except (KeyError, TypeError):
        raise ValueError("bid advice needs electricity_price, bid_low, bid_median, bid_high "
                         "and level_pm") from None


def protocol_signal(
    result: LadderResult, tiers: Tiers, *, site: str, valid_from: int, valid_to: int,
    intensity_g_kwh: int, carbon_bid: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The unsigned edge.protocol PriceSignal fields of a ladder result.

    p_low / p_high are the first and last tiers' $/t, which is micro-currency
    per g CO2, rounded half up; the adders are the per-entity ``adder``
    (micro-currency per kWh) keyed by entity id; ``carbon_bid`` (a
    ``carbon_bid_field``) is carried when given, omitted otherwise.
    """
    fields = {
        "v": 1, "type": "price", "site": site, "valid_from": valid_from, "valid_to": valid_to,
        "p_low": round_half_up(Fraction(tiers[0][1])),
        "p_high": round_half_up(Fraction(tiers[-1][1])),
        "intensity_g_kwh": intensity_g_kwh,
        "adders": {r.entity.id: r.adder for r in result.rows},
    }
    if carbon_bid is not None:
        fields["carbon_bid"] = carbon_bid
    return fields
