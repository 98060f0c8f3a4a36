"""A participant's carbon quote from the hub's bid advice: the reference the gateway mirrors.

correlation.advise gives a range (low, median, high) of carbon prices
expected at an electricity price; the hub carries it in the PriceSignal
(``carbon_bid``), the edge relays it re-signed, and a gateway whose policy
is "advised" keeps its carbon quote inside it. The firmware's
``gateway.policy.carbon_bid`` must give the same answer for every input
(tests/firmware/test_carbon_advice.py runs both), so this module is plain
integer code with no dependency.

Modes: "off" (no carbon order), "limit" (quote one's own worst price),
"advised": a buyer bids its limit but never above ``high``; a seller asks
its limit but never below ``low``; a limit outside the range on the wrong
side (a buyer's below ``low``, a seller's above ``high``) gives no order,
since it would not trade at the prices expected. Without advice, "advised"
quotes the limit.
"""

from __future__ import annotations

MODES = ("off", "limit", "advised")
Advice = tuple[int, int, int]


def carbon_bid(side: str, limit: int, advice: Advice | None, mode: str) -> int | None:
    """The carbon price (micro-currency per kg) to quote, or None for no order."""
    if side not in ("buy", "sell"):
        raise ValueError(f"side must be buy or sell, not {side!r}")
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}, not {mode!r}")
    if mode == "off":
        return None
    if mode == "limit" or advice is None:
        return limit
    low, _median, high = advice
    if side == "buy":
        return min(limit, high) if limit >= low else None
    return max(limit, low) if limit <= high else None
