"""P5 iterative bidding: one interval's rounds and the participants' revision strategies.

The paper searches a Nash equilibrium by letting prosumers re-quote after
each published result. Two pieces live here, both pure:

- ``IntervalRounds`` is the one state machine of an interval's market:
  quotes until gate closure (round 0 is the ``OrderBook``), revisions for the
  next round only, which round is due, its clearing, and when the rounds end.
  Rounds are numbered from 0 (the clearing at gate closure) everywhere: in the
  edge runtime, in ``carbon-edge market rounds``, on the wire and in the
  firmware. Round ``k`` is cleared only if its quotes differ from round
  ``k - 1``'s; otherwise round ``k - 1`` is the equilibrium and binds. Round
  ``max_rounds - 1`` binds in any case. A revision keeps the order's
  original submission number, so ties keep going to the earlier first quote.
- A ``Strategy`` answers, for one participant, "what do I quote next, given
  the published round and my own limit?". ``BestResponse`` is P5's rule
  (the default everywhere); ``TowardPrice`` is the named alternative (one tick
  toward the last price). The gateway firmware mirrors both
  (firmware/gateway/policy.py) and tests compare them round by round.

``run_rounds`` drives a whole interval with one strategy for every
participant: what ``carbon-edge market rounds`` shows, and what a market of
firmware gateways reaches on the edge.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import ClassVar, Protocol

from .book import OrderBook, apply_adders
from .clearing import LIMIT, Clearing, Order, Side, clear_uniform, validate_order
from .columns import Columnar

Clear = Callable[[Sequence[Order]], Clearing]

#: Which side competes for the other's energy after a clearing of each regime.
EXCESS_SIDE: dict[str, tuple[Side, ...]] = {
    "sellers_market": ("buy",),
    "buyers_market": ("sell",),
    # neither side is short: both may shade (see BestResponse)
    "balanced": ("buy", "sell"),
    "no_trade": (),
}


class RoundRefused(ValueError):
    """A revision the interval's state refuses; ``reason`` is the counter label."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class Round:
    """One published round: its number, the quotes as cleared (adders applied), the result."""

    number: int
    orders: tuple[Order, ...]
    clearing: Clearing
    #: True for the binding round of the interval
    final: bool = False


# -- the state machine ----------------------------------------------------------


@dataclass(frozen=True)
class PendingOrder:
    """One row of the P4 pending-orders view: a quote in force and where it stands."""

    order_no: int
    participant: str
    side: Side
    qty_wh: int
    price: int
    #: "open" (gate open), "closed" (gate shut, rounds under way)
    status: str
    #: the round these quotes are for: 0 until round 0 clears, then the last cleared
    round: int


