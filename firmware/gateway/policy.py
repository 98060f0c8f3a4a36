"""The gateway's bidding and battery policy (SEEDS.md P5), in integers.

Per interval the gateway is a buyer or a seller, never both. Quantity: the
persistence forecast, i.e. the last closed interval's net energy without
the battery. Reservation price: the seller's floor `sell_min` or the buyer's
ceiling `buy_max`, in the gateway's own (raw) terms. Carbon adders (P1) are
not in any quote: the edge applies them to every quote at clearing time
(edge.market.book.apply_adders), the one place a gateway cannot skip, so
adding them here too would count a seller's adder twice. The opening quote
lies `margin` beyond the reservation (a seller asks more, a buyer bids less);
after each non-final round `revise` answers the published book with the
configured strategy (`policy.strategy`): "best-response" (default, P5: see
`best_response`) or "toward-price" (one `tick` toward the published price).
Both mirror edge.market.rounds on the edge's adjusted (cleared) book and are
read back into raw terms with this gateway's adder, so the iterative bidding
of P5 searches its equilibrium; tests compare them round by round.
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


def toward_price(side, price, reserve, status, last_price, tick):
    """The "toward-price" answer (edge.market.rounds.TowardPrice for one order).

    A participant not fully filled moves its quote one `tick` toward
    `last_price`, never past its limit `reserve` nor past that price; without
    a price the target is the limit. Sellers only lower, buyers only raise,
    so the rounds end by themselves. All prices in one set of terms.
    """
    if status == "filled":
        return price
    if side == "buy":
        cap = reserve if last_price is None else min(reserve, last_price)
        return min(price + tick, cap) if cap > price else price
    floor = reserve if last_price is None else max(reserve, last_price)
    return max(price - tick, floor) if floor < price else price


# -- the uniform-price clearing and best response (edge.market.clearing / rounds) --

EXCESS = {"sellers_market": ("buy",), "buyers_market": ("sell",), "balanced": ("buy", "sell")}


def clear(book):
    """P5 uniform-price clearing of `book`: (price or None, regime, [energy per order]).

    `book` is a list of [side, qty_wh, price, seq]; the rules (and the result)
    are edge.market.clearing.clear_uniform's: priority by (price, seq), the
    marginal order sets the price (or the next one when it fills exactly),
    incompatible limits are excluded and the clearing repeated.
    """
    n = len(book)
    sells = sorted([i for i in range(n) if book[i][0] == "sell"],
                   key=lambda i: (book[i][2], book[i][3]))
    buys = sorted([i for i in range(n) if book[i][0] == "buy"],
                  key=lambda i: (-book[i][2], book[i][3]))
    cum_s, cum_b = [0], [0]
    for i in sells:
        cum_s.append(cum_s[-1] + book[i][1])
    for i in buys:
        cum_b.append(cum_b[-1] + book[i][1])
    ns, nb = len(sells), len(buys)
    regime = "no_trade"
    while True:
        qs, qd = cum_s[ns], cum_b[nb]
        if qs == 0 or qd == 0:
            return None, regime, [0] * n
        if qs > qd:
            regime = "buyers_market"
            m = 0
            while cum_s[m + 1] < qd:
                m += 1
            price = book[sells[m if cum_s[m + 1] > qd else m + 1]][2]
            keep_b, keep_s = 0, ns
            while keep_b < nb and book[buys[keep_b]][2] >= price:
                keep_b += 1
        elif qs < qd:
            regime = "sellers_market"
            m = 0
            while cum_b[m + 1] < qs:
                m += 1
            price = book[buys[m if cum_b[m + 1] > qs else m + 1]][2]
            keep_b, keep_s = nb, 0
            while keep_s < ns and book[sells[keep_s]][2] <= price:
                keep_s += 1
        else:
            regime = "balanced"
            price = book[sells[ns - 1]][2]
            keep_b, keep_s = 0, ns
            while keep_b < nb and book[buys[keep_b]][2] >= price:
                keep_b += 1
        if keep_b == nb and keep_s == ns:
            break
        nb, ns = keep_b, keep_s
    got = [0] * n
    for side in (sells[:ns], buys[:nb]):
        left = min(qs, qd)
        for i in side:
            take = min(left, book[i][1])
            got[i] = take
            left -= take
            if not left:
                break
    return price, regime, got


def _outcome(book, me, x):
    """(energy of book[me], price) had it quoted `x` instead."""
    was = book[me][2]
    book[me][2] = x
    try:
        price, _, got = clear(book)
    finally:
        book[me][2] = was
    return got[me], price


def _lowest(lo, hi, ok):
    """Smallest x in [lo, hi] with ok(x), ok monotone False..True; None if none."""
    if lo > hi or not ok(hi):
        return None
    while lo < hi:
        mid = (lo + hi) // 2
        if ok(mid):
            hi = mid
        else:
            lo = mid + 1
    return lo


def _highest(lo, hi, ok):
    """Largest x in [lo, hi] with ok(x), ok monotone True..False; None if none."""
    if lo > hi or not ok(lo):
        return None
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if ok(mid):
            lo = mid
        else:
            hi = mid - 1
    return lo


def best_response(book, me, got, regime, last_price, limit):
    """The "best-response" answer of book[me] (edge.market.rounds.BestResponse).

    `got` is its published energy, `regime` and `last_price` the published
    clearing's, `limit` its own limit; prices in the cleared terms. Not
    filled: the least move within the limit that wins energy, else stay.
    Filled, on the side in excess: as far to its own advantage as keeps the
    whole fill, if that strictly improves the price (the marginal order lands
    on the best losing rival's quote, one unit short when the rival was
    submitted first); otherwise stay.
    """
    side, _, price, _ = book[me]
    buyer = side == "buy"
    if got == 0:
        def wins(x):
            q, p = _outcome(book, me, x)
            return q > 0 and p is not None and (p <= limit if buyer else p >= limit)
        if buyer:
            x = _lowest(price + 1, limit, wins)
        else:
            x = _highest(limit, price - 1, wins)
        return price if x is None else x
    if side not in EXCESS.get(regime, ()) or last_price is None:
        return price

    def keeps(x):
        return _outcome(book, me, x)[0] >= got

    x = _lowest(0, price, keeps) if buyer else _highest(price, MAX_PRICE, keeps)
    if x is None:
        return price
    p = _outcome(book, me, x)[1]
    if p is not None and (p < last_price if buyer else p > last_price):
        return x
    return price


STRATEGIES = ("best-response", "toward-price")


def _int_in(v, lo, hi):
    return isinstance(v, int) and not isinstance(v, bool) and lo <= v <= hi


def result_book(result, gw):
    """(book, index of this gateway's order or None) from a published result.

    Each fill carries the quote as cleared (`price`), its order number (`seq`)
    and quantity (`order_wh`): the book everyone answers. ValueError names the
    first bad fill.
    """
    book, me = [], None
    for i, f in enumerate(result["fills"]):
        if not (_int_in(f.get("price"), 0, MAX_PRICE) and _int_in(f.get("seq"), 0, 1 << 53)
                and _int_in(f.get("order_wh"), 1, MAX_QTY)):
            raise ValueError("result fills[%d] needs integer price, seq and order_wh" % i)
        if f["gw"] == gw:
            me = len(book)
        book.append([f["side"], f["order_wh"], f["price"], f["seq"]])
    return book, me


def revise(side, price, reserve, adder, result, gw, pol):
    """This gateway's raw quote for the next round after a non-final `result`.

    `price` is its raw quote in force, `reserve` its raw limit, `adder` the
    carbon adder the edge clears the interval with. The answer is computed on
    the published (cleared) book with the limit shifted like the quote, then
    read back into raw terms. Returns `price` unchanged for "no change", None
    when the result holds no order of ours on this side (a revision would be
    refused). ValueError for a result without a usable book.
    """
    book, me = result_book(result, gw)
    if me is None or book[me][0] != side:
        return None
    fill = result["fills"][me]
    limit = max(reserve - adder, 0) if side == "buy" else reserve + adder
    last = result.get("price")
    mine = book[me][2]
    if pol.get("strategy", "best-response") == "toward-price":
        x = toward_price(side, mine, limit, fill["status"], last, pol["tick"])
    else:
        x = best_response(book, me, fill["qty_wh"], result.get("regime"), last, limit)
    if x == mine:
        return price
    return x + adder if side == "buy" else x - adder


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
