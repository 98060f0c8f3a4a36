"""Bids: the opening quote of each interval and its revisions between rounds.

A `Bid` is the quote in force for one interval; `Bidder` opens one when an
interval closes (from the closed interval's energy, policy.quote) and moves
it after each non-final result (policy.revise), sending each through
`send(msg)` (the gateway's enqueue).

Sealed bids (docs/market.md "Sealed bids"): when the edge has announced an
organiser key for the quote's interval and round (`key_for(interval, round)`,
the downlink's verified announcements), the price and quantity go sealed to
that key, each revision to its own round's key. With `sealed` set (the site
requires sealed bids) a quote whose key has not arrived yet is held and
sent when it does (`on_key`), never in plain text; without it the quote goes
in plain text.
"""

from gateway import messages, policy, sealed
from gateway.log import log


class Bid:
    """The quote in force for one interval: what was last sent, and its limit."""

    def __init__(self, interval, side, qty_wh, price, round_, reserve):
        self.interval = interval
        self.side = side
        self.qty_wh = qty_wh
        self.price = price
        self.round = round_
        self.reserve = reserve  # the reservation: the quote never goes past it
        self.held = False  # waiting for the organiser key of its round (sealed sites)

    def same_quote(self, side, qty_wh, price):
        return (self.side, self.qty_wh, self.price) == (side, qty_wh, price)


class Bidder:
    def __init__(self, site, gw, pol, interval_s, seq, send, counters, key_for=None,
                 sealed_only=False):
        self.site, self.gw = site, gw
        self.pol = pol
        self.behind = bool(pol.get("battery_behind_meter"))
        self.interval_s = interval_s
        self.seq = seq
        self.send = send
        self.c = counters
        self.bids = {}  # interval -> Bid
        self.key_for = key_for  # (interval, round) -> (organiser pub, kid) or None
        self.sealed_only = sealed_only

    def count(self, k, n=1):
        self.c[k] = self.c.get(k, 0) + n

    def open(self, interval, now, last_energy):
        """The round-0 quote for `interval`, `margin` beyond the reservation (no adder)."""
        if last_energy is None:
            return
        q = policy.quote(policy.forecast_surplus_wh(last_energy, self.behind), self.pol)
        if q is None:
            return
        side, qty, price = q
        prev = self.bids.get(interval)
        if prev is not None and prev.same_quote(side, qty, price):
            return  # several intervals closed at once: the same quote is sent once
        bid = Bid(interval, side, qty, price, 0, policy.reservation(side, self.pol))
        self.bids[interval] = bid
        for k in [k for k in self.bids if k < interval - 2 * self.interval_s]:
            del self.bids[k]
        self._send(bid, now)

    def _send(self, bid, now):
        key = self.key_for(bid.interval, bid.round) if self.key_for else None
        if key is None and self.sealed_only:
            bid.held = True
            self.count("bid_held")
            log("bid_held", interval=bid.interval, round=bid.round)
            return
        bid.held = False
        if key is None:
            msg = messages.bid(self.site, self.gw, self.seq.take(), now, bid.interval,
                               bid.side, bid.qty_wh, bid.price, bid.round)
        else:
            blob = sealed.seal(bid.price, bid.qty_wh, key[0], self.gw, bid.interval, bid.round)
            msg = messages.sealed_bid(self.site, self.gw, self.seq.take(), now, bid.interval,
                                      bid.side, blob.hex(), key[1], bid.round)
            self.count("bids_sealed")
        self.send(msg)
        log("bid", interval=bid.interval, side=bid.side, qty_wh=bid.qty_wh, price=bid.price,
            round=bid.round, sealed=key is not None)

    def on_key(self, interval, round_, now):
        """A new organiser key: send the quote of that interval and round held for it."""
        bid = self.bids.get(interval)
        if bid is not None and bid.held and bid.round == round_:
            self._send(bid, now)

    def revise(self, msg, adder, now):
        """After a non-final round: re-bid for the next round if policy.revise moves the quote
        (with the strategy of `policy.strategy`, answering the published book).

        Silence is the answer when the quote stays (filled, at the
        reservation or at the price): the edge ends the rounds when nobody
        revises. Only results at or after the round of the quote in force
        count, so a duplicate of an older result never moves the quote twice.
        The published price is in the edge's adjusted terms: it is read with
        `adder`, the one the edge clears this interval with (policy.adder_for).
        """
        iv, rnd = msg["interval"], msg["round"]
        bid = self.bids.get(iv)
        if bid is None or msg["final"] or rnd < bid.round:
            return
        mine = [f for f in msg["fills"] if f["gw"] == self.gw]
        if not mine or mine[0]["side"] != bid.side:
            # the edge holds no quote of ours on this side: a revision would be refused
            self.count("revise_not_in_book")
            log("revise_not_in_book", interval=iv, round=rnd)
            return
        try:
            new = policy.revise(bid.side, bid.price, bid.reserve, adder, msg, self.gw, self.pol)
        except ValueError as e:  # no usable book in the result: counted, the quote stays
            self.count("rx_bad")
            log("rx_bad", interval=iv, round=rnd, msg=str(e))
            return
        if new == bid.price:
            return
        bid.price, bid.round = new, rnd + 1
        self.count("revisions")
        self._send(bid, now)