@dataclass
class IntervalRounds:
    """The market of one interval, from its first quote to its binding round.

    ``quote`` takes first quotes while the gate is open (a later quote of the
    same participant replaces its earlier one and takes a new, later number:
    ``OrderBook``). ``step`` clears the round that is due: round 0 closes the
    gate. Between rounds ``revise`` takes a participant's quote for the next
    round only: same side, new price and quantity, the original number.
    """

    interval: int
    max_rounds: int
    book: OrderBook = field(init=False)
    #: the last round cleared (None before gate closure)
    cleared_round: int | None = field(default=None, init=False)
    #: True once the binding round is out: nothing changes after
    final: bool = field(default=False, init=False)
    _revisions: dict[int, dict[str, Order]] = field(default_factory=dict, init=False)
    _quotes: dict[int, tuple[Order, ...]] = field(default_factory=dict, init=False)

    def __post_init__(self) -> None:
        if (isinstance(self.max_rounds, bool) or not isinstance(self.max_rounds, int)
                or self.max_rounds < 1):
            raise ValueError(f"max_rounds must be a positive integer, got {self.max_rounds!r}")
        self.book = OrderBook(self.interval)

    # -- quotes ---------------------------------------------------------------
    def quote(self, participant: str, side: Side, qty_wh: int, price: int) -> Order:
        """A first quote (round 0); raises ``GateClosed`` once round 0 has cleared."""
        return self.book.submit(participant, side, qty_wh, price)

    @property
    def next_round(self) -> int | None:
        """The round that clears next (None once the binding round is out)."""
        if self.final:
            return None
        return 0 if self.cleared_round is None else self.cleared_round + 1

    def refusal(self, participant: str, round_no: int, side: Side) -> str | None:
        """Why a quote for ``round_no`` is refused now (a counter label), or None."""
        if round_no == 0:
            return "gate_closed" if self.book.closed else None
        if round_no >= self.max_rounds:
            return "bad_round"
        if round_no != self.next_round or round_no < 0:
            return "round_not_open"
        base = self.book.order_of(participant)
        if base is None:
            return "not_in_book"
        if base.side != side:
            return "side_changed"
        return None

    def revise(self, participant: str, round_no: int, side: Side, qty_wh: int,
               price: int) -> Order:
        """A revised quote for ``round_no``: new price and quantity, the ORIGINAL number."""
        why = "round_not_open" if round_no < 1 else self.refusal(participant, round_no, side)
        if why is not None:
            raise RoundRefused(why, f"interval {self.interval}: the round-{round_no} quote of "
                                    f"{participant!r} is refused ({why})")
        base = self.book.order_of(participant)
        assert base is not None
        order = replace(base, qty_wh=qty_wh, price=price)
        try:
            validate_order(order, f"round-{round_no} quote from {participant!r}")
        except ValueError as exc:
            raise RoundRefused("invalid", str(exc)) from None
        self._revisions.setdefault(round_no, {})[participant] = order
        self._quotes.pop(round_no, None)
        return order

    def orders_for(self, round_no: int) -> tuple[Order, ...]:
        """Round ``k``'s quotes (as quoted): round ``k - 1``'s with round ``k``'s revisions."""
        if round_no in self._quotes:
            return self._quotes[round_no]
        if round_no == 0:
            out = self.book.orders()
        else:
            rev = self._revisions.get(round_no, {})
            out = before = self.orders_for(round_no - 1)
            if rev:
                out = tuple(rev.get(o.id, o) for o in before)
                if isinstance(before, Columnar):  # the rows keep their places
                    rows = {i: o for i, o in enumerate(out) if o.id in rev}
                    out = Columnar(out, before.columns.replaced(rows))
        if self.book.closed:  # a round's quotes are fixed once its gate is shut
            self._quotes[round_no] = out
        return out

    def pending(self) -> tuple[PendingOrder, ...]:
        """The P4 pending-orders view: the quotes in force, in order-number order."""
        rnd = self.cleared_round or 0
        status = "closed" if self.book.closed else "open"
        return tuple(PendingOrder(o.seq, o.id, o.side, o.qty_wh, o.price, status, rnd)
                     for o in self.orders_for(rnd))

    # -- rounds ---------------------------------------------------------------
    def due(self) -> tuple[int, bool]:
        """(round to publish, final) for the next ``step``.

        Round ``k > 0`` whose quotes equal round ``k - 1``'s changes nothing: the
        previous round is the equilibrium and is published again, as final.
        """
        k = self.next_round
        if k is None:
            raise RoundRefused("final", f"interval {self.interval} has already bound")
        if k > 0 and self.orders_for(k) == self.orders_for(k - 1):
            return k - 1, True
        return k, k >= self.max_rounds - 1 or not self.orders_for(k)

    def step(self, clear: Clear = clear_uniform,
             adders: Mapping[str, int] | None = None) -> Round:
        """Clear what is due (round 0 closes the gate) with the carbon adders applied."""
        if self.cleared_round is None:
            self.book.close()
        k, final = self.due()
        cleared = apply_adders(self.orders_for(k), adders or {})
        clearing = clear(cleared)  # the very tuple: the settlement checks it is the same
        self.cleared_round, self.final = k, final
        return Round(k, cleared, clearing, final)

    def restore(self, cleared_round: int, final: bool) -> None:
        """Resume after a restart at the last round recorded (quotes replayed before)."""
        self.book.close()
        self.cleared_round, self.final = cleared_round, final


# -- strategies -------------------------------------------------------------------


class Strategy(Protocol):
    """How one participant answers a published round.

    ``respond`` returns the price ``orders[me]`` quotes for the next round, in
    the terms of the cleared book (carbon adders applied), given its own
    ``limit`` in the same terms (a buyer's highest, a seller's lowest
    acceptable price). Returning the current price means "no change".
    """

    name: ClassVar[str]

    def respond(self, orders: Sequence[Order], clearing: Clearing, me: int,
                limit: int) -> int: ...


