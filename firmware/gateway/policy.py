"""The gateway's bidding and battery policy (SEEDS.md P5), in integers.

Per interval the gateway is a buyer or a seller, never both. Quantity: the
persistence forecast, i.e. the last closed interval's net energy without
the battery. Price: the seller's
floor `sell_min` plus this gateway's carbon adder, or the buyer's ceiling
`buy_max` minus it (PriceSignal.adders). Dispatch, every poll cycle:
a seller's surplus beyond what it sold charges the battery up to the upper
SOC limit, the rest is exported; a buyer's deficit beyond what it bought
comes from the battery down to the lower SOC limit, the rest is imported.
"""

MAX_PRICE = (1 << 31) - 1
MAX_QTY = (1 << 31) - 1


def forecast_surplus_wh(energy, battery_behind_meter=False):
    """Net export of a closed interval without the battery (negative = deficit).

    With the battery behind the meter, its charge shows as import and its
    discharge as export there, so it is taken out; a separately metered
    battery never entered imp/exp.
    """
    s = energy["exp_wh"] - energy["imp_wh"]
    if battery_behind_meter:
        s += energy.get("chg_wh", 0) - energy.get("dis_wh", 0)
    return s


def quote(surplus_wh, pol, adder):
    """(side, qty_wh, price) or None when there is nothing worth bidding."""
    if surplus_wh >= pol["min_qty_wh"]:
        return "sell", min(surplus_wh, MAX_QTY), min(pol["sell_min"] + adder, MAX_PRICE)
    if -surplus_wh >= pol["min_qty_wh"]:
        return "buy", min(-surplus_wh, MAX_QTY), max(pol["buy_max"] - adder, 0)
    return None


def traded_wh(result, gw):
    """Signed energy this gateway trades in a clearing result (+ sold, - bought)."""
    total = 0
    for f in result.get("fills", ()):
        if f.get("gw") == gw and f.get("status") in ("filled", "partial"):
            q = f.get("qty_wh", 0)
            total += q if f.get("side") == "sell" else -q
    return total


def battery_setpoint_w(base_import_w, committed_w, soc_pm, pol, max_charge_w, max_discharge_w):
    """Battery power (positive = charge) per P5.

    base_import_w: what the site would draw without the battery (meter W minus
    battery W); committed_w: traded energy spread over the interval, positive
    for a sale (export owed), negative for a purchase.
    """
    surplus = -base_import_w
    if surplus >= 0:
        excess = surplus - max(committed_w, 0)
        if excess <= 0 or soc_pm is None or soc_pm >= pol["soc_max_pm"]:
            return 0
        return min(excess, max_charge_w)
    shortfall = -surplus - max(-committed_w, 0)
    if shortfall <= 0 or soc_pm is None or soc_pm <= pol["soc_min_pm"]:
        return 0
    return -min(shortfall, max_discharge_w)


def rate_raw(w, wchamax_w, sf):
    """Power -> InWRte/OutWRte register (percent of WChaMax in units of 10**sf)."""
    if wchamax_w <= 0:
        return 0
    num = abs(w) * 100 * 10 ** (-sf) if sf <= 0 else abs(w) * 100
    den = wchamax_w if sf <= 0 else wchamax_w * 10 ** sf
    return min((num + den // 2) // den, 0x7FFF)
