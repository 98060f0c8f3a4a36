"""The gateway's bidding and battery policy (SEEDS.md P5), in integers.

Per interval the gateway is a buyer or a seller, never both. Quantity: the
persistence forecast, i.e. the last closed interval's net energy without
the battery. Reservation price: the seller's floor `sell_min` or the buyer's
ceiling `buy_max`, in the gateway's own (raw) terms. Carbon adders (P1) are
not in any quote: the edge applies them to every quote at clearing time
(edge.market.book.apply_adders), the one place a gateway cannot skip, so
adding them here too would count a seller's adder twice. The opening quote
lies `margin` beyond the reservation (a seller asks more, a buyer bids less);
after each non-final round `revise` moves it one `tick` toward the published
price, converted back into raw terms with this gateway's adder
(`quoted_price`), as edge.market.rounds.TowardPrice does on the edge's
adjusted book, so the iterative bidding of P5 can search its equilibrium.
Dispatch, every poll cycle:
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


def reservation(side, pol):
    """The worst price this gateway accepts, in raw terms: its quotes never go past it."""
    return pol["sell_min"] if side == "sell" else pol["buy_max"]


def quote(surplus_wh, pol):
    """Opening (side, qty_wh, price), `margin` beyond the reservation; None = nothing to bid.

    Raw terms: no carbon adder (the edge adds it, see the module docstring).
    """
    margin = pol.get("margin", 0)
    if surplus_wh >= pol["min_qty_wh"]:
        return ("sell", min(surplus_wh, MAX_QTY),
                min(reservation("sell", pol) + margin, MAX_PRICE))
    if -surplus_wh >= pol["min_qty_wh"]:
        return "buy", min(-surplus_wh, MAX_QTY), max(reservation("buy", pol) - margin, 0)
    return None


def adder_for(signals, interval):
    """This gateway's adder for `interval`: 0 without a price signal valid for it.

    `signals` are (valid_from, valid_to, ts, adder) in arrival order. Of the
    signals valid for the interval the newest by `ts` counts, of equal `ts`
    the later arrived: the edge's choice (edge.runtime.inbox price_for), so
    both read a published price with the adder the edge cleared it with.
    """
    best = None
    for s in signals:
        if s[0] <= interval < s[1] and (best is None or s[2] >= best[2]):
            best = s
    return 0 if best is None else best[3]


def quoted_price(side, price, adder):
    """A published clearing price in this gateway's raw quote terms.

    The edge clears a seller's offer + its adder and a buyer's bid - its adder
    (edge.market.book.apply_adders) and publishes the price in those adjusted
    terms, so the raw quote that meets the price p is p - adder (seller) or
    p + adder (buyer). None (a round without a price) stays None.
    """
    if price is None:
        return None
    return price - adder if side == "sell" else price + adder


def revise(side, price, reserve, status, last_price, tick):
    """The quote for the next round after a non-final result: `price` unchanged = converged.

    Mirrors edge.market.rounds.TowardPrice for one order (tests/firmware
    compares the two round by round): a participant not fully filled moves
    its limit one `tick` toward `last_price` (in quote terms, see
    quoted_price), never past its reservation `reserve` nor past that price;
    without a price the target is the reservation. Sellers only lower,
    buyers only raise, so the rounds end by themselves.
    """
    if status == "filled":
        return price
    if side == "buy":
        cap = reserve if last_price is None else min(reserve, last_price)
        return min(price + tick, cap) if cap > price else price
    floor = reserve if last_price is None else max(reserve, last_price)
    return max(price - tick, floor) if floor < price else price


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