def _outcome(orders: Sequence[Order], me: int, price: int) -> tuple[int, int | None]:
    """(energy of ``orders[me]``, clearing price) if it quoted ``price`` instead."""
    trial = list(orders)
    trial[me] = replace(orders[me], price=price)
    c = clear_uniform(trial)
    return c.fills[me].qty_wh, c.price


def _lowest(lo: int, hi: int, ok: Callable[[int], bool]) -> int | None:
    """Smallest x in [lo, hi] with ok(x), for ok monotone (False...True); None if none."""
    if lo > hi or not ok(hi):
        return None
    while lo < hi:
        mid = (lo + hi) // 2
        if ok(mid):
            hi = mid
        else:
            lo = mid + 1
    return lo


def _highest(lo: int, hi: int, ok: Callable[[int], bool]) -> int | None:
    """Largest x in [lo, hi] with ok(x), for ok monotone (True...False); None if none."""
    if lo > hi or not ok(lo):
        return None
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if ok(mid):
            lo = mid
        else:
            hi = mid - 1
    return lo


@dataclass(frozen=True)
class BestResponse:
    """P5's revision: the side in excess best-responds, the short side holds.

    - Not filled (no energy, on either side: an excluded order of the short
      side is not "filled whole anyway"): keep the quote, unless a quote
      within the limit would win energy at a price within the limit; then the
      least move that wins some (the lowest bid / highest ask that does).
    - Filled, on the side in excess (in a balanced market neither side is
      short, so both): move to one's own advantage (a buyer lower, a seller
      higher) as far as the whole fill is kept, and only if that strictly
      improves the clearing price. The marginal, partly filled participant so
      lands on the best losing rival's quote when it was submitted before that
      rival (ties go to the earlier ORIGINAL submission), one price unit
      short of it otherwise; an inframarginal winner, whose quote does not
      set the price, keeps its quote.
    - Filled, on the short side: keep the quote (it cannot improve its price).

    The search relies on one monotone fact of ``clear_uniform`` (a property
    test checks it against the independent reference clearing): a buyer's
    energy never falls as its bid rises, a seller's never rises as its ask
    rises. So each answer is a binary search over integer prices, about 31
    clearings; the price is evaluated only where the rule lands.
    """

    name: ClassVar[str] = "best-response"

    def respond(self, orders: Sequence[Order], clearing: Clearing, me: int,
                limit: int) -> int:
        o = orders[me]
        got = clearing.fills[me].qty_wh
        buyer = o.side == "buy"
        if got == 0:
            def wins(x: int) -> bool:
                q, p = _outcome(orders, me, x)
                return q > 0 and p is not None and (p <= limit if buyer else p >= limit)

            if buyer:
                x = _lowest(o.price + 1, limit, wins)
            else:
                x = _highest(limit, o.price - 1, wins)
            return o.price if x is None else x
        if o.side not in EXCESS_SIDE[clearing.regime] or clearing.price is None:
            return o.price

        def keeps(x: int) -> bool:
            return _outcome(orders, me, x)[0] >= got

        x = _lowest(0, o.price, keeps) if buyer else _highest(o.price, LIMIT - 1, keeps)
        assert x is not None  # the current quote keeps the fill
        price = _outcome(orders, me, x)[1]
        better = price is not None and (price < clearing.price if buyer
                                        else price > clearing.price)
        return x if better else o.price


@dataclass(frozen=True)
class TowardPrice:
    """The alternative: a participant not fully filled moves one tick toward the last price.

    Buyers only raise bids and sellers only lower offers, never past their
    limit and never past the last clearing price; after a round without a
    price the target is the limit itself. Fully filled participants keep their
    quotes. Every quote moves one way and is bounded, so the rounds end by
    themselves after at most about (limit gap / tick) moves per participant.
    """

    name: ClassVar[str] = "toward-price"
    tick: int = 1000

    def __post_init__(self) -> None:
        if isinstance(self.tick, bool) or not isinstance(self.tick, int) or self.tick < 1:
            raise ValueError(f"tick must be a positive integer, got {self.tick!r}")

    def respond(self, orders: Sequence[Order], clearing: Clearing, me: int,
                limit: int) -> int:
        o = orders[me]
        if clearing.fills[me].status == "filled":
            return o.price
        last = clearing.price
        if o.side == "buy":
            cap = limit if last is None else min(limit, last)
            return min(o.price + self.tick, cap) if cap > o.price else o.price
        floor = limit if last is None else max(limit, last)
        return max(o.price - self.tick, floor) if floor < o.price else o.price


