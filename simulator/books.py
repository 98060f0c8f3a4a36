"""The binding book of every interval, replayed from an edge's chain.

The invariants about the market (best-response fixed point, sealed bids) and
the counterfactual clearing without carbon adders all need the quotes each
interval was finally cleared with. The edge does not keep them in one place
on its chain: a result there is its signed header (its fills block, with the
quotes as cleared, stays in the edge's inbox), and the results table keeps
one row per round number, so a round published again as the equilibrium
replaces its earlier row. The chain keeps every transaction in the order the edge
wrote it (plain bids, sealed-bid commitments, round results with the sealed
openings), so replaying it through the edge's own interval state machine
(edge.market.rounds.IntervalRounds) gives back each round's quotes; the
replayed clearing must then equal the recorded one, or the book is reported
as not reproduced.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from edge.market.book import BookError
from edge.market.clearing import Order, clear_uniform
from edge.market.rounds import IntervalRounds, RoundRefused


@dataclass(frozen=True)
class ChainTx:
    """One transaction of an edge chain with its block's height and wall-clock ts (ms)."""

    height: int
    ts_ms: int
    tx: Mapping[str, Any]


@dataclass(frozen=True)
class FinalBook:
    """The binding round of one interval: its quotes (each participant's own terms)."""

    substation: str
    interval: int                      # market seconds
    round: int
    orders: tuple[Order, ...]
    adders: Mapping[str, int]
    price: int | None                  # as the edge recorded it
    volume_wh: int
    #: why the replay does not reproduce the recorded clearing ("" when it does)
    mismatch: str = ""


@dataclass
class _Interval:
    rounds: IntervalRounds
    sides: dict[tuple[str, int], str] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


def read_chain(path: Any) -> list[ChainTx]:
    """Every transaction of an edge chain in chain order (read-only)."""
    import json

    from edge.chain.store import ChainStore

    out = []
    with ChainStore(path, readonly=True) as store:
        for h in range(store.height() + 1):
            b = store.get(h)
            out.extend(ChainTx(h, b.header.ts, json.loads(t)) for t in b.txs)
    return out


def _apply(iv: _Interval, gw: str, rnd: int, side: str, qty: int, price: int) -> None:
    try:
        if rnd == 0:
            iv.rounds.quote(gw, side, qty, price)  # type: ignore[arg-type]
        else:
            iv.rounds.revise(gw, rnd, side, qty, price)  # type: ignore[arg-type]
    except (BookError, RoundRefused) as exc:
        iv.problems.append(f"{gw} round {rnd}: {exc}")


def adders_in_force(prices: Sequence[Mapping[str, Any]], interval: int) -> dict[str, int]:
    """The adders of the newest signal (by its own ts, then arrival) valid for ``interval``,
    among ``prices`` in arrival order: the edge's pick (Prices.for_interval)."""
    best = None
    for i, p in enumerate(prices):
        if p["valid_from"] <= interval < p["valid_to"] and (
                best is None or (p["ts"], i) >= (best[0]["ts"], best[1])):
            best = (p, i)
    return dict(best[0].get("adders") or {}) if best else {}


def replay(substation: str, txs: Iterable[ChainTx], max_rounds: int) -> list[FinalBook]:
    """The binding book of every interval that has a final result on the chain.

    Each round is cleared with the adders of the price signals on the chain
    before its result: the edge writes a signal on the chain as it stores it,
    so those are the signals it had when it cleared the round.
    """
    state: dict[int, _Interval] = {}
    out: list[FinalBook] = []
    prices: list[Mapping[str, Any]] = []

    def of(interval: int) -> _Interval:
        if interval not in state:
            state[interval] = _Interval(IntervalRounds(interval, max_rounds))
        return state[interval]

    for ct in txs:
        t = ct.tx
        kind = t.get("type")
        if kind == "price":
            prices.append(t)
        elif kind == "sealed_bid":
            of(t["interval"]).sides[(t["gw"], t["seq"])] = t["side"]
        elif kind == "bid" and "sealed" not in t:
            _apply(of(t["interval"]), t["gw"], t.get("round", 0), t["side"], t["qty_wh"],
                   t["price"])
        elif kind == "result":
            iv = of(t["interval"])
            if iv.rounds.final:
                continue
            opening = t.get("sealed") or {}
            for o in opening.get("opened", []):
                side = iv.sides.get((o["gw"], o["seq"]))
                if side is None:
                    iv.problems.append(f"{o['gw']} seq {o['seq']}: opened, never committed")
                    continue
                _apply(iv, o["gw"], opening["round"], side, o["qty_wh"], o["price"])
            adders = adders_in_force(prices, t["interval"])
            r = iv.rounds.step(clear_uniform, adders)
            c = r.clearing
            if (r.number, r.final, c.price, c.volume_wh) != (
                    t["round"], t["final"], t.get("price"), t["volume_wh"]):
                iv.problems.append(
                    f"replayed round {r.number} (final {r.final}) cleared {c.volume_wh} Wh at "
                    f"{c.price}; the edge recorded round {t['round']} (final {t['final']}) "
                    f"{t['volume_wh']} Wh at {t.get('price')}")
            if r.final:
                out.append(FinalBook(substation, t["interval"], r.number,
                                     iv.rounds.orders_for(r.number), adders, t.get("price"),
                                     t["volume_wh"], "; ".join(iv.problems)))
    return out
