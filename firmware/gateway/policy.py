"""The gateway's bidding and battery policy (P5), in integers.

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
    best = _newest(signals, interval)
    return 0 if best is None else best[3]


def _newest(signals, interval):
    best = None
    for s in signals:
        if s[0] <= interval < s[1] and (best is None or s[2] >= best[2]):
            best = s
    return best


def advice_for(signals, interval):
    """The carbon bid advice (low, median, high) of the signal that counts for `interval`
    (the one adder_for reads), None when it has none or there is no signal."""
    best = _newest(signals, interval)
    return None if best is None or len(best) < 6 else best[5]


CARBON_MODES = ("off", "limit", "advised")


def carbon_bid(side, limit, advice, mode):
    """The carbon price this gateway offers (micro-currency per kg), None = no carbon order.

    Mirror of hub.carbonmarket.bidding.carbon_bid (tests run both). `side`
    "buy" (a CEC short of allowance) or "sell" (a PVP or a long CEC), `limit`
    its own worst price. "limit" quotes the limit. "advised" keeps the quote
    inside the hub's range (low, median, high): a buyer bids its limit but
    never above `high`, a seller asks its limit but never below `low`; when
    the limit itself lies outside the range on the wrong side (a buyer's
    below `low`, a seller's above `high`) it would not trade at the prices
    expected, so there is no order. Without advice "advised" quotes the limit.
    """
    if mode == "off":
        return None
    if mode == "limit" or advice is None:
        return limit
    low, _, high = advice
    if side == "buy":
        return min(limit, high) if limit >= low else None
    return max(limit, low) if limit <= high else None


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


# -- best response on the published book (edge.market.rounds.BestResponse) -------

EXCESS = {"sellers_market": ("buy",), "buyers_market": ("sell",), "balanced": ("buy", "sell")}


def _first(lo, hi, pred):
    """Smallest k in [lo, hi) with pred(k), pred monotone False..True; hi if none."""
    while lo < hi:
        mid = (lo + hi) // 2
        if pred(mid):
            hi = mid
        else:
            lo = mid + 1
    return lo


class _Line:
    """One side of the book in priority order: the others' orders, and `me` put at `pos`."""

    def __init__(self, orders, sell):
        orders.sort(key=(lambda o: (o[2], o[3])) if sell else (lambda o: (-o[2], o[3])))
        self.sell = sell
        self.p = [o[2] for o in orders]
        self.s = [o[3] for o in orders]
        self.c = [0]
        for o in orders:
            self.c.append(self.c[-1] + o[1])
        self.pos = -1
        self.n = len(orders)

    def put(self, x, seq, q):
        """Insert `me` quoting `x`: after every order of better (price, seq)."""
        p, s, sell = self.p, self.s, self.sell
        if sell:
            self.pos = _first(0, len(p), lambda k: p[k] > x or (p[k] == x and s[k] > seq))
        else:
            self.pos = _first(0, len(p), lambda k: p[k] < x or (p[k] == x and s[k] > seq))
        self.x, self.q, self.n = x, q, len(p) + 1

    def price(self, k):
        if self.pos < 0 or k < self.pos:
            return self.p[k]
        return self.x if k == self.pos else self.p[k - 1]

    def cum(self, k):
        """Quantity of the first k orders."""
        if self.pos < 0 or k <= self.pos:
            return self.c[k]
        return self.c[k - 1] + self.q


class Trial:
    """The clearing of a book with book[me]'s price as the only unknown.

    `outcome(x)` is (energy of book[me], price) had it quoted x: the rules of
    edge.market.clearing.clear_uniform (priority by price then seq, the
    marginal order sets the price or the next one when it fills exactly,
    incompatible limits excluded and the clearing repeated), but the others
    are sorted once, so each trial costs a few binary searches instead of a
    sort: a best response stays cheap on an MCU.
    """

    def __init__(self, book, me):
        side, self.q, _, self.seq = book[me]
        others = [o for i, o in enumerate(book) if i != me]
        self.sells = _Line([o for o in others if o[0] == "sell"], True)
        self.buys = _Line([o for o in others if o[0] == "buy"], False)
        self.mine = self.sells if side == "sell" else self.buys

    def outcome(self, x):
        S, B = self.sells, self.buys
        self.mine.put(x, self.seq, self.q)
        ns, nb = S.n, B.n
        while True:
            qs, qd = S.cum(ns), B.cum(nb)
            if qs == 0 or qd == 0:
                return 0, None
            if qs > qd:
                m = _first(0, ns, lambda k: S.cum(k + 1) >= qd)
                price = S.price(m if S.cum(m + 1) > qd else m + 1)
                keep_b = _first(0, nb, lambda k: B.price(k) < price)
                keep_s = ns
            elif qs < qd:
                m = _first(0, nb, lambda k: B.cum(k + 1) >= qs)
                price = B.price(m if B.cum(m + 1) > qs else m + 1)
                keep_b = nb
                keep_s = _first(0, ns, lambda k: S.price(k) > price)
            else:
                price = S.price(ns - 1)
                keep_b = _first(0, nb, lambda k: B.price(k) < price)
                keep_s = ns
            if keep_b == nb and keep_s == ns:
                break
            nb, ns = keep_b, keep_s
        line = self.mine
        if line.pos >= (ns if line is S else nb):
            return 0, price  # excluded
        return max(0, min(self.q, min(qs, qd) - line.cum(line.pos))), price


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

    `book` is the published round: [side, qty_wh, price, seq] per order;
    `got` is book[me]'s published energy, `regime` and `last_price` the
    published clearing's, `limit` its own limit; prices in the cleared terms.
    Not filled: the least move within the limit that wins energy, else stay.
    Filled, on the side in excess: as far to its own advantage as keeps the
    whole fill, if that strictly improves the price (the marginal order lands
    on the best losing rival's quote, one unit short when the rival was
    submitted first); otherwise stay. Binary searches over integer prices,
    because one's own energy is monotone in one's own quote.
    """
    side, _, price, _ = book[me]
    buyer = side == "buy"
    trial = Trial(book, me)
    if got == 0:
        def wins(x):
            q, p = trial.outcome(x)
            return q > 0 and p is not None and (p <= limit if buyer else p >= limit)
        if buyer:
            x = _lowest(price + 1, limit, wins)
        else:
            x = _highest(limit, price - 1, wins)
        return price if x is None else x
    if side not in EXCESS.get(regime, ()) or last_price is None:
        return price

    def keeps(x):
        return trial.outcome(x)[0] >= got

    x = _lowest(0, price, keeps) if buyer else _highest(price, MAX_PRICE, keeps)
    if x is None:
        return price
    p = trial.outcome(x)[1]
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