STRATEGIES: dict[str, Callable[..., Strategy]] = {
    BestResponse.name: BestResponse,
    TowardPrice.name: TowardPrice,
}


# -- a whole interval, every participant with one strategy -------------------------


def cleared_limit(side: Side, limit: int, adder: int) -> int:
    """A limit in the cleared terms, shifted by the carbon adder like the quote."""
    return max(limit - adder, 0) if side == "buy" else limit + adder


def quoted_price(side: Side, cleared: int, adder: int) -> int:
    """A price in the cleared terms back in the participant's own quote terms."""
    return cleared + adder if side == "buy" else cleared - adder


def check_limits(orders: Sequence[Order], limits: Mapping[str, int]) -> None:
    """Every quote within its participant's own limit: nobody may trade beyond it."""
    for o in orders:
        lim = limits.get(o.id, o.price)
        if isinstance(lim, bool) or not isinstance(lim, int) or not 0 <= lim < LIMIT:
            raise ValueError(f"limit of {o.id!r} must be an integer in [0, {LIMIT}), got {lim!r}")
        if (o.price > lim) if o.side == "buy" else (o.price < lim):
            word = "above its highest" if o.side == "buy" else "below its lowest"
            raise ValueError(f"order {o.id!r}: quote {o.price} is {word} acceptable price {lim}")


def revisions(rnd: Round, quoted: Sequence[Order], strategy: Strategy,
              limits: Mapping[str, int], adders: Mapping[str, int]) -> dict[str, int]:
    """The quotes (own terms) that change for the next round: {participant: new price}."""
    out = {}
    for i, (o, c) in enumerate(zip(quoted, rnd.orders, strict=True)):
        a = adders.get(o.id, 0)
        lim = cleared_limit(o.side, limits.get(o.id, o.price), a)
        x = strategy.respond(rnd.orders, rnd.clearing, i, lim)
        if x != c.price:
            new = quoted_price(o.side, x, a)
            if new != o.price:
                out[o.id] = new
    return out


@dataclass(frozen=True)
class Rounds:
    rounds: tuple[Round, ...]
    #: True when the binding round is a fixed point of the strategy (nobody would move)
    converged: bool

    @property
    def binding(self) -> Round:
        return self.rounds[-1]


def run_rounds(
    book: Sequence[Order],
    strategy: Strategy,
    max_rounds: int,
    limits: Mapping[str, int] | None = None,
    adders: Mapping[str, int] | None = None,
    publish: Callable[[Round], None] | None = None,
    clear: Clear = clear_uniform,
) -> Rounds:
    """An interval's rounds with every participant revising by ``strategy``.

    ``book`` holds the first quotes with their submission numbers; ``limits``
    each participant's own limit in its quote terms (default: its quote, i.e.
    truthful); ``adders`` the carbon adders the edge applies at every clearing.
    ``publish`` sees each round as it is published; the binding round comes
    last with ``final`` set (a round published again as the equilibrium is
    one round, not two, in the result).
    """
    # a participant without a limit is truthful: its FIRST quote is its limit for good
    limits = {o.id: (limits or {}).get(o.id, o.price) for o in book}
    adders = dict(adders or {})
    check_limits(book, limits)
    ir = IntervalRounds(0, max_rounds)
    for o in book:
        ir.book.insert(o)
    done: list[Round] = []
    while True:
        r = ir.step(clear, adders)
        if publish is not None:
            publish(r)
        if done and done[-1].number == r.number:
            done[-1] = r
        else:
            done.append(r)
        moves = revisions(r, ir.orders_for(r.number), strategy, limits, adders)
        if r.final:
            return Rounds(tuple(done), converged=not moves)
        by_id = {o.id: o for o in ir.orders_for(r.number)}
        for pid, price in moves.items():
            o = by_id[pid]
            ir.revise(pid, r.number + 1, o.side, o.qty_wh, price)
