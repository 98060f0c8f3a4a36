"""The price-signal payload the hub publishes to edges (topic ``site/{site}/price``).

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
