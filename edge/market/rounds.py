"""SEEDS P5 iterative bidding: clear, publish, let participants revise, repeat.

The paper searches a Nash equilibrium by letting prosumers re-quote after each
published result. Here the search is a pure function of a strategy
``revise(round_no, last_clearing, orders) -> orders``: the same book and
strategy always give the same rounds, so the edge, the hub and the simulator
can replay a market and agree. Rounds stop when a revision changes no quote
(converged) or at the round limit; the last round cleared is binding.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from .clearing import LIMIT, Clearing, Order, clear_uniform

Revise = Callable[[int, Clearing, tuple[Order, ...]], Sequence[Order]]


@dataclass(frozen=True)
class Round:
    """One published round: the quotes cleared and their clearing."""

    number: int
    orders: tuple[Order, ...]
    clearing: Clearing


@dataclass(frozen=True)
class Rounds:
    rounds: tuple[Round, ...]
    #: True when the last revision changed no quote; False when the limit stopped it
    converged: bool

    @property
    def binding(self) -> Round:
        return self.rounds[-1]


def _same_participants(before: tuple[Order, ...], after: tuple[Order, ...], n: int) -> None:
    """A strategy revises quotes; it may not add, drop or switch sides of participants."""
    old = {o.id: o.side for o in before}
    new = {}
    for o in after:
        if not isinstance(o, Order):
            raise ValueError(f"revision after round {n} returned a {type(o).__name__}")
        new[o.id] = o.side
    if len(after) != len(new) or old != new:
        raise ValueError(
            f"revision after round {n} changed the participants or their sides "
            f"(ids added: {sorted(new.keys() - old.keys())}, "
            f"dropped: {sorted(old.keys() - new.keys())})"
        )


def run_rounds(
    book: Sequence[Order],
    revise: Revise,
    max_rounds: int,
    publish: Callable[[Round], None] | None = None,
) -> Rounds:
    """Run at most ``max_rounds`` P5 clearings; ``publish`` sees each round as it ends."""
    if isinstance(max_rounds, bool) or not isinstance(max_rounds, int) or max_rounds < 1:
        raise ValueError(f"max_rounds must be a positive integer, got {max_rounds!r}")
    orders = tuple(book)
    done: list[Round] = []
    for n in range(1, max_rounds + 1):
        r = Round(n, orders, clear_uniform(orders))
        done.append(r)
        if publish is not None:
            publish(r)
        revised = tuple(revise(n, r.clearing, orders))
        _same_participants(orders, revised, n)
        if {o.id: o for o in revised} == {o.id: o for o in orders}:
            return Rounds(tuple(done), converged=True)
        orders = revised
    return Rounds(tuple(done), converged=False)


@dataclass(frozen=True)
class TowardPrice:
    """A participant not fully filled moves its limit one tick toward the last price.

    Buyers only raise bids and sellers only lower offers, never past their
    reservation price (a buyer's highest acceptable bid, a seller's lowest
    acceptable offer) and never past the last clearing price. After a round
    without a price the target is the reservation itself. Fully filled
    participants keep their quotes; so does anyone without a reservation.
    Quantities and seqs never change, so ties keep the first submission order.

    Every limit moves one way and is bounded, so the rounds end by themselves
    after at most about (reservation gap / tick) revisions per participant.
    """

    reservation: Mapping[str, int] = field(default_factory=dict)
    tick: int = 1000

    def __post_init__(self) -> None:
        if isinstance(self.tick, bool) or not isinstance(self.tick, int) or self.tick < 1:
            raise ValueError(f"tick must be a positive integer, got {self.tick!r}")
        for pid, r in self.reservation.items():
            if isinstance(r, bool) or not isinstance(r, int) or not 0 <= r < LIMIT:
                raise ValueError(f"reservation of {pid!r} must be an integer in [0, {LIMIT})")

    def __call__(self, round_no: int, last: Clearing, orders: tuple[Order, ...]) -> list[Order]:
        status = {f.order_id: f.status for f in last.fills}
        out = []
        for o in orders:
            res = self.reservation.get(o.id)
            if res is None or status[o.id] == "filled":
                out.append(o)
                continue
            if o.side == "buy":
                cap = res if last.price is None else min(res, last.price)
                price = min(o.price + self.tick, cap) if cap > o.price else o.price
            else:
                floor = res if last.price is None else max(res, last.price)
                price = max(o.price - self.tick, floor) if floor < o.price else o.price
            out.append(replace(o, price=price) if price != o.price else o)
        return out
